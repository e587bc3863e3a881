"""The highlight: in each hit, the sentence that best matches the query.

Every passage's sentences are embedded once, at build time, and stored beside the
passage vectors (`SentenceVectors`), so a query highlights its hits with a few dot
products instead of running the model again. An index written before sentence vectors
existed falls back to embedding the hits' sentences at query time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from .chunking import sentence_spans
from .fusion import normalise
from .manifest import Manifest
from .passages import Hit
from .vectorindex import read_rows

SENTENCES = "sentences.npy"
SENTENCE_SPANS = "sentence_spans.npy"
MAX_SENTENCE_CHARS = 2000

Embed = Callable[[Sequence[str]], np.ndarray]


def split(text: str) -> list[tuple[int, int]]:
    """A passage's sentences as (start, end) offsets into it; never empty for non-empty text."""
    return sentence_spans(text, max_chars=MAX_SENTENCE_CHARS) or [(0, len(text))]


class SentenceVectors:
    """Every passage's sentence spans and unit vectors (stored as float16).

    Args:
        spans: int32 rows of (passage id, start, end), offsets into the passage text,
            sorted by passage id.
        vectors: One row per span.
    """

    def __init__(self, spans: np.ndarray, vectors: np.ndarray) -> None:
        self.spans = spans
        self.vectors = vectors

    @staticmethod
    def present(manifest: Manifest) -> bool:
        return SENTENCES in manifest.files and SENTENCE_SPANS in manifest.files

    @classmethod
    def load(cls, folder: Path) -> "SentenceVectors":
        return cls(np.load(folder / SENTENCE_SPANS, mmap_mode="r"), np.load(folder / SENTENCES, mmap_mode="r"))

    def save(self, folder: Path) -> list[str]:
        np.save(folder / SENTENCE_SPANS, np.ascontiguousarray(self.spans, dtype=np.int32))
        np.save(folder / SENTENCES, np.ascontiguousarray(self.vectors, dtype=np.float16))
        return [SENTENCE_SPANS, SENTENCES]

    def consistent(self, passages: int, dimension: int) -> bool:
        """Whether these rows fit an index of `passages` passages of this dimension."""
        if self.spans.ndim != 2 or self.spans.shape[1] != 3 or len(self.spans) != len(self.vectors):
            return False
        if len(self.spans) and (self.spans[0, 0] < 0 or self.spans[-1, 0] >= passages):
            return False
        return self.vectors.ndim == 2 and (len(self.vectors) == 0 or self.vectors.shape[1] == dimension)

    def best_of(self, passages: Sequence[int], query: np.ndarray) -> np.ndarray:
        """Each given passage's best sentence cosine to the query (-1 for a passage
        without sentences), reading only those passages' sentence vectors."""
        ids = self.spans[:, 0]
        wanted = np.asarray(passages, dtype=np.int64)
        lo, hi = np.searchsorted(ids, wanted, "left"), np.searchsorted(ids, wanted, "right")
        counts = hi - lo
        rows = np.repeat(lo, counts) + (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))
        scores = np.einsum("ij,j->i", read_rows(self.vectors, rows), np.asarray(query, dtype=np.float32))
        best = np.full(len(wanted), -1.0, dtype=np.float32)
        owner = np.repeat(np.arange(len(wanted)), counts)
        np.maximum.at(best, owner, scores)
        return best

    def rows(self, passage: int) -> slice:
        """The rows of one passage's sentences."""
        ids = self.spans[:, 0]
        return slice(int(np.searchsorted(ids, passage, "left")), int(np.searchsorted(ids, passage, "right")))

    def of(self, passage: int) -> tuple[list[tuple[int, int]], np.ndarray]:
        """One passage's sentence spans and their vectors (float32)."""
        rows = self.rows(passage)
        spans = [(int(s), int(e)) for _, s, e in self.spans[rows]]
        return spans, np.asarray(self.vectors[rows], dtype=np.float32)


def highlight(
    hits: list[Hit], query: np.ndarray, sentences: SentenceVectors | None, embed: Embed,
    terms: Callable[[str], set[int]] | None = None, alpha: float = 0.5, idf: dict[int, float] | None = None,
) -> list[Hit]:
    """Mark in each hit the sentence that best matches the query, by meaning and by the
    query's exact words, fused as the ranking fuses its two sides.

    Within a hit, each sentence's cosine to the query and its lexical match (see
    `term_match`) are min-max normalised over the hit's sentences and mixed as
    `alpha * dense + (1 - alpha) * lexical`. A name or a number from the question thus
    counts, and so does a paraphrase.

    Args:
        hits: The hits to mark.
        query: The query's unit vector.
        sentences: The index's stored sentence vectors, or None for an index without them.
        embed: Embeds texts; used only when `sentences` is None.
        terms: Maps a text to the query terms it contains (empty if none); None for a
            dense-only highlight.
        alpha: The dense share.
        idf: Weighs each query term by this instead of `term_match`'s sentence frequency
            (the sum of the IDFs of the terms a sentence holds).
    """
    if not hits:
        return hits
    if sentences is not None:
        found = [sentences.of(h.chunk_id) for h in hits]
    else:
        spans = [split(h.text) for h in hits]
        flat = embed([h.text[s:e] for h, sp in zip(hits, spans) for s, e in sp])
        bounds = np.cumsum([0] + [len(sp) for sp in spans])
        found = [(sp, flat[bounds[i] : bounds[i + 1]]) for i, sp in enumerate(spans)]
    out = []
    for hit, (spans, vectors) in zip(hits, found):
        if not spans:
            out.append(hit)
            continue
        # einsum, not @: see fusion.gram on waking BLAS threads.
        score = normalise(np.einsum("ij,j->i", vectors, query), "minmax")
        if terms is not None:
            held = [terms(hit.text[s:e]) for s, e in spans]
            lexical = term_match(held) if idf is None else np.array([sum(idf[t] for t in h) for h in held])
            score = alpha * score + (1 - alpha) * normalise(lexical, "minmax")
        best = spans[int(np.argmax(score))]
        out.append(replace(hit, highlight=(hit.start + best[0], hit.start + best[1])))
    return out


def term_match(found: Sequence[set[int]]) -> np.ndarray:
    """Each sentence's match to the query's exact words: the summed inverse sentence
    frequency, within these sentences, of the query terms it holds.

    A query term found in most of a hit's sentences is usually the question's subject (the
    person or place it asks about) and tells those sentences apart little; one found in a
    single sentence marks where the hit says something particular about it. This is the
    isf of Allan, Wade and Bolivar's tf-isf (SIGIR 2003), log((n + 1) / (0.5 + sf)), taken
    over the hit's n sentences, where sf is how many of them hold the term.

    Args:
        found: The query terms each sentence holds, in order.
    """
    n = len(found)
    frequency = Counter(t for terms in found for t in terms)
    weight = {t: float(np.log((n + 1) / (0.5 + sf))) for t, sf in frequency.items()}
    return np.array([sum(weight[t] for t in terms) for terms in found], dtype=np.float64)
