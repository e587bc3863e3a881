"""Combining ranked lists from the dense and lexical sides.

Two methods:

- ``rrf``: reciprocal-rank fusion, ``score(d) = sum_side w_side / (k + rank_side(d))``.
  Uses only ranks, so it needs no score calibration.
- ``weighted``: each side's scores are min-max normalised over its own candidate list
  (a passage missing from a side gets 0 there) and combined as
  ``alpha * dense + (1 - alpha) * lexical``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .errors import InvalidInputError

FUSION_METHODS = ("rrf", "weighted")


@dataclass(frozen=True)
class FusionConfig:
    """How hybrid mode merges the two sides.

    Attributes:
        method: "rrf" or "weighted".
        rrf_k: RRF's damping constant (60 in the original paper).
        alpha: Dense share for "weighted", and dense weight for "rrf" (lexical: 1 - alpha,
            both doubled so that 0.5 gives plain RRF).
        depth: Candidates taken from each side before fusing.
    """

    method: str = "weighted"
    rrf_k: int = 60
    alpha: float = 0.5
    depth: int = 100

    def __post_init__(self) -> None:
        if self.method not in FUSION_METHODS:
            raise InvalidInputError(f"unknown fusion method {self.method!r}; choose rrf or weighted")
        if not 0.0 <= self.alpha <= 1.0:
            raise InvalidInputError(f"alpha must be between 0 and 1, got {self.alpha}")
        if self.rrf_k < 0 or self.depth < 1:
            raise InvalidInputError("rrf_k must be >= 0 and depth >= 1")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "FusionConfig":
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Ranked:
    """One side's candidates, best first."""

    ids: Sequence[int]
    scores: Sequence[float]


@dataclass(frozen=True)
class Fused:
    """A fused candidate with what each side contributed."""

    id: int
    score: float
    parts: dict[str, dict[str, float | int | None]]


def fuse(sides: Mapping[str, Ranked], config: FusionConfig, weights: Mapping[str, float] | None = None) -> list[Fused]:
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
    ranks: dict[str, dict[int, int]] = {}
    raw: dict[str, dict[int, float]] = {}
    normed: dict[str, dict[int, float]] = {}
    for name, side in sides.items():
        ids = [int(i) for i in side.ids]
        scores = np.asarray(side.scores, dtype=np.float64)
        ranks[name] = {i: r for r, i in enumerate(ids, start=1)}
        raw[name] = dict(zip(ids, scores.tolist()))
        if len(scores):
            lo, hi = float(scores.min()), float(scores.max())
            span = hi - lo
            normed[name] = {i: ((s - lo) / span if span > 0 else 1.0) for i, s in zip(ids, scores.tolist())}
        else:
            normed[name] = {}
    candidates = sorted({i for r in ranks.values() for i in r})
    fused: list[Fused] = []
    for cid in candidates:
        total = 0.0
        parts: dict[str, dict[str, float | int | None]] = {}
        for name in sides:
            rank = ranks[name].get(cid)
            w = weights.get(name, 0.0)
            if config.method == "rrf":
                contribution = 2.0 * w / (config.rrf_k + rank) if rank is not None else 0.0
            else:
                contribution = w * normed[name].get(cid, 0.0)
            total += contribution
            parts[name] = {"rank": rank, "score": raw[name].get(cid), "contribution": contribution}
        fused.append(Fused(cid, total, parts))
    fused.sort(key=lambda f: (-f.score, f.id))
    return _keep_firsts(fused, ranks)


def _keep_firsts(fused: list[Fused], ranks: Mapping[str, Mapping[int, int]]) -> list[Fused]:
    """Move each side's first-ranked id into the first len(ranks) places if it is not there."""
    firsts = [next((i for i, r in side.items() if r == 1), None) for side in ranks.values()]
    firsts = [f for f in dict.fromkeys(firsts) if f is not None]
    head = len(firsts)
    missing = [f for f in firsts if f not in {x.id for x in fused[:head]}]
    if not missing:
        return fused
    promoted = [x for x in fused if x.id in missing]
    rest = [x for x in fused if x.id not in missing]
    keep = head - len(promoted)
    return rest[:keep] + promoted + rest[keep:]


def smooth(ranked: list[Fused], vectors: np.ndarray, weight: float, neighbours: int) -> list[Fused]:
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
    n = min(len(ranked), len(vectors))
    if n < 2 or weight <= 0 or neighbours < 1:
        return ranked
    head = ranked[:n]
    scores = np.array([f.score for f in head], dtype=np.float64)
    head_vectors = np.asarray(vectors[:n], dtype=np.float32)
    # einsum, not @: a BLAS call this small still wakes OpenBLAS's worker threads, which then
    # spin and slow the ONNX model that embeds the highlight next (+25% per query, measured).
    sims = np.einsum("ij,kj->ik", head_vectors, head_vectors)
    np.fill_diagonal(sims, -np.inf)
    k = min(neighbours, n - 1)
    near = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    w = np.maximum(np.take_along_axis(sims, near, axis=1), 0.0).astype(np.float64)
    total = w.sum(axis=1)
    mean = np.where(total > 0, (w * scores[near]).sum(axis=1) / np.where(total > 0, total, 1.0), scores)
    new = (1.0 - weight) * scores + weight * mean
    smoothed = [
        Fused(f.id, float(v), {**f.parts, "smoothing": {"score": f.score, "neighbours": float(m), "weight": weight}})
        for f, v, m in zip(head, new, mean)
    ]
    smoothed.sort(key=lambda f: (-f.score, f.id))
    out = smoothed + ranked[n:]
    sides = [name for name, part in head[0].parts.items() if "rank" in part]
    if len(sides) < 2:
        return out
    ranks = {name: {f.id: f.parts[name]["rank"] for f in ranked if f.parts[name]["rank"] is not None}
             for name in sides}
    return _keep_firsts(out, ranks)
