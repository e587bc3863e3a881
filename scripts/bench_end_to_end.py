#!/usr/bin/env python
"""End to end at scale: a folder of realistic documents indexed, updated, queried and served.

Usage: python scripts/bench_end_to_end.py [--docs 100000] [--min-words 200] [--max-words 2000]
                                          [--requests 200] [--rate-sample 300]

Writes --docs documents (lengths log-uniform from --min-words to --max-words words, drawn
from Cranfield's words at their own frequencies, in sentences of 8 to 30 words and
paragraphs of 3 to 8 sentences), then reports, each measured as a user would run it:
- `index build`: wall time, peak resident memory of the build process, size on disk;
- `hubsearch index update` after one file changed (a fresh process);
- a cold `hubsearch query`, with and without the stale check (median of 5, interleaved);
- `hubsearch serve`: warm GET /search p50 and p99 over --requests requests, and the
  server's resident memory after them.

On 2 cores the real model embeds about 85 passages and 800 sentences a second, so 100,000
such documents (about 600,000 passages and 4 million sentences) would take hours to embed.
The build therefore embeds with a stand-in that draws vectors from a topic mixture (as
bench_speed's FAISS table does) and records them as the default model's, so that every
later command (the update through the ONNX export, the query path, the server) runs exactly
as it would. The real model's rates, measured here on a sample of this corpus's passages and
sentences, give the time the embedding would add; the table shows both.
Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_serve import _free_port, _latencies, _pct, _wait  # noqa: E402
from bench_speed import CRANFIELD, _time, copy_from_shared, machine  # noqa: E402

QUESTION = "boundary layer transition on a flat plate at supersonic speed"


def write_corpus(folder: Path, docs: int, low: int, high: int, seed: int = 11) -> int:
    """`docs` documents in `folder`; returns their words in all."""
    rng = np.random.default_rng(seed)
    words = np.array([w for line in (CRANFIELD / "corpus.jsonl").open(encoding="utf-8")
                      for w in json.loads(line)["text"].lower().replace(".", " ").split()])
    folder.mkdir(parents=True)
    total = 0
    for i in range(docs):
        count = int(np.exp(rng.uniform(np.log(low), np.log(high))))
        drawn = words[rng.integers(0, len(words), count)]
        total += count
        paragraphs, sentence, at = [], [], 0
        while at < count:
            lengths = rng.integers(8, 31, rng.integers(3, 9))
            for n in lengths:
                part = drawn[at:at + n]
                if len(part):
                    sentence.append(" ".join(part).capitalize() + ".")
                at += n
            paragraphs.append(" ".join(sentence))
            sentence = []
        (folder / f"doc{i:06}.txt").write_text(f"Report {i}\n\n" + "\n\n".join(paragraphs) + "\n", encoding="utf-8")
    return total


class StandIn:
    """Embeds nothing: unit vectors from a topic mixture, recorded as the default model's."""

    serves_queries = False
    engine = "stand-in (scripts/bench_end_to_end.py)"

    def __init__(self) -> None:
        from hubsearch.embed.base import load_token_offsets, resolve_precision
        from hubsearch.embed.models import resolve_model

        self.ref = resolve_model()
        self.precision = resolve_precision("auto")
        self.dimension = 384
        self.token_offsets = load_token_offsets(self.ref.path)
        self.rng = np.random.default_rng(0)
        self.mixing = self.rng.standard_normal((48, 384)).astype(np.float32) / np.sqrt(48)
        self.topics = self.rng.standard_normal((512, 48)).astype(np.float32)
        self.embedded = 0

    def embed(self, texts, progress=None) -> np.ndarray:
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for lo in range(0, len(texts), 65536):
            n = min(65536, len(texts) - lo)
            z = self.topics[self.rng.integers(0, len(self.topics), n)] + 0.7 * self.rng.standard_normal(
                (n, 48), dtype=np.float32)
            v = z @ self.mixing + 0.05 * self.rng.standard_normal((n, self.dimension), dtype=np.float32)
            out[lo:lo + n] = v / np.linalg.norm(v, axis=1, keepdims=True)
            if progress:
                progress(n)
        self.embedded += len(texts)
        return out

    def prepare_queries(self) -> None:
        pass


def build_with_stand_in(corpus: str, index: str) -> None:
    """(Run in a child process, so that its peak memory is its own.) Print the report as JSON."""
    import hubsearch

    started = time.perf_counter()
    report = hubsearch.build([corpus], index, embedder=StandIn())
    print(json.dumps({"seconds": time.perf_counter() - started, "passages": report.passages,
                      "sentences": report.sentences, "documents": report.documents}))


def model_rates(index: Path, sample: int) -> tuple[float, float]:
    """Passages and sentences a second, embedded by the real model at the index's precision,
    on `sample` of each from the index."""
    import sqlite3

    from hubsearch.embed.factory import load_embedder
    from hubsearch.embed.models import resolve_model
    from hubsearch.ingest.chunking import passage_sentences

    generation = index / (index / "CURRENT").read_text().strip()
    with sqlite3.connect(generation / "passages.sqlite") as con:
        texts = [r[0] for r in con.execute("SELECT text FROM passages ORDER BY id LIMIT ?", (sample,))]
    sentences = [t[s:e] for t in texts for s, e in passage_sentences(t)][:sample]
    embedder = load_embedder(resolve_model(), "auto")
    embedder.embed(texts[:16])  # warm-up
    rates = []
    for batch in (texts, sentences):
        started = time.perf_counter()
        embedder.embed(batch)
        rates.append(len(batch) / (time.perf_counter() - started))
    return rates[0], rates[1]


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 7200 else f"{seconds / 60:.1f} min"


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--min-words", type=int, default=200)
    parser.add_argument("--max-words", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rate-sample", type=int, default=300)
    parser.add_argument("--_build", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._build:
        build_with_stand_in(*args._build)
        return
    copy_from_shared(CRANFIELD)
    print(f"hubsearch end-to-end benchmark, {time.strftime('%Y-%m-%d')}, {machine()}\n")
    with tempfile.TemporaryDirectory() as tmp:
        corpus, index = Path(tmp) / "corpus", Path(tmp) / "index"
        env = {**os.environ, "HUBSEARCH_CACHE": str(Path(tmp) / "cache"), "PYTHONPATH": str(ROOT)}
        # A real build of the seeds makes the ONNX export every later query and update uses.
        subprocess.run([sys.executable, "-m", "hubsearch", "index", "build", str(ROOT / "seeds"), "--index",
                        str(Path(tmp) / "seeds-index")], env=env, check=True, capture_output=True)
        started = time.perf_counter()
        words = write_corpus(corpus, args.docs, args.min_words, args.max_words)
        written = time.perf_counter() - started
        child = subprocess.Popen([sys.executable, __file__, "--_build", str(corpus), str(index)], env=env,
                                 stdout=subprocess.PIPE, text=True)
        output = child.stdout.read() if child.stdout else ""
        _, status, usage = os.wait4(child.pid, 0)
        if status:
            raise SystemExit("the build failed; run it again to see why")
        built = json.loads(output.strip().splitlines()[-1])
        peak = usage.ru_maxrss / 1024
        size = sum(p.stat().st_size for p in index.rglob("*") if p.is_file()) / 2**30
        passages_rate, sentences_rate = model_rates(index, args.rate_sample)
        embedding = built["passages"] / passages_rate + built["sentences"] / sentences_rate
        (corpus / "doc000042.txt").write_text("Report 42\n\nA rewritten report about wing flutter.\n", encoding="utf-8")
        update = _time([sys.executable, "-m", "hubsearch", "index", "update", "--index", str(index)], ROOT, env)
        query = [sys.executable, "-m", "hubsearch", "query", QUESTION, "--index", str(index), "-k", "10"]
        checked, unchecked = [], []
        for _ in range(5):
            checked.append(_time(query, ROOT, env))
            unchecked.append(_time(query + ["--no-stale-check"], ROOT, env))
        port = _free_port()
        server = subprocess.Popen([sys.executable, "-m", "hubsearch", "serve", "--index", str(index), "--port",
                                   str(port), "--no-access-log"], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait(url, server)
            times = _latencies(url, args.requests)
            server_rss = rss_mib(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=60)
    mean_words = words / args.docs
    print(f"### {args.docs:,} documents of {args.min_words}-{args.max_words} words (mean {mean_words:.0f}), "
          f"{built['passages']:,} passages, {built['sentences']:,} sentences\n")
    print("| measure | value |")
    print("|---|---|")
    print(f"| writing the corpus ({words / 1e6:.1f} M words) | {written:.0f} s |")
    print(f"| `index build`, all but embedding (vectors from the stand-in) | {built['seconds']:.0f} s |")
    print(f"| the real model's rates here ({args.rate_sample} of each, auto precision) | "
          f"{passages_rate:.0f} passages/s, {sentences_rate:.0f} sentences/s |")
    print(f"| `index build` with the real model, estimated (build + passages/rate + sentences/rate) | "
          f"{_duration(built['seconds'] + embedding)} |")
    print(f"| peak resident memory of the build | {peak / 1024:.1f} GiB |")
    print(f"| index size on disk | {size:.2f} GiB |")
    print(f"| `hubsearch index update` after one file changed | {update:.1f} s |")
    print(f"| cold `hubsearch query`, with the stale check (median of 5) | {statistics.median(checked):.2f} s |")
    print(f"| cold `hubsearch query --no-stale-check` (median of 5) | {statistics.median(unchecked):.2f} s |")
    print(f"| warm GET /search, p50 / p99 ({args.requests} requests, k=5) | "
          f"{1000 * statistics.median(times):.0f} ms / {1000 * _pct(times, 0.99):.0f} ms |")
    print(f"| resident memory of `hubsearch serve` after them | {server_rss / 1024:.2f} GiB |")
    print()


if __name__ == "__main__":
    main()
