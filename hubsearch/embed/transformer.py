"""The reference embedder: sentence-transformers from a local folder, used to build
indexes. torch and sentence-transformers are imported only when one is created."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import ModelError
from ..records import ModelRef
from .base import Progress, load_token_offsets, normalize_rows, offline_environment


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

    serves_queries = True

    @property
    def engine(self) -> str:
        return f"sentence-transformers {self.precision}"

    def prepare_queries(self) -> None:
        """Export this model to the ONNX query cache (see `onnx.export_onnx`), so that
        queries need neither torch nor sentence-transformers."""
        from .onnx import export_onnx

        export_onnx(self)

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
