"""Killed runs (SIGKILL, the CLI as a real subprocess) and two runs started at once.

Night 1 runs clean. Night 2 (new delta files, a corrected line, payments, as-of moved on)
is killed at one point, then run again; the result must equal an uninterrupted night 2 in
every silver and gold row, with no bronze row duplicated or lost.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from receivables import io
from receivables.generate import generate
from receivables.ops.faults import ENV
from tests.e2e.conftest import ROOT, TEST_CONF, run_cli
from tests.e2e.nights import _write

pytestmark = pytest.mark.e2e

NIGHT1, NIGHT2 = "2024-06-30", "2024-07-01"
TABLES = [
    *(("bronze", t) for t in ("accounts", "skus", "invoices", "invoice_line_items", "payments")),
    *(("silver", t) for t in ("accounts", "skus", "invoices", "invoice_line_items", "payments", "quarantine")),
    ("gold", "invoice_aging"), ("gold", "account_receivables"), ("gold", "account_receivables_history"),
    ("ops", "file_manifest"),
]
LINEAGE = ("run_id", "_run_id", "updated_at", "_updated_at", "_ingested_at", "snapshot_at",
           "quarantined_at", "recorded_at", "modified_ns")


# The processes' JVMs can start no Python worker (its module does not exist): a run builds
# every frame inside the JVM (io.local_frame), so a task that needed Python would fail the
# run, and a cluster's executors need no Python.
NO_PYTHON_WORKER = "--conf spark.python.daemon.module=receivables_runs_no_python_worker pyspark-shell"


def _env(fault: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != ENV}
    env["PYSPARK_SUBMIT_ARGS"] = NO_PYTHON_WORKER
    if fault:
        env[ENV] = fault
    return env


def cli(*args: str, fault: str | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """`receivables …` as its own process (own session, so a kill takes only it and its JVM)."""
    return subprocess.run(
        [sys.executable, "-m", "receivables.cli", *args, "--conf", TEST_CONF],
        cwd=ROOT, env=_env(fault), capture_output=True, text=True, timeout=timeout, start_new_session=True,
    )


def _rows(spark, path: Path) -> list[str]:
    df = io.read(spark, str(path))
    if path.name == "file_manifest":  # which files bronze holds; a killed run's file is `recovered`
        df = (df.filter(F.col("action").isin("ingested", "recovered"))
              .withColumn("action", F.lit("ingested")).drop(*LINEAGE).distinct())
    keep = [c for c in df.columns if c not in LINEAGE]
    return sorted(repr(tuple(r)) for r in df.select(*keep).collect())


def state(spark, out: Path, prefixes: tuple[str, ...] = ("",)) -> dict[str, list[str]]:
    """Every row of every table (of those whose names start with one of ``prefixes``),
    lineage columns aside (run ids differ between runs)."""
    return {f"{layer}.{t}": _rows(spark, out / layer / t) for layer, t in TABLES
            if f"{layer}.{t}".startswith(prefixes)}


@pytest.fixture(scope="module")
def scene(spark, tmp_path_factory):
    base = tmp_path_factory.mktemp("faults")
    data1, data2 = base / "data1", base / "data2"
    generate(data1, invoices=200, accounts=15, skus=20, seed=5, start=dt.date(2024, 1, 1), days=180)
    shutil.copytree(data1, data2)
    with (data1 / "invoice_line_items.csv").open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        first_line = next(reader)
    _write(data2 / "invoices" / "night2.csv", ["invoice_id", "account_id", "date_issued"],
                [[9001, 1, "2024-07-01"], [9002, 2, "2024-06-20"]])
    _write(data2 / "invoice_line_items" / "night2.csv", ["invoice_id", "item_id", "quantity"],
                [[9001, first_line[1], 3], [9002, first_line[1], 1],
                 [first_line[0], first_line[1], int(first_line[2]) + 2]])
    _write(data2 / "payments" / "night2.csv", ["payment_id", "invoice_id", "payment_date", "amount"],
                [[99001, 9002, "2024-07-01", "5.00"], [99002, int(first_line[0]), "2024-06-30", "1.00"]])

    night1 = base / "night1"
    assert run_cli("run", "--input-dir", str(data1), "--output-dir", str(night1), "--as-of", NIGHT1) == 0
    reference = base / "reference"
    shutil.copytree(night1, reference)
    assert run_cli("run", "--input-dir", str(data2), "--output-dir", str(reference), "--as-of", NIGHT2) == 0
    return {"base": base, "data2": data2, "night1": night1, "expected": state(spark, reference)}




# Each night-2 attempt is SIGKILLed in the middle of a write (its data files written, its
# commit not), one stage later than the one before; every attempt must first finish what
# the previous one left, so the layers before its own kill point already equal an
# uninterrupted night 2. A kill after each single commit of a night is covered in process
# (tests/e2e/test_kills_and_disks.py); these are the real process deaths, JVM included.
FAULTS = [
    ("during:bronze.invoice_line_items", "bronze", "invoice_line_items", ()),
    ("during:gold.invoice_aging", "gold", "invoice_aging", ("bronze.", "silver.", "ops.file_manifest")),
]


def _subset(state_: dict[str, list[str]], prefixes: tuple[str, ...]) -> dict[str, list[str]]:
    return {k: v for k, v in state_.items() if k.startswith(prefixes)}


def _started_together(args: list[str], fault: str) -> list[tuple[subprocess.CompletedProcess, float]]:
    """Two `receivables run` processes started at once, both with ``fault`` set; each as
    it ended, with the seconds it took."""
    env = _env(fault)
    command = [sys.executable, "-m", "receivables.cli", *args, "--conf", TEST_CONF]
    started = time.monotonic()
    procs = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, start_new_session=True) for _ in range(2)]
    finished: dict[int, tuple[subprocess.CompletedProcess, float]] = {}
    while len(finished) < 2:
        for i, p in enumerate(procs):
            if i not in finished and p.poll() is not None:
                elapsed = time.monotonic() - started
                finished[i] = (subprocess.CompletedProcess(command, p.returncode, *p.communicate()), elapsed)
        time.sleep(0.05)
    return list(finished.values())


def test_killed_runs_converge_and_a_concurrent_start_exits_at_once(spark, scene):
    out = scene["base"] / "killed"
    shutil.copytree(scene["night1"], out)
    args = ["run", "--input-dir", str(scene["data2"]), "--output-dir", str(out), "--as-of", NIGHT2]
    expected = scene["expected"]

    for n, (fault, layer, table, converged) in enumerate(FAULTS):
        before = io.version(spark, str(out / layer / table))
        if n < len(FAULTS) - 1:
            killed = cli(*args, fault=fault)
        else:
            # The last attempt is started twice at once: one process takes the lock (and is
            # killed), the other exits at once with a clear message, before Spark starts.
            both = _started_together(args, fault)
            (loser, lost_after), (killed, killed_after) = sorted(both, key=lambda f: f[0].returncode != 4)
            assert loser.returncode == 4 and "another run holds the lock" in loser.stderr, both  # 4: locked
            assert lost_after < killed_after, both
        assert killed.returncode == -signal.SIGKILL, (fault, killed.stderr[-2000:])
        # killed while writing: its data files are there, its commit is not
        assert io.version(spark, str(out / layer / table)) == before, fault
        if converged:  # only the tables that must already equal the uninterrupted night are read
            assert state(spark, out, converged) == _subset(expected, converged), fault
        statuses = [r.status for r in io.read(spark, str(out / "ops" / "run_log")).collect()]
        assert "failed" not in statuses and statuses.count("succeeded") == 1, (fault, statuses)

    # The run after the last kill finishes the night (in this process: what is tested here
    # is what the killed processes left, and that the lock they held went with them).
    spark.catalog.clearCache()
    assert run_cli(*args) == 0
    assert state(spark, out) == expected  # no row duplicated or lost anywhere
    log = io.read(spark, str(out / "ops" / "run_log"))
    statuses = sorted(r.status for r in log.collect())
    # night 1, the two killed attempts (each had committed something), the finishing run
    assert statuses == ["abandoned"] * 2 + ["succeeded"] * 2, statuses
    abandoned = log.filter(F.col("status") == "abandoned")
    # the second attempt committed silver, then died inside gold's first MERGE
    assert abandoned.filter(F.col("table_versions")["silver.invoices"].isNotNull()).count() == 1
    assert abandoned.filter(F.col("table_versions")["gold.invoice_aging"].isNotNull()).count() == 0
