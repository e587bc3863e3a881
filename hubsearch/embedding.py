"""Embedders: turn passages and queries into unit-length float32 vectors.

`SentenceTransformerEmbedder` is the reference implementation used to build indexes.
torch and sentence-transformers are imported only when one is created, never at import
time of this module.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from .chunking import TokenOffsets
from .errors import ModelError
from .models import ModelRef
from .settings import PRECISIONS

Progress = Callable[[int], None]  # called with the number of texts just finished


class Embedder(Protocol):
    """What the index needs from a model."""

    ref: ModelRef
    dimension: int
    precision: str  # "fp32", "bf16" or "int8": recorded in the manifest

    def token_offsets(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        """Token spans of each text, special tokens excluded."""

    def embed(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Unit-length float32 vectors, one row a text."""


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
        from .errors import InvalidInputError

        raise InvalidInputError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return "bf16" if cpu_has_fast_bf16() else "fp32"
    return precision


class SentenceTransformerEmbedder:
    """Embeds with sentence-transformers from a local folder, never downloading.

    Args:
        ref: The model to load.
        batch_size: Texts per forward pass.
        precision: "fp32", or "bf16" to run matrix products in bfloat16 under torch's
            autocast (oneDNN uses AMX where the CPU has it); vectors come back as float32.
    """

    def __init__(self, ref: ModelRef, batch_size: int = 64, precision: str = "fp32") -> None:
        offline_environment()
        self.ref = ref
        self.batch_size = batch_size
        self.precision = precision
        self.token_offsets = load_token_offsets(ref.path)
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ModelError(
                "sentence-transformers is not installed; install it with: pip install sentence-transformers"
            ) from exc
        try:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
        except ImportError:  # pragma: no cover - an older transformers
            pass
        try:
            self.model = SentenceTransformer(ref.path, device="cpu", local_files_only=True)
        except Exception as exc:  # the library raises many types for a bad folder
            raise ModelError(
                f"cannot load the model at {ref.path} ({type(exc).__name__}: {exc}); "
                "pass --model with a working sentence-transformers folder"
            ) from exc
        self.model.max_seq_length = ref.max_seq_length
        get_dimension = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dimension = int(get_dimension())

    def export_onnx(self) -> Path:
        """Export this model to the ONNX query cache; see `onnxpath.export_onnx`."""
        from .onnxpath import export_onnx

        return export_onnx(self)

    def embed(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        # Longest first, so padding within a batch is small and the slowest batch comes
        # early, which makes the progress rate honest.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        import contextlib

        import torch

        autocast = (
            torch.autocast("cpu", dtype=torch.bfloat16) if self.precision == "bf16" else contextlib.nullcontext()
        )
        for lo in range(0, len(order), self.batch_size):
            idx = order[lo : lo + self.batch_size]
            with autocast:
                vectors = self.model.encode(
                    [texts[i] for i in idx],
                    batch_size=len(idx),
                    convert_to_numpy=True,
                    normalize_embeddings=True,
                    show_progress_bar=False,
                )
            out[idx] = np.asarray(vectors, dtype=np.float32)
            if progress is not None:
                progress(len(idx))
        return normalize_rows(out)


def load_embedder(ref: ModelRef, precision: str = "fp32") -> Embedder:
    """The embedder hubsearch builds indexes with for the model `ref`.

    Args:
        precision: "fp32" or "bf16" (sentence-transformers), or "int8" (the ONNX export
            with dynamic int8 quantisation); "auto" picks with `resolve_precision`.
    """
    precision = resolve_precision(precision)
    if precision == "int8":
        from .onnxpath import Int8Embedder

        return Int8Embedder(SentenceTransformerEmbedder(ref))
    return SentenceTransformerEmbedder(ref, precision=precision)


class LazyEmbedder:
    """Stands in for the build embedder of a recorded model, loading it (and torch) only
    when something has to be embedded. Cutting passages needs just the tokenizer, so an
    update with nothing new never pays for the import."""

    def __init__(self, ref: ModelRef, precision: str, dimension: int) -> None:
        self.ref = ref
        self.precision = resolve_precision(precision)
        self.dimension = dimension
        self.token_offsets = load_token_offsets(ref.path)
        self._real: Embedder | None = None

    def _load(self) -> Embedder:
        if self._real is None:
            self._real = load_embedder(self.ref, self.precision)
        return self._real

    def embed(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self._load().embed(texts, progress)

    def export_onnx(self) -> Path | None:
        """Export if the model was loaded (an earlier build exported it otherwise)."""
        export = getattr(self._real, "export_onnx", None)
        return export() if export is not None else None
