"""`hubsearch serve`: the HTTP API over an index."""

from __future__ import annotations

import errno
import ipaddress
import socket
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
              help="Require 'Authorization: Bearer TOKEN' (or a login on the web page) on every request. "
                   "Default: $HUBSEARCH_TOKEN.")
@click.option("--cors", "cors", multiple=True, metavar="ORIGIN",
              help="Let web pages from ORIGIN call the API; repeat for several. Off by default.")
@click.option("--allow-host", "allow_hosts", multiple=True, metavar="NAME",
              help="Also answer requests addressed to host NAME (loopback names and --host always are); "
                   "repeat for several.")
@click.option("--access-log/--no-access-log", default=True, show_default=True,
              help="Print one line per request on stderr.")
def serve_cmd(index_dir: Path | None, host: str, port: int, token: str | None, cors: tuple[str, ...],
              allow_hosts: tuple[str, ...], access_log: bool) -> None:
    """Answer queries over HTTP from a warm process.

    A web page at /, and the API (OpenAPI page at /docs): GET or POST /search (the
    object `hubsearch query --json` prints, with the same filters), GET /documents,
    GET /documents/DOC_ID, GET /info, GET /changes, GET /health, and MCP (streamable
    HTTP) at /mcp.
    When `hubsearch index build` or `update` publishes a new generation, the server
    moves to it between requests, once it has verified.

    Only requests addressed to this machine's loopback names (or --host, or
    --allow-host) are answered, and browsers on other sites are refused unless --cors
    names them: a web page cannot read your documents through this server. With
    --token, serve prints a one-time link that logs a browser in (an HttpOnly cookie);
    the page also has a login form.

    \b
    Examples:
      hubsearch serve
      curl 'http://127.0.0.1:8765/search?q=Xuhui+incubator+size&k=3'
      HUBSEARCH_TOKEN=secret hubsearch serve --host 0.0.0.0
    """
    if token is not None and not token.strip():
        raise InvalidInputError("the token is empty or blank; pass a real secret, e.g. --token \"$(openssl rand -hex 16)\"")
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

    from ..server import socket as local_socket

    path = index_dir or default_index_dir()
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    if path.is_dir():
        local_socket.claim(path, url)
    local = listening = None
    try:
        app = create_app(path, token=token, cors=list(cors) or None, host=host, allow_hosts=allow_hosts)
        listening = _listen(host, port)
        # The owner's own `hubsearch query` asks here first (no token: the socket is 0600).
        local = local_socket.bind(path) if token is None else None
        logs = {"log_level": "info" if access_log else "warning", "access_log": access_log,
                "log_config": _stderr_logging()}
        # The sockets are handed over as they are (not as fds): uvicorn takes an fd for a Unix
        # socket, and a TCP socket read that way loses TCP_NODELAY, which costs 40 ms a request.
        configs = [(uvicorn.Config(app, **logs), listening)]
        if local is not None:
            # One lifespan for both servers: the TCP one runs it (it starts the /mcp sessions).
            configs.append((uvicorn.Config(app, lifespan="off", **logs), local))
        click.echo(f"hubsearch: serving {path} on {url}"
                   + (f" and {local_socket.socket_path(path)}" if local is not None else "") + " (Ctrl-C stops)",
                   err=True)
        if token is not None:
            click.echo(f"hubsearch: log a browser in once with {url}/login?code={app.login_code()}", err=True)

        class Server(uvicorn.Server):
            """One of the two servers; run_all() handles the signals for both."""

            def capture_signals(self):  # type: ignore[no-untyped-def]
                return contextlib.nullcontext()

        async def run_all() -> None:
            servers = [(Server(config), sock) for config, sock in configs]
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, lambda: [setattr(s, "should_exit", True) for s, _ in servers])
            await asyncio.gather(*(s.serve(sockets=[sock]) for s, sock in servers))

        asyncio.run(run_all())
    finally:
        for sock in (listening, local):
            if sock is not None:
                sock.close()
        local_socket.release(path, bound=local is not None)


def _stderr_logging() -> dict:
    """uvicorn's logging, with the access log on stderr too: stdout stays clean."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["handlers"]["access"]["stream"] = "ext://sys.stderr"
    return config


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on (host, port), bound here so that a port in use is one line."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except socket.gaierror as exc:
        raise InvalidInputError(f"cannot listen on {host!r} ({exc.strerror}); pass an address such as "
                                "--host 127.0.0.1") from None
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise InvalidInputError(f"port {port} on {host} is already in use; pick another with --port, "
                                    f"e.g. --port {port + 1 if port < 65535 else 8765}") from None
        raise InvalidInputError(f"cannot listen on {host}:{port} ({exc.strerror}); pick another --host or --port") \
            from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


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
        import anyio

        from ..server.mcp import create_mcp, run_stdio

        server = create_mcp(index_dir or default_index_dir())
    except ImportError as exc:
        raise InvalidInputError("MCP needs the mcp package; install it with: pip install 'mcp>=2.3'") from exc
    anyio.run(run_stdio, server)
