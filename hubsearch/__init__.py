"""hubsearch: semantic search over a folder of documents.

The public API. Names are imported on first use (PEP 562), so that `import hubsearch`
and `hubsearch --help` stay free of numpy, FAISS and onnxruntime.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .errors import (
    BackendError,
    DocumentNotFoundError,
    HubsearchError,
    IndexBusyError,
    IndexDamagedError,
    IndexNotFoundError,
    IndexWriteError,
    InvalidInputError,
    ModelError,
    ModelMismatchError,
    NoDocumentsError,
    SourceError,
)
from .settings import (
    BuildOptions,
    ChunkingConfig,
    FeedbackConfig,
    FusionConfig,
    LexicalConfig,
    SearchConfig,
    VectorBackend,
    default_index_dir,
)

__version__ = "0.4.0"

_LAZY = {
    "Index": "index",
    "build": "index",
    "open_or_build": "index",
    "rebuild": "index",
    "update": "index",
    "watch": "index",
    "SearchRequest": "request",
    "SearchResponse": "request",
    "Hit": "records",
    "BuildReport": "records",
    "Trace": "query.pipeline",
    "evaluate": "evaluate.beir",
    "EvalReport": "evaluate.report",
    "CollectionReport": "evaluate.report",
    "evaluate_many": "evaluate.questions",
    "evaluate_questions": "evaluate.questions",
}

if TYPE_CHECKING:
    from .evaluate.beir import evaluate
    from .evaluate.questions import evaluate_many, evaluate_questions
    from .evaluate.report import CollectionReport, EvalReport
    from .index import Index, build, open_or_build, rebuild, update, watch
    from .query.pipeline import Trace
    from .records import BuildReport, Hit
    from .request import SearchRequest, SearchResponse


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hubsearch' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "BackendError",
    "BuildOptions",
    "BuildReport",
    "ChunkingConfig",
    "CollectionReport",
    "DocumentNotFoundError",
    "EvalReport",
    "FeedbackConfig",
    "FusionConfig",
    "Hit",
    "HubsearchError",
    "Index",
    "IndexBusyError",
    "IndexDamagedError",
    "IndexNotFoundError",
    "IndexWriteError",
    "InvalidInputError",
    "LexicalConfig",
    "ModelError",
    "ModelMismatchError",
    "NoDocumentsError",
    "SearchConfig",
    "SearchRequest",
    "SearchResponse",
    "SourceError",
    "Trace",
    "VectorBackend",
    "__version__",
    "build",
    "default_index_dir",
    "evaluate",
    "evaluate_many",
    "evaluate_questions",
    "open_or_build",
    "rebuild",
    "update",
    "watch",
]
