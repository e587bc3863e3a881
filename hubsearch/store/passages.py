"""The passage store: one SQLite file per generation with documents and their passages,
and the typed records that come out of it."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..records import DocumentRow, Passage, StoredPassage

_SCHEMA = """
CREATE TABLE documents (
    doc_id TEXT PRIMARY KEY, source TEXT NOT NULL, root TEXT NOT NULL,
    sha256 TEXT NOT NULL, title TEXT, date TEXT, chars INTEGER NOT NULL,
    meta TEXT  -- JSON of what the document declares; NULL where it declares nothing
);
CREATE TABLE passages (
    id INTEGER PRIMARY KEY, doc_id TEXT NOT NULL REFERENCES documents(doc_id),
    chunk INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL,
    text TEXT NOT NULL, text_sha256 TEXT NOT NULL, input_sha256 TEXT NOT NULL
);
CREATE INDEX passages_doc ON passages(doc_id);
"""


def write_passage_store(path: Path, documents: Iterable[DocumentRow], passages: Iterable[Passage]) -> None:
    """Write documents and passages to a new SQLite file."""
    con = sqlite3.connect(path)
    try:
        con.executescript(_SCHEMA)
        con.executemany("INSERT INTO documents VALUES (?,?,?,?,?,?,?,?)",
                        ((d.doc_id, d.source, d.root, d.sha256, d.title, d.date, d.chars,
                          json.dumps(d.meta, ensure_ascii=False) if d.meta else None) for d in documents))
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
        self._has_meta: bool | None = None

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

    def declared(self, doc_ids: Sequence[str]) -> dict[str, dict[str, Any]] | None:
        """What each of these documents declares (front matter), for those that declare
        something; None for a store written before it kept declarations (index format 3)."""
        if self._has_meta is None:
            self._has_meta = any(row[1] == "meta" for row in self.con.execute("PRAGMA table_info(documents)"))
        if not self._has_meta:
            return None
        wanted = sorted(set(doc_ids))
        if not wanted:
            return {}
        marks = ",".join("?" * len(wanted))
        rows = self.con.execute(
            f"SELECT doc_id, meta FROM documents WHERE meta IS NOT NULL AND doc_id IN ({marks})", wanted)
        return {doc_id: json.loads(meta) for doc_id, meta in rows}

    def roots(self, doc_ids: Iterable[str]) -> dict[str, str]:
        """doc_id -> the folder its file was indexed from, for these documents."""
        wanted = sorted(set(doc_ids))
        if not wanted:
            return {}
        marks = ",".join("?" * len(wanted))
        return dict(self.con.execute(f"SELECT doc_id, root FROM documents WHERE doc_id IN ({marks})", wanted))

    def passages_of(self, doc_ids: set[str]) -> dict[str, list[Passage]]:
        """These documents' passages, each document's in order, read in one scan (an update
        keeps thousands of documents; a query each took 9 ms per thousand)."""
        out: dict[str, list[Passage]] = {}
        for row in self.con.execute(
            "SELECT id, doc_id, chunk, start, end, text, text_sha256, input_sha256 FROM passages ORDER BY id"
        ):
            if row[1] in doc_ids:
                out.setdefault(row[1], []).append(Passage(*row))
        for passages in out.values():
            passages.sort(key=lambda p: p.chunk)
        return out

    def document_chars(self) -> dict[str, int]:
        """doc_id -> the length of the document's text."""
        return dict(self.con.execute("SELECT doc_id, chars FROM documents"))

    def input_index(self) -> dict[str, int]:
        """input_sha256 -> passage id, for reusing vectors."""
        return dict(self.con.execute("SELECT input_sha256, id FROM passages"))

    def close(self) -> None:
        self.con.close()
