"""Every passage's sentence vectors, embedded once at build time and stored beside the
passage vectors, so that a query highlights its hits with a few dot products."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .manifest import Manifest
from .vectors import read_rows

SENTENCES = "sentences.npy"


SENTENCE_SPANS = "sentence_spans.npy"


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
        self._owners: np.ndarray | None = None

    def owners(self) -> np.ndarray:
        """The passage id of every row, as one contiguous array made on first use: a search
        in the memory map's strided column copied the whole column on every call (10 ms a
        call at 4.3 million sentences, three calls a query)."""
        if self._owners is None:
            self._owners = np.ascontiguousarray(self.spans[:, 0])
        return self._owners

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

    def _rows_of(self, passages: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """The sentence rows of these passages, one after the other, and how many each has."""
        ids = self.owners()
        wanted = np.asarray(passages, dtype=ids.dtype)
        lo, hi = np.searchsorted(ids, wanted, "left"), np.searchsorted(ids, wanted, "right")
        counts = hi - lo
        return ranges(lo, counts), counts

    def best_of(self, passages: Sequence[int], query: np.ndarray) -> np.ndarray:
        """Each given passage's best sentence cosine to the query (-1 for a passage
        without sentences), reading only those passages' sentence vectors."""
        wanted = np.asarray(passages, dtype=np.int64)
        rows, counts = self._rows_of(wanted)
        scores = np.einsum("ij,j->i", read_rows(self.vectors, rows), np.asarray(query, dtype=np.float32))
        best = np.full(len(wanted), -1.0, dtype=np.float32)
        owner = np.repeat(np.arange(len(wanted)), counts)
        np.maximum.at(best, owner, scores)
        return best

    def rows(self, passage: int) -> slice:
        """The rows of one passage's sentences."""
        ids = self.owners()
        return slice(int(np.searchsorted(ids, passage, "left")), int(np.searchsorted(ids, passage, "right")))

    def of(self, passage: int) -> tuple[list[tuple[int, int]], np.ndarray]:
        """One passage's sentence spans and their vectors (float32)."""
        return self.of_many([passage])[0]

    def of_many(self, passages: Sequence[int]) -> list[tuple[list[tuple[int, int]], np.ndarray]]:
        """Each passage's sentence spans and their vectors (float32), read together."""
        rows, counts = self._rows_of(passages)
        spans = [(s, e) for s, e in np.asarray(self.spans[rows, 1:]).tolist()]
        vectors = read_rows(self.vectors, rows)
        bounds = np.concatenate([[0], np.cumsum(counts)]).tolist()
        return [(spans[a:b], vectors[a:b]) for a, b in zip(bounds, bounds[1:])]


def ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The rows starts[0] .. starts[0]+counts[0]-1, then those of the next start, and so on."""
    within = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(starts, counts) + within
