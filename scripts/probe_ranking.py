"""Probe swaps for the ranking stages (see probes.py): fusion adjusted, smoothing
repeated, the feedback mix with the first results kept, documents scored from two
passages."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import hubsearch.pipeline as pipeline_module
from probes import Documents, Setup, Swap, swapped

from hubsearch import SearchConfig
from hubsearch.ranking import Fused


# --- fusion, smoothing, feedback --------------------------------------------------------


def after_fusion(adjust: Callable[[list[Fused]], list[Fused]]) -> Swap:
    """The product's fusion, then `adjust` on its result."""
    def swap(setup: Setup) -> contextlib.AbstractContextManager:
        original = setup.pipeline.fuse
        return swapped(setup.pipeline, "fuse", lambda sides, config: adjust(original(sides, config)))
    return swap


def _resorted(ranking: list[Fused], scores: Sequence[float]) -> list[Fused]:
    out = [replace(f, score=float(s)) for f, s in zip(ranking, scores)]
    out.sort(key=lambda f: (-f.score, f.id))
    return out


def agreement_bonus(bonus: float, depth: int) -> Callable[[list[Fused]], list[Fused]]:
    """CombMNZ-like: `bonus` z-units for each side whose top `depth` holds the passage."""
    def adjust(ranking: list[Fused]) -> list[Fused]:
        votes = [sum(1 for s in f.sides.values() if s.rank is not None and s.rank <= depth) for f in ranking]
        return _resorted(ranking, [f.score + bonus * v for f, v in zip(ranking, votes)])
    return adjust


def standout_weights(power: float) -> Callable[[list[Fused]], list[Fused]]:
    """Each side's weight, for this query, times (its best z-score / the sides' mean best
    z-score) ** power: a side whose first candidate stands out counts more."""
    def adjust(ranking: list[Fused]) -> list[Fused]:
        if not ranking:
            return ranking
        names = list(ranking[0].sides)
        best = {n: max(max(f.sides[n].contribution for f in ranking), 1e-3) for n in names}
        mean = sum(best.values()) / len(best)
        factor = {n: (best[n] / mean) ** power for n in names}
        return _resorted(ranking, [sum(f.sides[n].contribution * factor[n] for n in names) for f in ranking])
    return adjust


def smoothing_rounds(rounds: int) -> Swap:
    """Smoothing repeated, each round on the scores of the one before."""
    def swap(setup: Setup) -> contextlib.AbstractContextManager:
        original = setup.pipeline.smooth

        def smooth(ranked: list[Fused], config: SearchConfig, weight: float, fetched: Any) -> list[Fused]:
            for _ in range(rounds):
                ranked = original(ranked, config, weight, fetched)
            return ranked
        return swapped(setup.pipeline, "smooth", smooth)
    return swap


def first_kept(n: int) -> Swap:
    """Feedback mixed as usual, then the first pass's top `n` put back on top, in order."""
    return _feedback_mix(None, n)


def gated_feedback(gate: Callable[[list[Fused]], bool], n: int = 0) -> Swap:
    """Feedback mixed in only where `gate` finds the first pass reliable (the first pass
    alone elsewhere), then the first pass's top `n` put back on top, in order. The swap's
    `passed` holds, per collection, the gate's answer for each query of its last run."""
    return _feedback_mix(gate, n)


def _feedback_mix(gate: Callable[[list[Fused]], bool] | None, n: int) -> Swap:
    passed: dict[str, list[bool]] = {}

    def swap(setup: Setup) -> contextlib.AbstractContextManager:
        original = pipeline_module.mix
        answers = passed[setup.name] = []

        def mix(first: list[Fused], second: list[Fused], share: float) -> list[Fused]:
            if gate is not None:
                answers.append(gate(first))
                if not answers[-1]:
                    return first
            mixed = original(first, second, share)
            keep = [f.id for f in first[:n]]
            top_score = max(f.score for f in mixed) if mixed else 0.0
            head = {f.id: f for f in mixed if f.id in keep}
            pinned = [replace(head[i], score=top_score + n - j) for j, i in enumerate(keep) if i in head]
            return pinned + [f for f in mixed if f.id not in keep]
        return swapped(pipeline_module, "mix", mix)
    if gate is not None:
        swap.passed = passed  # type: ignore[attr-defined]
    return swap


def sides_agree(share: float, depth: int = 10) -> Callable[[list[Fused]], bool]:
    """A query-performance predictor: the dense and BM25 top `depth` share at least
    `share` of their passages."""
    def gate(first: list[Fused]) -> bool:
        tops = [{f.id for f in first if (s := f.sides.get(name)) and s.rank is not None and s.rank <= depth}
                for name in ("dense", "lexical")]
        return len(tops[0] & tops[1]) >= share * depth
    return gate


def stands_out(gap: float, depth: int = 10) -> Callable[[list[Fused]], bool]:
    """A query-performance predictor: the first pass's best score is at least `gap`
    fused units above its `depth`-th."""
    def gate(first: list[Fused]) -> bool:
        return len(first) >= depth and first[0].score - first[depth - 1].score >= gap
    return gate


def best_plus_second(share: float) -> Documents:
    """Documents scored by their best passage plus `share` times their second best."""
    def documents(ranking: list[Fused], doc_of: Sequence[str]) -> list[str]:
        found: dict[str, list[float]] = {}
        for f in ranking:
            found.setdefault(doc_of[f.id], []).append(f.score)
        score = {d: s[0] + share * sum(s[1:2]) for d, s in found.items()}
        return [d for d, _ in sorted(score.items(), key=lambda x: -x[1])][:100]
    return documents
