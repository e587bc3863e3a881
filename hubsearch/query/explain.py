"""`--explain`: how each hit's score came about, as plain data taken from the `Trace`."""

from __future__ import annotations

from typing import Any

from ..retrieval.ranked import Fused
from .pipeline import Trace


def _round(value: float | int | None) -> float | int | None:
    return round(value, 6) if isinstance(value, float) else value


def formula(trace: Trace) -> str:
    """The fusion formula with its parameters filled in."""
    f = trace.fusion
    if f.method == "rrf":
        weights = ", ".join(f"w_{side}={w:g}" for side, w in trace.weights.items())
        return f"sum of 2*w/({f.rrf_k}+rank) with {weights}"
    return " + ".join(f"{w:g}*{f.normalise}({side})" for side, w in trace.weights.items())


def explain_hit(candidate: Fused, trace: Trace) -> dict[str, Any]:
    """The explain object of one hit: each side's rank, score and contribution, the
    fusion, which feedback ran, and the smoothing arithmetic where it ran."""
    out: dict[str, Any] = {"mode": trace.mode}
    for name, side in candidate.sides.items():
        out[name] = {"rank": side.rank, "score": _round(side.score), "contribution": _round(side.contribution)}
    if trace.mode == "hybrid":
        fused = candidate.smoothed.before if candidate.smoothed else candidate.score
        if candidate.mixed is not None:  # the sides shown are from the last pass that returned it
            m = candidate.mixed
            fused = m.second if m.second is not None else m.first
        out["fusion"] = {"method": trace.fusion.method, "formula": formula(trace), "score": round(fused, 6)}
    out["feedback"] = {"rm3": trace.rm3, "rocchio": trace.rocchio}
    if candidate.mixed is not None:
        m = candidate.mixed
        out["feedback"].update({
            "first_pass": _round(m.first), "second_pass": _round(m.second), "share": m.share,
            "formula": f"{1 - m.share:g}*first_pass + {m.share:g}*second_pass",
        })
    if candidate.smoothed is not None:
        s = candidate.smoothed
        out["smoothing"] = {
            "before": round(s.before, 6), "neighbours": round(s.neighbours, 6), "weight": s.weight,
            "score": round(candidate.score, 6),
            "formula": f"{1 - s.weight:g}*before + {s.weight:g}*mean of {trace.smoothing_neighbours} "
                       "nearest candidates' scores",
        }
    return out


def explain_hits(trace: Trace, ids: list[int], shown: list[float] | None = None) -> list[dict[str, Any]]:
    """The explain objects of the candidates with these passage ids, in the order given;
    `shown` holds the scores the hits show, to mark those raised to keep scores falling."""
    at = {int(i): n for n, i in enumerate(trace.ranking.ids.tolist())}
    by_id = {i: trace.ranking[at[i]] for i in ids}
    out = [explain_hit(by_id[i], trace) for i in ids]
    for i, explained, score in zip(ids, out, shown or []):
        if round(score, 6) > round(by_id[i].score, 6):
            explained["pinned"] = {
                "score": round(by_id[i].score, 6), "shown": round(score, 6),
                "why": "a side's best passage is kept in the top places; the score shown is raised to the "
                       "score of the hit below it, so that scores fall with rank",
            }
    return out
