"""BEIR-layout test collections and trec_eval-style metrics.

nDCG@k uses graded gains (the judgement value) and a log2(rank + 1) discount, with the
ideal ranking built from all judged documents, as trec_eval's ndcg_cut does. Recall@k is
the share of relevant documents (judgement > 0) in the top k. MRR is the reciprocal rank
of the first relevant document. Every query with at least one judgement is averaged.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import SourceError


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


def evaluate_run(run: Mapping[str, Sequence[str]], qrels: Mapping[str, Mapping[str, int]]) -> dict[str, float]:
    """Mean nDCG@10, Recall@100 and MRR of ranked doc-id lists over the judged queries."""
    n = len(qrels)
    totals = {"ndcg@10": 0.0, "recall@100": 0.0, "mrr": 0.0}
    for qid, judged in qrels.items():
        ranking = list(run.get(qid, []))
        totals["ndcg@10"] += ndcg_at(ranking, judged, 10)
        totals["recall@100"] += recall_at(ranking, judged, 100)
        totals["mrr"] += reciprocal_rank(ranking, judged)
    return {k: v / n for k, v in totals.items()}
