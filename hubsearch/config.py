"""Settings that shape an index. They are stored in the manifest and reused on rebuild."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from .errors import InvalidInputError


def cache_dir() -> Path:
    """Where hubsearch keeps per-user caches: `$HUBSEARCH_CACHE`, else ~/.cache/hubsearch."""
    return Path(os.environ.get("HUBSEARCH_CACHE") or Path.home() / ".cache" / "hubsearch")


def _from_dict(cls: type, data: dict[str, Any]) -> Any:
    known = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class ChunkingConfig:
    """How documents are cut into passages.

    Attributes:
        max_tokens: Upper bound on a passage's length in model tokens, special tokens
            included. It is capped at the model's window when the index is built.
        overlap_tokens: How many tokens of trailing whole sentences a passage repeats
            from the one before it.
        title_prefix: Embed each passage as "title. passage" so that passages far from
            the headline still carry the document's subject.
    """

    max_tokens: int = 256
    overlap_tokens: int = 32
    title_prefix: bool = True

    def __post_init__(self) -> None:
        if self.max_tokens < 16:
            raise InvalidInputError(
                f"max_tokens must be at least 16, got {self.max_tokens}; pass a larger --max-tokens"
            )
        if not 0 <= self.overlap_tokens < self.max_tokens // 2:
            raise InvalidInputError(
                f"overlap_tokens must be between 0 and half of max_tokens, got {self.overlap_tokens}; "
                "pass a smaller --overlap"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ChunkingConfig":
        return _from_dict(cls, data)
