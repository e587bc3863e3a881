#!/usr/bin/env python
"""Retrieval quality on Cranfield: `hubsearch eval` per mode, beside the reference figures.

Usage: python scripts/bench_quality.py [BEIR_DIR] [--sensitivity]   (default BEIR_DIR:
bench-data/cranfield, copied from ../shared/bench/cranfield if missing). Prints Markdown
tables. --sensitivity adds hybrid figures for settings next to each default.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "bench-data" / "cranfield"
SHARED = ROOT.parent / "shared" / "bench" / "cranfield"

REFERENCE = [
    ("reference: BM25 (bm25s, stemmer + stopwords)", 0.373, 0.738, 0.537),
    ("reference: all-MiniLM-L6-v2 exact cosine", 0.382, 0.772, 0.543),
    ("reference: RRF (k=60) of the two", 0.422, 0.784, 0.584),
]



def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--sensitivity"]
    folder = Path(args[0]) if args else DEFAULT
    if not folder.exists() and folder == DEFAULT and SHARED.exists():
        shutil.copytree(SHARED, folder)
    with tempfile.TemporaryDirectory() as tmp:
        index = Path(tmp) / "index"
        started = time.perf_counter()
        default = _eval(folder, index, [])
        feedback = _eval(folder, index, ["--feedback", "--smoothing", "0"])
        full = _eval(folder, index, ["--feedback", "--smoothing", "0.2"], modes=["dense", "lexical"])
        plain = _eval(folder, index, ["--no-feedback", "--smoothing", "0"], modes=["hybrid"])
        rrf = _eval(folder, index, ["--no-feedback", "--smoothing", "0", "--fusion", "rrf"], modes=["hybrid"])
        seconds = time.perf_counter() - started
        latency = _latency(folder, index)
        sensitivity = _sensitivity(folder, index) if "--sensitivity" in sys.argv else None
    rows = list(REFERENCE)
    rows += [
        ("hubsearch hybrid (default: fusion, feedback, smoothing)", *_m(default, "hybrid")),
        ("hubsearch dense (default: exact cosine, single pass)", *_m(default, "dense")),
        ("hubsearch lexical (default: BM25, single pass)", *_m(default, "lexical")),
        ("hubsearch hybrid, feedback, no smoothing", *_m(feedback, "hybrid")),
        ("hubsearch hybrid, single pass (no feedback, no smoothing)", *_m(plain, "hybrid")),
        ("hubsearch hybrid, plain RRF k=60, single pass", *_m(rrf, "hybrid")),
    ]
    rows += [(f"hubsearch {m}, --feedback, no smoothing", *_m(feedback, m)) for m in ("dense", "lexical")]
    rows += [(f"hubsearch {m}, --feedback --smoothing 0.2", *_m(full, m)) for m in ("dense", "lexical")]
    print(f"Cranfield ({default['documents']} documents, {default['passages']} passages, "
          f"{default['queries']} judged queries); {time.strftime('%Y-%m-%d')}, "
          f"{platform.processor() or platform.machine()}, {_cores()} cores; {seconds:.0f}s\n")
    print("| system | nDCG@10 | Recall@100 | MRR | passage nDCG@10 |")
    print("|---|---|---|---|---|")
    for label, ndcg, recall, mrr, *passage in rows:
        print(f"| {label} | {ndcg:.3f} | {recall:.3f} | {mrr:.3f} | {f'{passage[0]:.3f}' if passage else '-'} |")
    print("\nHybrid `Index.search(query, k=10)` per Cranfield query, in one process (the three "
          "settings interleaved, query embedding and highlight included):\n")
    print("| setting | median | p90 |")
    print("|---|---|---|")
    for label, times in latency.items():
        t = sorted(times)
        print(f"| {label} | {1000 * t[len(t) // 2]:.1f} ms | {1000 * t[int(len(t) * 0.9)]:.1f} ms |")
    if sensitivity:
        print("\nHybrid mode with one setting moved from its default:\n")
        print("| setting | nDCG@10 | Recall@100 | MRR | passage nDCG@10 |")
        print("|---|---|---|---|---|")
        for label, m in sensitivity.items():
            print(f"| {label} | {m['ndcg@10']:.3f} | {m['recall@100']:.3f} | {m['mrr']:.3f} "
                  f"| {m['passages']['ndcg@10']:.3f} |")


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0


def _m(report: dict, mode: str) -> tuple[float, float, float, float]:
    m = report["results"][mode]
    return m["ndcg@10"], m["recall@100"], m["mrr"], m["passages"]["ndcg@10"]


def _latency(folder: Path, index: Path) -> dict[str, list[float]]:
    """Per-query wall time of each retrieval stage's setting, measured interleaved."""
    sys.path.insert(0, str(ROOT))
    from hubsearch import Index
    from hubsearch.api import SearchConfig
    from hubsearch.evaluation import load_beir

    settings = {
        "single pass": SearchConfig(rm3=False, rocchio=False, smoothing=0.0),
        "feedback": SearchConfig(smoothing=0.0),
        "feedback + smoothing (default)": SearchConfig(),
    }
    queries = list(load_beir(folder).queries.values())
    times: dict[str, list[float]] = {label: [] for label in settings}
    with Index.open(index) as idx:
        idx.search(queries[0], k=10)  # load the model and the vectors once
        for query in queries:
            for label, config in settings.items():
                started = time.perf_counter()
                idx.search(query, k=10, config=config)
                times[label].append(time.perf_counter() - started)
    return times


def _sensitivity(folder: Path, index: Path) -> dict[str, dict[str, float]]:
    from hubsearch.api import SearchConfig, evaluate
    from hubsearch.fusion import FusionConfig

    settings = {
        "default (feedback 3, smoothing 0.2 over 5 neighbours, alpha 0.5)": SearchConfig(),
        "smoothing 0.1": SearchConfig(smoothing=0.1),
        "smoothing 0.3": SearchConfig(smoothing=0.3),
        "3 neighbours": SearchConfig(smoothing_neighbours=3),
        "10 neighbours": SearchConfig(smoothing_neighbours=10),
        "feedback from 2 passages": SearchConfig(feedback_docs=2),
        "feedback from 4 passages": SearchConfig(feedback_docs=4),
        "feedback from 5 passages": SearchConfig(feedback_docs=5),
        "alpha 0.4": SearchConfig(fusion=FusionConfig(alpha=0.4)),
        "alpha 0.6": SearchConfig(fusion=FusionConfig(alpha=0.6)),
        "RRF fusion": SearchConfig(fusion=FusionConfig(method="rrf")),
    }
    return {
        label: evaluate(folder, path=index, modes=("hybrid",), config=config)["results"]["hybrid"]
        for label, config in settings.items()
    }


def _eval(folder: Path, index: Path, flags: list[str], modes: list[str] | None = None) -> dict:
    cmd = [sys.executable, "-m", "hubsearch", "eval", str(folder), "--index", str(index), "--json", *flags]
    for mode in modes or []:
        cmd += ["--mode", mode]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


if __name__ == "__main__":
    main()
