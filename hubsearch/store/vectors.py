"""The stored vector matrices of a generation, read as memory maps."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

_decoders: dict[int, Any] = {}  # dimension -> FAISS fp16 scalar quantizer
_fast = False


def widen_with_faiss() -> None:
    """Widen float16 rows with FAISS's decoder from now on (see `as_float32`), for a
    process that answers many queries: it pays FAISS's import (about 40 ms) once, which a
    one-query process on a flat index never needs."""
    global _fast
    import faiss  # noqa: F401

    _fast = True


def as_float32(rows: np.ndarray) -> np.ndarray:
    """Rows as float32. After `widen_with_faiss`, float16 rows are widened by FAISS's fp16
    decoder, on one thread: exact, and faster than numpy's astype (1.6 ms against 2.3 ms for
    5,000 rows of 384 on the AMD EPYC; a warm query widens that many sentence vectors)."""
    if not _fast or rows.dtype != np.float16 or rows.ndim != 2 or not rows.size:
        return np.asarray(rows, dtype=np.float32)
    dimension = rows.shape[1]
    decoder = _decoders.get(dimension)
    if decoder is None:
        import faiss

        decoder = _decoders[dimension] = faiss.ScalarQuantizer(dimension, faiss.ScalarQuantizer.QT_fp16)
    import faiss

    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)  # no OpenMP workers left spinning on the cores the query model needs next
    try:
        return decoder.decode(np.ascontiguousarray(rows).view(np.uint8))
    finally:
        faiss.omp_set_num_threads(threads)


def read_rows(matrix: np.ndarray, ids: Sequence[int] | np.ndarray) -> np.ndarray:
    """Rows of a memory map read in ascending order, returned in the order asked, as float32."""
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) < 2 or bool(np.all(ids[1:] >= ids[:-1])):
        return as_float32(matrix[ids])
    order = np.argsort(ids, kind="stable")
    rows = as_float32(matrix[ids[order]])
    out = np.empty_like(rows)
    out[order] = rows
    return out


def load_exact(path: Path) -> np.ndarray:
    """The stored vectors as a read-only memory map."""
    return np.load(path, mmap_mode="r")
