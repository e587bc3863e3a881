"""Scoring retrieval: BEIR-layout test collections, trec_eval-style metrics, and
`evaluate`, which indexes a collection and scores every mode on it.

nDCG@k uses graded gains (the judgement value) and a log2(rank + 1) discount, with the
ideal ranking built from all judged documents, as trec_eval's ndcg_cut does. Recall@k is
the share of relevant documents (judgement > 0) in the top k. MRR is the reciprocal rank
of the first relevant document. Every query with at least one judgement is averaged.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import IndexDamagedError, ModelMismatchError, SourceError
from ..index import Index
from ..request import validate_query
from ..settings import MODES, ChunkingConfig, SearchConfig
from .report import CollectionReport, ModeResult, means, mode_result

if TYPE_CHECKING:
    from ..embed.base import Embedder
    from ..records import ProgressCallback
    from ..retrieval.ranked import Ranking


@dataclass(frozen=True)
class Collection:
    """A test collection: documents, queries and graded judgements."""

    corpus: dict[str, tuple[str, str]]  # doc_id -> (title, text)
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def _jsonl(path: Path) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as handle:
        for n, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise SourceError(f"{path}:{n} is not valid JSON ({exc.msg}); fix or remove that line") from exc
    return rows


def load_beir(folder: str | Path, split: str = "test") -> Collection:
    """Read corpus.jsonl, queries.jsonl and qrels/<split>.tsv from a BEIR folder.

    Raises:
        SourceError: A file is missing or malformed.
    """
    folder = Path(folder)
    needed = [folder / "corpus.jsonl", folder / "queries.jsonl", folder / "qrels" / f"{split}.tsv"]
    missing = [str(p.relative_to(folder)) for p in needed if not p.is_file()]
    splits = sorted(p.stem for p in (folder / "qrels").glob("*.tsv")) if missing == [f"qrels/{split}.tsv"] else []
    if splits:
        raise SourceError(
            f"{folder} has no qrels/{split}.tsv but judges queries in {', '.join(splits)}; "
            f"choose one with --split {'test' if 'test' in splits else splits[0]}"
        )
    if missing:
        raise SourceError(
            f"{folder} is not a BEIR folder (missing {', '.join(missing)}); it needs corpus.jsonl, "
            f"queries.jsonl and qrels/{split}.tsv"
        )
    try:
        corpus = {str(d["_id"]): (d.get("title") or "", d.get("text") or "") for d in _jsonl(needed[0])}
        queries = {str(q["_id"]): q["text"] for q in _jsonl(needed[1])}
    except KeyError as exc:
        raise SourceError(f"{folder}: a record lacks the field {exc}; BEIR records need _id and text") from exc
    qrels: dict[str, dict[str, int]] = {}
    with needed[2].open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t")
        for n, row in enumerate(reader, start=1):
            if n == 1 and not row[-1].lstrip("-").isdigit():
                continue  # header
            if len(row) < 3:
                continue
            qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    qrels = {q: j for q, j in qrels.items() if q in queries}
    if not qrels:
        raise SourceError(f"{needed[2]} judges none of the queries in queries.jsonl; check the query IDs")
    return Collection(corpus, queries, qrels)


def ndcg_at(ranking: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    dcg = sum(max(judged.get(d, 0), 0) / math.log2(i + 2) for i, d in enumerate(ranking[:k]))
    ideal = sorted((g for g in judged.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at(ranking: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    relevant = {d for d, g in judged.items() if g > 0}
    return len(relevant.intersection(ranking[:k])) / len(relevant) if relevant else 0.0


def reciprocal_rank(ranking: Sequence[str], judged: Mapping[str, int]) -> float:
    for i, d in enumerate(ranking):
        if judged.get(d, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def per_query(run: Mapping[str, Sequence[str]], qrels: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, float]]:
    """nDCG@10, Recall@100 and reciprocal rank of each judged query: {metric: {qid: value}}."""
    out: dict[str, dict[str, float]] = {"ndcg@10": {}, "recall@100": {}, "mrr": {}}
    for qid, judged in qrels.items():
        ranking = list(run.get(qid, []))
        out["ndcg@10"][qid] = ndcg_at(ranking, judged, 10)
        out["recall@100"][qid] = recall_at(ranking, judged, 100)
        out["mrr"][qid] = reciprocal_rank(ranking, judged)
    return out


def evaluate_run(run: Mapping[str, Sequence[str]], qrels: Mapping[str, Mapping[str, int]]) -> dict[str, float]:
    """Mean nDCG@10, Recall@100 and MRR of ranked doc-id lists over the judged queries."""
    return means(per_query(run, qrels))


# --- scoring an index on a collection ---------------------------------------------------


def passage_qrels(qrels: Mapping[str, Mapping[str, int]], doc_of: Sequence[str]) -> dict[str, dict[str, int]]:
    """Judgements for passages: each passage gets its document's grade."""
    passages_of: dict[str, list[int]] = {}
    for pid, doc in enumerate(doc_of):
        passages_of.setdefault(doc, []).append(pid)
    return {
        q: {str(pid): grade for doc, grade in judged.items() for pid in passages_of.get(doc, [])}
        for q, judged in qrels.items()
    }


def rank_documents(
    index: Index, queries: Sequence[str], k: int, config: SearchConfig,
) -> list[tuple[list[tuple[str, float]], list[tuple[int, float]]]]:
    """Per query, the top `k` documents (each ranked by its best passage) and the top `k`
    passages, from the same pipeline and candidate depth `Index.search` runs (at least
    `fusion.depth` passages from each side, more when `k` is larger)."""
    doc_of = index.passage_documents()
    pipeline = index.pipeline
    vectors = pipeline.encode([validate_query(q) for q in queries])
    depth = max(config.fusion.depth, k)
    out = []
    for query, vector in zip(queries, vectors):
        ranked = pipeline.rank(query, vector, config, depth).ranking
        out.append((best_passage_documents(ranked, doc_of, k), [(r.id, r.score) for r in ranked[:k]]))
    return out


def best_passage_documents(ranked: Ranking, doc_of: Sequence[str], k: int) -> list[tuple[str, float]]:
    """The top `k` documents of a passage ranking, each scored by its best passage."""
    best: dict[str, float] = {}
    for i, score in zip(ranked.ids.tolist(), ranked.scores.tolist()):
        best.setdefault(doc_of[i], score)
    return sorted(best.items(), key=lambda x: -x[1])[:k]


def evaluate(
    beir_dir: str | os.PathLike[str], *, modes: Sequence[str] = MODES, path: str | os.PathLike[str] | None = None,
    model: str | os.PathLike[str] | None = None, config: SearchConfig | None = None, precision: str = "auto",
    embedder: Embedder | None = None, progress: ProgressCallback | None = None, split: str = "test",
    chunking: ChunkingConfig | None = None,
) -> CollectionReport:
    """Index a BEIR-layout collection and score each retrieval mode on the queries that
    `qrels/<split>.tsv` judges.

    Documents are ranked by their best passage. Passages are also scored on their own,
    each judged with its document's grade (`metrics["passages"]`). If `path` already holds
    an index of the same collection (same corpus file, model, precision and passage
    settings), it is reused. `chunking` sets how documents are cut into passages
    (default: `ChunkingConfig()`, as `hubsearch index build` does).

    Returns:
        A `CollectionReport` whose results hold, per mode, ndcg@10, recall@100 and mrr over
        the documents, the same three over the passages, and every query's values.
    """
    from ..store.generations import file_sha256

    folder = Path(beir_dir)
    collection = load_beir(folder, split)
    from .. import __version__

    # A kept index is reused only by the same hubsearch: another version may cut passages otherwise.
    fingerprint = f"{file_sha256(folder / 'corpus.jsonl')} hubsearch {__version__}"
    chunking = chunking or ChunkingConfig()
    with index_folder(path) as (index_dir, kept):
        index = _open_matching(index_dir, fingerprint, model, embedder, precision, chunking)
        if index is None:
            index = _index_collection(collection, folder, index_dir, model, embedder, precision, chunking, progress)
            (index.path / EVAL_MARKER).write_text(fingerprint + "\n")
        qids = sorted(collection.qrels)
        texts = [collection.queries[q] for q in qids]
        judged_passages = passage_qrels(collection.qrels, index.passage_documents())
        results: dict[str, ModeResult] = {}
        for mode in modes:
            ranked = rank_documents(index, texts, 100, (config or SearchConfig()).with_mode(mode))
            run = {q: [d for d, _ in docs] for q, (docs, _) in zip(qids, ranked)}
            passage_run = {q: [str(i) for i, _ in passages] for q, (_, passages) in zip(qids, ranked)}
            results[mode] = mode_result(per_query(run, collection.qrels), evaluate_run(passage_run, judged_passages))
            if progress:
                progress("eval", len(results), len(modes))
        m = index.manifest
        report = CollectionReport(
            collection=str(folder), kind="beir", queries=len(qids), documents=len(collection.corpus),
            passages=m.corpus.passages, index=str(index_dir) if kept else None, precision=m.model.precision,
            chunking=m.chunking, build_seconds=m.built.seconds, results=results, split=split,
        )
        index.close()
        return report


@contextmanager
def index_folder(path: str | os.PathLike[str] | None) -> Iterator[tuple[Path, bool]]:
    """Where an evaluation keeps its index: (`path`, True), or (a temporary folder removed
    afterwards, False) when `path` is None."""
    if path is not None:
        yield Path(path), True
        return
    import tempfile

    with tempfile.TemporaryDirectory(prefix="hubsearch-eval-") as tmp:
        yield Path(tmp) / "index", False


EVAL_MARKER = "eval-corpus.sha256"


def _index_collection(
    collection: Collection, folder: Path, index_dir: Path, model: Any, embedder: Embedder | None, precision: str,
    chunking: ChunkingConfig, progress: ProgressCallback | None,
) -> Index:
    import time

    started = time.perf_counter()
    from ..indexer.lifecycle import publish
    from ..indexer.write import WriteJob
    from ..records import Document

    if embedder is None:
        from ..embed import factory
        from ..embed.models import resolve_model

        embedder = factory.load_embedder(resolve_model(model), precision)
    docs = [
        Document(
            doc_id=doc_id, source=doc_id, root=str(folder.resolve()), text=f"{title}\n{text}" if title else text,
            sha256=hashlib.sha256(f"{title}\n{text}".encode()).hexdigest(), title=title or None, date=None,
        )
        for doc_id, (title, text) in collection.corpus.items()
        if (title or text).strip()
    ]
    if progress:
        progress("read", len(docs), len(docs))
    from ..store.generations import writing

    with writing(index_dir, 0.0):
        job = WriteJob(index_dir, docs, [], [str(folder.resolve())], chunking, virtual=True, started=started)
        written = publish(job, embedder, progress)
    return Index.open(index_dir, embedder=written.query_embedder)


def _open_matching(
    index_dir: Path, fingerprint: str, model: Any, embedder: Embedder | None, precision: str, chunking: ChunkingConfig
) -> Index | None:
    """The index at `index_dir` if it was built from this corpus with this model,
    precision and passage settings, else None."""
    from ..store import generations

    if not generations.exists(index_dir):
        return None
    marker = index_dir / EVAL_MARKER
    if not marker.is_file() or marker.read_text().strip() != fingerprint:
        return None
    try:
        index = Index.open(index_dir, model=model, embedder=embedder)
    except (ModelMismatchError, IndexDamagedError):
        return None
    from ..store.manifest import FORMAT_VERSION

    # An index of an older format is cut the old way (BM25's analyser, say): scored afresh.
    if index.manifest.chunking != chunking or index.manifest.format_version != FORMAT_VERSION:
        index.close()
        return None
    if embedder is None:
        from ..embed.factory import build_precision

        if index.manifest.model.precision != build_precision(index.model, precision):
            index.close()
            return None
    return index
