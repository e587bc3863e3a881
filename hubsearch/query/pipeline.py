"""A query as named stages, run in order:

    encode -> retrieve -> fuse -> feedback -> smooth -> hydrate -> highlight

`Pipeline.run` returns the hits and a typed `Trace` of what ran, with what parameters,
and every candidate's rank and score on each side. Each stage is a method, so a reader
(or a test) can follow one query through the whole ranking, and each reads what it needs
from storage through one per-query cache: a passage's vector or row is read at most once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..embed.base import Embedder
from ..records import Hit, StoredPassage
from ..retrieval.generation import Generation
from ..retrieval.ranked import Fused, Ranked, Ranking
from ..settings import Filters, FusionConfig, SearchConfig
from . import feedback as prf
from .fusion import fuse, mix, single, smooth
from .highlight import highlight
from .relevance import features as relevance_features
from .relevance import relevance


@dataclass(frozen=True)
class Trace:
    """What one query ran.

    Attributes:
        mode: "hybrid", "dense" or "lexical".
        fusion: The fusion settings (used in hybrid mode).
        weights: Each fused side's weight (hybrid mode).
        depth: Candidates taken from each side.
        rm3, rocchio: Whether each kind of feedback ran (a second pass).
        smoothing: The smoothing weight applied, 0.0 if smoothing did not run.
        smoothing_neighbours: Neighbours each candidate was smoothed over.
        ranking: The final candidates, best first, each with its per-side ranks and scores.
    """

    mode: str
    fusion: FusionConfig
    weights: dict[str, float]
    depth: int
    rm3: bool
    rocchio: bool
    smoothing: float
    smoothing_neighbours: int
    ranking: Ranking = field(default_factory=lambda: Ranking.of([]))


class _Fetched:
    """One query's reads from storage, so that no stage reads a passage twice."""

    def __init__(self, generation: Generation) -> None:
        self._generation = generation
        self._vectors: dict[int, np.ndarray] = {}
        self._rows: dict[int, StoredPassage] = {}

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        missing = sorted({int(i) for i in ids} - self._vectors.keys())
        if missing:
            self._vectors.update(zip(missing, self._generation.vectors.vectors(missing)))
        return np.stack([self._vectors[int(i)] for i in ids]) if len(ids) else np.zeros((0, 0), np.float32)

    def rows(self, ids: Sequence[int]) -> list[StoredPassage]:
        missing = {int(i) for i in ids} - self._rows.keys()
        if missing:
            self._rows.update(self._generation.passages.get(missing))
        return [self._rows[int(i)] for i in ids]


class Pipeline:
    """Answers queries from one generation.

    Args:
        generation: The verified generation to read.
        embedder: Returns the query embedder (called on first use, so that opening an
            index never loads a model).
    """

    def __init__(self, generation: Generation, embedder: Callable[[], Embedder]) -> None:
        self.generation = generation
        self._embedder = embedder
        self._allowed: dict[tuple, np.ndarray] = {}

    # --- the stages, in order -------------------------------------------------------------

    def encode(self, queries: Sequence[str]) -> np.ndarray:
        """Unit vectors of the queries, one row each."""
        return self._embedder().embed(list(queries))

    def allowed(self, filters: Filters) -> np.ndarray | None:
        """The sorted ids of the passages `filters` let through, or None for all."""
        if not filters.restricts:
            return None
        key = (filters.since, filters.until, filters.doc_ids, filters.path)
        if key not in self._allowed:
            ids = self.generation.passages.matching(*key)
            self._allowed = {key: np.asarray(ids, dtype=np.int64)}  # keep the latest only
        return self._allowed[key]

    def retrieve(self, vector: np.ndarray, terms: dict[int, float], config: SearchConfig, depth: int,
                 allowed: np.ndarray | None = None) -> dict[str, Ranked]:
        """Each side's top `depth` candidates among the `allowed` passages: dense by cosine,
        lexical by BM25. In hybrid mode with `config.sentences`, a third ranking of the same
        candidates by their best sentence's cosine: short units find the one sentence that
        answers."""
        sides: dict[str, Ranked] = {}
        mode = config.mode
        if mode in ("hybrid", "dense"):
            sides["dense"] = self.generation.vectors.search(vector, depth, allowed)
        if mode in ("hybrid", "lexical"):
            sides["lexical"] = self.generation.lexical.search(terms, depth, allowed)
        sentences = self.generation.sentences
        if mode == "hybrid" and config.sentences > 0 and sentences is not None:
            candidates = sorted({int(i) for side in sides.values() for i in side.ids})
            best = sentences.best_of(candidates, vector)
            order = np.argsort(-best, kind="stable")
            sides["sentences"] = Ranked([candidates[i] for i in order], best[order].tolist())
        return sides

    def fuse(self, sides: dict[str, Ranked], config: SearchConfig) -> Ranking:
        """One ranking: the fused sides in hybrid mode, the one side as it is otherwise."""
        if config.mode != "hybrid":
            ((name, side),) = sides.items()
            return single(name, side)
        return fuse(sides, config.fusion, config.weights("sentences" in sides))

    def feedback(
        self, first: Ranking, vector: np.ndarray, terms: dict[int, float], config: SearchConfig,
        fetched: _Fetched, rm3: bool, rocchio: bool,
    ) -> tuple[np.ndarray, dict[int, float]]:
        """Both queries moved towards the first pass's top passages (RM3 and Rocchio)."""
        head = first[: config.feedback.passages]
        if rocchio:
            vector = prf.rocchio(vector, fetched.vectors(sorted(f.id for f in head)), config.feedback)
        if rm3:
            texts = [row.text for row in fetched.rows([f.id for f in head])]
            terms = prf.rm3(self.generation.lexical, terms, texts, [f.score for f in head], config.feedback)
        return vector, terms

    def smooth(self, ranked: Ranking, config: SearchConfig, weight: float, fetched: _Fetched) -> Ranking:
        """Score regularisation over the top `smoothing_candidates` candidates."""
        candidates = ranked.ids[: config.smoothing_candidates].tolist()
        return smooth(ranked, fetched.vectors(candidates), weight, config.smoothing_neighbours)

    def hydrate(self, ranked: Sequence[Fused], fetched: _Fetched, values: Sequence[float]) -> list[Hit]:
        """The stored passages of the ranked candidates, as hits, with scores that fall with
        rank (see `shown_scores`) and their relevance."""
        rows = fetched.rows([f.id for f in ranked])
        return [
            Hit(**row.__dict__, rank=rank, score=round(score, 6), relevance=round(float(r), 6))
            for rank, (score, row, r) in enumerate(zip(shown_scores(ranked), rows, values), start=1)
        ]

    def highlight(self, hits: list[Hit], query: str, vector: np.ndarray, config: SearchConfig) -> list[Hit]:
        """Mark each hit's sentence that best matches the query, by meaning and exact words."""
        lexical = self.generation.lexical
        wanted = set(lexical.term_weights(query))
        idf = {t: lexical.idf(t) for t in wanted} if config.highlight_terms == "idf" else None

        def terms(text: str) -> set[int]:
            return wanted.intersection(lexical.term_weights(text))

        return highlight(hits, vector, self.generation.sentences, lambda texts: self._embedder().embed(texts),
                         terms if wanted else None, config.fusion.alpha, idf)

    # --- whole queries --------------------------------------------------------------------

    def rank(self, query: str, vector: np.ndarray, config: SearchConfig, depth: int,
             fetched: _Fetched | None = None) -> Trace:
        """Stages retrieve to smooth for one query whose vector is already encoded."""
        fetched = fetched or _Fetched(self.generation)
        terms = self.generation.lexical.term_weights(query)
        allowed = self.allowed(config.filters)
        sides = self.retrieve(vector, terms, config, depth, allowed)
        ranked = self.fuse(sides, config)
        large_enough = self.generation.vectors.count >= config.feedback.min_passages
        rm3, rocchio, weight = config.refinements()
        rm3 = rm3 and config.mode != "dense" and bool(terms) and large_enough and bool(ranked)
        rocchio = rocchio and config.mode != "lexical" and large_enough and bool(ranked)
        # Feedback comes from the fused first pass, which is better than either side alone,
        # and is mixed with it, so that the first pass's best candidates stay near the top.
        if rm3 or rocchio:
            moved, terms = self.feedback(ranked, vector, terms, config, fetched, rm3, rocchio)
            second = self.fuse(self.retrieve(moved, terms, config, depth, allowed), config)
            ranked = mix(ranked, second, config.feedback.mix)
        weight = weight if weight > 0 and large_enough and len(ranked) > 1 else 0.0
        if weight:
            ranked = self.smooth(ranked, config, weight, fetched)
        weights = config.weights("sentences" in sides) if config.mode == "hybrid" else {}
        return Trace(config.mode, config.fusion, weights, depth, rm3, rocchio, weight, config.smoothing_neighbours,
                     ranked)

    def relevance_features(self, query: str, vector: np.ndarray, ids: Sequence[int],
                           fetched: _Fetched | None = None, known: _KnownBM25 | None = None) -> np.ndarray:
        """The raw signals `relevance.relevance` maps to a relevance, one row per passage id;
        `known` holds the BM25 scores the lexical side already computed."""
        fetched = fetched or _Fetched(self.generation)
        terms = self.generation.lexical.term_weights(query)
        bm25 = known.of(ids) if known is not None else None
        return relevance_features(self.generation, vector, terms, ids, fetched.vectors(list(ids)), bm25)

    def run(self, query: str, k: int, config: SearchConfig) -> tuple[list[Hit], Trace]:
        """Every stage for one query: its top `k` hits, highlighted, and the trace."""
        fetched = _Fetched(self.generation)
        vector = self.encode([query])[0]
        trace = self.rank(query, vector, config, max(k, config.fusion.depth), fetched)
        known = _KnownBM25.of_trace(trace)
        chosen, values = self.relevant(trace.ranking, k, query, vector, config.filters.min_score, fetched, known)
        hits = self.hydrate(chosen, fetched, values)
        return self.highlight(hits, query, vector, config), trace

    def relevant(self, ranking: Ranking, k: int, query: str, vector: np.ndarray, floor: float | None,
                 fetched: _Fetched, known: _KnownBM25 | None = None) -> tuple[Sequence[Fused], list[float]]:
        """The first `k` candidates whose relevance is at least `floor` (all, with no floor),
        and their relevance."""
        if floor is None:
            head = list(ranking[:k])
            rows = self.relevance_features(query, vector, [f.id for f in head], fetched, known)
            return head, list(relevance(rows))
        chosen: list[Fused] = []
        values: list[float] = []
        for start in range(0, len(ranking), 64):
            batch = list(ranking[start:start + 64])
            rows = self.relevance_features(query, vector, [f.id for f in batch], fetched, known)
            for f, r in zip(batch, relevance(rows)):
                if round(float(r), 6) >= floor and len(chosen) < k:  # as hits show it
                    chosen.append(f)
                    values.append(float(r))
            if len(chosen) >= k:
                break
        return chosen, values


class _KnownBM25:
    """The BM25 scores of the query's own terms that the lexical side already computed: its
    candidates' scores, and 0 for every other passage when it returned fewer than it could
    (so it returned every passage that matches a term)."""

    def __init__(self, scores: dict[int, float], complete: bool) -> None:
        self.scores, self.complete = scores, complete

    @classmethod
    def of_trace(cls, trace: Trace) -> _KnownBM25 | None:
        if trace.mode == "dense" or trace.rm3 or trace.rocchio:  # no side scored the query's own terms
            return None
        column = trace.ranking.columns.get("lexical")
        scores: dict[int, float] = {}
        if column is not None:
            returned = column.rank > 0
            scores = dict(zip(trace.ranking.ids[returned].tolist(), column.score[returned].tolist()))
        return cls(scores, len(scores) < trace.depth)

    def of(self, ids: Sequence[int]) -> np.ndarray | None:
        """The scores of `ids`, or None where some are not known."""
        if not self.complete and any(i not in self.scores for i in ids):
            return None
        return np.array([self.scores.get(i, 0.0) for i in ids], dtype=np.float32)


def shown_scores(ranked: Sequence[Fused]) -> list[float]:
    """The score each hit shows: its ranking score, raised where needed to the score of the
    hit below it, so that scores never rise down the list. Only a side's best passage, kept
    in the top places by fusion, is ever raised; `--explain` marks it as pinned."""
    shown = [f.score for f in ranked]
    for i in range(len(shown) - 2, -1, -1):
        shown[i] = max(shown[i], shown[i + 1])
    return shown
