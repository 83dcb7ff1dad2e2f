"""Writing files safely: the one atomic writer, whole-line appends, and the error a
full, read-only or missing disk gives.

A reader (or a resumed run after a kill) sees the old file or the new one, never
half of one: `os.replace` is atomic on POSIX and Windows within one filesystem.
Every failed write is a `StorageError` that names the file and the cause ("no
space left on device writing <file>") and leaves no temporary file behind.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path


class StorageError(Exception):
    """A write the disk refused (full, read-only, not a directory, no permission)."""


_CAUSES = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded",
           errno.EROFS: "read-only file system", errno.EACCES: "permission denied",
           errno.ENOTDIR: "a parent is not a directory"}


def storage_error(error: OSError, path: str | Path) -> StorageError:
    """The StorageError for `error` raised while writing `path`."""
    cause = _CAUSES.get(error.errno, error.strerror or str(error))
    return StorageError(f"{cause} writing {path}")


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
    except OSError as e:
        raise storage_error(e, path) from None
    finally:
        try:
            tmp.unlink()
        except OSError:
            pass
    return path


def atomic_write_json(path: str | Path, value) -> Path:
    """`value` as indented JSON, written atomically."""
    return atomic_write(path, json.dumps(value, indent=1))


def append_line(path: str | Path, line: str) -> None:
    """Appends `line` and a newline in one write; a failed or short write is cut back off,
    so the file never ends in half a line."""
    data = (line + "\n").encode("utf-8")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as e:
        raise storage_error(e, path) from None
    try:
        size = os.fstat(fd).st_size
        try:
            written = os.write(fd, data)
            if written != len(data):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError as e:
            try:
                os.ftruncate(fd, size)
            except OSError:
                pass
            raise storage_error(e, path) from None
    finally:
        os.close(fd)
