"""The typed records a query's ranking passes between stages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


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
