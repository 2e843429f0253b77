"""`make bench`: what a night costs against a full rebuild, a plain-Spark baseline and the raw floor.

Everything runs on this machine in one go, each case as its own process, so the ratios
compare like with like (absolute times on shared machines are noise). Peak memory is the
largest resident set of the case's process tree (Python driver + Spark JVM), sampled every
0.2 s. Results are printed and written to docs/benchmarks.md.

Cases:
  (a) full build from the CSVs (first `receivables run` on an empty output)
  (b) a night with ~1% changed/new invoices and payments
  (c) a night with no changes
  (d) the same absolute night as (b) on a 5× base (only with --big)
  (e) baseline: one plain Spark job reading the CSVs and overwriting Parquet every night
  (f) raw floor: Spark reading the same CSVs and writing Parquet, nothing else
  (s) a bare Spark + Delta session start and stop
  (h) the plain job of (e) on the base, through three Delta layers (bronze strings, silver
      typed, gold) with no validation, MERGE or checks: a medallion's floor under (a)
  (g) and (g0): a session that reads and appends one row to as many one-row Delta tables as
      (b) and (c) made commits: what those commits cost with no data behind them
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
AS_OF = dt.date(2024, 12, 31)


@dataclass
class Result:
    name: str
    seconds: float
    peak_mb: float


def _tree_rss_kb(pid: int) -> int:
    """Resident set of a process and all its descendants, from /proc."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            with open(f"/proc/{p}/task/{p}/children") as fh:
                stack.extend(int(c) for c in fh.read().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def measure(name: str, command: list[str], env: dict[str, str] | None = None) -> Result:
    print(f"-- {name}: {' '.join(command[:6])} …", flush=True)
    peak = 0
    started = time.monotonic()
    proc = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.extend(proc.stdout), daemon=True)
    reader.start()
    while proc.poll() is None:
        peak = max(peak, _tree_rss_kb(proc.pid))
        time.sleep(0.2)
    seconds = time.monotonic() - started
    reader.join()
    if proc.returncode != 0:
        sys.exit(f"{name} failed ({proc.returncode}):\n{''.join(out)[-4000:]}")
    result = Result(name, seconds, peak / 1024)
    print(f"   {seconds:8.1f} s   peak {result.peak_mb:8.0f} MB", flush=True)
    return result


def versions(output: Path) -> dict[str, int]:
    """Each Delta table's newest version under ``output``, from its log's file names."""
    return {
        log.parent.relative_to(output).as_posix(): max(int(f.name.split(".")[0]) for f in log.glob("*.json"))
        for log in output.glob("*/*/_delta_log")
    }


def commits_between(before: dict[str, int], after: dict[str, int]) -> int:
    return sum(v - before.get(t, -1) for t, v in after.items())


def receivables(*args: str, conf: str) -> list[str]:
    return [PY, "-m", "receivables.cli", *args, "--conf", conf]


def reference(mode: str, *args: str, conf: str) -> list[str]:
    """A reference job of ``scripts/bench_spark.py`` (no pipeline code)."""
    return [PY, str(ROOT / "scripts" / "bench_spark.py"), mode, *args, "--conf", conf]


def generate(folder: Path, invoices: int) -> None:
    """The project's generator, as every bench script draws its base extract."""
    subprocess.run([PY, "-m", "receivables.cli", "generate", "--dest", str(folder), "--invoices", str(invoices),
                    "--accounts", str(max(invoices // 50, 200)), "--skus", "1000", "--seed", "7"], check=True,
                   cwd=ROOT, stdout=subprocess.DEVNULL)


@dataclass
class Extract:
    """What nights are drawn from: the base extract, and the next free invoice and payment ids."""

    header: list[str]
    invoices: list[list[str]]
    items: list[str]
    accounts: int
    next_invoice: int
    next_payment: int

    @classmethod
    def read(cls, base: Path) -> Extract:
        with (base / "skus.csv").open(encoding="utf-8", newline="") as fh:
            items = [r[0] for r in list(csv.reader(fh))[1:]]
        with (base / "invoices.csv").open(encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader)
            invoices = list(reader)
        with (base / "payments.csv").open(encoding="utf-8", newline="") as fh:
            next(fh)
            payments = sum(1 for _ in fh)
        return cls(header, invoices, items, max(int(r[1]) for r in invoices),
                   max(int(r[0]) for r in invoices) + 1, payments + 1)


def write_night(base: Path, night: Path, changes: int, seed: int = 99) -> dict[str, int]:
    """``base`` copied to ``night`` plus one night of changes (as-of + 1 day)."""
    shutil.copytree(base, night)
    return write_changes(Extract.read(base), night, AS_OF + dt.timedelta(days=1), changes, seed)


def write_changes(ex: Extract, folder: Path, day: dt.date, changes: int, seed: int) -> dict[str, int]:
    """One night's files in ``folder/<entity>/<day>.csv``: new invoices with lines, invoices
    re-delivered with a corrected due date (a different one each night), new payments."""
    import random

    rng = random.Random(seed)
    n_new = changes // 2
    shift = 44 + (day - AS_OF).days  # 45 days after issue on the first night

    def writer(entity: str, head: list[str]):
        (folder / entity).mkdir(exist_ok=True)
        fh = (folder / entity / f"{day}.csv").open("w", encoding="utf-8", newline="")
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(head)
        return fh, w

    fh, w = writer("invoices", ex.header)
    lfh, lw = writer("invoice_line_items", ["invoice_id", "item_id", "quantity"])
    for invoice_id in range(ex.next_invoice, ex.next_invoice + n_new):
        w.writerow([invoice_id, rng.randint(1, ex.accounts), day.isoformat(), "", ""])
        for item in rng.sample(ex.items, rng.randint(1, 10)):
            lw.writerow([invoice_id, item, rng.randint(1, 5)])
    ex.next_invoice += n_new
    for row in rng.sample(ex.invoices, changes - n_new):  # a corrected due date
        issued = dt.date.fromisoformat(row[2])
        w.writerow([row[0], row[1], row[2], (issued + dt.timedelta(days=shift)).isoformat(), row[4]])
    fh.close()
    lfh.close()
    pfh, pw = writer("payments", ["payment_id", "invoice_id", "payment_date", "amount"])
    for i, row in enumerate(rng.sample(ex.invoices, changes), start=ex.next_payment):
        pw.writerow([i, row[0], day.isoformat(), "1.00"])
    ex.next_payment += changes
    pfh.close()
    return {"new_invoices": n_new, "changed_invoices": changes - n_new, "new_payments": changes}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--invoices", type=int, default=1_000_000)
    p.add_argument("--changes", type=int, help="changed/new invoices in the night (default 1%%)")
    p.add_argument("--big", action="store_true", help="also run (d): the same night on a 5× base")
    p.add_argument("--work", default=str(ROOT / "output" / "bench"), help="scratch folder")
    p.add_argument("--conf", default=str(ROOT / "conf" / "bench.yaml"))
    p.add_argument("--report", default=str(ROOT / "docs" / "benchmarks.md"))
    p.add_argument("--keep-full-build", action="store_true",
                   help="copy the output after (a) to <work>/output_after_full, to profile a night again")
    a = p.parse_args()
    changes = a.changes or max(a.invoices // 100, 10)
    work = Path(a.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    results: dict[str, Result] = {}

    def dataset(n: int, name: str) -> Path:
        folder = work / name
        started = time.monotonic()
        generate(folder, n)
        size = sum(f.stat().st_size for f in folder.iterdir()) / 2**20
        print(f"-- generated {n:,} invoices ({size:,.0f} MB) in {time.monotonic() - started:.0f} s", flush=True)
        return folder

    base = dataset(a.invoices, "data")
    night = work / "data_night"
    night_rows = write_night(base, night, changes)
    out = work / "output"
    as_of, next_day = AS_OF.isoformat(), (AS_OF + dt.timedelta(days=1)).isoformat()

    # One untimed session first: the first JVM after a boot reads the jars from disk, and
    # (s), measured first, would pay for it alone.
    subprocess.run(reference("session", conf=a.conf), check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    results["s"] = measure("(s) bare Spark + Delta session", reference("session", conf=a.conf))
    results["f"] = measure("(f) raw floor: CSV → Parquet", reference(
        "floor", "--input", str(base), "--out", str(work / "floor"), conf=a.conf))
    results["e"] = measure("(e) baseline: plain job, overwrite Parquet", reference(
        "baseline", "--input", str(night), "--out", str(work / "baseline"), "--as-of", next_day, conf=a.conf))
    results["h"] = measure("(h) the plain job through three Delta layers", reference(
        "layers", "--input", str(base), "--out", str(work / "layers"), "--as-of", as_of, conf=a.conf))
    results["a"] = measure("(a) full build", receivables("run", "--input-dir", str(base), "--output-dir", str(out),
                                                         "--as-of", as_of, conf=a.conf))
    if a.keep_full_build:
        shutil.copytree(out, work / "output_after_full")
    built = versions(out)
    results["b"] = measure("(b) 1% night", receivables("run", "--input-dir", str(night), "--output-dir", str(out),
                                                       "--as-of", next_day, conf=a.conf))
    after_b = versions(out)
    results["c"] = measure("(c) no-change night", receivables("run", "--input-dir", str(night), "--output-dir",
                                                              str(out), "--as-of", next_day, conf=a.conf))
    n_b, n_c = commits_between(built, after_b), commits_between(after_b, versions(out))
    floor_tables = work / "commits"

    def commits(n: int, *extra: str) -> list[str]:
        return reference("commits", "--out", str(floor_tables), "--tables", str(n), *extra, conf=a.conf)

    subprocess.run(commits(max(n_b, n_c), "--setup"), check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    results["g0"] = measure(f"(g0) {n_c} one-row Delta commits, as (c) made", commits(n_c))
    results["g"] = measure(f"(g) {n_b} one-row Delta commits, as (b) made", commits(n_b))
    if a.big:
        big = dataset(a.invoices * 5, "data_big")
        big_night = work / "data_big_night"
        write_night(big, big_night, changes)
        big_out = work / "output_big"
        results["a5"] = measure("(a5) full build, 5× base", receivables(
            "run", "--input-dir", str(big), "--output-dir", str(big_out), "--as-of", as_of, conf=a.conf))
        results["d"] = measure("(d) the same night on the 5× base", receivables(
            "run", "--input-dir", str(big_night), "--output-dir", str(big_out), "--as-of", next_day, conf=a.conf))

    report(a, results, night_rows, changes)
    return 0


def report(a, results: dict[str, Result], night_rows: dict[str, int], changes: int) -> None:
    r = results
    ratios = [
        ("(b)/(a) night vs full build", r["b"].seconds / r["a"].seconds, "≤ 0.25"),
        ("(b)/(e) night vs plain overwrite job", r["b"].seconds / r["e"].seconds, "≤ 0.6"),
        ("(c)/(s) no-change night vs bare session", r["c"].seconds / r["s"].seconds, "≤ 1.5"),
        ("(a)/(f) full build vs raw floor", r["a"].seconds / r["f"].seconds, "≤ 2.5"),
    ]
    ratios += [
        ("(h)/(f) floor under (a)/(f): three Delta layers, nothing else", r["h"].seconds / r["f"].seconds,
         "(≤ 2.5)"),
        ("(g)/(e) floor under (b)/(e): the night's commits alone", r["g"].seconds / r["e"].seconds, "(≤ 0.6)"),
        ("(g0)/(s) floor under (c)/(s): the no-change run's commits alone", r["g0"].seconds / r["s"].seconds,
         "(≤ 1.5)"),
    ]
    if "d" in r:
        ratios.append(("(d)/(b) same night on 5× base", r["d"].seconds / r["b"].seconds, "≤ 1.3"))
    night = ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in night_rows.items())
    lines = [
        f"Run of {dt.date.today()} — {a.invoices:,} invoices, night of {changes:,} changes",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GB RAM, "
        f"Python {platform.python_version()}; conf `{Path(a.conf).name}`. "
        f"Night: {night}.",
        "",
        "| case | wall s | peak MB |",
        "|---|---:|---:|",
        *[f"| {x.name} | {x.seconds:.1f} | {x.peak_mb:.0f} |" for x in results.values()],
        "",
        "| ratio | measured | target |",
        "|---|---:|---|",
        *[f"| {name} | {value:.2f} | {target} |" for name, value, target in ratios],
        "",
    ]
    text = "\n".join(lines)
    print("\n" + text)
    path = Path(a.report)
    start, end = "<!-- bench results: latest -->", "<!-- end of latest results -->"
    page = path.read_text(encoding="utf-8")
    if start in page and end in page:
        page = page[: page.index(start) + len(start)] + "\n" + text + "\n" + page[page.index(end):]
        path.write_text(page, encoding="utf-8")
        print(f"latest results written to {path}")
    history = path.with_name("bench-history.jsonl")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    entry = {
        "date": dt.date.today().isoformat(), "commit": commit.stdout.strip() or None,
        "label": f"{a.invoices:,} invoices", "scope": f"{a.invoices:,} invoices, night of {changes:,} changes",
        "cases": [
            {"case": x.name, "seconds": round(x.seconds, 1), "peak_mb": round(x.peak_mb)} for x in results.values()
        ],
        "ratios": [{"ratio": name, "measured": round(value, 2), "target": target} for name, value, target in ratios],
    }
    with history.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
    print(f"appended to {history}")


if __name__ == "__main__":
    sys.exit(main())
