"""The typed records that cross module boundaries: models, documents, passages, hits and
build reports. Nothing here imports more than the standard library."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePath, PurePosixPath
from typing import Any

# (stage, done, total): stages are "read", "embed", "sentences", "write" and "eval";
# total may be 0 if unknown.
ProgressCallback = Callable[[str, int, int], None]

# Given texts, return for each the (start, end) character spans of its tokens, special
# tokens excluded.
TokenOffsets = Callable[[Sequence[str]], list[list[tuple[int, int]]]]


@dataclass(frozen=True)
class ModelRef:
    """Which model an index was built with.

    Attributes:
        name: A human name: the bundled model's name, or the folder's base name.
        path: Absolute path of the folder the model was loaded from.
        sha256: Hash of every file in the folder; it identifies the weights for good.
        max_seq_length: The model's token window, special tokens included.
    """

    name: str
    path: str
    sha256: str
    max_seq_length: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelRef":
        return cls(
            name=data["name"],
            path=data["path"],
            sha256=data["sha256"],
            max_seq_length=int(data["max_seq_length"]),
        )


@dataclass(frozen=True)
class Document:
    """One readable source file.

    Attributes:
        doc_id: Path relative to its root, without the extension (the file stem for a file
            at the top of the root).
        source: Path relative to its root, with the extension.
        root: The folder the document was found under, absolute.
        text: The decoded text (for HTML and PDF, the extracted text); passages' offsets
            index into it.
        sha256: Hash of the file's bytes.
        size: The file's size in bytes, and mtime_ns its modification time, to notice
            changes cheaply.
        meta: Fields the document declares about itself (a Markdown front matter's title,
            date, tags and other scalar or list fields), as JSON values.
        headings: (offset, level, text) of each heading (Markdown) or definition (code).
        recorded_chars: Set on a document an update did not read, because its size and
            modification time match the index's record: `text` is then empty and this is
            the recorded length of its text.
    """

    doc_id: str
    source: str
    root: str
    text: str
    sha256: str
    title: str | None
    date: str | None
    size: int = 0
    mtime_ns: int = 0
    meta: dict[str, Any] = field(default_factory=dict)
    headings: tuple[tuple[int, int, str], ...] = ()
    recorded_chars: int | None = None

    @property
    def unread(self) -> bool:
        return self.recorded_chars is not None

    @property
    def chars(self) -> int:
        return self.recorded_chars if self.recorded_chars is not None else len(self.text)

    @property
    def file(self) -> Path:
        return indexed_file(self.root, self.source)


def indexed_file(root: str, source: str) -> Path:
    """The file a document was read from: its root joined with its POSIX-style source path."""
    return Path(root).joinpath(*PurePosixPath(source).parts)


@dataclass(frozen=True)
class Skipped:
    """A file that was found but could not be indexed, with the reason and its kind: one of
    `SKIP_KINDS` (reports count files by kind)."""

    path: str
    reason: str
    kind: str = "unreadable"


SKIP_KINDS = {
    "unsupported": "unsupported type", "binary": "binary", "encoding": "not UTF-8 text", "empty": "empty",
    "unreadable": "unreadable", "special": "not a regular file", "link": "linked from outside the folder",
    "name": "name not UTF-8", "size": "too large",
}


def skip_summary(skipped: list[Skipped]) -> str:
    """One line for a report, e.g. "3: 1 unsupported type (.xyz), 1 unreadable, 1 binary"."""
    counts = Counter(s.kind for s in skipped)
    suffixes = sorted({PurePath(s.path).suffix.lower() or "no extension" for s in skipped if s.kind == "unsupported"})
    parts = []
    for kind, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        label = SKIP_KINDS.get(kind, kind)
        if kind == "unsupported":
            label += f" ({', '.join(suffixes[:6])}{', ...' if len(suffixes) > 6 else ''})"
        parts.append(f"{n} {label}")
    return f"{len(skipped)}: " + ", ".join(parts)


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
    meta: dict[str, Any] = field(default_factory=dict)  # what it declares (front matter)


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
        score: The ranking score (higher is better, falling with rank): cosine in dense
            mode, BM25 in lexical mode, the fused value in hybrid mode. It ranks the hits of
            one query; it does not compare across queries.
        relevance: How likely the passage is to answer, in [0, 1], comparable across
            queries (see `query.relevance`).
        meta: The fields its document declares (a Markdown front matter's tags and
            others), or None when it declares none.
        highlight: (start, end) source offsets of the sentence that best matches the query;
            `highlight_text` is that sentence (in the JSON too).
        explain: With `explain=True`, how the score came about (see `explain.explain_hit`).
    """

    rank: int = 0
    score: float = 0.0
    highlight: tuple[int, int] | None = None
    explain: dict[str, Any] | None = None
    relevance: float | None = None
    meta: dict[str, Any] | None = None

    @property
    def highlight_text(self) -> str | None:
        """The sentence `highlight` points at, or None."""
        if self.highlight is None:
            return None
        return self.text[self.highlight[0] - self.start:self.highlight[1] - self.start]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Hit":
        """The hit a `--json` object describes (the inverse of `to_dict`)."""
        fields = {name: data[name] for name in (*_JSON_FIELDS, "explain", "meta") if name in data}
        highlight = data.get("highlight")
        return cls(**fields, highlight=tuple(highlight) if highlight else None)

    def to_dict(self) -> dict[str, Any]:
        """The `--json` object of this hit."""
        out = {name: getattr(self, name) for name in _JSON_FIELDS}
        out["highlight"] = list(self.highlight) if self.highlight else None
        out["highlight_text"] = self.highlight_text
        if self.meta:
            out["meta"] = self.meta
        if self.explain is not None:
            out["explain"] = self.explain
        return out


_JSON_FIELDS = ("rank", "score", "relevance", "doc_id", "source", "chunk_id", "start", "end", "text", "title", "date")


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




@dataclass(frozen=True)
class BuildReport:
    """What a build or update did.

    Attributes:
        index: The index folder written.
        generation: The name of the generation it published.
        documents, passages: What the new index holds.
        new, changed, unchanged, removed: Documents compared with the previous index
            (all new when there was none).
        embedded: Passages run through the model; reused: passages whose vectors came
            from the previous index.
        sentences: Sentences run through the model (for the highlight); the sentences
            of reused passages are reused too.
        skipped: Files that could not be read, with reasons.
        seconds: How long the write took, up to publishing.
    """

    index: str
    generation: str
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
        return asdict(self)
