"""The search contract every front door shares: a `SearchRequest`, parsed and validated
once, and the `SearchResponse` object it answers with.

The command line, the HTTP API, MCP and the server's Unix socket all build a
`SearchRequest` (the CLI from its options, the others with `SearchRequest.parse` from
JSON-like data) and call `Index.answer`. So the same input gets the same hits, or the
same one-line error, whichever door it came through.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from .errors import InvalidInputError
from .records import Hit
from .settings import MODES, SENTENCES, FusionConfig, SearchConfig

MAX_QUERY_CHARS = 10_000
MAX_K = 1_000


def unicode_text(text: str) -> str:
    """`text` with lone surrogates (a stray byte in a shell argument arrives as one)
    replaced by U+FFFD, so that it can be encoded."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def validate_query(query: object) -> str:
    """The query to search for: NULs become spaces and the ends are trimmed.

    Raises:
        InvalidInputError: The query is not text, is empty, or is longer than
            `MAX_QUERY_CHARS` characters.
    """
    if isinstance(query, str):
        query = unicode_text(query).replace("\x00", " ").strip()
    if not isinstance(query, str) or not query:
        raise InvalidInputError('the query is empty; pass some words to search for, e.g. "incubator size"')
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidInputError(
            f"the query is {len(query):,} characters long, more than the {MAX_QUERY_CHARS:,} allowed; shorten it"
        )
    return query


def validate_k(k: object) -> int:
    """Raises InvalidInputError unless `k` is a whole number from 1 to `MAX_K`."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InvalidInputError(f"k must be a whole number of at least 1, got {k!r}; ask for e.g. 5 hits")
    if k > MAX_K:
        raise InvalidInputError(f"k must be at most {MAX_K}, got {k}; ask for fewer hits, e.g. 100")
    return k


# Each field's wire name, the JSON type it takes, and its description (for HTTP and MCP).
FIELDS: dict[str, tuple[tuple[type, ...], str]] = {
    "q": ((str,), "The question, in natural language."),
    "k": ((int,), f"How many passages (1 to {MAX_K})."),
    "mode": ((str,), f"One of {', '.join(MODES)}: hybrid fuses meaning and exact words."),
    "explain": ((bool,), "Attach how each hit's score came about."),
    "since": ((str,), "Only documents dated on or after this day (YYYY-MM-DD)."),
    "until": ((str,), "Only documents dated on or before this day (YYYY-MM-DD)."),
    "doc_ids": ((list,), "Only these documents (doc_ids as results show them)."),
    "path": ((str,), "Only documents whose path under the indexed folder matches this glob."),
    "min_score": ((int, float), "Drop hits whose relevance (0 to 1, comparable across queries) is below this."),
    "fusion": ((str,), "How hybrid mode merges the rankings: weighted or rrf."),
    "normalise": ((str,), "How weighted fusion scales each ranking: zscore or minmax."),
    "alpha": ((int, float), "Weight of meaning against BM25 in hybrid mode (0 to 1)."),
    "rrf_k": ((int,), "RRF's damping constant (with fusion rrf)."),
    "feedback": ((bool,), "Run a second pass with pseudo-relevance feedback."),
    "smoothing": ((int, float), "Share of each top passage's score taken from its neighbours; default by mode."),
    "sentences": ((int, float), "Hybrid mode: share of the meaning weight that ranks passages by their best sentence."),
    "tags": ((list,), "Only documents that declare all these tags (Markdown front matter)."),
    "where": ((list,), "Only documents whose declared field satisfies each condition: FIELD=VALUE, or !=, <, <=, >, >= "
                       "(numbers and dates compare as such)."),
}


@dataclass(frozen=True)
class SearchRequest:
    """One query and its options, validated when it is made.

    Attributes:
        q: The question (as given; the search trims it).
        k: How many passages.
        mode: "hybrid", "dense" or "lexical".
        explain: Attach each side's rank and score, and the fusion, to every hit.
        since, until, doc_ids, path, min_score, tags, where: Filters; see `settings.Filters`.
        fusion, normalise, alpha, rrf_k, feedback, smoothing, sentences: Ranking
            options; see `SearchConfig.from_options`.
    """

    q: str
    k: int = 5
    mode: str = "hybrid"
    explain: bool = False
    since: str | None = None
    until: str | None = None
    doc_ids: tuple[str, ...] = ()
    path: str | None = None
    min_score: float | None = None
    fusion: str = FusionConfig.method
    normalise: str = FusionConfig.normalise
    alpha: float = FusionConfig.alpha
    rrf_k: int = FusionConfig.rrf_k
    feedback: bool = False
    smoothing: float | None = None
    sentences: float = SENTENCES
    tags: tuple[str, ...] = ()
    where: tuple[str, ...] = ()
    config: SearchConfig = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        validate_query(self.q)
        validate_k(self.k)
        object.__setattr__(self, "q", unicode_text(self.q))
        for name in ("doc_ids", "tags", "where"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        for name in ("min_score", "alpha", "smoothing", "sentences"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise InvalidInputError(f"{name} must be a finite number, got {value!r}")
        options = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("q", "k", "explain", "config")}
        object.__setattr__(self, "config", SearchConfig.from_options(**options))

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> "SearchRequest":
        """A request from JSON-like data (an HTTP body or query string, MCP arguments, the
        socket). Unknown fields and values of the wrong type are refused, not ignored.

        Raises:
            InvalidInputError: A field is unknown, missing or of the wrong type, or a
                value is out of range.
        """
        unknown = sorted(set(data) - set(FIELDS))
        if unknown:
            raise InvalidInputError(
                f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                f"the fields are: {', '.join(FIELDS)}"
            )
        if "q" not in data:
            raise InvalidInputError("the field 'q' (the question) is missing")
        values: dict[str, Any] = {}
        for name, value in data.items():
            kinds, _ = FIELDS[name]
            if value is None and name not in ("q", "k", "mode", "explain", "feedback"):
                continue  # optional fields may be given as null
            if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
                wanted = " or ".join("a list of strings" if t is list else _TYPE_NAMES[t] for t in kinds)
                raise InvalidInputError(f"{name} must be {wanted}, got {value!r}")
            if list in kinds:
                if not all(isinstance(v, str) for v in value):
                    raise InvalidInputError(f"{name} must be a list of strings, got {value!r}")
                value = tuple(value)
            values[name] = value
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The request as `parse` takes it (what the CLI sends to a running server)."""
        out = {name: getattr(self, name) for name in FIELDS}
        for name in ("doc_ids", "tags", "where"):
            out[name] = list(out[name])
        return out


_TYPE_NAMES = {str: "text", int: "a whole number", float: "a number", bool: "true or false"}


@dataclass(frozen=True)
class SearchResponse:
    """What a search answers: the query as asked and the hits, best first. `to_dict` is
    the object `hubsearch query --json`, `/search` and MCP's `search` return."""

    query: str
    hits: list[Hit]
    weak: bool = False  # the best hit's relevance is too low to call it a match

    def to_dict(self) -> dict[str, Any]:
        return {"query": self.query, "weak": self.weak, "results": [h.to_dict() for h in self.hits]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SearchResponse":
        return cls(str(data["query"]), [Hit.from_dict(hit) for hit in data["results"]], bool(data.get("weak")))
