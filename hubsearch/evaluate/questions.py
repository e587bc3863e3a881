"""Question sets: natural questions over a folder of documents, each with answer phrases.

A question file is JSON lines. Its first record names the documents, relative to the
file; every other record is a question:

    {"corpus": "../seeds"}
    {"q": "How big will the Xuhui AI incubator be?", "answers": ["100,000 square meters"],
     "doc_id": "004_151d86a0f29a9671", "kind": "number"}

A hit answers a question when its passage contains one of the answer phrases (case and
runs of whitespace ignored). `evaluate_questions` reports, per mode, the share of
questions answered by the top passage (top1) and by one of the top 3 (top3), the mean
reciprocal rank of the first answering passage in the top 10 (mrr@10), and, among the
questions whose top passage answers, the share whose highlighted sentence holds the
answer too (highlight).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import SourceError
from ..settings import MODES, ChunkingConfig, SearchConfig
from .beir import index_folder
from .report import CollectionReport, EvalReport, mode_result

if TYPE_CHECKING:
    from ..embed.base import Embedder
    from ..index import Index
    from ..records import ProgressCallback

_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Question:
    q: str
    answers: tuple[str, ...]
    doc_id: str | None = None
    kind: str | None = None


@dataclass(frozen=True)
class QuestionSet:
    path: Path
    corpus: Path
    questions: list[Question]


def _norm(text: str) -> str:
    return _SPACE.sub(" ", text).strip().lower()


def holds(text: str, answers: Sequence[str]) -> bool:
    """Whether `text` contains one of the answer phrases, ignoring case and whitespace runs."""
    flat = _norm(text)
    return any(_norm(a) in flat for a in answers)


def load_questions(path: str | os.PathLike[str]) -> QuestionSet:
    """Read a question file.

    Raises:
        SourceError: The file is unreadable, malformed, names no corpus, or holds no questions.
    """
    path = Path(path)
    corpus: Path | None = None
    questions: list[Question] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"cannot read the question file {path} ({exc}); pass a UTF-8 JSON-lines file") from exc
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SourceError(f"{path}:{n} is not valid JSON ({exc.msg}); fix or remove that line") from exc
        if isinstance(record, dict) and "corpus" in record and "q" not in record:
            corpus = (path.parent / str(record["corpus"])).resolve()
            continue
        answers = record.get("answers") if isinstance(record, dict) else None
        if not isinstance(record, dict) or not isinstance(record.get("q"), str) or not isinstance(answers, list) \
                or not answers or not all(isinstance(a, str) and a.strip() for a in answers):
            raise SourceError(f'{path}:{n} is not a question; write {{"q": "...", "answers": ["..."]}}')
        questions.append(Question(record["q"], tuple(answers), record.get("doc_id"), record.get("kind")))
    if corpus is None:
        raise SourceError(f'{path} names no documents; add a first line {{"corpus": "FOLDER"}} (relative to the file)')
    if not corpus.exists():
        raise SourceError(f"{path} names the corpus {corpus}, which does not exist; fix its corpus line")
    if not questions:
        raise SourceError(f"{path} holds no questions; add lines of {{\"q\": ..., \"answers\": [...]}}")
    return QuestionSet(path, corpus, questions)


def evaluate_questions(
    path: str | os.PathLike[str], *, modes: Sequence[str] = MODES, index_path: str | os.PathLike[str] | None = None,
    model: str | os.PathLike[str] | None = None, config: SearchConfig | None = None, precision: str = "auto",
    embedder: Embedder | None = None, progress: ProgressCallback | None = None,
    chunking: ChunkingConfig | None = None,
) -> CollectionReport:
    """Index a question set's corpus and score each mode on its questions. `chunking` sets
    how the documents are cut into passages (default: `ChunkingConfig()`).

    Returns:
        A `CollectionReport` whose results hold, per mode, top1, top3, mrr@10 and highlight,
        and every question's values (keyed by its number).
    """
    from ..index import Index
    from ..settings import BuildOptions

    qset = load_questions(path)
    with index_folder(index_path) as (index_dir, kept):
        options = BuildOptions(model=str(model) if model is not None else None,
                               chunking=chunking or ChunkingConfig(), precision=precision)
        index = Index.build([qset.corpus], index_dir, options, embedder=embedder, progress=progress)
        results = {}
        for mode in modes:
            results[mode] = mode_result(score_questions(index, qset.questions, (config or SearchConfig()).with_mode(mode)))
            if progress:
                progress("eval", len(results), len(modes))
        m = index.manifest
        report = CollectionReport(
            collection=str(qset.path), kind="questions", queries=len(qset.questions), documents=m.corpus.documents,
            passages=m.corpus.passages, index=str(index_dir) if kept else None, precision=m.model.precision,
            chunking=m.chunking, build_seconds=m.built.seconds, results=results,
        )
        index.close()
        return report


def score_questions(index: Index, questions: Sequence[Question], config: SearchConfig) -> dict[str, dict[str, float]]:
    """Per question (keyed by its number as text): whether the top passage answers it
    (top1), whether one of the top 3 does (top3), the reciprocal rank of the first
    answering passage in the top 10 (mrr@10), and, for the questions whose top passage
    answers, whether its highlighted sentence holds the answer too (highlight)."""
    values: dict[str, dict[str, float]] = {"top1": {}, "top3": {}, "mrr@10": {}, "highlight": {}}
    for n, question in enumerate(questions):
        hits = index.search(question.q, k=10, config=config)
        answered = [holds(h.text, question.answers) for h in hits]
        qid = str(n)
        values["top1"][qid] = float(bool(answered[:1] and answered[0]))
        values["top3"][qid] = float(any(answered[:3]))
        values["mrr@10"][qid] = next((1.0 / (i + 1) for i, a in enumerate(answered) if a), 0.0)
        if answered[:1] and answered[0] and hits[0].highlight:
            start, end = hits[0].highlight
            sentence = hits[0].text[start - hits[0].start : end - hits[0].start]
            values["highlight"][qid] = float(holds(sentence, question.answers))
    return values


def evaluate_many(
    collections: Sequence[str | os.PathLike[str]], *, modes: Sequence[str] = MODES,
    index_root: str | os.PathLike[str] | None = None, split: str = "test", **options: Any,
) -> EvalReport:
    """Score every mode on several collections: BEIR folders and question files alike.

    Args:
        collections: BEIR folders (corpus.jsonl, queries.jsonl, qrels/test.tsv) or
            question files.
        index_root: A folder to keep each collection's index in (as index_root/NAME),
            so that later runs reuse them; default: temporary folders.
        split: Which qrels/<split>.tsv judges each BEIR folder's queries.
        options: model, config, precision, embedder, progress, chunking: as for `evaluate`.

    Returns:
        An `EvalReport`: each collection's report, and per mode each metric's mean over the
        collections that report it.
    """
    from .beir import evaluate

    reports = []
    for collection in collections:
        path = Path(collection)
        where = Path(index_root) / path.stem if index_root is not None else None
        if path.is_file():
            reports.append(evaluate_questions(path, modes=modes, index_path=where, **options))
        else:
            reports.append(evaluate(path, modes=modes, path=where, split=split, **options))
    return EvalReport.of(reports, modes)
