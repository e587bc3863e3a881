"""The server's Unix socket in the index folder.

`hubsearch serve` also listens on `INDEX/serve.sock`, readable and writable by its owner
only (0600); `hubsearch query` asks there first (see `cli.remote`).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

SOCKET = "serve.sock"
MAX_PATH = 100  # AF_UNIX paths are limited to about 108 bytes


def socket_path(index_dir: Path) -> Path:
    return index_dir / SOCKET


def bind(index_dir: Path) -> socket.socket | None:
    """A listening Unix socket at INDEX/serve.sock with mode 0600, or None where the path
    is too long for a Unix socket. A stale socket file left by a killed server is replaced."""
    path = socket_path(index_dir)
    if len(os.fsencode(path.resolve())) > MAX_PATH:
        return None
    if path.exists() and not _answers(path):
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

