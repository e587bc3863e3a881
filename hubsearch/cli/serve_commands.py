"""`hubsearch serve`: the HTTP API over an index."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import click

from ..errors import InvalidInputError
from ..settings import default_index_dir
from .options import index_option


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command("serve")
@index_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback needs --token.")
@click.option("--port", type=click.IntRange(1, 65535), default=8765, show_default=True, help="Port to listen on.")
@click.option("--token", envvar="HUBSEARCH_TOKEN", default=None,
              help="Require 'Authorization: Bearer TOKEN' on every request. Default: $HUBSEARCH_TOKEN.")
@click.option("--cors", "cors", multiple=True, metavar="ORIGIN",
              help="Let web pages from ORIGIN call the API; repeat for several. Off by default.")
def serve_cmd(index_dir: Path | None, host: str, port: int, token: str | None, cors: tuple[str, ...]) -> None:
    """Answer queries over HTTP from a warm process.

    A web page at /, and the API (OpenAPI page at /docs): GET or POST /search (the
    object `hubsearch query --json` prints, with the same filters), GET /documents,
    GET /documents/DOC_ID, GET /info, GET /changes, GET /health, and MCP (streamable
    HTTP) at /mcp.
    When `hubsearch index build` or `update` publishes a new generation, the server
    moves to it between requests, once it has verified.

    \b
    Examples:
      hubsearch serve
      curl 'http://127.0.0.1:8765/search?q=Xuhui+incubator+size&k=3'
      HUBSEARCH_TOKEN=secret hubsearch serve --host 0.0.0.0
    """
    if not is_loopback(host) and not token:
        raise InvalidInputError(
            f"listening on {host} exposes the index beyond this machine; pass --token (or set HUBSEARCH_TOKEN), "
            "or listen on 127.0.0.1"
        )
    try:
        import uvicorn

        from ..server.http import create_app
    except ImportError as exc:
        raise InvalidInputError(f"the server needs {exc.name}; install it with: pip install fastapi uvicorn") from exc
    import asyncio
    import contextlib
    import signal

    from ..server.socket import bind, socket_path

    path = index_dir or default_index_dir()
    app = create_app(path, token=token, cors=list(cors) or None, host=host)
    configs = [uvicorn.Config(app, host=host, port=port, log_level="warning")]
    # The owner's own `hubsearch query` asks here first (no token: the socket is 0600).
    local = bind(path) if token is None else None
    if local is not None:
        # One lifespan for both servers: the TCP one runs it (it starts the /mcp sessions).
        configs.append(uvicorn.Config(app, fd=local.fileno(), log_level="warning", lifespan="off"))
    click.echo(f"hubsearch: serving {path} on http://{host}:{port}"
               + (f" and {socket_path(path)}" if local is not None else "") + " (Ctrl-C stops)", err=True)

    class Server(uvicorn.Server):
        """One of the two servers; run_all() handles the signals for both."""

        def capture_signals(self):  # type: ignore[no-untyped-def]
            return contextlib.nullcontext()

    async def run_all() -> None:
        servers = [Server(config) for config in configs]
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, lambda: [setattr(s, "should_exit", True) for s in servers])
        await asyncio.gather(*(s.serve() for s in servers))

    try:
        asyncio.run(run_all())
    finally:
        if local is not None:
            local.close()
            socket_path(path).unlink(missing_ok=True)


@click.command("mcp")
@index_option
def mcp_cmd(index_dir: Path | None) -> None:
    """Serve the index to an agent over MCP (stdio), with the official MCP SDK.

    Tools: search(query, k, mode, since, until, doc_ids) and get_document(doc_id). Add
    it to an agent's configuration as a command, for example:

    \b
      {"mcpServers": {"hubsearch": {"command": "hubsearch",
                                    "args": ["mcp", "--index", "/path/to/index"]}}}
    """
    try:
        from ..server.mcp import create_mcp

        server = create_mcp(index_dir or default_index_dir())
    except ImportError as exc:
        raise InvalidInputError("MCP needs the mcp package; install it with: pip install 'mcp>=2.3'") from exc
    server.run("stdio")
