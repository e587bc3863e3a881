"""A list read from storage on first use."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Generic, TypeVar, overload

T = TypeVar("T")


class Deferred(Sequence[T], Generic[T]):
    """A list read on first use (once, whichever thread asks first)."""

    def __init__(self, load: Callable[[], list[T]]) -> None:
        self._load: Callable[[], list[T]] | None = load
        self._items: list[T] | None = None
        self._lock = threading.Lock()

    def _list(self) -> list[T]:
        if self._items is None:
            with self._lock:
                if self._items is None:
                    assert self._load is not None
                    self._items, self._load = self._load(), None
        return self._items

    @property
    def loaded(self) -> bool:
        """Whether the list has been read."""
        return self._items is not None

    def __len__(self) -> int:
        return len(self._list())

    @overload
    def __getitem__(self, at: int) -> T: ...

    @overload
    def __getitem__(self, at: slice) -> list[T]: ...

    def __getitem__(self, at: int | slice) -> T | list[T]:
        return self._list()[at]

    def __iter__(self) -> Iterator[T]:
        return iter(self._list())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, (Deferred, list)):
            return NotImplemented
        return self._list() == list(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self._list()) if self._items is not None else "Deferred(not read yet)"
