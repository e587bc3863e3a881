#!/usr/bin/env python
"""Retrieval ideas that were tried and dropped, scored again against the current default.

Usage: python scripts/probe_quality.py [--only TEXT] [--grid] [--rounds 10000]

Each probe (PROBES below; its swap comes from probe_sides.py or probe_ranking.py) swaps
one stage of the real pipeline (the BM25 side, the vector search, the sentence ranking,
the fusion, the smoothing, the feedback mix or the document ranking) and runs every
development collection through it: Cranfield, CISI and
the seed questions, with the held-out seed questions as a check. The default probe swaps
nothing, and the script stops unless it gives `hubsearch eval`'s figures. The indexes are
kept in bench-data/probe-index/ and reused.
Prints a Markdown table. Per collection: the main figure (nDCG@10, or top1 for a question
set) with its difference from the default and the two-sided p-value of a paired
randomization test over queries, the MRR, then Recall@100 (or the highlight, over the
questions whose top passage answers under both) with its difference and p-value. Its last
rows are upper bounds, not methods: per query, with the judgements known, the best of
several rankings.

With --grid it runs, instead of the probes, every combination of the four main ranking
settings around the default (GRID below): whether any setting of them together gains on
every collection.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_quality import Values, cell  # noqa: E402
from bench_speed import copy_from_shared, machine  # noqa: E402
import numpy as np  # noqa: E402
from probe_ranking import (  # noqa: E402
    after_fusion, agreement_bonus, best_plus_second, first_kept, gated_feedback, sides_agree, smoothing_rounds,
    stands_out, standout_weights,
)
from probe_sides import (  # noqa: E402
    bm25, counted, hubness, mean_of_best, query_sentences, rescaled, saturated, sentences, softmax_mean,
    spread, weighed_terms, with_document,
)
from probes import DEFAULT, Probe, Setup  # noqa: E402

from hubsearch import evaluation, questions  # noqa: E402
from hubsearch.index import Index  # noqa: E402
from hubsearch.settings import LexicalConfig  # noqa: E402

COLLECTIONS = [ROOT / "bench-data" / "cranfield", ROOT / "bench-data" / "cisi"]
QUESTION_SETS = [ROOT / "bench" / "seed_questions.jsonl"]
HELD_OUT = [ROOT / "bench" / "seed_questions_heldout.jsonl"]
KEPT = ROOT / "bench-data" / "probe-index"

PROBES = [
    Probe("Anserini's BM25 parameters (k1 0.9, b 0.4)", bm25(LexicalConfig(k1=0.9, b=0.4))),
    Probe("BM25L (bm25s)", bm25(LexicalConfig(method="bm25l"))),
    Probe("BM25+ (bm25s)", bm25(LexicalConfig(method="bm25+"))),
    Probe("Robertson's BM25 (bm25s)", bm25(LexicalConfig(method="robertson"))),
    Probe("DPH instead of BM25", counted("dph")),
    Probe("DLH13 instead of BM25", counted("dlh13")),
    Probe("PL2, c 1, instead of BM25", counted("pl2", 1.0)),
    Probe("PL2, c 7, instead of BM25", counted("pl2", 7.0)),
    Probe("Dirichlet query likelihood, mu 1000, instead of BM25", counted("ql", 1000.0)),
    Probe("BM25 scores logged before their z-scores", rescaled("lexical", np.log)),
    Probe("BM25 scores square-rooted before their z-scores", rescaled("lexical", np.sqrt)),
    Probe("cosines through arctanh before their z-scores", rescaled("vectors", np.arctanh)),
    Probe("BM25 with a repeated query term counted once (Okapi k3 = 0)", saturated(0.0)),
    Probe("BM25 with repeated query terms saturated (Okapi k3 = 8)", saturated(8.0)),
    Probe("BM25 query terms weighed by the meaning lost without them (power 0.5)", weighed_terms("left out", 0.5)),
    Probe("BM25 query terms weighed by the meaning lost without them (power 1)", weighed_terms("left out", 1.0)),
    Probe("BM25 query terms weighed by their own cosine to the query (power 1)", weighed_terms("alone", 1.0)),
    Probe("a document-level BM25 mixed into each passage's, 0.3", with_document(0.3)),
    Probe("a document-level BM25 mixed into each passage's, 0.5", with_document(0.5)),
    Probe("every side's scores spread over the 5 nearest passages of the index, 0.2", spread(0.2, 5)),
    Probe("the query vector as the mean of its sentences' vectors, where it has 2 or more", query_sentences(2)),
    Probe("the query vector as the mean of its sentences' vectors, where it has 4 or more", query_sentences(4)),
    Probe("hubness reduction: 0.25 x mean cosine to the 10 nearest", hubness(0.25, 10)),
    Probe("hubness reduction: 0.5 x mean cosine to the 50 nearest", hubness(0.5, 50)),
    Probe("hubness reduction: 1.0 x mean cosine to the 10 nearest", hubness(1.0, 10)),
    Probe("sentence ranking: mean of the best two sentences", sentences(mean_of_best(2))),
    Probe("sentence ranking: mean of all sentences", sentences(lambda s: float(s.mean()))),
    Probe("sentence ranking: softmax-weighted mean (temperature 10)", sentences(softmax_mean(10.0))),
    Probe("side weights by how far each side's best stands out (power 0.5)", after_fusion(standout_weights(0.5))),
    Probe("side weights by how far each side's best stands out (power 1)", after_fusion(standout_weights(1.0))),
    Probe("agreement bonus 0.25 per side, top 10", after_fusion(agreement_bonus(0.25, 10))),
    Probe("agreement bonus 0.25 per side, top 30", after_fusion(agreement_bonus(0.25, 30))),
    Probe("agreement bonus 0.5 per side, top 10", after_fusion(agreement_bonus(0.5, 10))),
    Probe("smoothing 0.2, two rounds", smoothing_rounds(2)),
    Probe("smoothing 0.2, three rounds", smoothing_rounds(3)),
    Probe("smoothing 0.1, four rounds", smoothing_rounds(4), replace(DEFAULT, smoothing=0.1)),
    Probe("documents: best passage + 0.25 x second", documents=best_plus_second(0.25)),
    Probe("documents: best passage + 0.5 x second", documents=best_plus_second(0.5)),
    Probe("feedback: RM3 alone, mixed", config=replace(DEFAULT, rm3=True)),
    Probe("feedback: Rocchio alone, mixed", config=replace(DEFAULT, rocchio=True)),
    Probe("feedback: both, mixed (--feedback)", config=replace(DEFAULT, rm3=True, rocchio=True)),
    Probe("feedback: RM3 alone, mixed, first pass's top 1 kept on top", first_kept(1), replace(DEFAULT, rm3=True)),
    Probe("feedback: both, mixed, first pass's top 1 kept on top", first_kept(1),
          replace(DEFAULT, rm3=True, rocchio=True)),
    Probe("feedback: both, mixed, first pass's top 3 kept on top", first_kept(3),
          replace(DEFAULT, rm3=True, rocchio=True)),
    Probe("feedback gated: RM3 alone, mixed, top 1 kept, only where the best stands 1.5 above the 10th",
          gated_feedback(stands_out(1.5), 1), replace(DEFAULT, rm3=True)),
    Probe("feedback gated: RM3 alone, mixed, top 1 kept, only where the best stands 2.5 above the 10th",
          gated_feedback(stands_out(2.5), 1), replace(DEFAULT, rm3=True)),
    Probe("feedback gated: RM3 alone, mixed, top 1 kept, only where dense and BM25 top 10 share 3",
          gated_feedback(sides_agree(0.3), 1), replace(DEFAULT, rm3=True)),
    Probe("feedback gated: RM3 alone, mixed, top 1 kept, only where dense and BM25 top 10 share 5",
          gated_feedback(sides_agree(0.5), 1), replace(DEFAULT, rm3=True)),
    Probe("feedback gated: both, mixed, only where the best stands 1.5 above the 10th",
          gated_feedback(stands_out(1.5)), replace(DEFAULT, rm3=True, rocchio=True)),
    Probe("feedback gated: both, mixed, only where dense and BM25 top 10 share 3",
          gated_feedback(sides_agree(0.3)), replace(DEFAULT, rm3=True, rocchio=True)),
    Probe("feedback gated: both, mixed, top 1 kept, only where the best stands 1.5 above the 10th",
          gated_feedback(stands_out(1.5), 1), replace(DEFAULT, rm3=True, rocchio=True)),
]

GRID = {"alpha": (0.45, 0.5, 0.55, 0.6), "sentences": (0.25, 0.5, 0.75), "smoothing": (0.2, 0.3),
        "smoothing_neighbours": (3, 5)}


def grid() -> list[Probe]:
    """A probe for every combination of GRID's values (alpha is the fusion's)."""
    out = []
    for alpha, share, weight, neighbours in itertools.product(*GRID.values()):
        config = replace(DEFAULT, fusion=replace(DEFAULT.fusion, alpha=alpha), sentences=share, smoothing=weight,
                         smoothing_neighbours=neighbours)
        out.append(Probe(f"alpha {alpha}, sentence share {share}, smoothing {weight} over {neighbours} neighbours",
                         config=config))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="", help="run only the probes whose label contains this text")
    parser.add_argument("--grid", action="store_true", help="run the grid of the main settings instead of the probes")
    parser.add_argument("--rounds", type=int, default=10_000, help="rounds of the randomization test")
    args = parser.parse_args()
    started = time.perf_counter()
    opened = [_open_beir(f) for f in COLLECTIONS] + [_open_questions(p) for p in QUESTION_SETS + HELD_OUT]
    setups = [setup for setup, _ in opened]
    print(f"Probes against the default, {time.strftime('%Y-%m-%d')}, {machine()}\n")
    base = {s.name: score(s, Probe("default")) for s in setups}
    for setup, product in opened:
        mine = evaluation.means(base[setup.name])
        for m, value in mine.items():
            if abs(value - product[m]) > 1e-9:
                sys.exit(f"{setup.name}: the default probe gives {m} {value:.4f}, hubsearch eval {product[m]:.4f}")
    held_out = {p.stem for p in HELD_OUT}
    names = [s.name + (" (held out: check)" if s.name in held_out else "") for s in setups]
    print("| probe | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    print("| **default** | " + " | ".join(cell(bool(s.questions), base[s.name]) for s in setups) + " |")
    notes: list[str] = []
    gains: dict[str, dict[str, float]] = {}  # probe -> collection -> gain in its main figure
    for probe in grid() if args.grid else PROBES:
        if args.only and args.only not in probe.label:
            continue
        runs = {s.name: score(s, probe) for s in setups}
        cells = [cell(bool(s.questions), runs[s.name], base[s.name], args.rounds) for s in setups]
        gains[probe.label] = {s.name: _gain(s, runs[s.name], base[s.name]) for s in setups}
        print(f"| {probe.label} | " + " | ".join(cells) + " |", flush=True)
        for name, answers in getattr(probe.swap, "passed", {}).items():
            if answers:
                notes.append(f"- {probe.label}: the gate passed {sum(answers)} of {len(answers)} {name} queries"
                             f" ({sum(answers) / len(answers):.0%})")
    if len(gains) > 1:
        _summary(gains, [s for s in setups if not s.questions], base)
    if not args.only and not args.grid:
        for label, probes in _bounds().items():
            cells = []
            for s in setups:
                runs = [score(s, p) for p in probes]
                best = {m: {q: max(r[m][q] for r in runs if q in r[m]) for q in set().union(*(r[m] for r in runs))}
                        for m in runs[0]}
                cells.append(cell(bool(s.questions), best, base[s.name], args.rounds))
            print(f"| upper bound: {label} | " + " | ".join(cells) + " |", flush=True)
    if notes:
        print("\nWhere feedback ran:\n" + "\n".join(notes))
    print(f"\n({time.perf_counter() - started:.0f} s)")


def _bounds() -> dict[str, list[Probe]]:
    modes = [Probe(m, config=DEFAULT.with_mode(m)) for m in ("dense", "lexical")]
    fed = Probe("feedback", config=replace(DEFAULT, rm3=True, rocchio=True))
    return {
        "per query, the best of dense, BM25 and the default": [Probe("default"), *modes],
        "per query, the better of the default and --feedback": [Probe("default"), fed],
    }


def _open_beir(folder: Path) -> tuple[Setup, dict[str, float]]:
    """The collection's kept index (built on first use) with its judged queries, and the
    default's figures from `hubsearch eval`."""
    copy_from_shared(folder)
    where = KEPT / folder.name
    report = evaluation.evaluate(folder, modes=("hybrid",), path=where)
    collection = evaluation.load_beir(folder)
    qids = sorted(collection.qrels)
    texts = [collection.queries[q] for q in qids]
    index = Index.open(where)
    setup = Setup(folder.name, index, qids, texts, collection.qrels, index.pipeline.encode(texts),
                  index.passage_documents())
    return setup, {m: v for m, v in report["results"]["hybrid"].items() if m != "passages"}


def _open_questions(path: Path) -> tuple[Setup, dict[str, float]]:
    """The question set's kept index with its questions, and `hubsearch eval`'s figures."""
    where = KEPT / path.stem
    report = questions.evaluate_questions(path, modes=("hybrid",), index_path=where)
    asked = questions.load_questions(path).questions
    index = Index.open(where)
    setup = Setup(path.stem, index, [str(n) for n in range(len(asked))], [q.q for q in asked],
                  doc_of=index.passage_documents(), questions=asked)
    return setup, report["results"]["hybrid"]


def score(setup: Setup, probe: Probe) -> Values:
    """Per-query figures of the probe on one collection: nDCG@10, Recall@100 and MRR of
    the documents, or top1, top3, MRR@10 and the highlight of a question set's passages."""
    with probe.swap(setup):
        if setup.questions:
            return questions.score_questions(setup.index, setup.questions, probe.config)
        run = {}
        for qid, text, vector in zip(setup.qids, setup.texts, setup.vectors):
            ranking = setup.pipeline.rank(text, vector, probe.config, probe.config.fusion.depth).ranking
            run[qid] = probe.documents(ranking, setup.doc_of)
    return evaluation.per_query(run, setup.qrels)


def _summary(gains: dict[str, dict[str, float]], beir: list[Setup], base: dict[str, Values]) -> None:
    """Each BEIR collection's best probe, and the probe whose smaller BEIR gain is largest."""
    print()
    for s in beir:
        label = max(gains, key=lambda g: gains[g][s.name])
        best = evaluation.means(base[s.name])["ndcg@10"] + gains[label][s.name]
        print(f"- {s.name}: at best {best:.3f} nDCG@10 ({gains[label][s.name]:+.3f}), with {label}")
    label = max(gains, key=lambda g: min(gains[g][s.name] for s in beir))
    print(f"- the largest gain on every BEIR collection at once: "
          f"{min(gains[label][s.name] for s in beir):+.3f}, with {label}")


def _gain(setup: Setup, values: Values, base: Values) -> float:
    """The probe's mean gain in the collection's main figure (nDCG@10, or top1)."""
    main = "top1" if setup.questions else "ndcg@10"
    return evaluation.means(values)[main] - evaluation.means(base)[main]


if __name__ == "__main__":
    main()
