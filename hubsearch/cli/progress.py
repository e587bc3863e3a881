"""Progress on stderr: one tqdm bar per stage of a build, and the build summaries."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from ..records import BuildReport, skip_summary

_LABELS = {"embed": "embedding passages", "sentences": "embedding sentences", "write": "writing index",
           "eval": "scoring modes"}


@contextmanager
def progress_bars() -> Iterator[Any]:
    """A progress callback (stage, done, total) that draws a tqdm bar on stderr per stage.

    One bar at a time: a stage's bar is closed, and so drawn for the last time, as soon as
    the stage completes or the next one starts.
    """
    bars: dict[str, Any] = {}  # open bars; a finished stage maps to None

    def close(stage: str) -> None:
        bar = bars.get(stage)
        if bar is not None:
            bar.close()
            bars[stage] = None

    def update(stage: str, done: int, total: int) -> None:
        if stage == "read":
            click.echo(f"hubsearch: read {done} documents", err=True)
            return
        if stage == "publish":
            return  # a moment, not a stage worth a bar
        if stage in bars and bars[stage] is None:
            return  # already finished and drawn
        if stage not in bars:
            if stage in ("embed", "sentences") and not total:
                return  # nothing to embed: no bar
            for other in list(bars):
                close(other)
            # Imported on first use: queries on a built index never need it.
            from tqdm import tqdm

            unit = {"embed": " passages", "sentences": " sentences"}.get(stage, "")
            bars[stage] = tqdm(
                total=total or None, desc=_LABELS.get(stage, stage), unit=unit, file=sys.stderr, leave=True,
                dynamic_ncols=True, disable=None if stage == "write" else False,
            )
        bar = bars[stage]
        if total and done >= total:
            bar.n = done  # no drawing here: close() draws the finished bar, once
            close(stage)
        else:
            bar.update(done - bar.n)

    try:
        yield update
    finally:
        for stage in list(bars):
            close(stage)


SHOWN_SKIPS = 10


def echo_skipped(report: BuildReport) -> None:
    """One line counting the skipped files by kind, then each one that was not merely of an
    unsupported type (the first 10)."""
    if not report.skipped:
        return
    click.echo(f"hubsearch: skipped {skip_summary(report.skipped)}", err=True)
    named = [s for s in report.skipped if s.kind != "unsupported"]
    for skipped in named[:SHOWN_SKIPS]:
        click.echo(f"hubsearch: skipped {skipped.path}: {skipped.reason}", err=True)
    if len(named) > SHOWN_SKIPS:
        click.echo(f"hubsearch: ... and {len(named) - SHOWN_SKIPS} more; index info --json lists every one", err=True)


def changes_line(report: BuildReport) -> str:
    embedded = f"{report.embedded} passage{'' if report.embedded == 1 else 's'}"
    return (
        f"{report.new} new, {report.changed} changed, {report.unchanged} unchanged, {report.removed} removed "
        f"({embedded} embedded, {report.reused} reused)"
    )


def report_build(report: BuildReport, verb: str) -> None:
    """The skipped files, then one line: what the index now holds and what changed."""
    echo_skipped(report)
    line = (f"hubsearch: {verb} {report.documents} documents, {report.passages} passages "
            f"into {report.index} in {report.seconds:.1f}s")
    click.echo(f"{line}: {changes_line(report)}", err=True)
