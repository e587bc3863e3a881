"""The facade a library user calls: the `Index` class and the writes that make one.

    from hubsearch import Index
    idx = Index.build(["seeds/"], path="index/")
    for hit in idx.search("Xuhui incubator size", k=5):
        print(hit.rank, hit.score, hit.doc_id, hit.text)

It only delegates: `retrieval.generation` opens and verifies the files, `query.pipeline`
ranks, `query.explain` describes, `indexer` writes. Nothing here prints or exits;
failures raise `HubsearchError` subclasses.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .embed.models import check_model, resolve_model
from .errors import (
    DocumentNotFoundError,
    HubsearchError,
    IndexNotFoundError,
    SourceError,
)
from .records import BuildReport, DocumentText, Hit, ModelRef, ProgressCallback
from .request import SearchRequest, SearchResponse, validate_k, validate_query
from .retrieval.generation import Generation, open_live
from .settings import DEFAULT_SOURCES, BuildOptions, SearchConfig, default_index_dir
from .store.manifest import Manifest
from .store.vectors import fast_widening

DOC_IDS_HINT = "search results, `hubsearch docs` and GET /documents show the doc_ids"

if TYPE_CHECKING:
    from .embed.base import Embedder
    from .query.pipeline import Pipeline, Trace

PathLike = str | os.PathLike[str]


class Index:
    """A searchable index of passages, stored in a folder.

    Create one with `Index.build` or `Index.open`; both take the folder as `path`
    (default: `$HUBSEARCH_INDEX` or `index/`).
    """

    def __init__(self, generation: Generation, embedder: Embedder | None = None, warm: bool = False) -> None:
        self._generation = generation
        self._embedder = embedder
        self._warm = warm
        self._pipeline: Pipeline | None = None
        self._declared: dict[str, dict[str, Any]] | None = None

    @property
    def path(self) -> Path:
        return self._generation.index_dir

    @property
    def generation(self) -> Path:
        """The folder of the generation this index reads."""
        return self._generation.path

    @property
    def manifest(self) -> Manifest:
        return self._generation.manifest

    @property
    def model(self) -> ModelRef:
        return self.manifest.model.ref

    # --- construction -------------------------------------------------------------------

    @classmethod
    def build(cls, paths: Sequence[PathLike] = DEFAULT_SOURCES, path: PathLike | None = None,
              options: BuildOptions | None = None, *, embedder: Embedder | None = None,
              progress: ProgressCallback | None = None) -> "Index":
        """Index the documents under `paths` into the folder `path`, replacing what is
        there, and open the result. `build` does the same and returns its `BuildReport`.

        Args:
            paths: Folders (searched recursively) or files to index.
            path: The index folder.
            options: How to build; see `BuildOptions`.
            embedder: An embedder to use instead of loading the model (tests pass a fake).
            progress: Called as work advances; see `ProgressCallback`.

        Raises:
            HubsearchError: Bad paths, no documents, a model that cannot load, a busy index.
        """
        from .indexer.lifecycle import build as write

        written = write(paths, _folder(path), options or BuildOptions(), embedder=embedder, progress=progress)
        return cls.open(written.report.index, embedder=written.query_embedder)

    @classmethod
    def open(cls, path: PathLike | None = None, *, model: PathLike | None = None,
             embedder: Embedder | None = None, warm: bool = False) -> "Index":
        """Open an existing index. The manifest decides which model embeds queries.

        Args:
            path: The index folder.
            model: If given, must name the model the index was built with.
            embedder: A ready embedder for the index's model (tests pass a fake).
            warm: Load the query model for a process that answers many queries, as
                `hubsearch serve` does: each query's forward pass is about twice as fast,
                the first query slower.

        Raises:
            IndexNotFoundError: There is no index at `path`.
            IndexDamagedError: Files are missing, truncated, corrupt or inconsistent.
            ModelMismatchError: `model` or `embedder` differs from the index's model.
        """
        index = cls(open_live(_folder(path)), embedder, warm)
        if warm:
            fast_widening()
        if model is not None:
            check_model(index.path, index.model, resolve_model(model))
        if embedder is not None:
            check_model(index.path, index.model, embedder.ref)
        return index

    # --- reading ------------------------------------------------------------------------

    @property
    def embedder(self) -> Embedder:
        """The query embedder for this index's model, loaded on first use."""
        if self._embedder is None:
            from .embed.factory import query_embedder

            self._embedder = query_embedder(self.model, self._warm)
        return self._embedder

    @property
    def pipeline(self) -> Pipeline:
        if self._pipeline is None:
            from .query.pipeline import Pipeline

            self._pipeline = Pipeline(self._generation, lambda: self.embedder)
        return self._pipeline

    def answer(self, request: SearchRequest) -> SearchResponse:
        """What every front door calls: the hits for one validated request.

        Raises:
            DocumentNotFoundError: A `doc_ids` filter names a document the index lacks.
        """
        if request.doc_ids:
            known = {s.doc_id for s in self.manifest.sources}
            unknown = [d for d in request.doc_ids if d not in known]
            if unknown:
                raise DocumentNotFoundError(
                    f"no document {unknown[0]!r} in the index at {self.path}"
                    + (f" (nor {len(unknown) - 1} more of the doc_ids asked for)" if len(unknown) > 1 else "")
                    + f"; {DOC_IDS_HINT}"
                )
        from .query.relevance import WEAK

        hits = self.search(request.q, request.k, config=request.config, explain=request.explain)
        weak = bool(hits) and hits[0].relevance is not None and hits[0].relevance < WEAK
        return SearchResponse(request.q, hits, weak)

    def search(self, query: str, k: int = 5, *, config: SearchConfig | None = None, mode: str | None = None,
               explain: bool = False) -> list[Hit]:
        """The `k` passages that best match `query`, best first.

        Args:
            query: Natural-language text.
            k: How many passages.
            config: Query-time settings; see `SearchConfig`.
            mode: Shorthand that overrides `config.mode`.
            explain: Attach each side's rank and score, and the fusion, to every hit.

        Raises:
            InvalidInputError: The query is empty or too long, k is out of range, or the
                mode is unknown.
        """
        hits, trace = self.trace(query, k, config=config, mode=mode)
        declared = self._generation.passages.declared([h.doc_id for h in hits])
        if declared is None:  # an index of format 3 or older: from the manifest's sources
            declared = self.declared()
        if declared:
            hits = [replace(h, meta=declared.get(h.doc_id)) for h in hits]
        if not explain:
            return hits
        from .query.explain import explain_hits

        return [replace(hit, explain=e) for hit, e in zip(hits, explain_hits(trace, [h.chunk_id for h in hits], [h.score for h in hits]))]

    def trace(self, query: str, k: int = 5, *, config: SearchConfig | None = None,
              mode: str | None = None) -> tuple[list[Hit], Trace]:
        """Like `search`, and also the `Trace` of what the pipeline ran."""
        query, k = validate_query(query), validate_k(k)
        config = (config or SearchConfig()).with_mode(mode)
        if config.filters.tags or config.filters.where:
            from .query.declared import resolve

            config = replace(config, filters=resolve(config.filters, self.manifest.sources))
        return self.pipeline.run(query, k, config)

    def document(self, doc_id: str) -> DocumentText:
        """One indexed document's text (for HTML and PDF, the extracted text) and its
        passages' offsets into it. Only documents the manifest records can be read, so a
        doc_id can never name a file outside the indexed folders.

        Raises:
            DocumentNotFoundError: The index holds no such document.
            SourceError: Its file is gone or changed since it was indexed.
        """
        from .ingest.files import SourceFile, read_document

        record = next((s for s in self.manifest.sources if s.doc_id == doc_id), None)
        if record is None:
            raise DocumentNotFoundError(
                f"no document {doc_id!r} in the index at {self.path}; {DOC_IDS_HINT}"
            )
        if self.manifest.corpus.virtual:
            raise SourceError(f"the index at {self.path} was built by hubsearch eval and keeps no document files")
        path = record.file
        found = read_document(SourceFile(path, Path(record.root)))
        if found is None or found.sha256 != record.sha256:
            raise SourceError(
                f"{path} is gone or changed since it was indexed; bring the index up to date with: "
                f"hubsearch index update --index {self.path}"
            )
        passages = [(p.id, p.start, p.end) for p in self._generation.passages.doc_passages(doc_id)]
        return DocumentText(doc_id, record.source, record.title, record.date, found.text, passages)

    def declared(self) -> dict[str, dict[str, Any]]:
        """What each document declares about itself (front matter fields), by doc_id; only
        documents that declare something."""
        if self._declared is None:
            self._declared = {s.doc_id: s.meta for s in self.manifest.sources if s.meta}
        return self._declared

    def documents(self) -> list[dict[str, Any]]:
        """Every indexed document, by doc_id: doc_id, title, date, source (relative to its
        root) and path (the file)."""
        return [{"doc_id": s.doc_id, "title": s.title, "date": s.date, "source": s.source,
                 "path": str(s.file) if s.root else None}
                for s in sorted(self.manifest.sources, key=lambda s: s.doc_id)]

    def roots(self, doc_ids: Sequence[str]) -> dict[str, str]:
        """doc_id -> the folder each of these documents was indexed from (its file is
        root / source)."""
        return self._generation.passages.roots(doc_ids)

    def passage_documents(self) -> list[str]:
        """The doc_id of every passage, indexed by passage id (`Hit.chunk_id`)."""
        return self._generation.passages.doc_ids()

    def changes(self) -> dict[str, int]:
        """How the sources differ from what the index holds: {"new", "changed", "removed"}.

        Cheap: files whose size and modification time match the manifest are not read;
        the others are hashed, so a touched but unchanged file does not count.
        """
        from .ingest.files import compare_sources

        return compare_sources(self.manifest.corpus, self.manifest.sources, self.manifest.skipped)

    def info(self) -> dict[str, Any]:
        """What the index holds and how it was built, as plain data."""
        from .store.generations import orphaned, unfinished

        m = self.manifest.to_dict()
        keys = ("corpus", "model", "chunking", "vector_index", "built", "versions", "skipped")
        return {"index": str(self.path), "generation": self.generation.name, **{k: m[k] for k in keys},
                "unfinished": unfinished(self.path), "orphaned": orphaned(self.path, self.generation.name)}

    def close(self) -> None:
        self._generation.close()

    def __enter__(self) -> "Index":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _folder(path: PathLike | None) -> Path:
    return Path(path) if path is not None else default_index_dir()


# --- writes ---------------------------------------------------------------------------


def build(paths: Sequence[PathLike] = DEFAULT_SOURCES, path: PathLike | None = None,
          options: BuildOptions | None = None, *, embedder: Embedder | None = None,
          progress: ProgressCallback | None = None) -> BuildReport:
    """Index the documents under `paths` into the folder `path`, replacing what is there
    once the new index is complete. Arguments as for `Index.build`.

    Returns:
        What the build did; `Index.open(report.index)` searches the result.
    """
    from .indexer.lifecycle import build as write

    return write(paths, _folder(path), options or BuildOptions(), embedder=embedder, progress=progress).report


def rebuild(path: PathLike | None = None, *, model: PathLike | None = None, precision: str | None = None,
            reuse: bool = True, engine: str = "local", ray_address: str | None = None, wait: float = 0.0,
            embedder: Embedder | None = None, progress: ProgressCallback | None = None) -> BuildReport:
    """Rebuild the index at `path` from the sources and settings its manifest records.

    Every document is read and cut into passages again; passages whose embedded text is
    unchanged keep their vectors unless `reuse` is False. Works on a damaged index too,
    as long as its manifest (or the record of its sources) can be read. `model` and
    `precision` replace the recorded ones.

    Raises:
        IndexNotFoundError: There is no index, or no record of its sources survives.
    """
    from .indexer import lifecycle

    overrides = {"precision": precision, "reuse": reuse, "engine": engine, "ray_address": ray_address,
                 "wait": wait, **({"model": str(model)} if model is not None else {})}
    return lifecycle.rebuild(_folder(path), overrides, embedder=embedder, progress=progress).report


def update(path: PathLike | None = None, paths: Sequence[PathLike] | None = None, *, engine: str = "local",
           ray_address: str | None = None, wait: float = 0.0, embedder: Embedder | None = None,
           progress: ProgressCallback | None = None, verify: bool = False) -> BuildReport:
    """Bring the index at `path` up to date with its sources.

    A file whose size and modification time match the manifest's record is taken as
    unchanged without being read; the others are read and compared by SHA-256: new and
    changed ones are cut into passages and embedded, unchanged ones keep their passages
    and vectors, removed ones are dropped, on the dense and the lexical side alike. The
    model, precision, chunking and index type are the recorded ones.

    Args:
        paths: The folders or files to index; default: the recorded roots.
        verify: Read and hash every file, trusting no size or modification time (for
            files rewritten with their old time, e.g. by some sync tools).

    Raises:
        IndexNotFoundError: There is no index yet (build one first).
    """
    from .indexer import lifecycle

    return lifecycle.update(_folder(path), paths, engine=engine, ray_address=ray_address, wait=wait,
                            embedder=embedder, progress=progress, verify=verify).report


def watch(path: PathLike | None = None, paths: Sequence[PathLike] | None = None, *,
          embedder: Embedder | None = None, debounce_ms: int = 800, stop_event: Any = None,
          progress: ProgressCallback | None = None) -> Iterator[BuildReport | HubsearchError]:
    """Update the index at `path` now and after every change under its sources.

    Yields the report of each update, or the `HubsearchError` that stopped one (the
    watch goes on). Stops when `stop_event` (a threading.Event) is set.

    Args:
        paths: Folders or files to watch and index; default: the recorded roots.
        debounce_ms: Changes within this window are handled as one update.
    """
    from .indexer import lifecycle

    return lifecycle.watch(_folder(path), paths, embedder=embedder, debounce_ms=debounce_ms, stop_event=stop_event,
                           progress=progress)


def open_or_build(path: PathLike | None = None, *, sources: Sequence[PathLike] = DEFAULT_SOURCES,
                  model: PathLike | None = None,
                  progress: ProgressCallback | None = None) -> tuple[Index, BuildReport | None]:
    """Open the index at `path`; if there is none and `sources` exist, build it first.

    Returns:
        The index, and the report of the build (None when it was only opened).
    """
    try:
        return Index.open(path, model=model), None
    except IndexNotFoundError:
        if not all(Path(s).exists() for s in sources):
            raise
    from .indexer.lifecycle import build as write

    options = BuildOptions(model=str(model) if model is not None else None)
    written = write(sources, _folder(path), options, progress=progress)
    return Index.open(written.report.index, embedder=written.query_embedder), written.report
