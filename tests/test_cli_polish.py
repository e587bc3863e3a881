"""The CLI's smaller promises: the document list, ids that look like spans, unknown --doc
everywhere, the whole passage in Markdown, and eval's cached indexes."""

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hubsearch.cli import cli


@pytest.fixture
def built(fake, corpus: Path, tmp_path: Path) -> Path:
    result = CliRunner().invoke(cli, ["index", "build", str(corpus), "--index", str(tmp_path / "idx")])
    assert result.exit_code == 0, result.stderr
    return tmp_path / "idx"


def test_docs_lists_the_documents_in_every_format(built: Path) -> None:
    def run(*args: str) -> str:
        result = CliRunner().invoke(cli, ["docs", "--index", str(built), *args])
        assert result.exit_code == 0, result.stderr
        return result.stdout

    listed = json.loads(run("--json"))["documents"]
    assert [d["doc_id"] for d in listed] == ["apples", "sub/rockets", "tea"]
    assert listed[1]["title"] == "Rocket engines" and listed[1]["source"] == "sub/rockets.md"
    assert [json.loads(line)["doc_id"] for line in run("--format", "jsonl").splitlines()] == ["apples", "sub/rockets",
                                                                                              "tea"]
    rows = list(csv.DictReader(io.StringIO(run("--format", "csv"))))
    assert [r["doc_id"] for r in rows] == ["apples", "sub/rockets", "tea"]
    assert run("--format", "md").splitlines()[0] == "| doc_id | title | date | source |"
    assert all(Path(p).is_file() for p in run("--format", "files").splitlines())
    assert "sub/rockets" in run() and "Rocket engines" in run()


def test_an_unknown_doc_is_an_error_not_an_empty_answer(built: Path) -> None:
    result = CliRunner().invoke(cli, ["query", "apples", "--doc", "nope", "--index", str(built)])
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: no document 'nope' in the index at")
    assert "GET /documents" in result.stderr


def test_get_fetches_an_id_that_ends_like_a_span(fake, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "notes:1-2.txt").write_text("Notes about the first two things.", encoding="utf-8")
    (corpus / "plain.txt").write_text("Plain words here.", encoding="utf-8")
    index_dir = str(tmp_path / "idx")
    assert CliRunner().invoke(cli, ["index", "build", str(corpus), "--index", index_dir]).exit_code == 0
    whole = CliRunner().invoke(cli, ["get", "notes:1-2", "--index", index_dir])
    assert whole.exit_code == 0 and whole.stdout.strip() == "Notes about the first two things."
    span = CliRunner().invoke(cli, ["get", "notes:1-2:0-5", "--index", index_dir])
    assert span.exit_code == 0 and span.stdout.strip() == "Notes"
    assert CliRunner().invoke(cli, ["get", "plain:0-5", "--index", index_dir]).stdout.strip() == "Plain"


def test_markdown_full_prints_the_whole_passage(built: Path) -> None:
    args = ["query", "Thrust lifts the rocket", "-k", "1", "--format", "md", "--index", str(built),
            "--no-stale-check"]
    short = CliRunner().invoke(cli, args).stdout
    full = CliRunner().invoke(cli, [*args, "--full"]).stdout
    assert "Nozzles shape the exhaust" not in short
    assert "Nozzles shape the exhaust" in full and "**" in full


def test_eval_keeps_its_indexes_in_the_cache(fake, tmp_path: Path, monkeypatch) -> None:
    from .test_evaluation import _beir

    folder = _beir(tmp_path / "beir")
    monkeypatch.setenv("HUBSEARCH_CACHE", str(tmp_path / "cache"))
    args = ["eval", str(folder), "--mode", "lexical", "--json", "--precision", "fp32"]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.stderr
    assert "indexes are kept in" in first.stderr and (tmp_path / "cache" / "eval" / "beir").is_dir()
    generation = (tmp_path / "cache" / "eval" / "beir" / "CURRENT").read_text()
    second = CliRunner().invoke(cli, args)
    assert json.loads(second.stdout)["collections"][0]["results"] == json.loads(first.stdout)["collections"][0][
        "results"]
    assert (tmp_path / "cache" / "eval" / "beir" / "CURRENT").read_text() == generation  # reused, not rebuilt
    assert "read 3 documents" not in second.stderr
    fresh = CliRunner().invoke(cli, [*args, "--no-cache"])
    assert fresh.exit_code == 0 and "indexes are kept" not in fresh.stderr
    assert json.loads(fresh.stdout)["collections"][0]["index"] is None
