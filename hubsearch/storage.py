"""The index folder on disk: generations, the manifest, atomic swaps and validation.

Layout of an index folder::

    index/
      CURRENT              name of the live generation (replaced atomically)
      .lock                held by the one process that writes
      g-<time>-<random>/   one complete index: manifest.json and the files it lists

A writer builds a new generation in a temporary folder, flushes it, renames it into place
and only then points CURRENT at it, so a crash at any moment leaves the previous index
untouched, and a reader always sees one whole generation.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import (
    IndexBusyError,
    IndexDamagedError,
    IndexNotFoundError,
    InvalidInputError,
)

FORMAT = "hubsearch-index"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
POINTER = "CURRENT"
LOCK = ".lock"
GEN_PREFIX = "g-"
TMP_PREFIX = ".tmp-"
# Files a plain folder may hold and still be taken over as an index folder.
_HARMLESS = {".gitignore", ".gitkeep", "README.md", "eval-corpus.sha256", LOCK, POINTER}


def rebuild_hint(index_dir: Path | str) -> str:
    return f"rebuild it with: hubsearch index rebuild --index {index_dir}"


def damaged(index_dir: Path | str, why: str) -> IndexDamagedError:
    return IndexDamagedError(f"index at {index_dir} is damaged ({why}); {rebuild_hint(index_dir)}")


def file_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(path: Path) -> None:
    for dirpath, _, filenames in os.walk(path):
        for name in filenames:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(dirpath))


def exists(index_dir: Path) -> bool:
    return (index_dir / POINTER).is_file()


def pointer(index_dir: Path) -> str | None:
    """What CURRENT says right now, unchecked (None if it cannot be read)."""
    try:
        return (index_dir / POINTER).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None


def current_generation(index_dir: Path) -> Path:
    """The folder of the live generation.

    Raises:
        IndexNotFoundError: The folder holds no index.
        IndexDamagedError: CURRENT points at nothing.
    """
    pointer = index_dir / POINTER
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise IndexNotFoundError(
            f"no index at {index_dir}; build one with: hubsearch index build PATHS --index {index_dir}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise damaged(index_dir, f"cannot read {POINTER}: {exc}") from exc
    if not name.startswith(GEN_PREFIX) or "/" in name or not (index_dir / name).is_dir():
        raise damaged(index_dir, f"{POINTER} names a missing generation {name[:80]!r}")
    return index_dir / name


def manifest_checksum(manifest: dict[str, Any]) -> str:
    """SHA-256 of the manifest's content, its own checksum field left out."""
    body = {k: v for k, v in manifest.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def read_manifest(index_dir: Path, generation: Path, *, check: bool = True) -> dict[str, Any]:
    """The generation's manifest. With `check`, one whose checksum does not match its
    content (edited by hand) is refused; rebuilding reads it without the check."""
    try:
        manifest = json.loads((generation / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise damaged(index_dir, f"{MANIFEST} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise damaged(index_dir, f"{MANIFEST} is unreadable: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise damaged(index_dir, f"{MANIFEST} is not a hubsearch manifest")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise IndexDamagedError(
            f"index at {index_dir} has format version {version}, newer than this hubsearch reads "
            f"({FORMAT_VERSION}); upgrade hubsearch, or {rebuild_hint(index_dir)}"
        )
    if check and manifest.get("checksum") != manifest_checksum(manifest):
        raise damaged(index_dir, f"{MANIFEST} was edited after the index was written")
    return manifest


def verify_files(index_dir: Path, generation: Path, manifest: dict[str, Any]) -> None:
    """Check every file the manifest lists against its recorded size and SHA-256.

    Raises:
        IndexDamagedError: A file is missing, has the wrong size, or the wrong content.
    """
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise damaged(index_dir, f"{MANIFEST} lists no files")
    # Hashing gigabytes on every open would dominate a query on a large index, so a file
    # that was verified before and whose size, times and inode have not moved since is not
    # hashed again. Any write changes ctime, which no tool can set back.
    memo = _verified_memo(generation, manifest)
    seen = _read_memo(memo)
    fingerprints = {}
    for rel, meta in files.items():
        path = generation / rel
        try:
            info = path.stat()
        except FileNotFoundError:
            raise damaged(index_dir, f"{rel} is missing") from None
        if info.st_size != meta.get("bytes"):
            raise damaged(index_dir, f"{rel} has {info.st_size} bytes, expected {meta.get('bytes')}")
        fingerprint = [info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino]
        if seen.get(rel) != fingerprint and file_sha256(path) != meta.get("sha256"):
            raise damaged(index_dir, f"{rel} does not match its checksum")
        fingerprints[rel] = fingerprint
    if fingerprints != seen:
        _write_memo(memo, fingerprints)


def _verified_memo(generation: Path, manifest: dict[str, Any]) -> Path:
    from .config import cache_dir

    key = hashlib.sha256(f"{generation.resolve()}\0{manifest.get('checksum')}".encode()).hexdigest()[:32]
    return cache_dir() / "verified" / f"{key}.json"


def _read_memo(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_memo(path: Path, fingerprints: dict[str, Any]) -> None:
    """Best effort: a read-only cache only means hashing again next time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(f"{path.name}.{secrets.token_hex(4)}.part")
        part.write_text(json.dumps(fingerprints), encoding="utf-8")
        os.replace(part, path)
    except OSError:
        pass


def prepare_folder(index_dir: Path) -> None:
    """Create the index folder, refusing to take over a folder that holds other things."""
    if index_dir.exists() and not index_dir.is_dir():
        raise InvalidInputError(f"{index_dir} is a file, not a folder; pass another --index")
    index_dir.mkdir(parents=True, exist_ok=True)
    if exists(index_dir):
        return
    foreign = [
        p.name for p in index_dir.iterdir()
        if p.name not in _HARMLESS and not p.name.startswith((GEN_PREFIX, TMP_PREFIX))
    ]
    if foreign:
        raise InvalidInputError(
            f"{index_dir} already holds other files ({', '.join(sorted(foreign)[:3])}); "
            "pass an empty or new folder with --index so nothing there is overwritten"
        )


@contextmanager
def write_lock(index_dir: Path, timeout: float) -> Iterator[None]:
    """Hold the index's writer lock. The OS drops it if the holder dies, so it never goes stale.

    Raises:
        IndexBusyError: Another writer held the lock for longer than `timeout` seconds.
    """
    from filelock import FileLock, Timeout

    lock = FileLock(str(index_dir / LOCK))
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise IndexBusyError(
            f"another hubsearch process is writing the index at {index_dir}; "
            "wait for it to finish and try again (or pass a longer --wait)"
        ) from None
    try:
        yield
    finally:
        lock.release()


def check_not_busy(index_dir: Path, timeout: float) -> None:
    """Fail fast, before any slow work, if another writer holds the lock (waiting up to
    `timeout` seconds for it). The write itself takes the lock again."""
    if (index_dir / LOCK).exists():
        with write_lock(index_dir, timeout):
            pass


class GenerationWriter:
    """Collects the files of a new generation and publishes them atomically."""

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = index_dir
        self.path = index_dir / f"{TMP_PREFIX}{secrets.token_hex(6)}"
        self.path.mkdir()
        self.published = False

    def file(self, name: str) -> Path:
        return self.path / name

    def publish(self, manifest: dict[str, Any], files: Iterable[str], pause: Any = None) -> Path:
        """Checksum `files`, write the manifest, then swap the generation in. Returns it.

        `pause`, if given, is called between renaming the generation into place and
        pointing CURRENT at it (crash tests stretch that window)."""
        manifest = dict(manifest)
        manifest["format"] = FORMAT
        manifest["format_version"] = FORMAT_VERSION
        manifest["files"] = {
            name: {"bytes": self.file(name).stat().st_size, "sha256": file_sha256(self.file(name))}
            for name in sorted(files)
        }
        manifest["checksum"] = manifest_checksum(manifest)
        tmp_manifest = self.file(MANIFEST + ".part")
        tmp_manifest.write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp_manifest, self.file(MANIFEST))
        _fsync_tree(self.path)
        final = self.index_dir / f"{GEN_PREFIX}{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(4)}"
        os.replace(self.path, final)
        self.path = final
        if pause is not None:
            pause()
        pointer_tmp = self.index_dir / f"{POINTER}.{secrets.token_hex(4)}.part"
        pointer_tmp.write_text(final.name + "\n", encoding="utf-8")
        with pointer_tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(pointer_tmp, self.index_dir / POINTER)
        self.published = True
        _fsync_dir(self.index_dir)
        self.path = final
        return final

    def discard(self) -> None:
        """Remove an unpublished generation (a published one is live and stays)."""
        if not self.published:
            shutil.rmtree(self.path, ignore_errors=True)


def remove_stale(index_dir: Path, keep: Path) -> None:
    """Delete generations and temporary folders other than `keep`. Call with the lock held.

    Readers that already opened an older generation keep their open files; on POSIX the
    data stays readable until they close it.
    """
    for child in index_dir.iterdir():
        if child == keep or not child.is_dir():
            continue
        if child.name.startswith((GEN_PREFIX, TMP_PREFIX)):
            shutil.rmtree(child, ignore_errors=True)
    for child in index_dir.glob(f"{POINTER}.*.part"):
        child.unlink(missing_ok=True)


# --- passage store ---------------------------------------------------------------------

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
class PassageRow:
    id: int
    doc_id: str
    source: str
    chunk: int
    start: int
    end: int
    text: str
    title: str | None
    date: str | None


def write_passage_store(
    path: Path,
    documents: Iterable[tuple[str, str, str, str, str | None, str | None, int]],
    passages: Iterable[tuple[int, str, int, int, int, str, str, str]],
) -> None:
    """Write documents (doc_id, source, root, sha256, title, date, chars) and passages
    (id, doc_id, chunk, start, end, text, text_sha256, input_sha256) to a new SQLite file.

    input_sha256 hashes the exact text that was embedded (the passage with its title
    prefix), so a later build can reuse the vector of an unchanged passage."""
    con = sqlite3.connect(path)
    try:
        con.executescript(_SCHEMA)
        con.executemany("INSERT INTO documents VALUES (?,?,?,?,?,?,?)", documents)
        con.executemany("INSERT INTO passages VALUES (?,?,?,?,?,?,?,?)", passages)
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

    def get(self, ids: list[int]) -> dict[int, PassageRow]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.con.execute(
            "SELECT p.id, p.doc_id, d.source, p.chunk, p.start, p.end, p.text, d.title, d.date "
            f"FROM passages p JOIN documents d USING (doc_id) WHERE p.id IN ({marks})",
            [int(i) for i in ids],
        ).fetchall()
        return {row[0]: PassageRow(*row) for row in rows}

    def doc_ids(self) -> list[str]:
        """The doc_id of every passage, indexed by passage id."""
        return [r[0] for r in self.con.execute("SELECT doc_id FROM passages ORDER BY id")]

    def doc_passages(self, doc_id: str) -> list[tuple[int, int, int, int, str, str, str]]:
        """(id, chunk, start, end, text, text_sha256, input_sha256) of one document's passages."""
        return self.con.execute(
            "SELECT id, chunk, start, end, text, text_sha256, input_sha256 FROM passages "
            "WHERE doc_id = ? ORDER BY chunk",
            (doc_id,),
        ).fetchall()

    def input_index(self) -> dict[str, int]:
        """input_sha256 -> passage id, for reusing vectors."""
        return dict(self.con.execute("SELECT input_sha256, id FROM passages"))

    def close(self) -> None:
        self.con.close()
