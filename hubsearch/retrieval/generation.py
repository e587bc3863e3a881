"""Open and verify one generation of an index folder.

A generation is one complete index: the manifest, the vector store, the BM25 side, the
passage store and the sentence vectors. Opening checks every file against the manifest
and the parts against each other; a writer may swap generations while a reader opens
one, so `open_live` looks again when CURRENT moved during the attempt.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BackendError, IndexDamagedError, IndexNotFoundError
from ..settings import VectorBackend
from ..store import generations
from ..store import manifest as manifest_io
from ..store.generations import EMBEDDINGS, LEXICAL, PASSAGES, VECTORS
from ..store.manifest import Manifest, damaged
from ..store.passages import PassageStore
from ..store.sentences import SentenceVectors
from ..store.vectors import load_exact
from .lexical import LexicalIndex
from .vectors import VectorStore, open_store


@dataclass
class Generation:
    """The parts of one verified generation, ready to answer queries."""

    index_dir: Path
    path: Path
    manifest: Manifest
    vectors: VectorStore
    lexical: LexicalIndex
    passages: PassageStore
    sentences: SentenceVectors | None

    def close(self) -> None:
        self.passages.close()


def open_live(index_dir: Path) -> Generation:
    """The generation CURRENT points at, verified.

    Raises:
        IndexNotFoundError: There is no index at `index_dir`.
        IndexDamagedError: Its files are missing, truncated, corrupt or inconsistent.
    """
    if not index_dir.is_dir():
        raise IndexNotFoundError(
            f"no index in the folder '{index_dir}'; build one from the folders of documents you want to "
            f"search with: hubsearch index build FOLDER... --index {shlex.quote(str(index_dir))}"
        )
    # A writer may swap generations between reading CURRENT and opening the files;
    # a second look then finds the new one.
    for attempt in range(10):
        before = generations.pointer(index_dir)
        try:
            return load(index_dir, generations.current_generation(index_dir))
        except IndexDamagedError:
            # Damage is real only if CURRENT held still while we looked.
            if attempt == 9 or generations.pointer(index_dir) == before:
                raise
    raise AssertionError("unreachable")


def load(index_dir: Path, path: Path) -> Generation:
    """Open and verify the generation in `path`.

    Raises:
        IndexDamagedError: A file is missing, altered or inconsistent with the others.
    """
    try:
        return _load(index_dir, path)
    except OSError as exc:  # e.g. a writer removed this generation while we read it
        raise damaged(index_dir, f"{type(exc).__name__}: {exc}") from exc


def _load(index_dir: Path, path: Path) -> Generation:
    manifest = manifest_io.read(index_dir, path)
    generations.verify_files(index_dir, path, manifest)
    expected, dimension = manifest.corpus.passages, manifest.model.dimension
    try:
        exact = load_exact(path / EMBEDDINGS)
        vectors = _vector_store(index_dir, path, manifest, exact)
        passages = PassageStore(path / PASSAGES)
        lexical = LexicalIndex.load(path / LEXICAL, manifest.lexical)
        sentences = SentenceVectors.load(path) if SentenceVectors.present(manifest) else None
        stored = passages.count()
    except IndexDamagedError as exc:
        raise damaged(index_dir, str(exc)) from exc
    except (OSError, BackendError):
        raise
    except Exception as exc:  # sqlite3.DatabaseError, ValueError from numpy and friends
        raise damaged(index_dir, f"{type(exc).__name__}: {exc}") from exc
    counts = (vectors.count, stored, lexical.count, len(exact))
    if any(c != expected for c in counts) or vectors.dimension != dimension:
        raise damaged(
            index_dir,
            f"{vectors.count} vectors of dimension {vectors.dimension}, {stored} passages, "
            f"{lexical.count} lexical rows, manifest says {expected} of dimension {dimension}",
        )
    problem = vectors.check(expected)
    if problem:
        raise damaged(index_dir, problem)
    if sentences is not None and not sentences.consistent(expected, dimension):
        raise damaged(index_dir, "the sentence vectors do not match the passages")
    return Generation(index_dir, path, manifest, vectors, lexical, passages, sentences)


def backend_of(kind: str | None, qdrant: dict[str, Any] | None) -> VectorBackend:
    """The vector backend a manifest (or the record beside CURRENT) names: its backend
    kind and, for Qdrant, where the collection lives."""
    if kind != "qdrant":
        return VectorBackend()
    where = qdrant or {}
    return VectorBackend(kind="qdrant", url=where.get("url"), path=where.get("path"))


def _vector_store(index_dir: Path, path: Path, manifest: Manifest, exact: Any) -> VectorStore:
    """The manifest decides the backend: FAISS files here, or the generation's Qdrant collection."""
    info = manifest.vector_index
    if info.backend == "qdrant":
        from .qdrant import QdrantVectors

        collection = (info.qdrant or {}).get("collection")
        if not collection:
            raise damaged(index_dir, "the manifest names no Qdrant collection")
        return QdrantVectors(backend_of(info.backend, info.qdrant), collection, exact)
    return open_store(path / VECTORS, info.type, exact)
