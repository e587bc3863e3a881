"""Compatibility: the names `hubsearch.api` exported before the library was split into
`index`, `lifecycle`, `pipeline`, `settings` and `evaluation`. New code imports from
`hubsearch` itself."""

from __future__ import annotations

from .errors import HubsearchError
from .evaluation import evaluate
from .index import Index
from .indexing import BuildReport, ProgressCallback
from .lifecycle import open_or_build, rebuild, update, watch
from .passages import Hit
from .settings import (
    DEFAULT_SOURCES,
    MODES,
    SMOOTHING,
    FeedbackConfig,
    FusionConfig,
    SearchConfig,
    default_index_dir,
)

__all__ = [
    "DEFAULT_SOURCES", "MODES", "SMOOTHING", "BuildReport", "FeedbackConfig", "FusionConfig", "Hit",
    "HubsearchError", "Index", "ProgressCallback", "SearchConfig", "default_index_dir", "evaluate",
    "open_or_build", "rebuild", "update", "watch",
]
