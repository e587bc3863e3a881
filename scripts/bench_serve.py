#!/usr/bin/env python
"""Serving benchmark: `hubsearch serve` on loopback, measured from outside.

Usage: python scripts/bench_serve.py [--docs 10000] [--requests 1000] [--seconds 30] [--clients 8]
                                     [--rounds 3] [--compare-with CHECKOUT] [--latency-only]

For the seeds and for a synthetic corpus of --docs documents: warm latency of GET /search
(p50, p99 over --requests sequential requests); then, on the large corpus, requests per
second from --clients concurrent clients for --seconds while `hubsearch index update`
publishes a new generation (failed requests counted); and the wall time of `hubsearch
query` answered through the server's socket. Prints Markdown tables. With
--compare-with (repeatable), the same index is also served by another checkout of hubsearch
(run with PYTHONPATH=CHECKOUT), one after the other, each a further row.

Each server is started --rounds times, the checkouts in turn, and each row gives the median
of its rounds' p50 and p99 with the range of the p50s: on 2 cores a server's p50 moves by a
few milliseconds from one start to the next, with the same code.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_speed import CRANFIELD, _synthetic_corpus, copy_from_shared, machine  # noqa: E402

QUERIES = ["Xuhui incubator size", "Who is the Party secretary of Yangpu?", "OpenMMLab algorithms",
           "AI investment consortium", "wing flutter at supersonic speed", "boundary layer transition"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="server starts per checkout, in turn (default 3)")
    parser.add_argument("--compare-with", type=Path, action="append", default=[], metavar="CHECKOUT",
                        help="another hubsearch checkout whose server is measured on the same indexes (repeatable)")
    parser.add_argument("--latency-only", action="store_true", help="skip the load test and the CLI timing")
    args = parser.parse_args()
    copy_from_shared(CRANFIELD)  # the synthetic corpus takes its vocabulary from Cranfield
    print(f"hubsearch serving benchmark, {time.strftime('%Y-%m-%d')}, {machine()}\n")
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "HUBSEARCH_CACHE": str(Path(tmp) / "cache")}
        seeds, large = Path(tmp) / "seeds", Path(tmp) / "corpus"
        shutil.copytree(ROOT / "seeds", seeds)
        _synthetic_corpus(large, args.docs)
        rows, load = [], None
        for label, corpus in (("seeds", seeds), (f"{args.docs:,} documents", large)):
            index = Path(tmp) / f"index-{corpus.name}"
            # Each checkout runs from its own folder: `python -m` puts the working folder first on
            # sys.path, before PYTHONPATH.
            env = {**env, "PYTHONPATH": str(ROOT)}
            _hubsearch(["index", "build", str(corpus), "--index", str(index)], env, ROOT)
            servers = [("", env, index, ROOT)]
            for n, other in enumerate(args.compare_with):
                # Each checkout serves an index it built itself: index formats differ between versions.
                other_env, other_index = {**env, "PYTHONPATH": str(other.resolve())}, Path(tmp) / f"other{n}-{corpus.name}"
                _hubsearch(["index", "build", str(corpus), "--index", str(other_index)], other_env, other)
                servers.append((f", {other}", other_env, other_index, other))
            measured: dict[str, list[tuple[float, float, float | None]]] = {}
            for round_ in range(args.rounds):
                for suffix, server_env, index, checkout in servers:
                    port = _free_port()
                    # A file, not a pipe: the access log writes a line per request and would fill a pipe.
                    log = (Path(tmp) / f"server{suffix.replace('/', '_')}.log").open("w+b")
                    server = subprocess.Popen([sys.executable, "-m", "hubsearch", "serve", "--index", str(index),
                                               "--port", str(port)], env=server_env, cwd=checkout,
                                              stdout=subprocess.DEVNULL, stderr=log)
                    try:
                        url = f"http://127.0.0.1:{port}"
                        _wait(url, server)
                        times = _latencies(url, args.requests)
                        cli = None if args.latency_only or round_ else statistics.median(
                            _cli_through_server(index, server_env, checkout))
                        measured.setdefault(label + suffix, []).append(
                            (statistics.median(times), _pct(times, 0.99), cli))
                        if corpus is large and not suffix and not args.latency_only and not round_:
                            load = _under_load(url, corpus, index, env, args.clients, args.seconds)
                    finally:
                        server.terminate()
                        server.wait(timeout=30)
            for name, runs in measured.items():
                p50s = [p50 for p50, _, _ in runs]
                rows.append((name, statistics.median(p50s), min(p50s), max(p50s),
                             statistics.median(p99 for _, p99, _ in runs), runs[0][2]))
    print(f"### Warm latency of GET /search (k=5, {args.requests:,} sequential requests, hybrid; "
          f"median of {args.rounds} server starts)\n")
    print("| corpus | p50 | p50 range | p99 | `hubsearch query` through the server, median wall time |")
    print("|---|---|---|---|---|")
    for label, p50, low, high, p99, cli in rows:
        print(f"| {label} | {1000 * p50:.1f} ms | {1000 * low:.1f}-{1000 * high:.1f} ms | {1000 * p99:.1f} ms | "
              f"{'-' if cli is None else f'{cli:.3f} s'} |")
    if load is None:
        return
    ok, failed, seconds, updated = load
    print(f"\n### {args.clients} concurrent clients for {seconds:.0f} s while `hubsearch index update` ran\n")
    print("| requests answered | failed | requests per second | update published during the run |")
    print("|---|---|---|---|")
    print(f"| {ok:,} | {failed} | {ok / seconds:.1f} | {'yes' if updated else 'no'} |")


def _hubsearch(args: list[str], env: dict[str, str], cwd: Path = ROOT) -> None:
    subprocess.run([sys.executable, "-m", "hubsearch", *args], env=env, cwd=cwd, check=True, capture_output=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/search", params={"q": "warm up"}, timeout=30).status_code == 200:
                return
        except httpx.TransportError:
            if server.poll() is not None:
                raise SystemExit("the server stopped; run its serve command by hand to see why")
            time.sleep(0.2)
    raise SystemExit("the server did not start")


def _latencies(url: str, count: int) -> list[float]:
    times = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for i in range(count):
            started = time.perf_counter()
            response = client.get("/search", params={"q": QUERIES[i % len(QUERIES)], "k": 5})
            times.append(time.perf_counter() - started)
            response.raise_for_status()
    return times


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _cli_through_server(index: Path, env: dict[str, str], cwd: Path = ROOT, runs: int = 7) -> list[float]:
    out = []
    for i in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "hubsearch", "query", QUERIES[i % len(QUERIES)], "--index", str(index)],
                       env=env, cwd=cwd, check=True, capture_output=True)
        out.append(time.perf_counter() - started)
    return out


def _under_load(url: str, corpus: Path, index: Path, env: dict[str, str], clients: int,
                seconds: float) -> tuple[int, int, float, bool]:
    before = (index / "CURRENT").read_text()
    counts = {"ok": 0, "failed": 0}
    lock = threading.Lock()
    stop = threading.Event()

    def client(n: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            i = n
            while not stop.is_set():
                try:
                    response = http.get("/search", params={"q": QUERIES[i % len(QUERIES)], "k": 5})
                    good = response.status_code == 200 and bool(response.json()["results"])
                except httpx.HTTPError:
                    good = False
                with lock:
                    counts["ok" if good else "failed"] += 1
                i += 1

    (corpus / "doc00042.txt").write_text("Document 42\nA rewritten document about wing flutter.", encoding="utf-8")
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    updater = subprocess.Popen([sys.executable, "-m", "hubsearch", "index", "update", "--index", str(index)], env=env, cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    updater.wait(timeout=600)
    return counts["ok"], counts["failed"], elapsed, (index / "CURRENT").read_text() != before


if __name__ == "__main__":
    main()
