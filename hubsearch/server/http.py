"""The HTTP API (FastAPI): search, documents, info and health, over the `Index` facade.

    GET  /search?q=...&k=5&mode=hybrid&since=...&until=...&doc=...&path=...&min_score=...
    POST /search        {"q": ..., "k": ..., "mode": ..., "since": ..., "doc_ids": [...], ...}
    GET  /documents, GET /documents/{doc_id}
    GET  /info, GET /changes, GET /health

/search returns exactly the object `hubsearch query --json` prints. Bad input gets a 4xx
with the one-line message the CLI prints, as {"error": "..."}; nothing answers with a
traceback.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import (
    DocumentNotFoundError,
    HubsearchError,
    IndexDamagedError,
    IndexNotFoundError,
    InvalidInputError,
    ModelError,
)
from ..request import FIELDS, SearchRequest
from .guard import Guard
from .live import LiveIndex
from .socket import INDEX_HEADER, identity

MAX_BODY_BYTES = 64 * 1024
_PAGE = Path(__file__).with_name("static") / "index.html"
log = logging.getLogger("hubsearch")
_FAVICON = (b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="6.5" cy="6.5" r="4.5" '
            b'fill="none" stroke="#246" stroke-width="2"/><path d="M10 10l4.5 4.5" stroke="#246" stroke-width="2.2"/></svg>')


def query_fields(items: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """A query string's fields as `SearchRequest.parse` takes them: numbers and booleans
    read from their text, `doc` (or `doc_ids`) repeated for several documents."""
    data: dict[str, Any] = {}
    for name, text in items:
        name = {"doc": "doc_ids", "tag": "tags"}.get(name, name)
        kinds = FIELDS.get(name, ((str,), ""))[0]
        if list in kinds:
            data.setdefault(name, []).append(text)
        elif name in data:
            raise InvalidInputError(f"{name} is given twice; give it once")
        else:
            data[name] = _typed(name, text, kinds)
    return data


def _typed(name: str, text: str, kinds: tuple[type, ...]) -> Any:
    if bool in kinds:
        if text.lower() in ("true", "1", "yes"):
            return True
        if text.lower() in ("false", "0", "no"):
            return False
        raise InvalidInputError(f"{name} must be true or false, got {text!r}")
    try:
        if int in kinds and float not in kinds:
            return int(text)
        if float in kinds:
            return float(text)
    except ValueError:
        raise InvalidInputError(f"{name} must be a number, got {text!r}") from None
    return text


_QUERY_PARAMETERS = [
    {"name": {"doc_ids": "doc", "tags": "tag"}.get(name, name), "in": "query", "required": name == "q", "description": text,
     "schema": {"type": "array", "items": {"type": "string"}} if list in kinds else
               {"type": {str: "string", int: "integer", bool: "boolean"}.get(kinds[-1], "number")}}
    for name, (kinds, text) in FIELDS.items()
]


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _mcp(live: LiveIndex) -> Any:
    """The MCP server for /mcp (streamable HTTP), or None where the mcp package is missing."""
    try:
        from .mcp import create_mcp
    except ImportError:  # pragma: no cover - a core dependency
        return None
    return create_mcp(live)


def create_app(index_path: Path, *, token: str | None = None, cors: list[str] | None = None,
               embedder: Any = None, host: str = "127.0.0.1", allow_hosts: Iterable[str] = ()) -> Any:
    """The API over the index at `index_path`, with the MCP server mounted at /mcp, behind
    the `Guard` (Host, Origin, token and body-size checks on every route).

    Args:
        host: The address the server listens on; its name is accepted in Host headers.
        allow_hosts: More host names to accept (the loopback names always are).
        token: If set, every request must carry `Authorization: Bearer TOKEN` or the
            session cookie that /login sets.
        cors: Origins allowed to call the API from a browser; none by default.
        embedder: A ready query embedder (tests pass a fake).

    Returns:
        The `Guard` around the FastAPI app (`.app`); `.login_code()` makes one-time login links.
    """
    live = LiveIndex(index_path, embedder)
    mcp = _mcp(live)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        try:
            if mcp is None:
                yield
                return
            async with mcp.session_manager.run():  # the /mcp endpoint's sessions
                yield
        finally:
            live.close()

    app = FastAPI(title="hubsearch", summary="Semantic search over a folder of documents.", lifespan=lifespan)
    if mcp is not None:
        from mcp.server.transport_security import TransportSecuritySettings

        # The Guard checks Host and Origin for every route, /mcp included, with one message.
        unguarded = TransportSecuritySettings(enable_dns_rebinding_protection=False)
        app.router.routes.extend(mcp.streamable_http_app(streamable_http_path="/mcp", host=host,
                                                         transport_security=unguarded).routes)

    serves = identity(index_path)

    @app.middleware("http")
    async def name_the_index(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        response.headers[INDEX_HEADER] = serves  # the socket client checks it is this index's server
        return response

    if cors:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=cors, allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, f"{exc.detail}: {request.url.path}; see /docs for the endpoints")

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "body"))
        return _error(422, f"{where or 'request'}: {first.get('msg', 'invalid')}; see /docs for the fields")

    @app.exception_handler(HubsearchError)
    async def refused(request: Request, exc: HubsearchError) -> JSONResponse:
        if isinstance(exc, DocumentNotFoundError):
            return _error(404, str(exc))
        if isinstance(exc, InvalidInputError):
            return _error(422, str(exc))
        if isinstance(exc, (IndexNotFoundError, IndexDamagedError, ModelError)):
            return _error(503, str(exc))
        return _error(400, str(exc))

    @app.exception_handler(Exception)
    async def failed(request: Request, exc: Exception) -> JSONResponse:
        log.exception("request %s failed", request.url.path)
        return _error(500, "internal error; the server log has the details")

    def search(data: dict[str, Any]) -> JSONResponse:
        request = SearchRequest.parse(data)
        with live.use() as index:
            # A response of plain JSON types, sent as it is: FastAPI's encoder would walk it
            # again (about a millisecond a request).
            return JSONResponse(index.answer(request).to_dict())

    @app.get("/search", summary="Ranked passages for a question (the object `hubsearch query --json` prints).",
             openapi_extra={"parameters": _QUERY_PARAMETERS})
    def search_get(request: Request) -> JSONResponse:
        return search(query_fields(request.query_params.multi_items()))

    @app.post("/search", summary="The same as GET /search, with a JSON object of the same fields.")
    async def search_post(request: Request) -> JSONResponse:
        try:
            data = json.loads(await request.body() or b"null")
        except ValueError as exc:
            raise InvalidInputError(f"the body is not JSON ({exc}); send an object such as {{\"q\": \"...\"}}")
        if not isinstance(data, dict):
            raise InvalidInputError('the body must be a JSON object such as {"q": "..."}')
        return await run_in_threadpool(search, data)

    @app.get("/", include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(_PAGE.read_text(encoding="utf-8"))

    @app.get("/documents", summary="Every indexed document: doc_id, title, date and source (`hubsearch docs`).")
    def documents() -> dict[str, Any]:
        with live.use() as index:
            return {"documents": [{k: v for k, v in row.items() if k != "path"} for row in index.documents()]}

    @app.get("/documents/{doc_id:path}", summary="A document's text, title, date, source and passages.")
    def document(doc_id: str) -> dict[str, Any]:
        with live.use() as index:
            return index.document(doc_id).to_dict()

    @app.get("/info", summary="What `hubsearch index info --json` says.")
    def info() -> dict[str, Any]:
        with live.use() as index:
            return index.info()

    @app.get("/changes", summary="How many source files are new, changed or removed since the index was "
                                 "built: {new, changed, removed} (what `hubsearch query` warns about).")
    def changes() -> dict[str, int]:
        with live.use() as index:
            return index.changes()

    @app.get("/health", summary="Whether the server answers, and from which generation.")
    def health() -> dict[str, Any]:
        with live.use() as index:
            return {"status": "ok", "generation": index.generation.name, "passages": index.manifest.corpus.passages}

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(_FAVICON, media_type="image/svg+xml")

    return Guard(app, listen=host, allow_hosts=allow_hosts, origins=cors or (), token=token,
                 max_body=MAX_BODY_BYTES)
