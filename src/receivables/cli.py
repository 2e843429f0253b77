"""`receivables` command line. The CLI picks paths, configuration and the as-of date;
everything else comes from conf/ and the pipeline modules. Only here is the clock read."""

from __future__ import annotations

import argparse
import datetime as dt
import errno
import secrets
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from receivables import __version__
from receivables.config import ConfigError, Settings, load_settings
from receivables.errors import ReceivablesError
from receivables.run import RunContext, RunResult, Scope

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date written YYYY-MM-DD") from None


def _new_run_id(now: dt.datetime) -> str:
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def _output_uri(text: str) -> str:
    """Local paths become absolute, file: URIs become file:/abs/path; remote URIs (s3a://,
    abfss://, hdfs://) pass unchanged."""
    import os

    from receivables.ops.lock import local_path

    path = local_path(text)
    if path is None:
        return text
    if text.startswith("file:"):  # Delta writes local URIs as file:/abs/path; match it exactly
        return "file:" + os.path.abspath(path)
    return os.path.abspath(path)


def _common(p: argparse.ArgumentParser, output: bool = True) -> None:
    if output:
        p.add_argument("--output-dir", default="output", help="where the tables live (path or URI; default: output)")
    p.add_argument("--conf", help="YAML file merged over conf/base.yaml")


def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input-dir", default="data", help="folder of CSV extracts (default: data)")
    _common(p)
    p.add_argument("--as-of", type=_date,
                   help="business date to report for (default: today in the configured time zone)")
    p.add_argument("--run-id", help="run id to use (default: generated from the clock)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="receivables",
        description="Incremental Delta Lake lakehouse for accounts receivable.",
    )
    parser.add_argument("--version", action="version", version=f"receivables {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="nightly run: ingest new files, update silver and gold",
                       description="Ingest files not seen before, MERGE changed rows into silver and "
                       "recompute the affected invoices and accounts in gold.")
    _run_args(p)

    p = sub.add_parser("rebuild", help="recompute silver and gold from everything in bronze",
                       description="Re-derive every silver and gold table from bronze (no new files are read).")
    _common(p)
    p.add_argument("--as-of", type=_date, help="business date (default: today)")
    p.add_argument("--run-id")

    p = sub.add_parser("reprocess", help="re-derive invoices issued in a date range from bronze",
                       description="Re-derive silver and gold for invoices whose date_issued lies in "
                       "[--from, --to]; other rows are not rewritten.")
    _common(p)
    p.add_argument("--from", dest="date_from", type=_date, required=True)
    p.add_argument("--to", dest="date_to", type=_date, required=True)
    p.add_argument("--as-of", type=_date, help="business date (default: today)")
    p.add_argument("--run-id")

    p = sub.add_parser("sql", help="run a Spark SQL query over bronze.*, silver.*, gold.*, ops.*",
                       description="Run one SQL statement with every table registered by name.")
    _common(p)
    p.add_argument("query")
    p.add_argument("--limit", type=int, default=50, help="rows to show (default 50)")

    p = sub.add_parser("history", help="list runs, or one table's commits with their run ids",
                       description="Without TABLE: every run with its as-of date, status and the gold "
                       "versions it produced. With TABLE (layer.table): that table's Delta commits.")
    _common(p)
    p.add_argument("table", nargs="?")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")

    p = sub.add_parser("query", help="read a table as a past run, version or timestamp left it",
                       description="Time travel: the rows TABLE held after a run (--run), at a Delta "
                       "version (--version) or at a timestamp (--timestamp).")
    _common(p)
    p.add_argument("table", help="layer.table, e.g. gold.invoice_aging")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--run", dest="run_id_of")
    when.add_argument("--version", type=int)
    when.add_argument("--timestamp", help="YYYY-MM-DD[ HH:MM[:SS]], UTC unless it carries an offset: "
                      "the table's last commit at or before that moment")
    when.add_argument("--as-of-date", type=_date, help="after the last successful run for this as-of date")
    p.add_argument("--where", help="SQL filter, e.g. \"account_id = 7\"")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.add_argument("--limit", type=int)

    p = sub.add_parser("maintain", help="OPTIMIZE and VACUUM every table, never inside the audit window",
                       description="Compact small files and remove data files older than the audit "
                       "window (conf audit.window_days). A retention shorter than the window is refused.")
    _common(p)
    p.add_argument("--retain-days", type=int, help="VACUUM retention in days (default: the audit window)")
    p.add_argument("--no-optimize", action="store_true", help="VACUUM only")

    p = sub.add_parser("report", help="write the aging report (CSV + HTML) for a run or as-of date",
                       description="Aging report from gold.account_receivables_history: totals per "
                       "bucket, the largest past-due accounts and the unpaid total across runs.")
    _common(p)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--run", dest="run_id_of")
    which.add_argument("--as-of", type=_date)
    p.add_argument("--out", required=True, help="folder for aging_report.csv and aging_report.html")

    p = sub.add_parser("generate", help="write deterministic sample extracts",
                       description="Generate billing extracts that look like the real ones.")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--invoices", type=int, default=5000)
    p.add_argument("--accounts", type=int, default=200)
    p.add_argument("--skus", type=int, default=100)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--start", type=_date, default=dt.date(2024, 1, 1), help="first issue date")
    p.add_argument("--days", type=int, default=365, help="issue dates span this many days")
    p.add_argument("--no-payments-file", action="store_true", help="only payment_dates on invoices")
    for name, subparser in sub.choices.items():
        subparser.set_defaults(func=HANDLERS[name])
    return parser


def _today(settings: Settings) -> dt.date:
    return dt.datetime.now(ZoneInfo(settings.timezone)).date()


def _now() -> dt.datetime:
    # Time-zone aware: PySpark stores a naive datetime as the local time of the Python
    # process, which would shift every recorded time on a machine not set to UTC.
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _context(args: argparse.Namespace, settings: Settings, command: str, input_dir: str | None) -> RunContext:
    from receivables.spark import build_session

    started = _now()
    return RunContext(
        spark=build_session(settings),
        settings=settings,
        output_dir=_output_uri(args.output_dir),
        as_of=args.as_of or _today(settings),
        run_id=args.run_id or _new_run_id(started),
        started_at=started,
        command=command,
        clock=_now,
        input_dir=input_dir,
    )


def _print_result(result: RunResult) -> int:
    rec = result.record
    print(f"run {rec.run_id} ({rec.command}, as of {rec.as_of}): {result.status}")
    for key in sorted(rec.counts):
        print(f"  {key:48s} {rec.counts[key]:>10,}")
    for _entity, rel, _sum, _records, action, reason in rec.inputs:
        if action == "skipped":
            print(f"  skipped {rel}: {reason}")
    for note in rec.notes:
        print(f"  note: {note}")
    if result.error:
        print(f"error: {result.error}", file=sys.stderr)
        return 1
    s = result.summary
    print(
        f"gold: {s['invoices']:,} invoices, {s['open_invoices']:,} open, "
        f"{s['past_due_invoices']:,} past due, {s['incomplete_invoices']:,} incomplete; "
        f"unpaid total {s['unpaid_total']:,}, past due {s['past_due_total']:,}, "
        f"credit {s['credit_total']:,}"
    )
    return 0


def _generate(args: argparse.Namespace) -> int:
    from receivables.generate import generate

    written = generate(
        args.out_dir, invoices=args.invoices, accounts=args.accounts, skus=args.skus,
        seed=args.seed, start=args.start, days=args.days, payments_file=not args.no_payments_file,
    )
    for name, rows in written.items():
        print(f"{name}: {rows:,} rows")
    return 0


def _scope(args: argparse.Namespace) -> Scope:
    if args.command == "rebuild":
        return Scope(full=True)
    if args.command == "reprocess":
        if args.date_from > args.date_to:
            raise ReceivablesError("--from must not be after --to")
        return Scope(issued_from=args.date_from, issued_to=args.date_to)
    return Scope()


def _pipeline_run(args: argparse.Namespace) -> int:
    """``run``, ``rebuild`` and ``reprocess``: one pipeline run under the output's lock,
    taken before Spark starts, so a second run on this output exits at once."""
    from receivables import pipeline
    from receivables.ops.lock import run_lock

    scope = _scope(args)
    settings = load_settings(args.conf)
    with run_lock(_output_uri(args.output_dir)):
        ctx = _context(args, settings, args.command, args.input_dir if args.command == "run" else None)
        return _print_result(pipeline.execute(ctx, scope))


def _session(args: argparse.Namespace) -> tuple[SparkSession, str]:
    from receivables.spark import build_session

    return build_session(load_settings(args.conf)), _output_uri(args.output_dir)


def _maintain(args: argparse.Namespace) -> int:
    from receivables.catalog import CATALOG
    from receivables.ops.lock import run_lock
    from receivables.ops.maintain import maintain

    settings = load_settings(args.conf)
    with run_lock(_output_uri(args.output_dir)):
        spark, out = _session(args)
        for m in maintain(spark, settings, out, CATALOG, args.retain_days, optimize=not args.no_optimize):
            print(f"{m.table:42s} compacted {m.files_removed} files into {m.files_added}; "
                  f"vacuumed files removed more than {m.retain_days} days ago")
    return 0


def _report(args: argparse.Namespace) -> int:
    from receivables import report

    spark, out = _session(args)
    rep = report.load(spark, out, args.run_id_of, args.as_of)
    csv_path, html_path = report.write(rep, args.out)
    print(f"aging report as of {rep.as_of} (run {rep.run_id}): {csv_path}, {html_path}")
    return 0


def _history(args: argparse.Namespace) -> int:
    from receivables import audit

    spark, out = _session(args)
    df = audit.table_history(spark, out, args.table) if args.table else audit.run_history(spark, out)
    audit.emit(df, args.format)
    return 0


def _query(args: argparse.Namespace) -> int:
    from receivables import audit

    spark, out = _session(args)
    df = audit.read_as_of(spark, out, args.table, run_id=args.run_id_of, version=args.version,
                          timestamp=args.timestamp, as_of_date=args.as_of_date)
    if args.where:
        df = df.filter(args.where)
    audit.emit(df, args.format, args.limit)
    return 0


def _sql(args: argparse.Namespace) -> int:
    from receivables import io
    from receivables.catalog import CATALOG

    spark, out = _session(args)
    io.register_catalog(spark, out, CATALOG)
    io.query(spark, args.query).show(args.limit, truncate=False)
    return 0


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": _pipeline_run, "rebuild": _pipeline_run, "reprocess": _pipeline_run,
    "maintain": _maintain, "report": _report, "history": _history, "query": _query, "sql": _sql,
    "generate": _generate,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        handler: Callable[[argparse.Namespace], int] = args.func
        return handler(args)
    except (ReceivablesError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader of our output went away (`| head`)
        return 0
    except OSError as exc:  # the output (or input) folder itself: permissions, read-only, full
        where = exc.filename or getattr(args, "output_dir", "")
        print(f"error: cannot use {where}: {exc.strerror or exc}. {_os_advice(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:
        if _out_of_space(exc):
            print(
                f"error: the output {getattr(args, 'output_dir', '')} ran out of disk space while the run "
                "wrote to it. Every table is still at a committed version; free space and run again: "
                "the next run completes the work.",
                file=sys.stderr,
            )
            return 1
        raise


def _os_advice(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "Free space on that disk and run again."
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return "Choose a writable --output-dir, or make this one writable, and run again."
    return "Check the path and run again."


def _out_of_space(exc: BaseException) -> bool:
    """A write failed for lack of disk space (Python's or the JVM's error)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno == errno.ENOSPC:
            return True
        if "No space left on device" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False




if __name__ == "__main__":
    sys.exit(main())
