"""Shared fixtures. Unit tests use a deterministic fake embedder; tests marked `slow`
load the real bundled model."""

from __future__ import annotations

import hashlib
import re
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hubsearch.embed import factory
from hubsearch.records import ModelRef

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
CRANFIELD = ROOT.parent / "shared" / "bench" / "cranfield" / "corpus.jsonl"
_WORD = re.compile(r"\w+|[^\w\s]")


class FakeEmbedder:
    """Hashes each lower-cased word into one of `dimension` slots: texts that share words
    get similar vectors, which is all the unit tests need."""

    precision = "fp32"
    serves_queries = True
    engine = "fake"

    def __init__(self, ref: ModelRef | None = None, dimension: int = 64, max_seq_length: int = 64) -> None:
        self.ref = ref or ModelRef("fake", "/nonexistent/fake-model", "f" * 64, max_seq_length)
        self.ref = ModelRef(self.ref.name, self.ref.path, self.ref.sha256, max_seq_length)
        self.dimension = dimension
        self.calls = 0
        self.embedded = 0

    def token_offsets(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        return [[m.span() for m in _WORD.finditer(t)] for t in texts]

    def embed(self, texts: Sequence[str], progress=None) -> np.ndarray:
        self.calls += 1
        self.embedded += len(texts)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                slot = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little")
                out[row, slot % self.dimension] += 1.0
        if progress:
            progress(len(texts))
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)

    def prepare_queries(self) -> None:
        """A fake has no faster query path to prepare."""


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never touch the user's index or model settings."""
    monkeypatch.setenv("HUBSEARCH_INDEX", str(tmp_path / "default-index"))
    monkeypatch.setenv("HUBSEARCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("HUBSEARCH_MODEL", raising=False)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeEmbedder:
    """Make every model the library loads a `FakeEmbedder` (keeping the real ModelRef,
    so model checks still compare real folder hashes)."""
    made: list[FakeEmbedder] = []

    def load(ref: ModelRef, precision: str = "fp32") -> FakeEmbedder:
        made.append(FakeEmbedder(ref, max_seq_length=ref.max_seq_length))
        return made[-1]

    monkeypatch.setattr(factory, "load_embedder", load)
    return FakeEmbedder()


@pytest.fixture
def seeds_copy(tmp_path: Path) -> Path:
    target = tmp_path / "seeds"
    shutil.copytree(SEEDS, target)
    return target


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A small corpus with varied files, one of them not UTF-8."""
    root = tmp_path / "corpus"
    (root / "sub").mkdir(parents=True)
    (root / "apples.txt").write_text(
        "Apples and orchards\n\nApples grow on trees in orchards. Farmers pick apples in autumn. "
        "Cider is pressed from apples.\n",
        encoding="utf-8",
    )
    (root / "sub" / "rockets.md").write_text(
        "# Rocket engines\n\nRocket engines burn fuel with an oxidiser. Thrust lifts the rocket. "
        "Nozzles shape the exhaust.\n",
        encoding="utf-8",
    )
    (root / "tea.txt").write_text(
        "Published: 18:16, July 11, 2020\nTea ceremonies\nGreen tea is steamed. Black tea is oxidised.",
        encoding="utf-8",
    )
    (root / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    (root / "ignored.xyz").write_text("a,b\n1,2\n", encoding="utf-8")
    return root


def cranfield_files(folder: Path, limit: int) -> Path:
    """The first `limit` Cranfield documents as text files in `folder` (skips the test when
    ../shared/bench is not beside the checkout)."""
    import json

    if not CRANFIELD.is_file():
        pytest.skip(f"no Cranfield collection at {CRANFIELD}")
    folder.mkdir()
    with CRANFIELD.open(encoding="utf-8") as handle:
        for n, line in enumerate(handle):
            if n >= limit:
                break
            doc = json.loads(line)
            (folder / f"{doc['_id']}.txt").write_text(f"{doc['title']}\n{doc['text']}", encoding="utf-8")
    return folder


@contextmanager
def served_in_thread(config: Any, wait: float = 30.0) -> Iterator[Any]:
    """A `uvicorn.Server` for `config`, running in a thread once it has started (within
    `wait` seconds); asked to stop, and joined, when the block ends."""
    import uvicorn

    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + wait
        while not server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        yield server
    finally:
        server.should_exit = True
        thread.join(timeout=30)
