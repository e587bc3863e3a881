"""Real processes: readers during writes, two writers, and a writer killed with the lock."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hubsearch import BuildOptions, Index, IndexBusyError

from .conftest import FakeEmbedder
from .test_crash import WORKER, check, write_version

pytestmark = pytest.mark.slow


def worker(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(WORKER), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_readers_keep_answering_while_the_index_is_replaced(tmp_path: Path) -> None:
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    write_version(corpus, 0)
    Index.build([corpus], index_dir, embedder=FakeEmbedder())
    readers = [worker("read", str(corpus), str(index_dir), "8") for _ in range(2)]
    writes = 0
    deadline = time.monotonic() + 7
    while time.monotonic() < deadline:
        writes += 1
        write_version(corpus, writes)
        Index.build([corpus], index_dir, BuildOptions(reuse=writes % 2 == 0, wait=10), embedder=FakeEmbedder())
    for reader in readers:
        out, err = reader.communicate(timeout=60)
        assert reader.returncode == 0, out + err
        assert int(out.split()[-1]) > 5, out
    assert writes >= 3


def test_second_writer_fails_fast_or_waits_and_never_corrupts(tmp_path: Path) -> None:
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    versions = [write_version(corpus, 0)]
    Index.build([corpus], index_dir, embedder=FakeEmbedder())
    holder = worker("hold", str(corpus), str(index_dir))
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(IndexBusyError, match="another hubsearch process is writing"):
        Index.build([corpus], index_dir, BuildOptions(wait=0), embedder=FakeEmbedder())
    # The holder dies without releasing anything: the OS drops its lock, and a waiting
    # writer goes ahead.
    started = time.monotonic()
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    versions.append(write_version(corpus, 1))
    Index.build([corpus], index_dir, BuildOptions(wait=10), embedder=FakeEmbedder())
    assert time.monotonic() - started < 10
    assert check(index_dir, versions) == 1


def test_two_writers_at_once_both_finish_in_turn(tmp_path: Path) -> None:
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    versions = [write_version(corpus, 0)]
    Index.build([corpus], index_dir, embedder=FakeEmbedder())
    versions.append(write_version(corpus, 1))
    writers = [worker(action, str(corpus), str(index_dir), "60") for action in ("build", "update")]
    for w in writers:
        out, err = w.communicate(timeout=120)
        assert w.returncode == 0, err
        assert out.strip().endswith("done")
    assert check(index_dir, versions) == 1


def test_cli_reports_a_busy_index_in_one_line(tmp_path: Path) -> None:
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    write_version(corpus, 0)
    Index.build([corpus], index_dir, embedder=FakeEmbedder())
    holder = worker("hold", str(corpus), str(index_dir))
    try:
        assert holder.stdout.readline().strip() == "locked"
        env = {**os.environ, "HUBSEARCH_MODEL": "/nonexistent"}  # never reached: the lock is checked first
        result = subprocess.run(
            [sys.executable, "-m", "hubsearch", "index", "update", "--index", str(index_dir)],
            capture_output=True, text=True, timeout=120, env=env,
        )
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 2
    assert result.stderr.strip().startswith("Error: another hubsearch process is writing")
    assert len(result.stderr.strip().splitlines()) == 1
