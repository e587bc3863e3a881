"""The index a long-running server answers from, moved to each new generation a writer
publishes, between requests, once the new one has opened and verified."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from ..errors import HubsearchError
from ..index import Index
from ..store import generations


class LiveIndex:
    """Holds the open index and swaps it when CURRENT moves.

    A request takes `current()` and keeps using that index even if a swap happens while
    it runs: the previous index stays open until the swap after next.

    Args:
        path: The index folder.
        embedder: A ready query embedder (tests pass a fake); default: the index's own.
    """

    def __init__(self, path: Path, embedder: Any = None) -> None:
        self.path = path
        self._embedder = embedder
        self._lock = threading.Lock()
        self._index = Index.open(path, embedder=embedder)
        self._retired: Index | None = None

    def current(self) -> Index:
        """The newest verified generation; the one in use if the new one cannot open yet."""
        pointer = generations.pointer(self.path)
        if pointer is not None and pointer != self._index.generation.name:
            with self._lock:
                if pointer != self._index.generation.name:
                    self._swap()
        return self._index

    def _swap(self) -> None:
        try:
            fresh = Index.open(self.path, embedder=self._embedder or self._index.embedder)
        except HubsearchError:
            return  # mid-publish or damaged: keep answering from the generation we have
        if self._retired is not None:
            self._retired.close()
        self._retired, self._index = self._index, fresh

    def close(self) -> None:
        for index in (self._index, self._retired):
            if index is not None:
                index.close()
