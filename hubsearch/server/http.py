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
import hmac
import logging
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import (
    DocumentNotFoundError,
    HubsearchError,
    IndexDamagedError,
    IndexNotFoundError,
    InvalidInputError,
    ModelError,
)
from ..settings import (
    MAX_K,
    MAX_QUERY_CHARS,
    MODES,
    SENTENCES,
    FusionConfig,
    SearchConfig,
    unicode_text,
)
from .live import LiveIndex

MAX_BODY_BYTES = 64 * 1024
_PAGE = Path(__file__).with_name("static") / "index.html"
log = logging.getLogger("hubsearch")


class SearchBody(BaseModel):
    """The body of POST /search."""

    q: str = Field(description="The question.")
    k: int = Field(5, description=f"How many passages (1 to {MAX_K}).")
    mode: str = Field("hybrid", description=f"One of {', '.join(MODES)}.")
    since: str | None = Field(None, description="Only documents dated on or after (YYYY-MM-DD).")
    until: str | None = Field(None, description="Only documents dated on or before (YYYY-MM-DD).")
    doc_ids: list[str] = Field(default_factory=list, description="Only these documents.")
    path: str | None = Field(None, description="Only documents whose path matches this glob.")
    min_score: float | None = Field(None, description="Drop hits scoring below this.")
    explain: bool = Field(False, description="Attach how each hit's score came about.")
    fusion: str = Field(FusionConfig.method, description="weighted or rrf.")
    normalise: str = Field(FusionConfig.normalise, description="zscore or minmax (weighted fusion).")
    alpha: float = Field(FusionConfig.alpha, description="Weight of meaning against BM25 in hybrid mode.")
    rrf_k: int = Field(FusionConfig.rrf_k, description="RRF's damping constant.")
    feedback: bool = Field(False, description="A second pass with pseudo-relevance feedback.")
    smoothing: float | None = Field(None, description="Score smoothing weight; default by mode.")
    sentences: float = Field(SENTENCES, description="Share of the meaning weight for the sentence ranking.")


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
               embedder: Any = None, host: str = "127.0.0.1") -> FastAPI:
    """The API over the index at `index_path`, with the MCP server mounted at /mcp.

    Args:
        host: The address the server listens on (MCP checks Host headers against it).
        token: If set, every request must carry `Authorization: Bearer TOKEN`.
        cors: Origins allowed to call the API from a browser; none by default.
        embedder: A ready query embedder (tests pass a fake).
    """
    live = LiveIndex(index_path, embedder)
    mcp = _mcp(live)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        if mcp is None:
            yield
            return
        async with mcp.session_manager.run():  # the /mcp endpoint's sessions
            yield

    app = FastAPI(title="hubsearch", summary="Semantic search over a folder of documents.", lifespan=lifespan)
    app.state.live = live
    if mcp is not None:
        app.router.routes.extend(mcp.streamable_http_app(streamable_http_path="/mcp", host=host).routes)

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Any:
        if token is not None:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return _error(401, "this server needs a token; send the header: Authorization: Bearer TOKEN")
        size = request.headers.get("content-length")
        if size is not None and (not size.isdigit() or int(size) > MAX_BODY_BYTES):
            return _error(413, f"the request body is larger than {MAX_BODY_BYTES} bytes; send a shorter query")
        return await call_next(request)

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

    def search(body: SearchBody) -> dict[str, Any]:
        if len(body.q) > MAX_QUERY_CHARS:
            raise InvalidInputError(f"the query is longer than {MAX_QUERY_CHARS} characters; shorten it")
        config = SearchConfig.from_options(**body.model_dump(exclude={"q", "k", "explain"}))
        hits = live.current().search(body.q, k=body.k, config=config, explain=body.explain)
        return {"query": unicode_text(body.q), "results": [h.to_dict() for h in hits]}

    @app.get("/search", summary="Ranked passages for a question (the object `hubsearch query --json` prints).")
    def search_get(
        q: str, k: int = 5, mode: str = "hybrid", since: str | None = None, until: str | None = None,
        doc: list[str] = Query(default_factory=list), path: str | None = None, min_score: float | None = None,
    ) -> dict[str, Any]:
        return search(SearchBody(q=q, k=k, mode=mode, since=since, until=until, doc_ids=doc, path=path,
                                 min_score=min_score))

    @app.post("/search", summary="The same as GET /search, with a JSON body.")
    def search_post(body: SearchBody) -> dict[str, Any]:
        return search(body)

    @app.get("/", include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(_PAGE.read_text(encoding="utf-8"))

    @app.get("/documents", summary="Every indexed document: doc_id, source, title and date.")
    def documents() -> dict[str, Any]:
        sources = live.current().manifest.sources
        return {"documents": [{"doc_id": s.doc_id, "source": s.source, "title": s.title, "date": s.date}
                              for s in sorted(sources, key=lambda s: s.doc_id)]}

    @app.get("/documents/{doc_id:path}", summary="A document's text, title, date, source and passages.")
    def document(doc_id: str) -> dict[str, Any]:
        return live.current().document(doc_id).to_dict()

    @app.get("/info", summary="What `hubsearch index info --json` says.")
    def info() -> dict[str, Any]:
        return live.current().info()

    @app.get("/changes", summary="How many source files are new, changed or removed since the index was "
                                 "built: {new, changed, removed} (what `hubsearch query` warns about).")
    def changes() -> dict[str, int]:
        return live.current().changes()

    @app.get("/health", summary="Whether the server answers, and from which generation.")
    def health() -> dict[str, Any]:
        index = live.current()
        return {"status": "ok", "generation": index.generation.name, "passages": index.manifest.corpus.passages}

    return app
