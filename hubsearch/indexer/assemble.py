"""The passages of a new generation and their vectors: documents are cut into passages,
and only text never embedded before goes through the model. Vectors of unchanged
passages (and their sentences) come from the live generation when the model and
precision match and its files check out."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..embed.base import Embedder
from ..errors import HubsearchError
from ..ingest.chunking import Chunk, chunk_text, passage_sentences
from ..ingest.code import PATTERNS as CODE_PATTERNS
from ..ingest.markdown import heading_path
from ..records import Document, Passage, ProgressCallback
from ..settings import ChunkingConfig
from ..store import generations
from ..store import manifest as manifest_io
from ..store.generations import EMBEDDINGS, PASSAGES
from ..store.manifest import Manifest
from ..store.passages import PassageStore
from ..store.sentences import SentenceVectors, ranges

log = logging.getLogger("hubsearch")


def _passage_input(doc: Document, chunk: Chunk, config: ChunkingConfig) -> str:
    """The text the model embeds for a passage: the passage, led by its title when the
    passage does not already contain it. In Markdown the title is the document's title and
    the headings the passage sits under ("Title › Section › Subsection")."""
    if not config.title_prefix or not (doc.title or doc.headings):
        return chunk.text
    title = passage_title(doc, chunk.start)
    at = doc.text.find(title, 0, 4000)
    if at >= 0 and chunk.start <= at and at + len(title) <= chunk.end:
        return chunk.text
    return f"{title}\n{chunk.text}"


def passage_title(doc: Document, start: int) -> str:
    """The document's title, followed by the headings in force at `start` (Markdown)."""
    parts = [doc.title] if doc.title else []
    if doc.headings:
        parts += [h for h in heading_path(list(doc.headings), start) if h != doc.title]
    return " › ".join(parts)


def _longest_title(doc: Document) -> str:
    return max((passage_title(doc, at) for at, _, _ in doc.headings), key=len, default=doc.title or "")


def chunk_documents(
    docs: Sequence[Document], embedder: Embedder, config: ChunkingConfig
) -> list[tuple[Document, list[Chunk]]]:
    """Cut each document into passages that, with their title, fit the model's window."""
    window = min(config.max_tokens, embedder.ref.max_seq_length) - 2  # [CLS] and [SEP]
    titles = [_longest_title(d) for d in docs] if config.title_prefix else []
    title_tokens = [len(t) for t in embedder.token_offsets(titles)] if titles else [0] * len(docs)
    out = []
    for doc, reserve in zip(docs, title_tokens):
        budget = max(16, window - (reserve + 1 if reserve else 0))
        overlap = min(config.overlap_tokens, budget // 2 - 1)
        sections = [at for at, _, _ in doc.headings] if doc.source.lower().endswith(tuple(CODE_PATTERNS)) else ()
        out.append((doc, chunk_text(doc.text, embedder.token_offsets, budget, overlap, sections)))
    return out


class Previous:
    """The live generation, as a source of passages and vectors to reuse."""

    def __init__(self, generation: Path, manifest: Manifest, doc_sha: dict[str, str]) -> None:
        self.generation = generation
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


def recorded_hashes(index_dir: Path) -> tuple[Path | None, Manifest | None, dict[str, str]]:
    """The live generation, its manifest and its documents' hashes, or Nones and {}."""
    try:
        generation = generations.current_generation(index_dir)
        manifest = manifest_io.read(index_dir, generation, check=False)
    except HubsearchError:
        return None, None, {}
    return generation, manifest, {s.doc_id: s.sha256 for s in manifest.sources}


def previous_generation(index_dir: Path, embedder: Embedder) -> tuple[Previous | None, dict[str, str]]:
    """The previous generation if its vectors can be reused (same model, precision and
    dimension, and intact files), and its documents' hashes in any case."""
    generation, manifest, doc_sha = recorded_hashes(index_dir)
    if generation is None or manifest is None:
        return None, doc_sha
    model = manifest.model
    if (model.sha256, model.precision, model.dimension) != (
        embedder.ref.sha256, embedder.precision, embedder.dimension
    ):
        return None, doc_sha
    try:  # never reuse vectors from a damaged or hand-edited index
        manifest_io.read(index_dir, generation, check=True)
        generations.verify_files(index_dir, generation, manifest)
        return Previous(generation, manifest, doc_sha), doc_sha
    except Exception:
        return None, doc_sha


@dataclass
class Assembled:
    passages: list[Passage]
    vectors: np.ndarray
    sentences: SentenceVectors
    embedded: int
    reused: int
    sentences_embedded: int
    same_text: list[int | None]  # per passage: its row in the previous generation if kept whole, else None


def assemble(
    docs: list[Document],
    embedder: Embedder,
    config: ChunkingConfig,
    previous: Previous | None,
    reuse_documents: bool,
    progress: ProgressCallback | None,
) -> Assembled:
    """Passages of every document, their vectors and their sentences' vectors, embedding
    only what is new.

    An unchanged document (same hash, same chunking) keeps its previous passages when
    `reuse_documents` is set; any passage whose embedded text was embedded before keeps
    its vector and its sentences' vectors.
    """
    passages: list[Passage] = []
    sources: list[int | None] = []  # previous row of each passage's vector, or None
    same_text: list[int | None] = []  # previous row of a kept document's passage
    inputs: dict[int, str] = {}  # passage id -> text to embed
    kept = {
        d.doc_id for d in docs
        if reuse_documents and previous is not None and previous.doc_sha.get(d.doc_id) == d.sha256
    }
    chunked = {
        doc.doc_id: chunks
        for doc, chunks in chunk_documents([d for d in docs if d.doc_id not in kept], embedder, config)
    }
    kept_passages = previous.store.passages_of(kept) if kept and previous is not None else {}
    for doc in docs:
        if doc.doc_id in kept:
            for old in kept_passages.get(doc.doc_id, []):
                passages.append(replace(old, id=len(passages)))
                sources.append(old.id)
                same_text.append(old.id)
            continue
        for n, chunk in enumerate(chunked[doc.doc_id]):
            text_in = _passage_input(doc, chunk, config)
            input_sha = hashlib.sha256(text_in.encode("utf-8")).hexdigest()
            text_sha = hashlib.sha256(chunk.text.encode("utf-8")).hexdigest()
            old_id = previous.vector_for(input_sha) if previous is not None else None
            if old_id is None:
                inputs[len(passages)] = text_in
            sources.append(old_id)
            same_text.append(None)
            passages.append(Passage(len(passages), doc.doc_id, n, chunk.start, chunk.end, chunk.text, text_sha, input_sha))
    total, done = len(inputs), 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress("embed", done, total)

    if progress:
        progress("embed", 0, total)
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
    try:
        embedder.prepare_queries()
    except Exception as exc:  # queries then fall back to sentence-transformers
        log.warning("could not export the model to ONNX (%s); queries will be slower", exc)
    return Assembled(passages, vectors, sentences, len(order), len(reused), sentences_embedded, same_text)


def _sentence_vectors(
    passages: list[Passage], sources: list[int | None], previous: Previous | None, embedder: Embedder,
    dimension: int, progress: ProgressCallback | None,
) -> tuple[SentenceVectors, int]:
    """Every passage's sentence spans and vectors: copied from the previous generation
    for a reused passage (in bulk: an update copies every unchanged passage's rows),
    embedded otherwise (each distinct sentence once)."""
    old = previous.sentences if previous is not None else None
    source = np.array([-1 if s is None else s for s in sources], dtype=np.int64)
    count = np.zeros(len(passages), dtype=np.int64)  # rows copied from the old generation
    lo = np.zeros(len(passages), dtype=np.int64)
    if old is not None and len(passages):
        owners = old.owners()
        reused = source >= 0
        lo[reused] = np.searchsorted(owners, source[reused], "left")
        count[reused] = np.searchsorted(owners, source[reused], "right") - lo[reused]
    new_spans: list[tuple[int, int, int]] = []
    rows_of = count.copy()  # rows of each passage in the new generation
    for pid in np.flatnonzero(count == 0).tolist():
        found = passage_sentences(passages[pid].text)
        rows_of[pid] = len(found)
        new_spans += [(pid, s, e) for s, e in found]
    texts = list(dict.fromkeys(passages[p].text[s:e] for p, s, e in new_spans))
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress("sentences", done, len(texts))

    if progress and texts:
        progress("sentences", 0, len(texts))
    first = np.cumsum(rows_of) - rows_of  # each passage's first row in the new arrays
    spans = np.zeros((int(rows_of.sum()), 3), dtype=np.int32)
    matrix = np.zeros((len(spans), dimension), dtype=np.float16)
    copied = count > 0
    if copied.any():
        assert old is not None
        to, take = ranges(first[copied], count[copied]), ranges(lo[copied], count[copied])
        spans[to, 0] = np.repeat(np.nonzero(copied)[0], count[copied])
        spans[to, 1:] = np.asarray(old.spans[take, 1:])
        # Run by run (an update keeps long runs of rows in order), each as one slice: fancy
        # indexing a memory map copied 49 MB in 0.17 s, slices in a fraction of that.
        for (t0, t1), (k0, k1) in _runs(to, take):
            matrix[t0:t1] = old.vectors[k0:k1]
    if new_spans:
        fresh_ids = ~copied & (rows_of > 0)
        to = ranges(first[fresh_ids], rows_of[fresh_ids])
        spans[to] = np.asarray(new_spans, dtype=np.int32)
        at = {t: i for i, t in enumerate(texts)}
        which = np.fromiter((at[passages[p].text[s:e]] for p, s, e in new_spans), dtype=np.int64,
                            count=len(new_spans))
        del at
        # Embedded a block at a time, each block's float32 vectors stored as float16 at once,
        # so that a large build never holds every sentence's vector twice.
        for a in range(0, len(texts), SENTENCE_BLOCK):
            fresh = embedder.embed(texts[a:a + SENTENCE_BLOCK], progress=advance)
            rows = np.nonzero((which >= a) & (which < a + SENTENCE_BLOCK))[0]
            matrix[to[rows]] = fresh[which[rows] - a]
    return SentenceVectors(spans, matrix), len(texts)


SENTENCE_BLOCK = 65_536  # sentences embedded per call in a build (about 100 MB of float32 vectors)


def _runs(to: np.ndarray, take: np.ndarray, most: int = SENTENCE_BLOCK) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """`to` and `take` (equal-length row numbers) as pairs of slices over which both step
    by one, at most `most` rows each (so that a copy never holds more than that)."""
    if not len(to):
        return []
    breaks = np.flatnonzero((np.diff(to) != 1) | (np.diff(take) != 1)) + 1
    starts = np.concatenate([[0], breaks]).tolist()
    ends = np.concatenate([breaks, [len(to)]]).tolist()
    out = []
    for a, b in zip(starts, ends):
        for lo in range(a, b, most):
            hi = min(b, lo + most)
            out.append(((int(to[lo]), int(to[lo]) + hi - lo), (int(take[lo]), int(take[lo]) + hi - lo)))
    return out
