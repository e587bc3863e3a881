import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hubsearch import (
    BuildOptions,
    ChunkingConfig,
    FusionConfig,
    Index,
    IndexDamagedError,
    IndexNotFoundError,
    InvalidInputError,
    ModelMismatchError,
    NoDocumentsError,
    SearchConfig,
    build,
    update,
)
from hubsearch.records import ModelRef
from hubsearch.store import generations
from hubsearch.store import manifest as manifest_io

from .conftest import FakeEmbedder

SMALL = ChunkingConfig(max_tokens=40, overlap_tokens=8)


@pytest.fixture
def built(corpus: Path, tmp_path: Path) -> Index:
    return Index.build([corpus], tmp_path / "idx", BuildOptions(chunking=SMALL), embedder=FakeEmbedder())


def test_search_returns_typed_hits_with_exact_offsets(built: Index, corpus: Path) -> None:
    hits = built.search("where do apples grow", k=3)
    assert [h.rank for h in hits] == [1, 2, 3]
    assert hits[0].doc_id == "apples"
    assert hits[0].score >= hits[1].score >= hits[2].score
    for h in hits:
        source_text = (corpus / h.source).read_text(encoding="utf-8")
        assert source_text[h.start : h.end] == h.text
        assert h.start <= h.highlight[0] < h.highlight[1] <= h.end
    tea = built.search("green tea steamed", k=1)[0]
    assert (tea.doc_id, tea.date, tea.title) == ("tea", "2020-07-11", "Tea ceremonies")
    rocket = built.search("rocket nozzle exhaust", k=1)[0]
    assert (rocket.doc_id, rocket.source, rocket.title) == ("sub/rockets", "sub/rockets.md", "Rocket engines")


def test_highlight_picks_the_matching_sentence(built: Index) -> None:
    hit = built.search("cider pressed", k=1)[0]
    src = hit.text[hit.highlight[0] - hit.start : hit.highlight[1] - hit.start]
    assert src == "Cider is pressed from apples."


def test_faiss_ranking_equals_brute_force_cosine(tmp_path: Path) -> None:
    root = tmp_path / "many"
    root.mkdir()
    rng = np.random.default_rng(7)
    words = [f"w{i}" for i in range(300)]
    for n in range(60):
        body = ". ".join(" ".join(rng.choice(words, size=8)) for _ in range(6))
        (root / f"doc{n:03}.txt").write_text(body + ".", encoding="utf-8")
    fake = FakeEmbedder()
    config = ChunkingConfig(max_tokens=40, overlap_tokens=8, title_prefix=False)
    index = Index.build([root], tmp_path / "idx", BuildOptions(chunking=config), embedder=fake)
    passages = sorted(index._generation.passages.get(range(index.manifest.corpus.passages)).values(),
                      key=lambda r: r.chunk_id)
    matrix = np.load(index.generation / "embeddings.npy")
    # Without title prefixes, the stored vectors are the embeddings of the passages' text.
    np.testing.assert_allclose(matrix, fake.embed([p.text for p in passages]), atol=1e-6)
    for query in ("w1 w2 w3", "w250 w17", "w99"):
        hits = index.search(query, k=10, config=SearchConfig(mode="dense", rocchio=False))
        q = fake.embed([query])[0]
        brute = matrix @ q
        order = np.argsort(-brute, kind="stable")[:10]
        np.testing.assert_allclose([h.score for h in hits], brute[order], atol=1e-5)
        # Ids must agree wherever the brute-force scores are not tied.
        for hit, expected in zip(hits, order):
            if np.sum(np.isclose(brute, brute[expected], atol=1e-6)) == 1:
                assert hit.chunk_id == expected
        assert len({h.chunk_id for h in hits}) == 10


def test_manifest_records_what_decides_the_index(built: Index, corpus: Path, tmp_path: Path) -> None:
    m = json.loads((built.generation / "manifest.json").read_text(encoding="utf-8"))
    # Every source and skipped file sits beside the manifest, which checksums that file.
    assert "sources" not in m and "skipped" not in m and "source_files.json" in m["files"]
    m.update(json.loads((built.generation / "source_files.json").read_text(encoding="utf-8")))
    assert manifest_io.Manifest.from_dict(m) == built.manifest  # the typed manifest is the stored one
    assert m["format_version"] == manifest_io.FORMAT_VERSION
    assert m["model"]["name"] == "fake" and m["model"]["dimension"] == 64
    assert m["chunking"] == SMALL.to_dict()
    assert m["corpus"]["roots"] == [str(corpus.resolve())]
    assert {s["doc_id"] for s in m["sources"]} == {"apples", "sub/rockets", "tea"}
    assert all(len(s["sha256"]) == 64 for s in m["sources"])
    assert [(Path(s["path"]).name, s["kind"]) for s in m["skipped"]] == [("ignored.xyz", "unsupported"),
                                                                         ("latin1.txt", "encoding")]
    assert {"vectors.faiss", "embeddings.npy", "passages.sqlite", "lexical/vocab.index.json", "sentences.npy",
            "sentence_spans.npy"} <= set(m["files"])
    assert m["vector_index"]["backend"] == "faiss"
    assert m["lexical"]["library"] == "bm25s" and m["lexical"]["stemmer"] == "english"
    assert "faiss-cpu" in m["versions"] and "numpy" in m["versions"]
    report = build([corpus], tmp_path / "again", BuildOptions(chunking=SMALL), embedder=FakeEmbedder())
    assert report.documents == 3 and report.passages == m["corpus"]["passages"]
    assert report.index == str(tmp_path / "again") and (tmp_path / "again" / report.generation).is_dir()


def test_open_reuses_the_built_index(built: Index) -> None:
    again = Index.open(built.path, embedder=FakeEmbedder())
    assert again.generation == built.generation
    assert again.search("apples", k=1)[0].doc_id == "apples"


def test_rebuild_replaces_the_generation_and_removes_the_old_one(built: Index, corpus: Path) -> None:
    (corpus / "new.txt").write_text("Volcanoes erupt lava.", encoding="utf-8")
    from hubsearch import rebuild

    rebuild(built.path, embedder=FakeEmbedder())
    fresh = Index.open(built.path, embedder=FakeEmbedder())
    assert fresh.generation != built.generation
    assert not built.generation.exists()
    assert fresh.search("volcano lava erupt", k=1)[0].doc_id == "new"
    assert fresh.manifest.chunking == SMALL


@pytest.mark.parametrize("query", ["", "   ", "\n\t"])
def test_empty_query_is_refused(built: Index, query: str) -> None:
    with pytest.raises(InvalidInputError, match="query is empty"):
        built.search(query)


@pytest.mark.parametrize("k", [0, -3])
def test_bad_k_is_refused(built: Index, k: int) -> None:
    with pytest.raises(InvalidInputError, match="k must be"):
        built.search("apples", k=k)


def test_k_larger_than_corpus_returns_everything(built: Index) -> None:
    hits = built.search("apples", k=1000)
    assert len(hits) == built.manifest.corpus.passages


def test_nul_bytes_and_the_longest_queries_are_answered(built: Index) -> None:
    assert built.search("apples\x00orchards", k=1)[0].doc_id == "apples"
    assert len(built.search("apples " * 1428, k=2)) == 2  # 9,996 characters: under the limit


def test_open_missing_index(tmp_path: Path) -> None:
    with pytest.raises(IndexNotFoundError, match="hubsearch index build"):
        Index.open(tmp_path / "none")


def test_embedder_of_another_model_is_refused(built: Index) -> None:
    other = FakeEmbedder(ModelRef("other", "/x", "0" * 64, 64))
    with pytest.raises(ModelMismatchError, match="rebuild with"):
        Index.open(built.path, embedder=other)


def test_no_documents(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(NoDocumentsError):
        Index.build([tmp_path / "empty"], tmp_path / "idx", embedder=FakeEmbedder())


def test_refuses_to_take_over_a_folder_with_other_files(corpus: Path, tmp_path: Path) -> None:
    precious = tmp_path / "mine"
    precious.mkdir()
    (precious / "thesis.docx").write_bytes(b"irreplaceable")
    with pytest.raises(InvalidInputError, match="already holds other files"):
        Index.build([corpus], precious, embedder=FakeEmbedder())
    assert (precious / "thesis.docx").read_bytes() == b"irreplaceable"


def test_failed_build_leaves_previous_index_untouched(built: Index, corpus: Path) -> None:
    class Exploding(FakeEmbedder):
        def embed(self, texts, progress=None):
            raise RuntimeError("power cut")

    (corpus / "new.txt").write_text("Something that must be embedded.", encoding="utf-8")
    with pytest.raises(RuntimeError, match="power cut"):
        Index.build([corpus], built.path, BuildOptions(chunking=SMALL), embedder=Exploding())
    again = Index.open(built.path, embedder=FakeEmbedder())
    assert again.generation == built.generation
    assert again.search("apples", k=1)[0].doc_id == "apples"
    assert [p.name for p in built.path.iterdir() if p.name.startswith(".tmp-")] == []


def _damage(index: Index, how: str) -> None:
    gen = index.generation
    if how == "flip-vectors":
        data = bytearray((gen / "vectors.faiss").read_bytes())
        data[len(data) // 2] ^= 0x01
        (gen / "vectors.faiss").write_bytes(bytes(data))
    elif how == "truncate-passages":
        path = gen / "passages.sqlite"
        path.write_bytes(path.read_bytes()[:1000])
    elif how == "missing-file":
        (gen / "embeddings.npy").unlink()
    elif how == "future-format":
        manifest = json.loads((gen / "manifest.json").read_text())
        manifest["format_version"] = manifest_io.FORMAT_VERSION + 1
        (gen / "manifest.json").write_text(json.dumps(manifest))
    elif how == "edited-manifest":
        manifest = json.loads((gen / "manifest.json").read_text())
        manifest["model"]["name"] = "someone-else"
        (gen / "manifest.json").write_text(json.dumps(manifest))
    elif how == "edited-manifest-with-checksum":  # an edit that even fixes the checksum
        manifest = json.loads((gen / "manifest.json").read_text())
        manifest["corpus"]["passages"] += 1
        manifest["checksum"] = manifest_io.checksum(manifest)
        (gen / "manifest.json").write_text(json.dumps(manifest))
    elif how == "garbage-manifest":
        (gen / "manifest.json").write_text("{not json")
    elif how == "dangling-pointer":
        (index.path / "CURRENT").write_text("g-nothing-here\n")


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("flip-vectors", "vectors.faiss does not match its checksum"),
        ("truncate-passages", "passages.sqlite has 1000 bytes"),
        ("missing-file", "embeddings.npy is missing"),
        ("future-format", "newer than this hubsearch reads"),
        ("edited-manifest", "manifest.json was edited"),
        ("edited-manifest-with-checksum", "manifest says"),
        ("garbage-manifest", "manifest.json is unreadable"),
        ("dangling-pointer", "missing generation"),
    ],
)
def test_damaged_index_is_refused_with_rebuild_hint(built: Index, how: str, message: str) -> None:
    built.close()
    _damage(built, how)
    with pytest.raises(IndexDamagedError, match=message) as info:
        Index.open(built.path, embedder=FakeEmbedder())
    assert "rebuild" in str(info.value)


@pytest.mark.parametrize("how", ["flip-vectors", "edited-manifest", "missing-file"])
def test_rebuild_repairs_a_damaged_index(built: Index, how: str) -> None:
    built.close()
    _damage(built, how)
    from hubsearch import rebuild

    embedder = FakeEmbedder()
    report = rebuild(built.path, embedder=embedder)
    fixed = Index.open(built.path, embedder=FakeEmbedder())
    assert report.reused == 0  # nothing is taken from a damaged index
    assert report.embedded == fixed.manifest.corpus.passages
    assert embedder.embedded == report.embedded + report.sentences
    assert report.unchanged == 3  # what changed is still reported against the old sources
    assert fixed.search("apples", k=1)[0].doc_id == "apples"


def test_sources_are_never_modified(corpus: Path, tmp_path: Path) -> None:
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in corpus.rglob("*") if p.is_file()}
    Index.build([corpus], tmp_path / "idx", embedder=FakeEmbedder())
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in corpus.rglob("*") if p.is_file()}
    assert before == after


def test_index_dir_defaults_to_environment(corpus: Path, tmp_path: Path) -> None:
    index = Index.build([corpus], embedder=FakeEmbedder())
    assert index.path == Path(os.environ["HUBSEARCH_INDEX"])


def test_unchanged_files_are_not_hashed_again_but_edits_are_caught(built: Index, monkeypatch) -> None:
    calls = []
    real = generations.file_sha256
    monkeypatch.setattr(generations, "file_sha256", lambda p: calls.append(p.name) or real(p))
    Index.open(built.path, embedder=FakeEmbedder()).close()
    assert calls == []  # verified when the build opened it; nothing moved since
    path = built.generation / "vectors.faiss"
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x10
    path.write_bytes(bytes(data))  # same size, new content
    with pytest.raises(IndexDamagedError, match="vectors.faiss does not match its checksum"):
        Index.open(built.path, embedder=FakeEmbedder())
    assert calls == ["vectors.faiss"]


def test_an_unknown_engine_is_refused_before_any_work(corpus: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="unknown engine 'rya'; choose one of local, ray"):
        Index.build([corpus], tmp_path / "new", BuildOptions(engine="rya"))
    assert not (tmp_path / "new").exists()
    built = Index.build([corpus], tmp_path / "idx", BuildOptions(chunking=SMALL), embedder=FakeEmbedder())
    built.close()
    with pytest.raises(InvalidInputError, match="unknown engine"):
        update(tmp_path / "idx", engine="rya")


def test_the_highlight_rule_is_a_search_setting(tmp_path: Path) -> None:
    """The default weighs the query's words by how few of the hit's sentences hold them;
    `highlight_terms="idf"` keeps the earlier rule. Alpha 0 leaves the words alone to decide."""
    root = tmp_path / "docs"
    root.mkdir()
    text = "Ding Kuiling spoke today. He warned of grave risks. Ding Kuiling left early."
    (root / "talk.txt").write_text(text, encoding="utf-8")
    index = Index.build([root], tmp_path / "idx", BuildOptions(chunking=SMALL), embedder=FakeEmbedder())
    words_only = SearchConfig(fusion=FusionConfig(alpha=0.0))

    def marked(config: SearchConfig) -> str:
        hit = index.search("what did Ding Kuiling warn", k=1, config=config)[0]
        return hit.text[hit.highlight[0] - hit.start : hit.highlight[1] - hit.start]

    assert marked(words_only) == "He warned of grave risks."
    assert marked(replace(words_only, highlight_terms="idf")) == "Ding Kuiling spoke today."


def test_a_manifest_verified_before_is_not_checksummed_again_until_it_is_written(built: Index, monkeypatch) -> None:
    built.close()
    Index.open(built.path, embedder=FakeEmbedder()).close()
    calls: list[int] = []
    original = manifest_io.checksum
    monkeypatch.setattr(manifest_io, "checksum", lambda data: calls.append(1) or original(data))
    Index.open(built.path, embedder=FakeEmbedder()).close()
    assert calls == []
    _damage(built, "edited-manifest")  # the same checksum field, other content
    with pytest.raises(IndexDamagedError, match="manifest.json was edited"):
        Index.open(built.path, embedder=FakeEmbedder())
    assert calls


def test_a_query_reads_no_source_records(built: Index, tmp_path: Path) -> None:
    from hubsearch.store.deferred import Deferred

    with Index.open(built.path, embedder=FakeEmbedder()) as index:
        hits = index.search("apples", k=3)
        assert hits and isinstance(index.manifest.sources, Deferred)
        assert not index.manifest.sources.loaded  # a folder's thousands of records stay on disk
        assert {s.doc_id for s in index.manifest.sources} == {"apples", "sub/rockets", "tea"}
        assert index.manifest.sources.loaded


def test_an_edited_source_file_list_is_refused(built: Index, tmp_path: Path) -> None:
    from hubsearch.errors import IndexDamagedError

    path = built.generation / "source_files.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["sources"][0]["sha256"] = "0" * 64  # as long as before: only the checksum tells
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(IndexDamagedError, match="source_files.json does not match its checksum"):
        Index.open(built.path, embedder=FakeEmbedder())


def test_a_held_generation_keeps_its_source_records_after_a_writer_removes_it(corpus: Path, tmp_path: Path) -> None:
    Index.build([corpus], tmp_path / "idx", embedder=FakeEmbedder()).close()
    held = Index.open(tmp_path / "idx", embedder=FakeEmbedder())
    try:
        for _ in range(2):
            Index.build([corpus], tmp_path / "idx", embedder=FakeEmbedder()).close()
        assert not held.generation.exists()  # retired and removed while held
        assert {s.doc_id for s in held.manifest.sources} == {"apples", "sub/rockets", "tea"}
    finally:
        held.close()
