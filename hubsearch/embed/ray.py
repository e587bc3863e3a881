"""Embedding on a Ray cluster: `--engine ray`.

Only the passages and sentences that need embedding go to Ray (the embedding cache
still applies); reading, chunking, BM25 and the atomic publish stay on this machine. Ray
Data runs `map_batches` over an actor pool; each actor loads the model once, at the
index's precision. By default Ray starts on this machine only: 2 CPUs, no dashboard, and
RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, which keeps every Ray port on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BackendError
from ..records import ModelRef
from .base import Progress, load_token_offsets, resolve_precision

BATCH = 64


def model_dimension(folder: str) -> int:
    """The sentence-embedding dimension a sentence-transformers folder declares."""
    pooling = Path(folder) / "1_Pooling" / "config.json"
    if pooling.is_file():
        return int(json.loads(pooling.read_text(encoding="utf-8"))["word_embedding_dimension"])
    return int(json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))["hidden_size"])


class _ActorEmbedder:
    """One Ray actor: loads the model once, then embeds the batches it is given."""

    def __init__(self, ref: dict[str, Any], precision: str) -> None:
        from .transformer import SentenceTransformerEmbedder

        self.embedder = SentenceTransformerEmbedder(ModelRef(**ref), precision=precision)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors = self.embedder.embed([str(t) for t in batch["text"]])
        return {"i": batch["i"], "vector": vectors}


class RayEmbedder:
    """An `Embedder` whose `embed` runs on Ray; vectors equal the local path's. It embeds
    for builds only: queries never go through Ray.

    Args:
        ref: The model; its folder must be readable at the same path on every Ray node.
        precision: "fp32" or "bf16" ("auto" resolved here, on the driver).
        address: A Ray cluster's address, or None for a local Ray on this machine.
        actors: Size of the actor pool.
        actor: The class each Ray actor runs: built with (ref as a dict, precision), then
            called with batches of {"i", "text"}; it returns {"i", "vector"}.
    """

    def __init__(self, ref: ModelRef, precision: str = "auto", address: str | None = None, actors: int = 2,
                 actor: type = _ActorEmbedder) -> None:
        try:
            import ray  # noqa: F401
        except ImportError:
            raise BackendError("--engine ray needs Ray; install it with: pip install 'hubsearch[ray]'") from None
        self.ref = ref
        self.precision = resolve_precision(precision)
        if self.precision == "int8":
            raise BackendError("--engine ray embeds in fp32 or bf16; pass --precision fp32 or bf16")
        self.dimension = model_dimension(ref.path)
        self.token_offsets = load_token_offsets(ref.path)
        self.address = address
        self.actors = actors
        self.actor = actor
        self.serves_queries = False
        self.engine = f"ray, sentence-transformers {self.precision}"

    def _init(self) -> None:
        import ray

        if ray.is_initialized():
            return
        if self.address:
            ray.init(address=self.address, log_to_driver=False)
        else:
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="error")

    def embed(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        try:
            import ray

            self._init()
            import logging
            import warnings

            for name in ("ray", "ray.data"):
                logging.getLogger(name).setLevel(logging.ERROR)
            ray.data.DataContext.get_current().enable_progress_bars = False
            data = ray.data.from_items([{"i": i, "text": t} for i, t in enumerate(texts)])
            with warnings.catch_warnings():  # Ray's own deprecation notices about its internals
                warnings.simplefilter("ignore")
                embedded = data.map_batches(
                    self.actor, fn_constructor_kwargs={"ref": self.ref.to_dict(), "precision": self.precision},
                    batch_size=BATCH, compute=ray.data.ActorPoolStrategy(size=self.actors), batch_format="numpy",
                    max_restarts=0, max_task_retries=0,  # a dead worker fails the build instead of retrying
                )
                batches = list(embedded.iter_batches(batch_size=BATCH, batch_format="numpy"))
            for batch in batches:
                out[np.asarray(batch["i"], dtype=np.int64)] = np.stack(batch["vector"])
                if progress is not None:
                    progress(len(batch["i"]))
        except BackendError:
            raise
        except Exception as exc:  # RayActorError, RayTaskError and friends
            reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
            raise BackendError(
                f"a Ray worker failed while embedding ({type(exc).__name__}: {reason}); nothing was written and "
                "the index is unchanged; run the command again"
            ) from exc
        return out

    def prepare_queries(self) -> None:
        """The query path's ONNX export, made here if no earlier build made it."""
        from .onnx import ONNX_META, onnx_folder

        if not (onnx_folder(self.ref) / ONNX_META).is_file():
            from .transformer import SentenceTransformerEmbedder

            SentenceTransformerEmbedder(self.ref).prepare_queries()


def shutdown() -> None:
    """Stop the local Ray this process started, if any."""
    try:
        import ray
    except ImportError:
        return
    if ray.is_initialized():
        ray.shutdown()
