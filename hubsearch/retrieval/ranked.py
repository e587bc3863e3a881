"""The typed records a query's ranking passes between stages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import overload

import numpy as np


@dataclass(frozen=True)
class Ranked:
    """One retriever's candidates, best first: passage ids and their scores."""

    ids: Sequence[int]
    scores: Sequence[float]

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class SideScore:
    """What one side (dense or lexical) said about a candidate.

    Attributes:
        rank: Its rank on that side (1 = best), or None if that side did not return it.
        score: Its raw score there (cosine or BM25), or None.
        contribution: What that side added to the fused score.
    """

    rank: int | None
    score: float | None
    contribution: float


@dataclass(frozen=True)
class Smoothed:
    """A candidate's score regularisation: `(1 - weight) * before + weight * neighbours`."""

    before: float
    neighbours: float
    weight: float


@dataclass(frozen=True)
class Mixed:
    """A candidate's score after feedback: `(1 - share) * first + share * second`, each
    pass's fused score; None where that pass did not return it (it counts that pass's
    lowest score, 0 at most)."""

    first: float | None
    second: float | None
    share: float


@dataclass(frozen=True)
class Fused:
    """A ranked candidate with what each side contributed (in the last pass), how the
    feedback passes were mixed and how it was smoothed, if they ran."""

    id: int
    score: float
    sides: dict[str, SideScore] = field(default_factory=dict)
    smoothed: Smoothed | None = None
    mixed: Mixed | None = None


@dataclass(frozen=True)
class SideColumns:
    """One side's view of every candidate of a `Ranking`, in its order.

    Attributes:
        rank: Rank on that side (1 = best); 0 where the side did not return the candidate.
        score: Raw score there; NaN where it did not.
        contribution: What the side added to the fused score.
    """

    rank: np.ndarray
    score: np.ndarray
    contribution: np.ndarray

    def take(self, order: np.ndarray) -> SideColumns:
        return SideColumns(self.rank[order], self.score[order], self.contribution[order])


class Ranking(Sequence[Fused]):
    """A query's candidates, best first, held as columns: a `Fused` record is built only for
    a candidate that is read. A query ranks hundreds of candidates and shows ten; building a
    record for each took about a third of a warm query's time.

    Args:
        ids: Passage ids, best first.
        scores: Their ranking scores.
        columns: Each side's ranks, raw scores and contributions, in the same order.
        smoothed: Each candidate's score before smoothing and its neighbours' mean (NaN for
            a candidate that was not smoothed), and the smoothing weight; None if no
            smoothing ran.
        mixed: Each candidate's feedback mix, where feedback ran.
    """

    def __init__(self, ids: np.ndarray, scores: np.ndarray, columns: dict[str, SideColumns],
                 smoothed: tuple[np.ndarray, np.ndarray, float] | None = None,
                 mixed: Sequence[Mixed | None] | None = None) -> None:
        self.ids = np.asarray(ids, dtype=np.int64)
        self.scores = np.asarray(scores, dtype=np.float64)
        self.columns = columns
        self.smoothed = smoothed
        self.mixed = mixed

    @classmethod
    def of(cls, candidates: Sequence[Fused]) -> Ranking:
        """`candidates` as a Ranking (as they are, if they are one already)."""
        if isinstance(candidates, Ranking):
            return candidates
        names = list(dict.fromkeys(name for f in candidates for name in f.sides))
        columns = {}
        for name in names:
            got = [f.sides.get(name) for f in candidates]
            columns[name] = SideColumns(
                np.array([s.rank or 0 if s else 0 for s in got], dtype=np.int64),
                np.array([np.nan if s is None or s.score is None else s.score for s in got], dtype=np.float64),
                np.array([s.contribution if s else 0.0 for s in got], dtype=np.float64),
            )
        smoothed = None
        if any(f.smoothed for f in candidates):
            before = np.array([f.smoothed.before if f.smoothed else np.nan for f in candidates])
            near = np.array([f.smoothed.neighbours if f.smoothed else np.nan for f in candidates])
            smoothed = (before, near, next(f.smoothed.weight for f in candidates if f.smoothed))
        mixed = [f.mixed for f in candidates] if any(f.mixed for f in candidates) else None
        return cls(np.array([f.id for f in candidates], dtype=np.int64),
                   np.array([f.score for f in candidates], dtype=np.float64), columns, smoothed, mixed)

    def take(self, order: np.ndarray | Sequence[int]) -> Ranking:
        """The candidates at these positions, in this order."""
        order = np.asarray(order, dtype=np.int64)
        smoothed = None
        if self.smoothed is not None:
            smoothed = (self.smoothed[0][order], self.smoothed[1][order], self.smoothed[2])
        mixed = [self.mixed[i] for i in order.tolist()] if self.mixed is not None else None
        return Ranking(self.ids[order], self.scores[order], {n: c.take(order) for n, c in self.columns.items()},
                       smoothed, mixed)

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, at: int) -> Fused: ...

    @overload
    def __getitem__(self, at: slice) -> Ranking: ...

    def __getitem__(self, at: int | slice) -> Fused | Ranking:
        if isinstance(at, slice):
            return self.take(np.arange(len(self))[at])
        i = range(len(self))[at]  # IndexError past the end, negative positions from the end
        sides = {
            name: SideScore(int(c.rank[i]) or None, None if np.isnan(c.score[i]) else float(c.score[i]),
                            float(c.contribution[i]))
            for name, c in self.columns.items()
        }
        smoothed = None
        if self.smoothed is not None and not np.isnan(self.smoothed[0][i]):
            smoothed = Smoothed(float(self.smoothed[0][i]), float(self.smoothed[1][i]), self.smoothed[2])
        mixed = self.mixed[i] if self.mixed is not None else None
        return Fused(int(self.ids[i]), float(self.scores[i]), sides, smoothed, mixed)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, (Ranking, list, tuple)):
            return NotImplemented
        return list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Ranking({len(self)} candidates, ids {self.ids[:5].tolist()}{'...' if len(self) > 5 else ''})"
