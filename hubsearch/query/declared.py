"""Filters on what documents declare about themselves (Markdown front matter): `tags` and
`where` conditions, turned into the documents they leave, before ranking."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from typing import Any

from ..errors import InvalidInputError
from ..settings import WHERE, Filters


def resolve(filters: Filters, sources: Sequence[Any]) -> Filters:
    """`filters` with its tags and where conditions replaced by the doc_ids they leave
    (intersected with any doc_ids already asked for).

    Raises:
        InvalidInputError: No document passes; the message names the tags or fields the
            index does have.
    """
    if not filters.tags and not filters.where:
        return filters
    keep = [s for s in sources if _tagged(s, filters.tags) and all(_holds(s, c) for c in filters.where)]
    if filters.doc_ids:
        asked = set(filters.doc_ids)
        keep = [s for s in keep if s.doc_id in asked]
    if not keep:
        raise InvalidInputError(_nothing(filters, sources))
    return replace(filters, doc_ids=tuple(s.doc_id for s in keep), tags=(), where=())


def _fields(source: Any) -> dict[str, Any]:
    return {"title": source.title, "date": source.date, "source": source.source, **(source.meta or {})}


def _tags(source: Any) -> set[str]:
    tags = (source.meta or {}).get("tags", [])
    return {str(t).lower() for t in (tags if isinstance(tags, list) else [tags])}


def _tagged(source: Any, wanted: Sequence[str]) -> bool:
    return all(t.lower() in _tags(source) for t in wanted)


def _holds(source: Any, condition: str) -> bool:
    match = WHERE.fullmatch(condition)
    assert match is not None  # Filters checked the syntax
    name, op, expected = match.groups()
    value = _fields(source).get(name)
    if value is None:
        return op == "!="
    values = value if isinstance(value, list) else [value]
    if op in ("=", "!="):
        found = any(_equal(v, expected) for v in values)
        return found if op == "=" else not found
    return any(_compare(v, op, expected) for v in values)


def _equal(value: Any, expected: str) -> bool:
    number = _number(expected)
    if number is not None and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) == number
    return str(value).lower() == expected.lower()


def _compare(value: Any, op: str, expected: str) -> bool:
    left: Any
    right: Any
    if _number(expected) is not None and isinstance(value, int | float) and not isinstance(value, bool):
        left, right = float(value), _number(expected)
    elif _day(expected) is not None and _day(str(value)) is not None:
        left, right = _day(str(value)), _day(expected)
    else:
        return False  # an order between text and numbers, or plain words, is not guessed
    return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def _nothing(filters: Filters, sources: Sequence[Any]) -> str:
    if filters.tags:
        known = sorted(set().union(*(_tags(s) for s in sources)))
        missing = [t for t in filters.tags if not any(t.lower() in _tags(s) for s in sources)]
        shown = ", ".join(known[:20]) + (", ..." if len(known) > 20 else "") if known else "none"
        if missing:
            return f"no document has tag {missing[0]!r}; tags in this index: {shown}"
    fields = sorted({k for s in sources for k in (s.meta or {})} | {"title", "date", "source"})
    asked = ", ".join(repr(c) for c in (*(f"tag {t}" for t in filters.tags), *filters.where))
    return (f"no document matches {asked}; the fields documents declare in this index: {', '.join(fields[:30])}")
