"""`make bench-nights`: many nights in a row on one output, to see whether a night's cost
grows with the number of nights before it (it should follow the change, not the history).

A base extract (project generator), a full build, then N nights, each a separate
`receivables run` like a scheduled job: its files land in the same input folder
(`<entity>/<day>.csv`), as-of moves one day. Each night has `bench.write_changes`'s
mix (1% of the base by default): new invoices with lines, corrected due dates, payments.
Prints every night's wall time and, at the end, the live files of the tables a night
writes. Nothing is written to docs/: numbers from one run on a shared machine are noisy;
compare runs made one after the other.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import AS_OF, ROOT, Extract, generate, receivables, write_changes  # noqa: E402

TABLES = ["silver.invoices", "silver.invoice_line_items", "silver.payments", "gold.invoice_aging",
          "ops.file_manifest", "ops.run_log"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--invoices", type=int, default=100_000)
    p.add_argument("--nights", type=int, default=22)
    p.add_argument("--changes", type=int, help="changed/new invoices a night (default 1%%)")
    p.add_argument("--work", default=str(ROOT / "output" / "bench_nights"), help="scratch folder")
    p.add_argument("--conf", default=str(ROOT / "conf" / "bench.yaml"))
    a = p.parse_args()
    changes = a.changes or max(a.invoices // 100, 10)
    work = Path(a.work)
    shutil.rmtree(work, ignore_errors=True)
    data, out = work / "data", work / "output"
    generate(data, a.invoices)
    extract = Extract.read(data)

    def run(day: dt.date) -> float:
        started = time.monotonic()
        done = subprocess.run(receivables("run", "--input-dir", str(data), "--output-dir", str(out),
                                          "--as-of", day.isoformat(), conf=a.conf),
                              cwd=ROOT, capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"the run as of {day} failed ({done.returncode}):\n{(done.stdout + done.stderr)[-4000:]}")
        return time.monotonic() - started

    print(f"full build ({a.invoices:,} invoices): {run(AS_OF):.1f} s", flush=True)
    walls = []
    for night in range(1, a.nights + 1):
        day = AS_OF + dt.timedelta(days=night)
        write_changes(extract, data, day, changes, seed=1000 + night)
        walls.append(run(day))
        print(f"night {night:3d} ({day}): {walls[-1]:6.1f} s", flush=True)
    if len(walls) >= 10:
        first, last = walls[:5], walls[-5:]
        print(f"mean of nights 1–5: {sum(first) / 5:.1f} s; of the last five: {sum(last) / 5:.1f} s")
    print(live_files(out, a.conf))
    return 0


def live_files(out: Path, conf: str) -> str:
    """Live data files per table (Delta's own count), from one Spark session after the runs."""
    from delta.tables import DeltaTable

    from receivables.config import load_settings
    from receivables.spark import build_session

    spark = build_session(load_settings(conf))
    try:
        counts = [
            f"{name}: {DeltaTable.forPath(spark, str(out / name.replace('.', '/'))).detail().first()['numFiles']}"
            for name in TABLES
        ]
    finally:
        spark.stop()
    return "live files — " + ", ".join(counts)


if __name__ == "__main__":
    sys.exit(main())
