"""One request contract: the library, the CLI, HTTP, MCP and the server's Unix socket give
the same answer, or the same one-line error, for the same input."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

pytest.importorskip("fastapi")
pytest.importorskip("mcp")
import uvicorn  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from hubsearch import DocumentNotFoundError, Index, InvalidInputError, SearchRequest  # noqa: E402
from hubsearch.cli import cli, remote  # noqa: E402
from hubsearch.server.http import create_app  # noqa: E402
from hubsearch.server.mcp import create_mcp  # noqa: E402
from hubsearch.server.socket import bind, socket_path  # noqa: E402

from .conftest import FakeEmbedder, served_in_thread  # noqa: E402

GOOD = [
    {"q": "apples orchards", "k": 2},
    {"q": "tea rockets apples", "k": 3, "mode": "lexical", "doc_ids": ["tea", "apples"]},
    {"q": "rocket thrust", "k": 1, "mode": "dense", "path": "sub/*"},
]
BAD = [
    ({"q": "x" * 10_010}, "the query is 10,010 characters long, more than the 10,000 allowed; shorten it"),
    ({"q": "tea", "k": 0}, "k must be a whole number of at least 1, got 0; ask for e.g. 5 hits"),
    ({"q": "tea", "mode": "psychic"}, "unknown mode 'psychic'; choose one of hybrid, dense, lexical"),
    ({"q": "   "}, 'the query is empty; pass some words to search for, e.g. "incubator size"'),
]


@pytest.fixture(scope="module")
def doors(tmp_path_factory: pytest.TempPathFactory):
    """An index of three files, with its HTTP app, its MCP server and a server on its socket."""
    root = tmp_path_factory.mktemp("doors")
    corpus = root / "corpus"
    (corpus / "sub").mkdir(parents=True)
    (corpus / "apples.txt").write_text("Apples and orchards\n\nApples grow on trees in orchards.", encoding="utf-8")
    (corpus / "sub" / "rockets.md").write_text("# Rocket engines\n\nRocket engines burn fuel. Thrust lifts.",
                                               encoding="utf-8")
    (corpus / "tea.txt").write_text("Tea ceremonies\nGreen tea is steamed. Black tea is oxidised.", encoding="utf-8")
    index_dir = root / "idx"
    Index.build([corpus], index_dir, embedder=FakeEmbedder()).close()
    app = create_app(index_dir, embedder=FakeEmbedder())
    listening = bind(index_dir)
    assert listening is not None
    config = uvicorn.Config(app, fd=listening.fileno(), log_level="warning", lifespan="off")
    with served_in_thread(config, wait=20), TestClient(app, base_url="http://127.0.0.1") as http:
        yield index_dir, http, create_mcp(index_dir, FakeEmbedder())
    listening.close()
    socket_path(index_dir).unlink(missing_ok=True)


def cli_args(data: dict[str, Any], index_dir: Path) -> list[str]:
    args = ["query", data["q"], "--index", str(index_dir), "--json", "--no-stale-check"]
    for name, value in data.items():
        if name == "doc_ids":
            for doc in value:
                args += ["--doc", doc]
        elif name != "q":
            args += ["-k" if name == "k" else f"--{name}", str(value)]
    return args


def mcp_args(data: dict[str, Any]) -> dict[str, Any]:
    return {("query" if name == "q" else name): value for name, value in data.items()}


def call_mcp(server: Any, data: dict[str, Any]) -> tuple[bool, Any]:
    """The tool's answer, or the message of the error it raised (the text an agent gets;
    in-process the SDK wraps it once more, so the tool's own error is the innermost)."""
    from mcp.server.mcpserver.exceptions import ToolError

    try:
        result = asyncio.run(server.call_tool("search", mcp_args(data)))
    except ToolError as exc:
        while isinstance(exc.__cause__, ToolError):
            exc = exc.__cause__
        return False, str(exc)
    return True, result.structured_content or json.loads(result.content[0].text)


@pytest.mark.parametrize("data", GOOD, ids=["plain", "filtered-lexical", "path-dense"])
def test_every_door_gives_the_same_answer(doors, data: dict[str, Any]) -> None:
    index_dir, http, mcp = doors
    with Index.open(index_dir, embedder=FakeEmbedder()) as index:
        library = index.answer(SearchRequest.parse(data)).to_dict()
    assert library["results"], "the case must find something"
    get = http.get("/search", params={("doc" if k == "doc_ids" else k): v for k, v in data.items()})
    post = http.post("/search", json=data)
    assert get.status_code == post.status_code == 200
    ok, via_mcp = call_mcp(mcp, data)
    assert ok, via_mcp
    status, via_socket = remote.ask(index_dir, SearchRequest.parse(data).to_dict())
    assert status == 200
    # The CLI asks the running server over the socket; with --format files it answers in-process.
    printed = CliRunner().invoke(cli, cli_args(data, index_dir))
    assert printed.exit_code == 0, printed.stderr
    assert get.json() == post.json() == via_mcp == via_socket == json.loads(printed.stdout) == library


@pytest.mark.parametrize(("data", "message"), BAD, ids=["10010-chars", "k-0", "unknown-mode", "blank"])
def test_every_door_gives_the_same_error(doors, data: dict[str, Any], message: str) -> None:
    index_dir, http, mcp = doors
    with pytest.raises(InvalidInputError) as refused, Index.open(index_dir, embedder=FakeEmbedder()) as index:
        index.answer(SearchRequest.parse(data))
    assert str(refused.value) == message
    get = http.get("/search", params=data)
    post = http.post("/search", json=data)
    assert (get.status_code, get.json()) == (post.status_code, post.json()) == (422, {"error": message})
    assert call_mcp(mcp, data) == (False, message)
    assert remote.ask(index_dir, data) == (422, {"error": message})
    printed = CliRunner().invoke(cli, cli_args(data, index_dir))
    assert printed.exit_code == 2 and printed.stderr.strip() == f"Error: {message}"


def test_the_library_search_and_the_request_agree(doors) -> None:
    index_dir, _, _ = doors
    with Index.open(index_dir, embedder=FakeEmbedder()) as index:
        hits = index.search("apples orchards", k=2)
        answered = index.answer(SearchRequest("apples orchards", 2)).hits
    assert [h.to_dict() for h in hits] == [h.to_dict() for h in answered]


def test_every_door_names_an_unknown_document(doors) -> None:
    index_dir, http, mcp = doors
    data = {"q": "tea", "doc_ids": ["nope"]}
    with pytest.raises(DocumentNotFoundError) as refused, Index.open(index_dir, embedder=FakeEmbedder()) as index:
        index.answer(SearchRequest.parse(data))
    message = str(refused.value)
    assert message.startswith("no document 'nope' in the index at")
    get = http.get("/search", params={"q": "tea", "doc": "nope"})
    post = http.post("/search", json=data)
    assert (get.status_code, get.json()) == (post.status_code, post.json()) == (404, {"error": message})
    assert call_mcp(mcp, data) == (False, message)
    assert remote.ask(index_dir, data) == (404, {"error": message})
    printed = CliRunner().invoke(cli, cli_args(data, index_dir))
    assert printed.exit_code == 2 and printed.stderr.strip() == f"Error: {message}"


def test_unknown_fields_and_arguments_are_refused(doors) -> None:
    _, http, mcp = doors
    refused = http.post("/search", json={"q": "tea", "kk": 3})
    assert refused.status_code == 422 and refused.json()["error"].startswith("unknown field 'kk'")
    ok, message = call_mcp(mcp, {"q": "tea", "kk": 3})
    assert not ok and message.startswith("unknown argument 'kk' for search; its arguments are: doc_ids, k,")
