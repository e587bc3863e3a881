"""The MCP server (official `mcp` SDK, 2.x): the index's search and documents as tools
for an agent. `hubsearch mcp` serves it over stdio."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from ..errors import HubsearchError
from ..request import FIELDS, MAX_K, SearchRequest
from ..settings import MODES
from .live import LiveIndex

INSTRUCTIONS = (
    "hubsearch searches one folder of documents by meaning and by exact words. Call `search` "
    "with a natural-language question to get the passages that answer it, best first, each with "
    "its document id, title, date and character offsets; call `get_document` with a doc_id from "
    "a result to read the whole document."
)


def _described(name: str, **extra: Any) -> Any:
    """A tool parameter's schema: the request field's description (and any `extra`)."""
    return Field(description=FIELDS[name][1], **extra)


def create_mcp(index: Path | LiveIndex, embedder: Any = None) -> Any:
    """An `mcp.server.MCPServer` with the tools `search`, `get_document` and `status`, over
    the index folder `index` (or a `LiveIndex` the HTTP server already holds)."""
    from mcp.server import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    from .. import __version__

    class StrictServer(MCPServer):
        """Refuses unknown tool arguments (the SDK drops them), as HTTP refuses unknown fields."""

        arguments: dict[str, set[str]] = {}

        async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
            unknown = sorted(set(arguments) - self.arguments.get(name, set(arguments)))
            if unknown:
                raise ToolError(f"unknown argument{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
                                f"for {name}; its arguments are: {', '.join(sorted(self.arguments[name]))}")
            return await super().call_tool(name, arguments, context)

    live = index if isinstance(index, LiveIndex) else LiveIndex(index, embedder)
    server = StrictServer(name="hubsearch", version=__version__, instructions=INSTRUCTIONS, log_level="WARNING")

    @server.tool(description=(
        "Find the passages of the indexed documents that best answer `query`, best first, as the "
        "object `hubsearch query --json` prints: each result has rank, score, relevance (0 to 1, "
        "comparable across queries; the response's `weak` is true when even the best is unlikely to "
        "answer), doc_id, source, chunk_id, "
        "start, end, text, title, date, highlight (the offsets of the sentence that best matches) and "
        "highlight_text (that sentence), and meta (the fields its document declares). Filters (since, until, "
        "doc_ids, path, min_score, tags, where) apply before "
        "ranking."
    ))
    def search(
        query: Annotated[str, _described("q")],
        k: Annotated[int, _described("k", json_schema_extra={"minimum": 1, "maximum": MAX_K})] = 5,
        mode: Annotated[str, _described("mode", json_schema_extra={"enum": list(MODES)})] = "hybrid",
        since: Annotated[str | None, _described("since")] = None,
        until: Annotated[str | None, _described("until")] = None,
        doc_ids: Annotated[list[str] | None, _described("doc_ids")] = None,
        path: Annotated[str | None, _described("path")] = None,
        min_score: Annotated[float | None, _described("min_score")] = None,
        tags: Annotated[list[str] | None, _described("tags")] = None,
        where: Annotated[list[str] | None, _described("where")] = None,
    ) -> dict[str, Any]:
        data = {"q": query, "k": k, "mode": mode, "since": since, "until": until, "doc_ids": doc_ids or [],
                "path": path, "min_score": min_score, "tags": tags or [], "where": where or []}
        try:
            request = SearchRequest.parse(data)
            with live.use() as index:
                return index.answer(request).to_dict()
        except HubsearchError as exc:  # the agent gets the one-line message, with its fix
            raise ToolError(str(exc)) from exc

    @server.tool(description=(
        "Read one indexed document by its doc_id (as `search` returns it): its text, title, date, "
        "source path and the offsets of its passages."
    ))
    def get_document(doc_id: Annotated[str, Field(description="A doc_id as search results show it.")]
                     ) -> dict[str, Any]:
        try:
            with live.use() as index:
                return index.document(doc_id).to_dict()
        except HubsearchError as exc:
            raise ToolError(str(exc)) from exc

    @server.tool(description=(
        "What the index holds: how many documents and passages, the model, when it was built, which "
        "files were skipped and why, and how many source files changed since (new, changed, removed)."
    ))
    def status() -> dict[str, Any]:
        with live.use() as index:
            info = index.info()
            return {"corpus": info["corpus"], "model": info["model"], "built": info["built"],
                    "skipped": info["skipped"], "generation": info["generation"], "changes": index.changes()}

    server.arguments = {tool.__name__: set(inspect.signature(tool).parameters) for tool in (search, get_document, status)}
    return server


def malformed(line: str) -> Any:
    """The JSON-RPC error answering a stdio line that is not a JSON-RPC message (-32700 for
    text that is not JSON, -32600 for JSON that is not a message), or None for a message."""
    import json

    import mcp_types as types

    try:
        data = json.loads(line)
    except ValueError:
        return _rpc_error(None, types.PARSE_ERROR, "parse error: the line is not JSON; send one JSON-RPC "
                                                   "message per line")
    try:
        types.jsonrpc_message_adapter.validate_json(line, by_name=False)  # as the SDK reads it
        return None
    except Exception:  # noqa: BLE001 - whatever the SDK's validation raises, the line is not a message
        pass
    if not isinstance(data, dict):
        return _rpc_error(None, types.INVALID_REQUEST, "invalid request: send one JSON-RPC object per line, "
                                                       "not a batch or a bare value")
    rid = data.get("id")
    rid = rid if isinstance(rid, str) or (isinstance(rid, int) and not isinstance(rid, bool)) else None
    if data.get("jsonrpc") != "2.0":
        return _rpc_error(rid, types.INVALID_REQUEST, 'invalid request: add "jsonrpc": "2.0"')
    return _rpc_error(rid, types.INVALID_REQUEST, "invalid request: a message needs a string 'method' "
                                                  "(and an 'id' for a request), or a 'result' or 'error'")


def _rpc_error(rid: Any, code: int, message: str) -> Any:
    import mcp_types as types

    return types.JSONRPCError(jsonrpc="2.0", id=rid, error=types.ErrorData(code=code, message=message))


async def run_stdio(server: Any) -> None:
    """Serve `server` over stdin and stdout, answering every malformed line with a JSON-RPC
    error (the SDK drops them, so a client waiting on an id would hang)."""
    import io
    import sys

    import anyio
    from mcp.server.stdio import stdio_server
    from mcp.shared.message import SessionMessage

    send_error, errors = anyio.create_memory_object_stream[Any](64)
    lines = anyio.wrap_file(io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace"))

    class Checked:
        def __aiter__(self) -> Any:
            return self._lines()

        async def _lines(self) -> Any:
            async for line in lines:
                if not line.strip():
                    continue
                error = malformed(line)
                if error is None:
                    yield line
                else:
                    await send_error.send(error)
            send_error.close()

    drained = anyio.Event()
    async with stdio_server(stdin=Checked()) as (read_stream, write_stream):  # type: ignore[arg-type]
        async def answer_errors() -> None:
            try:
                async with errors:
                    async for error in errors:
                        await write_stream.send(SessionMessage(error))
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                pass
            drained.set()

        async with anyio.create_task_group() as group:
            group.start_soon(answer_errors)
            low = server._lowlevel_server  # what MCPServer.run_stdio_async runs, with our stdin
            await low.run(read_stream, write_stream, low.create_initialization_options())
            with anyio.move_on_after(2):  # at end of input, the last errors still go out
                await drained.wait()
            group.cancel_scope.cancel()
