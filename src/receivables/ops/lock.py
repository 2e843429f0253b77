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


@contextmanager
def run_lock(output_dir: str) -> Iterator[None]:
    path = local_path(output_dir)
    if path is None:
        yield
        return
    os.makedirs(path, exist_ok=True)
    fd = os.open(os.path.join(path, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o644)
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
        yield
    finally:
        os.close(fd)
