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

Progress = Callable[[int], None]  # called with the number of texts just finished


class Embedder(Protocol):
    """What the index needs from a model."""

    ref: ModelRef
    dimension: int

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


class SentenceTransformerEmbedder:
    """Embeds with sentence-transformers from a local folder, never downloading.

    Args:
        ref: The model to load.
        batch_size: Texts per forward pass.
    """

    def __init__(self, ref: ModelRef, batch_size: int = 64) -> None:
        offline_environment()
        self.ref = ref
        self.batch_size = batch_size
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

    def embed(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        # Longest first, so padding within a batch is small and the slowest batch comes
        # early, which makes the progress rate honest.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for lo in range(0, len(order), self.batch_size):
            idx = order[lo : lo + self.batch_size]
            vectors = self.model.encode(
                [texts[i] for i in idx],
                batch_size=len(idx),
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
            out[idx] = vectors
            if progress is not None:
                progress(len(idx))
        return normalize_rows(out)


def load_embedder(ref: ModelRef) -> Embedder:
    """The embedder hubsearch builds indexes with for the model `ref`."""
    return SentenceTransformerEmbedder(ref)
