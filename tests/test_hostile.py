"""Hostile input: broken, huge, looping and odd files; absurd queries."""

import json
import os
import random
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from hubsearch import Index, InvalidInputError
from hubsearch.cli import cli

from .conftest import FakeEmbedder
from .test_crash import WORKER

HUGE_BYTES = 50 * 2**20  # more text than one file may hold (MAX_TEXT_CHARS): skipped, with its size
BIG_BYTES = 6 * 2**20


def make_hostile(root: Path) -> None:
    root.mkdir()
    (root / "good.txt").write_text("Lighthouses guide ships along rocky coasts.", encoding="utf-8")
    (root / "empty.txt").write_bytes(b"")
    (root / "blank.md").write_text("   \n\t\n", encoding="utf-8")
    (root / "binary.txt").write_bytes(bytes(range(256)) * 40)
    (root / "latin1.txt").write_bytes("d\xe9j\xe0 vu".encode("latin-1"))
    rng = random.Random(5)
    words = [f"tok{i}" for i in range(3000)]
    line = " ".join(rng.choice(words) for _ in range(100_000)) + " "
    with (root / "huge.txt").open("w", encoding="utf-8") as handle:  # one line, no newline
        for _ in range(HUGE_BYTES // len(line) + 1):
            handle.write(line)
    with (root / "big.txt").open("w", encoding="utf-8") as handle:  # one line, under the size guard
        for _ in range(BIG_BYTES // len(line) + 1):
            handle.write(line)
    deep = root
    for depth in range(60):
        deep = deep / f"level{depth}"
    deep.mkdir(parents=True)
    (deep / "bottom.txt").write_text("The deepest document mentions submarines.", encoding="utf-8")
    (root / "loop").symlink_to(root, target_is_directory=True)
    (root / "self.txt").symlink_to(root / "self.txt")
    os.mkfifo(root / "fifo.txt")
    (root / "folder.txt").mkdir()
    locked = root / "locked.txt"
    locked.write_text("Permissions say no.", encoding="utf-8")
    locked.chmod(0)


@pytest.mark.slow
def test_hostile_folder_is_indexed_with_each_bad_file_reported(tmp_path: Path) -> None:
    corpus, index_dir = tmp_path / "hostile", tmp_path / "index"
    make_hostile(corpus)
    env = {**os.environ, "HUBSEARCH_TEST_WINDOW": "256"}
    # A separate process, so that its peak memory can be measured and a hang would time out.
    result = subprocess.run([sys.executable, str(WORKER), "build", str(corpus), str(index_dir)],
                            capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    assert peak_mib < 2048, f"peak memory {peak_mib:.0f} MiB for a 50 MB file"

    index = Index.open(index_dir, embedder=FakeEmbedder(max_seq_length=256))
    reasons = {Path(s.path).name: s.reason for s in index.manifest.skipped}
    assert "empty" in reasons["empty.txt"] and "empty" in reasons["blank.md"]
    assert "UTF-8" in reasons["binary.txt"] or "NUL" in reasons["binary.txt"]
    assert "UTF-8" in reasons["latin1.txt"]
    assert "not a regular file" in reasons["fifo.txt"]
    assert "cannot read" in reasons["self.txt"]  # a link to itself: ELOOP
    assert "characters of text" in reasons["huge.txt"] and "split it" in reasons["huge.txt"]
    indexed = {s.doc_id for s in index.manifest.sources}
    assert {"good", "big"} <= indexed and "huge" not in indexed
    assert any(d.endswith("level59/bottom") for d in indexed)
    assert not any(d.startswith("loop/") for d in indexed)  # the link loop was not followed
    assert "locked" in indexed or "locked.txt" in reasons  # root may read a mode-000 file
    big = [p for p in index.manifest.sources if p.doc_id == "big"][0]
    assert big.bytes >= BIG_BYTES
    assert index.manifest.corpus.passages > 1_000
    assert index.search("submarines deepest", k=1)[0].doc_id.endswith("bottom")
    assert index.search("lighthouses rocky coasts", k=1)[0].doc_id == "good"


@pytest.fixture
def small(tmp_path: Path) -> Index:
    root = tmp_path / "c"
    root.mkdir()
    (root / "a.txt").write_text("Rockets need thrust. Engines burn fuel.", encoding="utf-8")
    (root / "b.txt").write_text("Gardens need water. Roses bloom in June.", encoding="utf-8")
    return Index.build([root], tmp_path / "i", embedder=FakeEmbedder())


@pytest.mark.parametrize(
    "query",
    [
        "rockets " * 1_250,  # 10,000 characters, the most a query may have
        "x" * 10_000,
        "?!.,;:-()[]{}",
        "🚀🤖✨🌹",
        "rockets\x00engines",
        "\u200b\u200bzero width",
        "<script>alert(1)</script>",
        "' OR 1=1 --",
    ],
    ids=["10k-words", "10k-one-word", "punctuation", "emoji", "nul", "zero-width", "html", "sql"],
)
def test_absurd_queries_get_answers(small: Index, query: str) -> None:
    for mode in ("hybrid", "dense", "lexical"):
        hits = small.search(query, k=2, mode=mode)
        assert all(h.text for h in hits)
        assert len(hits) <= 2


@pytest.mark.parametrize("query", ["", "\x00", "\x00\x00 \n", "   "])
def test_queries_with_nothing_in_them_are_refused(small: Index, query: str) -> None:
    with pytest.raises(InvalidInputError, match="query is empty"):
        small.search(query)


@pytest.mark.parametrize("query", ["rockets " * 12_500, "x" * 10_001])
def test_queries_over_the_limit_are_refused_with_their_length(small: Index, query: str) -> None:
    with pytest.raises(InvalidInputError, match=f"the query is {len(query.strip()):,} characters long, more than "
                                                "the 10,000 allowed; shorten it"):
        small.search(query)


@pytest.mark.parametrize("query", ["🚀🤖✨", "?!.,;:", "a\x00b", "w" * 10_000])
def test_cli_answers_absurd_queries(fake, tmp_path: Path, query: str) -> None:
    root = tmp_path / "c"
    root.mkdir()
    (root / "a.txt").write_text("Rockets need thrust. Engines burn fuel.", encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(cli, ["index", "build", str(root), "--index", str(tmp_path / "i")]).exit_code == 0
    result = runner.invoke(cli, ["query", query, "--index", str(tmp_path / "i"), "--json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["query"] == query and data["results"][0]["doc_id"] == "a"
