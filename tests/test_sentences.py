"""Sentence vectors: each passage's best sentence, as a ranking signal."""

import numpy as np
import pytest

from hubsearch import SearchConfig
from hubsearch.store.sentences import SentenceVectors


def test_best_of_takes_each_passages_best_sentence() -> None:
    spans = np.array([[0, 0, 5], [0, 6, 9], [2, 0, 4], [3, 0, 3], [3, 4, 8], [3, 9, 12]], dtype=np.int32)
    vectors = np.array([[1, 0], [0.6, 0.8], [0, 1], [0.8, 0.6], [-1, 0], [0.28, 0.96]], dtype=np.float16)
    store = SentenceVectors(spans, vectors)
    query = np.array([0.0, 1.0], dtype=np.float32)
    best = store.best_of([3, 1, 0, 2], query)
    # Passage 1 has no sentences; the others take their highest cosine.
    np.testing.assert_allclose(best, [0.96, -1.0, 0.8, 1.0], atol=1e-3)
    assert store.rows(3) == slice(3, 6) and store.of(1) == ([], pytest.approx(np.zeros((0, 2))))


def test_of_many_reads_what_of_reads_one_at_a_time() -> None:
    spans = np.array([[0, 0, 5], [0, 6, 9], [2, 0, 4], [3, 0, 3], [3, 4, 8]], dtype=np.int32)
    vectors = np.arange(10, dtype=np.float16).reshape(5, 2)
    store = SentenceVectors(spans, vectors)
    many = store.of_many([3, 1, 0])
    for passage, (got_spans, got_vectors) in zip([3, 1, 0], many):
        one_spans, one_vectors = store.of(passage)
        assert got_spans == one_spans and got_vectors.dtype == np.float32
        np.testing.assert_array_equal(got_vectors, one_vectors)
    assert many[0][0] == [(0, 3), (4, 8)] and many[1][0] == []


@pytest.mark.parametrize("fast", [False, True])
def test_sentence_vectors_are_widened_exactly(monkeypatch, fast: bool) -> None:
    from hubsearch.store import vectors as stored

    monkeypatch.setattr(stored, "_widen", None)
    if fast:
        stored.fast_widening()
        assert stored._widen is not None
    rng = np.random.default_rng(0)
    # Subnormal, zero, negative zero and the largest halves, among ordinary ones.
    edge = np.array([5.96e-8, 6.1e-5, 0.0, -0.0, -65504, 65504, 1 / 3, -2e-7], dtype=np.float16)
    halves = np.vstack([rng.standard_normal((300, 8)).astype(np.float16), edge])
    got = stored.read_rows(halves, [300, 5, 299, 0, 5])
    expected = halves[[300, 5, 299, 0, 5]].astype(np.float32)
    assert got.dtype == np.float32 and np.array_equal(got, expected)
    assert np.array_equal(np.signbit(got), np.signbit(expected))


def test_sentence_share_splits_the_meaning_weight() -> None:
    assert SearchConfig().weights(True) == {"dense": 0.25, "sentences": 0.25, "lexical": 0.5}
    assert SearchConfig(sentences=0.0).weights(False) == {"dense": 0.5, "lexical": 0.5}
    with pytest.raises(ValueError, match="sentences must be between 0 and 1"):
        SearchConfig(sentences=1.5)
