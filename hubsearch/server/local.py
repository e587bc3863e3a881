"""The server's Unix socket in the index folder, and the client the CLI uses with it.

`hubsearch serve` also listens on `INDEX/serve.sock`, readable and writable by its owner
only (0600). `hubsearch query` asks there first and answers in-process when nobody
listens, so it never guesses ports. The client needs nothing but the standard library:
a query answered this way imports neither numpy, FAISS nor onnxruntime.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
from pathlib import Path
from typing import Any

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


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(str(self._path))


def ask(index_dir: Path, body: dict[str, Any], timeout: float = 30.0) -> tuple[int, dict[str, Any]] | None:
    """POST /search to the server of `index_dir`: (status, JSON answer), or None when no
    server listens there (no socket, or a stale one left by a killed server)."""
    return _request(index_dir, "POST", "/search", body, timeout)


def changes(index_dir: Path, timeout: float = 30.0) -> dict[str, int] | None:
    """GET /changes from the server of `index_dir`, or None if it does not answer."""
    answer = _request(index_dir, "GET", "/changes", None, timeout)
    return answer[1] if answer is not None and answer[0] == 200 else None


def _request(index_dir: Path, method: str, route: str, body: dict[str, Any] | None,
             timeout: float) -> tuple[int, Any] | None:
    path = socket_path(index_dir)
    if not path.exists():
        return None
    connection = _UnixConnection(path, timeout)
    try:
        if body is None:
            connection.request(method, route)
        else:
            connection.request(method, route, json.dumps(body), {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    except (OSError, http.client.HTTPException, ValueError):
        return None
    finally:
        connection.close()
