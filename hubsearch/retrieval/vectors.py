"""The dense side's storage: the `VectorStore` protocol and its FAISS implementation.

A vector store holds one unit vector per passage (row i is passage i) and answers
nearest-neighbour queries by inner product, so scores are cosine similarities. The
pipeline sees only the protocol, so another backend plugs in without touching it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..errors import IndexDamagedError, InvalidInputError
from ..settings import INDEX_TYPES
from ..store.vectors import read_rows
from .ranked import Ranked

# Below this many passages exact search is both fastest to build and fast enough to query.
EXACT_LIMIT = 50_000


class VectorStore(Protocol):
    """What the query pipeline needs from the dense side."""

    kind: str

    @property
    def count(self) -> int:
        """How many vectors it holds."""

    @property
    def dimension(self) -> int:
        """Their dimension."""

    def search(self, query: np.ndarray, depth: int, allowed: np.ndarray | None = None) -> Ranked:
        """The `depth` passages nearest to the unit vector `query`, best first; with
        `allowed` (sorted passage ids), only among those."""

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        """The stored unit vectors of these passages, in the order given (float32)."""

    def check(self, expected: int) -> str | None:
        """What is wrong with the store beyond its count (which the caller checks), or
        None. A store outside the index folder (Qdrant) compares itself with it here."""


def choose_type(count: int, dimension: int) -> str:
    """Pick an index type from the corpus size: exact when small, graph search when large."""
    if count <= EXACT_LIMIT:
        return "flat"
    # HNSW keeps full vectors plus ~64 neighbours a vector; past ~8 GB, compress.
    if count * (dimension * 4 + 64 * 8) > 8 * 2**30:
        return "ivf-pq"
    return "hnsw"


class VectorIndex:
    """A FAISS inner-product index over unit vectors, beside the exact vectors it was
    built from (usually a memory map of embeddings.npy).

    Args:
        index: A FAISS index whose ids are passage row numbers.
        kind: Its type name, one of `INDEX_TYPES` other than "auto".
        exact: The full-precision vectors, row i for passage i.
    """

    def __init__(self, index: Any, kind: str, exact: np.ndarray) -> None:
        self.index = index
        self.kind = kind
        self.exact = exact

    @property
    def count(self) -> int:
        return int(self.index.ntotal)

    @property
    def dimension(self) -> int:
        return int(self.index.d)

    @classmethod
    def build(cls, vectors: np.ndarray, kind: str = "auto", *, seed: int = 1234) -> "VectorIndex":
        """Index `vectors` (rows are unit length); row i gets id i."""
        import faiss

        if kind not in INDEX_TYPES:
            raise InvalidInputError(f"unknown index type {kind!r}; choose one of {', '.join(INDEX_TYPES)}")
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        n, d = vectors.shape
        if kind == "auto":
            kind = choose_type(n, d)
        if kind == "flat":
            index = faiss.IndexFlatIP(d)
        elif kind == "hnsw":
            index = faiss.IndexHNSWFlat(d, 32, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 80
            index.hnsw.efSearch = 64
        else:
            nlist = max(1, min(int(np.sqrt(n)), n // 39))
            quantizer = faiss.IndexFlatIP(d)
            if kind == "ivf-sq8":
                index = faiss.IndexIVFScalarQuantizer(
                    quantizer, d, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
                )
            else:
                m = next(m for m in (48, 32, 24, 16, 12, 8, 4, 2, 1) if d % m == 0)
                index = faiss.IndexIVFPQ(quantizer, d, nlist, m, 8, faiss.METRIC_INNER_PRODUCT)
            rng = np.random.default_rng(seed)
            # 64 points per IVF list, and at least the 39 x 256 that PQ codebooks need.
            size = min(n, max(64 * nlist, 39 * 256))
            sample = vectors[np.sort(rng.choice(n, size=size, replace=False))] if n else vectors
            index.train(sample)
            index.nprobe = max(1, min(nlist, 32))
        index.add(vectors)
        return cls(index, kind, vectors)

    def search_batch(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, ids) per query row; ids of -1 mark empty slots. With `allowed`
        (passage ids), FAISS searches only among those (an IDSelector), so k come back
        whenever k are allowed."""
        import faiss

        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = max(1, min(k, self.count))
        params = None
        if allowed is not None:
            selector = faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64))
            if self.kind == "hnsw":
                params = faiss.SearchParametersHNSW(sel=selector, efSearch=max(64, k))
            elif self.kind in ("ivf-sq8", "ivf-pq"):
                params = faiss.SearchParametersIVF(sel=selector, nprobe=faiss.extract_index_ivf(self.index).nprobe)
            else:
                params = faiss.SearchParameters(sel=selector)
        if self.kind != "ivf-pq":
            return self.index.search(queries, k, params=params)
        # Product quantisation ranks coarsely: take 10x the candidates, score them exactly.
        _, candidates = self.index.search(queries, min(self.count, max(10 * k, 100)), params=params)
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        for row, (query, cand) in enumerate(zip(queries, candidates)):
            cand = np.sort(cand[cand >= 0])
            exact = np.asarray(self.exact[cand], dtype=np.float32) @ query
            best = np.argsort(-exact, kind="stable")[:k]
            scores[row, : len(best)] = exact[best]
            ids[row, : len(best)] = cand[best]
        return scores, ids

    def search(self, query: np.ndarray, depth: int, allowed: np.ndarray | None = None) -> Ranked:
        scores, ids = self.search_batch(query, depth, allowed)
        keep = ids[0] >= 0
        return Ranked(ids[0][keep].tolist(), scores[0][keep].tolist())

    def check(self, expected: int) -> str | None:
        """Nothing beyond the count: the files were checked against the manifest."""
        return None

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        return read_rows(self.exact, ids)

    def save(self, path: str | os.PathLike[str]) -> None:
        import faiss

        try:
            faiss.write_index(self.index, os.fspath(path))
        except RuntimeError as exc:  # FAISS reports a failed write (a full disk) this way
            raise OSError(f"FAISS could not write {path}: {str(exc).strip().splitlines()[-1]}") from exc

    @classmethod
    def load(cls, path: str | os.PathLike[str], kind: str, exact: np.ndarray) -> "VectorIndex":
        import faiss

        # An HNSW graph's vectors are memory-mapped, not read: a cold query on 487,561 passages
        # opened it in 12 ms instead of 0.4 s, and a generation's files never change.
        flags = faiss.IO_FLAG_MMAP_IFC if kind == "hnsw" else 0
        try:
            index = faiss.read_index(os.fspath(path), flags)
        except RuntimeError as exc:
            raise IndexDamagedError(str(exc).strip().splitlines()[-1]) from exc
        if kind in ("ivf-sq8", "ivf-pq"):
            faiss.extract_index_ivf(index).nprobe = max(1, min(faiss.extract_index_ivf(index).nlist, 32))
        if kind == "hnsw":
            index.hnsw.efSearch = 64
        return cls(index, kind, exact)


class ExactVectors:
    """Exact inner-product search straight over the stored vectors, for "flat" indexes.

    A flat FAISS index computes exactly these inner products; reading them from the
    memory-mapped embeddings keeps FAISS's import (about 25 ms) off a cold query.
    """

    kind = "flat"

    def __init__(self, exact: np.ndarray) -> None:
        self.exact = exact

    @property
    def count(self) -> int:
        return int(self.exact.shape[0])

    @property
    def dimension(self) -> int:
        return int(self.exact.shape[1]) if self.exact.ndim == 2 else 0

    def search(self, query: np.ndarray, depth: int, allowed: np.ndarray | None = None) -> Ranked:
        from .lexical import top

        rows = None if allowed is None else np.asarray(allowed, dtype=np.int64)
        matrix = self.exact if rows is None else read_rows(self.exact, rows)
        # einsum, not @: see fusion.gram on waking BLAS threads.
        scores = np.einsum("ij,j->i", matrix, np.asarray(query, dtype=np.float32))
        order = top(scores, depth)
        return Ranked((order if rows is None else rows[order]).tolist(), scores[order].tolist())

    def check(self, expected: int) -> str | None:
        """Nothing beyond the count: the files were checked against the manifest."""
        return None

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        return read_rows(self.exact, ids)


def open_store(faiss_file: Path, kind: str, exact: np.ndarray) -> VectorStore:
    """The vector store of a generation: exact search for "flat", FAISS otherwise."""
    if kind == "flat":
        return ExactVectors(exact)
    return VectorIndex.load(faiss_file, kind, exact)

