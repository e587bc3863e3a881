"""Every FAISS index type against brute-force cosine ranking."""

from pathlib import Path

import numpy as np
import pytest

from hubsearch.errors import InvalidInputError
from hubsearch.retrieval.vectors import EXACT_LIMIT, VectorIndex, choose_type


def clustered(n: int, d: int = 64, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mixing = rng.standard_normal((12, d)).astype(np.float32)
    topics = rng.standard_normal((20, 12)).astype(np.float32)
    z = topics[rng.integers(0, 20, n)] + 0.7 * rng.standard_normal((n, 12), dtype=np.float32)
    x = z @ mixing + 0.05 * rng.standard_normal((n, d), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    x = clustered(6000)
    return x[:5800], x[5800:]


def brute_force(x: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-(q @ x.T), axis=1, kind="stable")[:, :k]


def test_flat_equals_brute_force(data) -> None:
    x, q = data
    scores, ids = VectorIndex.build(x, "flat").search_batch(q, 10)
    expected = brute_force(x, q, 10)
    np.testing.assert_allclose(scores, np.take_along_axis(q @ x.T, expected, axis=1), atol=1e-5)
    assert np.mean(ids == expected) > 0.999  # equal up to exact ties


@pytest.mark.parametrize("kind", ["hnsw", "ivf-sq8", "ivf-pq"])
def test_approximate_types_recall_brute_force(data, kind: str, tmp_path: Path) -> None:
    x, q = data
    index = VectorIndex.build(x, kind)
    index.save(tmp_path / "v.faiss")
    loaded = VectorIndex.load(tmp_path / "v.faiss", kind, exact=x)
    expected = brute_force(x, q, 10)
    for candidate in (index, loaded):
        scores, ids = candidate.search_batch(q, 10)
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, expected)])
        assert recall >= 0.95, (kind, recall)
        assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first
    assert loaded.kind == kind and loaded.count == len(x)


def test_auto_picks_exact_for_small_and_approximate_for_large() -> None:
    assert choose_type(10, 384) == "flat"
    assert choose_type(EXACT_LIMIT, 384) == "flat"
    assert choose_type(EXACT_LIMIT + 1, 384) == "hnsw"
    assert choose_type(20_000_000, 384) == "ivf-pq"


def test_unknown_type_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="unknown index type"):
        VectorIndex.build(np.zeros((3, 4), dtype=np.float32), "annoy")


def test_exact_store_ranks_as_the_flat_faiss_index(data) -> None:
    from hubsearch.retrieval.vectors import ExactVectors

    x, q = data
    flat, exact = VectorIndex.build(x, "flat"), ExactVectors(x)
    assert (exact.count, exact.dimension) == (flat.count, flat.dimension)
    for query in q[:50]:
        a, b = flat.search(query, 20), exact.search(query, 20)
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)
        assert np.mean(np.asarray(a.ids) == np.asarray(b.ids)) > 0.95  # equal up to exact ties
    ids = [5, 2, 900, 2]
    np.testing.assert_array_equal(exact.vectors(ids), x[ids])


def test_a_loaded_hnsw_index_answers_as_the_one_built(data, tmp_path: Path) -> None:
    # Loading maps the stored vectors into memory instead of reading them (IO_FLAG_MMAP_IFC).
    x, q = data
    built = VectorIndex.build(x, "hnsw")
    built.save(tmp_path / "v.faiss")
    loaded = VectorIndex.load(tmp_path / "v.faiss", "hnsw", exact=x)
    for a, b in zip(built.search_batch(q, 50), loaded.search_batch(q, 50)):
        np.testing.assert_array_equal(a, b)
    allowed = np.arange(0, len(x), 3)
    assert built.search(q[0], 20, allowed).ids == loaded.search(q[0], 20, allowed).ids
