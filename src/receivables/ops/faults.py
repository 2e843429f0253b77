"""Fault injection for the reliability tests: kill this run at a named point.

A run started with ``RECEIVABLES_FAULT=<when>:<point>`` kills itself there with SIGKILL,
taking its whole process group (the Python driver and the Spark JVM) down at once, as a
lost machine or an OOM killer would. ``when`` is:

- ``after``: right after the point completed (e.g. ``after:gold`` — gold committed, no
  run-log row yet);
- ``during``: while the point is writing — as soon as its first data file appears in the
  table's directory, before Delta commits (e.g. ``during:silver.invoices``).

Unset (always, outside tests) each call is one environment lookup. ``during`` watches a
local directory, so it only fires for local output paths.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from receivables.ops.lock import local_path

ENV = "RECEIVABLES_FAULT"
DATA_SUFFIXES = (".parquet", ".bin")


def _armed(when: str, point: str) -> bool:
    return os.environ.get(ENV) == f"{when}:{point}"


def _kill() -> None:
    os.killpg(os.getpgid(0), signal.SIGKILL)


def after(point: str) -> None:
    """Die here if the run was told to die after ``point``."""
    if _armed("after", point):
        _kill()


def _data_files(root: str) -> set[str]:
    found = set()
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != "_delta_log"]
        found.update(os.path.join(folder, f) for f in files if f.endswith(DATA_SUFFIXES))
    return found


@contextmanager
def during(point: str, table_uri: str) -> Iterator[None]:
    """Die while the body writes ``table_uri``, once its first new data file lands."""
    root = local_path(table_uri) if _armed("during", point) else None
    if root is None:
        yield
        return
    before = _data_files(root) if os.path.isdir(root) else set()

    def watch() -> None:
        while True:
            if os.path.isdir(root) and _data_files(root) - before:
                _kill()
            time.sleep(0.001)

    threading.Thread(target=watch, daemon=True).start()
    yield
