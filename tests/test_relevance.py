"""The relevance mapping: bounded, monotone in each signal, and computed for every hit."""

from pathlib import Path

import numpy as np

from hubsearch import Index
from hubsearch.query.relevance import COEFFICIENTS, relevance

from .conftest import FakeEmbedder


def test_relevance_is_a_probability_that_rises_with_each_signal() -> None:
    rows = np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.2], [0.9, 0.9, 0.8]])
    values = relevance(rows)
    assert np.all((values > 0) & (values < 1)) and list(values) == sorted(values)
    for column in range(3):
        higher = rows[1].copy()
        higher[column] += 0.1
        assert relevance(higher[None])[0] > relevance(rows[1][None])[0]
    assert all(c > 0 for c in COEFFICIENTS[1:])


def test_every_hit_has_a_relevance_from_its_own_signals(corpus: Path, tmp_path: Path) -> None:
    index = Index.build([corpus], tmp_path / "idx", embedder=FakeEmbedder())
    hits = index.search("apples orchards", k=3)
    pipeline = index.pipeline
    vector = pipeline.encode(["apples orchards"])[0]
    rows = pipeline.relevance_features("apples orchards", vector, [h.chunk_id for h in hits])
    assert [h.relevance for h in hits] == [round(float(r), 6) for r in relevance(rows)]
    assert rows[0, 2] > 0 and rows[:, 2].max() <= 1.0  # the BM25 share of a passage holding the words
    hybrid = {h.chunk_id: h.relevance for h in hits}
    lexical = {h.chunk_id: h.relevance for h in index.search("apples orchards", k=3, mode="lexical")}
    dense = {h.chunk_id: h.relevance for h in index.search("apples orchards", k=3, mode="dense")}
    both = hybrid.keys() & lexical.keys() & dense.keys()
    assert both and all(hybrid[i] == lexical[i] == dense[i] for i in both)  # it does not depend on the mode
