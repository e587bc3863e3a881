"""The `Index` facade: what a library user calls.

    from hubsearch import Index
    idx = Index.build(["seeds/"], path="index/")
    for hit in idx.search("Xuhui incubator size", k=5):
        print(hit.rank, hit.score, hit.doc_id, hit.text)

It only delegates: `generation` opens and verifies the files, `pipeline` ranks,
`explain` describes, `lifecycle` writes. Nothing here prints or exits; failures raise
`HubsearchError` subclasses.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ModelMismatchError
from .generation import Generation, open_live
from .manifest import Manifest
from .models import ModelRef, resolve_model
from .passages import Hit
from .settings import (
    DEFAULT_SOURCES,
    ChunkingConfig,
    SearchConfig,
    VectorBackend,
    default_index_dir,
    validate_k,
    validate_query,
)

if TYPE_CHECKING:
    from .embedding import Embedder
    from .indexing import BuildReport, ProgressCallback
    from .pipeline import Pipeline, Trace

@dataclass(frozen=True)
class DocumentText:
    """An indexed document: its text and the (chunk_id, start, end) of its passages."""

    doc_id: str
    source: str
    title: str | None
    date: str | None
    text: str
    passages: list[tuple[int, int, int]]

    def to_dict(self) -> dict[str, Any]:
        return {"doc_id": self.doc_id, "source": self.source, "title": self.title, "date": self.date,
                "text": self.text,
                "passages": [{"chunk_id": c, "start": a, "end": b} for c, a, b in self.passages]}


class Index:
    """A searchable index of passages, stored in a folder.

    Create one with `Index.build` or `Index.open`; both take the folder as `path`
    (default: `$HUBSEARCH_INDEX` or `index/`).
    """

    def __init__(self, generation: Generation, embedder: Embedder | None = None) -> None:
        self._generation = generation
        self._embedder = embedder
        self._pipeline: Pipeline | None = None
        self.report: BuildReport | None = None

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
    def build(
        cls, paths: Sequence[str | os.PathLike[str]] = DEFAULT_SOURCES, path: str | os.PathLike[str] | None = None,
        *, model: str | os.PathLike[str] | None = None, chunking: ChunkingConfig | None = None,
        index_type: str = "auto", precision: str = "auto", embedder: Embedder | None = None,
        progress: ProgressCallback | None = None, wait: float = 0.0, reuse: bool = True,
        backend: VectorBackend | None = None, engine: str = "local", ray_address: str | None = None,
    ) -> "Index":
        """Index the documents under `paths` into the folder `path`, replacing what is there.

        Args:
            paths: Folders (searched recursively) or files to index.
            path: The index folder.
            model: A local sentence-transformers folder; default all-MiniLM-L6-v2.
            chunking: Passage settings.
            index_type: FAISS index type, or "auto" to choose from the corpus size.
            precision: Embedding precision: "auto" (bf16 where the CPU has AMX or
                AVX-512 BF16, else fp32), "fp32", "bf16" or "int8".
            embedder: An embedder to use instead of loading `model` (tests pass a fake).
            progress: Called as work advances; see `ProgressCallback`.
            wait: Seconds to wait for another writer to finish.
            reuse: Take the vectors of passages embedded before (same model, precision and
                text) from the index being replaced instead of embedding them again.
            backend: Where the vectors are served from: FAISS files (default) or Qdrant.
            engine: "local", or "ray" to embed on a Ray cluster (`ray_address`, or a local Ray).

        Raises:
            HubsearchError: Bad paths, no documents, a model that cannot load, a busy index.
        """
        from .lifecycle import build

        return build(paths, path, model=model, chunking=chunking, index_type=index_type, precision=precision,
                     embedder=embedder, progress=progress, wait=wait, reuse=reuse, backend=backend,
                     engine=engine, ray_address=ray_address)

    @classmethod
    def open(
        cls, path: str | os.PathLike[str] | None = None, *, model: str | os.PathLike[str] | None = None,
        embedder: Embedder | None = None,
    ) -> "Index":
        """Open an existing index. The manifest decides which model embeds queries.

        Args:
            path: The index folder.
            model: If given, must name the model the index was built with.
            embedder: A ready embedder for the index's model (tests pass a fake).

        Raises:
            IndexNotFoundError: There is no index at `path`.
            IndexDamagedError: Files are missing, truncated, corrupt or inconsistent.
            ModelMismatchError: `model` or `embedder` differs from the index's model.
        """
        index = cls(open_live(Path(path) if path is not None else default_index_dir()), embedder)
        if model is not None:
            check_model(index.path, index.model, resolve_model(model))
        if embedder is not None:
            check_model(index.path, index.model, embedder.ref)
        return index

    def rebuild(self, *, model: str | os.PathLike[str] | None = None, embedder: Embedder | None = None,
                progress: ProgressCallback | None = None, wait: float = 0.0) -> "Index":
        """Build the index again from the sources and settings in its manifest (see
        `lifecycle.rebuild`); `model` replaces the recorded model."""
        from .lifecycle import rebuild

        return rebuild(self.path, model=model, embedder=embedder, progress=progress, wait=wait)

    # --- reading ------------------------------------------------------------------------

    @property
    def embedder(self) -> Embedder:
        """The query embedder for this index's model, loaded on first use."""
        if self._embedder is None:
            from .onnxpath import query_embedder

            self._embedder = query_embedder(self.model)
        return self._embedder

    @property
    def pipeline(self) -> Pipeline:
        if self._pipeline is None:
            from .pipeline import Pipeline

            self._pipeline = Pipeline(self._generation, lambda: self.embedder)
        return self._pipeline

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
            InvalidInputError: The query is empty, k is below 1, or the mode is unknown.
        """
        hits, trace = self.trace(query, k, config=config, mode=mode)
        if not explain:
            return hits
        from .explain import explain_hits

        return [replace(hit, explain=e) for hit, e in zip(hits, explain_hits(trace, [h.chunk_id for h in hits]))]

    def trace(self, query: str, k: int = 5, *, config: SearchConfig | None = None,
              mode: str | None = None) -> tuple[list[Hit], Trace]:
        """Like `search`, and also the `Trace` of what the pipeline ran."""
        query, k = validate_query(query), validate_k(k)
        return self.pipeline.run(query, k, (config or SearchConfig()).with_mode(mode))

    def document(self, doc_id: str) -> DocumentText:
        """One indexed document's text (for HTML and PDF, the extracted text) and its
        passages' offsets into it. Only documents the manifest records can be read, so a
        doc_id can never name a file outside the indexed folders.

        Raises:
            DocumentNotFoundError: The index holds no such document.
            SourceError: Its file is gone or changed since it was indexed.
        """
        from pathlib import PurePosixPath

        from .errors import DocumentNotFoundError, SourceError
        from .sources import SourceFile, read_documents

        record = next((s for s in self.manifest.sources if s.doc_id == doc_id), None)
        if record is None:
            raise DocumentNotFoundError(
                f"no document {doc_id!r} in the index at {self.path}; doc_ids are shown by hubsearch query"
            )
        if self.manifest.corpus.virtual:
            raise SourceError(f"the index at {self.path} was built by hubsearch eval and keeps no document files")
        root = Path(record.root)
        path = root.joinpath(*PurePosixPath(record.source).parts)
        found = next(read_documents([SourceFile(path, root)]))
        if getattr(found, "sha256", None) != record.sha256:
            raise SourceError(
                f"{path} is gone or changed since it was indexed; bring the index up to date with: "
                f"hubsearch index update --index {self.path}"
            )
        passages = [(p.id, p.start, p.end) for p in self._generation.passages.doc_passages(doc_id)]
        return DocumentText(doc_id, record.source, record.title, record.date, found.text, passages)  # type: ignore[union-attr]

    def passage_documents(self) -> list[str]:
        """The doc_id of every passage, indexed by passage id (`Hit.chunk_id`)."""
        return self._generation.passages.doc_ids()

    def changes(self) -> dict[str, int]:
        """How the sources differ from what the index holds: {"new", "changed", "removed"}.

        Cheap: files whose size and modification time match the manifest are not read;
        the others are hashed, so a touched but unchanged file does not count.
        """
        from .sources import compare_sources

        return compare_sources(self.manifest.corpus, self.manifest.sources, self.manifest.skipped)

    def info(self) -> dict[str, Any]:
        """What the index holds and how it was built, as plain data."""
        from .storage import unfinished

        m = self.manifest.to_dict()
        keys = ("corpus", "model", "chunking", "vector_index", "built", "versions", "skipped")
        return {"index": str(self.path), "generation": self.generation.name, **{k: m[k] for k in keys},
                "unfinished": unfinished(self.path)}

    def close(self) -> None:
        self._generation.close()

    def __enter__(self) -> "Index":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_model(index_dir: Path, recorded: ModelRef, requested: ModelRef) -> None:
    """Raises ModelMismatchError unless `requested` is the model the index was built with."""
    if recorded.sha256 != requested.sha256:
        raise ModelMismatchError(
            f"index at {index_dir} was built with model {recorded.name} ({recorded.path}), "
            f"not {requested.name} ({requested.path}); query without --model, or rebuild with: "
            f"hubsearch index rebuild --model {requested.path} --index {index_dir}"
        )
