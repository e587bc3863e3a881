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
from .settings import PRECISIONS, cache_dir

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
        """Export this model to the ONNX query cache; see `export_onnx`."""
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
        return Int8Embedder(SentenceTransformerEmbedder(ref))
    return SentenceTransformerEmbedder(ref, precision=precision)


# --- ONNX query path --------------------------------------------------------------------
# Importing sentence-transformers (and torch) takes seconds; a query needs one forward
# pass. At build time the model is exported to ONNX, with mean pooling and normalisation
# inside the graph, into a cache keyed by the model's content hash. Queries then need only
# onnxruntime and tokenizers.

ONNX_FILE = "model.onnx"
OPTIMIZED_FILE = "model.opt.onnx"
ONNX_META = "meta.json"


def onnx_folder(ref: ModelRef) -> Path:
    return cache_dir() / "onnx" / ref.sha256


def export_onnx(embedder: "SentenceTransformerEmbedder") -> Path:
    """Export `embedder`'s model to the ONNX cache (once per model) and return the folder."""
    import json
    import shutil
    import tempfile

    import torch

    target = onnx_folder(embedder.ref)
    if (target / ONNX_META).is_file():
        return target
    transformer = embedder.model[0].auto_model

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            hidden = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2, dim=1)

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
    try:
        ids = torch.ones((2, 8), dtype=torch.long)
        dynamic = {name: {0: "batch", 1: "tokens"} for name in ("input_ids", "attention_mask", "token_type_ids")}
        dynamic["embedding"] = {0: "batch"}
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Pooled().eval(), (ids, torch.ones_like(ids), torch.zeros_like(ids)), str(tmp / ONNX_FILE),
                input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["embedding"],
                dynamic_axes=dynamic, opset_version=17, dynamo=False,
            )
        shutil.copy2(Path(embedder.ref.path) / "tokenizer.json", tmp / "tokenizer.json")
        import onnxruntime as ort

        # Save the graph with onnxruntime's portable ("extended") optimisations applied,
        # so that each query process can skip that work.
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.optimized_model_filepath = str(tmp / OPTIMIZED_FILE)
        options.log_severity_level = 3
        ort.InferenceSession(str(tmp / ONNX_FILE), options, providers=["CPUExecutionProvider"])
        meta = {
            "model_sha256": embedder.ref.sha256, "dimension": embedder.dimension,
            "max_seq_length": embedder.ref.max_seq_length, "onnx_bytes": (tmp / ONNX_FILE).stat().st_size,
            "optimized_bytes": (tmp / OPTIMIZED_FILE).stat().st_size,
        }
        (tmp / ONNX_META).write_text(json.dumps(meta), encoding="utf-8")
        try:
            os.replace(tmp, target)
        except OSError:  # another process exported it first
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


class OnnxEmbedder:
    """Embeds with the exported ONNX model through onnxruntime: no torch import."""

    precision = "fp32"

    def __init__(self, ref: ModelRef, folder: Path, batch_size: int = 4, file: str = ONNX_FILE) -> None:
        import json

        import onnxruntime as ort
        from tokenizers import Tokenizer

        meta = json.loads((folder / ONNX_META).read_text(encoding="utf-8"))
        if meta["model_sha256"] != ref.sha256 or (folder / ONNX_FILE).stat().st_size != meta["onnx_bytes"]:
            raise ModelError(f"the ONNX export in {folder} does not match the index's model")
        self.ref = ref
        self.dimension = int(meta["dimension"])
        self.batch_size = batch_size
        self._folder = folder
        self._token_offsets: TokenOffsets | None = None
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(int(meta["max_seq_length"]))
        self._tokenizer.enable_padding()
        options = ort.SessionOptions()
        options.log_severity_level = 3
        optimized = folder / OPTIMIZED_FILE
        if file == ONNX_FILE and optimized.is_file() and meta.get("optimized_bytes") == optimized.stat().st_size:
            # Graph optimisations were applied once at export; loading skips them.
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            file = OPTIMIZED_FILE
        else:
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        self._session = ort.InferenceSession(str(folder / file), options, providers=["CPUExecutionProvider"])

    def token_offsets(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        # Only builds cut passages, so queries never load this second tokenizer; a build
        # loads it once, not once per call.
        if self._token_offsets is None:
            self._token_offsets = load_token_offsets(self._folder)
        return self._token_offsets(texts)

    def embed(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for lo in range(0, len(order), self.batch_size):
            idx = order[lo : lo + self.batch_size]
            enc = self._tokenizer.encode_batch([texts[i] for i in idx])
            feeds = {
                "input_ids": np.array([e.ids for e in enc], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64),
            }
            out[idx] = self._session.run(None, feeds)[0]
            if progress is not None:
                progress(len(idx))
        return normalize_rows(out)


def query_embedder(ref: ModelRef) -> Embedder:
    """The embedder that queries against an index of model `ref` use: the cached ONNX
    export, else (with a notice) sentence-transformers from the model's folder."""
    import logging

    from .models import find_model_folder

    embedder = load_query_embedder(ref)
    if embedder is not None:
        return embedder
    logging.getLogger("hubsearch").warning(
        "no ONNX export of %s in %s; loading sentence-transformers (slower)", ref.name, onnx_folder(ref))
    folder = find_model_folder(ref)
    return load_embedder(ModelRef(ref.name, str(folder), ref.sha256, ref.max_seq_length))


def load_query_embedder(ref: ModelRef) -> Embedder | None:
    """The ONNX embedder for `ref` if its export is cached and sound, else None."""
    folder = onnx_folder(ref)
    if not (folder / ONNX_META).is_file():
        return None
    try:
        return OnnxEmbedder(ref, folder)
    except Exception:  # a damaged or foreign export: the caller falls back
        return None


INT8_FILE = "model.int8.onnx"


class Int8Embedder:
    """Embeds with the ONNX export quantised to int8 weights (dynamic quantisation)."""

    precision = "int8"

    def __init__(self, base: SentenceTransformerEmbedder) -> None:
        folder = export_onnx(base)
        if not (folder / INT8_FILE).is_file():
            from onnxruntime.quantization import QuantType, quantize_dynamic

            part = folder / f"{INT8_FILE}.{os.getpid()}.part"
            quantize_dynamic(str(folder / ONNX_FILE), str(part), weight_type=QuantType.QInt8)
            os.replace(part, folder / INT8_FILE)
        self._base = base
        self._onnx = OnnxEmbedder(base.ref, folder, batch_size=64, file=INT8_FILE)
        self.ref = base.ref
        self.dimension = self._onnx.dimension
        self.token_offsets = self._onnx.token_offsets

    def embed(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        return self._onnx.embed(texts, progress)

    def export_onnx(self) -> Path:
        return export_onnx(self._base)


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
