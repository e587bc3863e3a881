from hubsearch import BuildOptions

"""A writer or reader process for the crash and concurrency tests (uses the fake embedder).

    python tests/_worker.py build|update|read|hold CORPUS INDEX [SECONDS]
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hubsearch import HubsearchError, Index, SearchConfig, update  # noqa: E402  # noqa: E402
from tests.conftest import FakeEmbedder  # noqa: E402


def say(text: str) -> None:
    print(text, flush=True)


def main() -> None:
    action, corpus, index_dir = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    wait = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0

    # The crash tests stretch one moment of a write, named by HUBSEARCH_TEST_PAUSE_AT, so that a
    # kill lands inside it: the progress callback is the seam the library offers for that.
    pause_at = os.environ.get("HUBSEARCH_TEST_PAUSE_AT")
    pause = float(os.environ.get("HUBSEARCH_TEST_PAUSE_SECONDS", "0.5"))

    def progress(stage: str, done: int, total: int) -> None:
        finished = bool(total) and done == total
        moment = {("write", True): "written", ("publish", False): "publish", ("publish", True): "published"}.get(
            (stage, finished), stage)
        say(f"phase {moment}")
        if moment == pause_at and (stage != "embed" or done == 0):
            time.sleep(pause)

    if action == "build":
        say("phase start")
        window = int(os.environ.get("HUBSEARCH_TEST_WINDOW", "64"))
        Index.build([corpus], index_dir, BuildOptions(reuse=False, wait=wait), embedder=FakeEmbedder(max_seq_length=window), progress=progress)
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
        from hubsearch.store import generations

        with generations.write_lock(index_dir, 0):
            say("locked")
            time.sleep(60)


if __name__ == "__main__":
    main()
