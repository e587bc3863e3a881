"""Pseudo-relevance feedback: move both queries towards the first pass's top passages.

- RM3 (lexical side): mix the query's terms with the terms most typical of the feedback
  passages, each passage weighted by its first-pass score, as Anserini does.
- Rocchio (dense side): add the feedback passages' centroid to the query vector.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from ..retrieval.lexical import LexicalIndex
from ..settings import FeedbackConfig


def rm3(
    lexical: LexicalIndex, weights: dict[int, float], texts: Sequence[str], scores: Sequence[float],
    config: FeedbackConfig,
) -> dict[int, float]:
    """The RM3-expanded query: `config.rm3_original_weight` of the original query plus
    the rest spread over the `config.rm3_terms` terms most typical of `texts`.

    Args:
        lexical: The BM25 index, for its analyser and vocabulary.
        weights: The original query's term weights.
        texts: Texts of the feedback passages.
        scores: Their first-pass scores (only positive scores count).
    """
    if not weights or not texts:
        return weights
    positive = np.maximum(np.asarray(scores, dtype=np.float64), 0.0)
    if positive.sum() <= 0:
        return weights
    positive /= positive.sum()
    relevance: Counter[int] = Counter()
    for text, w in zip(texts, positive):
        ids = [lexical.vocab[t] for t in lexical.analyze(text) if t in lexical.vocab]
        if not ids:
            continue
        for tid, n in Counter(ids).items():
            relevance[tid] += w * n / len(ids)
    top = relevance.most_common(config.rm3_terms)
    norm = sum(v for _, v in top) or 1.0
    total = sum(weights.values())
    keep = config.rm3_original_weight
    mixed: dict[int, float] = {tid: keep * v / total for tid, v in weights.items()}
    for tid, v in top:
        mixed[tid] = mixed.get(tid, 0.0) + (1 - keep) * v / norm
    return mixed


def rocchio(query: np.ndarray, feedback: np.ndarray, config: FeedbackConfig) -> np.ndarray:
    """`query + beta * mean(feedback)`, scaled back to unit length (alpha = 1, no
    negative feedback)."""
    moved = query + config.rocchio_beta * feedback.mean(axis=0)
    return moved / max(float(np.linalg.norm(moved)), 1e-12)
