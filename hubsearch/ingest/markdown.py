"""Markdown read as Markdown: front matter becomes metadata, markup stops counting as words.

The text handed on has exactly the source's length and line breaks: front matter and
markup characters (`#` of headings, emphasis marks, link targets, HTML comments) are
replaced by spaces. So every offset a hit reports points into the source file, and the
model and BM25 see only the words.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

_FRONT = re.compile(r"\A(---|\+\+\+)[ \t]*\r?\n(.*?)\r?\n\1[ \t]*(?:\r?\n|\Z)", re.S)
_MARKUP = [
    re.compile(r"<!--.*?-->", re.S),  # HTML comments, whole
    re.compile(r"^[ \t]*\[[^\]\n]+\]:[ \t]*\S.*$", re.M),  # link reference definitions, whole
]
_PARTS = [
    re.compile(r"^[ \t]{0,3}(#{1,6})[ \t]", re.M),  # heading marks
    re.compile(r"!?\[(?=[^\]\n]*\]\([^)\n]*\))"),  # the "[" or "![" of a link or image
    re.compile(r"\]\([^)\n]*\)"),  # "](target)"
    re.compile(r"(\*\*|__|\*|_|`+|~~)(?=\S)|(?<=\S)(\*\*|__|\*|_|`+|~~)"),  # emphasis and code marks
    re.compile(r"^[ \t]*(```+|~~~+).*$", re.M),  # code fences
]
_HEADING = re.compile(r"^[ \t]{0,3}(#{1,6})[ \t]+(.+?)[ \t#]*$", re.M)


def _blank(text: str) -> str:
    return re.sub(r"[^\n]", " ", text)


def parse_markdown(text: str) -> tuple[str, dict[str, Any]]:
    """The text with front matter and markup blanked out, and the front matter's fields
    (YAML between `---` lines or TOML between `+++` lines; {} when there is none or it
    does not parse)."""
    meta: dict[str, Any] = {}
    front = _FRONT.match(text)
    if front:
        meta = _front_matter(front.group(1), front.group(2))
        text = _blank(text[: front.end()]) + text[front.end():]
    for pattern in _MARKUP:
        text = pattern.sub(lambda m: _blank(m.group()), text)
    for pattern in _PARTS:
        text = pattern.sub(lambda m: _blank(m.group()), text)
    return text, meta


def _front_matter(fence: str, body: str) -> dict[str, Any]:
    try:
        if fence == "+++":
            import tomllib

            data = tomllib.loads(body)
        else:
            import yaml

            data = yaml.safe_load(body)
    except Exception:  # noqa: BLE001 - a front matter that does not parse is left out, not fatal
        return {}
    if not isinstance(data, dict):
        return {}
    out: dict[str, Any] = {}
    for key, value in data.items():
        plain = _plain(value)
        if plain is not None:
            out[str(key)] = plain
    return out


def _plain(value: Any) -> Any:
    """A scalar or a list of scalars as JSON values (dates as YYYY-MM-DD); None otherwise."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        items = [_plain(v) for v in value]
        return [v for v in items if v is not None and not isinstance(v, list)]
    return None


def headings(source: str) -> list[tuple[int, int, str]]:
    """(offset, level, text) of each Markdown heading, in order (none inside the front matter)."""
    front = _FRONT.match(source)
    after = front.end() if front else 0
    return [(m.start(), len(m.group(1)), m.group(2).strip()) for m in _HEADING.finditer(source, after)]


def heading_path(found: list[tuple[int, int, str]], offset: int) -> list[str]:
    """The headings in force at `offset`: the last of each level, outermost first."""
    path: list[tuple[int, str]] = []
    for at, level, text in found:
        if at > offset:
            break
        path = [(lv, t) for lv, t in path if lv < level] + [(level, text)]
    return [t for _, t in path]


def front_title(meta: dict[str, Any]) -> str | None:
    title = meta.get("title")
    return title.strip()[:200] or None if isinstance(title, str) else None


def front_date(meta: dict[str, Any]) -> str | None:
    value = meta.get("date")
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10]).isoformat()
        except ValueError:
            return None
    return None


def tags_of(meta: dict[str, Any]) -> list[str]:
    """The front matter's tags (a list, or one comma-separated string)."""
    tags = meta.get("tags", meta.get("tag"))
    if isinstance(tags, str):
        tags = [t.strip() for t in tags.split(",")]
    return [str(t) for t in tags if str(t).strip()] if isinstance(tags, list) else []
