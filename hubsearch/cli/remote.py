"""The CLI's client for a running `hubsearch serve`: it asks at `INDEX/serve.sock` first
and answers in-process when nobody listens there, so it never guesses ports. It needs
nothing but the standard library: a query answered this way imports neither numpy, FAISS
nor onnxruntime."""

from __future__ import annotations

import http.client
import json
import socket
from pathlib import Path
from typing import Any

from ..server.socket import INDEX_HEADER, identity, socket_path


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
    server of this index listens there (no socket, a stale one left by a killed server, or
    one that answers for another index)."""
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
        if response.getheader(INDEX_HEADER) != identity(index_dir):
            return None  # a socket that answers for another index (a link, a moved folder): answer here
        return response.status, json.loads(response.read())
    except (OSError, http.client.HTTPException, ValueError):
        return None
    finally:
        connection.close()
