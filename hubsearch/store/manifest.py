"""The typed manifest of one index generation, read and written in this module only.

The manifest records what decides how an index is read: the model (and so the query
embedder), chunking and BM25 settings, the vector backend and its index type, and the size
and SHA-256 of every file. It carries a checksum of its own content, so a hand-edited
manifest is noticed. Every source's record (and every skipped file) is kept beside it in
`source_files.json`, one of the files it checksums, and read on first use: a query needs
none of them, and at 100,000 files they took half a second to read.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import IndexDamagedError
from ..records import ModelRef, Skipped, indexed_file
from ..settings import ChunkingConfig, LexicalConfig
from .deferred import Deferred
from .memo import fingerprint, note_path, read_note, write_note

FORMAT = "hubsearch-index"
# 2: sources record declared fields (meta), skipped files their kind; 3: BM25 analyser 2 and term
# counts; 4: sources and skipped files in SOURCES_FILE instead of the manifest
FORMAT_VERSION = 4
MANIFEST = "manifest.json"
SOURCES_FILE = "source_files.json"
# Beside CURRENT: the sources and settings of the last build, so that `rebuild` works even
# when the live generation's manifest or CURRENT itself is damaged.
RECORD = "SOURCES.json"


def rebuild_hint(index_dir: Path | str) -> str:
    """The command that repairs a damaged index at `index_dir`: rebuild where the sources
    are recorded, else a build from the paths (filled in when known)."""
    if read_record(Path(index_dir)) is not None:
        return f"rebuild it with: hubsearch index rebuild --index {index_dir}"
    return f"build it again with: hubsearch index build PATHS --index {index_dir}"


def damaged(index_dir: Path | str, why: str) -> IndexDamagedError:
    return IndexDamagedError(f"index at {index_dir} is damaged ({why}); {rebuild_hint(index_dir)}")


@dataclass(frozen=True)
class ModelInfo:
    """The model an index was built with, and how its vectors were made."""

    name: str
    path: str
    sha256: str
    max_seq_length: int
    dimension: int
    normalized: bool = True
    precision: str = "fp32"

    @property
    def ref(self) -> ModelRef:
        return ModelRef(self.name, self.path, self.sha256, self.max_seq_length)


@dataclass(frozen=True)
class BuildInfo:
    at: str
    seconds: float
    embedded: int = 0
    reused: int = 0
    embedders: list[str] = field(default_factory=list)  # what computed this generation's vectors


@dataclass(frozen=True)
class VectorIndexInfo:
    """The vector backend and its index: `type` is what was built, `requested` what was asked."""

    type: str
    requested: str
    metric: str
    count: int
    backend: str = "faiss"
    qdrant: dict[str, Any] | None = None  # url or path, collection, alias (backend "qdrant")


@dataclass(frozen=True)
class CorpusInfo:
    roots: list[str]
    documents: int
    passages: int
    virtual: bool = False
    include: list[str] = field(default_factory=list)  # patterns a file must match (all when empty)
    exclude: list[str] = field(default_factory=list)  # patterns that leave a file out


@dataclass(frozen=True)
class SourceRecord:
    """One indexed file, with what is needed to notice that it changed."""

    doc_id: str
    source: str
    root: str
    sha256: str
    bytes: int
    mtime_ns: int
    title: str | None
    date: str | None
    meta: dict[str, Any] = field(default_factory=dict)  # what the document declares (front matter)

    @property
    def file(self) -> Path:
        """The indexed file: the root joined with the POSIX-style source path."""
        return indexed_file(self.root, self.source)


@dataclass(frozen=True)
class FileRecord:
    bytes: int
    sha256: str


Lists = tuple[list[SourceRecord], list[Skipped]]  # what SOURCES_FILE holds, typed


@dataclass(frozen=True)
class Manifest:
    """Everything a generation records about itself. `files` and `checksum` are filled in
    when the generation is published."""

    built: BuildInfo
    model: ModelInfo
    chunking: ChunkingConfig
    lexical: LexicalConfig
    vector_index: VectorIndexInfo
    corpus: CorpusInfo
    sources: Sequence[SourceRecord]  # from SOURCES_FILE, read on first use (format 4)
    skipped: Sequence[Skipped]
    versions: dict[str, str]
    files: dict[str, FileRecord] = field(default_factory=dict)
    checksum: str = ""
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The manifest as plain data, with its sources and skipped files (which are stored
        in SOURCES_FILE: see `sealed` and `lists`)."""
        return {**self._head(), **self.lists()}

    def _head(self) -> dict[str, Any]:
        """Everything but the sources and skipped files."""
        data: dict[str, Any] = {
            "built": asdict(self.built),
            "model": asdict(self.model),
            "chunking": self.chunking.to_dict(),
            "lexical": {"library": "bm25s", **self.lexical.to_dict()},
            "vector_index": asdict(self.vector_index),
            "corpus": asdict(self.corpus),
            "versions": dict(self.versions),
            "format": FORMAT,
            "format_version": self.format_version,
        }
        if self.files:
            data["files"] = {name: asdict(f) for name, f in self.files.items()}
        if self.checksum:
            data["checksum"] = self.checksum
        return data

    def lists(self) -> dict[str, Any]:
        """What SOURCES_FILE holds: every source's record and every skipped file."""
        return {"sources": [_source_dict(s) for s in self.sources],
                "skipped": [{"path": s.path, "reason": s.reason, "kind": s.kind} for s in self.skipped]}

    @classmethod
    def from_dict(cls, data: dict[str, Any], lists: Callable[[], Lists] | None = None) -> "Manifest":
        """The manifest from its stored form; `lists` reads the sources and skipped files
        from SOURCES_FILE, where the stored form has none (format 4), on first use. Raises
        KeyError, TypeError or ValueError when a field is missing or malformed."""
        vector_index = dict(data["vector_index"])
        vector_index.setdefault("requested", "auto")
        if "sources" in data or lists is None:
            sources: Sequence[SourceRecord] = _sources(data)
            skipped: Sequence[Skipped] = _skipped(data)
        else:
            read_lists = _once(lists)
            sources = Deferred(lambda: read_lists()[0])
            skipped = Deferred(lambda: read_lists()[1])
        return cls(
            built=BuildInfo(**data["built"]),
            model=ModelInfo(**data["model"]),
            chunking=ChunkingConfig.from_dict(data["chunking"]),
            lexical=LexicalConfig.from_dict(data["lexical"]),
            vector_index=VectorIndexInfo(**vector_index),
            corpus=CorpusInfo(**data["corpus"]),
            sources=sources,
            skipped=skipped,
            versions=dict(data.get("versions", {})),
            files={name: FileRecord(**f) for name, f in data.get("files", {}).items()},
            checksum=str(data.get("checksum", "")),
            format_version=int(data["format_version"]),
        )


def _sources(data: dict[str, Any]) -> list[SourceRecord]:
    return [SourceRecord(**s) for s in data.get("sources", [])]


def _skipped(data: dict[str, Any]) -> list[Skipped]:
    return [Skipped(s["path"], s["reason"], s.get("kind", "unreadable")) for s in data.get("skipped", [])]


def _once(read: Callable[[], Lists]) -> Callable[[], Lists]:
    """`read`, run at most once: sources and skipped files come from one file."""
    kept: list[Lists] = []

    def first() -> Lists:
        if not kept:
            kept.append(read())
        return kept[0]

    return first


def _source_dict(s: SourceRecord) -> dict[str, Any]:
    """`asdict(s)`, written out: an index of many files records thousands of them, and
    `asdict` copies each value recursively (0.3 s for 10,000)."""
    return {"doc_id": s.doc_id, "source": s.source, "root": s.root, "sha256": s.sha256, "bytes": s.bytes,
            "mtime_ns": s.mtime_ns, "title": s.title, "date": s.date, "meta": copy.deepcopy(s.meta)}


def checksum(data: dict[str, Any]) -> str:
    """SHA-256 of a stored manifest's content, its own checksum field left out."""
    body = {k: v for k, v in data.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def sealed(manifest: Manifest, files: dict[str, FileRecord]) -> dict[str, Any]:
    """The stored form of `manifest` (without the lists SOURCES_FILE holds), with its files
    and its own checksum filled in."""
    data = replace(manifest, files=files, checksum="")._head()
    data["checksum"] = checksum(data)
    return data


def write_lists(generation: Path, manifest: Manifest) -> str:
    """Write SOURCES_FILE into an unpublished generation; returns its name, for the files
    the manifest checksums."""
    (generation / SOURCES_FILE).write_text(json.dumps(manifest.lists(), ensure_ascii=False), encoding="utf-8")
    return SOURCES_FILE


def _read_lists(index_dir: Path, handle: BinaryIO) -> Lists:
    """The sources and skipped files in SOURCES_FILE, from a handle opened with the
    manifest: a writer may remove a retired generation while a reader still holds it."""
    try:
        with handle:
            data = json.loads(handle.read().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise damaged(index_dir, f"{SOURCES_FILE} is unreadable: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("sources"), list):
        raise damaged(index_dir, f"{SOURCES_FILE} holds no list of sources")
    try:
        return _sources(data), _skipped(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise damaged(index_dir, f"{SOURCES_FILE} field missing or malformed: {exc}") from exc


def read_raw(index_dir: Path, generation: Path, *, check: bool = True) -> dict[str, Any]:
    """The generation's manifest.json as stored. With `check`, one whose checksum does not
    match its content (edited by hand) is refused; rebuilding reads it without the check.

    Raises:
        IndexDamagedError: The file is missing, unreadable, foreign, too new or edited.
    """
    try:
        data = json.loads((generation / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise damaged(index_dir, f"{MANIFEST} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise damaged(index_dir, f"{MANIFEST} is unreadable: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise damaged(index_dir, f"{MANIFEST} is not a hubsearch manifest")
    version = data.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise damaged(index_dir, f"{MANIFEST} has no valid format_version (it holds {version!r})")
    if version > FORMAT_VERSION:
        raise IndexDamagedError(
            f"index at {index_dir} has format version {version}, newer than this hubsearch reads "
            f"({FORMAT_VERSION}); upgrade hubsearch, or {rebuild_hint(index_dir)}"
        )
    if check:
        _check_sum(index_dir, generation, data)
    return data


def _check_sum(index_dir: Path, generation: Path, data: dict[str, Any]) -> None:
    """Refuse a manifest whose checksum does not match its content. Checking serialises the
    whole manifest again, which grows with the sources it records (23 ms at 10,000 files),
    so a manifest verified before and not written since is not checked again."""
    key = f"{generation.resolve()}\0{data.get('checksum')}\0{MANIFEST}"
    note = note_path("m-" + hashlib.sha256(key.encode()).hexdigest()[:32])
    try:
        found: list[int] | None = fingerprint(generation / MANIFEST)
    except OSError:
        found = None
    if found is not None and read_note(note).get(MANIFEST) == found:
        return
    if data.get("checksum") != checksum(data):
        raise damaged(index_dir, f"{MANIFEST} was edited after the index was written")
    if found is not None:
        write_note(note, {MANIFEST: found})


_recent: dict[tuple[str, tuple[int, ...]], tuple[dict[str, Any], Manifest]] = {}
_recent_lock = threading.Lock()


def read(index_dir: Path, generation: Path, *, check: bool = True) -> Manifest:
    """The generation's manifest, typed. See `read_raw` for `check`. A manifest read before
    in this process and unchanged since (same size, times and inode) is not parsed again,
    nor are its sources: an update reads the live manifest four times.

    Raises:
        IndexDamagedError: As `read_raw`, or a field is missing or malformed.
    """
    try:
        key: tuple[str, tuple[int, ...]] | None = (str(generation.resolve()), tuple(fingerprint(generation / MANIFEST)))
    except OSError:
        key = None
    with _recent_lock:
        hit = _recent.get(key) if key else None
    if hit is not None:
        if check:
            _check_sum(index_dir, generation, hit[0])
        return hit[1]
    data = read_raw(index_dir, generation, check=check)
    manifest = _typed(index_dir, generation, data)
    if key:
        with _recent_lock:
            while len(_recent) >= 2:  # the live generation and the one being written
                del _recent[next(iter(_recent))]
            _recent[key] = (data, manifest)
    return manifest


def _typed(index_dir: Path, generation: Path, data: dict[str, Any]) -> Manifest:
    lists = None
    if "sources" not in data:  # format 4: in SOURCES_FILE, read when first needed
        try:
            handle = (generation / SOURCES_FILE).open("rb")
        except FileNotFoundError:
            raise damaged(index_dir, f"{SOURCES_FILE} is missing") from None

        def lists() -> Lists:
            return _read_lists(index_dir, handle)

    try:
        return Manifest.from_dict(data, lists)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise damaged(index_dir, f"manifest field missing or malformed: {exc}") from exc


def write_record(index_dir: Path, manifest: Manifest) -> None:
    """Record the sources and settings of `manifest` beside CURRENT, atomically."""
    import os

    data = {
        "format": FORMAT, "roots": manifest.corpus.roots, "virtual": manifest.corpus.virtual,
        "chunking": manifest.chunking.to_dict(), "model": asdict(manifest.model),
        "index_type": manifest.vector_index.requested,
        "backend": manifest.vector_index.backend, "qdrant": manifest.vector_index.qdrant,
        "include": manifest.corpus.include, "exclude": manifest.corpus.exclude,
    }
    part = index_dir / f"{RECORD}.{os.getpid()}.part"
    with part.open("w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1, ensure_ascii=False)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(part, index_dir / RECORD)


def read_record(index_dir: Path) -> dict[str, Any] | None:
    """The record beside CURRENT, or None where there is none or it cannot be used."""
    try:
        data = json.loads((index_dir / RECORD).read_text(encoding="utf-8"))
        if data.get("format") != FORMAT or not isinstance(data.get("roots"), list):
            return None
        ModelInfo(**data["model"])
        ChunkingConfig.from_dict(data["chunking"])
        return data
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
