"""The stored vector matrices of a generation, read as memory maps."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def read_rows(matrix: np.ndarray, ids: Sequence[int]) -> np.ndarray:
    """Rows of a memory map read in ascending order, returned in the order asked."""
    order = np.argsort(ids, kind="stable")
    rows = np.asarray(matrix[np.asarray(ids, dtype=np.int64)[order]], dtype=np.float32)
    out = np.empty_like(rows)
    out[order] = rows
    return out


def load_exact(path: Path) -> np.ndarray:
    """The stored vectors as a read-only memory map."""
    return np.load(path, mmap_mode="r")
