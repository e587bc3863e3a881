"""Progress on stderr: one tqdm bar per stage of a build, and the build summaries."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

_LABELS = {"embed": "embedding passages", "sentences": "embedding sentences", "write": "writing index",
           "eval": "scoring modes"}


@contextmanager
def progress_bars() -> Iterator[Any]:
    """A progress callback (stage, done, total) that draws a tqdm bar on stderr per stage."""
    bars: dict[str, Any] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage == "read":
            click.echo(f"hubsearch: read {done} documents", err=True)
            return
        bar = bars.get(stage)
        if bar is None and stage in ("embed", "sentences") and not total:
            return  # nothing to embed: no bar
        if bar is None:
            from tqdm import tqdm  # imported on first use: queries on a built index never need it

            unit = {"embed": " passages", "sentences": " sentences"}.get(stage, "")
            bar = bars[stage] = tqdm(
                total=total or None, desc=_LABELS.get(stage, stage), unit=unit, file=sys.stderr, leave=True,
                dynamic_ncols=True, disable=None if stage == "write" else False,
            )
        bar.n = done
        bar.refresh()

    try:
        yield update
    finally:
        for bar in bars.values():
            bar.close()


def echo_skipped(report: Any) -> None:
    for skipped in report.skipped:
        click.echo(f"hubsearch: skipped {skipped.path}: {skipped.reason}", err=True)


def changes_line(report: Any) -> str:
    embedded = f"{report.embedded} passage{'' if report.embedded == 1 else 's'}"
    return (
        f"{report.new} new, {report.changed} changed, {report.unchanged} unchanged, {report.removed} removed "
        f"({embedded} embedded, {report.reused} reused)"
    )


def report_build(index: Any, verb: str) -> None:
    """The skipped files, then one line: what the index now holds and what changed."""
    report = index.report
    if report:
        echo_skipped(report)
    m = index.manifest
    line = (f"hubsearch: {verb} {m.corpus.documents} documents, {m.corpus.passages} passages "
            f"into {index.path} in {m.built.seconds:.1f}s")
    click.echo(line + (f" ({changes_line(report)})" if report else ""), err=True)
