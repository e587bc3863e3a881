"""What every HTTP request passes first: Host and Origin checks (DNS rebinding), the token
with its browser login, and a body limit that counts chunked bodies too."""

import json
from pathlib import Path

import pytest

from hubsearch import Index

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from hubsearch.server.guard import COOKIE, host_name  # noqa: E402
from hubsearch.server.http import MAX_BODY_BYTES, create_app  # noqa: E402

from .conftest import FakeEmbedder  # noqa: E402

ROUTES = ["/", "/favicon.ico", "/documents", "/documents/apples", "/search?q=apples", "/info", "/changes",
          "/health", "/docs", "/openapi.json"]


@pytest.fixture
def built(corpus: Path, tmp_path: Path) -> Path:
    Index.build([corpus], tmp_path / "idx", embedder=FakeEmbedder()).close()
    return tmp_path / "idx"


def _client(built: Path, base: str = "http://127.0.0.1:8765", **options) -> TestClient:
    return TestClient(create_app(built, embedder=FakeEmbedder(), **options), base_url=base)


@pytest.mark.parametrize("route", [*ROUTES, "/mcp"])
def test_a_foreign_host_name_is_refused_on_every_route(built: Path, route: str) -> None:
    with _client(built, "http://evil.example:8765") as c:
        response = c.post(route, json={}) if route == "/mcp" else c.get(route)
    assert response.status_code == 403
    assert "does not answer for the host name 'evil.example'" in response.json()["error"]
    assert "--allow-host" in response.json()["error"]


@pytest.mark.parametrize("base", ["http://127.0.0.1:8765", "http://localhost:8765", "http://[::1]:8765",
                                  "http://LOCALHOST"])
def test_loopback_names_are_answered(built: Path, base: str) -> None:
    with _client(built, base) as c:
        for route in ROUTES:
            assert c.get(route).status_code == 200, route


def test_allow_host_and_the_listening_address_add_names(built: Path) -> None:
    with _client(built, "http://search.lan:8765", allow_hosts=["search.lan"]) as c:
        assert c.get("/documents").status_code == 200
    with _client(built, "http://192.168.1.5:8765", host="192.168.1.5", token="t") as c:
        assert c.get("/documents", headers={"Authorization": "Bearer t"}).status_code == 200
    with _client(built, "http://other.lan:8765", host="192.168.1.5", token="t") as c:
        assert c.get("/documents", headers={"Authorization": "Bearer t"}).status_code == 403


def test_a_cross_origin_request_is_refused_unless_cors_allows_it(built: Path) -> None:
    evil = {"Origin": "http://evil.example"}
    with _client(built) as c:
        refused = c.post("/search", json={"q": "apples"}, headers=evil)
        assert refused.status_code == 403 and "--cors http://evil.example" in refused.json()["error"]
        assert c.get("/documents", headers={"Origin": "null"}).status_code == 403
        same = c.post("/search", json={"q": "apples"}, headers={"Origin": "http://127.0.0.1:8765"})
        assert same.status_code == 200  # the page's own calls
    with _client(built, cors=["http://evil.example"]) as c:
        allowed = c.post("/search", json={"q": "apples"}, headers=evil)
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "http://evil.example"


def test_a_chunked_body_is_counted_as_it_arrives(built: Path) -> None:
    sent = []

    def body():  # valid JSON: a short query padded with whitespace, sent without Content-Length
        yield b'{"q": "apples"'
        for _ in range(64):
            sent.append(1)
            yield b" " * 8192
        yield b"}"

    with _client(built) as c:
        response = c.post("/search", content=body(), headers={"content-type": "application/json"})
        assert response.status_code == 413 and f"larger than {MAX_BODY_BYTES:,} bytes" in response.json()["error"]
        small = c.post("/search", content=iter([b'{"q": ', b'"apples"}']), headers={"content-type": "application/json"})
        assert small.status_code == 200 and small.json()["results"]


def test_the_token_guards_data_and_the_page_logs_in_with_a_cookie(built: Path) -> None:
    app = create_app(built, embedder=FakeEmbedder(), token="s3cret")
    with TestClient(app, base_url="http://127.0.0.1:8765") as c:
        assert c.get("/").status_code == 200  # the page holds no data: it shows the login form
        assert c.get("/favicon.ico").status_code == 200
        for route in ROUTES[2:]:
            assert c.get(route).status_code == 401, route
        assert c.post("/login", json={"token": "wrong"}).status_code == 401
        assert COOKIE not in c.cookies
        logged = c.post("/login", json={"token": "s3cret"})
        assert logged.status_code == 200
        cookie = logged.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "s3cret" not in cookie
        assert c.get("/documents").status_code == 200  # the cookie is enough
        c.cookies.clear()
        assert c.get("/documents").status_code == 401
        code = app.login_code()
        first = c.get(f"/login?code={code}", follow_redirects=False)
        assert first.status_code == 303 and first.headers["location"] == "/"
        assert c.get("/search", params={"q": "apples"}).status_code == 200
        c.cookies.clear()
        again = c.get(f"/login?code={code}", follow_redirects=False)
        assert again.status_code == 401 and "used up" in again.json()["error"]  # the link works once
        assert c.get("/documents").status_code == 401


def test_host_names_are_read_without_port_or_brackets() -> None:
    assert host_name("LocalHost:8765") == "localhost"
    assert host_name("[::1]:8765") == "::1"
    assert host_name("127.0.0.1") == "127.0.0.1"
    assert json.dumps(host_name("")) == '""'
