"""Filters apply before ranking; output formats."""

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hubsearch import BuildOptions, Index, InvalidInputError, SearchConfig
from hubsearch.cli import cli
from hubsearch.settings import Filters

from .conftest import FakeEmbedder


@pytest.fixture
def dated(tmp_path: Path) -> Path:
    """Forty documents about rivers that outrank three dated ones about kites, in two folders."""
    root = tmp_path / "dated"
    (root / "news").mkdir(parents=True)
    for i in range(40):
        (root / f"river{i:02}.txt").write_text(
            f"Rivers {i}\\n" + " ".join(f"River water flows past town {i} and rivers flood." for _ in range(30)),
            encoding="utf-8")
    for i, day in enumerate(("2023-05-01", "2024-02-10", "2024-11-30")):
        (root / "news" / f"kite{i}.txt").write_text(
            f"Published: {day}\\nKites {i}\\n"
            + " ".join(f"Kite number {i} flies near the river in spring wind {j}." for j in range(30)),
            encoding="utf-8")
    return root


@pytest.mark.parametrize("index_type", ["flat", "hnsw"])
def test_filters_apply_before_ranking_so_k_hits_come_back(dated: Path, tmp_path: Path, index_type: str) -> None:
    index = Index.build([dated], tmp_path / "i", BuildOptions(index_type=index_type), embedder=FakeEmbedder())
    plain = index.search("river water flows", k=5)
    assert all(h.doc_id.startswith("river") for h in plain)  # the kites are nowhere near the top
    only = SearchConfig(filters=Filters(doc_ids=("news/kite1",)))
    hits = index.search("river water flows", k=5, config=only)
    assert len(hits) == 5 and {h.doc_id for h in hits} == {"news/kite1"}
    dated_config = SearchConfig(filters=Filters(since="2024-01-01", until="2024-12-31"))
    hits = index.search("river water flows", k=10, config=dated_config)
    assert len(hits) == 10 and {h.date for h in hits} == {"2024-02-10", "2024-11-30"}
    folder = index.search("river water flows", k=3, config=SearchConfig(filters=Filters(path="news/*")))
    assert len(folder) == 3 and all(h.source.startswith("news/") for h in folder)
    for mode in ("dense", "lexical"):
        hits = index.search("river", k=4, config=SearchConfig(mode=mode, filters=Filters(doc_ids=("news/kite0",))))
        assert hits and {h.doc_id for h in hits} == {"news/kite0"}


def test_min_score_drops_hits_of_low_relevance(dated: Path, tmp_path: Path) -> None:
    index = Index.build([dated], tmp_path / "i", embedder=FakeEmbedder())
    hits = index.search("kite spring wind", k=20)
    assert all(0.0 <= h.relevance <= 1.0 for h in hits)
    floor = sorted(h.relevance for h in hits)[len(hits) // 2]
    kept = index.search("kite spring wind", k=20, config=SearchConfig(filters=Filters(min_score=floor)))
    assert kept and all(h.relevance >= floor for h in kept)
    expected = [h.chunk_id for h in hits if h.relevance >= floor]
    assert [h.chunk_id for h in kept][:len(expected)] == expected  # the order is kept; later candidates fill up
    with pytest.raises(InvalidInputError, match="min_score is a relevance between 0 and 1"):
        Filters(min_score=1.5)


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"since": "2024-13-01"}, "since must be a date like 2024-07-05"),
        ({"until": "yesterday"}, "until must be a date"),
        ({"since": "2024-05-01", "until": "2024-01-01"}, "is after until"),
    ],
)
def test_bad_filters_are_refused(filters: dict, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        Filters(**filters)


def _run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_cli_filters_and_formats(fake, dated: Path, tmp_path: Path) -> None:
    index = str(tmp_path / "i")
    assert _run("index", "build", str(dated), "--index", index).exit_code == 0
    base = ["query", "kite river", "--index", index, "-k", "4"]
    data = json.loads(_run(*base, "--doc", "news/kite2", "--format", "json").stdout)
    assert len(data["results"]) >= 2 and {r["doc_id"] for r in data["results"]} == {"news/kite2"}
    lines = _run(*base, "--since", "2024-01-01", "--format", "jsonl").stdout.splitlines()
    assert len(lines) == 4 and all(json.loads(line)["date"] >= "2024-01-01" for line in lines)
    rows = list(csv.DictReader(io.StringIO(_run(*base, "--path", "news/*", "--format", "csv").stdout)))
    assert len(rows) == 4 and all(r["source"].startswith("news/") for r in rows)
    assert rows[0]["text"] and rows[0]["rank"] == "1"
    md = _run(*base, "--format", "md").stdout
    assert md.startswith("## kite river") and "1. **" in md and "   > " in md
    files = _run(*base, "--format", "files").stdout.splitlines()
    assert len(files) == len(set(files)) and all(Path(f).is_file() for f in files)
    assert _run(*base, "--json").stdout == _run(*base, "--format", "json").stdout
    bad = _run(*base, "--since", "2024-02-30")
    assert bad.exit_code == 2 and bad.stderr.startswith("Error: since must be a date")


def test_get_prints_a_document_or_a_span_and_refuses_anything_else(fake, corpus: Path, tmp_path: Path) -> None:
    index = str(tmp_path / "i")
    assert _run("index", "build", str(corpus), "--index", index).exit_code == 0
    hit = json.loads(_run("query", "apples orchards", "--index", index, "--json", "-k", "1").stdout)["results"][0]
    span = _run("get", f"{hit['doc_id']}:{hit['start']}-{hit['end']}", "--index", index)
    assert span.exit_code == 0 and span.stdout.rstrip("\n") == hit["text"]
    whole = json.loads(_run("get", "sub/rockets", "--index", index, "--json").stdout)
    assert whole["source"] == "sub/rockets.md" and "Rocket engines burn fuel" in whole["text"]
    assert all(whole["text"][p["start"]:p["end"]] for p in whole["passages"])
    for bad in ("../../etc/passwd", "/etc/passwd", "sub%2F..%2F..%2Fetc", "nope"):
        refused = _run("get", bad, "--index", index)
        assert refused.exit_code == 2 and refused.stderr.startswith(f"Error: no document {bad!r}")
    outside = _run("get", "apples:0-100000", "--index", index)
    assert outside.exit_code == 2 and "is outside apples" in outside.stderr
    (corpus / "apples.txt").write_text("Rewritten.", encoding="utf-8")
    changed = _run("get", "apples", "--index", index)
    assert changed.exit_code == 2 and "changed since it was indexed" in changed.stderr
    assert "hubsearch index update" in changed.stderr
