"""SIGKILL a writer at random moments: the index must always be the old one or the new one."""

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hubsearch import Index, SearchConfig

from .conftest import FakeEmbedder

WORKER = Path(__file__).with_name("_worker.py")
KILLS = 28
# Phases to stretch so that kills land inside them (None: none stretched).
# The moments a write may be stretched at (see tests/_worker.py): embedding starts, every
# file is written, the generation is in place but CURRENT not yet moved, CURRENT moved.
PHASES = ["embed", "written", "publish", "published", None]


def write_version(corpus: Path, version: int) -> dict[str, str]:
    """Rewrite the corpus as `version`; return each document's expected SHA-256."""
    corpus.mkdir(exist_ok=True)
    hashes = {}
    for i in range(40):
        body = f"Doc {i} of version {version}. " + " ".join(f"filler{j} words{i}" for j in range(60))
        if i == version % 40:
            body += " marker sentence here."
        data = body.encode()
        (corpus / f"d{i:02}.txt").write_bytes(data)
        hashes[f"d{i:02}"] = hashlib.sha256(data).hexdigest()
    return hashes


def check(index_dir: Path, allowed: list[dict[str, str]]) -> int:
    """Open the index, prove it is whole and answers correctly; return which version it is."""
    index = Index.open(index_dir, embedder=FakeEmbedder())
    recorded = {s.doc_id: s.sha256 for s in index.manifest.sources}
    version = next(v for v, hashes in enumerate(allowed) if hashes == recorded)
    top = index.search("marker", k=1, config=SearchConfig(mode="lexical", rm3=False))[0]
    assert "marker" in top.text
    q = FakeEmbedder().embed(["filler3 words7"])[0]
    stored = np.load(index.generation / "embeddings.npy")
    hits = index.search("filler3 words7", k=5, config=SearchConfig(mode="dense", rocchio=False))
    assert [round(h.score, 4) for h in hits] == [round(s, 4) for s in np.sort(stored @ q)[::-1][:5]]
    index.close()
    return version


@pytest.mark.slow
def test_sigkill_at_random_points_leaves_old_or_new_index(tmp_path: Path) -> None:
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    versions = [write_version(corpus, 0)]
    Index.build([corpus], index_dir, embedder=FakeEmbedder())
    rng = random.Random(20261124)
    landed: dict[str, int] = {}
    outcomes = {"old": 0, "new": 0}
    attempt = 0
    while sum(landed.values()) < KILLS and attempt < 3 * KILLS:
        attempt += 1
        current = check(index_dir, versions)
        versions = [versions[current], write_version(corpus, attempt)]
        phase = PHASES[attempt % len(PHASES)]
        env = {**os.environ, "HUBSEARCH_TEST_PAUSE_SECONDS": "0.4"}
        if phase:
            env["HUBSEARCH_TEST_PAUSE_AT"] = phase
        action = "update" if attempt % 2 else "build"
        proc = subprocess.Popen([sys.executable, str(WORKER), action, str(corpus), str(index_dir)],
                                stdout=subprocess.PIPE, text=True, env=env)
        assert proc.stdout is not None
        seen: list[str] = []
        # Wait until the writer has started its work, then kill it after a random delay.
        seen.append(proc.stdout.readline().strip())
        time.sleep(rng.uniform(0.0, 0.9))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        seen += [line.strip() for line in proc.stdout.read().splitlines()]
        if "done" in seen:
            continue  # finished before the kill: not a kill point
        last = [s.split()[1] for s in seen if s.startswith("phase")][-1]
        landed[last] = landed.get(last, 0) + 1
        after = check(index_dir, versions)
        outcomes["old" if after == 0 else "new"] += 1
        if last == "published":
            assert after == 1  # CURRENT was swapped: the new index is live
    print(f"\nkills by phase: {landed}; index afterwards: {outcomes}")
    assert sum(landed.values()) >= KILLS
    assert len(landed) >= 4  # kills landed in several phases
    assert outcomes["old"] > 0 and outcomes["new"] > 0
    # Leftover temporary generations are cleared by the next successful write.
    Index.build([corpus], index_dir, embedder=FakeEmbedder())
    assert sorted(p.name[:2] for p in index_dir.iterdir() if p.is_dir()) == ["g-"]
