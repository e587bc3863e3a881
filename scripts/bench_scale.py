#!/usr/bin/env python
"""Scale-out benchmark: `--engine ray` against local embedding, and Qdrant (local mode)
against FAISS.

Usage: python scripts/bench_scale.py [--docs 2000] [--passages 100000]

- Ray: embeds the passages of --docs synthetic documents with the local embedder and on a
  local Ray (2 CPUs), in one run: Ray's start-up, its throughput, and the ratio. On 2 cores
  Ray is expected to be slower; the point of it is a cluster.
- Qdrant: --passages synthetic 384-d unit vectors (a topic mixture, as in bench_speed.py),
  500 queries, k = 10: build time, p50 and p99 latency, recall@10 against exact search, for
  FAISS flat, FAISS HNSW and Qdrant's local mode (qdrant-client, no server).
Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_speed import (  # noqa: E402
    CRANFIELD,
    _synthetic_corpus,
    copy_from_shared,
    machine,
    synthetic,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--passages", type=int, default=100_000)
    args = parser.parse_args()
    copy_from_shared(CRANFIELD)
    print(f"hubsearch scale-out benchmark, {time.strftime('%Y-%m-%d')}, {machine()}\n")
    ray_table(args.docs)
    qdrant_table(args.passages)


def ray_table(docs: int) -> None:
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    from hubsearch.embed.models import resolve_model
    from hubsearch.embed.ray import RayEmbedder, shutdown
    from hubsearch.embed.transformer import SentenceTransformerEmbedder

    with tempfile.TemporaryDirectory() as tmp:
        _synthetic_corpus(Path(tmp) / "c", docs)
        texts = [p.read_text(encoding="utf-8") for p in sorted((Path(tmp) / "c").iterdir())]
    ref = resolve_model()
    local = SentenceTransformerEmbedder(ref, precision="fp32")
    local.embed(texts[:16])  # warm-up
    started = time.perf_counter()
    expected = local.embed(texts)
    local_s = time.perf_counter() - started
    ray = RayEmbedder(ref, "fp32")
    started = time.perf_counter()
    ray.embed(texts[:2])  # Ray start-up, actors loading the model
    startup = time.perf_counter() - started
    started = time.perf_counter()
    got = ray.embed(texts)
    ray_s = time.perf_counter() - started
    shutdown()
    print(f"### `--engine ray` against local embedding ({docs:,} documents, fp32, local Ray on 2 CPUs)\n")
    print("| engine | start-up | embedding time | documents/s | vs local | max abs difference |")
    print("|---|---|---|---|---|---|")
    print(f"| local (in-process) | - | {local_s:.1f} s | {docs / local_s:.1f} | 1.00x | - |")
    print(f"| ray (2 actors) | {startup:.1f} s | {ray_s:.1f} s | {docs / ray_s:.1f} | {local_s / ray_s:.2f}x | "
          f"{float(np.abs(got - expected).max()):.1e} |\n")


def qdrant_table(n: int) -> None:
    from qdrant_client import QdrantClient, models

    from hubsearch.retrieval.vectors import VectorIndex

    x, q = synthetic(n)
    exact = np.argsort(-(q @ x.T), axis=1)[:, :10]
    rows = []
    for kind in ("flat", "hnsw"):
        started = time.perf_counter()
        index = VectorIndex.build(x, kind)
        build = time.perf_counter() - started
        rows.append((f"FAISS {kind}", build, *_timed(lambda v: index.search(v, 10).ids, q, exact)))
    with tempfile.TemporaryDirectory() as tmp:
        client = QdrantClient(path=tmp)
        started = time.perf_counter()
        client.create_collection("bench", vectors_config=models.VectorParams(size=x.shape[1],
                                                                              distance=models.Distance.DOT))
        for lo in range(0, n, 1000):
            client.upsert("bench", points=models.Batch(ids=list(range(lo, min(n, lo + 1000))),
                                                        vectors=x[lo:lo + 1000].tolist()), wait=True)
        build = time.perf_counter() - started

        def search(v: np.ndarray) -> list[int]:
            return [p.id for p in client.query_points("bench", query=v.tolist(), limit=10).points]

        rows.append(("Qdrant local mode (qdrant-client)", build, *_timed(search, q, exact)))
        client.close()
    print(f"### Qdrant local mode against FAISS ({n:,} synthetic 384-d passages, {len(q)} queries, k = 10)\n")
    print("| backend | build | p50 | p99 | recall@10 vs exact |")
    print("|---|---|---|---|---|")
    for label, build, p50, p99, recall in rows:
        print(f"| {label} | {build:.1f} s | {1000 * p50:.2f} ms | {1000 * p99:.2f} ms | {recall:.3f} |")
    print()


def _timed(search, queries: np.ndarray, exact: np.ndarray) -> tuple[float, float, float]:
    times, hits = [], []
    for v, truth in zip(queries, exact):
        started = time.perf_counter()
        ids = list(search(v))
        times.append(time.perf_counter() - started)
        hits.append(len(set(ids) & set(truth.tolist())) / 10)
    ordered = sorted(times)
    return statistics.median(times), ordered[int(0.99 * (len(ordered) - 1))], float(np.mean(hits))


if __name__ == "__main__":
    main()
