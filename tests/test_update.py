"""Incremental updates, the embedding cache, staleness and watch mode."""

import json
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from hubsearch import (
    BuildOptions,
    ChunkingConfig,
    Index,
    SearchConfig,
    build,
    rebuild,
    update,
    watch,
)
from hubsearch.cli import cli

from .conftest import FakeEmbedder

LEXICAL = SearchConfig(mode="lexical", rm3=False)
SMALL = ChunkingConfig(max_tokens=40, overlap_tokens=8)


def write_corpus(root: Path, n: int = 12) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        body = " ".join(f"Document {i} sentence {j} mentions topic{i} and shared words." for j in range(8))
        (root / f"doc{i:02}.txt").write_text(f"Title {i}\n{body}", encoding="utf-8")


@pytest.fixture
def setup(tmp_path: Path):
    corpus = tmp_path / "corpus"
    write_corpus(corpus)
    fake = FakeEmbedder()
    index = Index.build([corpus], tmp_path / "idx", BuildOptions(chunking=SMALL), embedder=fake)
    return corpus, tmp_path / "idx", index


def test_update_embeds_only_new_and_changed_documents(setup) -> None:
    corpus, idx, first = setup
    per_doc = first.manifest.corpus.passages // 12
    (corpus / "doc03.txt").write_text("Title 3\nA rewritten body about zeppelins.", encoding="utf-8")
    (corpus / "doc05.txt").unlink()
    (corpus / "new.txt").write_text("Brand new text about kayaks.", encoding="utf-8")
    fake = FakeEmbedder()
    r = update(idx, embedder=fake)
    index = Index.open(idx, embedder=FakeEmbedder())
    assert (r.new, r.changed, r.unchanged, r.removed) == (1, 1, 10, 1)
    assert r.embedded == 2  # one passage each for the two short documents
    assert fake.embedded == r.embedded + r.sentences  # and their sentences, nothing else
    assert r.reused == 10 * per_doc
    for mode in ("lexical", "dense", "hybrid"):
        cfg = SearchConfig(mode=mode, rm3=False, rocchio=False)
        assert index.search("zeppelins", k=1, config=cfg)[0].doc_id == "doc03"
        assert index.search("kayaks", k=1, config=cfg)[0].doc_id == "new"
        assert all(h.doc_id != "doc05" for h in index.search("topic5", k=50, config=cfg))
    assert {s.doc_id for s in index.manifest.sources} == {f"doc{i:02}" for i in range(12) if i != 5} | {"new"}


def test_update_with_nothing_changed_embeds_nothing(setup) -> None:
    _, idx, first = setup
    fake = FakeEmbedder()
    report = update(idx, embedder=fake)
    index = Index.open(idx, embedder=FakeEmbedder())
    assert fake.embedded == 0
    assert (report.unchanged, report.reused) == (12, first.manifest.corpus.passages)
    assert index.search("topic7", k=1, config=LEXICAL)[0].doc_id == "doc07"


def _reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the files read from here on."""
    read: list[str] = []
    original = Path.read_bytes

    def counting(self: Path) -> bytes:
        read.append(self.name)
        return original(self)

    monkeypatch.setattr(Path, "read_bytes", counting)
    return read


def test_update_reads_only_files_whose_size_or_time_changed(setup, monkeypatch) -> None:
    corpus, idx, first = setup
    (corpus / "doc03.txt").write_text("Title 3\nA rewritten body about zeppelins.", encoding="utf-8")
    read = _reads(monkeypatch)
    report = update(idx, embedder=FakeEmbedder())
    assert [n for n in read if n.endswith(".txt")] == ["doc03.txt"]
    assert (report.changed, report.unchanged) == (1, 11)
    index = Index.open(idx, embedder=FakeEmbedder())
    assert index.search("zeppelins", k=1, config=LEXICAL)[0].doc_id == "doc03"
    assert index.search("topic7", k=1, config=LEXICAL)[0].doc_id == "doc07"  # unread, still indexed
    assert index.document("doc07").text == (corpus / "doc07.txt").read_text(encoding="utf-8")
    rows = index.manifest.sources
    assert {s.doc_id: s.sha256 for s in rows} == {s.doc_id: s.sha256 for s in first.manifest.sources
                                                  if s.doc_id != "doc03"} | {"doc03": rows[3].sha256}


def test_verify_reads_every_file_and_finds_an_edit_that_kept_its_time(setup, monkeypatch) -> None:
    import os

    corpus, idx, _ = setup
    target = corpus / "doc04.txt"
    before = target.stat()
    text = target.read_text(encoding="utf-8")
    target.write_text(text.replace("topic4", "walrus"), encoding="utf-8")  # same size
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))  # and its old time
    assert update(idx, embedder=FakeEmbedder()).changed == 0  # trusted size and time
    read = _reads(monkeypatch)
    report = update(idx, embedder=FakeEmbedder(), verify=True)
    assert report.changed == 1 and len([n for n in read if n.endswith(".txt")]) == 12
    assert Index.open(idx, embedder=FakeEmbedder()).search("walrus", k=1, config=LEXICAL)[0].doc_id == "doc04"
    result = CliRunner().invoke(cli, ["index", "update", "--verify", "--index", str(idx), "--json"])
    assert "--verify" in CliRunner().invoke(cli, ["index", "update", "--help"]).output
    assert result.exit_code != 0 or json.loads(result.output)["unchanged"] == 12


def test_unread_documents_are_read_when_their_passages_cannot_be_kept(setup) -> None:
    from hubsearch.records import ModelRef

    corpus, idx, first = setup
    other = FakeEmbedder(ModelRef("other", "/x", "1" * 64, 64))  # vectors of another model: nothing to keep
    report = update(idx, embedder=other)
    assert report.passages == first.manifest.corpus.passages and report.embedded == report.passages
    index = Index.open(idx, embedder=other)
    assert index.search("topic9", k=1, config=LEXICAL)[0].doc_id == "doc09"


def test_rebuild_reuses_vectors_by_content(setup) -> None:
    _, idx, first = setup
    fake = FakeEmbedder()
    again = rebuild(idx, embedder=fake)
    assert fake.embedded == 0 and again.reused == first.manifest.corpus.passages
    fresh = FakeEmbedder()
    report = rebuild(idx, embedder=fresh, reuse=False)
    assert report.embedded == first.manifest.corpus.passages
    assert fresh.embedded == report.embedded + report.sentences


def test_new_chunking_embeds_only_passages_whose_text_changed(setup) -> None:
    corpus, idx, first = setup
    (corpus / "short.txt").write_text("Short\nOne short sentence.", encoding="utf-8")
    Index.build([corpus], idx, BuildOptions(chunking=SMALL), embedder=FakeEmbedder())
    fake = FakeEmbedder()
    # A larger budget regroups the sentences of the long documents; the short one is unchanged.
    report = build([corpus], idx, BuildOptions(chunking=ChunkingConfig(max_tokens=56, overlap_tokens=8)),
                   embedder=fake)
    assert report.reused >= 1
    assert report.embedded > 0
    assert report.embedded == report.passages - report.reused
    assert fake.embedded == report.embedded + report.sentences


def test_other_model_reuses_nothing(setup) -> None:
    from hubsearch.records import ModelRef

    corpus, idx, _ = setup
    other = FakeEmbedder(ModelRef("other", "/x", "1" * 64, 64))
    report = build([corpus], idx, BuildOptions(chunking=SMALL), embedder=other)
    assert report.reused == 0 and report.embedded == report.passages
    assert other.embedded == report.embedded + report.sentences


def test_changes_detects_edits_but_not_touches(setup) -> None:
    corpus, idx, _ = setup
    index = Index.open(idx, embedder=FakeEmbedder())
    assert index.changes() == {"new": 0, "changed": 0, "removed": 0}
    path = corpus / "doc01.txt"
    path.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")  # same bytes, new mtime
    assert index.changes() == {"new": 0, "changed": 0, "removed": 0}
    path.write_text("edited", encoding="utf-8")
    (corpus / "doc02.txt").unlink()
    (corpus / "extra.md").write_text("# extra", encoding="utf-8")
    assert index.changes() == {"new": 1, "changed": 1, "removed": 1}


def test_changes_sees_nested_folders_and_single_file_roots_as_the_build_does(corpus: Path, tmp_path: Path) -> None:
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4 not really")  # skipped by the build
    single = tmp_path / "elsewhere" / "note.txt"
    single.parent.mkdir()
    single.write_text("A note kept in another folder.", encoding="utf-8")
    index = Index.build([corpus, single], tmp_path / "idx", BuildOptions(chunking=SMALL), embedder=FakeEmbedder())
    assert str(corpus / "broken.pdf") in {s.path for s in index.manifest.skipped}
    assert index.changes() == {"new": 0, "changed": 0, "removed": 0}
    (corpus / "sub" / "rockets.md").write_text("# Rockets, rewritten", encoding="utf-8")
    (corpus / "sub" / "deeper").mkdir()
    (corpus / "sub" / "deeper" / "new.txt").write_text("new", encoding="utf-8")
    (corpus / "sub" / ".hidden.txt").write_text("not a source", encoding="utf-8")
    single.write_text("The note, edited.", encoding="utf-8")
    (single.parent / "beside.txt").write_text("not under a root", encoding="utf-8")
    assert index.changes() == {"new": 1, "changed": 2, "removed": 0}
    (corpus / "tea.txt").unlink()
    assert index.changes() == {"new": 1, "changed": 2, "removed": 1}


def test_update_hashes_the_model_folder_once(fake, tmp_path: Path, monkeypatch) -> None:
    from hubsearch.embed import models

    corpus = tmp_path / "corpus"
    write_corpus(corpus, 4)
    assert CliRunner().invoke(cli, ["index", "build", str(corpus), "--index", str(tmp_path / "i")]).exit_code == 0
    hashed: list[Path] = []
    real = models.folder_sha256
    monkeypatch.setattr(models, "folder_sha256", lambda folder: hashed.append(folder) or real(folder))
    (corpus / "doc00.txt").write_text("Title 0\nNow about gliders.", encoding="utf-8")
    assert update(tmp_path / "i").embedded > 0
    assert len(hashed) == 1  # finding the recorded model hashes its folder (about 90 MB): once


def test_cli_update_json_and_stale_warning(fake, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    write_corpus(corpus, 4)
    runner = CliRunner()
    assert runner.invoke(cli, ["index", "build", str(corpus), "--index", str(tmp_path / "i")]).exit_code == 0
    (corpus / "doc00.txt").write_text("Title 0\nNow about gliders.", encoding="utf-8")
    stale = runner.invoke(cli, ["query", "gliders", "--index", str(tmp_path / "i"), "--json"])
    assert stale.exit_code == 0
    assert "sources changed since the index was built (0 new, 1 changed, 0 removed)" in stale.stderr
    assert "hubsearch index update" in stale.stderr
    assert json.loads(stale.stdout)["results"]  # still answers
    unchecked = runner.invoke(cli, ["query", "gliders", "--index", str(tmp_path / "i"), "--json", "--no-stale-check"])
    assert unchecked.exit_code == 0 and "sources changed" not in unchecked.stderr
    assert json.loads(unchecked.stdout)["results"] == json.loads(stale.stdout)["results"]
    result = runner.invoke(cli, ["index", "update", "--index", str(tmp_path / "i"), "--json"])
    assert result.exit_code == 0, result.stderr
    counts = json.loads(result.stdout)
    assert (counts["new"], counts["changed"], counts["unchanged"], counts["removed"]) == (0, 1, 3, 0)
    fresh = runner.invoke(cli, ["query", "gliders", "--index", str(tmp_path / "i"), "--json"])
    assert "warning" not in fresh.stderr
    assert json.loads(fresh.stdout)["results"][0]["doc_id"] == "doc00"
    human = runner.invoke(cli, ["index", "update", "--index", str(tmp_path / "i")])
    assert human.stdout.strip().startswith("0 new, 0 changed, 4 unchanged, 0 removed")


def test_update_without_an_index_names_the_fix(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["index", "update", "--index", str(tmp_path / "none")])
    assert result.exit_code == 2 and "hubsearch index build" in result.stderr


@contextmanager
def _watching(idx: Path, debounce_ms: int, deadline: float):
    """`watch` running in a thread over `idx`: the list its reports arrive in, yielded once
    the first (the initial sync) has come and the watcher has settled."""
    stop = threading.Event()
    reports: list = []

    def run() -> None:
        for outcome in watch(idx, embedder=FakeEmbedder(), debounce_ms=debounce_ms, stop_event=stop):
            reports.append(outcome)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        _wait_for(reports, 1, deadline)
        time.sleep(0.5)  # let the watcher settle
        yield reports
    finally:
        stop.set()
        thread.join(timeout=10)


def _wait_for(reports: list, count: int, deadline: float) -> None:
    while len(reports) < count and time.monotonic() < deadline:
        time.sleep(0.05)


def test_watch_updates_the_index_when_a_file_changes(setup) -> None:
    corpus, idx, _ = setup
    deadline = time.monotonic() + 20
    with _watching(idx, 100, deadline) as reports:
        assert reports and reports[0].unchanged == 12  # the initial sync
        (corpus / "doc04.txt").write_text("Title 4\nNow it is about lighthouses.", encoding="utf-8")
        _wait_for(reports, 2, deadline)
    assert len(reports) >= 2 and reports[-1].changed == 1
    index = Index.open(idx, embedder=FakeEmbedder())
    assert index.search("lighthouses", k=1, config=LEXICAL)[0].doc_id == "doc04"


def test_watch_takes_a_burst_of_changes_as_one_update(setup) -> None:
    corpus, idx, _ = setup
    deadline = time.monotonic() + 30
    with _watching(idx, 3000, deadline) as reports:
        for i in range(300):  # as a checkout writes them: all at once
            (corpus / f"burst{i:03}.txt").write_text(f"Burst file {i} about harbour cranes.", encoding="utf-8")
        _wait_for(reports, 2, deadline)
        time.sleep(1.5)  # a second update, if the burst were split, would come within this
    assert len(reports) == 2, [getattr(r, "new", r) for r in reports]
    assert reports[1].new == 300


def test_an_update_keeps_every_sentence_vector_a_build_would_write(setup, tmp_path: Path) -> None:
    import numpy as np

    from hubsearch.store.generations import PASSAGES
    from hubsearch.store.passages import PassageStore
    from hubsearch.store.sentences import SentenceVectors

    corpus, idx, _ = setup
    (corpus / "doc03.txt").write_text("Title 3\nA rewritten body. It is about zeppelins.", encoding="utf-8")
    (corpus / "doc05.txt").unlink()
    update(idx, embedder=FakeEmbedder())
    fresh = tmp_path / "fresh"
    build([corpus], fresh, BuildOptions(chunking=SMALL), embedder=FakeEmbedder())

    def sentences(folder: Path) -> list[tuple[str, str, bytes]]:
        """(passage text, sentence, vector bytes) of every stored sentence."""
        generation = Index.open(folder, embedder=FakeEmbedder()).generation
        store = PassageStore(generation / PASSAGES)
        found = SentenceVectors.load(generation)
        texts = {p: row.text for p, row in store.get(range(store.count())).items()}
        store.close()
        return sorted((texts[int(p)], texts[int(p)][s:e], np.asarray(v).tobytes())
                      for (p, s, e), v in zip(found.spans, found.vectors))

    updated, built = sentences(idx), sentences(fresh)
    assert len(updated) > 12 * 4 and updated == built


def test_a_source_record_is_stored_with_every_field() -> None:
    from dataclasses import asdict

    from hubsearch.store.manifest import SourceRecord, _source_dict

    record = SourceRecord("notes/a", "notes/a.md", "/data", "0" * 64, 12, 34, "A", "2024-07-05",
                          {"tags": ["x", "y"], "nested": {"n": [1, 2]}})
    assert _source_dict(record) == asdict(record)


def test_sentences_embedded_in_blocks_are_stored_as_in_one_call(tmp_path: Path, monkeypatch) -> None:
    import numpy as np

    from hubsearch.indexer import assemble
    from hubsearch.store.sentences import SentenceVectors

    corpus = tmp_path / "corpus"
    write_corpus(corpus)
    whole = Index.build([corpus], tmp_path / "whole", BuildOptions(chunking=SMALL), embedder=FakeEmbedder())
    monkeypatch.setattr(assemble, "SENTENCE_BLOCK", 7)
    fake = FakeEmbedder()
    blocks = Index.build([corpus], tmp_path / "blocks", BuildOptions(chunking=SMALL), embedder=fake)
    one, other = SentenceVectors.load(whole.generation), SentenceVectors.load(blocks.generation)
    assert len(one.spans) > 7 * 3 and np.array_equal(one.spans, other.spans)
    assert np.array_equal(one.vectors, other.vectors)


def test_an_update_imports_neither_bm25s_nor_scipy(setup) -> None:
    # They take 0.2 s to import; an update scores BM25 from the kept term counts.
    import subprocess
    import sys

    from .conftest import ROOT

    corpus, index_dir, index = setup
    index.close()
    (corpus / "doc03.txt").write_text("Title 3\nA rewritten document about flutter.", encoding="utf-8")
    probe = (
        "import sys\n"
        "from hubsearch import update\n"
        "from tests.conftest import FakeEmbedder\n"
        f"report = update({str(index_dir)!r}, embedder=FakeEmbedder())\n"
        "print(report.changed, sorted(m for m in ('bm25s', 'scipy') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.stdout.split() == ["1", "[]"], result.stderr


def test_kept_sentence_rows_are_copied_as_runs_of_slices() -> None:
    import numpy as np

    from hubsearch.indexer.assemble import _runs

    to = np.array([0, 1, 2, 3, 7, 8, 9, 10, 11])
    take = np.array([5, 6, 7, 20, 21, 22, 23, 24, 25])  # breaks where either side jumps
    runs = _runs(to, take, most=2)
    assert runs == [((0, 2), (5, 7)), ((2, 3), (7, 8)), ((3, 4), (20, 21)), ((7, 9), (21, 23)),
                    ((9, 11), (23, 25)), ((11, 12), (25, 26))]
    copied = np.concatenate([np.arange(k0, k1) for _, (k0, k1) in runs])
    assert np.array_equal(copied, take)
    assert np.array_equal(np.concatenate([np.arange(t0, t1) for (t0, t1), _ in runs]), to)
    assert _runs(np.array([], dtype=np.int64), np.array([], dtype=np.int64)) == []
