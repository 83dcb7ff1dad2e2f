"""One writer per run directory: the lock training holds while it writes there.

The lock is an exclusive `flock` on `<run>/lock` (the file name is owned by
`textvae.rundir`), whose text names the holder: `{"pid", "host", "started"}`.
The kernel drops a flock when its process ends in any way, kill -9 and crashes
included, so a lock file whose flock can be taken was left by a process that is
gone: it is taken over with a warning. A second writer is refused at once.

Readers (`sample`, `evaluate`, `encode`, ...) never take it: checkpoints appear
by an atomic rename (`textvae.checkpoints`), so a reader sees whole ones only.
POSIX only (fcntl); where flock is not available the lock is a no-op with a warning.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

from textvae.config import ConfigError
from textvae.files import storage_error

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None


class RunLocked(ConfigError):
    """Another live process holds the run directory's lock."""


def describe_holder(text: str) -> str:
    """'pid 123 on host, started 2026-12-02 15:30:12 UTC' from a lock file's text."""
    try:
        holder = json.loads(text)
        started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(holder["started"]))
        return f"pid {holder['pid']} on {holder['host']}, started {started}"
    except (ValueError, KeyError, TypeError):
        return "an unknown process"


class RunLock:
    """The lock file at `path`; use as a context manager or acquire()/release()."""

    def __init__(self, path: str | Path, log=lambda message: print(message, file=sys.stderr)):
        self.path = Path(path)
        self.log = log
        self.fd: int | None = None

    def acquire(self) -> "RunLock":
        """Takes the lock; RunLocked if a live process holds it (named in the message)."""
        if fcntl is None:
            self.log(f"warning: {self.path}: no file locking on this platform; do not start two "
                     "trainers on one run directory")
            return self
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:  # read-only, no permission, ...
            raise storage_error(e, self.path) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = describe_holder(os.pread(fd, 4096, 0).decode("utf-8", "replace"))
            os.close(fd)
            raise RunLocked(f"{self.path.parent}: another textvae process is training in this run directory "
                            f"({holder}); wait for it or stop it, or use another --workdir") from None
        left = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
        if left:
            self.log(f"warning: {self.path.parent}: took over the lock left by {describe_holder(left)}, "
                     "which is no longer running")
        me = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()})
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, me.encode("utf-8"), 0)
            os.fsync(fd)
        except OSError as e:
            os.close(fd)
            raise storage_error(e, self.path) from None
        self.fd = fd
        return self

    def release(self) -> None:
        """Empties and unlocks the file (an empty lock file is a released one)."""
        if self.fd is None:
            return
        try:
            os.ftruncate(self.fd, 0)
        except OSError:  # e.g. the disk went read-only: the flock still goes with the fd
            pass
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> bool:
        self.release()
        return False
