"""A relevance in [0, 1] that means the same across queries.

Fused scores rank the candidates of one query well, but z-scores and RRF values do not say
whether the best hit is any good: a question nothing answers still gets a top score. The
relevance of a hit is a logistic function of three raw signals that do not depend on the
other candidates:

- its passage's cosine with the query (the model's meaning);
- the cosine of its best sentence with the query;
- its BM25 score divided by the most the query's terms could score (so 1.0 is an
  impossible perfect match and 0 no term in common).

`COEFFICIENTS` were fitted by `scripts/fit_relevance.py` on the development collections
(Cranfield, CISI and the seed questions) with all-MiniLM-L6-v2, and checked on the held-out
seed questions; docs/benchmarks.md has the fit and its calibration. With another model the
relevance still orders hits sensibly but is not calibrated.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..retrieval.generation import Generation

# intercept, passage cosine, best sentence cosine, BM25 share (scripts/fit_relevance.py)
COEFFICIENTS = (-5.003, 4.087, 1.365, 11.600)
# Below this, the best hit is said not to match well: on the development questions no top hit
# that answers falls below it, and every off-topic question's top hit does.
WEAK = 0.05


def features(generation: Generation, vector: np.ndarray, terms: dict[int, float], ids: Sequence[int],
             vectors: np.ndarray, bm25: np.ndarray | None = None) -> np.ndarray:
    """One row per passage id: passage cosine, best sentence cosine (the passage cosine
    where the index has no sentence vectors), BM25 share.

    Args:
        generation: The open index generation.
        vector: The query's unit vector.
        terms: The query's term weights (`LexicalIndex.term_weights`).
        ids: Passage ids.
        vectors: Those passages' unit vectors, in the same order.
        bm25: Those passages' BM25 scores for `terms`, where the lexical side already has
            them; computed here otherwise.
    """
    out = np.zeros((len(ids), 3), dtype=np.float64)
    if not len(ids):
        return out
    out[:, 0] = np.asarray(vectors, dtype=np.float32) @ np.asarray(vector, dtype=np.float32)
    sentences = generation.sentences
    out[:, 1] = sentences.best_of(list(ids), vector) if sentences is not None else out[:, 0]
    lexical = generation.lexical
    if terms:
        bound = sum(w * lexical.idf(t) for t, w in terms.items()) * (lexical.config.k1 + 1.0)
        if bound > 0:
            scores = bm25 if bm25 is not None else lexical.scores(terms)[np.asarray(ids, dtype=np.int64)]
            out[:, 2] = np.minimum(np.asarray(scores, dtype=np.float64) / bound, 1.0)
    return out


def relevance(rows: np.ndarray, coefficients: Sequence[float] = COEFFICIENTS) -> np.ndarray:
    """The relevance of each feature row, in [0, 1]."""
    intercept, *weights = coefficients
    z = intercept + np.asarray(rows, dtype=np.float64) @ np.asarray(weights, dtype=np.float64)
    return 1.0 / (1.0 + np.exp(-z))
