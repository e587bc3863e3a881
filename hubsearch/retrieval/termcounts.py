"""BM25 from kept term counts, so that an update counts the words of changed passages only.

Every passage's term counts are saved beside the BM25 arrays (a CSR matrix: passage x term).
An update takes the counts of unchanged passages from the live generation, counts the words
of the others, and recomputes every score: BM25 depends on the number of passages, their
mean length and each term's document frequency, which any change moves. The scores equal
bm25s' own (`bm25s.BM25(method="lucene")` over `bm25s.tokenize`), bit for bit: the same
operations in the same precision (the tests compare them).
"""

from __future__ import annotations

import math
import re
from array import array
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

COUNT_FILES = ("counts.indptr.npy", "counts.terms.npy", "counts.tf.npy")


@dataclass
class TermCounts:
    """Raw term counts, one CSR row per passage (terms are vocabulary ids)."""

    indptr: np.ndarray  # int64, passages + 1
    terms: np.ndarray  # int32
    tf: np.ndarray  # int32

    def save(self, folder: Path) -> None:
        for name, values in zip(COUNT_FILES, (self.indptr, self.terms, self.tf)):
            np.save(folder / name, values)

    @classmethod
    def load(cls, folder: Path) -> "TermCounts | None":
        """The counts saved in `folder`, or None where an older hubsearch saved none."""
        if not all((folder / name).is_file() for name in COUNT_FILES):
            return None
        return cls(*(np.load(folder / name) for name in COUNT_FILES))

    def rows(self, ids: np.ndarray) -> "TermCounts":
        """The rows `ids`, in that order."""
        lo, hi = self.indptr[ids], self.indptr[ids + 1]
        sizes = hi - lo
        take = np.repeat(lo, sizes) + (np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes))
        return TermCounts(np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64), self.terms[take], self.tf[take])


def count_terms(texts: Sequence[str], split: Callable[[str], list[str]], stopwords: frozenset[str],
                stem: Callable[[list[str]], list[str]], vocab: dict[str, int]) -> TermCounts:
    """Count each text's terms as bm25s.tokenize cuts them (`split` on the lower-cased text,
    stopwords dropped, then stemmed); new terms are added to `vocab`."""
    stems: dict[str, int] = {}  # word -> term id, each distinct word stemmed once
    sizes, terms, tfs = array("q"), array("i"), array("i")  # 4 or 8 bytes an entry, not a Python int
    for text in texts:
        words = [w for w in split(text.lower()) if w not in stopwords]
        unknown = [w for w in dict.fromkeys(words) if w not in stems]
        if unknown:
            for word, stemmed in zip(unknown, stem(unknown)):
                stems[word] = vocab.setdefault(stemmed, len(vocab))
        counted = Counter(stems[w] for w in words)
        sizes.append(len(counted))
        terms.extend(counted.keys())
        tfs.extend(counted.values())
    indptr = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(np.frombuffer(sizes, dtype=np.int64), out=indptr[1:])
    return TermCounts(indptr, np.frombuffer(terms, dtype=np.int32).copy(), np.frombuffer(tfs, dtype=np.int32).copy())


def join(parts: Sequence[TermCounts]) -> TermCounts:
    """The rows of each part, one part after another."""
    offsets = np.cumsum([0] + [len(p.terms) for p in parts[:-1]])
    indptr = np.concatenate([[0]] + [p.indptr[1:] + off for p, off in zip(parts, offsets)]).astype(np.int64)
    return TermCounts(indptr, np.concatenate([p.terms for p in parts]).astype(np.int32),
                      np.concatenate([p.tf for p in parts]).astype(np.int32))


def lucene_scores(counts: TermCounts, vocab_size: int, k1: float, b: float
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BM25 (Lucene's idf) of every (passage, term) as a column-compressed matrix:
    (data, indices, indptr) in the layout bm25s saves."""
    passages = len(counts.indptr) - 1
    row_of = np.repeat(np.arange(passages, dtype=np.int32), np.diff(counts.indptr))
    running = np.concatenate([[0], np.cumsum(counts.tf, dtype=np.int64)])
    words = running[counts.indptr[1:]] - running[counts.indptr[:-1]]  # words kept per passage
    mean = words.mean() if passages else 1.0  # an int64 mean, as bm25s takes it
    length = words.astype(np.float64)
    df = np.bincount(counts.terms, minlength=vocab_size)
    idf = np.zeros(vocab_size, dtype=np.float32)
    for term in np.nonzero(df)[0]:  # math.log, as bm25s computes it
        idf[term] = math.log(1 + (passages - df[term] + 0.5) / (df[term] + 0.5))
    tf = counts.tf.astype(np.float32).astype(np.float64)
    tfc = tf / (k1 * ((1 - b) + (b * length[row_of]) / mean) + tf)
    scores = (idf[counts.terms].astype(np.float64) * tfc).astype(np.float32)
    order = np.argsort(counts.terms, kind="stable")  # by term, then passage
    indptr = np.zeros(vocab_size + 1, dtype=np.int64)
    np.cumsum(df, out=indptr[1:])
    return scores[order], row_of[order], indptr


def splitter(pattern: str, cjk: Callable[[str], str]) -> Callable[[str], list[str]]:
    find = re.compile(pattern).findall
    return lambda text: find(cjk(text))
