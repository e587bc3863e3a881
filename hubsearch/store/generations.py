"""The index folder on disk: generations, atomic swaps, the writer lock and file checks.

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

import errno
import hashlib
import json
import os
import secrets
import shlex
import shutil
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from ..errors import (
    IndexBusyError,
    IndexNotFoundError,
    IndexWriteError,
    InvalidInputError,
)
from .manifest import MANIFEST, RECORD, FileRecord, Manifest, damaged, sealed
from .memo import fingerprint, note_path, read_note, write_note

POINTER = "CURRENT"
LOCK = ".lock"
GEN_PREFIX = "g-"
TMP_PREFIX = ".tmp-"
# The files of one generation (the manifest lists them with their sizes and hashes).
VECTORS = "vectors.faiss"
EMBEDDINGS = "embeddings.npy"
PASSAGES = "passages.sqlite"
LEXICAL = "lexical"
# Files a plain folder may hold and still be taken over as an index folder.
_HARMLESS = {".gitignore", ".gitkeep", "README.md", "eval-corpus.sha256", "serve.sock", "serve.json", LOCK, POINTER, RECORD}


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
            f"no index in the folder '{index_dir}'; build one from the folders of documents you want to "
            f"search with: hubsearch index build FOLDER... --index {shlex.quote(str(index_dir))}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise damaged(index_dir, f"cannot read {POINTER}: {exc}") from exc
    if not _is_generation(index_dir, name):
        raise damaged(index_dir, f"{POINTER} names a missing generation {name[:80]!r}")
    return index_dir / name


def _is_generation(index_dir: Path, name: str) -> bool:
    if not name.startswith(GEN_PREFIX) or "/" in name or "\x00" in name or len(os.fsencode(name)) > 255:
        return False
    try:
        return (index_dir / name).is_dir()
    except OSError:
        return False


def verify_files(index_dir: Path, generation: Path, manifest: Manifest) -> None:
    """Check every file the manifest lists against its recorded size and SHA-256.

    Raises:
        IndexDamagedError: A file is missing, has the wrong size, or the wrong content.
    """
    files = manifest.files
    if not files:
        raise damaged(index_dir, f"{MANIFEST} lists no files")
    # Hashing gigabytes on every open would dominate a query on a large index, so a file
    # that was verified before and whose size, times and inode have not moved since is not
    # hashed again. Any write changes ctime, which no tool can set back.
    memo = _verified_memo(generation, manifest)
    seen = read_note(memo)
    fingerprints = {}
    for rel, meta in files.items():
        path = generation / rel
        try:
            found = fingerprint(path)
        except FileNotFoundError:
            raise damaged(index_dir, f"{rel} is missing") from None
        if found[0] != meta.bytes:
            raise damaged(index_dir, f"{rel} has {found[0]} bytes, expected {meta.bytes}")
        if seen.get(rel) != found and file_sha256(path) != meta.sha256:
            raise damaged(index_dir, f"{rel} does not match its checksum")
        fingerprints[rel] = found
    if fingerprints != seen:
        write_note(memo, fingerprints)


def _verified_memo(generation: Path, manifest: Manifest) -> Path:
    return note_path(hashlib.sha256(f"{generation.resolve()}\0{manifest.checksum}".encode()).hexdigest()[:32])


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


@contextmanager
def writing(index_dir: Path, timeout: float) -> Iterator[None]:
    """Prepare the index folder and hold its writer lock for a whole write, so that a
    second writer is refused at once, before any slow work.

    Raises:
        IndexBusyError: Another writer held the lock for longer than `timeout` seconds.
        IndexWriteError: The folder cannot be created or locked.
    """
    with ExitStack() as stack:
        try:
            prepare_folder(index_dir)
            stack.enter_context(write_lock(index_dir, timeout))
        except OSError as exc:
            raise write_error(index_dir, exc) from exc
        yield


def write_error(index_dir: Path, exc: BaseException, needed: int = 0) -> IndexWriteError:
    """A one-line error naming why the index folder could not be written, and the fix."""
    code = getattr(exc, "errno", None)
    free = None
    try:
        free = shutil.disk_usage(index_dir if index_dir.exists() else index_dir.parent).free
    except OSError:
        pass
    if code == errno.EROFS:
        why = "read-only file system; pass an --index folder on a writable disk"
    elif code in (errno.ENOSPC, errno.EDQUOT) or "disk is full" in str(exc) or (free is not None and free < 2**20):
        size = f" (needed about {max(1, round(needed / 2**20))} MB" + (f", {free / 2**20:.1f} MB free)" if free is not None else ")")
        why = f"no space left on device{size if needed else ''}; free some space or pass another --index"
    elif code in (errno.EACCES, errno.EPERM):
        why = "permission denied; pass an --index folder you can write"
    else:
        why = f"{getattr(exc, 'strerror', None) or exc}; check the folder and try again"
    return IndexWriteError(f"cannot write index at {index_dir}: {why}. The previous index, if any, is unchanged")


class GenerationWriter:
    """Collects the files of a new generation and publishes them atomically."""

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = index_dir
        self.path = index_dir / f"{TMP_PREFIX}{secrets.token_hex(6)}"
        self.path.mkdir()
        self.published = False

    def file(self, name: str) -> Path:
        return self.path / name

    def publish(self, manifest: Manifest, files: Iterable[str], pause: Any = None) -> Path:
        """Checksum `files`, write the manifest, then swap the generation in. Returns it.

        `pause`, if given, is called between renaming the generation into place and
        pointing CURRENT at it (crash tests stretch that window)."""
        records = {
            name: FileRecord(self.file(name).stat().st_size, file_sha256(self.file(name))) for name in sorted(files)
        }
        tmp_manifest = self.file(MANIFEST + ".part")
        # One line: with `indent`, json falls back to its pure-Python encoder (0.25 s for
        # 10,000 sources).
        tmp_manifest.write_text(json.dumps(sealed(manifest, records), ensure_ascii=False), encoding="utf-8")
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
        _move_aside_if_folder(self.index_dir / POINTER)
        os.replace(pointer_tmp, self.index_dir / POINTER)
        self.published = True
        _fsync_dir(self.index_dir)
        self.path = final
        return final

    def discard(self) -> None:
        """Remove an unpublished generation (a published one is live and stays)."""
        if not self.published:
            shutil.rmtree(self.path, ignore_errors=True)


def orphaned(index_dir: Path, current: str) -> list[str]:
    """Generations other than `current`, left where a writer died after publishing and
    before cleaning up; the next write removes them."""
    return sorted(p.name for p in index_dir.glob(f"{GEN_PREFIX}*") if p.is_dir() and p.name != current)


def _move_aside_if_folder(path: Path) -> None:
    """A folder where CURRENT belongs (damage) is renamed aside, kept, so the pointer can be
    written."""
    if path.is_dir() and not path.is_symlink():
        os.replace(path, path.with_name(f"{path.name}.damaged-{secrets.token_hex(4)}"))


def unfinished(index_dir: Path) -> list[str]:
    """Folders left by writers that died before publishing; the next write removes them."""
    return sorted(p.name for p in index_dir.glob(f"{TMP_PREFIX}*") if p.is_dir())


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
    for pattern in (f"{POINTER}.*.part", f"{RECORD}.*.part"):
        for child in index_dir.glob(pattern):
            child.unlink(missing_ok=True)


