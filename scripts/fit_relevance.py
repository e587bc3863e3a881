#!/usr/bin/env python
"""Fit the relevance mapping (hubsearch/query/relevance.py) and check its calibration.

For every query of the development collections (Cranfield, CISI, the seed questions), the
top 20 hybrid hits are labelled: relevant when the hit's document is judged relevant
(BEIR) or its passage holds an answer (question sets). A logistic regression maps each
hit's passage cosine, best sentence cosine and BM25 share to that label; each collection
weighs the same. The held-out seed questions, and questions about subjects the seeds do
not cover, check the fit.

Usage:
    python scripts/fit_relevance.py [--hits 20]

Prints the coefficients (to paste into COEFFICIENTS) and Markdown tables for
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from bench_speed import CRANFIELD, copy_from_shared, machine  # noqa: E402

from hubsearch import Index, evaluate_many  # noqa: E402
from hubsearch.evaluate.beir import load_beir  # noqa: E402
from hubsearch.evaluate.questions import holds, load_questions  # noqa: E402
from hubsearch.query.relevance import COEFFICIENTS, WEAK, relevance  # noqa: E402

CISI = ROOT / "bench-data" / "cisi"
DEV = [CRANFIELD, CISI, ROOT / "bench" / "seed_questions.jsonl"]
HELD_OUT = ROOT / "bench" / "seed_questions_heldout.jsonl"
# Questions the seed articles do not answer: the best hit should be called weak.
OFF_TOPIC = [
    "How long should sourdough bread proof before baking?", "What is the boiling point of ethanol?",
    "Who won the 1998 football World Cup?", "How do I replace a bicycle inner tube?",
    "What do koalas eat?", "How many moons does Jupiter have?", "Best way to grow tomatoes on a balcony",
    "What is the capital of Peru?", "How to repot an orchid", "When was the printing press invented?",
]


def labelled(index: Index, queries: list[tuple[str, object]], hits: int, judge) -> tuple[np.ndarray, np.ndarray,
                                                                                         list[int]]:
    """(features, labels, query number of each row) of each query's top hits."""
    rows, labels, owner = [], [], []
    pipeline = index.pipeline
    for n, (text, truth) in enumerate(queries):
        found = index.search(text, k=hits)
        if not found:
            continue
        vector = pipeline.encode([text])[0]
        rows.append(pipeline.relevance_features(text, vector, [h.chunk_id for h in found]))
        labels += [float(judge(h, truth)) for h in found]
        owner += [n] * len(found)
    return np.vstack(rows), np.asarray(labels), owner


def fit(x: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float = 1e-3, rounds: int = 50) -> np.ndarray:
    """Weighted logistic regression by Newton's method: (intercept, coefficients...)."""
    a = np.hstack([np.ones((len(x), 1)), x])
    beta = np.zeros(a.shape[1])
    for _ in range(rounds):
        p = 1.0 / (1.0 + np.exp(-a @ beta))
        gradient = a.T @ (w * (p - y)) + l2 * np.r_[0.0, beta[1:]]
        hessian = (a * (w * p * (1 - p))[:, None]).T @ a + l2 * np.diag(np.r_[0.0, np.ones(len(beta) - 1)])
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.abs(step).max() < 1e-9:
            break
    return beta


def calibration(p: np.ndarray, y: np.ndarray, bins: int = 10) -> tuple[float, float, list[tuple[str, int, float,
                                                                                                   float]]]:
    """Brier score, expected calibration error, and (bin, count, mean predicted, observed) rows."""
    edges = np.linspace(0, 1, bins + 1)
    rows, ece = [], 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (p >= lo) & ((p < hi) if hi < 1 else (p <= hi))
        if inside.any():
            rows.append((f"{lo:.1f}-{hi:.1f}", int(inside.sum()), float(p[inside].mean()), float(y[inside].mean())))
            ece += inside.mean() * abs(p[inside].mean() - y[inside].mean())
    return float(np.mean((p - y) ** 2)), float(ece), rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hits", type=int, default=20, help="top hits labelled per query")
    args = parser.parse_args()
    for folder in (CRANFIELD, CISI):
        copy_from_shared(folder)
    started = time.perf_counter()
    root = ROOT / "bench-data" / "relevance-indexes"
    evaluate_many([str(c) for c in DEV + [HELD_OUT]], modes=("hybrid",), index_root=root)  # builds or reuses
    sets = {}
    for collection in DEV + [HELD_OUT]:
        index = Index.open(root / collection.stem)
        if collection.suffix == ".jsonl":
            qset = load_questions(collection)
            queries = [(q.q, q.answers) for q in qset.questions]
            sets[collection.stem] = labelled(index, queries, args.hits, lambda h, answers: holds(h.text, answers))
        else:
            beir = load_beir(collection)
            doc_of = index.passage_documents()
            queries = [(beir.queries[q], beir.qrels[q]) for q in sorted(beir.qrels)]
            sets[collection.stem] = labelled(index, queries, args.hits,
                                             lambda h, judged: judged.get(doc_of[h.chunk_id], 0) > 0)
        if collection == DEV[-1]:
            off = labelled(index, [(q, None) for q in OFF_TOPIC], 1, lambda h, _: False)
        index.close()
    dev = [sets[c.stem] for c in DEV]
    x = np.vstack([d[0] for d in dev])
    y = np.concatenate([d[1] for d in dev])
    w = np.concatenate([np.full(len(d[1]), len(y) / (len(dev) * len(d[1]))) for d in dev])
    beta = fit(x, y, w)
    print(f"Relevance mapping, {time.strftime('%Y-%m-%d')}, {machine()}; top {args.hits} hybrid hits per query\n")
    print("COEFFICIENTS = (" + ", ".join(f"{b:.3f}" for b in beta) + ")  # intercept, passage cosine, "
          "best sentence cosine, BM25 share")
    print(f"(in the product now: {COEFFICIENTS})\n")
    print("| collection | role | hits | relevant share | Brier | ECE | top hit weak (< "
          f"{WEAK}) | mean relevance, relevant / not |")
    print("|---|---|---|---|---|---|---|---|")
    for name, (fx, fy, owner) in sets.items():
        p = relevance(fx, tuple(beta))
        brier, ece, _ = calibration(p, fy)
        firsts = [i for i in range(len(owner)) if i == 0 or owner[i] != owner[i - 1]]
        weak = float(np.mean(p[firsts] < WEAK))
        role = "held out" if name == HELD_OUT.stem else "fitted on"
        print(f"| {name} | {role} | {len(fy)} | {fy.mean():.3f} | {brier:.3f} | {ece:.3f} | {weak:.2f} | "
              f"{p[fy == 1].mean():.2f} / {p[fy == 0].mean():.2f} |")
    p_off = relevance(off[0], tuple(beta))
    print(f"| off-topic questions over the seeds ({len(OFF_TOPIC)}) | check | {len(p_off)} | 0 | - | - | "
          f"{float(np.mean(p_off < WEAK)):.2f} | - / {p_off.mean():.2f} |")
    print("\nWhere to call the best hit weak: the share of questions whose top hit falls below each threshold "
          "(question sets: only questions whose top hit answers; off-topic: all)\n")
    print("| threshold | " + " | ".join(c.stem for c in (DEV[-1], HELD_OUT)) + " | off-topic |")
    print("|---|---|---|---|")
    tops = {}
    for collection in (DEV[-1], HELD_OUT):
        fx, fy, owner = sets[collection.stem]
        firsts = [i for i in range(len(owner)) if i == 0 or owner[i] != owner[i - 1]]
        answered = [i for i in firsts if fy[i] == 1]
        tops[collection.stem] = relevance(fx[answered], tuple(beta))
    for threshold in (0.05, 0.1, 0.15, 0.2, 0.3):
        cells = [f"{float(np.mean(t < threshold)):.2f}" for t in tops.values()]
        print(f"| {threshold} | " + " | ".join(cells) + f" | {float(np.mean(p_off < threshold)):.2f} |")
    fx, fy, _ = sets[HELD_OUT.stem]
    _, _, rows = calibration(relevance(fx, tuple(beta)), fy)
    print(f"\nCalibration on the held-out questions ({HELD_OUT.name}): in each band of relevance, the share of "
          "hits that hold an answer\n")
    print("| relevance | hits | mean relevance | share relevant |")
    print("|---|---|---|---|")
    for band, count, predicted, observed in rows:
        print(f"| {band} | {count} | {predicted:.2f} | {observed:.2f} |")
    print(f"\n({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
