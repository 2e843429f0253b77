"""Fault injection for the reliability tests: kill this run at a named point.

A run started with ``RECEIVABLES_FAULT=<when>:<point>`` kills itself there with SIGKILL,
taking its whole process group (the Python driver and the Spark JVM) down at once, as a
lost machine or an OOM killer would. ``when`` is:

- ``after``: right after the point completed (e.g. ``after:gold`` — gold committed, no
  run-log row yet);
- ``during``: while the point is writing — as soon as its first data file appears in the
  table's directory, before Delta commits (e.g. ``during:silver.invoices``).

``after:commit:N`` dies right after the run's N-th Delta commit, whichever table it is:
looping N over every commit a run makes reaches every state a killed run can leave
(a kill between two commits leaves the same tables, plus orphan data files Delta ignores).
With ``RECEIVABLES_FAULT_MODE=raise`` the run raises ``Killed`` instead (a BaseException
no handler of the run catches), so a test can kill a run inside its own process.

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
MODE_ENV = "RECEIVABLES_FAULT_MODE"
DATA_SUFFIXES = (".parquet", ".bin")
_COMMIT = "after:commit:"
_commits = [0]  # Delta commits of the current run (see ``committed``)


class Killed(BaseException):  # noqa: N818  (a kill, not an error)
    """The in-process stand-in for SIGKILL: skips every ``except Exception`` of the run."""


def _armed(when: str, point: str) -> bool:
    return os.environ.get(ENV) == f"{when}:{point}"


def _kill() -> None:
    if os.environ.get(MODE_ENV) == "raise":
        raise Killed(os.environ.get(ENV, ""))
    os.killpg(os.getpgid(0), signal.SIGKILL)


def start_run() -> None:
    """A run begins: its commits are counted from one."""
    _commits[0] = 0


def committed() -> None:
    """Called after every Delta commit a run makes; dies after the armed one."""
    spec = os.environ.get(ENV)
    if not spec or not spec.startswith(_COMMIT):
        return
    _commits[0] += 1
    if _commits[0] == int(spec[len(_COMMIT):]):
        _kill()


def after(point: str) -> None:
    """Die here if the run was told to die after ``point``."""
    if _armed("after", point):
        _kill()


def _data_files(root: str) -> set[str]:
    found: set[str] = set()
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
