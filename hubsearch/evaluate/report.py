"""The records an evaluation returns: one `CollectionReport` per collection, gathered in an
`EvalReport` with the means over the collections. `to_dict` gives the JSON that
`hubsearch eval --json` prints."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ..settings import ChunkingConfig

Metrics = dict[str, float]
PerQuery = dict[str, dict[str, float]]  # metric -> query id -> value


@dataclass(frozen=True)
class ModeResult:
    """One retrieval mode's scores on one collection.

    `metrics` are the means over the queries (BEIR: ndcg@10, recall@100, mrr; question
    sets: top1, top3, mrr@10, highlight). `passages` holds the BEIR metrics over the
    passage ranking (None for question sets). `per_query` holds every query's value."""

    metrics: Metrics
    per_query: PerQuery
    passages: Metrics | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.metrics)
        if self.passages is not None:
            out["passages"] = dict(self.passages)
        return out


@dataclass(frozen=True)
class CollectionReport:
    """How every mode scored on one collection, and the index it was scored on."""

    collection: str
    kind: Literal["beir", "questions"]
    queries: int
    documents: int
    passages: int
    index: str | None  # where the index was kept; None for a temporary one
    precision: str
    chunking: ChunkingConfig
    build_seconds: float
    results: dict[str, ModeResult]
    split: str | None = None  # BEIR: which qrels/<split>.tsv judged the queries

    def to_dict(self, per_query: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "collection": self.collection, "kind": self.kind, "queries": self.queries,
            "documents": self.documents, "passages": self.passages, "index": self.index,
            "precision": self.precision, "chunking": self.chunking.to_dict(),
            "build_seconds": self.build_seconds,
            "results": {mode: r.to_dict() for mode, r in self.results.items()},
        }
        if self.split is not None:
            out["split"] = self.split
        if per_query:
            out["per_query"] = {mode: r.per_query for mode, r in self.results.items()}
        return out


@dataclass(frozen=True)
class EvalReport:
    """Several collections' reports, and per mode each metric's mean over the collections
    that report it."""

    collections: tuple[CollectionReport, ...]
    mean: dict[str, Metrics] = field(default_factory=dict)

    @classmethod
    def of(cls, reports: Sequence[CollectionReport], modes: Sequence[str]) -> EvalReport:
        mean: dict[str, Metrics] = {}
        for mode in modes:
            seen: dict[str, list[float]] = {}
            for report in reports:
                for metric, value in report.results[mode].metrics.items():
                    seen.setdefault(metric, []).append(value)
            mean[mode] = {metric: sum(v) / len(v) for metric, v in seen.items()}
        return cls(tuple(reports), mean)

    def to_dict(self, per_query: bool = True) -> dict[str, Any]:
        return {"collections": [r.to_dict(per_query) for r in self.collections], "mean": self.mean}


def means(values: Mapping[str, Mapping[str, float]]) -> Metrics:
    """The mean of each metric's per-query values (0.0 for a metric no query has)."""
    return {metric: sum(v.values()) / len(v) if v else 0.0 for metric, v in values.items()}


def mode_result(per_query: PerQuery, passages: Mapping[str, float] | None = None) -> ModeResult:
    """A mode's result from its per-query values."""
    return ModeResult(means(per_query), per_query, dict(passages) if passages is not None else None)
