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
