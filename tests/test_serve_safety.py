"""Serving, round 2: the folder's links and names, the server's places in the index folder,
start-up errors, generations held while requests read them, and MCP's stdio on bad lines."""

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

import hubsearch
from hubsearch import BuildOptions, Index
from hubsearch.cli import cli, remote
from hubsearch.server.live import LiveIndex
from hubsearch.server.socket import bind, socket_path

from .conftest import ROOT, FakeEmbedder, served_in_thread
from .test_crash import write_version
from .test_server import ask_while_rebuilding


def _build(corpus: Path, index_dir: Path) -> Path:
    Index.build([corpus], index_dir, embedder=FakeEmbedder()).close()
    return index_dir


# --- the documents folder ----------------------------------------------------------------


def test_links_out_of_the_folder_are_skipped_and_named(corpus: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("The launch code is 0000.", encoding="utf-8")
    (corpus / "passwd.txt").symlink_to(secret)
    (corpus / "inside.txt").symlink_to(corpus / "apples.txt")  # a link within the folder is followed
    report = hubsearch.build([corpus], tmp_path / "idx", embedder=FakeEmbedder())
    with Index.open(tmp_path / "idx", embedder=FakeEmbedder()) as index:
        ids = {s.doc_id for s in index.manifest.sources}
        assert "passwd" not in ids and "inside" in ids
        assert not [h for h in index.search("launch code", k=10, mode="lexical") if "0000" in h.text]
        assert index.changes() == {"new": 0, "changed": 0, "removed": 0}  # a skipped link is not news
    skipped = {Path(s.path).name: s.reason for s in report.skipped}
    assert "outside" in skipped["passwd.txt"] and str(secret) in skipped["passwd.txt"]
    result = CliRunner().invoke(cli, ["get", "passwd", "--index", str(tmp_path / "idx")])
    assert result.exit_code == 2 and "no document 'passwd'" in result.stderr


def test_a_name_that_is_not_utf8_is_skipped_and_the_index_stays_updatable(fake, corpus: Path, tmp_path: Path) -> None:
    bad = os.path.join(os.fsencode(corpus), b"caf\xe9.txt")
    with open(bad, "wb") as handle:
        handle.write(b"Coffee is roasted.")
    index_dir = str(tmp_path / "idx")
    built = CliRunner().invoke(cli, ["index", "build", str(corpus), "--index", index_dir])
    assert built.exit_code == 0, built.stderr
    name = str(corpus / "caf\\xe9.txt")
    info = CliRunner().invoke(cli, ["index", "info", "--index", index_dir, "--json"])
    reasons = {s["path"]: s["reason"] for s in json.loads(info.stdout)["skipped"]}
    assert "not valid UTF-8" in reasons[name]
    (corpus / "apples.txt").write_text("Apples, revised.", encoding="utf-8")
    result = CliRunner().invoke(cli, ["index", "update", "--index", index_dir, "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["changed"] == 1


def test_a_huge_single_file_is_skipped_with_its_size(fake, corpus: Path, tmp_path: Path, monkeypatch) -> None:
    from hubsearch.ingest import files

    monkeypatch.setattr(files, "MAX_TEXT_CHARS", 1000)
    (corpus / "log.txt").write_text("x " * 2000, encoding="utf-8")
    report = hubsearch.build([corpus], tmp_path / "idx", embedder=FakeEmbedder())
    reason = {Path(s.path).name: s.reason for s in report.skipped}["log.txt"]
    assert "characters of text" in reason and "split it" in reason


# --- the index folder's record -----------------------------------------------------------


def test_the_sources_record_is_written_before_current_moves(corpus: Path, tmp_path: Path) -> None:
    index_dir = _build(corpus, tmp_path / "idx")
    other = tmp_path / "other"
    write_version(other, 1)

    def killed_after_the_swap(stage: str, done: int, total: int) -> None:
        if (stage, done) == ("publish", 1):
            raise KeyboardInterrupt  # as a kill right after CURRENT moved

    with pytest.raises(KeyboardInterrupt):
        Index.build([other], index_dir, embedder=FakeEmbedder(), progress=killed_after_the_swap)
    record = json.loads((index_dir / "SOURCES.json").read_text())
    with Index.open(index_dir, embedder=FakeEmbedder()) as index:
        assert index.manifest.corpus.roots == [str(other.resolve())]  # the swap happened
    assert record["roots"] == [str(other.resolve())]


# --- generations held by requests --------------------------------------------------------


def test_a_generation_stays_open_while_a_request_holds_it(tmp_path: Path) -> None:
    corpus, index_dir = tmp_path / "corpus", tmp_path / "idx"
    write_version(corpus, 0)
    _build(corpus, index_dir)
    live = LiveIndex(index_dir, FakeEmbedder())
    try:
        with live.use() as held:
            for version in (1, 2, 3):  # three swaps while the first request still reads
                write_version(corpus, version)
                Index.build([corpus], index_dir, BuildOptions(wait=10), embedder=FakeEmbedder()).close()
                with live.use() as newer:
                    assert newer.generation != held.generation
            assert held.search("marker sentence", k=1, mode="lexical")[0].doc_id == "d00"
        with live.use() as latest:
            assert latest.search("marker sentence", k=1, mode="lexical")[0].doc_id == "d03"
    finally:
        live.close()


def test_concurrent_slow_requests_across_many_swaps_never_fail(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from hubsearch.server.http import create_app

    corpus, index_dir = tmp_path / "corpus", tmp_path / "idx"
    write_version(corpus, 0)
    _build(corpus, index_dir)
    body = {"q": "marker sentence words", "k": 200, "explain": True, "feedback": True}
    with TestClient(create_app(index_dir, embedder=FakeEmbedder()), base_url="http://127.0.0.1") as c:
        failures, answered = ask_while_rebuilding(lambda: c.post("/search", json=body), corpus, index_dir,
                                                  clients=4, versions=12)
    assert failures == [] and answered > 12


# --- the server's socket and note ---------------------------------------------------------


def test_something_else_at_the_socket_path_is_refused_and_kept(corpus: Path, tmp_path: Path) -> None:
    index_dir = _build(corpus, tmp_path / "idx")
    socket_path(index_dir).mkdir()
    result = CliRunner().invoke(cli, ["serve", "--index", str(index_dir), "--port", str(_free_port())])
    assert result.exit_code == 2 and "is a folder, not the server's socket" in result.stderr
    assert "Traceback" not in result.stderr
    socket_path(index_dir).rmdir()
    socket_path(index_dir).write_text("my notes")
    result = CliRunner().invoke(cli, ["serve", "--index", str(index_dir), "--port", str(_free_port())])
    assert result.exit_code == 2 and "is a file, not the server's socket" in result.stderr
    assert socket_path(index_dir).read_text() == "my notes"  # never deleted


def test_a_second_server_on_the_same_index_is_one_line(corpus: Path, tmp_path: Path) -> None:
    index_dir = _build(corpus, tmp_path / "idx")
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (index_dir / "serve.json").write_text(json.dumps({"pid": other.pid, "url": "http://127.0.0.1:9"}))
        result = CliRunner().invoke(cli, ["serve", "--index", str(index_dir), "--port", str(_free_port())])
        assert result.exit_code == 2
        assert result.stderr.strip() == (f"Error: a server already answers for this index at http://127.0.0.1:9 "
                                         f"(pid {other.pid}); query it there, or stop it before starting another")
    finally:
        other.kill()
        other.wait()
    (index_dir / "serve.json").unlink()
    listening = bind(index_dir)  # a live socket without a note
    try:
        result = CliRunner().invoke(cli, ["serve", "--index", str(index_dir), "--port", str(_free_port())])
        assert result.exit_code == 2 and "a server already answers for this index at" in result.stderr
    finally:
        listening.close()
        socket_path(index_dir).unlink()


def test_a_port_in_use_is_one_line(fake, corpus: Path, tmp_path: Path) -> None:
    index_dir = _build(corpus, tmp_path / "idx")
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        result = CliRunner().invoke(cli, ["serve", "--index", str(index_dir), "--port", str(port)])
    finally:
        taken.close()
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"Error: port {port} on 127.0.0.1 is already in use; pick another with --port, "
                                     f"e.g. --port {port + 1}")
    assert not (index_dir / "serve.json").exists() and not socket_path(index_dir).exists()


def test_blank_tokens_are_refused(corpus: Path, tmp_path: Path) -> None:
    index_dir = _build(corpus, tmp_path / "idx")
    result = CliRunner().invoke(cli, ["serve", "--index", str(index_dir), "--token", "  "])
    assert result.exit_code == 2 and "the token is empty or blank" in result.stderr


def test_the_cli_ignores_a_socket_that_answers_for_another_index(corpus: Path, tmp_path: Path) -> None:
    import uvicorn

    from hubsearch.server.http import create_app

    other_corpus = tmp_path / "other"
    write_version(other_corpus, 0)
    theirs = _build(other_corpus, tmp_path / "theirs")
    ours = _build(corpus, tmp_path / "ours")
    listening = bind(theirs)
    config = uvicorn.Config(create_app(theirs, embedder=FakeEmbedder()), fd=listening.fileno(), log_level="warning",
                            lifespan="off")
    try:
        with served_in_thread(config, wait=20):
            assert remote.ask(theirs, {"q": "marker"}) is not None  # its own index's client is answered
            socket_path(ours).symlink_to(socket_path(theirs))
            assert remote.ask(ours, {"q": "apples"}) is None  # the answer names another index: not ours
    finally:
        listening.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- MCP over stdio ------------------------------------------------------------------------

MCP_SERVER = (
    "import sys\n"
    "from tests.conftest import FakeEmbedder\n"
    "from hubsearch.embed import factory\n"
    "factory.load_embedder = lambda ref, precision='fp32': FakeEmbedder(ref)\n"
    "from hubsearch.cli import main\n"
    "sys.argv = ['hubsearch', 'mcp', '--index', sys.argv[1]]\n"
    "main()\n"
)


@pytest.mark.slow
def test_mcp_stdio_answers_every_malformed_line(corpus: Path, tmp_path: Path) -> None:
    index_dir = _build(corpus, tmp_path / "idx")
    lines = ["this is not json", "42", "[1, 2]", '{"id": 7, "method": "ping"}',
             '{"jsonrpc": "2.0", "id": 8, "method": "ping"}']
    server = subprocess.Popen([sys.executable, "-c", MCP_SERVER, str(index_dir)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    replies: list[dict] = []
    reader = threading.Thread(target=lambda: replies.extend(json.loads(line) for line in server.stdout))
    reader.start()
    try:
        server.stdin.write("\n".join(lines) + "\n")
        server.stdin.flush()  # and keep it open, as a client does while it waits for answers
        deadline = time.monotonic() + 60
        while len(replies) < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        server.stdin.close()
        server.wait(timeout=30)
        reader.join(timeout=10)
    errors = [(r["id"], r["error"]["code"]) for r in replies if "error" in r]
    assert errors == [(None, -32700), (None, -32600), (None, -32600), (7, -32600)], replies
    assert any(r.get("id") == 8 and "result" in r for r in replies)  # a good line still gets its answer
