"""Probe swaps for the retrieval sides (see probes.py): BM25 variants and other models
of the same counts, scores reshaped before fusion, hubness reduction, other sentence
aggregates, and scores spread over a neighbour graph of the whole index."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
from probes import Setup, Swap, Wrapped, swapped

from hubsearch.highlight import split
from hubsearch.lexical import LexicalIndex, top
from hubsearch.ranking import Ranked
from hubsearch.settings import LexicalConfig
from hubsearch.vectorindex import read_rows


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


class Rescaled(Wrapped):
    """A side's search with its scores passed through `f` (monotone) before fusion, so
    that their z-scores rest on another shape of distribution."""

    def __init__(self, base: Any, f: Callable[[np.ndarray], np.ndarray]) -> None:
        self._base, self._f = base, f

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


class Penalised(Wrapped):
    """Exact cosine search minus a per-passage penalty."""

    def __init__(self, store: Any, vectors: np.ndarray, penalty: np.ndarray) -> None:
        self._base, self._vectors, self.penalty = store, vectors, penalty

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

        penalty = share * setup.cached(("hub", neighbours), lambda: nearest(vectors, neighbours)[1].mean(axis=1))
        generation = setup.pipeline.generation
        return swapped(generation, "vectors", Penalised(generation.vectors, vectors, penalty))
    return swap


class Aggregated(Wrapped):
    """The sentence ranking with another aggregate of a passage's sentence cosines."""

    def __init__(self, base: Any, reduce: Callable[[np.ndarray], float]) -> None:
        self._base, self._reduce = base, reduce
        self._ids = np.asarray(base.spans[:, 0])
        self._vectors = read_rows(base.vectors, np.arange(len(self._ids)))

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


# --- scores spread over the whole index ---------------------------------------------------


def nearest(vectors: np.ndarray, neighbours: int) -> tuple[np.ndarray, np.ndarray]:
    """Each passage's `neighbours` nearest other passages by cosine (fewer in a smaller
    index): their ids and their cosines, a row per passage."""
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    k = max(min(neighbours, len(vectors) - 1), 1)
    near = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    return near, np.take_along_axis(sims, near, axis=1)


def neighbour_graph(vectors: np.ndarray, neighbours: int) -> Any:
    """Each passage's `neighbours` nearest passages by cosine, as a sparse row-stochastic
    matrix weighted by their (positive) cosines."""
    import scipy.sparse as sp

    near, sims = nearest(vectors, neighbours)
    weights = np.maximum(sims, 0.0)
    weights /= np.maximum(weights.sum(axis=1, keepdims=True), 1e-12)
    rows = np.repeat(np.arange(len(vectors)), near.shape[1])
    return sp.csr_matrix((weights.ravel(), (rows, near.ravel())), shape=(len(vectors), len(vectors)))


class Spread(Wrapped):
    """One side with every passage's score mixed with its neighbours' before retrieval:
    `(1 - share) * own + share * graph @ scores`, over all passages (Diaz's score
    regularisation over the collection, not over the candidates)."""

    def __init__(self, base: Any, full: Callable[[Any], np.ndarray], graph: Any, share: float) -> None:
        self._base, self._full, self._graph, self._share = base, full, graph, share

    def search(self, query: Any, depth: int, allowed: np.ndarray | None = None) -> Ranked:
        assert allowed is None, "probes run without filters"
        own = np.asarray(self._full(query), dtype=np.float64)
        scores = (1 - self._share) * own + self._share * (self._graph @ own)
        order = top(scores, depth)
        order = order[scores[order] > 0] if (own >= 0).all() else order
        return Ranked(order.tolist(), scores[order].tolist())


class SpreadSentences(Wrapped):
    """The sentence ranking with each passage's best-sentence cosine spread the same way."""

    def __init__(self, base: Any, graph: Any, share: float) -> None:
        self._base, self._graph, self._share = base, graph, share
        self._all = np.arange(graph.shape[0])

    def best_of(self, passages: Sequence[int], query: np.ndarray) -> np.ndarray:
        own = self._base.best_of(self._all, query).astype(np.float64)
        spread = (1 - self._share) * own + self._share * (self._graph @ own)
        return spread[np.asarray(passages, dtype=np.int64)].astype(np.float32)


def spread(share: float, neighbours: int) -> Swap:
    """All three sides spread over a `neighbours`-nearest graph of the whole index."""
    @contextlib.contextmanager
    def swap(setup: Setup) -> Iterator[None]:
        vectors = setup.passage_vectors()
        graph = setup.cached(("graph", neighbours), lambda: neighbour_graph(vectors, neighbours))
        g = setup.pipeline.generation
        lexical = Spread(g.lexical, g.lexical.scores, graph, share)
        dense = Spread(g.vectors, lambda q: vectors @ np.asarray(q, dtype=np.float32), graph, share)
        with swapped(g, "lexical", lexical), swapped(g, "vectors", dense), \
                swapped(g, "sentences", SpreadSentences(g.sentences, graph, share)):
            yield
    return swap


class WithDocument(Wrapped):
    """BM25 with each passage's score mixed with its whole document's BM25 score."""

    def __init__(self, base: LexicalIndex, documents: LexicalIndex, doc_row: np.ndarray, share: float) -> None:
        self._base, self._documents, self._doc_row, self._share = base, documents, doc_row, share
        self._terms = {i: t for t, i in base.vocab.items()}

    def search(self, weights: dict[int, float], depth: int, allowed: np.ndarray | None = None) -> Ranked:
        own = self._base.scores(weights).astype(np.float64)
        doc_terms = {self._documents.vocab[self._terms[t]]: w for t, w in weights.items()}
        whole = self._documents.scores(doc_terms)[self._doc_row]
        scores = np.where(own > 0, (1 - self._share) * own + self._share * whole, 0.0)
        order = top(scores, depth)
        order = order[scores[order] > 0]
        return Ranked(order.tolist(), scores[order].tolist())


def with_document(share: float) -> Swap:
    """A document-level BM25 (its passages' texts joined) mixed into each passage's."""
    def swap(setup: Setup) -> contextlib.AbstractContextManager:
        g = setup.pipeline.generation

        def build() -> tuple[LexicalIndex, np.ndarray]:
            docs = list(dict.fromkeys(setup.doc_of))
            row = {d: i for i, d in enumerate(docs)}
            joined = ["" for _ in docs]
            for text, doc in zip(setup.passage_texts(), setup.doc_of):
                joined[row[doc]] += "\n" + text
            return LexicalIndex.build(joined, g.lexical.config), np.array([row[d] for d in setup.doc_of])

        documents, doc_row = setup.cached("documents", build)
        return swapped(g, "lexical", WithDocument(g.lexical, documents, doc_row, share))
    return swap


# --- query terms weighed by meaning -------------------------------------------------------


class WeighedTerms(Wrapped):
    """BM25 with each query term's weight times how much the query's meaning rests on it,
    over the mean of its terms, to `power`. "left out": 1 - cos(query, query without the
    term's words); "alone": cos(query, the term's words alone). For long queries, where
    BM25 weighs a passing word like a key one."""

    def __init__(self, base: LexicalIndex, embed: Callable[[list[str]], np.ndarray], kind: str,
                 power: float) -> None:
        self._base, self._embed, self._kind, self._power = base, embed, kind, power
        self._seen: dict[str, dict[int, float]] = {}

    def term_weights(self, text: str) -> dict[int, float]:
        if text not in self._seen:
            self._seen[text] = self._weigh(text)
        return self._seen[text]

    def _weigh(self, text: str) -> dict[int, float]:
        counts = self._base.term_weights(text)
        if len(counts) < 2:
            return counts
        words = list(re.finditer(r"(?u)\b\w\w+\b", text))
        term_of = [self._term(m.group()) for m in words]
        tids = list(counts)
        if self._kind == "left out":
            variants = [" ".join(m.group() for m, t in zip(words, term_of) if t != tid) for tid in tids]
            vectors = self._embed([text, *variants])
            importance = 1.0 - vectors[1:] @ vectors[0]
        else:
            alone = [" ".join(m.group() for m, t in zip(words, term_of) if t == tid) for tid in tids]
            vectors = self._embed([text, *alone])
            importance = vectors[1:] @ vectors[0]
        importance = np.maximum(importance, 1e-3)
        factor = (importance / importance.mean()) ** self._power
        return {tid: counts[tid] * float(f) for tid, f in zip(tids, factor)}

    def _term(self, word: str) -> int | None:
        stems = self._base.analyze(word)
        return self._base.vocab.get(stems[0]) if stems else None


def weighed_terms(kind: str, power: float) -> Swap:
    def swap(setup: Setup) -> contextlib.AbstractContextManager:
        g = setup.pipeline.generation
        weighed = setup.cached(("weighed", kind, power),
                               lambda: WeighedTerms(g.lexical, setup.pipeline.encode, kind, power))
        return swapped(g, "lexical", weighed)
    return swap


class SaturatedCounts(Wrapped):
    """BM25 with the query's repeated terms saturated as Okapi's k3 does:
    (k3 + 1) * qtf / (k3 + qtf); k3 = 0 counts each query term once."""

    def __init__(self, base: LexicalIndex, k3: float) -> None:
        self._base, self._k3 = base, k3

    def term_weights(self, text: str) -> dict[int, float]:
        k3 = self._k3
        return {t: (k3 + 1) * n / (k3 + n) for t, n in self._base.term_weights(text).items()}


def saturated(k3: float) -> Swap:
    def swap(setup: Setup) -> contextlib.AbstractContextManager:
        g = setup.pipeline.generation
        return swapped(g, "lexical", SaturatedCounts(g.lexical, k3))
    return swap


def query_sentences(min_sentences: int = 2) -> Swap:
    """The dense query vector of a query of at least `min_sentences` sentences: the mean of
    its sentences' vectors, renormalised, instead of one vector of the whole text (which
    the model, trained on short texts, pools over every token)."""
    def swap(setup: Setup) -> contextlib.AbstractContextManager:
        plain = setup.pipeline.encode

        def encode(texts: Sequence[str]) -> np.ndarray:
            out = np.array(plain(texts), dtype=np.float32, copy=True)
            for i, text in enumerate(texts):
                spans = split(text)
                if len(spans) >= min_sentences:
                    mean = plain([text[a:b] for a, b in spans]).mean(axis=0)
                    out[i] = mean / max(float(np.linalg.norm(mean)), 1e-12)
            return out

        if setup.questions:  # the search encodes each question itself
            return swapped(setup.pipeline, "encode", encode)
        return swapped(setup, "vectors", setup.cached(("query sentences", min_sentences), lambda: encode(setup.texts)))
    return swap
