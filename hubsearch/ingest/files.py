"""Find and read the documents to index, hash them, and pull out a title and a date."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import NoDocumentsError, SourceError
from ..records import Document, Skipped, skip_summary
from .formats import SUPPORTED_SUFFIXES, Unreadable, extract
from .metadata import extract_date, extract_title

MAX_FILE_BYTES = 256 * 2**20
MAX_TEXT_CHARS = 10 * 2**20  # about 45,000 passages, half an hour of embedding on 2 cores


@dataclass(frozen=True)
class SourceFile:
    """A file to read: its absolute path and the root its relative names are taken from."""

    path: Path
    root: Path
    relative: str | None = None  # the source, where the caller knows it already

    @property
    def source(self) -> str:
        return self.relative if self.relative is not None else self.path.relative_to(self.root).as_posix()

    @property
    def doc_id(self) -> str:
        source = self.source
        return source[: -len(self.path.suffix)] if self.path.suffix else source


def check_exist(paths: Sequence[str | os.PathLike[str]]) -> None:
    """Raises SourceError naming the first path that does not exist."""
    for raw in paths:
        if not Path(raw).expanduser().exists():
            raise SourceError(f"{raw}: no such file or folder; check the path and try again")


def discover(paths: Sequence[str | os.PathLike[str]], include: Sequence[str] = (),
             exclude: Sequence[str] = ()) -> list[SourceFile]:
    """List the files under each path, recursively, in a stable order: hidden files and
    folders, and those a folder's `.hubsearchignore` names (gitignore syntax), left out.
    Files of unsupported types are listed too; reading reports them as skipped.

    A path may be a folder (its files are named relative to it) or a single file (named
    relative to its parent folder). Symbolic links to folders are not followed, so a link
    loop cannot trap the walk.

    Raises:
        SourceError: A path does not exist.
    """
    check_exist(paths)
    return [SourceFile(Path(full), root, name) for root, name, full in _listing(paths, include, exclude)]


def _listing(paths: Sequence[str | os.PathLike[str]], include: Sequence[str] = (),
             exclude: Sequence[str] = ()) -> Iterator[tuple[Path, str, str]]:
    """(root, name relative to the root in POSIX form, absolute path) of every file
    `discover` finds, in its order; plain strings, as the stale check runs per query."""
    for raw in paths:
        path = Path(raw).expanduser().resolve()
        if path.is_file():
            yield path.parent, path.name, str(path)
            continue
        base = str(path)
        cut = len(base) if base.endswith(os.sep) else len(base) + 1
        ignored = _ignore_rules(path, exclude)
        chosen = _patterns(include)
        for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
            prefix = dirpath[cut:].replace(os.sep, "/") + "/" if len(dirpath) > len(base) else ""
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")
                                 and not (ignored and ignored.match_file(prefix + d + "/")))
            for name in sorted(filenames):
                if name.startswith(".") or (ignored and ignored.match_file(prefix + name)):
                    continue
                if chosen and not chosen.match_file(prefix + name):
                    continue
                yield path, prefix + name, os.path.join(dirpath, name)


IGNORE_FILE = ".hubsearchignore"


def _ignore_rules(root: Path, exclude: Sequence[str] = ()) -> Any:
    """The patterns of ROOT/.hubsearchignore and `exclude` (gitignore syntax, read with
    pathspec), or None when there are none."""
    try:
        lines = (root / IGNORE_FILE).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        lines = []
    return _patterns([*lines, *exclude])


def _patterns(lines: Sequence[str]) -> Any:
    if not any(line.strip() for line in lines):
        return None
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(list(lines))


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def printable(path: str | os.PathLike[str]) -> str:
    """A path as text that can be written anywhere: bytes of a name that is not valid
    UTF-8 are shown as escapes (\\xe9)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def read_documents(files: Iterable[SourceFile],
                   known: Mapping[tuple[str, str], Document] | None = None) -> Iterator[Document | Skipped]:
    """Read and extract each file. Unreadable files come back as `Skipped`, never raised:
    so do names that are not valid UTF-8, links that lead out of the indexed folder, and
    files with more text than `MAX_TEXT_CHARS`. A file in `known` (keyed by root and
    source) whose size and modification time match is not read: its known, unread
    `Document` comes back."""
    for item in files:
        shown = printable(item.path)
        if not item.path.name.lower().endswith(SUPPORTED_SUFFIXES):
            suffix = item.path.suffix.lower() or "no extension"
            yield Skipped(shown, f"unsupported type ({suffix}); hubsearch reads {', '.join(SUPPORTED_SUFFIXES)} "
                                 f"files (list files to leave out in {IGNORE_FILE})", "unsupported")
            continue
        if shown != str(item.path):
            yield Skipped(shown, "its name is not valid UTF-8; rename it (for example with convmv)", "name")
            continue
        if item.path.is_symlink():
            target = os.path.realpath(item.path)
            if not _inside(target, str(item.root)):
                yield Skipped(shown, f"a link to {printable(target)}, outside {item.root}; links are followed only "
                                     "within the indexed folder: copy the file in, or index its folder too", "link")
                continue
        try:
            info = item.path.stat()  # follows links; a link loop raises ELOOP here
            if not stat.S_ISREG(info.st_mode):
                yield Skipped(str(item.path), "not a regular file", "special")
                continue
            if info.st_size > MAX_FILE_BYTES:
                yield Skipped(str(item.path), f"larger than {MAX_FILE_BYTES // 2**20} MiB; split it into smaller files",
                              "size")
                continue
            was = known.get((str(item.root), item.source)) if known else None
            if was is not None and (was.size, was.mtime_ns) == (info.st_size, info.st_mtime_ns):
                yield was
                continue
            data = item.path.read_bytes()
        except OSError as exc:
            yield Skipped(str(item.path), f"cannot read: {exc.strerror or exc}")
            continue
        suffix = item.path.suffix.lower()
        try:
            found = extract(data, suffix)
        except Unreadable as exc:
            yield Skipped(str(item.path), str(exc), exc.kind)
            continue
        text = found.text
        if "\x00" in text:
            yield Skipped(str(item.path), "contains NUL bytes, so it looks binary", "binary")
            continue
        if not text.strip():
            yield Skipped(str(item.path), "empty (no text to index)", "empty")
            continue
        if len(text) > MAX_TEXT_CHARS:
            yield Skipped(str(item.path), f"{len(text) / 2**20:.0f} M characters of text, more than the "
                                          f"{MAX_TEXT_CHARS // 2**20} M indexed per file; split it into smaller files", "size")
            continue
        yield Document(
            doc_id=item.doc_id,
            source=item.source,
            root=str(item.root),
            text=text,
            sha256=sha256_bytes(data),
            title=found.title or extract_title(text, suffix),
            date=found.date or extract_date(text),
            size=info.st_size,
            mtime_ns=info.st_mtime_ns,
            meta=found.meta,
            headings=found.headings,
        )


def read_document(item: SourceFile) -> Document | None:
    """One file read as `read_documents` reads it, or None where it cannot be."""
    found = next(read_documents([item]))
    return found if isinstance(found, Document) else None


def load_documents(paths: Sequence[str | os.PathLike[str]], include: Sequence[str] = (),
                   exclude: Sequence[str] = (), known: Mapping[tuple[str, str], Document] | None = None,
                   ) -> tuple[list[Document], list[Skipped]]:
    """Discover and read every document under `paths` (those in `known` that match their
    record unread: see `read_documents`).

    Raises:
        SourceError: A path does not exist, or two files map to the same doc_id.
        NoDocumentsError: Nothing readable was found.
    """
    files = discover(paths, include, exclude)
    docs: list[Document] = []
    skipped: list[Skipped] = []
    seen: dict[str, str] = {}
    for item in read_documents(files, known):
        if isinstance(item, Skipped):
            skipped.append(item)
            continue
        where = os.path.join(item.root, item.source)
        if item.doc_id in seen and seen[item.doc_id] != where:
            raise SourceError(
                f"two files share the document ID {item.doc_id!r}: {seen[item.doc_id]} and {where}; "
                "rename one, or index their folders separately"
            )
        seen[item.doc_id] = where
        docs.append(item)
    if not docs:
        shown = ", ".join(str(p) for p in paths)
        detail = f" (skipped {skip_summary(skipped)})" if skipped else ""
        raise NoDocumentsError(
            f"no readable documents under {shown}{detail}; "
            f"point hubsearch at a folder of UTF-8 text, Markdown, HTML or PDF files ({' '.join(SUPPORTED_SUFFIXES)})"
        )
    return docs, skipped


# --- titles and dates -------------------------------------------------------------------

def compare_sources(corpus: Any, recorded: Sequence[Any], skipped: Sequence[Skipped]) -> dict[str, int]:
    """How the files under an index's roots differ from its records: {"new", "changed",
    "removed"}. Files whose size and modification time match their record are not read;
    the others are hashed, so a touched but unchanged file does not count.

    Args:
        corpus: The manifest's corpus record (roots, virtual).
        recorded: The manifest's source records (root, source, sha256, bytes, mtime_ns).
        skipped: Files the build skipped; finding one again is not news.
    """
    out = {"new": 0, "changed": 0, "removed": 0}
    if corpus.virtual:
        return out
    records = {(s.root, s.source): s for s in recorded}
    skipped_paths = {s.path for s in skipped}
    roots = [r for r in corpus.roots if Path(r).exists()]
    for root, source, full in _listing(roots, corpus.include, corpus.exclude):
        meta = records.pop((str(root), source), None)
        if meta is None:
            out["new"] += printable(full) not in skipped_paths
            continue
        try:
            info = os.stat(full)
            if info.st_size == meta.bytes and info.st_mtime_ns == meta.mtime_ns:
                continue
            out["changed"] += sha256_bytes(Path(full).read_bytes()) != meta.sha256
        except OSError:
            out["changed"] += 1
    out["removed"] = len(records)
    return out
