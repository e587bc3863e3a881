"""The passage store: one SQLite file per generation with documents and their passages,
and the typed records that come out of it."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE documents (
    doc_id TEXT PRIMARY KEY, source TEXT NOT NULL, root TEXT NOT NULL,
    sha256 TEXT NOT NULL, title TEXT, date TEXT, chars INTEGER NOT NULL
);
CREATE TABLE passages (
    id INTEGER PRIMARY KEY, doc_id TEXT NOT NULL REFERENCES documents(doc_id),
    chunk INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL,
    text TEXT NOT NULL, text_sha256 TEXT NOT NULL, input_sha256 TEXT NOT NULL
);
CREATE INDEX passages_doc ON passages(doc_id);
"""


@dataclass(frozen=True)
class Passage:
    """A passage as a build writes it.

    Attributes:
        id: Its row in this generation (also its vector's row).
        doc_id: The document it comes from.
        chunk: Its position among the document's passages.
        start, end: Character offsets into the document's text.
        text: `document_text[start:end]`.
        text_sha256: Hash of `text`.
        input_sha256: Hash of the exact text that was embedded (the passage with its
            title prefix), so a later build can reuse the vector of an unchanged passage.
    """

    id: int
    doc_id: str
    chunk: int
    start: int
    end: int
    text: str
    text_sha256: str
    input_sha256: str


@dataclass(frozen=True)
class DocumentRow:
    """A document as the passage store keeps it."""

    doc_id: str
    source: str
    root: str
    sha256: str
    title: str | None
    date: str | None
    chars: int


@dataclass(frozen=True)
class StoredPassage:
    """A passage as a query reads it, with its document's source, title and date.

    Attributes:
        chunk_id: The passage's id in this index.
        doc_id: The source file's path relative to its root, without extension.
        source: The source file's path relative to its root.
        start: Offset of the passage's first character in the source text.
        end: Offset one past its last character: `text == source_text[start:end]`.
        text: The passage.
        title: The document's title, or None.
        date: The document's publication date (YYYY-MM-DD), or None.
    """

    chunk_id: int
    doc_id: str
    source: str
    start: int
    end: int
    text: str
    title: str | None
    date: str | None


@dataclass(frozen=True)
class Hit(StoredPassage):
    """One ranked passage. Field for field the same as the CLI's `--json` output.

    Attributes:
        rank: 1 for the best hit.
        score: The ranking score (higher is better): cosine in dense mode, BM25 in
            lexical mode, the fused value in hybrid mode.
        highlight: (start, end) source offsets of the sentence that best matches the query.
        explain: With `explain=True`, how the score came about (see `explain.explain_hit`).
    """

    rank: int = 0
    score: float = 0.0
    highlight: tuple[int, int] | None = None
    explain: dict[str, Any] | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Hit":
        """The hit a `--json` object describes (the inverse of `to_dict`)."""
        fields = {name: data[name] for name in (*_JSON_FIELDS, "explain") if name in data}
        highlight = data.get("highlight")
        return cls(**fields, highlight=tuple(highlight) if highlight else None)

    def to_dict(self) -> dict[str, Any]:
        """The `--json` object of this hit."""
        out = {name: getattr(self, name) for name in _JSON_FIELDS}
        out["highlight"] = list(self.highlight) if self.highlight else None
        if self.explain is not None:
            out["explain"] = self.explain
        return out


_JSON_FIELDS = ("rank", "score", "doc_id", "source", "chunk_id", "start", "end", "text", "title", "date")


def write_passage_store(path: Path, documents: Iterable[DocumentRow], passages: Iterable[Passage]) -> None:
    """Write documents and passages to a new SQLite file."""
    con = sqlite3.connect(path)
    try:
        con.executescript(_SCHEMA)
        con.executemany("INSERT INTO documents VALUES (?,?,?,?,?,?,?)",
                        ((d.doc_id, d.source, d.root, d.sha256, d.title, d.date, d.chars) for d in documents))
        con.executemany("INSERT INTO passages VALUES (?,?,?,?,?,?,?,?)",
                        ((p.id, p.doc_id, p.chunk, p.start, p.end, p.text, p.text_sha256, p.input_sha256)
                         for p in passages))
        con.commit()
    finally:
        con.close()


class PassageStore:
    """Read-only access to a generation's passages."""

    def __init__(self, path: Path) -> None:
        uri = f"{path.resolve().as_uri()}?mode=ro&immutable=1"
        self.con = sqlite3.connect(uri, uri=True, check_same_thread=False)

    def count(self) -> int:
        return int(self.con.execute("SELECT count(*) FROM passages").fetchone()[0])

    def get(self, ids: Iterable[int]) -> dict[int, StoredPassage]:
        """The passages with these ids, by id (ids not in the store are left out)."""
        ids = [int(i) for i in ids]
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.con.execute(
            "SELECT p.id, p.doc_id, d.source, p.start, p.end, p.text, d.title, d.date "
            f"FROM passages p JOIN documents d USING (doc_id) WHERE p.id IN ({marks})",
            ids,
        ).fetchall()
        return {row[0]: StoredPassage(*row) for row in rows}

    def matching(self, since: str | None, until: str | None, doc_ids: tuple[str, ...],
                 path: str | None) -> list[int]:
        """Ids of the passages whose documents pass these filters (see `settings.Filters`)."""
        where, args = [], []
        if since:
            where.append("d.date IS NOT NULL AND d.date >= ?")
            args.append(since)
        if until:
            where.append("d.date IS NOT NULL AND d.date <= ?")
            args.append(until)
        if doc_ids:
            where.append(f"p.doc_id IN ({','.join('?' * len(doc_ids))})")
            args += list(doc_ids)
        if path:
            where.append("d.source GLOB ?")
            args.append(path)
        sql = "SELECT p.id FROM passages p JOIN documents d USING (doc_id)"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [row[0] for row in self.con.execute(sql + " ORDER BY p.id", args)]

    def doc_ids(self) -> list[str]:
        """The doc_id of every passage, indexed by passage id."""
        return [r[0] for r in self.con.execute("SELECT doc_id FROM passages ORDER BY id")]

    def doc_passages(self, doc_id: str) -> list[Passage]:
        """One document's passages, in order."""
        rows = self.con.execute(
            "SELECT id, doc_id, chunk, start, end, text, text_sha256, input_sha256 FROM passages "
            "WHERE doc_id = ? ORDER BY chunk",
            (doc_id,),
        ).fetchall()
        return [Passage(*row) for row in rows]

    def input_index(self) -> dict[str, int]:
        """input_sha256 -> passage id, for reusing vectors."""
        return dict(self.con.execute("SELECT input_sha256, id FROM passages"))

    def close(self) -> None:
        self.con.close()
