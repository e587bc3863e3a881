"""Pure functions that cut text into sentence-aware passages with exact character offsets.

Token lengths come from the model's own tokenizer, passed in as a `TokenOffsets` callable,
so the chunker never needs the model itself.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..records import TokenOffsets

# A sentence ends at . ! ? followed by optional closing quotes or brackets and whitespace, at
# 。！？ (no space needed), or at a line break, unless the break is a soft one (`soft_breaks`).
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+|(?<=[。！？])[\"'”’」』）)\]]*\s*|\n\s*")
# A line that starts a list item or a heading begins a new sentence even inside a paragraph.
_BLOCK_START = re.compile(r"[ \t]*(?:[-*+•][ \t]|\d{1,3}[.)][ \t]|#{1,6}[ \t]|>|\|)")
_WRAP_MIN, _WRAP_MAX = 40, 100  # line lengths of hard-wrapped text (72 or 80 columns, PDF lines)
_NON_SPACE = re.compile(r"\S")
_BATCH = 1024


@dataclass(frozen=True)
class Chunk:
    """A passage: `text == source[start:end]`."""

    start: int
    end: int
    text: str


def soft_breaks(text: str) -> set[int]:
    """Offsets of the line breaks that only wrap a paragraph, and so end no sentence.

    A paragraph (lines between blank lines) is hard-wrapped when it has several lines,
    the longest of them 40 to 100 characters, every line but its last at least half as long
    as the longest, none indented more than 3 spaces and none ending as code does ({ } ; : =
    or an open bracket). Inside such a paragraph a break is soft unless the next line
    starts a list item, a heading, a quote or a table row. Text written one paragraph per
    line, or lines of a poem or an address, keep every break.
    """
    soft: set[int] = set()
    pos = 0
    for block in re.split(r"(\n[ \t]*\n)", text):
        lines = block.split("\n")
        if len(lines) > 1:
            lengths = [len(line.rstrip()) for line in lines]
            longest = max(lengths)
            flush = all(len(line) - len(line.lstrip(" \t")) <= 3 for line in lines if line.strip())
            code = any(line.rstrip().endswith(("{", "}", ";", ":", "=", "(")) for line in lines)
            if (_WRAP_MIN <= longest <= _WRAP_MAX and all(n >= longest // 2 for n in lengths[:-1]) and flush
                    and not code):
                at = pos
                for line, following in zip(lines, lines[1:]):
                    at += len(line)
                    if not _BLOCK_START.match(following):
                        soft.add(at)
                    at += 1
        pos += len(block)
    return soft


def sentence_spans(text: str, max_chars: int) -> list[tuple[int, int]]:
    """Split `text` into sentence spans that hold no leading or trailing whitespace.

    Runs longer than `max_chars` are cut at the last whitespace before the limit (or hard
    at the limit), which bounds the work a single pathological line can cause.
    """
    spans: list[tuple[int, int]] = []
    pos = 0
    soft = soft_breaks(text) if "\n" in text else set()
    for match in _SENTENCE_END.finditer(text):
        if match.start() in soft and match.group().count("\n") == 1 and text[match.start()] == "\n":
            continue
        _add_span(text, pos, match.start(), max_chars, spans)
        pos = match.end()
    _add_span(text, pos, len(text), max_chars, spans)
    return spans


def _add_span(text: str, start: int, end: int, max_chars: int, out: list[tuple[int, int]]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    while end - start > max_chars:
        cut = text.rfind(" ", start + max_chars // 2, start + max_chars)
        cut = cut if cut > start else start + max_chars
        out.append((start, cut))
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if end > start:
        out.append((start, end))


def chunk_text(
    text: str,
    token_offsets: TokenOffsets,
    max_tokens: int,
    overlap_tokens: int = 0,
    sections: Sequence[int] = (),
) -> list[Chunk]:
    """Pack whole sentences into passages of at most `max_tokens` tokens.

    A sentence longer than `max_tokens` is split at token boundaries, preferring word
    boundaries. Consecutive passages share up to `overlap_tokens` tokens of whole
    sentences. Every non-whitespace character of `text` lies in at least one passage.
    With `sections` (offsets where sections start, e.g. the definitions in source code), a
    section that fits in a passage is never cut: a passage ends before a section that would
    not fit whole, and the next one starts with it, without overlap.

    Args:
        text: The document text.
        token_offsets: The tokenizer, as a callable (see `TokenOffsets`).
        max_tokens: Token budget of one passage, special tokens excluded.
        overlap_tokens: Token budget of the repeated sentences.

    Returns:
        The passages in document order.
    """
    if max_tokens < 1:
        raise ValueError("max_tokens must be positive")
    # A token covers at least one character for the tokenizers we use; a generous
    # character cap keeps tokenizer input bounded without cutting normal sentences.
    spans = sentence_spans(text, max_chars=max_tokens * 12)
    if not spans:
        return []
    pieces: list[tuple[int, int, int]] = []  # (start, end, tokens)
    # Tokenize a batch at a time and keep only counts, so a huge file needs memory in
    # proportion to its sentences, not to its tokens.
    for lo in range(0, len(spans), _BATCH):
        batch = spans[lo : lo + _BATCH]
        for (s, e), toks in zip(batch, token_offsets([text[s:e] for s, e in batch])):
            if len(toks) <= max_tokens:
                pieces.append((s, e, len(toks)))
            else:
                pieces.extend(_split_long(text, s, e, toks, max_tokens))

    opens, size = _sections(pieces, sections)
    chunks: list[Chunk] = []
    i = 0
    while i < len(pieces):
        j, total = i, 0
        while j < len(pieces) and total + pieces[j][2] <= max_tokens:
            if j > i and j in opens and total + size[j] > max_tokens:
                break  # the section starting here would not fit whole: it starts the next passage
            total += pieces[j][2]
            j += 1
        j = max(j, i + 1)
        start, end = pieces[i][0], pieces[j - 1][1]
        chunks.append(Chunk(start, end, text[start:end]))
        if j >= len(pieces):
            break
        # Step back over trailing whole pieces that fit in the overlap budget.
        nxt, kept = j, 0
        while j not in opens and nxt - 1 > i and kept + pieces[nxt - 1][2] <= overlap_tokens:
            kept += pieces[nxt - 1][2]
            nxt -= 1
        i = nxt
    return _enforce_budget(text, chunks, token_offsets, max_tokens)


def _sections(pieces: list[tuple[int, int, int]], sections: Sequence[int]) -> tuple[set[int], dict[int, int]]:
    """The indexes of the pieces that open a section, and each one's section size in tokens."""
    if not sections:
        return set(), {}
    starts = sorted(set(sections))
    opens: set[int] = set()
    k = 0
    for n, (start, _, _) in enumerate(pieces):
        if k < len(starts) and start >= starts[k]:
            opens.add(n)
            while k < len(starts) and starts[k] <= start:
                k += 1
    size: dict[int, int] = {}
    order = sorted(opens) + [len(pieces)]
    for a, b in zip(order, order[1:]):
        size[a] = sum(p[2] for p in pieces[a:b])
    return opens, size


def _split_long(
    text: str, base: int, end: int, toks: list[tuple[int, int]], max_tokens: int
) -> list[tuple[int, int, int]]:
    """Cut the over-long sentence text[base:end] into windows of at most `max_tokens` tokens.

    Windows meet where the next one's first token starts, so characters the tokenizer
    ignores (control characters, say) still land in a passage.
    """
    cuts = [0]
    n = len(toks)
    while cuts[-1] < n:
        i = cuts[-1]
        j = min(i + max_tokens, n)
        if j < n:
            # Prefer to end a window where whitespace follows, so no word is cut in two.
            k = j
            while k > i + max_tokens // 2 and toks[k][0] == toks[k - 1][1]:
                k -= 1
            if k > i + max_tokens // 2:
                j = k
        cuts.append(j)
    out: list[tuple[int, int, int]] = []
    for a, b in zip(cuts, cuts[1:]):
        start = base if a == 0 else base + toks[a][0]
        stop = end if b == n else base + toks[b][0]
        while stop > start and text[stop - 1].isspace():
            stop -= 1
        out.append((start, stop, b - a))
    return out


def _enforce_budget(
    text: str, chunks: list[Chunk], token_offsets: TokenOffsets, max_tokens: int
) -> list[Chunk]:
    """Re-tokenize each passage and split any that a tokenizer counts as over budget.

    Tokens of separate sentences normally add up exactly; this guards tokenizers for
    which they do not (a cut inside a word, for one).
    """
    fixed: list[Chunk] = []
    for lo in range(0, len(chunks), _BATCH):
        batch = chunks[lo : lo + _BATCH]
        counted = token_offsets([c.text for c in batch])
        if all(len(t) <= max_tokens for t in counted):
            fixed.extend(batch)
            continue
        fixed.extend(_resplit(text, batch, counted, token_offsets, max_tokens))
    return fixed


def _resplit(
    text: str, chunks: list[Chunk], counted: list[list[tuple[int, int]]], token_offsets: TokenOffsets,
    max_tokens: int,
) -> list[Chunk]:
    fixed: list[Chunk] = []
    for chunk, toks in zip(chunks, counted):
        if len(toks) <= max_tokens:
            fixed.append(chunk)
            continue
        budget = max_tokens
        while True:
            parts = [
                Chunk(chunk.start + s, chunk.start + e, text[chunk.start + s : chunk.start + e])
                for s, e, _ in _split_long(chunk.text, 0, len(chunk.text), toks, budget)
            ]
            recount = token_offsets([p.text for p in parts])
            if all(len(t) <= max_tokens for t in recount) or budget <= 1:
                fixed.extend(parts)
                break
            budget = max(1, budget * 3 // 4)
    return fixed


def covers(text: str, chunks: Sequence[Chunk]) -> bool:
    """True when every non-whitespace character of `text` lies inside some chunk."""
    covered = bytearray(len(text))
    for c in chunks:
        covered[c.start : c.end] = b"\x01" * (c.end - c.start)
    return all(covered[m.start()] for m in _NON_SPACE.finditer(text))


MAX_SENTENCE_CHARS = 2000


def passage_sentences(text: str) -> list[tuple[int, int]]:
    """A passage's sentences as (start, end) offsets into it; never empty for non-empty text."""
    return sentence_spans(text, max_chars=MAX_SENTENCE_CHARS) or [(0, len(text))]
