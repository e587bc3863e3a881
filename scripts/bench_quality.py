#!/usr/bin/env python
"""Retrieval quality on every development collection at once, with paired tests.

Usage: python scripts/bench_quality.py [--sensitivity] [--variants] [--passages] [--rounds 10000]

Collections: Cranfield and CISI (BEIR layout, copied from ../shared/bench into
bench-data/ when missing) and the seed question set (bench/seed_questions.jsonl), on
which defaults are chosen; and the held-out seed questions
(bench/seed_questions_heldout.jsonl), shown in the last column of every table as a check
that is never used to choose a setting.
Prints Markdown tables: every mode at its defaults beside the reference figures; with
--variants, each candidate setting against the default per collection, with a paired
randomization test over queries; with --sensitivity, one setting moved at a time; with
--passages, the collections indexed again with other passage settings (shorter passages,
no title prefix), searched with the default settings.
The main figure is nDCG@10 for BEIR collections and top1 for question sets; question sets
also show the highlight.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_speed import copy_from_shared, machine  # noqa: E402

from hubsearch import (  # noqa: E402
    ChunkingConfig,
    FeedbackConfig,
    FusionConfig,
    SearchConfig,
    evaluate_many,
)
from hubsearch.evaluate.report import CollectionReport, EvalReport, means  # noqa: E402

COLLECTIONS = [ROOT / "bench-data" / "cranfield", ROOT / "bench-data" / "cisi", ROOT / "bench" / "seed_questions.jsonl"]
HELD_OUT = [ROOT / "bench" / "seed_questions_heldout.jsonl"]
HELD_OUT_NAMES = {p.stem for p in HELD_OUT}
REFERENCE = {  # from ../shared/bench/README.md: nDCG@10, Recall@100, MRR
    "cranfield": {"BM25": (0.373, 0.738, 0.537), "MiniLM exact cosine": (0.382, 0.772, 0.543),
                  "RRF k=60": (0.422, 0.784, 0.584)},
    "cisi": {"BM25": (0.386, 0.440, 0.641), "MiniLM exact cosine": (0.419, 0.472, 0.602),
             "RRF k=60": (0.442, 0.508, 0.680)},
}
DEFAULT = SearchConfig()
VARIANTS = {
    "without the sentence ranking": replace(DEFAULT, sentences=0.0),
    "with feedback (RM3 + Rocchio), mixed with the first pass": replace(DEFAULT, rm3=True, rocchio=True),
    "with feedback replacing the first pass": replace(DEFAULT, rm3=True, rocchio=True,
                                                      feedback=FeedbackConfig(mix=1.0)),
    "default of two rounds ago: feedback, no sentence ranking, min-max": replace(
        DEFAULT, rm3=True, rocchio=True, sentences=0.0, feedback=FeedbackConfig(mix=1.0),
        fusion=FusionConfig(normalise="minmax")),
    "without smoothing": replace(DEFAULT, smoothing=0.0),
    "previous default: min-max instead of z-scores": replace(DEFAULT, fusion=FusionConfig(normalise="minmax")),
    "plain RRF k=60, single pass": replace(DEFAULT, smoothing=0.0, sentences=0.0, fusion=FusionConfig(method="rrf")),
    "min-max, 100 candidates a side (what queries ran two rounds ago)": replace(
        DEFAULT, fusion=FusionConfig(normalise="minmax", depth=100), smoothing_candidates=100),
    "smoothing over the top 100 candidates (previous default)": replace(DEFAULT, smoothing_candidates=100),
    "previous highlight: the query's words weighed by their IDF over the index": replace(
        DEFAULT, highlight_terms="idf"),
}
SENSITIVITY = {
    "sentence share 0.25": replace(DEFAULT, sentences=0.25),
    "sentence share 0.75": replace(DEFAULT, sentences=0.75),
    "smoothing 0.1": replace(DEFAULT, smoothing=0.1),
    "smoothing 0.3": replace(DEFAULT, smoothing=0.3),
    "3 neighbours": replace(DEFAULT, smoothing_neighbours=3),
    "10 neighbours": replace(DEFAULT, smoothing_neighbours=10),
    "alpha 0.4": replace(DEFAULT, fusion=FusionConfig(alpha=0.4)),
    "alpha 0.6": replace(DEFAULT, fusion=FusionConfig(alpha=0.6)),
    "RRF fusion": replace(DEFAULT, fusion=FusionConfig(method="rrf")),
    "100 candidates per side": replace(DEFAULT, fusion=FusionConfig(depth=100)),
    "200 candidates per side": replace(DEFAULT, fusion=FusionConfig(depth=200)),
    "800 candidates per side": replace(DEFAULT, fusion=FusionConfig(depth=800)),
    "feedback mixed 0.3": replace(DEFAULT, rm3=True, rocchio=True, feedback=FeedbackConfig(mix=0.3)),
    "feedback mixed 0.7": replace(DEFAULT, rm3=True, rocchio=True, feedback=FeedbackConfig(mix=0.7)),
    "feedback from 5 passages": replace(DEFAULT, rm3=True, rocchio=True, feedback=FeedbackConfig(passages=5)),
}
PASSAGES = {  # the default: at most 256 tokens (the model's window), overlap 32, title prefix
    "passages of at most 192 tokens, overlap 24": ChunkingConfig(max_tokens=192, overlap_tokens=24),
    "passages of at most 128 tokens, overlap 16": ChunkingConfig(max_tokens=128, overlap_tokens=16),
    "passages embedded without their document's title": ChunkingConfig(title_prefix=False),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", action="store_true", help="candidate settings against the default")
    parser.add_argument("--sensitivity", action="store_true", help="one setting moved at a time")
    parser.add_argument("--passages", action="store_true", help="other passage lengths and no title prefix "
                        "(indexes every collection again for each)")
    parser.add_argument("--rounds", type=int, default=10_000, help="rounds of the randomization test")
    args = parser.parse_args()
    for folder in COLLECTIONS[:2]:
        copy_from_shared(folder)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        run = _runner(Path(tmp))
        default = run(DEFAULT, ("hybrid", "dense", "lexical"))
        print(f"Retrieval quality, {time.strftime('%Y-%m-%d')}, {machine()}\n")
        _defaults_table(default.collections)
        if args.variants:
            _compare("Candidate settings against the default (hybrid)", default,
                     {label: partial(run, config) for label, config in VARIANTS.items()}, args.rounds)
        if args.sensitivity:
            _compare("One setting moved from the default (hybrid)", default,
                     {label: partial(run, config) for label, config in SENSITIVITY.items()}, args.rounds)
        if args.passages:
            _compare("Passage settings against the default (hybrid, default search settings)", default,
                     {label: partial(run, DEFAULT, chunking=c) for label, c in PASSAGES.items()}, args.rounds)
    print(f"\n({time.perf_counter() - started:.0f} s)")


def _runner(tmp: Path):
    def run(config: SearchConfig, modes: tuple[str, ...] = ("hybrid",), chunking: ChunkingConfig | None = None) -> EvalReport:
        # Each passage setting keeps its own indexes, so that the default's are built once.
        root = tmp if chunking is None else tmp / "passages-{max_tokens}-{overlap_tokens}-{title_prefix}".format(
            **chunking.to_dict())
        return evaluate_many([str(c) for c in COLLECTIONS + HELD_OUT], modes=modes, index_root=root, config=config,
                             chunking=chunking)

    return run


def _name(report: CollectionReport) -> str:
    return Path(report.collection).stem


def _defaults_table(reports: tuple[CollectionReport, ...]) -> None:
    print("Every mode at its defaults (BEIR: documents ranked by their best passage; question set: "
          "share of questions answered by the top passage, the top 3, and the highlighted sentence; "
          f"{', '.join(p.stem for p in HELD_OUT)}: held out, never used to choose a setting):\n")
    print("| collection | system | nDCG@10 / top1 | Recall@100 / top3 | MRR | highlight |")
    print("|---|---|---|---|---|---|")
    for report in reports:
        name = _name(report)
        for label, (ndcg, recall, mrr) in REFERENCE.get(name, {}).items():
            print(f"| {name} | reference: {label} | {ndcg:.3f} | {recall:.3f} | {mrr:.3f} | - |")
        for mode, result in report.results.items():
            m = result.metrics
            if report.kind == "beir":
                print(f"| {name} | hubsearch {mode} | {m['ndcg@10']:.3f} | {m['recall@100']:.3f} | {m['mrr']:.3f} | - |")
            else:
                print(f"| {name} | hubsearch {mode} | {m['top1']:.3f} | {m['top3']:.3f} | {m['mrr@10']:.3f} "
                      f"| {m['highlight']:.3f} |")
        print(f"| {name} | ({report.documents} documents, {report.passages} passages, "
              f"{report.queries} queries) | | | | |")


def _compare(title: str, default: EvalReport, variants: dict[str, Callable[[], EvalReport]], rounds: int) -> None:
    """One row per variant (label: a function that scores it), each cell against the default."""
    names = [_name(r) + (" (held out: check)" if _name(r) in HELD_OUT_NAMES else "") for r in default.collections]
    print(f"\n{title}. Each cell: the main figure (nDCG@10, or top1 for the question set), its "
          f"difference from the default, and the two-sided p-value of a paired randomization test "
          f"over queries ({rounds:,} rounds), then the MRR, and the Recall@100 (BEIR) or the highlight "
          f"(question sets, over the questions both top passages answer) with its difference and p-value.\n")
    print("| setting | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    base = {_name(r): r.results["hybrid"].per_query for r in default.collections}
    row = [cell(r.kind == "questions", base[_name(r)]) for r in default.collections]
    print("| **default** | " + " | ".join(row) + " |")
    for label, score in variants.items():
        cells = [cell(r.kind == "questions", r.results["hybrid"].per_query, base[_name(r)], rounds)
                 for r in score().collections]
        print(f"| {label} | " + " | ".join(cells) + " |")


Values = dict[str, dict[str, float]]  # metric -> query -> value


def cell(questions: bool, values: Values, base: Values | None = None, rounds: int = 0) -> str:
    """One collection's cell of a comparison table, from per-query figures: the main figure
    (nDCG@10, or top1 for a question set), the MRR, then the Recall@100 (or the highlight,
    over the questions whose top passage answers); with `base`, the main and the last
    figure each with its difference from it and the p-value of a paired randomization test."""
    main, second, mrr = ("top1", "highlight", "mrr@10") if questions else ("ndcg@10", "recall@100", "mrr")
    label = "highlight" if questions else "R@100"
    mean = means(values)
    if base is None:
        return f"{mean[main]:.3f} (MRR {mean[mrr]:.3f}; {label} {mean[second]:.3f})"
    tests = {m: paired_difference(base[m], values[m], rounds) for m in (main, second)}
    return (f"{mean[main]:.3f} ({tests[main][0]:+.3f}, p={tests[main][1]:.3f}; MRR {mean[mrr]:.3f}; "
            f"{label} {mean[second]:.3f} {tests[second][0]:+.3f}, p={tests[second][1]:.3f})")


def paired_difference(a: dict[str, float], b: dict[str, float], rounds: int) -> tuple[float, float]:
    """The mean per-query difference b - a over the queries both score, and its p-value."""
    both = [q for q in a if q in b]
    a, b = ({q: x[q] for q in both} for x in (a, b))
    return (sum(b[q] - a[q] for q in a) / len(a) if a else 0.0), paired_randomization(a, b, rounds)


def paired_randomization(a: dict[str, float], b: dict[str, float], rounds: int, seed: int = 1) -> float:
    """Two-sided p-value that per-query scores `a` and `b` come from one system: the share
    of random sign flips of the paired differences whose mean is at least as far from 0."""
    diffs = [b[q] - a[q] for q in a]
    observed = abs(sum(diffs))
    if observed == 0:
        return 1.0
    rng = random.Random(seed)
    hits = sum(abs(sum(d if rng.random() < 0.5 else -d for d in diffs)) >= observed - 1e-12 for _ in range(rounds))
    return (hits + 1) / (rounds + 1)


if __name__ == "__main__":
    main()
