"""The index a long-running server answers from, moved to each new generation a writer
publishes, between requests, once the new one has opened and verified."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import HubsearchError
from ..index import Index
from ..store import generations


class LiveIndex:
    """Holds the open index and swaps it when CURRENT moves.

    A request takes an index with `use()` and keeps it for as long as it runs. A swap
    retires the old index; a retired index is closed once the last request using it is done,
    so no request ever reads a closed generation.

    Args:
        path: The index folder.
        embedder: A ready query embedder (tests pass a fake); default: the index's own.
    """

    def __init__(self, path: Path, embedder: Any = None) -> None:
        self.path = path
        self._embedder = embedder
        self._lock = threading.Lock()  # guards _index, _users and _retired
        self._swapping = threading.Lock()  # one swap at a time; requests go on meanwhile
        self._index = Index.open(path, embedder=embedder, warm=True)
        self._users: dict[int, int] = {}  # id(index) -> requests using it
        self._retired: list[Index] = []

    @contextmanager
    def use(self) -> Iterator[Index]:
        """The newest verified generation (the one in use if a new one cannot open yet),
        held open until the block ends."""
        self._follow()
        with self._lock:
            index = self._index
            self._users[id(index)] = self._users.get(id(index), 0) + 1
        try:
            yield index
        finally:
            self._release(index)

    def _follow(self) -> None:
        pointer = generations.pointer(self.path)
        if pointer is None or pointer == self._index.generation.name:
            return
        with self._swapping:
            if pointer != self._index.generation.name:
                self._swap()

    def _swap(self) -> None:
        try:
            fresh = Index.open(self.path, embedder=self._embedder or self._index.embedder)
        except HubsearchError:
            return  # mid-publish or damaged: keep answering from the generation we have
        with self._lock:
            old, self._index = self._index, fresh
            self._retired.append(old)
        self._release(None)

    def _release(self, index: Index | None) -> None:
        """One request is done with `index`; close every retired index nobody uses."""
        with self._lock:
            if index is not None:
                left = self._users[id(index)] - 1
                if left:
                    self._users[id(index)] = left
                else:
                    del self._users[id(index)]
            idle = [r for r in self._retired if id(r) not in self._users]
            self._retired = [r for r in self._retired if id(r) in self._users]
        for retired in idle:
            retired.close()

    def close(self) -> None:
        with self._lock:
            everything, self._retired = [self._index, *self._retired], []
        for index in everything:
            index.close()
