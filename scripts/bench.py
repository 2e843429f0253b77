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
  (m) (b)'s night on (h)'s tables with the least work a Delta night can do: the night's
      files appended to bronze, MERGEd or appended into silver, the touched and open
      invoices aged again and MERGEd into gold, their accounts MERGEd; one commit per table,
      no validation, lineage or checks: any Delta pipeline's floor under (b)
  (g) and (g0): a session that reads and appends one row to as many one-row Delta tables as
      (b) and (c) made commits: what those commits cost with no data behind them
  (b0) the night's every step on a book of 10,000 invoices (a night of 100 changes after an
      untimed full build): what the night's Spark and Delta operations cost with almost no
      data behind them, the pipeline's own floor under (b)

The two ratios of short cases, (s)/(s0) and (c)/(g0), are the median of ``--pairs`` pairs
(3 by default): the pair measured with the other cases, then the same two commands again,
one right after the other, at the end of the run (each further (c) on a fresh copy of the
output as (b) left it). A few seconds of machine noise move a ratio of 5 or 20 s cases by
more than the targets' margins; pairs run back to back share the machine's state.

The book: by default a realistic one (`receivables generate --paid-share 0.97`, four years
of invoices up to the as-of date: ~4 % open); its nights correct and pay recent invoices,
as a billing system's re-deliveries do. `--worst-case` keeps the earlier shape (one year,
~40 % open and past due; corrections and payments anywhere in the book).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import shutil
import statistics
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


LOGS: list[Path] = []  # where each case's output is kept (set by main: <work>/logs)


def measure(name: str, command: list[str], env: dict[str, str] | None = None) -> Result:
    """Run ``command`` as case ``name`` and time it; its output goes to ``<work>/logs/<case>.log``
    (a run's step lines: where a case's time went)."""
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
    if LOGS:
        case = name.split(")")[0].lstrip("(")
        (LOGS[0] / f"{case}.log").write_text("".join(out), encoding="utf-8")
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


def with_jit(conf: str, mode: str, target: Path) -> str:
    """A copy of the configuration ``conf`` with every command's JIT (``spark.jit``) ``mode``."""
    import yaml

    from receivables.config import effective

    commands = effective()["spark"]["jit"]
    raw = yaml.safe_load(Path(conf).read_text(encoding="utf-8")) or {}
    raw.setdefault("spark", {})["jit"] = {command: mode for command in commands}
    target.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return str(target)


def receivables(*args: str, conf: str) -> list[str]:
    return [PY, "-m", "receivables.cli", *args, "--conf", conf]


def reference(mode: str, *args: str, conf: str) -> list[str]:
    """A reference job of ``scripts/bench_spark.py`` (no pipeline code)."""
    return [PY, str(ROOT / "scripts" / "bench_spark.py"), mode, *args, "--conf", conf]


TINY = 10_000  # the book of (b0)
REAL_YEARS = 4  # a realistic book spans years: the open share is the payment window over the span


def generate(folder: Path, invoices: int, worst_case: bool = False) -> None:
    """The project's generator, as every bench script draws its base extract: invoices up
    to the as-of date (one year of them for the worst case, four for a realistic book)."""
    days = 365 if worst_case else 365 * REAL_YEARS + 1
    start = AS_OF - dt.timedelta(days=days - 1)
    shape = ["--worst-case"] if worst_case else ["--paid-share", "0.97"]
    subprocess.run([PY, "-m", "receivables.cli", "generate", "--dest", str(folder), "--invoices", str(invoices),
                    "--accounts", str(max(invoices // 50, 200)), "--skus", "1000", "--seed", "7",
                    "--start", start.isoformat(), "--days", str(days), *shape], check=True,
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


def write_night(base: Path, night: Path, changes: int, seed: int = 99,
                recent_days: int | None = None) -> dict[str, int]:
    """``base`` copied to ``night`` plus one night of changes (as-of + 1 day)."""
    shutil.copytree(base, night)
    return write_changes(Extract.read(base), night, AS_OF + dt.timedelta(days=1), changes, seed, recent_days)


def landing(base: Path, folder: Path) -> Path:
    """The input folder a scheduled job reads: ``base``'s files, hard-linked into ``folder``."""
    shutil.copytree(base, folder, copy_function=os.link)
    return folder


def deliver(night: Path, folder: Path) -> None:
    """The night's new files land in ``folder`` beside the files already there, as a billing
    system delivers them (hard links to those under ``night``). A night must read the folder
    its full build read: a file at a path the output has not seen is checked and hashed
    again (at 10,000,000 invoices, 1.9 GB of them took a night from ~230 to ~330 s)."""
    for f in sorted(night.rglob("*")):
        target = folder / f.relative_to(night)
        if f.is_file() and not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(f, target)


RECENT_DAYS = 90  # a realistic night corrects and pays invoices issued in the last 90 days


def write_changes(ex: Extract, folder: Path, day: dt.date, changes: int, seed: int,
                  recent_days: int | None = None) -> dict[str, int]:
    """One night's files in ``folder/<entity>/<day>.csv``: new invoices with lines, invoices
    re-delivered with a corrected due date (a different one each night), new payments.
    With ``recent_days`` the corrected and paid invoices are drawn from those issued in the
    last ``recent_days`` days before ``day``, else from the whole book."""
    import random

    rng = random.Random(seed)
    pool = ex.invoices
    if recent_days is not None:
        since = (day - dt.timedelta(days=recent_days)).isoformat()
        pool = [r for r in ex.invoices if r[2] >= since]
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
    for row in rng.sample(pool, changes - n_new):  # a corrected due date
        issued = dt.date.fromisoformat(row[2])
        w.writerow([row[0], row[1], row[2], (issued + dt.timedelta(days=shift)).isoformat(), row[4]])
    fh.close()
    lfh.close()
    pfh, pw = writer("payments", ["payment_id", "invoice_id", "payment_date", "amount"])
    for i, row in enumerate(rng.sample(pool, changes), start=ex.next_payment):
        pw.writerow([i, row[0], day.isoformat(), "1.00"])
    ex.next_payment += changes
    pfh.close()
    return {"new_invoices": n_new, "changed_invoices": changes - n_new, "new_payments": changes}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--invoices", type=int, default=1_000_000)
    p.add_argument("--changes", type=int, help="changed/new invoices in the night (default 1%%)")
    p.add_argument("--big", action="store_true", help="also run (d): the same night on a 5× base")
    p.add_argument("--worst-case", action="store_true",
                   help="the earlier book: one year, ~40%% open and past due, changes anywhere in the book")
    p.add_argument("--huge", action="store_true",
                   help="10× the invoices (10,000,000 by default), 6 GB driver: (s), (e), (h), (m), (a), (b), (c) only")
    p.add_argument("--jit-compare", action="store_true",
                   help="then (s), (a), (b), (c) again with the C1-only JIT (spark.jit.default: c1)")
    p.add_argument("--work", default=str(ROOT / "output" / "bench"), help="scratch folder")
    p.add_argument("--conf", default=str(ROOT / "conf" / "bench.yaml"))
    p.add_argument("--report", default=str(ROOT / "docs" / "benchmarks.md"))
    p.add_argument("--pairs", type=int, default=3,
                   help="pairs behind the medians of (s)/(s0) and (c)/(g0) (1: the single run's ratios)")
    p.add_argument("--keep-full-build", action="store_true",
                   help="copy the output after (a) to <work>/output_after_full, to profile a night again")
    a = p.parse_args()
    if a.huge:
        a.invoices *= 10
        a.conf = str(ROOT / "conf" / "bench-huge.yaml")
    changes = a.changes or max(a.invoices // 100, 10)
    work = Path(a.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    LOGS.append(work / "logs")
    LOGS[0].mkdir()
    results: dict[str, Result] = {}
    pairs: dict[str, list[tuple[Result, Result]]] = {}  # ratio -> (numerator, denominator) measured together

    def dataset(n: int, name: str) -> Path:
        folder = work / name
        started = time.monotonic()
        generate(folder, n, a.worst_case)
        size = sum(f.stat().st_size for f in folder.iterdir()) / 2**20
        print(f"-- generated {n:,} invoices ({size:,.0f} MB) in {time.monotonic() - started:.0f} s", flush=True)
        return folder

    recent = None if a.worst_case else RECENT_DAYS
    base = dataset(a.invoices, "data")
    night = work / "data_night"
    night_rows = write_night(base, night, changes, recent_days=recent)
    out = work / "output"
    as_of, next_day = AS_OF.isoformat(), (AS_OF + dt.timedelta(days=1)).isoformat()

    # One untimed session first: the first JVM after a boot reads the jars from disk, and
    # (s), measured first, would pay for it alone.
    session = reference("session", conf=a.conf)  # (s) and (s0), and their further pairs
    subprocess.run(session, check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    results["s"] = measure("(s) bare Spark + Delta session (class archive, the configured default JIT)",
                           session)
    results["s0"] = measure("(s0) bare session, plain JVM (no class archive)", session,
                            env={"RECEIVABLES_CDS": "off"})
    if not a.huge:
        results["f"] = measure("(f) raw floor: CSV → Parquet", reference(
            "floor", "--input", str(base), "--out", str(work / "floor"), conf=a.conf))
    results["e"] = measure("(e) baseline: plain job, overwrite Parquet", reference(
        "baseline", "--input", str(night), "--out", str(work / "baseline"), "--as-of", next_day, conf=a.conf))
    results["h"] = measure("(h) the plain job through three Delta layers", reference(
        "layers", "--input", str(base), "--out", str(work / "layers"), "--as-of", as_of, conf=a.conf))
    results["m"] = measure("(m) the least Delta night: (b)'s files through (h)'s layers, 8 commits", reference(
        "night", "--input", str(night), "--day", next_day, "--out", str(work / "layers"), "--as-of", next_day,
        conf=a.conf))

    def inbox_of(tag: str) -> Path:
        """The input folder nights() of ``tag`` reads."""
        return work / f"input{tag}"

    after_b = work / "output_after_b"  # the output as (b) left it: where each further (c) starts

    def nights(out: Path, conf: str, tag: str = "") -> tuple[int, int]:
        """(a), (b), (c) on ``out``; returns the commits (b) and (c) made."""
        inbox = landing(base, inbox_of(tag))
        results["a" + tag] = measure(f"(a{tag}) full build", receivables(
            "run", "--input-dir", str(inbox), "--output-dir", str(out), "--as-of", as_of, conf=conf))
        if a.keep_full_build and not tag:
            shutil.copytree(out, work / "output_after_full")
        built = versions(out)
        deliver(night, inbox)
        results["b" + tag] = measure(f"(b{tag}) 1% night", receivables(
            "run", "--input-dir", str(inbox), "--output-dir", str(out), "--as-of", next_day, conf=conf))
        versions_after_b = versions(out)
        if a.pairs > 1 and not tag and not a.huge:
            shutil.copytree(out, after_b)
        results["c" + tag] = measure(f"(c{tag}) no-change night", receivables(
            "run", "--input-dir", str(inbox), "--output-dir", str(out), "--as-of", next_day, conf=conf))
        return commits_between(built, versions_after_b), commits_between(versions_after_b, versions(out))

    n_b, n_c = nights(out, a.conf)
    book = book_shape(out, a.conf)
    if a.jit_compare:
        tiered, c1 = with_jit(a.conf, "tiered", work / "tiered.yaml"), with_jit(a.conf, "c1", work / "c1.yaml")
        results["sT"] = measure("(sT) bare session, tiered JIT", reference("session", conf=tiered))
        results["s1"] = measure("(s1) bare session, C1-only JIT", reference("session", conf=c1))
        nights(work / "output_c1", c1, "1")
    if a.huge:
        report(a, results, night_rows, changes, book)
        return 0
    floor_tables = work / "commits"

    def commits(n: int, *extra: str) -> list[str]:
        return reference("commits", "--out", str(floor_tables), "--tables", str(n), *extra, conf=a.conf)

    subprocess.run(commits(max(n_b, n_c), "--setup"), check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    results["g0"] = measure(f"(g0) {n_c} one-row Delta commits, as (c) made", commits(n_c))
    results["g"] = measure(f"(g) {n_b} one-row Delta commits, as (b) made", commits(n_b))
    pairs["(s)/(s0)"] = [(results["s"], results["s0"])]
    pairs["(c)/(g0)"] = [(results["c"], results["g0"])]
    tiny = dataset(TINY, "data_tiny")
    tiny_night = work / "data_tiny_night"
    write_night(tiny, tiny_night, TINY // 100, recent_days=recent)
    tiny_out, tiny_inbox = work / "output_tiny", landing(tiny, work / "input_tiny")
    subprocess.run(receivables("run", "--input-dir", str(tiny_inbox), "--output-dir", str(tiny_out), "--as-of",
                               as_of, conf=a.conf), check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    deliver(tiny_night, tiny_inbox)
    results["b0"] = measure(f"(b0) the night's steps on {TINY:,} invoices ({TINY // 100} changes)", receivables(
        "run", "--input-dir", str(tiny_inbox), "--output-dir", str(tiny_out), "--as-of", next_day, conf=a.conf))
    for i in range(2, a.pairs + 1):
        pairs["(s)/(s0)"].append((
            measure(f"(s#{i}) bare session, again", session),
            measure(f"(s0#{i}) plain JVM, again", session, env={"RECEIVABLES_CDS": "off"})))
        again = work / "output_c_again"
        shutil.rmtree(again, ignore_errors=True)
        shutil.copytree(after_b, again)
        pairs["(c)/(g0)"].append((
            measure(f"(c#{i}) no-change night, again", receivables(
                "run", "--input-dir", str(inbox_of("")), "--output-dir", str(again), "--as-of", next_day,
                conf=a.conf)),
            measure(f"(g0#{i}) {n_c} one-row Delta commits, again", commits(n_c))))
    if a.big:
        big = dataset(a.invoices * 5, "data_big")
        big_night = work / "data_big_night"
        write_night(big, big_night, changes, recent_days=recent)
        big_out, big_inbox = work / "output_big", landing(big, work / "input_big")
        results["a5"] = measure("(a5) full build, 5× base", receivables(
            "run", "--input-dir", str(big_inbox), "--output-dir", str(big_out), "--as-of", as_of, conf=a.conf))
        deliver(big_night, big_inbox)
        results["d"] = measure("(d) the same night on the 5× base", receivables(
            "run", "--input-dir", str(big_inbox), "--output-dir", str(big_out), "--as-of", next_day, conf=a.conf))

    report(a, results, night_rows, changes, book, pairs)
    return 0


def book_shape(out: Path, conf: str) -> str:
    """The built book's open and past-due shares as of the base's as-of date (read without Spark)."""
    query = ("SELECT COUNT(*) AS n, COUNT(CASE WHEN outstanding > 0 THEN 1 END) AS open_n, "
             "COUNT(CASE WHEN days_past_due > 0 THEN 1 END) AS past_due_n FROM gold.invoice_aging")
    done = subprocess.run(receivables("sql", query, "--output-dir", str(out), "--format", "json", conf=conf),
                          cwd=ROOT, capture_output=True, text=True, check=True)
    row = json.loads(done.stdout.splitlines()[0])
    n = int(row["n"]) or 1
    return (f"{int(row['open_n']):,} open ({100 * int(row['open_n']) / n:.1f} %), "
            f"{int(row['past_due_n']):,} past due ({100 * int(row['past_due_n']) / n:.1f} %) after the night")


RATIOS = [  # (name, numerator, denominator, factor, target)
    ("(s)/(s0) bare session with the class archive vs a plain JVM", "s", "s0", 1, "≤ 0.6"),
    ("(b)/(e) night vs plain overwrite job", "b", "e", 1, "≤ 1.5"),
    ("(c)/(g0) no-change night vs its commits alone", "c", "g0", 1, "≤ 1.5"),
    ("(b)/(g) night vs its commits alone", "b", "g", 1, "≤ 1.5"),
    ("(b)/(a) night vs full build", "b", "a", 1, "≤ 0.25"),
    ("(c)/(s) no-change night vs bare session", "c", "s", 1, "≤ 1.5"),
    ("(a)/(f) full build vs raw floor", "a", "f", 1, "≤ 2.5"),
    ("(h)/(f) floor under (a)/(f): three Delta layers, nothing else", "h", "f", 1, "(≤ 2.5)"),
    ("(g)/(e) floor under (b)/(e): the night's commits alone", "g", "e", 1, "(≤ 0.6)"),
    ("(b0)/(g) floor under (b)/(g): the night's steps with almost no data", "b0", "g", 1, "(≤ 1.5)"),
    ("(b0)/(e) floor under (b)/(e): the night's steps with almost no data", "b0", "e", 1, "(≤ 1.5)"),
    ("(m)/(e) floor under (b)/(e): the least Delta night", "m", "e", 1, "(≤ 1.5)"),
    ("(m)/(g) floor under (b)/(g): the least Delta night", "m", "g", 1, "(≤ 1.5)"),
    ("(d)/(b) same night on 5× base", "d", "b", 1, "≤ 1.3"),
    ("(s1)/(sT) bare session, C1-only vs tiered JIT", "s1", "sT", 1, ""),
    ("(a1)/(a) full build, C1-only vs tiered JIT", "a1", "a", 1, ""),
    ("(b1)/(b) 1% night, C1-only vs tiered JIT", "b1", "b", 1, ""),
    ("(c1)/(c) no-change night, C1-only vs tiered JIT", "c1", "c", 1, ""),
]

HUGE_TARGETS = {"(b)/(e)": "≤ 0.4", "(m)/(e)": "(≤ 0.4)"}  # at 10,000,000 invoices the night must beat (e)


def report(a, results: dict[str, Result], night_rows: dict[str, int], changes: int, book: str,
           pairs: dict[str, list[tuple[Result, Result]]] | None = None) -> None:
    r = results
    paired = {k: [x.seconds / y.seconds for x, y in v] for k, v in (pairs or {}).items() if len(v) > 1}
    ratios = [(name, statistics.median(paired[name.split()[0]]) if name.split()[0] in paired
               else r[x].seconds / r[y].seconds * f, target) for name, x, y, f, target in RATIOS
              if x in r and y in r]
    if a.huge:
        ratios = [(n, v, HUGE_TARGETS.get(n.split()[0], t)) for n, v, t in ratios]
    night = ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in night_rows.items())
    shape = "worst-case book (one year, `--worst-case`)" if a.worst_case else (
        f"realistic book ({REAL_YEARS} years, `--paid-share 0.97`, nights change invoices of the last "
        f"{RECENT_DAYS} days)")
    lines = [
        f"Run of {dt.date.today()} — {a.invoices:,} invoices, {shape}, night of {changes:,} changes",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GB RAM, "
        f"Python {platform.python_version()}; conf `{Path(a.conf).name}`. "
        f"Night: {night}. Gold: {book}.",
        "",
        "| case | wall s | peak MB |",
        "|---|---:|---:|",
        *[f"| {x.name} | {x.seconds:.1f} | {x.peak_mb:.0f} |" for x in results.values()],
        "",
        "| ratio | measured | target |",
        "|---|---:|---|",
        *[f"| {name} | {value:.2f} | {target} |" for name, value, target in ratios],
        "",
        *([("; ".join(f"{k} is the median of {len(v)} pairs run one right after the other "
                      f"({', '.join(f'{x:.2f}' for x in v)}; the first from the cases above)"
                      for k, v in paired.items()) + "."), ""] if paired else []),
    ]
    text = "\n".join(lines)
    print("\n" + text)
    path = Path(a.report)
    marker = "huge" if a.huge else ("worst case" if a.worst_case else "latest")
    start, end = f"<!-- bench results: {marker} -->", f"<!-- end of {marker} results -->"
    page = path.read_text(encoding="utf-8")
    if start in page and end in page:
        page = page[: page.index(start) + len(start)] + "\n" + text + "\n" + page[page.index(end):]
        path.write_text(page, encoding="utf-8")
        print(f"latest results written to {path}")
    history = path.with_name("bench-history.jsonl")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    entry = {
        "date": dt.date.today().isoformat(), "commit": commit.stdout.strip() or None,
        "label": f"{a.invoices:,} invoices", "scope": f"{a.invoices:,} invoices, {shape}, night of {changes:,} changes",
        "cases": [
            {"case": x.name, "seconds": round(x.seconds, 1), "peak_mb": round(x.peak_mb)} for x in results.values()
        ],
        "ratios": [{"ratio": name, "measured": round(value, 2), "target": target} for name, value, target in ratios],
        **({"pairs": {k: [round(x, 2) for x in v] for k, v in paired.items()}} if paired else {}),
    }
    with history.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
    print(f"appended to {history}")


if __name__ == "__main__":
    sys.exit(main())
