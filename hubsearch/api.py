"""The library interface: build, open, search and describe an index.

    from hubsearch import Index
    idx = Index.build(["seeds/"], path="index/")
    for hit in idx.search("Xuhui incubator size", k=5):
        print(hit.rank, hit.score, hit.doc_id, hit.text)

Nothing here prints or exits; failures raise `HubsearchError` subclasses.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import storage
from .chunking import sentence_spans
from .config import ChunkingConfig
from .embedding import Embedder
from .errors import (
    HubsearchError,
    IndexDamagedError,
    IndexNotFoundError,
    InvalidInputError,
    ModelMismatchError,
)
from .fusion import Fused, FusionConfig, Ranked, fuse, smooth
from .indexing import (
    EMBEDDINGS,
    LEXICAL,
    PASSAGES,
    VECTORS,
    BuildReport,
    ProgressCallback,
    fault_point,
    write_generation,
)
from .lexical import LexicalConfig, LexicalIndex
from .models import ModelRef, resolve_model
from .sources import Document, Skipped, load_documents
from .vectorindex import VectorIndex

log = logging.getLogger("hubsearch")
DEFAULT_INDEX_DIR = "index"
DEFAULT_SOURCES = ("seeds",)
MAX_QUERY_CHARS = 10_000
MODES = ("hybrid", "dense", "lexical")
ROCCHIO_BETA = 0.5



def default_index_dir() -> Path:
    """`$HUBSEARCH_INDEX` if set, else `index/` in the working folder."""
    return Path(os.environ.get("HUBSEARCH_INDEX") or DEFAULT_INDEX_DIR)


@dataclass(frozen=True)
class Hit:
    """One ranked passage. Field for field the same as the CLI's `--json` output.

    Attributes:
        rank: 1 for the best hit.
        score: Cosine similarity between query and passage (higher is better).
        doc_id: The source file's path relative to its root, without extension.
        source: The source file's path relative to its root.
        chunk_id: The passage's id within this index.
        start: Offset of the passage's first character in the source text.
        end: Offset one past its last character: `text == source_text[start:end]`.
        text: The passage.
        title: The document's title, or None.
        date: The document's publication date (YYYY-MM-DD), or None.
        highlight: (start, end) source offsets of the sentence that best matches the query.
    """

    rank: int
    score: float
    doc_id: str
    source: str
    chunk_id: int
    start: int
    end: int
    text: str
    title: str | None
    date: str | None
    highlight: tuple[int, int] | None = None
    explain: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["highlight"] = list(self.highlight) if self.highlight else None
        if self.explain is None:
            del data["explain"]
        return data


SMOOTHING = 0.2


@dataclass(frozen=True)
class SearchConfig:
    """Query-time settings. The defaults are what `hubsearch query` uses.

    Hybrid mode is the full pipeline: fusion, then feedback, then smoothing. The dense
    and lexical modes show one retriever as it is (exact cosine, plain BM25), so by
    default they run neither; set `rm3`, `rocchio` or `smoothing` to turn them on there.

    Attributes:
        mode: "hybrid" (both sides fused), "dense" or "lexical".
        fusion: How hybrid merges the sides.
        rm3: Expand the lexical query with RM3 pseudo-relevance feedback. None: on in
            hybrid mode only.
        rocchio: Move the dense query towards its top passages (Rocchio feedback). None:
            on in hybrid mode only.
        feedback_docs: Passages used for either kind of feedback (3, the depth
            ANCE-PRF and vector-PRF studies settled on for dense retrievers).
        smoothing: Share of each top candidate's score taken from its nearest
            neighbours among the candidates (score regularisation); 0 turns it off.
            None: `SMOOTHING` (0.2) in hybrid mode, 0 otherwise.
        smoothing_neighbours: How many neighbours each candidate averages over.
        feedback_min_passages: Feedback and smoothing assume the top candidates are a
            small, focused sample of the collection; below this many passages both are
            skipped.
    """

    mode: str = "hybrid"
    fusion: FusionConfig = field(default_factory=FusionConfig)
    rm3: bool | None = None
    rocchio: bool | None = None
    feedback_docs: int = 3
    smoothing: float | None = None
    smoothing_neighbours: int = 5
    feedback_min_passages: int = 200

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InvalidInputError(f"unknown mode {self.mode!r}; choose one of {', '.join(MODES)}")
        if self.smoothing is not None and not 0.0 <= self.smoothing <= 1.0:
            raise InvalidInputError(f"smoothing must be between 0 and 1, got {self.smoothing}")
        if self.feedback_docs < 1 or self.smoothing_neighbours < 1:
            raise InvalidInputError("feedback_docs and smoothing_neighbours must be at least 1")

    def refinements(self) -> tuple[bool, bool, float]:
        """(rm3, rocchio, smoothing weight) for this mode, with None filled in."""
        full = self.mode == "hybrid"
        return (
            full if self.rm3 is None else self.rm3,
            full if self.rocchio is None else self.rocchio,
            (SMOOTHING if full else 0.0) if self.smoothing is None else self.smoothing,
        )


def _validate_query(query: str) -> str:
    if isinstance(query, str):
        query = query.replace("\x00", " ").strip()
    if not isinstance(query, str) or not query:
        raise InvalidInputError("the query is empty; pass some words to search for")
    if len(query) > MAX_QUERY_CHARS:
        query = query[:MAX_QUERY_CHARS]
    return query


def _validate_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InvalidInputError(f"k must be a whole number of at least 1, got {k!r}; pass e.g. -k 5")
    return k


class Index:
    """A searchable index of passages, stored in a folder.

    Create one with `Index.build` or `Index.open`; both take the folder as `path`
    (default: `$HUBSEARCH_INDEX` or `index/`).
    """

    def __init__(
        self,
        path: Path,
        generation: Path,
        manifest: dict[str, Any],
        vectors: VectorIndex,
        store: storage.PassageStore,
        lexical: LexicalIndex,
        embedder: Embedder | None,
    ) -> None:
        self.path = path
        self.generation = generation
        self.manifest = manifest
        self._vectors = vectors
        self._store = store
        self._embedder = embedder
        self.report: BuildReport | None = None
        self._lexical = lexical
        self._matrix: np.ndarray | None = None

    # --- construction -------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        paths: Sequence[str | os.PathLike[str]] = DEFAULT_SOURCES,
        path: str | os.PathLike[str] | None = None,
        *,
        model: str | os.PathLike[str] | None = None,
        chunking: ChunkingConfig | None = None,
        index_type: str = "auto",
        precision: str = "auto",
        embedder: Embedder | None = None,
        progress: ProgressCallback | None = None,
        wait: float = 0.0,
        reuse: bool = True,
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

        Raises:
            HubsearchError: Bad paths, no documents, a model that cannot load, a busy index.
        """
        if not paths:
            raise InvalidInputError("no paths to index; pass one or more folders or files")
        index_dir = Path(path) if path is not None else default_index_dir()
        report = BuildReport()
        started = time.perf_counter()
        storage.check_not_busy(index_dir, wait)
        requested = resolve_model(model) if embedder is None or model is not None else None
        if embedder is not None and requested is not None:
            _check_model(index_dir, embedder.ref, requested)
        docs, skipped = load_documents(paths)
        report.skipped = skipped
        if progress:
            progress("read", len(docs), len(docs))
        if embedder is None:
            from . import embedding

            embedder = embedding.load_embedder(requested, precision)
        roots = _resolve_roots(paths)
        return cls._build_documents(
            docs, skipped, roots, index_dir, embedder, chunking or ChunkingConfig(), index_type,
            progress, wait, report, started, reuse=reuse,
        )

    @classmethod
    def _build_documents(
        cls, docs: list[Document], skipped: list[Skipped], roots: list[str], index_dir: Path,
        embedder: Embedder, config: ChunkingConfig, index_type: str, progress: ProgressCallback | None,
        wait: float, report: BuildReport, started: float, *, reuse: bool = True,
        reuse_documents: bool = False, virtual: bool = False,
    ) -> "Index":
        storage.prepare_folder(index_dir)
        with storage.write_lock(index_dir, wait):
            generation = write_generation(
                index_dir, docs, skipped, roots, embedder, config, index_type, progress, report, started,
                reuse=reuse, reuse_documents=reuse_documents, virtual=virtual,
            )
            fault_point("published")
            storage.remove_stale(index_dir, keep=generation)
        # Reuse the build's embedder for queries only when it is exact (fp32); otherwise
        # queries go through the fp32 query path like any later process's would.
        exact = getattr(embedder, "precision", "fp32") == "fp32"
        index = cls._load(index_dir, generation, embedder if exact else None)
        index.report = report
        return index

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        model: str | os.PathLike[str] | None = None,
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
        index_dir = Path(path) if path is not None else default_index_dir()
        if not index_dir.is_dir():
            raise IndexNotFoundError(
                f"no index at {index_dir}; build one with: hubsearch index build PATHS --index {index_dir}"
            )
        # A writer may swap generations between reading CURRENT and opening the files;
        # a second look then finds the new one.
        for attempt in range(10):
            before = storage.pointer(index_dir)
            try:
                index = cls._load(index_dir, storage.current_generation(index_dir), embedder)
                break
            except IndexDamagedError:
                # Damage is real only if CURRENT held still while we looked.
                if attempt == 9 or storage.pointer(index_dir) == before:
                    raise
        recorded = ModelRef.from_dict(index.manifest["model"])
        if model is not None:
            _check_model(index_dir, recorded, resolve_model(model))
        if embedder is not None:
            _check_model(index_dir, recorded, embedder.ref)
        return index

    @classmethod
    def _load(cls, index_dir: Path, generation: Path, embedder: Embedder | None) -> "Index":
        try:
            return cls._load_files(index_dir, generation, embedder)
        except OSError as exc:  # e.g. a writer removed this generation while we read it
            raise storage.damaged(index_dir, f"{type(exc).__name__}: {exc}") from exc

    @classmethod
    def _load_files(cls, index_dir: Path, generation: Path, embedder: Embedder | None) -> "Index":
        manifest = storage.read_manifest(index_dir, generation)
        storage.verify_files(index_dir, generation, manifest)
        try:
            kind = manifest["vector_index"]["type"]
            exact = np.load(generation / EMBEDDINGS, mmap_mode="r") if kind == "ivf-pq" else None
            vectors = VectorIndex.load(generation / VECTORS, kind, exact)
            store = storage.PassageStore(generation / PASSAGES)
            lexical = LexicalIndex.load(generation / LEXICAL, LexicalConfig.from_dict(manifest["lexical"]))
            stored = store.count()
            expected = int(manifest["corpus"]["passages"])
            dimension = int(manifest["model"]["dimension"])
        except (KeyError, TypeError, ValueError) as exc:
            raise storage.damaged(index_dir, f"manifest field missing: {exc}") from exc
        except Exception as exc:  # sqlite3.DatabaseError and friends
            raise storage.damaged(index_dir, f"{type(exc).__name__}: {exc}") from exc
        if not (vectors.count == stored == lexical.count == expected) or vectors.dimension != dimension:
            raise storage.damaged(
                index_dir,
                f"{vectors.count} vectors of dimension {vectors.dimension}, {stored} passages, "
                f"{lexical.count} lexical rows, manifest says {expected} of dimension {dimension}",
            )
        return cls(index_dir, generation, manifest, vectors, store, lexical, embedder)

    def rebuild(
        self,
        *,
        model: str | os.PathLike[str] | None = None,
        embedder: Embedder | None = None,
        progress: ProgressCallback | None = None,
        wait: float = 0.0,
    ) -> "Index":
        """Build the index again from scratch from the sources and settings in its manifest.

        Args:
            model: Use this model instead of the recorded one.
        """
        return rebuild(self.path, model=model, embedder=embedder, progress=progress, wait=wait)

    # --- reading ------------------------------------------------------------------------

    @property
    def model(self) -> ModelRef:
        return ModelRef.from_dict(self.manifest["model"])

    @property
    def embedder(self) -> Embedder:
        """The embedder for this index's model, loaded on first use."""
        if self._embedder is None:
            from . import embedding
            from .models import find_model_folder

            ref = self.model
            self._embedder = embedding.load_query_embedder(ref)
            if self._embedder is not None:
                return self._embedder
            log.warning("no ONNX export of %s in %s; loading sentence-transformers (slower)",
                        ref.name, embedding.onnx_folder(ref))
            folder = find_model_folder(ref)
            self._embedder = embedding.load_embedder(ModelRef(ref.name, str(folder), ref.sha256, ref.max_seq_length))
        return self._embedder

    def search(
        self, query: str, k: int = 5, *, config: SearchConfig | None = None, mode: str | None = None,
        explain: bool = False,
    ) -> list[Hit]:
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
        query = _validate_query(query)
        k = _validate_k(k)
        config = _with_mode(config, mode)
        qv = self.embedder.embed([query])[0]
        ranked, feedback = self._retrieve(query, qv, config, depth=max(k, config.fusion.depth))
        ranked = ranked[:k]
        rows = self._store.get([r.id for r in ranked])
        hits = []
        for rank, r in enumerate(ranked, start=1):
            row = rows[r.id]
            hits.append(Hit(
                rank=rank, score=round(r.score, 6), doc_id=row.doc_id, source=row.source, chunk_id=r.id,
                start=row.start, end=row.end, text=row.text, title=row.title, date=row.date,
                explain=_explain(r, config, feedback) if explain else None,
            ))
        return self._highlight(qv, hits)

    def search_documents(
        self, queries: Sequence[str], k: int = 100, *, config: SearchConfig | None = None,
    ) -> list[list[tuple[str, float]]]:
        """Rank documents for each query by their best passage (for evaluation).

        Returns:
            Per query, up to `k` (doc_id, score) pairs, best first.
        """
        return [docs for docs, _ in self._rank_for_evaluation(queries, k, config or SearchConfig())]

    def _rank_for_evaluation(
        self, queries: Sequence[str], k: int, config: SearchConfig,
    ) -> list[tuple[list[tuple[str, float]], list[tuple[int, float]]]]:
        """Per query, the top `k` documents (by best passage) and the top `k` passages."""
        doc_of = self._store.doc_ids()
        vectors = self.embedder.embed([_validate_query(q) for q in queries])
        depth = max(config.fusion.depth, 4 * k)
        out = []
        for query, qv in zip(queries, vectors):
            ranked = self._retrieve(query, qv, config, depth=depth)[0]
            best: dict[str, float] = {}
            for r in ranked:
                best.setdefault(doc_of[r.id], r.score)
            docs = sorted(best.items(), key=lambda x: -x[1])[:k]
            out.append((docs, [(r.id, r.score) for r in ranked[:k]]))
        return out

    def _dense(self, qv: np.ndarray, depth: int) -> Ranked:
        scores, ids = self._vectors.search(qv, depth)
        keep = ids[0] >= 0
        return Ranked(ids[0][keep].tolist(), scores[0][keep].tolist())

    def _lexical_side(self, weights: dict[int, float], depth: int) -> Ranked:
        if not weights:
            return Ranked([], [])
        scores = self._lexical.scores(weights)
        order = _top(scores, depth)
        order = order[scores[order] > 0]
        return Ranked(order.tolist(), scores[order].tolist())

    def _rank_once(self, qv: np.ndarray, weights: dict[int, float], config: SearchConfig, depth: int) -> list[Fused]:
        sides: dict[str, Ranked] = {}
        if config.mode in ("hybrid", "dense"):
            sides["dense"] = self._dense(qv, depth)
        if config.mode in ("hybrid", "lexical"):
            sides["lexical"] = self._lexical_side(weights, depth)
        if config.mode != "hybrid":
            (name, side), = sides.items()
            return [
                Fused(i, float(sc), {name: {"rank": r, "score": float(sc), "contribution": float(sc)}})
                for r, (i, sc) in enumerate(zip(side.ids, side.scores), start=1)
            ]
        return fuse(sides, config.fusion)

    def _retrieve(
        self, query: str, qv: np.ndarray, config: SearchConfig, depth: int
    ) -> tuple[list[Fused], dict[str, bool]]:
        """Rank passages for one query: a first pass; with feedback on, a second pass whose
        queries are moved towards the first pass's top passages; then, with smoothing on,
        score regularisation over the top candidates.

        Returns:
            The ranking, and which of "rm3", "rocchio" and "smoothing" actually ran.
        """
        weights = self._lexical.term_weights(query)
        ranked = self._rank_once(qv, weights, config, depth)
        large_enough = self._vectors.count >= config.feedback_min_passages
        rm3, rocchio, smoothing = config.refinements()
        use_rm3 = rm3 and config.mode != "dense" and bool(weights) and large_enough
        use_rocchio = rocchio and config.mode != "lexical" and large_enough
        head = ranked[: config.feedback_docs]
        top = [f.id for f in head]
        use_rm3, use_rocchio = use_rm3 and bool(top), use_rocchio and bool(top)
        # Feedback comes from the fused first pass, which is better than either side alone.
        if use_rocchio:
            centroid = self._vectors_of(sorted(top)).mean(axis=0)
            moved = qv + ROCCHIO_BETA * centroid  # Rocchio: alpha = 1, no negative feedback
            qv = moved / max(float(np.linalg.norm(moved)), 1e-12)
        if use_rm3:
            rows = self._store.get(top)
            # As in RM3 (and Anserini's), each feedback passage counts by its first-pass score.
            weights = self._lexical.expand(weights, [rows[i].text for i in top], [f.score for f in head])
        if use_rm3 or use_rocchio:
            ranked = self._rank_once(qv, weights, config, depth)
        use_smoothing = smoothing > 0 and large_enough and len(ranked) > 1
        if use_smoothing:
            candidates = [f.id for f in ranked[: config.fusion.depth]]
            ranked = smooth(ranked, self._vectors_of(candidates), smoothing, config.smoothing_neighbours)
        return ranked, {"rm3": use_rm3, "rocchio": use_rocchio, "smoothing": use_smoothing}

    def _vectors_of(self, ids: Sequence[int]) -> np.ndarray:
        """The stored unit vectors of these passages, in the order given."""
        if self._matrix is None:
            self._matrix = np.load(self.generation / EMBEDDINGS, mmap_mode="r")
        order = np.argsort(ids, kind="stable")
        rows = np.asarray(self._matrix[np.asarray(ids)[order]], dtype=np.float32)
        out = np.empty_like(rows)
        out[order] = rows
        return out

    def _highlight(self, qv: np.ndarray, hits: list[Hit]) -> list[Hit]:
        """Mark in each hit the sentence closest to the query."""
        spans = [sentence_spans(h.text, max_chars=2000) or [(0, len(h.text))] for h in hits]
        flat = [h.text[s:e] for h, sp in zip(hits, spans) for s, e in sp]
        if not flat:
            return hits
        sims = self.embedder.embed(flat) @ qv
        out, at = [], 0
        for hit, sp in zip(hits, spans):
            best = sp[int(np.argmax(sims[at : at + len(sp)]))]
            at += len(sp)
            out.append(replace(hit, highlight=(hit.start + best[0], hit.start + best[1])))
        return out

    def changes(self) -> dict[str, int]:
        """How the sources differ from what the index holds: {"new", "changed", "removed"}.

        Cheap: files whose size and modification time match the manifest are not read;
        the others are hashed, so a touched but unchanged file does not count.
        """
        from .sources import discover, sha256_bytes

        out = {"new": 0, "changed": 0, "removed": 0}
        if self.manifest["corpus"].get("virtual"):
            return out
        recorded = {(s["root"], s["source"]): s for s in self.manifest.get("sources", [])}
        skipped = {s["path"] for s in self.manifest.get("skipped", [])}
        roots = [r for r in self.manifest["corpus"]["roots"] if Path(r).exists()]
        for item in discover(roots) if roots else []:
            meta = recorded.pop((str(item.root), item.source), None)
            if meta is None:
                out["new"] += str(item.path) not in skipped
                continue
            try:
                info = item.path.stat()
                if info.st_size == meta.get("bytes") and info.st_mtime_ns == meta.get("mtime_ns"):
                    continue
                out["changed"] += sha256_bytes(item.path.read_bytes()) != meta["sha256"]
            except OSError:
                out["changed"] += 1
        out["removed"] = len(recorded)
        return out

    def info(self) -> dict[str, Any]:
        """What the index holds and how it was built, as plain data."""
        m = self.manifest
        return {
            "index": str(self.path),
            "generation": self.generation.name,
            "corpus": m["corpus"],
            "model": m["model"],
            "chunking": m["chunking"],
            "vector_index": m["vector_index"],
            "built": m["built"],
            "versions": m["versions"],
            "skipped": m.get("skipped", []),
        }

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> "Index":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _top(scores: np.ndarray, n: int) -> np.ndarray:
    """Indices of the `n` highest scores, best first."""
    n = min(n, len(scores))
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-scores, n - 1)[:n]
    return part[np.argsort(-scores[part], kind="stable")]


def _resolve_roots(paths: Sequence[str | os.PathLike[str]]) -> list[str]:
    """The absolute, de-duplicated source roots an index records."""
    return sorted({str(Path(p).expanduser().resolve()) for p in paths})


def _with_mode(config: SearchConfig | None, mode: str | None) -> SearchConfig:
    config = config or SearchConfig()
    return replace(config, mode=mode) if mode is not None else config


def _explain(r: Fused, config: SearchConfig, used: dict[str, bool]) -> dict[str, Any]:
    out: dict[str, Any] = {"mode": config.mode}
    for side in ("dense", "lexical"):
        if side in r.parts:
            out[side] = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in r.parts[side].items()}
    if config.mode == "hybrid":
        f = config.fusion
        formula = (
            f"sum of 2*w/({f.rrf_k}+rank) with w_dense={f.alpha}, w_lexical={1 - f.alpha}"
            if f.method == "rrf"
            else f"{f.alpha}*minmax(dense) + {1 - f.alpha}*minmax(lexical)"
        )
        fused = r.parts.get("smoothing", {}).get("score", r.score)
        out["fusion"] = {"method": f.method, "formula": formula, "score": round(fused, 6)}
    out["feedback"] = {"rm3": used["rm3"], "rocchio": used["rocchio"]}
    if "smoothing" in r.parts:
        part = r.parts["smoothing"]
        out["smoothing"] = {
            "before": round(part["score"], 6), "neighbours": round(part["neighbours"], 6),
            "weight": part["weight"], "score": round(r.score, 6),
            "formula": f"{1 - part['weight']:g}*before + {part['weight']:g}*mean of {config.smoothing_neighbours} "
                       "nearest candidates' scores",
        }
    return out


def _check_model(index_dir: Path, recorded: ModelRef, requested: ModelRef) -> None:
    if recorded.sha256 != requested.sha256:
        raise ModelMismatchError(
            f"index at {index_dir} was built with model {recorded.name} ({recorded.path}), "
            f"not {requested.name} ({requested.path}); query without --model, or rebuild with: "
            f"hubsearch index rebuild --model {requested.path} --index {index_dir}"
        )


def rebuild(
    path: str | os.PathLike[str] | None = None,
    *,
    model: str | os.PathLike[str] | None = None,
    precision: str | None = None,
    embedder: Embedder | None = None,
    progress: ProgressCallback | None = None,
    wait: float = 0.0,
    reuse: bool = True,
) -> Index:
    """Rebuild the index at `path` from the sources and settings its manifest records.

    Every document is read and cut into passages again; passages whose embedded text is
    unchanged keep their vectors unless `reuse` is False.

    Works on a damaged index too, as long as its manifest can be read. `precision`
    overrides the recorded precision.

    Raises:
        IndexNotFoundError: There is no index, or its manifest cannot be read.
    """
    index_dir = Path(path) if path is not None else default_index_dir()
    recorded = _recorded_settings(index_dir, check=False)
    if model is None and embedder is None:
        from .models import find_model_folder

        model = str(find_model_folder(recorded.model))
    return Index.build(
        recorded.roots, index_dir, model=model, chunking=recorded.chunking, index_type=recorded.index_type,
        precision=precision or recorded.precision, embedder=embedder, progress=progress, wait=wait,
        reuse=reuse,
    )


@dataclass(frozen=True)
class _Recorded:
    """The settings an index's manifest records, which rebuilds and updates keep."""

    manifest: dict[str, Any]
    roots: list[str]
    chunking: ChunkingConfig
    model: ModelRef
    index_type: str
    precision: str


def _recorded_settings(index_dir: Path, *, check: bool) -> _Recorded:
    """Read the live manifest's settings. `check=False` accepts a hand-edited manifest."""
    manifest = storage.read_manifest(index_dir, storage.current_generation(index_dir), check=check)
    try:
        return _Recorded(
            manifest=manifest,
            roots=list(manifest["corpus"]["roots"]),
            chunking=ChunkingConfig.from_dict(manifest["chunking"]),
            model=ModelRef.from_dict(manifest["model"]),
            index_type=manifest["vector_index"].get("requested", "auto"),
            precision=manifest["model"].get("precision", "fp32"),
        )
    except (KeyError, TypeError) as exc:
        raise storage.damaged(index_dir, f"manifest field missing: {exc}") from exc


def update(
    path: str | os.PathLike[str] | None = None,
    paths: Sequence[str | os.PathLike[str]] | None = None,
    *,
    embedder: Embedder | None = None,
    progress: ProgressCallback | None = None,
    wait: float = 0.0,
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
    index_dir = Path(path) if path is not None else default_index_dir()
    started = time.perf_counter()
    recorded = _recorded_settings(index_dir, check=True)
    roots = [str(p) for p in paths] if paths else recorded.roots
    if recorded.manifest["corpus"].get("virtual"):
        raise InvalidInputError(
            f"index at {index_dir} was built by hubsearch eval from a BEIR collection; run hubsearch eval again"
        )
    storage.check_not_busy(index_dir, wait)
    report = BuildReport()
    docs, skipped = load_documents(roots)
    report.skipped = skipped
    if progress:
        progress("read", len(docs), len(docs))
    if embedder is None:
        embedder = _recorded_embedder(recorded)
    resolved = _resolve_roots(roots)
    return Index._build_documents(
        docs, skipped, resolved, index_dir, embedder, recorded.chunking, recorded.index_type, progress, wait,
        report, started, reuse=True, reuse_documents=True,
    )


def _recorded_embedder(recorded: _Recorded) -> Embedder:
    """The build embedder an index's manifest names; the model itself loads on first use."""
    from .embedding import LazyEmbedder
    from .models import find_model_folder

    ref = recorded.model
    folder = find_model_folder(ref)
    return LazyEmbedder(
        ModelRef(ref.name, str(folder), ref.sha256, ref.max_seq_length), recorded.precision,
        int(recorded.manifest["model"]["dimension"]),
    )


def watch(
    path: str | os.PathLike[str] | None = None,
    paths: Sequence[str | os.PathLike[str]] | None = None,
    *,
    embedder: Embedder | None = None,
    debounce_ms: int = 800,
    stop_event: Any = None,
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

    index_dir = Path(path) if path is not None else default_index_dir()
    recorded = _recorded_settings(index_dir, check=True)
    roots = [str(p) for p in paths] if paths else recorded.roots
    if embedder is None:
        embedder = _recorded_embedder(recorded)

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
    path: str | os.PathLike[str] | None = None,
    *,
    sources: Sequence[str | os.PathLike[str]] = DEFAULT_SOURCES,
    model: str | os.PathLike[str] | None = None,
    progress: ProgressCallback | None = None,
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
    return Index.build(sources, path, model=model, progress=progress), True


__all__ = ["BuildReport", "Hit", "SearchConfig", "evaluate", "update", "HubsearchError", "Index", "default_index_dir", "open_or_build", "rebuild"]


def evaluate(
    beir_dir: str | os.PathLike[str],
    *,
    modes: Sequence[str] = MODES,
    path: str | os.PathLike[str] | None = None,
    model: str | os.PathLike[str] | None = None,
    config: SearchConfig | None = None,
    precision: str = "auto",
    embedder: Embedder | None = None,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Index a BEIR-layout collection and score each retrieval mode on its judged queries.

    Documents are ranked by their best passage. Passages are also scored on their own,
    each judged with its document's grade (`metrics["passages"]`). If `path` already holds
    an index of the same collection (same corpus file and model), it is reused.

    Returns:
        {"collection", "queries", "documents", "passages", "index", "results": {mode: metrics}},
        where metrics holds "ndcg@10", "recall@100", "mrr" and "passages" (the same three
        over the passage ranking).
    """
    import tempfile

    from .evaluation import evaluate_run, load_beir

    folder = Path(beir_dir)
    collection = load_beir(folder)
    fingerprint = storage.file_sha256(folder / "corpus.jsonl")
    cleanup = None
    if path is None:
        cleanup = tempfile.TemporaryDirectory(prefix="hubsearch-eval-")
        index_dir = Path(cleanup.name) / "index"
    else:
        index_dir = Path(path)
    try:
        index = _open_matching(index_dir, fingerprint, model, embedder, precision)
        if index is None:
            if embedder is None:
                from . import embedding

                embedder = embedding.load_embedder(resolve_model(model), precision)
            docs = [
                Document(
                    doc_id=doc_id, source=doc_id, root=str(folder.resolve()),
                    text=f"{title}\n{text}" if title else text,
                    sha256=hashlib.sha256(f"{title}\n{text}".encode()).hexdigest(),
                    title=title or None, date=None,
                )
                for doc_id, (title, text) in collection.corpus.items()
                if (title or text).strip()
            ]
            if progress:
                progress("read", len(docs), len(docs))
            index = Index._build_documents(
                docs, [], [str(folder.resolve())], index_dir, embedder, ChunkingConfig(), "auto",
                progress, 0.0, BuildReport(), time.perf_counter(), virtual=True,
            )
            _record_fingerprint(index, fingerprint)
        qids = sorted(collection.qrels)
        texts = [collection.queries[q] for q in qids]
        passage_qrels = _passage_qrels(collection.qrels, index._store.doc_ids())
        results = {}
        for mode in modes:
            mode_config = replace(config or SearchConfig(), mode=mode)
            ranked = index._rank_for_evaluation(texts, 100, mode_config)
            run = {q: [d for d, _ in docs] for q, (docs, _) in zip(qids, ranked)}
            passage_run = {q: [str(i) for i, _ in passages] for q, (_, passages) in zip(qids, ranked)}
            results[mode] = evaluate_run(run, collection.qrels)
            results[mode]["passages"] = evaluate_run(passage_run, passage_qrels)
            if progress:
                progress("eval", len(results), len(modes))
        info = {
            "collection": str(folder), "queries": len(qids), "documents": len(collection.corpus),
            "passages": index.manifest["corpus"]["passages"], "index": str(index_dir) if cleanup is None else None,
            "precision": index.manifest["model"].get("precision"), "build_seconds": index.manifest["built"]["seconds"],
            "results": results,
        }
        index.close()
        return info
    finally:
        if cleanup is not None:
            cleanup.cleanup()


def _passage_qrels(qrels: dict[str, dict[str, int]], doc_of: Sequence[str]) -> dict[str, dict[str, int]]:
    """Judgements for passages: each passage gets its document's grade."""
    passages_of: dict[str, list[int]] = {}
    for pid, doc in enumerate(doc_of):
        passages_of.setdefault(doc, []).append(pid)
    return {
        q: {str(pid): grade for doc, grade in judged.items() for pid in passages_of.get(doc, [])}
        for q, judged in qrels.items()
    }


def _open_matching(
    index_dir: Path, fingerprint: str, model: Any, embedder: Embedder | None, precision: str
) -> Index | None:
    """The index at `index_dir` if it was built from this corpus with this model and
    precision, else None."""
    if not storage.exists(index_dir):
        return None
    marker = index_dir / "eval-corpus.sha256"
    if not marker.is_file() or marker.read_text().strip() != fingerprint:
        return None
    try:
        index = Index.open(index_dir, model=model, embedder=embedder)
    except (ModelMismatchError, IndexDamagedError):
        return None
    if embedder is None:
        from .embedding import resolve_precision

        if index.manifest["model"].get("precision") != resolve_precision(precision):
            index.close()
            return None
    return index


def _record_fingerprint(index: Index, fingerprint: str) -> None:
    (index.path / "eval-corpus.sha256").write_text(fingerprint + "\n")
