"""Where definitions start in source code: functions, classes and their kin, found line by
line with one pattern per family of languages (no parser: cheap, and good enough to cut
passages at definitions and to title each passage with the definition it sits in).

A definition is reported like a Markdown heading, `(offset, level, label)`: its level grows
with its indentation, so a method sits under its class ("class Basket › def total").
Decorators and attributes directly above a definition belong to it.
"""

from __future__ import annotations

import re

_NOT_NAMES = frozenset({"if", "for", "while", "switch", "return", "catch", "else", "new", "sizeof", "elif", "do"})
_PYTHON = re.compile(r"^(?P<indent>[ \t]*)(?:async[ \t]+)?(?P<kind>def|class)[ \t]+(?P<name>\w+)", re.M)
_JS = re.compile(
    r"^(?P<indent>[ \t]*)(?:export[ \t]+(?:default[ \t]+)?)?(?:abstract[ \t]+)?(?:async[ \t]+)?"
    r"(?P<kind>function\*?|class|interface|enum)[ \t]+(?P<name>\w+)"
    r"|^(?P<indent2>[ \t]*)(?:export[ \t]+)?(?:const|let)[ \t]+(?P<name2>\w+)[ \t]*=[ \t]*(?:async[ \t]*)?"
    r"(?:function\b|\([^)\n]*\)[ \t]*=>)", re.M)
_GO = re.compile(r"^(?P<indent>)(?P<kind>func|type)[ \t]+(?:\([^)\n]*\)[ \t]*)?(?P<name>\w+)", re.M)
_RUST = re.compile(
    r"^(?P<indent>[ \t]*)(?:pub(?:\([^)\n]*\))?[ \t]+)?(?:async[ \t]+|unsafe[ \t]+|const[ \t]+)*"
    r"(?P<kind>fn|struct|enum|trait|impl|mod)\b[ \t]*(?:<[^>\n]*>[ \t]*)?(?P<name>[\w:]+)", re.M)
_RUBY = re.compile(r"^(?P<indent>[ \t]*)(?P<kind>def|class|module)[ \t]+(?P<name>[\w.?!=]+)", re.M)
_SHELL = re.compile(r"^(?P<indent>[ \t]*)(?:function[ \t]+)?(?P<name>[\w-]+)[ \t]*\(\)[ \t]*\{?", re.M)
_SQL = re.compile(r"^(?P<indent>[ \t]*)(?P<kind>create(?:[ \t]+or[ \t]+replace)?[ \t]+"
                  r"(?:table|view|function|procedure|index|trigger))[ \t]+(?:if[ \t]+not[ \t]+exists[ \t]+)?"
                  r"(?P<name>[\w.\"]+)", re.M | re.I)
# Java, C#, Kotlin, Swift, Scala, PHP, C and C++: type declarations by keyword, and
# functions as "modifiers type name(params)" on a line of their own.
_MODIFIERS = r"(?:(?:public|private|protected|internal|static|abstract|final|sealed|open|data|override|virtual|" \
             r"inline|extern|export|async|suspend|partial|readonly|unsafe)[ \t]+)*"
_C_FAMILY = re.compile(
    rf"^(?P<indent>[ \t]*){_MODIFIERS}(?P<kind>class|struct|interface|enum|object|trait|fun|func|def|function)"
    r"[ \t]+(?P<name>\w+)"
    rf"|^(?P<indent2>[ \t]*){_MODIFIERS}(?:[\w:<>,\[\]]+[ \t*&]+)+\**(?P<name2>[A-Za-z_]\w*)[ \t]*\([^;{{}}\n]*\)"
    r"[ \t]*(?:const[ \t]*)?(?:throws[ \t]+[\w., ]+)?\{?[ \t]*$", re.M)

PATTERNS = {
    ".py": _PYTHON, ".js": _JS, ".jsx": _JS, ".ts": _JS, ".tsx": _JS, ".go": _GO, ".rs": _RUST, ".rb": _RUBY,
    ".sh": _SHELL, ".sql": _SQL,
    **dict.fromkeys((".java", ".cs", ".kt", ".swift", ".scala", ".php", ".c", ".h", ".cpp", ".hpp"), _C_FAMILY),
}


def definitions(source: str, suffix: str) -> list[tuple[int, int, str]]:
    """`(offset, level, label)` of each definition in `source`, in order: the offset is the
    start of its line (or of the decorators above it), the level 1 at column 0 and one more
    per step of indentation, the label like "def total" or "class Basket"."""
    pattern = PATTERNS.get(suffix)
    if pattern is None:
        return []
    found: list[tuple[int, int, str]] = []
    steps: list[int] = []  # the indentation widths seen, so levels follow the file's own step
    for match in pattern.finditer(source):
        groups = match.groupdict()
        name = groups.get("name") or groups.get("name2")
        if not name or name.lower() in _NOT_NAMES:
            continue
        indent = len((groups.get("indent") or groups.get("indent2") or "").expandtabs(4))
        kind = groups.get("kind")
        label = f"{kind.split()[-1].lower()} {name}" if kind else f"{name}()"
        if indent not in steps:
            steps = sorted([*steps, indent])
        found.append((_with_decorators(source, match.start()), steps.index(indent) + 1, label))
    return found


_COMMENT = re.compile(r"^[ \t]*(?:\"\"\"|'''|//+|/\*+|#+!?|--|\*)[ \t]*(?P<text>.*?)[ \t]*(?:\"\"\"|'''|\*/)?[ \t]*$")


def code_title(source: str) -> str | None:
    """The first line of a file's opening comment or docstring, without its marks, if the
    file opens with one (after a shebang or encoding line)."""
    for line in source[:2000].splitlines()[:6]:
        if not line.strip() or line.startswith("#!") or "coding" in line[:30]:
            continue
        match = _COMMENT.match(line)
        text = match.group("text").strip() if match else ""
        return text[:200] or None
    return None


def _with_decorators(source: str, start: int) -> int:
    """`start` moved up over the decorator or attribute lines (`@...`, `#[...]`, `[...]`)
    written directly above the definition."""
    while start > 0:
        above = source.rfind("\n", 0, start - 1) + 1
        line = source[above:start - 1].strip()
        if not line.startswith(("@", "#[", "[")):
            break
        start = above
    return start
