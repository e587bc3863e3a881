"""Hostile input and OS failures: one clear error, never a traceback, no data lost."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from hubsearch import Index, IndexBusyError, IndexWriteError, InvalidInputError
from hubsearch.cli import cli
from hubsearch.request import MAX_K

from .conftest import FakeEmbedder
from .test_crash import WORKER, write_version


class StrictEmbedder(FakeEmbedder):
    """Refuses text that is not valid Unicode, as the real tokenizer does."""

    def embed(self, texts, progress=None):
        for text in texts:
            text.encode("utf-8")  # raises on a lone surrogate
        return super().embed(texts, progress)


def test_a_query_with_a_stray_byte_or_lone_surrogate_is_answered(corpus: Path, tmp_path: Path) -> None:
    index = Index.build([corpus], tmp_path / "idx", embedder=StrictEmbedder())
    for query in ("caf\udce9 apples", "\ud800", "apples \udfff orchards"):
        hits = index.search(query, k=2)
        assert isinstance(hits, list)
    assert index.search("caf\udce9 apples", k=1)[0].doc_id == "apples"


def test_cli_query_with_an_undecodable_argument(fake, corpus: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["index", "build", str(corpus), "--index", str(tmp_path / "i")]).exit_code == 0
    result = runner.invoke(cli, ["query", "caf\udce9 apples", "--index", str(tmp_path / "i"), "--json"])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output


def test_k_is_capped_with_a_clear_message(fake, corpus: Path, tmp_path: Path) -> None:
    index = Index.build([corpus], tmp_path / "idx", embedder=FakeEmbedder())
    assert len(index.search("apples", k=MAX_K)) >= 1
    with pytest.raises(InvalidInputError, match=f"k must be at most {MAX_K}"):
        index.search("apples", k=MAX_K + 1)
    result = CliRunner().invoke(cli, ["query", "apples", "--index", str(tmp_path / "idx"), "-k", "1000000"])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"Error: k must be at most {MAX_K}, got 1000000; ask for fewer hits, e.g. 100"


@pytest.mark.slow
def test_a_second_writer_fails_within_a_second(tmp_path: Path) -> None:
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    write_version(corpus, 0)
    env = {**os.environ, "HUBSEARCH_TEST_PAUSE_AT": "embed", "HUBSEARCH_TEST_PAUSE_SECONDS": "5"}
    first = subprocess.Popen([sys.executable, str(WORKER), "build", str(corpus), str(index_dir)],
                             stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert first.stdout is not None
        while first.stdout.readline().strip() != "phase read":  # it holds the lock from here on
            pass
        time.sleep(0.3)
        started = time.monotonic()
        with pytest.raises(IndexBusyError, match="another hubsearch process is writing"):
            Index.build([corpus], index_dir, embedder=FakeEmbedder())
        assert time.monotonic() - started < 1.0
    finally:
        first.kill()
        first.wait()


def _mount_tmpfs(path: Path, options: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)  # lazy: open maps may remain


def test_a_read_only_file_system_gives_one_line_and_keeps_the_index(corpus: Path, tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    _mount_tmpfs(disk, "size=16m")
    try:
        Index.build([corpus], disk / "idx", embedder=FakeEmbedder()).close()
        if subprocess.run(["mount", "-o", "remount,ro", str(disk)], capture_output=True).returncode != 0:
            pytest.skip("cannot remount the tmpfs read-only")
        (corpus / "new.txt").write_text("Kites fly in the wind.", encoding="utf-8")
        from hubsearch import update

        with pytest.raises(IndexWriteError, match=f"cannot write index at {disk / 'idx'}: read-only file system"):
            update(disk / "idx", embedder=FakeEmbedder())
        with pytest.raises(IndexWriteError, match="read-only file system"):
            Index.build([corpus], disk / "other", embedder=FakeEmbedder())
        assert Index.open(disk / "idx", embedder=FakeEmbedder()).search("apples", k=1)[0].doc_id == "apples"
    finally:
        _umount(disk)


def test_a_full_disk_gives_one_line_and_keeps_the_index(fake, corpus: Path, tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    _mount_tmpfs(disk, "size=1m")
    try:
        assert CliRunner().invoke(cli, ["index", "build", str(corpus), "--index", str(disk / "idx")]).exit_code == 0
        big = tmp_path / "big"
        big.mkdir()
        for i in range(300):
            (big / f"d{i}.txt").write_text(" ".join(f"word{i}x{j}" for j in range(400)), encoding="utf-8")
        with pytest.raises(IndexWriteError, match=r"no space left on device \(needed about \d+ MB"):
            Index.build([corpus, big], disk / "idx", embedder=FakeEmbedder())
        assert [p.name for p in (disk / "idx").iterdir() if p.name.startswith(".tmp-")] == []
        assert Index.open(disk / "idx").search("apples", k=1)[0].doc_id == "apples"
        result = CliRunner().invoke(cli, ["index", "update", str(corpus), str(big), "--index", str(disk / "idx")])
        assert result.exit_code == 2
        errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1 and "no space left on device" in errors[0] and "Traceback" not in result.stderr
    finally:
        _umount(disk)


def _damage_pointer_or_manifest(index_dir: Path, how: str) -> None:
    import shutil

    generation = index_dir / (index_dir / "CURRENT").read_text().strip()
    if how == "manifest-missing":
        (generation / "manifest.json").unlink()
    elif how == "manifest-garbage":
        (generation / "manifest.json").write_text("{not json")
    elif how == "manifest-truncated":
        data = (generation / "manifest.json").read_bytes()
        (generation / "manifest.json").write_bytes(data[: len(data) // 2])
    elif how == "manifest-foreign":
        (generation / "manifest.json").write_text('{"format": "something-else"}')
    elif how == "current-garbage":
        (index_dir / "CURRENT").write_text("garbage\n")
    elif how == "current-empty":
        (index_dir / "CURRENT").write_text("")
    elif how == "current-binary":
        (index_dir / "CURRENT").write_bytes(b"\xff\xfe\x00\x01")
    elif how == "current-dangling":
        (index_dir / "CURRENT").write_text("g-20990101T000000-deadbeef\n")
    elif how == "generation-deleted":
        shutil.rmtree(generation)
    elif how == "current-too-long":
        (index_dir / "CURRENT").write_text("g-" + "x" * 400 + "\n")
    elif how == "current-a-folder":
        (index_dir / "CURRENT").unlink()
        (index_dir / "CURRENT").mkdir()
    elif how == "manifest-version-text":
        data = json.loads((generation / "manifest.json").read_text())
        data["format_version"] = str(data["format_version"])
        (generation / "manifest.json").write_text(json.dumps(data))


DAMAGE = ["manifest-missing", "manifest-garbage", "manifest-truncated", "manifest-foreign", "current-garbage",
          "current-empty", "current-binary", "current-dangling", "generation-deleted", "current-too-long",
          "current-a-folder", "manifest-version-text"]


@pytest.mark.parametrize("how", DAMAGE)
def test_the_repair_advice_works_end_to_end(fake, corpus: Path, tmp_path: Path, how: str) -> None:
    runner = CliRunner()
    index_dir = tmp_path / "idx"
    assert runner.invoke(cli, ["index", "build", str(corpus), "--index", str(index_dir)]).exit_code == 0
    _damage_pointer_or_manifest(index_dir, how)
    refused = runner.invoke(cli, ["query", "apples", "--index", str(index_dir)])
    assert refused.exit_code == 2 and "damaged" in refused.stderr
    advice = refused.stderr.strip().rsplit("; ", 1)[-1]
    assert advice == f"rebuild it with: hubsearch index rebuild --index {index_dir}"
    repaired = runner.invoke(cli, advice.split(": ", 1)[1].split()[1:])  # follow it: index rebuild --index DIR
    assert repaired.exit_code == 0, repaired.stderr
    answer = runner.invoke(cli, ["query", "apples", "--index", str(index_dir), "--json", "-k", "1"])
    assert json.loads(answer.stdout)["results"][0]["doc_id"] == "apples"


def test_without_a_record_the_advice_is_a_build_with_paths(fake, corpus: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    index_dir = tmp_path / "idx"
    assert runner.invoke(cli, ["index", "build", str(corpus), "--index", str(index_dir)]).exit_code == 0
    (index_dir / "SOURCES.json").unlink()  # as an index written before the record existed
    _damage_pointer_or_manifest(index_dir, "current-garbage")
    for args in (["query", "apples"], ["index", "rebuild"]):
        result = runner.invoke(cli, [*args, "--index", str(index_dir)])
        assert result.exit_code == 2
        assert result.stderr.strip().endswith(f"hubsearch index build PATHS --index {index_dir}")
    rebuilt = runner.invoke(cli, ["index", "build", str(corpus), "--index", str(index_dir)])
    assert rebuilt.exit_code == 0, rebuilt.stderr


def test_info_mentions_leftovers_of_a_killed_writer_and_the_next_write_removes_them(
    fake, corpus: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    index_dir = tmp_path / "idx"
    built = runner.invoke(cli, ["index", "build", str(corpus), "--index", str(index_dir)])
    summary = [line for line in built.stderr.splitlines() if "documents," in line or " new, " in line]
    assert len(summary) == 1 and "3 new, 0 changed" in summary[0]  # one summary line per build
    (index_dir / ".tmp-0123456789ab").mkdir()
    info = runner.invoke(cli, ["index", "info", "--index", str(index_dir)])
    assert "unfinished:" in info.stdout and ".tmp-0123456789ab" in info.stdout
    assert json.loads(runner.invoke(cli, ["index", "info", "--index", str(index_dir), "--json"]).stdout)[
        "unfinished"] == [".tmp-0123456789ab"]
    (index_dir / "g-20000101T000000-0badc0de").mkdir()  # a generation a killed writer did not clean up
    info = runner.invoke(cli, ["index", "info", "--index", str(index_dir)])
    assert "orphaned:" in info.stdout and "g-20000101T000000-0badc0de" in info.stdout
    assert json.loads(runner.invoke(cli, ["index", "info", "--index", str(index_dir), "--json"]).stdout)[
        "orphaned"] == ["g-20000101T000000-0badc0de"]
    assert runner.invoke(cli, ["index", "update", "--index", str(index_dir)]).exit_code == 0
    assert not (index_dir / ".tmp-0123456789ab").exists()
    assert not (index_dir / "g-20000101T000000-0badc0de").exists()
    assert "unfinished" not in runner.invoke(cli, ["index", "info", "--index", str(index_dir)]).stdout
