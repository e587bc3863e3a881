"""A writer or reader process for the crash and concurrency tests (uses the fake embedder).

    python tests/_worker.py build|update|read|hold CORPUS INDEX [SECONDS]
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hubsearch import HubsearchError, Index  # noqa: E402
from hubsearch.api import SearchConfig, update  # noqa: E402
from tests.conftest import FakeEmbedder  # noqa: E402


def say(text: str) -> None:
    print(text, flush=True)


def main() -> None:
    action, corpus, index_dir = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    wait = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0

    def progress(stage: str, done: int, total: int) -> None:
        say(f"phase {stage}-done" if stage == "write" and total and done == total else f"phase {stage}")

    if action == "build":
        say("phase start")
        window = int(os.environ.get("HUBSEARCH_TEST_WINDOW", "64"))
        Index.build([corpus], index_dir, embedder=FakeEmbedder(max_seq_length=window), progress=progress,
                    reuse=False, wait=wait)
        say("done")
    elif action == "update":
        say("phase start")
        update(index_dir, embedder=FakeEmbedder(), progress=progress, wait=wait)
        say("done")
    elif action == "read":
        # Query in a loop for `wait` seconds; every answer must come from one whole index.
        end, answered = time.monotonic() + wait, 0
        lexical = SearchConfig(mode="lexical", rm3=False)
        while time.monotonic() < end:
            try:
                with Index.open(index_dir, embedder=FakeEmbedder()) as index:
                    hits = index.search("marker", k=3, config=lexical)
                    sources = {s.doc_id: s for s in index.manifest.sources}
                    for hit in hits:
                        assert hit.doc_id in sources, hit.doc_id
                        assert hit.text.count("marker") >= 1
            except (HubsearchError, AssertionError) as exc:
                say(f"error {type(exc).__name__}: {exc}")
                sys.exit(1)
            answered += 1
        say(f"answered {answered}")
    elif action == "hold":
        # Take the writer lock and keep it until killed.
        from hubsearch import storage

        with storage.write_lock(index_dir, 0):
            say("locked")
            time.sleep(60)


if __name__ == "__main__":
    main()
