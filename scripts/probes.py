"""Retrieval ideas tried against the default, each a change to one stage of the real
pipeline (run by scripts/probe_quality.py).

A probe is a label, the search settings it runs with, a swap and a document ranking. The
swap replaces one part of an open index while the probe runs: the BM25 side, the vector
store, the sentence ranking, the fusion, the smoothing or the feedback mix. Everything
else is the product's own code, so the default probe gives `hubsearch eval`'s figures.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

import hubsearch.pipeline as pipeline_module
from hubsearch import SearchConfig
from hubsearch.index import Index
from hubsearch.lexical import LexicalIndex, top
from hubsearch.questions import Question
from hubsearch.ranking import Fused, Ranked
from hubsearch.settings import LexicalConfig
from hubsearch.vectorindex import read_rows

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
    best: dict[str, float] = {}
    for f in ranking:
        best.setdefault(doc_of[f.id], f.score)
    return [d for d, _ in sorted(best.items(), key=lambda x: -x[1])][:100]


def nothing(setup: Setup) -> contextlib.AbstractContextManager:
    return contextlib.nullcontext()


@dataclass(frozen=True)
class Probe:
    label: str
    swap: Swap = nothing
    config: SearchConfig = DEFAULT
    documents: Documents = best_passage


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


# --- the BM25 side ----------------------------------------------------------------------


def bm25(config: LexicalConfig) -> Swap:
    """BM25 with other bm25s parameters or another bm25s variant."""
    def swap(setup: Setup) -> contextlib.AbstractContextManager:
        built = setup.cached(("bm25", config), lambda: LexicalIndex.build(setup.passage_texts(), config))
        return swapped(setup.pipeline.generation, "lexical", built)
    return swap


class CountScores(LexicalIndex):
    """The BM25 side's tokens and vocabulary, scored by another model from raw counts.
    Scores are shifted so that every matching passage scores above 0 and the rest 0
    (fusion's z-scores do not change with a shift)."""

    def __init__(self, base: LexicalIndex, texts: Sequence[str], model: str, parameter: float = 0.0) -> None:
        super().__init__(base.data, base.indices, base.indptr, base.vocab, base.stopwords, base.config, base.count)
        import scipy.sparse as sp

        rows, cols = [], []
        for i, text in enumerate(texts):
            ids = [base.vocab[t] for t in base.analyze(text) if t in base.vocab]
            rows += [i] * len(ids)
            cols += ids
        counts = sp.csc_matrix((np.ones(len(rows)), (rows, cols)), shape=(base.count, len(base.vocab)))
        counts.sum_duplicates()
        self.counts = counts
        self.length = np.maximum(np.asarray(counts.sum(axis=1)).ravel(), 1.0)
        self.frequency = np.asarray(counts.sum(axis=0)).ravel()
        self.model, self.parameter = model, parameter

    def scores(self, weights: dict[int, float]) -> np.ndarray:
        out = np.zeros(self.count)
        matched = np.zeros(self.count, dtype=bool)
        n, mean_length, tokens = self.count, self.length.mean(), self.length.sum()
        for tid, qtf in weights.items():
            lo, hi = self.counts.indptr[tid], self.counts.indptr[tid + 1]
            docs, tf = self.counts.indices[lo:hi], self.counts.data[lo:hi]
            length, cf = self.length[docs], self.frequency[tid]
            with np.errstate(divide="ignore", invalid="ignore"):
                if self.model == "ql":  # Dirichlet-smoothed query likelihood, term part
                    part = np.log1p(tf / (self.parameter * cf / tokens))
                elif self.model == "pl2":
                    tfn = tf * np.log2(1 + self.parameter * mean_length / length)
                    lam = cf / n
                    part = (tfn * np.log2(tfn / lam) + (lam - tfn) * np.log2(np.e)
                            + 0.5 * np.log2(2 * np.pi * tfn)) / (tfn + 1)
                else:  # DPH or DLH13 (Amati), no parameter
                    f = tf / length
                    gain = tf * np.log2(tf * mean_length / length * n / cf) + 0.5 * np.log2(2 * np.pi * tf * (1 - f))
                    part = gain * ((1 - f) ** 2 / (tf + 1) if self.model == "dph" else 1 / (tf + 0.5))
            out[docs] += qtf * np.nan_to_num(part, nan=0.0, posinf=0.0, neginf=0.0)
            matched[docs] = True
        if self.model == "ql":
            out += sum(weights.values()) * np.log(self.parameter / (self.length + self.parameter))
        if matched.any():
            out[matched] -= out[matched].min() - 1e-3
        out[~matched] = 0.0
        return out.astype(np.float32)


def counted(model: str, parameter: float = 0.0) -> Swap:
    def swap(setup: Setup) -> contextlib.AbstractContextManager:
        generation = setup.pipeline.generation
        key = ("counts", model, parameter)
        scorer = setup.cached(key, lambda: CountScores(generation.lexical, setup.passage_texts(), model, parameter))
        return swapped(generation, "lexical", scorer)
    return swap


class Rescaled:
    """A side's search with its scores passed through `f` (monotone) before fusion, so
    that their z-scores rest on another shape of distribution."""

    def __init__(self, base: Any, f: Callable[[np.ndarray], np.ndarray]) -> None:
        self._base, self._f = base, f

    def __getattr__(self, name: str) -> Any:
        return getattr(self._base, name)

    def search(self, query: Any, depth: int, allowed: np.ndarray | None = None) -> Ranked:
        found = self._base.search(query, depth, allowed)
        return Ranked(found.ids, self._f(np.asarray(found.scores, dtype=np.float64)).tolist())


def rescaled(part: str, f: Callable[[np.ndarray], np.ndarray]) -> Swap:
    """`part` ("lexical" or "vectors") with its scores rescaled by `f`."""
    def swap(setup: Setup) -> contextlib.AbstractContextManager:
        generation = setup.pipeline.generation
        return swapped(generation, part, Rescaled(getattr(generation, part), f))
    return swap


# --- the meaning sides ------------------------------------------------------------------


class Penalised:
    """Exact cosine search minus a per-passage penalty."""

    def __init__(self, store: Any, vectors: np.ndarray, penalty: np.ndarray) -> None:
        self._store, self._vectors, self.penalty = store, vectors, penalty

    def __getattr__(self, name: str) -> Any:  # count, dimension, vectors: the store's own
        return getattr(self._store, name)

    def search(self, query: np.ndarray, depth: int, allowed: np.ndarray | None = None) -> Ranked:
        assert allowed is None, "probes run without filters"
        scores = self._vectors @ np.asarray(query, dtype=np.float32) - self.penalty
        order = top(scores, depth)
        return Ranked(order.tolist(), scores[order].tolist())


def hubness(share: float, neighbours: int) -> Swap:
    """Local scaling as CSLS does it: each passage's cosine minus `share` times its mean
    cosine to its `neighbours` nearest passages, a penalty for passages near everything."""
    def swap(setup: Setup) -> contextlib.AbstractContextManager:
        vectors = setup.passage_vectors()

        def mean_nearest() -> np.ndarray:
            sims = vectors @ vectors.T
            np.fill_diagonal(sims, -np.inf)
            k = max(min(neighbours, len(vectors) - 1), 1)
            return -np.partition(-sims, k - 1, axis=1)[:, :k].mean(axis=1)

        penalty = share * setup.cached(("hub", neighbours), mean_nearest)
        generation = setup.pipeline.generation
        return swapped(generation, "vectors", Penalised(generation.vectors, vectors, penalty))
    return swap


class Aggregated:
    """The sentence ranking with another aggregate of a passage's sentence cosines."""

    def __init__(self, base: Any, reduce: Callable[[np.ndarray], float]) -> None:
        self._base, self._reduce = base, reduce
        self._ids = np.asarray(base.spans[:, 0])
        self._vectors = read_rows(base.vectors, np.arange(len(self._ids)))

    def __getattr__(self, name: str) -> Any:  # what the highlight reads: the base's own
        return getattr(self._base, name)

    def best_of(self, passages: Sequence[int], query: np.ndarray) -> np.ndarray:
        wanted = np.asarray(passages, dtype=np.int64)
        lo, hi = np.searchsorted(self._ids, wanted, "left"), np.searchsorted(self._ids, wanted, "right")
        scores = self._vectors @ np.asarray(query, dtype=np.float32)
        return np.array([self._reduce(scores[a:b]) if b > a else -1.0 for a, b in zip(lo, hi)], dtype=np.float32)


def sentences(reduce: Callable[[np.ndarray], float]) -> Swap:
    def swap(setup: Setup) -> contextlib.AbstractContextManager:
        generation = setup.pipeline.generation
        return swapped(generation, "sentences", Aggregated(generation.sentences, reduce))
    return swap


def mean_of_best(n: int) -> Callable[[np.ndarray], float]:
    return lambda s: float(np.sort(s)[::-1][:n].mean())


def softmax_mean(temperature: float) -> Callable[[np.ndarray], float]:
    def reduce(s: np.ndarray) -> float:
        w = np.exp(temperature * (s - s.max()))
        return float((w * s).sum() / w.sum())
    return reduce


# --- fusion, smoothing, feedback --------------------------------------------------------


def after_fusion(adjust: Callable[[list[Fused]], list[Fused]]) -> Swap:
    """The product's fusion, then `adjust` on its result."""
    def swap(setup: Setup) -> contextlib.AbstractContextManager:
        original = setup.pipeline.fuse
        return swapped(setup.pipeline, "fuse", lambda sides, config: adjust(original(sides, config)))
    return swap


def _resorted(ranking: list[Fused], scores: Sequence[float]) -> list[Fused]:
    out = [replace(f, score=float(s)) for f, s in zip(ranking, scores)]
    out.sort(key=lambda f: (-f.score, f.id))
    return out


def agreement_bonus(bonus: float, depth: int) -> Callable[[list[Fused]], list[Fused]]:
    """CombMNZ-like: `bonus` z-units for each side whose top `depth` holds the passage."""
    def adjust(ranking: list[Fused]) -> list[Fused]:
        votes = [sum(1 for s in f.sides.values() if s.rank is not None and s.rank <= depth) for f in ranking]
        return _resorted(ranking, [f.score + bonus * v for f, v in zip(ranking, votes)])
    return adjust


def standout_weights(power: float) -> Callable[[list[Fused]], list[Fused]]:
    """Each side's weight, for this query, times (its best z-score / the sides' mean best
    z-score) ** power: a side whose first candidate stands out counts more."""
    def adjust(ranking: list[Fused]) -> list[Fused]:
        if not ranking:
            return ranking
        names = list(ranking[0].sides)
        best = {n: max(max(f.sides[n].contribution for f in ranking), 1e-3) for n in names}
        mean = sum(best.values()) / len(best)
        factor = {n: (best[n] / mean) ** power for n in names}
        return _resorted(ranking, [sum(f.sides[n].contribution * factor[n] for n in names) for f in ranking])
    return adjust


def smoothing_rounds(rounds: int) -> Swap:
    """Smoothing repeated, each round on the scores of the one before."""
    def swap(setup: Setup) -> contextlib.AbstractContextManager:
        original = setup.pipeline.smooth

        def smooth(ranked: list[Fused], config: SearchConfig, weight: float, fetched: Any) -> list[Fused]:
            for _ in range(rounds):
                ranked = original(ranked, config, weight, fetched)
            return ranked
        return swapped(setup.pipeline, "smooth", smooth)
    return swap


def first_kept(n: int) -> Swap:
    """Feedback mixed as usual, then the first pass's top `n` put back on top, in order."""
    def swap(setup: Setup) -> contextlib.AbstractContextManager:
        original = pipeline_module.mix

        def mix(first: list[Fused], second: list[Fused], share: float) -> list[Fused]:
            mixed = original(first, second, share)
            keep = [f.id for f in first[:n]]
            top_score = max(f.score for f in mixed) if mixed else 0.0
            head = {f.id: f for f in mixed if f.id in keep}
            pinned = [replace(head[i], score=top_score + n - j) for j, i in enumerate(keep) if i in head]
            return pinned + [f for f in mixed if f.id not in keep]
        return swapped(pipeline_module, "mix", mix)
    return swap


def best_plus_second(share: float) -> Documents:
    """Documents scored by their best passage plus `share` times their second best."""
    def documents(ranking: list[Fused], doc_of: Sequence[str]) -> list[str]:
        found: dict[str, list[float]] = {}
        for f in ranking:
            found.setdefault(doc_of[f.id], []).append(f.score)
        score = {d: s[0] + share * sum(s[1:2]) for d, s in found.items()}
        return [d for d, _ in sorted(score.items(), key=lambda x: -x[1])][:100]
    return documents


PROBES = [
    Probe("Anserini's BM25 parameters (k1 0.9, b 0.4)", bm25(LexicalConfig(k1=0.9, b=0.4))),
    Probe("BM25L (bm25s)", bm25(LexicalConfig(method="bm25l"))),
    Probe("BM25+ (bm25s)", bm25(LexicalConfig(method="bm25+"))),
    Probe("Robertson's BM25 (bm25s)", bm25(LexicalConfig(method="robertson"))),
    Probe("DPH instead of BM25", counted("dph")),
    Probe("DLH13 instead of BM25", counted("dlh13")),
    Probe("PL2, c 1, instead of BM25", counted("pl2", 1.0)),
    Probe("PL2, c 7, instead of BM25", counted("pl2", 7.0)),
    Probe("Dirichlet query likelihood, mu 1000, instead of BM25", counted("ql", 1000.0)),
    Probe("BM25 scores logged before their z-scores", rescaled("lexical", np.log)),
    Probe("BM25 scores square-rooted before their z-scores", rescaled("lexical", np.sqrt)),
    Probe("cosines through arctanh before their z-scores", rescaled("vectors", np.arctanh)),
    Probe("hubness reduction: 0.25 x mean cosine to the 10 nearest", hubness(0.25, 10)),
    Probe("hubness reduction: 0.5 x mean cosine to the 50 nearest", hubness(0.5, 50)),
    Probe("hubness reduction: 1.0 x mean cosine to the 10 nearest", hubness(1.0, 10)),
    Probe("sentence ranking: mean of the best two sentences", sentences(mean_of_best(2))),
    Probe("sentence ranking: mean of all sentences", sentences(lambda s: float(s.mean()))),
    Probe("sentence ranking: softmax-weighted mean (temperature 10)", sentences(softmax_mean(10.0))),
    Probe("side weights by how far each side's best stands out (power 0.5)", after_fusion(standout_weights(0.5))),
    Probe("side weights by how far each side's best stands out (power 1)", after_fusion(standout_weights(1.0))),
    Probe("agreement bonus 0.25 per side, top 10", after_fusion(agreement_bonus(0.25, 10))),
    Probe("agreement bonus 0.25 per side, top 30", after_fusion(agreement_bonus(0.25, 30))),
    Probe("agreement bonus 0.5 per side, top 10", after_fusion(agreement_bonus(0.5, 10))),
    Probe("smoothing 0.2, two rounds", smoothing_rounds(2)),
    Probe("smoothing 0.2, three rounds", smoothing_rounds(3)),
    Probe("smoothing 0.1, four rounds", smoothing_rounds(4), replace(DEFAULT, smoothing=0.1)),
    Probe("documents: best passage + 0.25 x second", documents=best_plus_second(0.25)),
    Probe("documents: best passage + 0.5 x second", documents=best_plus_second(0.5)),
    Probe("feedback: RM3 alone, mixed", config=replace(DEFAULT, rm3=True)),
    Probe("feedback: Rocchio alone, mixed", config=replace(DEFAULT, rocchio=True)),
    Probe("feedback: both, mixed (--feedback)", config=replace(DEFAULT, rm3=True, rocchio=True)),
    Probe("feedback: RM3 alone, mixed, first pass's top 1 kept on top", first_kept(1), replace(DEFAULT, rm3=True)),
    Probe("feedback: both, mixed, first pass's top 1 kept on top", first_kept(1),
          replace(DEFAULT, rm3=True, rocchio=True)),
    Probe("feedback: both, mixed, first pass's top 3 kept on top", first_kept(3),
          replace(DEFAULT, rm3=True, rocchio=True)),
]
