#!/usr/bin/env python
"""Retrieval ideas that were tried and dropped, scored again against the current default.

Usage: python scripts/probe_quality.py [--only TEXT] [--rounds 10000]

Each probe (scripts/probes.py) swaps one stage of the real pipeline (the BM25 side, the
vector search, the sentence ranking, the fusion, the smoothing, the feedback mix or the
document ranking) and runs the judged queries of Cranfield and CISI through it. The
default probe swaps nothing, and the script checks that it gives `hubsearch eval`'s
figures. The indexes are kept in bench-data/probe-index/ and reused.
Prints a Markdown table: per collection, nDCG@10 with its difference from the default and
the two-sided p-value of a paired randomization test over queries, then Recall@100 (same)
and MRR. Its last rows are upper bounds, not methods: per query, with the judgements
known, the best of several rankings.
The seed question sets are left out: they have 15 passages, under the 200 at which
feedback and smoothing start, and most probes change nothing there.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_quality import SHARED, paired_randomization  # noqa: E402
from bench_speed import machine  # noqa: E402
from probes import DEFAULT, PROBES, Probe, Setup  # noqa: E402

from hubsearch import evaluation  # noqa: E402
from hubsearch.index import Index  # noqa: E402

COLLECTIONS = [ROOT / "bench-data" / "cranfield", ROOT / "bench-data" / "cisi"]
KEPT = ROOT / "bench-data" / "probe-index"
METRICS = ("ndcg@10", "recall@100", "mrr")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="", help="run only the probes whose label contains this text")
    parser.add_argument("--rounds", type=int, default=10_000, help="rounds of the randomization test")
    args = parser.parse_args()
    started = time.perf_counter()
    opened = [_open(folder) for folder in COLLECTIONS]
    setups = [setup for setup, _ in opened]
    print(f"Probes against the default, {time.strftime('%Y-%m-%d')}, {machine()}\n")
    base = {s.name: score(s, Probe("default")) for s in setups}
    for setup, product in opened:
        mine = evaluation.means(base[setup.name])
        for m in METRICS:
            if abs(mine[m] - product[m]) > 1e-9:
                sys.exit(f"{setup.name}: the default probe gives {m} {mine[m]:.4f}, hubsearch eval {product[m]:.4f}")
    names = [s.name for s in setups]
    print("| probe | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    print("| **default** | " + " | ".join(_cell(base[n]) for n in names) + " |")
    for probe in PROBES:
        if args.only and args.only not in probe.label:
            continue
        cells = [_cell(score(s, probe), base[s.name], args.rounds) for s in setups]
        print(f"| {probe.label} | " + " | ".join(cells) + " |", flush=True)
    if not args.only:
        for label, probes in _bounds().items():
            cells = []
            for s in setups:
                runs = [score(s, p) for p in probes]
                best = {m: {q: max(r[m][q] for r in runs) for q in s.qids} for m in METRICS}
                cells.append(_cell(best, base[s.name], args.rounds))
            print(f"| upper bound: {label} | " + " | ".join(cells) + " |", flush=True)
    print(f"\n({time.perf_counter() - started:.0f} s)")


def _bounds() -> dict[str, list[Probe]]:
    from dataclasses import replace

    modes = [Probe(m, config=DEFAULT.with_mode(m)) for m in ("dense", "lexical")]
    fed = Probe("feedback", config=replace(DEFAULT, rm3=True, rocchio=True))
    return {
        "per query, the best of dense, BM25 and the default": [Probe("default"), *modes],
        "per query, the better of the default and --feedback": [Probe("default"), fed],
    }


def _open(folder: Path) -> tuple[Setup, dict[str, float]]:
    """The collection's kept index (built on first use) with its judged queries, and the
    default's figures from `hubsearch eval`."""
    if not folder.exists() and (SHARED / folder.name).exists():
        shutil.copytree(SHARED / folder.name, folder)
    where = KEPT / folder.name
    report = evaluation.evaluate(folder, modes=("hybrid",), path=where)
    collection = evaluation.load_beir(folder)
    qids = sorted(collection.qrels)
    texts = [collection.queries[q] for q in qids]
    index = Index.open(where)
    setup = Setup(folder.name, index, qids, texts, collection.qrels, index.pipeline.encode(texts),
                  index.passage_documents())
    return setup, report["results"]["hybrid"]


def score(setup: Setup, probe: Probe) -> dict[str, dict[str, float]]:
    """Per-query nDCG@10, Recall@100 and MRR of the probe on one collection."""
    depth = probe.config.fusion.depth
    run = {}
    with probe.swap(setup):
        for qid, text, vector in zip(setup.qids, setup.texts, setup.vectors):
            ranking = setup.pipeline.rank(text, vector, probe.config, depth).ranking
            run[qid] = probe.documents(ranking, setup.doc_of)
    return evaluation.per_query(run, setup.qrels)


def _cell(values: dict[str, dict[str, float]], base: dict[str, dict[str, float]] | None = None,
          rounds: int = 0) -> str:
    """nDCG@10 (difference, p), MRR, Recall@100 (difference, p), as bench_quality writes them."""
    mean = evaluation.means(values)
    if base is None:
        return f"{mean['ndcg@10']:.3f} (MRR {mean['mrr']:.3f}; R@100 {mean['recall@100']:.3f})"
    ref = evaluation.means(base)
    diff = {m: mean[m] - ref[m] for m in METRICS}
    p = {m: paired_randomization(base[m], values[m], rounds) for m in ("ndcg@10", "recall@100")}
    return (f"{mean['ndcg@10']:.3f} ({diff['ndcg@10']:+.3f}, p={p['ndcg@10']:.3f}; MRR {mean['mrr']:.3f}; "
            f"R@100 {mean['recall@100']:.3f} {diff['recall@100']:+.3f}, p={p['recall@100']:.3f})")

if __name__ == "__main__":
    main()
