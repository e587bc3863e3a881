"""The HTTP API, through FastAPI's TestClient (no socket), and `hubsearch serve` for real."""

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from hubsearch import BuildOptions

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from hubsearch import Index  # noqa: E402
from hubsearch.cli import cli  # noqa: E402
from hubsearch.server.http import MAX_BODY_BYTES, create_app  # noqa: E402

from .conftest import FakeEmbedder  # noqa: E402
from .test_crash import write_version  # noqa: E402


@pytest.fixture
def built(corpus: Path, tmp_path: Path) -> Path:
    Index.build([corpus], tmp_path / "idx", embedder=FakeEmbedder()).close()
    return tmp_path / "idx"


@pytest.fixture
def client(built: Path):
    with TestClient(create_app(built, embedder=FakeEmbedder()), base_url="http://127.0.0.1") as c:
        yield c


def test_search_returns_what_the_cli_prints(fake, corpus: Path, tmp_path: Path) -> None:
    index = tmp_path / "cli-idx"
    assert CliRunner().invoke(cli, ["index", "build", str(corpus), "--index", str(index)]).exit_code == 0
    printed = json.loads(CliRunner().invoke(cli, ["query", "apples orchards", "--index", str(index), "--json",
                                                  "-k", "3", "--no-stale-check"]).stdout)
    with TestClient(create_app(index), base_url="http://127.0.0.1") as c:
        got = c.get("/search", params={"q": "apples orchards", "k": 3})
        posted = c.post("/search", json={"q": "apples orchards", "k": 3})
    assert got.status_code == posted.status_code == 200
    assert got.json() == posted.json() == printed


def test_filters_work_on_the_api(client) -> None:
    hits = client.get("/search", params={"q": "tea rockets apples", "k": 5, "doc": "sub/rockets"}).json()["results"]
    assert hits and {h["doc_id"] for h in hits} == {"sub/rockets"}
    dated = client.post("/search", json={"q": "tea", "since": "2020-01-01", "until": "2020-12-31"}).json()
    assert {h["doc_id"] for h in dated["results"]} == {"tea"}
    assert client.get("/search", params={"q": "tea", "path": "sub/*"}).json()["results"][0]["doc_id"] == "sub/rockets"


def test_the_api_takes_the_fusion_settings(client, built: Path) -> None:
    from hubsearch import FusionConfig, SearchConfig

    body = {"q": "tea rockets apples", "k": 3, "explain": True, "normalise": "minmax", "alpha": 0.7}
    hits = client.post("/search", json=body).json()["results"]
    assert hits[0]["explain"]["fusion"]["formula"].startswith("0.35*minmax(dense)")
    with Index.open(built, embedder=FakeEmbedder()) as index:
        expected = index.search("tea rockets apples", k=3,
                                config=SearchConfig(fusion=FusionConfig(normalise="minmax", alpha=0.7)))
    assert [h["score"] for h in hits] == [h.score for h in expected]
    refused = client.post("/search", json={"q": "tea", "normalise": "rank"})
    assert refused.status_code == 422 and "choose zscore or minmax" in refused.json()["error"]


def test_documents_info_and_health(client, built: Path) -> None:
    doc = client.get("/documents/sub/rockets")
    assert doc.status_code == 200 and doc.json()["source"] == "sub/rockets.md"
    assert "Rocket engines" in doc.json()["text"] and doc.json()["passages"]
    info = client.get("/info").json()
    assert info["corpus"]["documents"] == 3 and info["index"] == str(built)
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["generation"].startswith("g-")


@pytest.mark.parametrize(
    "path",
    ["/documents/nope", "/documents/../../etc/passwd", "/documents/%2Fetc%2Fpasswd", "/documents/..%2F..%2Fetc%2Fpasswd",
     "/documents/sub%2F..%2F..%2F..%2Fetc%2Fpasswd", "/documents//etc/passwd"],
)
def test_unknown_or_escaping_doc_ids_get_404_and_read_nothing(client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert "root:" not in response.text and set(response.json()) == {"error"}


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"q": ""}, 422, "the query is empty"),
        ({"q": "tea", "k": 0}, 422, "k must be a whole number of at least 1"),
        ({"q": "tea", "k": 5000}, 422, "k must be at most 1000"),
        ({"q": "tea", "k": "many"}, 422, "k must be a number, got 'many'"),
        ({"q": "tea", "mode": "psychic"}, 422, "unknown mode"),
        ({"q": "tea", "since": "2020-13-40"}, 422, "since must be a date"),
        ({"q": "x" * 10_001}, 422, "the query is 10,001 characters long"),
        ({}, 422, "the field 'q' (the question) is missing"),
        ({"q": "tea", "kk": 3}, 422, "unknown field 'kk'"),
        ({"q": "tea", "k": "true"}, 422, "k must be a number, got 'true'"),
        ({"q": "tea", "min_score": "nan"}, 422, "min_score must be a finite number"),
        ({"q": "tea", "rrf_k": 0}, 422, "rrf_k must be at least 1"),
    ],
)
def test_bad_input_gets_a_4xx_with_one_line(client, params: dict, status: int, message: str) -> None:
    response = client.get("/search", params=params)
    assert response.status_code == status
    error = response.json()["error"]
    assert message in error and "\n" not in error and "Traceback" not in error


def test_bodies_have_a_size_limit(client) -> None:
    response = client.post("/search", content=json.dumps({"q": "x" * (MAX_BODY_BYTES + 10)}),
                           headers={"content-type": "application/json"})
    assert response.status_code == 413 and "larger than" in response.json()["error"]
    malformed = client.post("/search", content="{not json", headers={"content-type": "application/json"})
    assert malformed.status_code == 422 and "error" in malformed.json()


def test_a_token_is_required_when_set(built: Path) -> None:
    with TestClient(create_app(built, token="s3cret", embedder=FakeEmbedder()), base_url="http://127.0.0.1") as c:
        assert c.get("/health").status_code == 401
        assert c.get("/health", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/health", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_cors_is_off_unless_asked(built: Path) -> None:
    origin = {"Origin": "https://example.org"}
    with TestClient(create_app(built, embedder=FakeEmbedder()), base_url="http://127.0.0.1") as c:
        assert "access-control-allow-origin" not in c.get("/health", headers=origin).headers
    with TestClient(create_app(built, cors=["https://example.org"], embedder=FakeEmbedder()), base_url="http://127.0.0.1") as c:
        assert c.get("/health", headers=origin).headers["access-control-allow-origin"] == "https://example.org"


def test_serve_refuses_a_public_address_without_a_token(built: Path) -> None:
    result = CliRunner().invoke(cli, ["serve", "--index", str(built), "--host", "0.0.0.0"])
    assert result.exit_code == 2 and "pass --token" in result.stderr


def test_the_server_follows_new_generations_without_failing_a_request(tmp_path: Path) -> None:
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    write_version(corpus, 0)
    Index.build([corpus], index_dir, embedder=FakeEmbedder()).close()
    with TestClient(create_app(index_dir, embedder=FakeEmbedder()), base_url="http://127.0.0.1") as c:
        first = c.get("/health").json()["generation"]
        failures, answered = ask_while_rebuilding(
            lambda: c.get("/search", params={"q": "marker sentence", "k": 3}), corpus, index_dir, clients=3,
            versions=5)
        last = c.get("/health").json()["generation"]
        top = c.get("/search", params={"q": "marker sentence", "k": 1, "mode": "lexical"}).json()["results"][0]
    assert failures == [] and answered > 10
    assert last != first and last == (index_dir / "CURRENT").read_text().strip()
    assert top["doc_id"] == "d05"  # version 5 put the marker in document 5


def ask_while_rebuilding(ask, corpus: Path, index_dir: Path, clients: int, versions: int) -> tuple[list[str], int]:
    """`clients` threads call `ask()` (one HTTP request) until the index has been rebuilt
    from `versions` new versions of the corpus; (the failed answers, how many were asked)."""
    failures: list[str] = []
    answered = 0
    stop = threading.Event()

    def client() -> None:
        nonlocal answered
        while not stop.is_set():
            response = ask()
            if response.status_code != 200 or not response.json()["results"]:
                failures.append(f"{response.status_code} {response.text[:200]}")
            answered += 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for version in range(1, versions + 1):
        write_version(corpus, version)
        Index.build([corpus], index_dir, BuildOptions(wait=10), embedder=FakeEmbedder()).close()
    stop.set()
    for t in threads:
        t.join()
    return failures, answered


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_serve_answers_on_loopback(fake, corpus: Path, tmp_path: Path) -> None:
    import httpx

    built = tmp_path / "served"
    assert CliRunner().invoke(cli, ["index", "build", str(corpus), "--index", str(built)]).exit_code == 0
    port = _free_port()
    env = {**os.environ}
    probe = (
        "import sys\n"
        "from tests.conftest import FakeEmbedder\n"
        "from hubsearch.embed import factory\n"
        "factory.load_embedder = lambda ref, precision='fp32': FakeEmbedder(ref)\n"
        "from hubsearch.cli import main\n"
        f"sys.argv = ['hubsearch', 'serve', '--index', {str(built)!r}, '--port', '{port}']\n"
        "main()\n"
    )
    server = subprocess.Popen([sys.executable, "-c", probe], cwd=Path(__file__).resolve().parent.parent, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/search", params={"q": "apples", "k": 1}, timeout=5)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stderr.read()
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        assert response.status_code == 200 and response.json()["results"][0]["doc_id"] == "apples"
        assert httpx.get(f"http://127.0.0.1:{port}/docs", timeout=5).status_code == 200  # the OpenAPI page
        sock = built / "serve.sock"
        assert sock.is_socket() and (sock.stat().st_mode & 0o777) == 0o600
        # The CLI answers through the socket, without loading numpy, FAISS or onnxruntime.
        cli_probe = (
            "import os, sys, json\n"
            "from hubsearch.cli import main\n"
            "def leave(code):\n    raise SystemExit(code)\n"
            "os._exit = leave  # main skips the teardown after a query; the probe must still print\n"
            f"sys.argv = ['hubsearch', 'query', 'apples', '-k', '1', '--json', '--index', {str(built)!r}]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(json.dumps(sorted(m for m in ('numpy', 'faiss', 'onnxruntime') if m in sys.modules)), "
            "file=sys.stderr)\n"
        )
        asked = subprocess.run([sys.executable, "-c", cli_probe], capture_output=True, text=True, timeout=60,
                               env=env)
        assert json.loads(asked.stderr.strip().splitlines()[-1]) == []
        assert json.loads(asked.stdout) == response.json()
        assert "warning" not in asked.stderr
        # A changed source: the answer through the socket warns as the in-process one does.
        assert httpx.get(f"http://127.0.0.1:{port}/changes", timeout=5).json() == {"new": 0, "changed": 0,
                                                                                    "removed": 0}
        (corpus / "apples.txt").write_text("Apples, revised.\n", encoding="utf-8")
        (corpus / "pears.txt").write_text("Pears grow in orchards too.\n", encoding="utf-8")
        assert httpx.get(f"http://127.0.0.1:{port}/changes", timeout=5).json() == {"new": 1, "changed": 1,
                                                                                    "removed": 0}
        warned = subprocess.run([sys.executable, "-c", cli_probe], capture_output=True, text=True, timeout=60,
                                env=env)
        assert json.loads(warned.stdout) == response.json()
        assert "the sources changed since the index was built (1 new, 1 changed, 0 removed)" in warned.stderr
        assert f"hubsearch index update --index {built}" in warned.stderr
        assert json.loads(warned.stderr.strip().splitlines()[-1]) == []  # still no numeric library
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert not (built / "serve.sock").exists()  # removed on the way out
    assert not (built / "serve.json").exists()
    log = server.stderr.read()
    assert '"GET /search?q=apples&k=1 HTTP/1.1" 200' in log  # the access log: a line per request


def test_a_stale_socket_is_ignored(fake, corpus: Path, tmp_path: Path) -> None:
    index = tmp_path / "idx"
    assert CliRunner().invoke(cli, ["index", "build", str(corpus), "--index", str(index)]).exit_code == 0
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(index / "serve.sock"))  # as a killed server leaves it: a file nobody listens on
    stale.close()
    result = CliRunner().invoke(cli, ["query", "apples", "--index", str(index), "--json", "-k", "1"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["results"][0]["doc_id"] == "apples"
    from hubsearch.server.socket import bind

    replaced = bind(index)  # a new server takes the stale socket's place
    assert replaced is not None and (index / "serve.sock").is_socket()
    replaced.close()


def test_the_request_and_the_cli_options_map_through_one_function() -> None:
    import dataclasses
    import inspect

    from hubsearch.request import FIELDS, SearchRequest
    from hubsearch.settings import FusionConfig, SearchConfig

    parameters = inspect.signature(SearchConfig.from_options).parameters
    names = [f.name for f in dataclasses.fields(SearchRequest) if f.init]
    assert set(names) - {"q", "k", "explain"} == set(parameters) and set(names) == set(FIELDS)
    defaults = SearchRequest("x").to_dict()
    for name, parameter in parameters.items():  # the request repeats the defaults its schema shows
        default = parameter.default
        assert defaults[name] == (list(default) if isinstance(default, tuple) else default), name
    request = SearchRequest.parse({"q": "x", "mode": "lexical", "fusion": "rrf", "rrf_k": 30, "feedback": True,
                                   "smoothing": 0.1, "doc_ids": ["a"], "since": "2024-01-01", "min_score": 0.5})
    config = request.config
    assert (config.mode, config.fusion.method, config.fusion.rrf_k) == ("lexical", "rrf", 30)
    assert config.rm3 and config.rocchio and config.smoothing == 0.1
    assert (config.filters.doc_ids, config.filters.since, config.filters.min_score) == (("a",), "2024-01-01", 0.5)
    assert SearchRequest.parse(request.to_dict()) == request
    assert SearchConfig.from_options() == SearchConfig() and SearchConfig().fusion == FusionConfig()