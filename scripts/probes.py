"""The probe harness's frame (run by scripts/probe_quality.py): a collection opened for
probing, and a probe.

A probe is a label, the search settings it runs with, a swap and a document ranking. The
swap replaces one part of an open index while the probe runs (probe_sides.py: the BM25
side, the vector search, the sentence ranking; probe_ranking.py: the fusion, the
smoothing, the feedback mix, the document ranking). Everything else is the product's own
code, so the default probe gives `hubsearch eval`'s figures. The probes themselves are
listed in probe_quality.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import hubsearch.pipeline as pipeline_module
from hubsearch import SearchConfig
from hubsearch.evaluation import best_passage_documents
from hubsearch.index import Index
from hubsearch.questions import Question
from hubsearch.ranking import Fused

DEFAULT = SearchConfig()


@dataclass
class Setup:
    """One collection's open index, its queries and what probes compute from it: a BEIR
    collection's judged queries (with their vectors and each passage's document), or a
    question set's questions."""

    name: str
    index: Index
    qids: list[str]
    texts: list[str]
    qrels: dict[str, dict[str, int]] = field(default_factory=dict)
    vectors: np.ndarray | None = None  # the queries', one row each
    doc_of: list[str] = field(default_factory=list)
    questions: Sequence[Question] = ()
    _cache: dict[Any, Any] = field(default_factory=dict)

    @property
    def pipeline(self) -> pipeline_module.Pipeline:
        return self.index.pipeline

    def cached(self, key: Any, make: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def passage_texts(self) -> list[str]:
        def make() -> list[str]:
            rows = self.pipeline.generation.passages.get(range(self.pipeline.generation.vectors.count))
            return [rows[i].text for i in range(len(rows))]
        return self.cached("texts", make)

    def passage_vectors(self) -> np.ndarray:
        store = self.pipeline.generation.vectors
        return self.cached("vectors", lambda: np.asarray(store.vectors(range(store.count)), dtype=np.float32))


Swap = Callable[[Setup], contextlib.AbstractContextManager]
Documents = Callable[[list[Fused], Sequence[str]], list[str]]


def best_passage(ranking: list[Fused], doc_of: Sequence[str]) -> list[str]:
    """Documents ranked by their best passage, as `hubsearch eval` ranks them."""
    return [d for d, _ in best_passage_documents(ranking, doc_of, 100)]


def nothing(setup: Setup) -> contextlib.AbstractContextManager:
    return contextlib.nullcontext()


@dataclass(frozen=True)
class Probe:
    label: str
    swap: Swap = nothing
    config: SearchConfig = DEFAULT
    documents: Documents = best_passage


class Wrapped:
    """A stand-in for one part of an open index, kept in `self._base` by the subclass:
    whatever the subclass does not define (counts, vectors, what the highlight reads) is
    the part's own."""

    _base: Any

    def __getattr__(self, name: str) -> Any:
        return getattr(self._base, name)


@contextlib.contextmanager
def swapped(owner: Any, attribute: str, value: Any) -> Iterator[None]:
    """`owner.attribute` is `value` inside the block, and as it was after it (a method
    that the instance did not override is left to its class again)."""
    own = attribute in getattr(owner, "__dict__", {})
    before = getattr(owner, attribute)
    setattr(owner, attribute, value)
    try:
        yield
    finally:
        if own:
            setattr(owner, attribute, before)
        else:
            delattr(owner, attribute)
