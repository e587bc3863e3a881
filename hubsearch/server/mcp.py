"""The MCP server (official `mcp` SDK, 2.x): the index's search and documents as tools
for an agent. `hubsearch mcp` serves it over stdio."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import HubsearchError
from ..request import SearchRequest
from .live import LiveIndex

INSTRUCTIONS = (
    "hubsearch searches one folder of documents by meaning and by exact words. Call `search` "
    "with a natural-language question to get the passages that answer it, best first, each with "
    "its document id, title, date and character offsets; call `get_document` with a doc_id from "
    "a result to read the whole document."
)


def create_mcp(index: Path | LiveIndex, embedder: Any = None) -> Any:
    """An `mcp.server.MCPServer` with the tools `search` and `get_document`, over the index
    folder `index` (or a `LiveIndex` the HTTP server already holds)."""
    from mcp.server import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    live = index if isinstance(index, LiveIndex) else LiveIndex(index, embedder)
    server = MCPServer(name="hubsearch", instructions=INSTRUCTIONS, log_level="WARNING")

    @server.tool(description=(
        "Find the passages of the indexed documents that best answer `query`, best first. "
        "k: how many (1 to 1000, default 5). mode: 'hybrid' (default: meaning and exact words), "
        "'dense' (meaning only) or 'lexical' (BM25, exact words only). since / until: only "
        "documents dated within these days (YYYY-MM-DD). doc_ids: only these documents. path: only "
        "documents whose path matches this glob. min_score: drop hits scoring below this. "
        "Each result has rank, score, doc_id, source, chunk_id, start, end, text, title, date "
        "and highlight (the offsets of the sentence that best matches)."
    ))
    def search(query: str, k: int = 5, mode: str = "hybrid", since: str | None = None,
               until: str | None = None, doc_ids: list[str] | None = None, path: str | None = None,
               min_score: float | None = None) -> dict[str, Any]:
        data = {"q": query, "k": k, "mode": mode, "since": since, "until": until, "doc_ids": doc_ids or [],
                "path": path, "min_score": min_score}
        try:
            return live.current().answer(SearchRequest.parse(data)).to_dict()
        except HubsearchError as exc:  # the agent gets the one-line message, with its fix
            raise ToolError(str(exc)) from exc

    @server.tool(description=(
        "Read one indexed document by its doc_id (as `search` returns it): its text, title, date, "
        "source path and the offsets of its passages."
    ))
    def get_document(doc_id: str) -> dict[str, Any]:
        try:
            return live.current().document(doc_id).to_dict()
        except HubsearchError as exc:
            raise ToolError(str(exc)) from exc

    return server
