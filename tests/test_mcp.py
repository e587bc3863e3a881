"""`hubsearch mcp`, driven through the MCP SDK's own stdio client."""

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("mcp")
from mcp import ClientSession  # noqa: E402
from mcp.client.stdio import StdioServerParameters, stdio_client  # noqa: E402

from hubsearch.cli import cli  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

SERVER = (
    "import sys\n"
    "from tests.conftest import FakeEmbedder\n"
    "from hubsearch.embed import factory\n"
    "factory.load_embedder = lambda ref, precision='fp32': FakeEmbedder(ref)\n"
    "from hubsearch.cli import main\n"
    "import os\ndef leave(code):\n    raise SystemExit(code)\nos._exit = leave  # main skips the teardown after a query\n"
    "sys.argv = ['hubsearch', 'mcp', '--index', sys.argv[1]]\n"
    "main()\n"
)


async def _session(index: Path, calls):
    # The SDK passes the server only a minimal environment: hand on the test's cache.
    env = {"HUBSEARCH_CACHE": os.environ["HUBSEARCH_CACHE"]}
    params = StdioServerParameters(command=sys.executable, args=["-c", SERVER, str(index)], cwd=str(ROOT), env=env)
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            session.server_version = (await session.initialize()).server_info.version
            return await calls(session)


def _payload(result) -> dict:
    assert not result.is_error, result
    if result.structured_content:
        return result.structured_content
    return json.loads(result.content[0].text)


@pytest.mark.slow
def test_mcp_tools_search_and_read_documents(fake, corpus: Path, tmp_path: Path) -> None:
    index = tmp_path / "idx"
    assert CliRunner().invoke(cli, ["index", "build", str(corpus), "--index", str(index)]).exit_code == 0
    printed = json.loads(CliRunner().invoke(cli, ["query", "apples orchards", "--index", str(index), "--json",
                                                  "-k", "2", "--no-stale-check"]).stdout)

    async def calls(session):
        tools = await session.list_tools()
        found = await session.call_tool("search", {"query": "apples orchards", "k": 2})
        only = await session.call_tool("search", {"query": "tea rockets", "k": 3, "doc_ids": ["sub/rockets"]})
        doc = await session.call_tool("get_document", {"doc_id": "sub/rockets"})
        missing = await session.call_tool("get_document", {"doc_id": "../../etc/passwd"})
        empty = await session.call_tool("search", {"query": "   "})
        status = await session.call_tool("status", {})
        return tools, found, only, doc, missing, empty, status, session.server_version

    tools, found, only, doc, missing, empty, status, version = asyncio.run(_session(index, calls))
    from hubsearch import __version__

    assert version == __version__ and version
    described = {t.name: t.description for t in tools.tools}
    assert set(described) == {"search", "get_document", "status"}
    assert all(len(d.split()) > 15 for d in described.values())  # they tell an agent what each does
    schema = next(t.input_schema for t in tools.tools if t.name == "search")["properties"]
    assert schema["mode"]["enum"] == ["hybrid", "dense", "lexical"]
    assert all(p.get("description") for p in schema.values())  # every parameter says what it does
    assert {"path", "min_score", "since", "until", "doc_ids"} <= set(schema)
    assert _payload(found) == printed  # the same object hubsearch query --json prints
    assert {r["doc_id"] for r in _payload(only)["results"]} == {"sub/rockets"}
    assert "Rocket engines" in _payload(doc)["text"]
    assert missing.is_error and "no document" in missing.content[0].text
    assert empty.is_error and "query is empty" in empty.content[0].text
    top = _payload(found)["results"][0]
    assert top["highlight_text"] == top["text"][top["highlight"][0] - top["start"]:top["highlight"][1] - top["start"]]
    assert _payload(status)["corpus"]["documents"] == 3 and set(_payload(status)["changes"]) == {
        "new", "changed", "removed"}


@pytest.mark.slow
def test_serve_mounts_mcp_at_slash_mcp(corpus: Path, tmp_path: Path) -> None:
    import socket

    import uvicorn
    from mcp.client.streamable_http import streamable_http_client

    from hubsearch import Index
    from hubsearch.server.http import create_app

    from .conftest import FakeEmbedder, served_in_thread

    Index.build([corpus], tmp_path / "idx", embedder=FakeEmbedder()).close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(create_app(tmp_path / "idx", embedder=FakeEmbedder()), host="127.0.0.1", port=port,
                            log_level="warning")
    with served_in_thread(config):

        async def ask():
            async with streamable_http_client(f"http://127.0.0.1:{port}/mcp") as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    return await session.call_tool("search", {"query": "rocket nozzles exhaust", "k": 1})

        result = asyncio.run(ask())
        assert _payload(result)["results"][0]["doc_id"] == "sub/rockets"
