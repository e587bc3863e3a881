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

import numpy as np

from ..ingest.chunking import passage_sentences
from ..records import Hit
from ..store.sentences import SentenceVectors
from .fusion import normalise

Embed = Callable[[Sequence[str]], np.ndarray]


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
        found = sentences.of_many([h.chunk_id for h in hits])
    else:
        spans = [passage_sentences(h.text) for h in hits]
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
