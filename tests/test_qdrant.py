"""The Qdrant backend, in qdrant-client's local mode (the same client API a cluster answers)."""

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from hubsearch import BuildOptions

pytest.importorskip("qdrant_client")

from hubsearch import (  # noqa: E402
    BackendError,
    Index,
    IndexDamagedError,
    SearchConfig,
    VectorBackend,
    rebuild,
    update,
)
from hubsearch.cli import cli  # noqa: E402
from hubsearch.retrieval.qdrant import client  # noqa: E402
from hubsearch.settings import Filters  # noqa: E402

from .conftest import SEEDS, FakeEmbedder, cranfield_files  # noqa: E402

QUERIES = ["Xuhui incubator size", "Who is the Party secretary of Yangpu?", "OpenMMLab", "AI investment consortium",
           "boundary layer transition", "heat transfer in hypersonic flow", "wing flutter"]


def _pair(corpus: Path, tmp_path: Path) -> tuple[Index, Index]:
    faiss = Index.build([corpus], tmp_path / "faiss", BuildOptions(index_type="flat"), embedder=FakeEmbedder())
    qdrant = Index.build([corpus], tmp_path / "qdrant", BuildOptions(backend=VectorBackend(kind="qdrant", path=str(tmp_path / "qdrant-data"))), embedder=FakeEmbedder())
    return faiss, qdrant


def _ranked(trace) -> list:
    from types import SimpleNamespace

    return [SimpleNamespace(score=f.score, chunk_id=f.id) for f in trace.ranking[:10]]


def _tied(hits, tolerance: float = 1e-4) -> list[set[int]]:
    """The hits' ids in groups of scores within `tolerance` of their neighbour (exact ties,
    up to float error), best group first; the last group, which may be cut at k
    differently, as an empty set."""
    groups: list[list] = []
    for h in sorted(hits, key=lambda h: -h.score):
        if groups and groups[-1][0] - h.score <= tolerance:
            groups[-1][0] = h.score
            groups[-1][1].add(h.chunk_id)
        else:
            groups.append([h.score, {h.chunk_id}])
    return [ids for _, ids in groups[:-1]] + [set()]


@pytest.mark.parametrize("corpus_name", ["seeds", "cranfield"])
def test_top_10_equals_the_faiss_flat_backend_in_every_mode(tmp_path: Path, corpus_name: str) -> None:
    corpus = SEEDS if corpus_name == "seeds" else cranfield_files(tmp_path / "cranfield", 600)
    faiss, qdrant = _pair(corpus, tmp_path)
    assert qdrant.manifest.vector_index.backend == "qdrant"
    assert not (qdrant.generation / "vectors.faiss").exists()
    for query in QUERIES:
        for mode in ("hybrid", "dense", "lexical"):
            for config in (SearchConfig(mode=mode), SearchConfig(mode=mode, rm3=True, rocchio=True)):
                # The ranking scores (hits show scores raised where a pinned hit sits higher).
                a = _ranked(faiss.trace(query, k=10, config=config)[1])
                b = _ranked(qdrant.trace(query, k=10, config=config)[1])
                # Equal up to the order of ties. The fake embedder ties many passages, and the
                # backends break ties at the 400th candidate differently; fused z-scores use the
                # mean and spread of all candidates, so such a swap moves every score a little.
                assert _tied(a, 1e-2) == _tied(b, 1e-2), (query, mode)
                np.testing.assert_allclose(sorted(h.score for h in a), sorted(h.score for h in b), atol=5e-3)


def test_filters_run_inside_qdrant_so_k_hits_come_back(tmp_path: Path) -> None:
    _, qdrant = _pair(SEEDS, tmp_path)
    only = SearchConfig(mode="dense", filters=Filters(doc_ids=("002_3bc810426908d2e2",)))
    hits = qdrant.search("Xuhui incubator size", k=4, config=only)
    assert len(hits) == 4 and {h.doc_id for h in hits} == {"002_3bc810426908d2e2"}
    dated = qdrant.search("incubator", k=3, config=SearchConfig(filters=Filters(since="2025-01-01")))
    assert {h.date for h in dated} == {"2025-02-07"}


def test_update_writes_a_new_collection_and_drops_old_ones(seeds_copy: Path, tmp_path: Path) -> None:
    backend = VectorBackend(kind="qdrant", path=str(tmp_path / "data"))
    first = Index.build([seeds_copy], tmp_path / "idx", BuildOptions(backend=backend), embedder=FakeEmbedder())
    collections = [first.manifest.vector_index.qdrant["collection"]]
    for n in range(3):
        (seeds_copy / f"new{n}.txt").write_text(f"Kites number {n} fly over the river.", encoding="utf-8")
        update(tmp_path / "idx", embedder=FakeEmbedder())
        index = Index.open(tmp_path / "idx", embedder=FakeEmbedder())
        collections.append(index.manifest.vector_index.qdrant["collection"])
        assert index.search("kites river", k=1, config=SearchConfig(mode="lexical"))[0].doc_id.startswith("new")
    qdrant = client(backend)
    names = {c.name for c in qdrant.get_collections().collections}
    assert names == set(collections[-2:])  # the live one and the one before it
    alias = {a.alias_name: a.collection_name for a in qdrant.get_aliases().aliases}
    assert alias[index.manifest.vector_index.qdrant["alias"]] == collections[-1]
    assert qdrant.count(collections[-1]).count == index.manifest.corpus.passages


def test_a_killed_build_leaves_the_old_collection_serving(seeds_copy: Path, tmp_path: Path, monkeypatch) -> None:
    from hubsearch.store import generations

    backend = VectorBackend(kind="qdrant", path=str(tmp_path / "data"))
    Index.build([seeds_copy], tmp_path / "idx", BuildOptions(backend=backend), embedder=FakeEmbedder()).close()

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # the process dies after Qdrant took the new points, before publishing

    monkeypatch.setattr(generations.GenerationWriter, "publish", killed)
    (seeds_copy / "new.txt").write_text("Kites fly over the river.", encoding="utf-8")
    with pytest.raises(KeyboardInterrupt):
        update(tmp_path / "idx", embedder=FakeEmbedder())
    monkeypatch.undo()
    index = Index.open(tmp_path / "idx", embedder=FakeEmbedder())
    assert index.search("Xuhui incubator size", k=1)[0].doc_id == "004_151d86a0f29a9671"
    rebuild(tmp_path / "idx", embedder=FakeEmbedder())  # the next write drops the orphan
    rebuilt = Index.open(tmp_path / "idx", embedder=FakeEmbedder())
    names = {c.name for c in client(backend).get_collections().collections}
    assert rebuilt.manifest.vector_index.qdrant["collection"] in names and len(names) == 2


def test_a_collection_that_lost_points_is_refused(tmp_path: Path) -> None:
    from qdrant_client import models

    _, qdrant = _pair(SEEDS, tmp_path)
    collection = qdrant.manifest.vector_index.qdrant["collection"]
    client(VectorBackend(kind="qdrant", path=str(tmp_path / "qdrant-data"))).delete(
        collection, points_selector=models.PointIdsList(points=[3]), wait=True)
    with pytest.raises(IndexDamagedError, match="77 vectors of dimension 64, 78 passages"):
        Index.open(tmp_path / "qdrant", embedder=FakeEmbedder())


def test_an_unreachable_server_fails_with_one_line_naming_it(fake, tmp_path: Path) -> None:
    url = "http://127.0.0.1:9"  # the discard port: nothing answers there
    result = CliRunner().invoke(cli, ["index", "build", str(SEEDS), "--index", str(tmp_path / "i"), "--backend",
                                      "qdrant", "--qdrant-url", url])
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and f"cannot reach Qdrant at {url}" in errors[0]
    with pytest.raises(BackendError, match="cannot reach Qdrant"):
        client(VectorBackend(kind="qdrant", url=url))


def test_cli_builds_and_queries_a_qdrant_index(fake, tmp_path: Path) -> None:
    runner = CliRunner()
    built = runner.invoke(cli, ["index", "build", str(SEEDS), "--index", str(tmp_path / "i"), "--backend", "qdrant",
                                "--qdrant-path", str(tmp_path / "data")])
    assert built.exit_code == 0, built.stderr
    info = json.loads(runner.invoke(cli, ["index", "info", "--index", str(tmp_path / "i"), "--json"]).stdout)
    assert info["vector_index"]["backend"] == "qdrant" and info["vector_index"]["qdrant"]["path"]
    hits = json.loads(runner.invoke(cli, ["query", "Xuhui incubator size", "--index", str(tmp_path / "i"),
                                          "--json", "--no-stale-check"]).stdout)["results"]
    assert hits[0]["doc_id"] == "004_151d86a0f29a9671"
    bad = runner.invoke(cli, ["index", "build", str(SEEDS), "--index", str(tmp_path / "j"), "--qdrant-path", "x"])
    assert bad.exit_code == 2 and "need --backend qdrant" in bad.stderr
    neither = runner.invoke(cli, ["index", "build", str(SEEDS), "--index", str(tmp_path / "k"), "--backend", "qdrant"])
    assert neither.exit_code == 2 and "needs either --qdrant-url URL or --qdrant-path DIR" in neither.stderr


def test_without_qdrant_client_the_error_names_the_install(monkeypatch, tmp_path: Path) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "qdrant_client", None)
    with pytest.raises(BackendError, match=r"pip install 'hubsearch\[qdrant\]'"):
        client(VectorBackend(kind="qdrant", url="http://127.0.0.1:6333"))


def test_a_collection_whose_vectors_changed_is_refused(tmp_path: Path) -> None:
    from qdrant_client import models

    _, qdrant = _pair(SEEDS, tmp_path)
    collection = qdrant.manifest.vector_index.qdrant["collection"]
    other = np.zeros(64, dtype=np.float32)
    other[0] = 1.0
    client(VectorBackend(kind="qdrant", path=str(tmp_path / "qdrant-data"))).upsert(
        collection, points=models.Batch(ids=[0], vectors=[other.tolist()], payloads=[{}]), wait=True)
    with pytest.raises(IndexDamagedError, match="point 0 of .* differs from embeddings.npy"):
        Index.open(tmp_path / "qdrant", embedder=FakeEmbedder())
