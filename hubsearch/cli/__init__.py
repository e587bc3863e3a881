"""The `hubsearch` command line: the only package that prints."""

from __future__ import annotations

import sys

from .commands import cli

__all__ = ["cli", "main"]


def main() -> None:
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("hubsearch: %(message)s"))
    logger = logging.getLogger("hubsearch")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    cli(prog_name="hubsearch")
