"""The one atomic file writer: write beside the target, then rename over it.

A reader (or a resumed run after a kill) sees the old file or the new one, never
half of one: `os.replace` is atomic on POSIX and Windows within one filesystem.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def atomic_write(path: str | Path, data: str | bytes) -> Path:
    """Writes `data` (text is UTF-8) to `path` atomically and returns the path."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def atomic_write_json(path: str | Path, value) -> Path:
    """`value` as indented JSON, written atomically."""
    return atomic_write(path, json.dumps(value, indent=1))
