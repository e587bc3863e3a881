"""Combining ranked lists from the dense and lexical sides, and smoothing the result.

Two fusion methods:

- ``rrf``: reciprocal-rank fusion, ``score(d) = sum_side w_side / (k + rank_side(d))``.
  Uses only ranks, so it needs no score calibration.
- ``weighted``: each side's scores are normalised over its own candidate list, as
  z-scores (default: distance from the candidates' mean in standard deviations) or
  min-max to 0..1, and combined as ``alpha * dense + (1 - alpha) * lexical``. A passage
  missing from a side gets that side's lowest value (0 at most) there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ..retrieval.ranked import Fused, Mixed, Ranked, Ranking, SideColumns
from ..settings import FUSION_METHODS, FusionConfig

__all__ = ["FUSION_METHODS", "FusionConfig", "Fused", "Ranked", "Ranking", "fuse", "keep_firsts", "mix", "normalise",
           "single", "smooth"]


_blas: Any = None


def gram(vectors: np.ndarray) -> np.ndarray:
    """All pairwise dot products of the rows of `vectors`, by BLAS held to one thread.

    Not einsum: its loops take about 8 ms for 400 rows of 384, BLAS under 1 ms. Not BLAS
    as it is: OpenBLAS's worker threads go on spinning after the call, on the cores that
    the ONNX model needs for the next query, and slow it (measured)."""
    global _blas
    if _blas is None:
        from threadpoolctl import ThreadpoolController

        _blas = ThreadpoolController()
    with _blas.limit(limits=1, user_api="blas"):
        return vectors @ vectors.T


def single(name: str, side: Ranked) -> Ranking:
    """One side's ranking as it is, each candidate's score its own."""
    scores = np.asarray(side.scores, dtype=np.float64)
    ranks = np.arange(1, len(scores) + 1, dtype=np.int64)
    return Ranking(np.asarray(side.ids, dtype=np.int64), scores, {name: SideColumns(ranks, scores, scores)})


def fuse(sides: Mapping[str, Ranked], config: FusionConfig, weights: Mapping[str, float] | None = None) -> Ranking:
    """Merge ranked lists into one, best first.

    Every side's first-ranked id ends up in the first ``len(sides)`` results, whatever
    the other side thinks of it, so fusion never hides a passage one side is sure about.

    Args:
        sides: Name -> ranked candidates (e.g. "dense", "lexical").
        config: Method and parameters.
        weights: Per-side weights; default from `config.alpha` for "dense"/"lexical".
    """
    if weights is None:
        weights = {"dense": config.alpha, "lexical": 1.0 - config.alpha}
    lists = {name: np.asarray(side.ids, dtype=np.int64) for name, side in sides.items()}
    candidates = np.unique(np.concatenate(list(lists.values()))) if lists else np.zeros(0, dtype=np.int64)
    total = np.zeros(len(candidates))
    columns = {}
    for name, side in sides.items():
        ids = lists[name]
        scores = np.asarray(side.scores, dtype=np.float64)
        where = np.searchsorted(candidates, ids)
        rank = np.zeros(len(candidates), dtype=np.int64)
        rank[where] = np.arange(1, len(ids) + 1)
        raw = np.full(len(candidates), np.nan)
        raw[where] = scores
        w = weights.get(name, 0.0)
        if config.method == "rrf":
            contribution = np.where(rank > 0, 2.0 * w / (config.rrf_k + rank), 0.0)
        else:
            normed = normalise(scores, config.normalise)
            values = np.full(len(candidates), min(float(normed.min()), 0.0) if len(normed) else 0.0)
            values[where] = normed
            contribution = w * values
        total += contribution
        columns[name] = SideColumns(rank, raw, contribution)
    order = np.lexsort((candidates, -total))
    return keep_firsts(Ranking(candidates, total, columns).take(order))


def normalise(scores: np.ndarray, method: str) -> np.ndarray:
    """One side's scores on a common scale: z-scores, or min-max to 0..1. Where all are
    equal (a single candidate, say), each gets 1: one unit above a missing passage."""
    if not len(scores):
        return scores
    if method == "zscore":
        spread = float(scores.std())
        return (scores - scores.mean()) / spread if spread > 0 else np.ones_like(scores)
    lo, hi = float(scores.min()), float(scores.max())
    return (scores - lo) / (hi - lo) if hi > lo else np.ones_like(scores)


def mix(first: Sequence[Fused], second: Sequence[Fused], share: float) -> Ranking:
    """The two passes' rankings as one: each candidate scores `(1 - share) * first +
    share * second`. A pass that did not return a candidate counts its own lowest score
    there (0 at most), as fusion does for a side. Each candidate keeps the per-side
    detail of the pass that last saw it (the second, where both did)."""
    if share >= 1.0:
        return Ranking.of(second)
    before = {f.id: f for f in first}
    after = {f.id: f for f in second}
    floor_a = min(min((f.score for f in first), default=0.0), 0.0)
    floor_b = min(min((f.score for f in second), default=0.0), 0.0)
    out = []
    for cid in before.keys() | after.keys():
        a = before[cid].score if cid in before else None
        b = after[cid].score if cid in after else None
        score = (1.0 - share) * (floor_a if a is None else a) + share * (floor_b if b is None else b)
        out.append(replace(after.get(cid) or before[cid], score=score, mixed=Mixed(a, b, share)))
    out.sort(key=lambda f: (-f.score, f.id))
    return keep_firsts(Ranking.of(out))


def keep_firsts(ranking: Ranking) -> Ranking:
    """Move each side's first-ranked candidate into the first (number of sides) places."""
    if len(ranking.columns) < 2:
        return ranking
    firsts = []  # positions of each side's first, in the order of the sides
    for column in ranking.columns.values():
        at = np.flatnonzero(column.rank == 1)
        if len(at):
            firsts.append(int(at[0]))
    firsts = list(dict.fromkeys(firsts))
    head = len(firsts)
    promoted = sorted(p for p in firsts if p >= head)  # in ranking order
    if not promoted:
        return ranking
    rest = np.delete(np.arange(len(ranking)), promoted)
    keep = head - len(promoted)
    return ranking.take(np.concatenate([rest[:keep], promoted, rest[keep:]]))


def smooth(ranked: Sequence[Fused], vectors: np.ndarray, weight: float, neighbours: int) -> Ranking:
    """Score regularisation (Diaz, 2005) over the first ``len(vectors)`` candidates.

    Each candidate's score becomes ``(1 - weight) * score + weight * m``, where ``m`` is
    the similarity-weighted mean score of its ``neighbours`` most similar candidates
    (cosine of their vectors; only positive similarities count). A candidate with no
    such neighbour keeps its score. The smoothed head is re-sorted; the tail after it is
    left as it is, and every new score is a convex mix of head scores, so the order stays
    consistent. With several sides, each side's first-ranked id is still kept near the top.

    Args:
        ranked: Candidates, best first.
        vectors: Unit vectors of the first ``len(vectors)`` candidates, in order.
        weight: Share of the neighbours' mean in the new score, 0..1.
        neighbours: How many nearest candidates to average.
    """
    ranking = Ranking.of(ranked)
    n = min(len(ranking), len(vectors))
    if n < 2 or weight <= 0 or neighbours < 1:
        return ranking
    scores = ranking.scores[:n]
    sims = gram(np.asarray(vectors[:n], dtype=np.float32))
    np.fill_diagonal(sims, -np.inf)
    k = min(neighbours, n - 1)
    near = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    w = np.maximum(np.take_along_axis(sims, near, axis=1), 0.0).astype(np.float64)
    total = w.sum(axis=1)
    mean = np.where(total > 0, (w * scores[near]).sum(axis=1) / np.where(total > 0, total, 1.0), scores)
    new = (1.0 - weight) * scores + weight * mean
    before = np.full(len(ranking), np.nan)
    before[:n] = scores
    near_mean = np.full(len(ranking), np.nan)
    near_mean[:n] = mean
    smoothed = Ranking(ranking.ids, np.concatenate([new, ranking.scores[n:]]), ranking.columns,
                       (before, near_mean, weight), ranking.mixed)
    order = np.concatenate([np.lexsort((ranking.ids[:n], -new)), np.arange(n, len(ranking))])
    return keep_firsts(smoothed.take(order))
