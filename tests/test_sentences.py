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


def test_sentence_share_splits_the_meaning_weight() -> None:
    assert SearchConfig().weights(True) == {"dense": 0.25, "sentences": 0.25, "lexical": 0.5}
    assert SearchConfig(sentences=0.0).weights(False) == {"dense": 0.5, "lexical": 0.5}
    with pytest.raises(ValueError, match="sentences must be between 0 and 1"):
        SearchConfig(sentences=1.5)
