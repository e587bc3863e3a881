"""hubsearch: semantic search over a folder of documents."""

from .api import BuildReport, Hit, Index, open_or_build, rebuild
from .config import ChunkingConfig
from .errors import (
    HubsearchError,
    IndexBusyError,
    IndexDamagedError,
    IndexNotFoundError,
    InvalidInputError,
    ModelError,
    ModelMismatchError,
    NoDocumentsError,
    SourceError,
)

__version__ = "0.1.0"

__all__ = [
    "BuildReport",
    "ChunkingConfig",
    "Hit",
    "HubsearchError",
    "Index",
    "IndexBusyError",
    "IndexDamagedError",
    "IndexNotFoundError",
    "InvalidInputError",
    "ModelError",
    "ModelMismatchError",
    "NoDocumentsError",
    "SourceError",
    "__version__",
    "open_or_build",
    "rebuild",
]
