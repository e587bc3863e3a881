"""Notes that a file was verified, so that a large index is not hashed on every open.

A note records each verified file's size, modification and change times and inode. A file
whose fingerprint still matches was not written since (any write changes ctime, which no
tool can set back), so it is not hashed again. Notes live in `$HUBSEARCH_CACHE/verified/`;
losing them only means hashing again.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any


def fingerprint(path: Path) -> list[int]:
    """Raises OSError (FileNotFoundError) as `Path.stat` does."""
    info = path.stat()
    return [info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino]


def note_path(key: str) -> Path:
    from ..settings import cache_dir

    return cache_dir() / "verified" / f"{key}.json"


def read_note(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def write_note(path: Path, fingerprints: dict[str, Any]) -> None:
    """Best effort: a read-only cache only means hashing again next time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(f"{path.name}.{secrets.token_hex(4)}.part")
        part.write_text(json.dumps(fingerprints), encoding="utf-8")
        os.replace(part, path)
    except OSError:
        pass
