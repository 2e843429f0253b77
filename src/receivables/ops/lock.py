"""One writer per output directory, guarded by an OS-level lock.

Delta on a local filesystem does not make concurrent writer processes safe (its
check-then-rename is not atomic across processes), so a second run on the same output
exits at once. On object stores use a multi-writer log store (see docs/deploy.md); this
lock covers local and mounted paths.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlparse

from receivables.errors import RunLockedError

LOCK_NAME = ".receivables.lock"


def local_path(uri: str) -> str | None:
    """The local filesystem path of ``uri``, or None for a remote URI."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return parsed.path if parsed.scheme else uri
    return None


_held: dict[str, int] = {}  # lock files this process holds, with nesting depth


@contextmanager
def run_lock(output_dir: str) -> Iterator[None]:
    """Hold the output's lock for the body; re-entrant within one process (the CLI takes it
    before starting Spark, so a second run exits at once, and the pipeline takes it again)."""
    path = local_path(output_dir)
    if path is None:
        yield
        return
    lock_file = os.path.join(os.path.abspath(path), LOCK_NAME)
    if lock_file in _held:
        _held[lock_file] += 1
        try:
            yield
        finally:
            _held[lock_file] -= 1
        return
    os.makedirs(path, exist_ok=True)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunLockedError(
                f"another run holds the lock on {output_dir} ({LOCK_NAME}); "
                "wait for it to finish, then run again"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        _held[lock_file] = 1
        try:
            yield
        finally:
            del _held[lock_file]
    finally:
        os.close(fd)
