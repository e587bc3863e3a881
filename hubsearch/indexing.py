"""Turning documents into a new index generation on disk.

Cuts documents into passages, embeds what was not embedded before (reusing vectors from
the live generation when the model and precision match and its files check out), builds
the FAISS and BM25 sides, writes the passage store and publishes it all atomically.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from . import manifest as manifest_io
from . import storage
from .chunking import Chunk, chunk_text
from .embedding import Embedder
from .errors import HubsearchError
from .generation import EMBEDDINGS, LEXICAL, PASSAGES, VECTORS
from .highlight import SentenceVectors, split
from .lexical import LexicalIndex
from .manifest import (
    BuildInfo,
    CorpusInfo,
    Manifest,
    ModelInfo,
    SourceRecord,
    VectorIndexInfo,
)
from .passages import DocumentRow, Passage, PassageStore, write_passage_store
from .settings import ChunkingConfig, LexicalConfig, VectorBackend
from .sources import Document, Skipped
from .vectorindex import VectorIndex

log = logging.getLogger("hubsearch")

# (stage, done, total): stages are "read", "embed", "sentences", "write" and "eval";
# total may be 0 if unknown.
ProgressCallback = Callable[[str, int, int], None]


@dataclass
class BuildReport:
    """What a build or update did.

    Attributes:
        documents, passages: What the new index holds.
        new, changed, unchanged, removed: Documents compared with the previous index
            (all new when there was none).
        embedded: Passages run through the model; reused: passages whose vectors came
            from the previous index.
        sentences: Sentences run through the model (for the highlight); the sentences
            of reused passages are reused too.
        skipped: Files that could not be read, with reasons.
    """

    documents: int = 0
    passages: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: int = 0
    embedded: int = 0
    reused: int = 0
    sentences: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["skipped"] = [{"path": s.path, "reason": s.reason} for s in self.skipped]
        return data


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


def _passage_input(doc: Document, chunk: Chunk, config: ChunkingConfig) -> str:
    """The text the model embeds for a passage: the passage, led by its title when the
    passage does not already contain it."""
    if not config.title_prefix or not doc.title:
        return chunk.text
    at = doc.text.find(doc.title, 0, 4000)
    if at >= 0 and chunk.start <= at and at + len(doc.title) <= chunk.end:
        return chunk.text
    return f"{doc.title}\n{chunk.text}"


def chunk_documents(
    docs: Sequence[Document], embedder: Embedder, config: ChunkingConfig
) -> list[tuple[Document, list[Chunk]]]:
    """Cut each document into passages that, with their title, fit the model's window."""
    window = min(config.max_tokens, embedder.ref.max_seq_length) - 2  # [CLS] and [SEP]
    titles = [d.title or "" for d in docs] if config.title_prefix else []
    title_tokens = [len(t) for t in embedder.token_offsets(titles)] if titles else [0] * len(docs)
    out = []
    for doc, reserve in zip(docs, title_tokens):
        budget = max(16, window - (reserve + 1 if reserve else 0))
        overlap = min(config.overlap_tokens, budget // 2 - 1)
        out.append((doc, chunk_text(doc.text, embedder.token_offsets, budget, overlap)))
    return out


class _Previous:
    """The live generation, as a source of passages and vectors to reuse."""

    def __init__(self, generation: Path, manifest: Manifest, doc_sha: dict[str, str]) -> None:
        self.manifest = manifest
        self.store = PassageStore(generation / PASSAGES)
        self.vectors = np.load(generation / EMBEDDINGS, mmap_mode="r")
        self.sentences = SentenceVectors.load(generation) if SentenceVectors.present(manifest) else None
        self.doc_sha = doc_sha
        self._by_input: dict[str, int] | None = None

    def vector_for(self, input_sha: str) -> int | None:
        if self._by_input is None:
            self._by_input = self.store.input_index()
        return self._by_input.get(input_sha)

    def close(self) -> None:
        self.store.close()


def _recorded_hashes(index_dir: Path) -> tuple[Path | None, Manifest | None, dict[str, str]]:
    """The live generation, its manifest and its documents' hashes, or Nones and {}."""
    try:
        generation = storage.current_generation(index_dir)
        manifest = manifest_io.read(index_dir, generation, check=False)
    except HubsearchError:
        return None, None, {}
    return generation, manifest, {s.doc_id: s.sha256 for s in manifest.sources}


def _previous(index_dir: Path, embedder: Embedder) -> tuple[_Previous | None, dict[str, str]]:
    """The previous generation if its vectors can be reused (same model, precision and
    dimension, and intact files), and its documents' hashes in any case."""
    generation, manifest, doc_sha = _recorded_hashes(index_dir)
    if generation is None or manifest is None:
        return None, doc_sha
    model = manifest.model
    if (model.sha256, model.precision, model.dimension) != (
        embedder.ref.sha256, embedder.precision, embedder.dimension
    ):
        return None, doc_sha
    try:  # never reuse vectors from a damaged or hand-edited index
        manifest_io.read(index_dir, generation, check=True)
        storage.verify_files(index_dir, generation, manifest)
        return _Previous(generation, manifest, doc_sha), doc_sha
    except Exception:
        return None, doc_sha


def write_generation(
    index_dir: Path, docs: list[Document], skipped: list[Skipped], roots: list[str], embedder: Embedder,
    config: ChunkingConfig, index_type: str, progress: ProgressCallback | None, report: BuildReport,
    started: float, *, reuse: bool = True, reuse_documents: bool = False, virtual: bool = False,
    backend: VectorBackend | None = None,
) -> Path:
    """Write a new generation holding `docs` and publish it. Returns its folder.

    Args:
        reuse: Take vectors of passages embedded before from the live generation.
        reuse_documents: Keep an unchanged document's passages as they are (update).
        virtual: The documents come from a BEIR collection, not from files.
    """
    if reuse:
        previous, old_sha = _previous(index_dir, embedder)
    else:
        previous, old_sha = None, _recorded_hashes(index_dir)[2]
    same_chunking = previous is not None and previous.manifest.chunking == config
    try:
        assembled = _assemble(docs, embedder, config, previous, reuse_documents and same_chunking, progress)
    finally:
        if previous is not None:
            previous.close()
    passages, vectors = assembled.passages, assembled.vectors
    report.embedded, report.reused = assembled.embedded, assembled.reused
    report.sentences = assembled.sentences_embedded
    current = {d.doc_id: d.sha256 for d in docs}
    report.new = sum(1 for d in current if d not in old_sha)
    report.changed = sum(1 for d, sha in current.items() if d in old_sha and old_sha[d] != sha)
    report.unchanged = sum(1 for d, sha in current.items() if old_sha.get(d) == sha)
    report.removed = sum(1 for d in old_sha if d not in current)
    if progress:
        progress("write", 0, 1)
    # Roughly what the new generation takes on disk, for a full-disk message.
    needed = 2 * vectors.nbytes + assembled.sentences.vectors.nbytes + 3 * sum(len(p.text) for p in passages)
    try:
        writer = storage.GenerationWriter(index_dir)
    except OSError as exc:
        raise storage.write_error(index_dir, exc, needed) from exc
    try:
        np.save(writer.file(EMBEDDINGS), vectors)
        if backend is not None and backend.kind == "qdrant":
            from .qdrantstore import write_vectors

            doc_meta = {d.doc_id: (d.date, d.source) for d in docs}
            payloads = [{"doc_id": p.doc_id, "chunk_id": p.id, "date": doc_meta[p.doc_id][0],
                         "source": doc_meta[p.doc_id][1]} for p in passages]
            vector_info, vector_files = write_vectors(backend, index_dir, vectors, payloads, index_type), []
        else:
            vindex = VectorIndex.build(vectors, index_type)
            vindex.save(writer.file(VECTORS))
            vector_info = VectorIndexInfo(vindex.kind, index_type, "inner_product", vindex.count)
            vector_files = [VECTORS]
        lexical_config = LexicalConfig()
        # BM25 sees the passage alone: a title repeated on every passage of a document would
        # skew its term and length statistics. The dense side gets the title prefix.
        lexical_files = LexicalIndex.build([p.text for p in passages], lexical_config).save(writer.file(LEXICAL))
        sentence_files = assembled.sentences.save(writer.path)
        write_passage_store(
            writer.file(PASSAGES),
            [DocumentRow(d.doc_id, d.source, d.root, d.sha256, d.title, d.date, len(d.text)) for d in docs],
            passages,
        )
        fault_point("write")
        report.documents, report.passages = len(docs), len(passages)
        report.seconds = time.perf_counter() - started
        manifest = Manifest(
            built=BuildInfo(datetime.now(timezone.utc).isoformat(timespec="seconds"), round(report.seconds, 3),
                            report.embedded, report.reused),
            model=ModelInfo(**embedder.ref.to_dict(), dimension=int(vectors.shape[1]), normalized=True,
                            precision=embedder.precision),
            chunking=config,
            lexical=lexical_config,
            vector_index=vector_info,
            corpus=CorpusInfo(roots, len(docs), len(passages), virtual),
            sources=[SourceRecord(d.doc_id, d.source, d.root, d.sha256, d.size, d.mtime_ns, d.title, d.date)
                     for d in docs],
            skipped=list(skipped),
            versions=versions(),
        )
        files = [*vector_files, EMBEDDINGS, PASSAGES, *sentence_files] + [f"{LEXICAL}/{p.name}" for p in lexical_files]
        generation = writer.publish(manifest, files, pause=lambda: fault_point("publish"))
    except (OSError, sqlite3.Error) as exc:
        writer.discard()
        raise storage.write_error(index_dir, exc, needed) from exc
    except BaseException:
        writer.discard()
        raise
    if progress:
        progress("write", 1, 1)
    return generation


def fault_point(name: str) -> None:
    """Crash tests set HUBSEARCH_TEST_PAUSE_AT to stretch one phase of a write, so that a
    kill lands inside it. Does nothing otherwise."""
    if os.environ.get("HUBSEARCH_TEST_PAUSE_AT") == name:
        time.sleep(float(os.environ.get("HUBSEARCH_TEST_PAUSE_SECONDS", "0.5")))


@dataclass
class _Assembled:
    passages: list[Passage]
    vectors: np.ndarray
    sentences: SentenceVectors
    embedded: int
    reused: int
    sentences_embedded: int


def _assemble(
    docs: list[Document],
    embedder: Embedder,
    config: ChunkingConfig,
    previous: _Previous | None,
    reuse_documents: bool,
    progress: ProgressCallback | None,
) -> _Assembled:
    """Passages of every document, their vectors and their sentences' vectors, embedding
    only what is new.

    An unchanged document (same hash, same chunking) keeps its previous passages when
    `reuse_documents` is set; any passage whose embedded text was embedded before keeps
    its vector and its sentences' vectors.
    """
    passages: list[Passage] = []
    sources: list[int | None] = []  # previous row of each passage's vector, or None
    inputs: dict[int, str] = {}  # passage id -> text to embed
    kept = {
        d.doc_id for d in docs
        if reuse_documents and previous is not None and previous.doc_sha.get(d.doc_id) == d.sha256
    }
    chunked = {
        doc.doc_id: chunks
        for doc, chunks in chunk_documents([d for d in docs if d.doc_id not in kept], embedder, config)
    }
    for doc in docs:
        if doc.doc_id in kept:
            assert previous is not None
            for old in previous.store.doc_passages(doc.doc_id):
                passages.append(replace(old, id=len(passages)))
                sources.append(old.id)
            continue
        for n, chunk in enumerate(chunked[doc.doc_id]):
            text_in = _passage_input(doc, chunk, config)
            input_sha = hashlib.sha256(text_in.encode("utf-8")).hexdigest()
            text_sha = hashlib.sha256(chunk.text.encode("utf-8")).hexdigest()
            old_id = previous.vector_for(input_sha) if previous is not None else None
            if old_id is None:
                inputs[len(passages)] = text_in
            sources.append(old_id)
            passages.append(Passage(len(passages), doc.doc_id, n, chunk.start, chunk.end, chunk.text, text_sha, input_sha))
    total, done = len(inputs), 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress("embed", done, total)

    if progress:
        progress("embed", 0, total)
    fault_point("embed")
    order = list(inputs)
    fresh = embedder.embed([inputs[i] for i in order], progress=advance) if order else None
    vectors = np.zeros((len(passages), embedder.dimension if fresh is None else fresh.shape[1]), dtype=np.float32)
    if fresh is not None:
        vectors[order] = fresh
    reused = [(i, old) for i, old in enumerate(sources) if old is not None]
    if reused:
        assert previous is not None
        new_ids, old_ids = zip(*reused)
        vectors[list(new_ids)] = previous.vectors[list(old_ids)]
    sentences, sentences_embedded = _sentence_vectors(passages, sources, previous, embedder, vectors.shape[1],
                                                      progress)
    export = getattr(embedder, "export_onnx", None)
    if export is not None:
        try:
            export()
        except Exception as exc:  # queries then fall back to sentence-transformers
            log.warning("could not export the model to ONNX (%s); queries will be slower", exc)
    return _Assembled(passages, vectors, sentences, len(order), len(reused), sentences_embedded)


def _sentence_vectors(
    passages: list[Passage], sources: list[int | None], previous: _Previous | None, embedder: Embedder,
    dimension: int, progress: ProgressCallback | None,
) -> tuple[SentenceVectors, int]:
    """Every passage's sentence spans and vectors: copied from the previous generation
    for a reused passage, embedded otherwise (each distinct sentence once)."""
    old = previous.sentences if previous is not None else None
    spans: list[tuple[int, int, int]] = []
    rows: list[np.ndarray | str] = []  # a copied vector, or the sentence text to embed
    for passage, source in zip(passages, sources):
        if source is not None and old is not None:
            old_spans, old_vectors = old.of(source)
            if old_spans:
                spans += [(passage.id, s, e) for s, e in old_spans]
                rows += list(old_vectors)
                continue
        for s, e in split(passage.text):
            spans.append((passage.id, s, e))
            rows.append(passage.text[s:e])
    texts = list(dict.fromkeys(r for r in rows if isinstance(r, str)))
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress("sentences", done, len(texts))

    if progress and texts:
        progress("sentences", 0, len(texts))
    fresh = embedder.embed(texts, progress=advance) if texts else np.zeros((0, dimension), dtype=np.float32)
    at = {t: i for i, t in enumerate(texts)}
    matrix = np.zeros((len(rows), dimension), dtype=np.float16)
    for i, row in enumerate(rows):
        matrix[i] = fresh[at[row]] if isinstance(row, str) else row
    return SentenceVectors(np.asarray(spans, dtype=np.int32).reshape(-1, 3), matrix), len(texts)
