"""Exceptions raised by hubsearch. Every message says how to fix the problem."""

from __future__ import annotations


class HubsearchError(Exception):
    """Base class for every error hubsearch raises on purpose."""


class InvalidInputError(HubsearchError, ValueError):
    """A query, option or argument that cannot be used as given."""


class SourceError(HubsearchError):
    """The documents to index cannot be found or read."""


class NoDocumentsError(SourceError):
    """The given paths contain no readable documents."""


class ModelError(HubsearchError):
    """The embedding model cannot be found or loaded."""


class ModelMismatchError(HubsearchError):
    """The index was built with a different model than the one requested."""


class IndexNotFoundError(HubsearchError):
    """There is no index at the given folder."""


class IndexDamagedError(HubsearchError):
    """The index files are missing, truncated, corrupt or inconsistent."""


class ServerRunningError(HubsearchError):
    """A server already answers for this index."""


class IndexBusyError(HubsearchError):
    """Another process is writing the index."""


class IndexWriteError(HubsearchError):
    """The index folder cannot be written (read-only, full, or another OS error)."""


class DocumentNotFoundError(HubsearchError):
    """The index holds no document with the given doc_id."""


class BackendError(HubsearchError):
    """The vector backend (a Qdrant server) cannot be reached or used."""
