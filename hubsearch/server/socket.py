"""The server's places in the index folder: its Unix socket and its note.

`hubsearch serve` listens on `INDEX/serve.sock`, readable and writable by its owner only
(0600); `hubsearch query` asks there first (see `cli.remote`). `INDEX/serve.json` says which
process serves the index, and where, so that a second `serve` can say so instead of failing
on the socket. Every answer carries the `INDEX_HEADER` with the index folder it serves, so a
client can tell that the socket it reached answers for its own index.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..errors import InvalidInputError, ServerRunningError

SOCKET = "serve.sock"
NOTE = "serve.json"
INDEX_HEADER = "x-hubsearch-index"
MAX_PATH = 100  # AF_UNIX paths are limited to about 108 bytes


def socket_path(index_dir: Path) -> Path:
    return index_dir / SOCKET


def identity(index_dir: Path) -> str:
    """The value of `INDEX_HEADER` for this index folder: its resolved path, quoted."""
    return quote(str(Path(index_dir).resolve()), safe="/")


def running(index_dir: Path) -> dict[str, Any] | None:
    """What `INDEX/serve.json` says of the server of this index ({pid, url}), if that
    process still runs."""
    try:
        note = json.loads((index_dir / NOTE).read_text())
        os.kill(int(note["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return note if note.get("pid") != os.getpid() else None


def claim(index_dir: Path, url: str) -> None:
    """Refuse to start if another server answers for this index; else note this one.

    Raises:
        ServerRunningError: A live server's note is there.
    """
    other = running(index_dir)
    if other is not None:
        raise ServerRunningError(
            f"a server already answers for this index at {other.get('url')} (pid {other['pid']}); "
            "query it there, or stop it before starting another"
        )
    note = index_dir / NOTE
    note.write_text(json.dumps({"pid": os.getpid(), "url": url}) + "\n")


def release(index_dir: Path, bound: bool) -> None:
    """Remove this server's note, and its socket where it `bound` one."""
    try:
        note = json.loads((index_dir / NOTE).read_text())
        if note.get("pid") == os.getpid():
            (index_dir / NOTE).unlink()
    except (OSError, ValueError, AttributeError):
        pass
    path = socket_path(index_dir)
    with contextlib.suppress(OSError):
        if bound and stat.S_ISSOCK(path.lstat().st_mode):
            path.unlink()


def bind(index_dir: Path) -> socket.socket | None:
    """A listening Unix socket at INDEX/serve.sock with mode 0600, or None where the path
    is too long for a Unix socket. A stale socket left by a killed server is replaced; a
    file or folder in its place is left alone and refused.

    Raises:
        InvalidInputError: Something that is not a socket is at INDEX/serve.sock.
        ServerRunningError: A server already listens there.
    """
    path = socket_path(index_dir)
    if len(os.fsencode(path.resolve())) > MAX_PATH:
        return None
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None:
        if not stat.S_ISSOCK(mode):
            kind = "a folder" if stat.S_ISDIR(mode) else "a link" if stat.S_ISLNK(mode) else "a file"
            raise InvalidInputError(f"{path} is {kind}, not the server's socket; move it out of the index folder "
                                    "and start serve again")
        if _answers(path):
            raise ServerRunningError(f"a server already answers for this index at {path}; query it there, "
                                     "or stop it before starting another")
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o077)
    try:
        sock.bind(str(path))
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    sock.listen(128)
    return sock


def _answers(path: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(0.5)
        probe.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        probe.close()
