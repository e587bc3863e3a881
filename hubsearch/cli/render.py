"""Everything the CLI draws on stdout: hits, explanations, index info, eval tables."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..records import Skipped, skip_summary
from ..request import SearchResponse

if TYPE_CHECKING:
    from ..evaluate.report import EvalReport
    from ..settings import ChunkingConfig

_MARK_ON, _MARK_OFF = "\ue000", "\ue001"
_MARKS = re.compile(f"([{_MARK_ON}{_MARK_OFF}])")


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


FORMATS = ("text", "json", "jsonl", "csv", "md", "files")
_CSV_FIELDS = ("rank", "score", "doc_id", "source", "chunk_id", "start", "end", "title", "date", "text")


def hits_as(fmt: str, response: SearchResponse, roots: dict[str, str], full: bool = False) -> str:
    """Hits in a machine format: json (the response object every front door returns),
    jsonl, csv, md (the highlighted sentence; with `full`, the whole passage with that
    sentence in bold), or files (each matching file's path once, best first)."""
    query, hits = response.query, response.hits
    if fmt == "json":
        return json.dumps(response.to_dict(), ensure_ascii=False)
    if fmt == "jsonl":
        return "\n".join(json.dumps(h.to_dict(), ensure_ascii=False) for h in hits)
    if fmt == "csv":
        import csv
        import io

        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(_CSV_FIELDS)
        for h in hits:
            writer.writerow([getattr(h, name) for name in _CSV_FIELDS])
        return buffer.getvalue().rstrip("\n")
    if fmt == "md":
        lines = [f"## {query}", ""]
        for h in hits:
            meta = " · ".join(x for x in (h.date, h.title) if x)
            lines.append(f"{h.rank}. **{h.doc_id}** ({h.score:.3f}){' — ' + meta if meta else ''}")
            a, b = (h.highlight[0] - h.start, h.highlight[1] - h.start) if h.highlight else (0, len(h.text))
            quoted = _flat(h.text[a:b]).strip()
            if full:
                quoted = f"{_flat(h.text[:a]).lstrip()}**{quoted}**{_flat(h.text[b:]).rstrip()}" if b > a else \
                    _flat(h.text).strip()
            lines += [f"   > {quoted}", ""]
        return "\n".join(lines).rstrip()
    seen = dict.fromkeys(str(Path(roots.get(h.doc_id, "")) / h.source) for h in hits)
    return "\n".join(seen)


CONTEXT_CHARS = 160  # of passage text kept on each side of the highlighted sentence


def _around(before: str, after: str) -> tuple[str, str]:
    """The end of `before` and the start of `after`, each cut at a word to about
    `CONTEXT_CHARS`, with an ellipsis where text was left out."""
    if len(before) > CONTEXT_CHARS:
        cut = before.find(" ", len(before) - CONTEXT_CHARS)
        before = "…" + before[cut + 1 :] if cut >= 0 else "…" + before[-CONTEXT_CHARS:]
    if len(after) > CONTEXT_CHARS:
        cut = after.rfind(" ", 0, CONTEXT_CHARS)
        after = after[: cut if cut > 0 else CONTEXT_CHARS] + "…"
    return before, after


def hit_text(hit: Any, width: int, color: bool, full: bool = False) -> str:
    """One hit: a head line (rank, score, document, date and title), then the passage
    wrapped and indented, its highlighted sentence in bold yellow (or **...** without
    colour). Unless `full`, the passage is trimmed to the highlighted sentence and about
    two lines of context on each side, as search engines show a snippet."""
    meta = " · ".join(x for x in (hit.date, hit.title) if x)
    relevance = f"  relevance {hit.relevance:.2f}" if hit.relevance is not None else ""
    head = f"{hit.rank:>2}. {hit.score:.3f}{relevance}  {hit.doc_id}"
    if meta:
        head += f"  ({textwrap.shorten(meta, max(20, width - len(head) - 4), placeholder='…')})"
    if hit.highlight:
        a, b = hit.highlight[0] - hit.start, hit.highlight[1] - hit.start
        before, after = _flat(hit.text[:a]), _flat(hit.text[b:])
        if not full:
            before, after = _around(before, after)
        body = before + _MARK_ON + _flat(hit.text[a:b]).strip() + _MARK_OFF + after
    else:
        body = _flat(hit.text)
    wrapped = textwrap.fill(body.strip(), width=width, initial_indent="    ", subsequent_indent="    ")
    if color:
        head = click.style(head, bold=True)
        # Style each wrapped line on its own, so the highlight survives line breaks.
        lines, inside = [], False
        for line in wrapped.split("\n"):
            out = ""
            for piece in _MARKS.split(line):
                if piece in (_MARK_ON, _MARK_OFF):
                    inside = piece == _MARK_ON
                elif piece:
                    out += click.style(piece, fg="yellow", bold=True) if inside else piece
            lines.append(out)
        wrapped = "\n".join(lines)
    else:
        wrapped = wrapped.replace(_MARK_ON, "**").replace(_MARK_OFF, "**")
    if hit.explain:
        wrapped += "\n    " + explain_text(hit.explain)
    return f"{head}\n{wrapped}\n"


def explain_text(explain: dict[str, Any]) -> str:
    """The explain object of a hit as one line."""
    parts = []
    for side in ("dense", "sentences", "lexical"):
        if side in explain:
            e = explain[side]
            where = f"#{e['rank']} ({e['score']:.4f})" if e["rank"] is not None else "not in top candidates"
            parts.append(f"{side} {where}")
    if "fusion" in explain:
        f = explain["fusion"]
        parts.append(f"fused by {f['method']}: {f['formula']} = {f['score']:.4f}")
    fb = explain.get("feedback", {})
    feedback = [k for k in ("rm3", "rocchio") if fb.get(k)]
    if feedback:
        mixed = ""
        if "formula" in fb:
            passes = [f"{fb[k]:.4f}" if fb[k] is not None else "absent" for k in ("first_pass", "second_pass")]
            mixed = f", mixed: {fb['formula']} ({', '.join(passes)})"
        parts.append("second pass with " + " + ".join(feedback) + mixed)
    if "smoothing" in explain:
        sm = explain["smoothing"]
        parts.append(f"smoothed: {sm['formula']} ({sm['before']:.4f}, {sm['neighbours']:.4f}) = {sm['score']:.4f}")
    if "pinned" in explain:
        p = explain["pinned"]
        parts.append(f"pinned: a side's best passage, kept near the top; its score {p['score']:.4f} is shown as "
                     f"{p['shown']:.4f}, the score below it")
    return "explain: " + "; ".join(parts)


def info_text(info: dict[str, Any]) -> str:
    """`index info` as aligned key: value lines."""
    corpus, model, chunking = info["corpus"], info["model"], info["chunking"]
    lines = [
        ("index", f"{info['index']} ({info['generation']})"),
        ("corpus", ", ".join(corpus["roots"])),
        ("documents", corpus["documents"]),
        ("passages", corpus["passages"]),
        ("model", f"{model['name']} ({model['path']})"),
        ("dimension", model["dimension"]),
        ("precision", model.get("precision", "fp32")),
        ("model sha256", model["sha256"][:16]),
        ("chunking", ", ".join(f"{k}={v}" for k, v in chunking.items())),
        ("vector index", f"{info['vector_index']['type']} ({info['vector_index']['metric']})"),
        ("built", f"{info['built']['at']} in {info['built']['seconds']}s"
                  + (f"; vectors from {' and '.join(info['built']['embedders'])}"
                     if len(info["built"].get("embedders", [])) > 1 else "")),
        ("versions", ", ".join(f"{k} {v}" for k, v in info["versions"].items())),
    ]
    if info["skipped"]:
        found = [Skipped(**s) for s in info["skipped"]]
        lines.append(("skipped", f"{skip_summary(found)} (--json lists each file and why)"))
    if info.get("unfinished"):
        lines.append(("unfinished", f"{len(info['unfinished'])} folders left by interrupted writes "
                                    f"({', '.join(info['unfinished'][:3])}); the next write removes them"))
    if info.get("orphaned"):
        lines.append(("orphaned", f"{len(info['orphaned'])} older generations left by an interrupted write "
                                  f"({', '.join(info['orphaned'][:3])}); the next write removes them"))
    return "\n".join(f"{key + ':':<14} {value}" for key, value in lines)


_BEIR = (("ndcg@10", "nDCG@10"), ("recall@100", "R@100"), ("mrr", "MRR"))
_QUESTIONS = (("top1", "top1"), ("top3", "top3"), ("mrr@10", "MRR@10"), ("highlight", "highlight"))


def eval_text(report: EvalReport) -> str:
    """A multi-collection eval report as tables: one row per collection and mode, then
    the means over the collections."""
    out = []
    for kind, columns in (("beir", _BEIR), ("questions", _QUESTIONS)):
        reports = [r for r in report.collections if r.kind == kind]
        if not reports:
            continue
        header = f"{'collection':<22}{'mode':<9}" + "".join(f"{label:>11}" for _, label in columns)
        if kind == "beir":
            header += "".join(f"{'p.' + label:>11}" for _, label in columns)
        out += [header, "-" * len(header)]
        for r in reports:
            name = Path(r.collection).stem[:21]
            for mode, m in r.results.items():
                row = f"{name:<22}{mode:<9}" + "".join(f"{m.metrics[key]:>11.4f}" for key, _ in columns)
                if m.passages is not None:
                    row += "".join(f"{m.passages[key]:>11.4f}" for key, _ in columns)
                out.append(row)
        if kind == "beir":
            out.append("(p. columns: the same metrics over the ranked passages, each passage judged with its "
                       "document's grade)")
        out.append("")
    for r in report.collections:
        queries = "judged queries" if r.kind == "beir" else "questions"
        out.append(f"{Path(r.collection).stem}: {r.documents} documents, {r.passages} passages"
                   f"{_cut(r.chunking)}, {r.queries} {queries}"
                   + (f" (qrels/{r.split}.tsv)" if r.split not in (None, "test") else ""))
    if len(report.collections) > 1:
        out += ["", "mean over the collections:"]
        for mode, means in report.mean.items():
            out.append(f"  {mode:<9}" + ", ".join(f"{k} {v:.4f}" for k, v in means.items()))
    return "\n".join(out)


def _cut(chunking: ChunkingConfig) -> str:
    """How the passages were cut, e.g. " (at most 256 tokens, overlap 32)"."""
    title = "" if chunking.title_prefix else ", no title prefix"
    return f" (at most {chunking.max_tokens} tokens, overlap {chunking.overlap_tokens}{title})"
