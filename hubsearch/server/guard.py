"""What every HTTP request passes before it reaches a route, the web page and /mcp included:

- **Host**: only the names this server answers for (the loopback names, the `--host` it
  listens on, and names added with `--allow-host`), so that a web page that rebinds its own
  domain to 127.0.0.1 cannot read the index (DNS rebinding).
- **Origin**: a browser request from another origin is refused unless `--cors` allows it.
- **Token**: with `--token`, every request carries `Authorization: Bearer TOKEN` or the
  session cookie that `/login` sets (HttpOnly, SameSite=Strict). The page itself and
  /favicon.ico hold no data and load without it, so that a browser can show the login form.
- **Body size**: bodies are counted as they arrive (chunked ones too); past `max_body`
  bytes the request is refused with 413 and the rest is never read.

A pure ASGI middleware: it buffers at most `max_body` bytes and never touches responses.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARDS = ("0.0.0.0", "::", "")
COOKIE = "hubsearch_session"
OPEN_PATHS = ("/", "/favicon.ico")  # no data in them: a browser loads them before it logs in
CODE_SECONDS = 600


def host_name(header: str) -> str:
    """The name in a Host header or an origin's netloc, without port or brackets, lowercased."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class Guard:
    """Wraps the app with the Host, Origin, token and body-size checks.

    Args:
        app: The ASGI app behind the checks.
        listen: The address the server listens on (`--host`).
        allow_hosts: More Host names to accept (`--allow-host`).
        origins: Origins allowed to call from a browser (`--cors`).
        token: The secret every request must prove, or None for none.
        max_body: The largest request body, in bytes.
    """

    def __init__(self, app: ASGIApp, *, listen: str = "127.0.0.1", allow_hosts: Iterable[str] = (),
                 origins: Iterable[str] = (), token: str | None = None, max_body: int = 64 * 1024) -> None:
        self.app = app
        self.any_host = listen in WILDCARDS and token is not None
        self.hosts = {host_name(h) for h in (*LOOPBACK_NAMES, listen, *allow_hosts) if h not in WILDCARDS}
        self.origins = {o.rstrip("/").lower() for o in origins}
        self.token = token
        self.session = hmac.new(token.encode(), b"hubsearch session", hashlib.sha256).hexdigest() if token else None
        self.max_body = max_body
        self._codes: dict[str, float] = {}

    def login_code(self) -> str:
        """A code that logs a browser in once, through /login?code=CODE, within 10 minutes."""
        code = secrets.token_urlsafe(24)
        self._codes[code] = time.monotonic() + CODE_SECONDS
        return code

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            await _answer(send, *refusal)
            return
        body, too_large = await _read_body(receive, self.max_body) if _has_body(scope, headers) else (None, False)
        if too_large:
            await _answer(send, 413, f"the request body is larger than {self.max_body:,} bytes; send a shorter query")
            return
        if scope["path"] == "/login" and self.token is not None:
            await self._login(scope, body or b"", send)
            return
        if not self._authorised(scope, headers):
            await _answer(send, 401, "this server needs a token; send the header 'Authorization: Bearer TOKEN', "
                                     "or log in on the web page")
            return
        await self.app(scope, _replay(body, receive) if body is not None else receive, send)

    def _refusal(self, scope: Scope, headers: dict[str, str]) -> tuple[int, str] | None:
        host = host_name(headers.get("host", ""))
        if not self.any_host and host not in self.hosts:
            return 403, (f"this server does not answer for the host name {host!r}; connect to it as 127.0.0.1 "
                         "or localhost, or start it with --allow-host NAME")
        origin = headers.get("origin")
        if origin is not None and origin.rstrip("/").lower() not in self.origins:
            parts = urlsplit(origin)
            same = parts.netloc.lower() == headers.get("host", "").strip().lower() and parts.scheme in ("http", "https")
            if not same:
                return 403, (f"requests from the web origin {origin!r} are refused; start the server with "
                             f"--cors {origin} to let pages from there call it")
        return None

    def _authorised(self, scope: Scope, headers: dict[str, str]) -> bool:
        if self.token is None or (scope["method"] == "GET" and scope["path"] in OPEN_PATHS):
            return True
        given = headers.get("authorization", "")
        if hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
            return True
        cookie = _cookies(headers.get("cookie", "")).get(COOKIE, "")
        return self.session is not None and hmac.compare_digest(cookie.encode(), self.session.encode())

    async def _login(self, scope: Scope, body: bytes, send: Send) -> None:
        """GET /login?code=CODE (the one-time link `serve` prints) or POST /login with
        {"token": TOKEN}: set the session cookie."""
        if scope["method"] == "GET":
            code = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("code", [""])[0]
            expires = self._codes.pop(code, None)
            if expires is None or expires < time.monotonic():
                await _answer(send, 401, "this login link is used up or expired; restart serve for a new one, "
                                         "or log in with the token on the web page")
                return
            await _answer(send, 303, "logged in", {"location": "/", "set-cookie": self._cookie()})
            return
        try:
            given = json.loads(body or b"{}").get("token", "")
        except (ValueError, AttributeError):
            given = ""
        if not isinstance(given, str) or not hmac.compare_digest(given.encode(), (self.token or "").encode()):
            await _answer(send, 401, "wrong token; use the one serve was started with (--token or $HUBSEARCH_TOKEN)")
            return
        await _answer(send, 200, "logged in", {"set-cookie": self._cookie()})

    def _cookie(self) -> str:
        return f"{COOKIE}={self.session}; HttpOnly; SameSite=Strict; Path=/"


def _has_body(scope: Scope, headers: dict[str, str]) -> bool:
    return scope["method"] not in ("GET", "HEAD", "OPTIONS") or "content-length" in headers \
        or "transfer-encoding" in headers


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """The body, read as it arrives; (what was read, True) as soon as it passes `limit`."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return b"", True
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), False


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # later: the disconnect, for a streaming response

    return again


def _cookies(header: str) -> dict[str, str]:
    out = {}
    for part in header.split(";"):
        name, _, value = part.strip().partition("=")
        out[name] = value
    return out


async def _answer(send: Send, status: int, message: str, extra: dict[str, str] | None = None) -> None:
    body = json.dumps({"error": message} if status >= 400 else {"status": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
