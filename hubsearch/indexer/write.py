"""Turning documents into a new index generation on disk.

Cuts documents into passages, embeds what was not embedded before (reusing vectors from
the live generation when the model and precision match and its files check out), builds
the FAISS and BM25 sides, writes the passage store and publishes it all atomically.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..embed.base import Embedder
from ..errors import IndexWriteError
from ..ingest.files import SourceFile, read_document
from ..records import (
    BuildReport,
    Document,
    DocumentRow,
    ProgressCallback,
    Skipped,
)
from ..retrieval.lexical import LexicalIndex
from ..retrieval.vectors import VectorIndex
from ..settings import ChunkingConfig, LexicalConfig, VectorBackend
from ..store import generations
from ..store import manifest as manifest_io
from ..store.generations import EMBEDDINGS, LEXICAL, PASSAGES, VECTORS
from ..store.manifest import (
    BuildInfo,
    CorpusInfo,
    Manifest,
    ModelInfo,
    SourceRecord,
    VectorIndexInfo,
)
from ..store.passages import write_passage_store
from .assemble import assemble, previous_generation, recorded_hashes

log = logging.getLogger("hubsearch")

def versions() -> dict[str, str]:
    """Versions of the libraries that shape an index, for the manifest."""
    # Imported here: only builds need it, and importing it costs a query ~15 ms.
    from importlib import metadata

    out = {}
    for dist in ("hubsearch", "faiss-cpu", "numpy", "sentence-transformers", "transformers", "torch", "tokenizers"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


@dataclass(frozen=True)
class WriteJob:
    """One write of a new generation: the documents and how to index them.

    Attributes:
        index_dir: The index folder.
        docs, skipped: The documents read, and the files that could not be.
        roots: The source folders the manifest records.
        chunking, index_type, backend: How to cut, index and serve the passages.
        reuse: Take vectors of passages embedded before from the live generation.
        reuse_documents: Keep an unchanged document's passages as they are (update).
        virtual: The documents come from a BEIR collection, not from files.
        started: `time.perf_counter()` when the write began, for the report.
        include, exclude: The file patterns the documents were chosen by (recorded).
    """

    index_dir: Path
    docs: list[Document]
    skipped: list[Skipped]
    roots: list[str]
    chunking: ChunkingConfig
    index_type: str = "auto"
    backend: VectorBackend = field(default_factory=VectorBackend)
    reuse: bool = True
    reuse_documents: bool = False
    virtual: bool = False
    started: float = field(default_factory=time.perf_counter)
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


def _read(doc: Document) -> Document:
    """An unread document read after all: its passages cannot be taken from the live
    generation (the chunking or the model changed)."""
    found = read_document(SourceFile(doc.file, Path(doc.root)))
    if found is None:
        raise IndexWriteError(f"{doc.root}/{doc.source} could not be read again during the update; "
                              "run hubsearch index update again")
    return found


def write_generation(job: WriteJob, embedder: Embedder, progress: ProgressCallback | None) -> BuildReport:
    """Write a new generation holding `job.docs` and publish it.

    Progress stages, in order: "embed" and "sentences" (see `assemble`), "write" (0 of
    1: writing files; 1 of 1: all written), "publish" (0 of 1: the generation is in
    place and CURRENT about to move; 1 of 1: it is live).
    """
    index_dir, docs, config = job.index_dir, job.docs, job.chunking
    if job.reuse:
        previous, old_sha = previous_generation(index_dir, embedder)
    else:
        previous, old_sha = None, recorded_hashes(index_dir)[2]
    same_chunking = previous is not None and previous.manifest.chunking == config
    if any(d.unread for d in docs):  # an update skipped files that match their records
        keeps = job.reuse_documents and same_chunking and previous is not None
        docs = [d if not d.unread or (keeps and previous.doc_sha.get(d.doc_id) == d.sha256) else _read(d)
                for d in docs]
    before = _embedders_of(previous.manifest) if previous is not None else []
    previous_lexical = previous.generation / LEXICAL if previous is not None else None
    try:
        assembled = assemble(docs, embedder, config, previous, job.reuse_documents and same_chunking, progress)
    finally:
        if previous is not None:
            previous.close()
    embedders = set(before) if assembled.reused else set()
    if assembled.embedded or assembled.sentences_embedded:
        embedders.add(embedder.engine)
    passages, vectors = assembled.passages, assembled.vectors
    if progress:
        progress("write", 0, 1)
    # Roughly what the new generation takes on disk, for a full-disk message.
    needed = 2 * vectors.nbytes + assembled.sentences.vectors.nbytes + 3 * sum(len(p.text) for p in passages)
    try:
        writer = generations.GenerationWriter(index_dir)
    except OSError as exc:
        raise generations.write_error(index_dir, exc, needed) from exc
    try:
        np.save(writer.file(EMBEDDINGS), vectors)
        if job.backend.kind == "qdrant":
            from ..retrieval.qdrant import write_vectors

            doc_meta = {d.doc_id: (d.date, d.source) for d in docs}
            payloads = [{"doc_id": p.doc_id, "chunk_id": p.id, "date": doc_meta[p.doc_id][0],
                         "source": doc_meta[p.doc_id][1]} for p in passages]
            vector_info, vector_files = write_vectors(job.backend, index_dir, vectors, payloads, job.index_type), []
        else:
            vindex = VectorIndex.build(vectors, job.index_type)
            vindex.save(writer.file(VECTORS))
            vector_info = VectorIndexInfo(vindex.kind, job.index_type, "inner_product", vindex.count)
            vector_files = [VECTORS]
        lexical_config = LexicalConfig()
        # BM25 sees the passage alone: a title repeated on every passage of a document would
        # skew its term and length statistics. The dense side gets the title prefix.
        lexical = LexicalIndex.build([p.text for p in passages], lexical_config, previous=previous_lexical,
                                     rows=assembled.same_text)
        lexical_files = lexical.save(writer.file(LEXICAL))
        sentence_files = assembled.sentences.save(writer.path)
        write_passage_store(
            writer.file(PASSAGES),
            [DocumentRow(d.doc_id, d.source, d.root, d.sha256, d.title, d.date, d.chars, dict(d.meta)) for d in docs],
            passages,
        )
        if progress:
            progress("write", 1, 1)
        seconds = time.perf_counter() - job.started
        manifest = Manifest(
            built=BuildInfo(datetime.now(timezone.utc).isoformat(timespec="seconds"), round(seconds, 3),
                            assembled.embedded, assembled.reused, sorted(embedders)),
            model=ModelInfo(**embedder.ref.to_dict(), dimension=int(vectors.shape[1]), normalized=True,
                            precision=embedder.precision),
            chunking=config,
            lexical=lexical_config,
            vector_index=vector_info,
            corpus=CorpusInfo(job.roots, len(docs), len(passages), job.virtual, list(job.include),
                              list(job.exclude)),
            sources=[SourceRecord(d.doc_id, d.source, d.root, d.sha256, d.size, d.mtime_ns, d.title, d.date, dict(d.meta))
                     for d in docs],
            skipped=list(job.skipped),
            versions=versions(),
        )
        files = [*vector_files, EMBEDDINGS, PASSAGES, *sentence_files, manifest_io.write_lists(writer.path, manifest)]
        files += [f"{LEXICAL}/{p.name}" for p in lexical_files]

        def swapping() -> None:  # the generation is in place; CURRENT moves next
            _record_sources(index_dir, manifest)
            if progress:
                progress("publish", 0, 1)

        generation = writer.publish(manifest, files, pause=swapping)
    except (OSError, sqlite3.Error) as exc:
        writer.discard()
        raise generations.write_error(index_dir, exc, needed) from exc
    except BaseException:
        writer.discard()
        raise
    current = {d.doc_id: d.sha256 for d in docs}
    return BuildReport(
        index=str(index_dir), generation=generation.name, documents=len(docs), passages=len(passages),
        new=sum(1 for d in current if d not in old_sha),
        changed=sum(1 for d, sha in current.items() if d in old_sha and old_sha[d] != sha),
        unchanged=sum(1 for d, sha in current.items() if old_sha.get(d) == sha),
        removed=sum(1 for d in old_sha if d not in current),
        embedded=assembled.embedded, reused=assembled.reused, sentences=assembled.sentences_embedded,
        skipped=list(job.skipped), seconds=seconds,
    )



def _record_sources(index_dir: Path, manifest: Manifest) -> None:
    """Write SOURCES.json before CURRENT moves, so that a kill between the two never leaves
    a record of the previous sources beside the new generation."""
    try:
        manifest_io.write_record(index_dir, manifest)
    except OSError as exc:  # only a later repair of a damaged index loses its shortcut
        logging.getLogger("hubsearch").warning("could not record the sources beside %s (%s)", index_dir, exc)


def _embedders_of(manifest: Manifest) -> list[str]:
    """What computed a generation's vectors (a generation written before this was recorded:
    sentence-transformers at the index's precision)."""
    return manifest.built.embedders or [f"sentence-transformers {manifest.model.precision}"]
