"""Writing an index: build, rebuild, update, watch, and open-or-build on first use.

Each write reads and cuts the documents, embeds what was not embedded before, and
publishes a new generation atomically (see `indexing` and `storage`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import manifest as manifest_io
from . import storage
from .embedding import Embedder
from .errors import (
    HubsearchError,
    IndexDamagedError,
    IndexNotFoundError,
    InvalidInputError,
)
from .generation import backend_of, load
from .index import Index, check_model
from .indexing import BuildReport, ProgressCallback, fault_point, write_generation
from .manifest import Manifest
from .models import ModelRef, find_model_folder, resolve_model
from .settings import DEFAULT_SOURCES, ENGINES, ChunkingConfig, VectorBackend, default_index_dir
from .sources import Document, Skipped, check_exist, load_documents


def _index_dir(path: str | os.PathLike[str] | None) -> Path:
    return Path(path) if path is not None else default_index_dir()


def resolve_roots(paths: Sequence[str | os.PathLike[str]]) -> list[str]:
    """The absolute, de-duplicated source roots an index records."""
    return sorted({str(Path(p).expanduser().resolve()) for p in paths})


def build(
    paths: Sequence[str | os.PathLike[str]] = DEFAULT_SOURCES, path: str | os.PathLike[str] | None = None, *,
    model: str | os.PathLike[str] | None = None, chunking: ChunkingConfig | None = None, index_type: str = "auto",
    precision: str = "auto", embedder: Embedder | None = None, progress: ProgressCallback | None = None,
    wait: float = 0.0, reuse: bool = True, backend: VectorBackend | None = None, engine: str = "local",
    ray_address: str | None = None,
) -> Index:
    """Index the documents under `paths` into the folder `path`; see `Index.build`.
    `engine="ray"` embeds on Ray (at `ray_address`, or a local Ray)."""
    if not paths:
        raise InvalidInputError("no paths to index; pass one or more folders or files")
    _check_engine(engine)
    index_dir = _index_dir(path)
    started = time.perf_counter()
    check_exist(paths)  # before the index folder is created or locked
    with storage.writing(index_dir, wait):  # before any slow work: a second writer fails at once
        requested = resolve_model(model) if embedder is None or model is not None else None
        if embedder is not None and requested is not None:
            check_model(index_dir, embedder.ref, requested)
        docs, skipped = load_documents(paths)
        if progress:
            progress("read", len(docs), len(docs))
        if embedder is None:
            embedder = _engine_embedder(engine, precision, ray_address, model=requested)
        return publish(docs, skipped, resolve_roots(paths), index_dir, embedder, chunking or ChunkingConfig(),
                       index_type, progress, started, reuse=reuse, backend=backend)


def publish(
    docs: list[Document], skipped: list[Skipped], roots: list[str], index_dir: Path, embedder: Embedder,
    config: ChunkingConfig, index_type: str, progress: ProgressCallback | None, started: float,
    *, reuse: bool = True, reuse_documents: bool = False, virtual: bool = False,
    backend: VectorBackend | None = None,
) -> Index:
    """Write `docs` as a new generation, drop older generations, and open the result.
    `index.report` says what the write did. Call it inside `storage.writing`."""
    report = BuildReport(skipped=list(skipped))
    generation = write_generation(
        index_dir, docs, skipped, roots, embedder, config, index_type, progress, report, started,
        reuse=reuse, reuse_documents=reuse_documents, virtual=virtual, backend=backend,
    )
    fault_point("published")
    storage.remove_stale(index_dir, keep=generation)
    # The build's embedder answers queries only when it is exact (fp32); otherwise queries
    # go through the fp32 query path like any later process's would.
    serves = embedder.precision == "fp32" and getattr(embedder, "serves_queries", True)
    index = Index(load(index_dir, generation), embedder if serves else None)
    if backend is not None and backend.kind == "qdrant":
        from .qdrantstore import publish_alias

        publish_alias(backend, index_dir, index.manifest.vector_index.qdrant["collection"])  # type: ignore[index]
    try:
        manifest_io.write_record(index_dir, index.manifest)
    except OSError as exc:  # the new index is live; only a later repair loses its shortcut
        logging.getLogger("hubsearch").warning("could not record the sources beside %s (%s)", index_dir, exc)
    index.report = report
    return index


@dataclass(frozen=True)
class Recorded:
    """The settings an index's manifest records, which rebuilds and updates keep."""

    manifest: Manifest | None  # None when recovered from the record beside CURRENT
    roots: list[str]
    chunking: ChunkingConfig
    model: ModelRef
    index_type: str
    precision: str
    backend: VectorBackend | None = None


def recorded_settings(index_dir: Path, *, check: bool) -> Recorded:
    """Read the live manifest's settings. `check=False` accepts a hand-edited manifest."""
    manifest = manifest_io.read(index_dir, storage.current_generation(index_dir), check=check)
    return Recorded(
        manifest=manifest, roots=list(manifest.corpus.roots), chunking=manifest.chunking, model=manifest.model.ref,
        index_type=manifest.vector_index.requested, precision=manifest.model.precision,
        backend=backend_of(manifest.vector_index.backend, manifest.vector_index.qdrant),
    )


def _from_record(index_dir: Path, damage: IndexDamagedError) -> Recorded:
    data = manifest_io.read_record(index_dir)
    if data is None or data.get("virtual"):
        raise IndexDamagedError(
            f"{damage}; no record of its sources survives, so build it again with: "
            f"hubsearch index build PATHS --index {index_dir}"
        ) from damage
    from .manifest import ModelInfo

    model = ModelInfo(**data["model"])
    return Recorded(None, list(data["roots"]), ChunkingConfig.from_dict(data["chunking"]), model.ref,
                    str(data.get("index_type", "auto")), model.precision,
                    backend_of(data.get("backend"), data.get("qdrant")))


def rebuild(
    path: str | os.PathLike[str] | None = None, *, model: str | os.PathLike[str] | None = None,
    precision: str | None = None, embedder: Embedder | None = None, progress: ProgressCallback | None = None,
    wait: float = 0.0, reuse: bool = True, engine: str = "local", ray_address: str | None = None,
) -> Index:
    """Rebuild the index at `path` from the sources and settings its manifest records.

    Every document is read and cut into passages again; passages whose embedded text is
    unchanged keep their vectors unless `reuse` is False. Works on a damaged index too,
    as long as its manifest can be read. `precision` overrides the recorded precision.

    Raises:
        IndexNotFoundError: There is no index, or its manifest cannot be read.
    """
    index_dir = _index_dir(path)
    try:
        recorded = recorded_settings(index_dir, check=False)
    except IndexDamagedError as exc:  # CURRENT or the manifest is gone: the record beside them
        recorded = _from_record(index_dir, exc)
    if model is None and embedder is None:
        model = _local_model(recorded).path
    return build(
        recorded.roots, index_dir, model=model, chunking=recorded.chunking, index_type=recorded.index_type,
        precision=precision or recorded.precision, embedder=embedder, progress=progress, wait=wait, reuse=reuse,
        backend=recorded.backend, engine=engine, ray_address=ray_address,
    )


def update(
    path: str | os.PathLike[str] | None = None, paths: Sequence[str | os.PathLike[str]] | None = None, *,
    embedder: Embedder | None = None, progress: ProgressCallback | None = None, wait: float = 0.0,
    engine: str = "local", ray_address: str | None = None,
) -> Index:
    """Bring the index at `path` up to date with its sources.

    Documents are compared by SHA-256 with the manifest: new and changed ones are cut into
    passages and embedded, unchanged ones keep their passages and vectors, removed ones
    are dropped, on the dense and the lexical side alike. The model, precision, chunking
    and index type are the recorded ones. `index.report` says what changed.

    Args:
        paths: The folders or files to index; default: the recorded roots.

    Raises:
        IndexNotFoundError: There is no index yet (build one first).
    """
    _check_engine(engine)
    index_dir = _index_dir(path)
    started = time.perf_counter()
    recorded = recorded_settings(index_dir, check=True)
    roots = [str(p) for p in paths] if paths else recorded.roots
    if recorded.manifest is not None and recorded.manifest.corpus.virtual:
        raise InvalidInputError(
            f"index at {index_dir} was built by hubsearch eval from a BEIR collection; run hubsearch eval again"
        )
    with storage.writing(index_dir, wait):
        docs, skipped = load_documents(roots)
        if progress:
            progress("read", len(docs), len(docs))
        if embedder is None:
            embedder = _engine_embedder(engine, recorded.precision, ray_address, recorded=recorded)
        return publish(docs, skipped, resolve_roots(roots), index_dir, embedder,
                       recorded.chunking, recorded.index_type, progress, started, reuse=True,
                       reuse_documents=True, backend=recorded.backend)


def _check_engine(engine: str) -> None:
    if engine not in ENGINES:
        raise InvalidInputError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")


def _engine_embedder(engine: str, precision: str, ray_address: str | None, *, model: ModelRef | None = None,
                     recorded: Recorded | None = None) -> Embedder:
    """The embedder a build (of `model`) or an update (`recorded`: the index's settings)
    runs: on Ray for engine "ray"; else the local model, which an update loads only once
    something needs embedding."""
    if engine == "ray":
        from .rayengine import RayEmbedder

        return RayEmbedder(model if recorded is None else _local_model(recorded), precision, ray_address)
    if recorded is not None:
        return recorded_embedder(recorded)
    from . import embedding

    return embedding.load_embedder(model, precision)


def recorded_embedder(recorded: Recorded) -> Embedder:
    """The build embedder an index's manifest names; the model itself loads on first use."""
    from .embedding import LazyEmbedder

    assert recorded.manifest is not None  # update and watch read a verified manifest
    return LazyEmbedder(_local_model(recorded), recorded.precision, recorded.manifest.model.dimension)


def _local_model(recorded: Recorded) -> ModelRef:
    """The recorded model, at the folder where it is found on this machine now."""
    ref = recorded.model
    return ModelRef(ref.name, str(find_model_folder(ref)), ref.sha256, ref.max_seq_length)


def watch(
    path: str | os.PathLike[str] | None = None, paths: Sequence[str | os.PathLike[str]] | None = None, *,
    embedder: Embedder | None = None, debounce_ms: int = 800, stop_event: Any = None,
    progress: ProgressCallback | None = None,
) -> Iterator[BuildReport | HubsearchError]:
    """Update the index at `path` now and after every change under its sources.

    Yields the report of each update, or the `HubsearchError` that stopped one (the
    watch goes on). Stops when `stop_event` (a threading.Event) is set.

    Args:
        paths: Folders or files to watch and index; default: the recorded roots.
        debounce_ms: Changes within this window are handled as one update.
    """
    import watchfiles

    from .sources import SUPPORTED_SUFFIXES

    index_dir = _index_dir(path)
    recorded = recorded_settings(index_dir, check=True)
    roots = [str(p) for p in paths] if paths else recorded.roots
    embedder = embedder or recorded_embedder(recorded)

    def one() -> BuildReport | HubsearchError:
        try:
            with update(index_dir, roots, embedder=embedder, progress=progress) as index:
                assert index.report is not None
                return index.report
        except HubsearchError as exc:
            return exc

    yield one()
    watched = [r for r in roots if Path(r).exists()]
    for _ in watchfiles.watch(
        *watched, debounce=debounce_ms, stop_event=stop_event, raise_interrupt=False,
        watch_filter=lambda change, name: name.lower().endswith(SUPPORTED_SUFFIXES),
    ):
        yield one()


def open_or_build(
    path: str | os.PathLike[str] | None = None, *, sources: Sequence[str | os.PathLike[str]] = DEFAULT_SOURCES,
    model: str | os.PathLike[str] | None = None, progress: ProgressCallback | None = None,
) -> tuple[Index, bool]:
    """Open the index at `path`; if there is none, build it from `sources` first.

    Returns:
        The index, and whether it was just built.
    """
    try:
        return Index.open(path, model=model), False
    except IndexNotFoundError:
        if not all(Path(s).exists() for s in sources):
            raise
    return build(sources, path, model=model, progress=progress), True
