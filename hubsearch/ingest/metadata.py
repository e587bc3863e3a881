"""A document's title and publication date, found in its first lines."""

from __future__ import annotations

import re
from datetime import date, datetime

_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_MONTHS_SHORT = "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec"
_ISO = r"(?P<iso>\d{4}-\d{2}-\d{2})"
_LONG = rf"(?P<long>(?:{_MONTHS}|{_MONTHS_SHORT})\.? \d{{1,2}}, \d{{4}})"
_DMY = rf"(?P<dmy>\d{{1,2}} (?:{_MONTHS}|{_MONTHS_SHORT})\.? \d{{4}})"
_ANY_DATE = rf"(?:{_ISO}|{_LONG}|{_DMY})"
_TIME = r"(?:\d{1,2}:\d{2}(?::\d{2})?\s*(?:[AaPp]\.?[Mm]\.?)?,?\s*)?"
# Labels in order of preference: a publication date beats an update date.
_DATE_PATTERNS = [
    re.compile(rf"^\s*date\s+{_ISO}", re.IGNORECASE),
    re.compile(rf"\b(?:Published|Posted|Date)\s*(?:on)?\s*:?\s*{_TIME}{_ANY_DATE}", re.IGNORECASE),
    re.compile(rf"\bUpdated\s*(?:on)?\s*:?\s*{_TIME}{_ANY_DATE}", re.IGNORECASE),
    re.compile(rf"^\s*{_ANY_DATE}", re.MULTILINE),
]
_HEADER_CHARS = 600
_META_LINE = re.compile(
    rf"^\s*(?:(?:Published|Posted|Updated|Date|By)\b.*|\(?[\w.-]+\.(?:com|org|net|cn)\)?.*|{_ANY_DATE}\s*)$",
    re.IGNORECASE,
)
_LEADING_DATE = re.compile(rf"^\s*date\s+{_ISO}\s*", re.IGNORECASE)
_MAX_TITLE = 200


def _parse_date(match: re.Match[str]) -> str | None:
    groups = match.groupdict()
    try:
        if groups.get("iso"):
            return date.fromisoformat(groups["iso"]).isoformat()
        text = (groups.get("long") or groups.get("dmy") or "").replace(".", "").replace("Sept", "Sep")
        for fmt in ("%B %d, %Y", "%b %d, %Y", "%d %B %Y", "%d %b %Y"):
            try:
                return datetime.strptime(text, fmt).date().isoformat()
            except ValueError:
                continue
    except ValueError:
        return None
    return None


def extract_date(text: str) -> str | None:
    """Find the publication date in a document's header, as ISO `YYYY-MM-DD`, or None."""
    head = text[:_HEADER_CHARS]
    for pattern in _DATE_PATTERNS:
        for match in pattern.finditer(head):
            parsed = _parse_date(match)
            if parsed:
                return parsed
    return None


def extract_title(text: str, suffix: str = ".txt") -> str | None:
    """Take the first line that reads like a headline, or None.

    Markdown uses its first heading. Otherwise the first non-empty line that is not a
    date, byline or site name, with a leading ` date YYYY-MM-DD` marker removed. A line
    longer than a headline is cut at its first sentence.
    """
    lines = text[: _HEADER_CHARS * 4].splitlines()
    if suffix == ".md":
        for line in lines:
            if line.startswith("#"):
                title = line.lstrip("#").strip()
                if title:
                    return title[:_MAX_TITLE]
    for line in lines:
        line = _LEADING_DATE.sub("", line).strip()
        if not line or _META_LINE.match(line):
            continue
        if len(line) > _MAX_TITLE:
            first = re.split(r"(?<=[.!?])\s", line, maxsplit=1)[0]
            line = first if len(first) <= _MAX_TITLE else line[:_MAX_TITLE].rsplit(" ", 1)[0]
        return line
    return None
