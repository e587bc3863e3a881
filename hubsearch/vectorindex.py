"""A thin wrapper around a FAISS inner-product index whose ids are passage row numbers."""

from __future__ import annotations

import os
from typing import Any

import faiss
import numpy as np

from .errors import IndexDamagedError, InvalidInputError

INDEX_TYPES = ("auto", "flat", "hnsw", "ivf-sq8", "ivf-pq")
# Below this many passages exact search is both fastest to build and fast enough to query.
EXACT_LIMIT = 50_000


def choose_type(count: int, dimension: int) -> str:
    """Pick an index type from the corpus size: exact when small, graph search when large."""
    if count <= EXACT_LIMIT:
        return "flat"
    # HNSW keeps full vectors plus ~64 neighbours a vector; past ~8 GB, compress.
    if count * (dimension * 4 + 64 * 8) > 8 * 2**30:
        return "ivf-pq"
    return "hnsw"


class VectorIndex:
    """Inner-product search over unit vectors, so scores are cosine similarities.

    Args:
        index: A FAISS index.
        kind: Its type name, one of `INDEX_TYPES` other than "auto".
    """

    def __init__(self, index: Any, kind: str, exact: np.ndarray | None = None) -> None:
        self.index = index
        self.kind = kind
        # Full-precision vectors (usually a memory map of embeddings.npy) to re-rank the
        # candidates of a compressed index exactly.
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
        return cls(index, kind, vectors if kind == "ivf-pq" else None)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, ids) per query row; ids of -1 mark empty slots."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = max(1, min(k, self.count))
        if self.kind != "ivf-pq" or self.exact is None:
            return self.index.search(queries, k)
        # Product quantisation ranks coarsely: take 10x the candidates, score them exactly.
        _, candidates = self.index.search(queries, min(self.count, max(10 * k, 100)))
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        for row, (query, cand) in enumerate(zip(queries, candidates)):
            cand = np.sort(cand[cand >= 0])
            exact = np.asarray(self.exact[cand], dtype=np.float32) @ query
            best = np.argsort(-exact, kind="stable")[:k]
            scores[row, : len(best)] = exact[best]
            ids[row, : len(best)] = cand[best]
        return scores, ids

    def save(self, path: str | os.PathLike[str]) -> None:
        faiss.write_index(self.index, os.fspath(path))

    @classmethod
    def load(cls, path: str | os.PathLike[str], kind: str, exact: np.ndarray | None = None) -> "VectorIndex":
        try:
            index = faiss.read_index(os.fspath(path))
        except RuntimeError as exc:
            raise IndexDamagedError(str(exc).strip().splitlines()[-1]) from exc
        if kind in ("ivf-sq8", "ivf-pq"):
            faiss.extract_index_ivf(index).nprobe = max(1, min(faiss.extract_index_ivf(index).nlist, 32))
        if kind == "hnsw":
            index.hnsw.efSearch = 64
        return cls(index, kind, exact)
