"""The ONNX query path: embed queries without importing torch.

Importing sentence-transformers (and torch) takes seconds; a query needs one forward
pass. At build time the model is exported to ONNX, with mean pooling and normalisation
inside the graph, into a cache keyed by the model's content hash. The export is saved
twice: `model.onnx` as exported (the source of the int8 variant), and a graph with
onnxruntime's portable optimisations applied whose weights sit in a separate file.
onnxruntime memory-maps such external weights, so with weight prepacking off a query
process opens the session in milliseconds instead of parsing 90 MB of protobuf.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ModelError
from ..records import ModelRef, TokenOffsets
from ..settings import cache_dir
from .base import Embedder, Progress, load_token_offsets, normalize_rows

if TYPE_CHECKING:
    from .transformer import SentenceTransformerEmbedder

ONNX_FILE = "model.onnx"
MAPPED_FILE = "model.mapped.onnx"
MAPPED_WEIGHTS = "model.mapped.weights"
INT8_FILE = "model.int8.onnx"
ONNX_META = "meta.json"


def onnx_folder(ref: ModelRef) -> Path:
    return cache_dir() / "onnx" / ref.sha256


def _read_meta(folder: Path) -> dict:
    return json.loads((folder / ONNX_META).read_text(encoding="utf-8"))


def export_onnx(embedder: SentenceTransformerEmbedder) -> Path:
    """Export `embedder`'s model to the ONNX cache (once per model) and return the folder.
    An export from an earlier hubsearch that lacks the memory-mapped graph gains it."""
    import shutil
    import tempfile

    target = onnx_folder(embedder.ref)
    if (target / ONNX_META).is_file():
        if "mapped_bytes" not in _read_meta(target):
            _add_mapped(target, target)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
    try:
        _export_graph(embedder, tmp / ONNX_FILE)
        shutil.copy2(Path(embedder.ref.path) / "tokenizer.json", tmp / "tokenizer.json")
        meta = {
            "model_sha256": embedder.ref.sha256, "dimension": embedder.dimension,
            "max_seq_length": embedder.ref.max_seq_length, "onnx_bytes": (tmp / ONNX_FILE).stat().st_size,
        }
        (tmp / ONNX_META).write_text(json.dumps(meta), encoding="utf-8")
        _add_mapped(tmp, tmp)
        try:
            os.replace(tmp, target)
        except OSError:  # another process exported it first
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _export_graph(embedder: SentenceTransformerEmbedder, path: Path) -> None:
    import warnings

    import torch

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

    ids = torch.ones((2, 8), dtype=torch.long)
    dynamic = {name: {0: "batch", 1: "tokens"} for name in ("input_ids", "attention_mask", "token_type_ids")}
    dynamic["embedding"] = {0: "batch"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Pooled().eval(), (ids, torch.ones_like(ids), torch.zeros_like(ids)), str(path),
            input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["embedding"],
            dynamic_axes=dynamic, opset_version=17, dynamo=False,
        )


def _add_mapped(source: Path, folder: Path) -> None:
    """Write the optimised graph with external weights into `folder` and record it in
    the meta file (written last, so a half-done conversion is never used)."""
    import onnx
    import onnxruntime as ort

    optimized = folder / f"{MAPPED_FILE}.{os.getpid()}.opt"
    try:
        # onnxruntime's portable ("extended") optimisations, applied once here so that
        # each query process can skip them.
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.optimized_model_filepath = str(optimized)
        options.log_severity_level = 3
        ort.InferenceSession(str(source / ONNX_FILE), options, providers=["CPUExecutionProvider"])
        onnx.save_model(onnx.load(str(optimized)), str(folder / MAPPED_FILE), save_as_external_data=True,
                        all_tensors_to_one_file=True, location=MAPPED_WEIGHTS, size_threshold=1024)
    finally:
        optimized.unlink(missing_ok=True)
    meta = _read_meta(folder)
    meta["mapped_bytes"] = (folder / MAPPED_FILE).stat().st_size
    meta["mapped_weights_bytes"] = (folder / MAPPED_WEIGHTS).stat().st_size
    part = folder / f"{ONNX_META}.{os.getpid()}.part"
    part.write_text(json.dumps(meta), encoding="utf-8")
    os.replace(part, folder / ONNX_META)


class OnnxEmbedder:
    """Embeds with the exported ONNX model through onnxruntime: no torch import.

    Args:
        ref: The model; the export must have been made from it.
        folder: The export's folder (`onnx_folder(ref)`).
        batch_size: Texts per forward pass.
        file: `INT8_FILE` for the quantised variant; default the memory-mapped graph
            (or, for an older export, `model.onnx`).
        warm: For a process that answers many queries (a server): onnxruntime prepacks
            the memory-mapped weights for its matrix kernels, which halves each query's
            forward pass (about 3.7 to 1.8 ms on the AMD EPYC) for a slower start and a
            copy of the weights in memory. Off, a one-query process opens in milliseconds.
    """

    precision = "fp32"
    serves_queries = True
    engine = "onnxruntime fp32"

    def __init__(self, ref: ModelRef, folder: Path, batch_size: int = 4, file: str | None = None,
                 warm: bool = False) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        meta = _read_meta(folder)
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
        if file is None and _mapped_intact(folder, meta):
            # Optimised at export; prepacking copies every weight out of the memory map.
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            if not warm:
                options.add_session_config_entry("session.disable_prepacking", "1")
            file = MAPPED_FILE
        else:
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
            file = file or ONNX_FILE
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


    def prepare_queries(self) -> None:
        """Nothing to do: this is the query path."""


def _mapped_intact(folder: Path, meta: dict) -> bool:
    try:
        return ((folder / MAPPED_FILE).stat().st_size == meta.get("mapped_bytes")
                and (folder / MAPPED_WEIGHTS).stat().st_size == meta.get("mapped_weights_bytes"))
    except OSError:
        return False


def load_query_embedder(ref: ModelRef, warm: bool = False) -> Embedder | None:
    """The ONNX embedder for `ref` if its export is cached and sound, else None (`warm`:
    see `OnnxEmbedder`)."""
    folder = onnx_folder(ref)
    if not (folder / ONNX_META).is_file():
        return None
    try:
        return OnnxEmbedder(ref, folder, warm=warm)
    except Exception:  # a damaged or foreign export: the caller falls back
        return None


class Int8Embedder:
    """Embeds with the ONNX export quantised to int8 weights (dynamic quantisation)."""

    precision = "int8"
    engine = "onnxruntime int8"

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

    serves_queries = False  # int8 vectors are approximate: queries use the fp32 export

    def prepare_queries(self) -> None:
        export_onnx(self._base)
