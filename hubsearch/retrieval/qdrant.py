"""The Qdrant vector backend: each generation's vectors in a collection of their own.

A build writes the collection, waits until Qdrant has acknowledged every point, and only
then publishes the generation whose manifest names it; the alias `hubsearch-KEY` (KEY
from the index folder's path) then moves to it, for other tools. Readers use the
collection their generation names, so they never see a half-written one. After a swap the
previous collection is kept (a server may still be answering from it) and older ones,
including those of killed builds, are dropped.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BackendError
from ..settings import VectorBackend
from ..store.manifest import VectorIndexInfo
from .ranked import Ranked

PREFIX = "hubsearch-"
BATCH = 512
_LOCAL: dict[str, Any] = {}  # local mode allows one client per folder and process


def index_key(index_dir: Path) -> str:
    return hashlib.sha256(str(index_dir.resolve()).encode()).hexdigest()[:10]


def alias(index_dir: Path) -> str:
    """The alias that names the index's live collection; its collections start with it."""
    return f"{PREFIX}{index_key(index_dir)}"


def client(backend: VectorBackend) -> Any:
    """A qdrant-client for the backend.

    Raises:
        BackendError: qdrant-client is not installed, or the server cannot be reached.
    """
    try:
        from qdrant_client import QdrantClient
    except ImportError:
        raise BackendError("the qdrant backend needs qdrant-client; install it with: pip install 'hubsearch[qdrant]'"
                           ) from None
    if backend.path:
        if backend.path not in _LOCAL:
            if not _LOCAL:
                atexit.register(_close_local)
            try:
                _LOCAL[backend.path] = QdrantClient(path=backend.path)
            except Exception as exc:  # portalocker and friends: another process holds the folder
                raise BackendError(f"cannot open the Qdrant folder {backend.path} ({exc}); local mode serves one "
                                   "process at a time, so stop the other one or use a Qdrant server") from exc
        return _LOCAL[backend.path]
    api_key = backend.api_key or os.environ.get("QDRANT_API_KEY") or None
    qdrant = QdrantClient(url=backend.url, api_key=api_key, timeout=30, check_compatibility=False)
    try:
        qdrant.get_collections()
    except Exception as exc:
        raise BackendError(f"cannot reach Qdrant at {backend.url} ({type(exc).__name__}); start it, or check "
                           "--qdrant-url and QDRANT_API_KEY") from exc
    return qdrant


def _close_local() -> None:
    """Close local-mode clients while the interpreter still can (their __del__ cannot)."""
    while _LOCAL:
        _, local = _LOCAL.popitem()
        try:
            local.close()
        except Exception:  # pragma: no cover - best effort at exit
            pass


def write_collection(backend: VectorBackend, index_dir: Path, vectors: np.ndarray,
                     payloads: Sequence[dict[str, Any]]) -> str:
    """Create a new collection for this index holding `vectors` (point i is passage i) and
    return its name once Qdrant has acknowledged every point."""
    from qdrant_client import models

    qdrant = client(backend)
    name = f"{alias(index_dir)}-{secrets.token_hex(4)}"
    try:
        qdrant.create_collection(name, vectors_config=models.VectorParams(size=int(vectors.shape[1]),
                                                                          distance=models.Distance.DOT))
        for lo in range(0, len(vectors), BATCH):
            hi = min(lo + BATCH, len(vectors))
            qdrant.upsert(name, points=models.Batch(ids=list(range(lo, hi)), vectors=vectors[lo:hi].tolist(),
                                                    payloads=list(payloads[lo:hi])), wait=True)
        stored = qdrant.count(name, exact=True).count
    except BackendError:
        raise
    except Exception as exc:
        raise BackendError(f"Qdrant refused the vectors ({type(exc).__name__}: {str(exc)[:120]})") from exc
    if stored != len(vectors):
        raise BackendError(f"Qdrant holds {stored} of {len(vectors)} points in {name}; build again")
    return name


def write_vectors(backend: VectorBackend, index_dir: Path, vectors: np.ndarray,
                  payloads: Sequence[dict[str, Any]], index_type: str) -> VectorIndexInfo:
    """Write a generation's vectors to a new collection and describe it for the manifest."""
    collection = write_collection(backend, index_dir, vectors, payloads)
    where = {"url": backend.url} if backend.url else {"path": backend.path}
    return VectorIndexInfo("qdrant", index_type, "inner_product", len(vectors), backend="qdrant",
                           qdrant={**where, "collection": collection, "alias": alias(index_dir)})


def publish_alias(backend: VectorBackend, index_dir: Path, collection: str) -> None:
    """Point the index's alias at `collection`, keep the previous collection, drop older ones."""
    from qdrant_client import models

    qdrant = client(backend)
    name = alias(index_dir)
    previous = {a.alias_name: a.collection_name for a in qdrant.get_aliases().aliases}.get(name)
    qdrant.update_collection_aliases(change_aliases_operations=[
        models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=collection, alias_name=name))
    ])
    for existing in qdrant.get_collections().collections:
        if existing.name.startswith(name + "-") and existing.name not in (collection, previous):
            qdrant.delete_collection(existing.name)


class QdrantVectors:
    """The `VectorStore` of a generation whose vectors live in Qdrant. Exact vectors for
    feedback and smoothing are read from the generation's embeddings.npy."""

    kind = "qdrant"

    def __init__(self, backend: VectorBackend, collection: str, exact: np.ndarray) -> None:
        self._qdrant = client(backend)
        self.collection = collection
        self.exact = exact

    @property
    def count(self) -> int:
        return int(self._qdrant.count(self.collection, exact=True).count)

    @property
    def dimension(self) -> int:
        return int(self.exact.shape[1])

    def check(self, expected: int, samples: int = 8) -> str | None:
        """Why the collection does not match the generation, or None when it does."""
        try:
            if not self._qdrant.collection_exists(self.collection):
                return f"the Qdrant collection {self.collection} is gone"
            held = self.count
            if held != expected:
                return f"the Qdrant collection {self.collection} holds {held} points, not {expected}"
            ids = sorted({int(i) for i in np.linspace(0, expected - 1, num=min(samples, expected))}) if expected else []
            for point in self._qdrant.retrieve(self.collection, ids=ids, with_vectors=True):
                if not np.allclose(np.asarray(point.vector, dtype=np.float32), self.exact[int(point.id)], atol=1e-5):
                    return f"point {point.id} of {self.collection} differs from embeddings.npy"
        except BackendError:
            raise
        except Exception as exc:
            raise BackendError(f"cannot read the Qdrant collection {self.collection} ({type(exc).__name__})") from exc
        return None

    def search(self, query: np.ndarray, depth: int, allowed: np.ndarray | None = None) -> Ranked:
        from qdrant_client import models

        where = None
        if allowed is not None:
            where = models.Filter(must=[models.HasIdCondition(has_id=[int(i) for i in allowed])])
        found = self._qdrant.query_points(self.collection, query=np.asarray(query, dtype=np.float32).tolist(),
                                          limit=max(1, depth), query_filter=where).points
        return Ranked([int(p.id) for p in found], [float(p.score) for p in found])

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        from ..store.vectors import read_rows

        return read_rows(self.exact, ids)
