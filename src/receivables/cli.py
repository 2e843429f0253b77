"""`receivables` command line. The CLI picks paths, configuration and the as-of date;
everything else comes from the packaged configuration and the pipeline modules. Only here
is the clock read.

Exit codes: 0 done; 1 the run failed (and is logged in ops.run_log); 2 usage or
configuration (a bad flag, date, SQL statement, table name, conf file, missing jars);
3 input rejected (a bad or missing extract; nothing was written); 4 the output is locked
by another run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import errno
import json
import os
import secrets
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from receivables import __version__
from receivables.config import ConfigError, Settings, load_settings
from receivables.errors import (
    InputFileError,
    InputFilesError,
    MissingInputError,
    ReceivablesError,
    RunLockedError,
)
from receivables.progress import StepLine

if TYPE_CHECKING:  # pyspark (through receivables.run) is imported only by commands that start Spark
    from pyspark.sql import SparkSession

    from receivables.readers import Reader
    from receivables.run import RunContext, RunResult, Scope

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INPUT, EXIT_LOCKED = 0, 1, 2, 3, 4
INPUT_ERRORS = (InputFileError, InputFilesError, MissingInputError)


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date written YYYY-MM-DD") from None


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a share between 0 and 1 (e.g. 0.97)")
    return value


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


def _global_options(p: argparse.ArgumentParser, top: bool) -> None:
    """Options every subcommand takes, before or after its name (``receivables
    --output-dir X run`` and ``receivables run --output-dir X`` are the same)."""

    def default(value: object) -> object:
        return value if top else argparse.SUPPRESS

    p.add_argument("--output-dir", default=default(os.environ.get("RECEIVABLES_OUTPUT_DIR") or "output"),
                   help="where the tables live, a path or URI (default: $RECEIVABLES_OUTPUT_DIR, else output)")
    p.add_argument("--conf", default=default(None), metavar="FILE",
                   help="YAML file merged over the packaged defaults (`receivables config show` prints the result)")
    p.add_argument("--verbose", action="store_true", default=default(False),
                   help="Spark's own log output and every counter of the run")
    p.add_argument("--json", action="store_true", default=default(False),
                   help="print one machine-readable JSON summary instead of text")
    p.add_argument("--debug", action="store_true", default=default(False),
                   help="show the full traceback of an error")


def _as_of(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--as-of", type=_date, metavar="YYYY-MM-DD", help=what)


def _run_id(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run-id", help="id for this run (default: generated from the clock)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="receivables",
        description="Incremental Delta Lake lakehouse for accounts receivable.",
        epilog="Exit codes: 0 done, 1 run failed (logged), 2 usage or configuration, "
        "3 input rejected, 4 output locked by another run.",
    )
    parser.add_argument("--version", action="version", version=f"receivables {__version__}")
    _global_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, description: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=description)
        _global_options(p, top=False)
        return p

    business = "business date to age the book for (default: today in the configured time zone)"
    p = command("run", "nightly run: ingest new files, update silver and gold",
                "Ingest files not seen before, MERGE changed rows into silver and recompute the "
                "affected invoices and accounts in gold.")
    p.add_argument("--input-dir", default=os.environ.get("RECEIVABLES_INPUT_DIR") or "data",
                   help="folder of CSV extracts (default: $RECEIVABLES_INPUT_DIR, else data)")
    _as_of(p, business)
    _run_id(p)

    p = command("rebuild", "recompute silver and gold from everything in bronze",
                "Re-derive every silver and gold table from bronze (no new files are read).")
    _as_of(p, business)
    _run_id(p)

    p = command("reprocess", "re-derive invoices issued in a date range from bronze",
                "Re-derive silver and gold for invoices whose date_issued lies in [--from, --to]; "
                "other rows are not rewritten.")
    p.add_argument("--from", dest="date_from", type=_date, required=True, metavar="YYYY-MM-DD",
                   help="first date_issued to re-derive")
    p.add_argument("--to", dest="date_to", type=_date, required=True, metavar="YYYY-MM-DD",
                   help="last date_issued to re-derive")
    _as_of(p, business)
    _run_id(p)

    p = command("sql", "run a SQL query over bronze.*, silver.*, gold.*, ops.*",
                "Run one read-only SQL statement with every table by name (layer.table). The "
                "dialect is DuckDB's (the default engine); with --engine spark it is Spark SQL.")
    p.add_argument("query", help="one SQL statement, e.g. \"SELECT * FROM gold.account_receivables\"")
    p.add_argument("--limit", type=int, default=50, help="rows to show (default 50)")
    _format(p)

    p = command("history", "list runs, one run's counters, or one table's commits",
                "Without arguments: every run with its as-of date, status and the gold versions it "
                "produced. With --run: that run's every counter and control total. With TABLE "
                "(layer.table): that table's Delta commits.")
    p.add_argument("table", nargs="?", help="layer.table whose commits to list")
    p.add_argument("--run", dest="run_id_of", metavar="RUN_ID", help="show every counter of this run")
    _format(p)

    p = command("query", "read a table as a past run, version or timestamp left it",
                "Time travel: the rows TABLE held after a run (--run), at a Delta version "
                "(--version), at a timestamp (--timestamp), or after the last successful run "
                "for a business date (--as-of).")
    p.add_argument("table", help="layer.table, e.g. gold.invoice_aging")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--run", dest="run_id_of", metavar="RUN_ID", help="after this run")
    when.add_argument("--version", type=int, help="at this Delta version of the table")
    when.add_argument("--timestamp", help="YYYY-MM-DD[ HH:MM[:SS]], UTC unless it carries an offset: "
                      "the table's last commit at or before that moment")
    when.add_argument("--as-of", type=_date, metavar="YYYY-MM-DD",
                      help="after the last successful run for this business date")
    p.add_argument("--where", help="SQL filter, e.g. \"account_id = 7\"")
    p.add_argument("--limit", type=int, help="rows to show (default: all)")
    _format(p)

    p = command("maintain", "OPTIMIZE and VACUUM every table, never inside the audit window",
                "Compact small files and remove data files older than the audit window (conf "
                "audit.window_days). A retention shorter than the window is refused.")
    p.add_argument("--retain-days", type=int, help="VACUUM retention in days (default: the audit window)")
    p.add_argument("--no-optimize", action="store_true", help="VACUUM only")

    p = command("report", "write the aging report (CSV + HTML) for a run or as-of date",
                "Aging report from gold.account_receivables_history: totals per bucket, the "
                "largest past-due accounts and the unpaid total across runs.")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--run", dest="run_id_of", metavar="RUN_ID", help="the report as this run left gold")
    which.add_argument("--as-of", type=_date, metavar="YYYY-MM-DD",
                       help="the report after the last successful run for this business date")
    p.add_argument("--dest", default="report", metavar="DIR",
                   help="folder for aging_report.csv and aging_report.html (default: report)")
    _engine(p)

    p = command("catalog", "register every table in a metastore under the output, for any Spark session",
                "Register bronze.*, silver.*, gold.* and ops.* in a Hive metastore kept at "
                "<output>/_catalog and write <output>/_catalog/spark-defaults.conf: with "
                "`pyspark --properties-file` (or spark-sql, spark-submit) that file names the tables "
                "in your own session (docs/catalog.md).")

    p = command("generate", "write deterministic sample extracts",
                "Generate billing extracts that look like the real ones.")
    p.add_argument("--dest", required=True, metavar="DIR", help="folder to write the extracts to")
    p.add_argument("--invoices", type=int, default=5000, help="invoices to generate (default 5000)")
    p.add_argument("--accounts", type=int, default=200, help="accounts (default 200)")
    p.add_argument("--skus", type=int, default=100, help="SKUs (default 100)")
    p.add_argument("--seed", type=int, default=7, help="random seed: the same seed writes the same files")
    p.add_argument("--start", type=_date, default=dt.date(2024, 1, 1), metavar="YYYY-MM-DD",
                   help="first issue date (default 2024-01-01)")
    p.add_argument("--days", type=int, default=365, help="issue dates span this many days (default 365)")
    p.add_argument("--no-payments-file", action="store_true", help="only payment_dates on invoices")
    shape = p.add_mutually_exclusive_group()
    shape.add_argument("--paid-share", type=_share, default=None, metavar="P",
                       help="share of invoices paid in full 20-65 days after issue, the rest unpaid or partly "
                            "paid: a real book's shape (default 0.97)")
    shape.add_argument("--worst-case", action="store_true",
                       help="the shipped sample's shape: ~40%% of the book open and past due, every bucket "
                            "populated (a night re-ages far more than a real one)")

    p = command("config", "print the effective configuration",
                "Print the packaged defaults merged with --conf, as YAML (after validation).")
    p.add_argument("action", choices=["show"], help="show: print the effective configuration")

    p = command("setup-jars", "fetch Delta's jars into the local Maven repository (once)",
                "Download the Delta jars this version needs from Maven Central (or "
                "$RECEIVABLES_MAVEN_URL) into ~/.m2/repository and verify their SHA-256; with "
                "--dest, also copy them there. Later runs work offline.")
    p.add_argument("--dest", metavar="DIR", help="also copy the jars into this folder (make setup: .jars)")
    for name, subparser in sub.choices.items():
        subparser.set_defaults(func=HANDLERS[name])
    return parser


def _fmt(args: argparse.Namespace) -> str:
    """``--json`` means JSON output on every command: rows as JSON lines for a read."""
    return "json" if args.json else str(args.format)


def _format(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=["table", "csv", "json"], default="table",
                   help="table (aligned, amounts formatted), csv, or json (one object per line)")
    _engine(p)


def _engine(p: argparse.ArgumentParser) -> None:
    p.add_argument("--engine", choices=["auto", "duckdb", "spark"],
                   default=os.environ.get("RECEIVABLES_READ_ENGINE") or "auto",
                   help="what reads the tables: duckdb (no JVM, local outputs), spark (any URI), or auto "
                        "(duckdb for a local output; default, or $RECEIVABLES_READ_ENGINE)")


def _today(settings: Settings) -> dt.date:
    return dt.datetime.now(ZoneInfo(settings.timezone)).date()


def _now() -> dt.datetime:
    # Time-zone aware: PySpark stores a naive datetime as the local time of the Python
    # process, which would shift every recorded time on a machine not set to UTC.
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _build_session(args: argparse.Namespace, settings: Settings, *, stdout_is_data: bool = False) -> SparkSession:
    """A Spark session for this command; under ``stdout_is_data`` (what a read prints is
    data: a query's rows, a CSV) the progress line goes to stderr."""
    from receivables.spark import build_session

    if stdout_is_data:
        print("starting Spark …", file=sys.stderr, flush=True)
    elif not args.json:
        _say(args, "starting Spark …")
    # `sql` registers databases by name; their (empty) warehouse folders go to a temporary
    # folder, not spark-warehouse/ in the user's working directory.
    import atexit
    import shutil
    import tempfile

    warehouse = tempfile.mkdtemp(prefix="receivables-warehouse-")
    atexit.register(shutil.rmtree, warehouse, True)
    return build_session(settings, warehouse_dir=warehouse, quiet=not args.verbose, command=args.command)


def _say(args: argparse.Namespace, text: str) -> None:
    """A progress line (stderr under --json, so stdout stays one JSON document)."""
    print(text, file=sys.stderr if args.json else sys.stdout, flush=True)


def _context(args: argparse.Namespace, settings: Settings, command: str, input_dir: str | None,
             inspected: dict[str, Any]) -> RunContext:
    from receivables.run import RunContext

    started = _now()
    spark = _build_session(args, settings)

    def show(line: StepLine) -> None:
        _say(args, line.render())

    return RunContext(
        spark=spark,
        settings=settings,
        output_dir=_output_uri(args.output_dir),
        as_of=args.as_of or _today(settings),
        run_id=args.run_id or _new_run_id(started),
        started_at=started,
        command=command,
        clock=_now,
        input_dir=input_dir,
        inspected=inspected,
        on_step=None if args.json else show,
    )


def _money(value: object) -> str:
    return f"{Decimal(str(value)):,.2f}"


def _total(counts: dict[str, int], prefix: str, suffix: str) -> int:
    return sum(v for k, v in counts.items() if k.startswith(prefix) and k.endswith(suffix))


def _summary_lines(result: RunResult, seconds: float) -> list[str]:
    c = result.record.counts
    lines = [f"{result.status} in {seconds:.1f}s"]
    if result.status != "succeeded":
        return lines
    lines.append(f"  bronze  {c.get('files.ingested', 0):,} new files, "
                 f"{_total(c, 'bronze.', '.rows_appended'):,} rows appended"
                 + (f", {c['files.skipped']:,} files skipped" if c.get("files.skipped") else ""))
    lines.append(f"  silver  {_total(c, 'silver.', '.inserted'):,} inserted, {_total(c, 'silver.', '.updated'):,} "
                 f"updated, {_total(c, 'silver.', '.deleted'):,} deleted, "
                 f"{_total(c, 'silver.', '.quarantine_inserted'):,} quarantined")
    s = result.summary
    lines.append(f"  gold    {c.get('gold.invoice_aging.recomputed', 0):,} invoices recomputed; holds "
                 f"{s['invoices']:,} invoices, {s['open_invoices']:,} open, {s['past_due_invoices']:,} past due")
    lines.append(f"          outstanding {_money(s['unpaid_total'])}, past due {_money(s['past_due_total'])}, "
                 f"credit {_money(s['credit_total'])}")
    return lines


def _print_result(args: argparse.Namespace, result: RunResult, seconds: float) -> int:
    rec = result.record
    code = EXIT_OK if result.status == "succeeded" else (EXIT_INPUT if result.input_rejected else EXIT_FAILED)
    if args.json:
        print(json.dumps({
            "run_id": rec.run_id, "command": rec.command, "as_of": rec.as_of.isoformat(), "status": result.status,
            "exit_code": code, "seconds": round(seconds, 3), "error": result.error,
            "summary": {k: str(v) if isinstance(v, Decimal) else v for k, v in result.summary.items()},
            "steps": [{"step": x.name, "detail": x.detail, "seconds": round(x.seconds, 3)} for x in rec.steps.lines],
            "counts": dict(sorted(rec.counts.items())),
            "control_totals": {k: str(v) for k, v in sorted(rec.control_totals.items())},
            "notes": rec.notes,
            "skipped_files": [{"file": i[1], "reason": i[5]} for i in rec.inputs if i[4] == "skipped"],
        }, indent=2))
        return code
    for line in _summary_lines(result, seconds):
        print(line)
    if args.verbose:
        for key in sorted(rec.counts):
            print(f"    {key:52s} {rec.counts[key]:>12,}")
        for key in sorted(rec.control_totals):
            print(f"    {key:52s} {_money(rec.control_totals[key]):>18}")
    for _entity, rel, _sum, _records, action, reason in rec.inputs:
        if action == "skipped":
            print(f"  skipped {rel}: {reason}")
    for note in rec.notes:
        print(f"  note: {note}")
    if result.error:
        print(f"error: {result.error}", file=sys.stderr)
    elif not args.verbose:
        print(f"  every counter: receivables history --run {rec.run_id}")
    return code


def _generate(args: argparse.Namespace) -> int:
    from receivables.generate import REAL_PAID_SHARE, generate

    paid_share = None if args.worst_case else (REAL_PAID_SHARE if args.paid_share is None else args.paid_share)
    written = generate(
        args.dest, invoices=args.invoices, accounts=args.accounts, skus=args.skus,
        seed=args.seed, start=args.start, days=args.days, payments_file=not args.no_payments_file,
        paid_share=paid_share,
    )
    for name, rows in written.items():
        print(f"{name}: {rows:,} rows")
    return EXIT_OK


def _scope(args: argparse.Namespace) -> Scope:
    from receivables.run import Scope

    if args.command == "rebuild":
        return Scope(full=True)
    if args.command == "reprocess":
        if args.date_from > args.date_to:
            raise UsageError(f"--from {args.date_from} is after --to {args.date_to}")
        return Scope(issued_from=args.date_from, issued_to=args.date_to)
    return Scope()


class UsageError(ReceivablesError):
    """A flag or argument the command cannot use."""


def _pipeline_run(args: argparse.Namespace) -> int:
    """``run``, ``rebuild`` and ``reprocess``: one pipeline run under the output's lock,
    taken before Spark starts, so a second run on this output exits at once. The input's
    files are checked before Spark starts too: a bad file costs seconds, not a session."""
    from receivables import pipeline
    from receivables.ops.lock import run_lock

    scope = _scope(args)
    settings = load_settings(args.conf)
    input_dir = args.input_dir if args.command == "run" else None
    started = time.monotonic()
    with run_lock(_output_uri(args.output_dir)):
        inspected: dict[str, Any] = {}
        if input_dir is not None:
            from pathlib import Path

            from receivables.bronze.files import CHECKED_FILES, precheck
            from receivables.ops.lock import local_path

            local = local_path(args.output_dir)
            cache = Path(local) / CHECKED_FILES if local is not None else None
            inspected = dict(precheck(input_dir, cache, settings.reread_unchanged_files))
        ctx = _context(args, settings, args.command, input_dir, inspected)
        if not args.json:
            _say(args, f"receivables {args.command} · as of {ctx.as_of} · run {ctx.run_id} · {ctx.output_dir}")
        result = pipeline.execute(ctx, scope)
    return _print_result(args, result, time.monotonic() - started)


def _maintain(args: argparse.Namespace) -> int:
    """``maintain`` is a run: under the output's lock, logged in ops.run_log."""
    from receivables import maintenance
    from receivables.ops.lock import run_lock

    settings = load_settings(args.conf)
    started = time.monotonic()
    with run_lock(_output_uri(args.output_dir)):
        args.as_of, args.run_id = None, None
        ctx = _context(args, settings, "maintain", None, {})
        result = maintenance.maintain(ctx, args.retain_days, optimize=not args.no_optimize)
    c = result.record.counts
    removed = _total(c, "maintain.", ".files_removed")
    added = _total(c, "maintain.", ".files_added")
    if args.json:
        doc = {"run_id": ctx.run_id, "command": "maintain", "status": result.status,
               "seconds": round(time.monotonic() - started, 3), "counts": dict(sorted(c.items()))}
        print(json.dumps(doc, indent=2))
        return EXIT_OK
    print(f"maintained {c.get('maintain.tables', 0)} tables in {time.monotonic() - started:.1f}s · run {ctx.run_id}: "
          f"compacted {removed:,} files into {added:,}; vacuumed data files removed more than "
          f"{c.get('maintain.retain_days', 0)} days ago")
    if args.verbose:
        for key in sorted(c):
            print(f"    {key:52s} {c[key]:>12,}")
    return EXIT_OK


def _reader(args: argparse.Namespace) -> Reader:
    from receivables.readers import open_reader

    return open_reader(args.engine, _output_uri(args.output_dir),
                       lambda: _build_session(args, load_settings(args.conf), stdout_is_data=True))


def _report(args: argparse.Namespace) -> int:
    from receivables import report

    reader = _reader(args)
    rep = report.load(reader, args.run_id_of, args.as_of)
    paths = report.write(rep, reader, args.dest)
    print(f"aging report as of {rep.as_of} (run {rep.run_id}): {', '.join(str(p) for p in paths)}")
    return EXIT_OK


def _history(args: argparse.Namespace) -> int:
    from receivables import audit

    reader = _reader(args)
    if args.run_id_of:
        audit.emit(audit.run_counters(reader, args.run_id_of), _fmt(args))
    elif args.table:
        audit.emit(audit.table_history(reader, args.table), _fmt(args))
    else:
        audit.emit(audit.run_history(reader), _fmt(args))
    return EXIT_OK


def _query(args: argparse.Namespace) -> int:
    from receivables import audit

    when = audit.When(run_id=args.run_id_of, version=args.version, timestamp=args.timestamp, as_of_date=args.as_of)
    rows = audit.read_as_of(_reader(args), args.table, when, where=args.where, limit=args.limit)
    audit.emit(rows, _fmt(args))
    return EXIT_OK


def _sql(args: argparse.Namespace) -> int:
    from receivables import audit

    audit.emit(_reader(args).user_sql(args.query), _fmt(args), args.limit)
    return EXIT_OK


def _catalog(args: argparse.Namespace) -> int:
    from receivables import io, jars, metastore
    from receivables.catalog import CATALOG
    from receivables.spark import build_session

    out = _output_uri(args.output_dir)
    settings = metastore.settings_for(load_settings(args.conf), out)
    _say(args, "starting Spark …")
    spark = build_session(settings, warehouse_dir=settings.spark_conf["spark.sql.warehouse.dir"],
                          quiet=not args.verbose, command="catalog")
    names = io.register_catalog(spark, out, CATALOG)
    spark.stop()
    props = metastore.write_properties(out, settings, [os.path.abspath(j) for j in jars.find(settings.jars_dir)])
    print(f"registered {len(names)} tables in {metastore.catalog_dir(out)}; query them by name with\n"
          f"  pyspark --properties-file {props}\n"
          f"  spark-sql --properties-file {props} -e 'SELECT * FROM gold.account_receivables'")
    return EXIT_OK


def _config(args: argparse.Namespace) -> int:
    import yaml

    from receivables.config import effective

    print(yaml.safe_dump(effective(args.conf), sort_keys=False, default_flow_style=False), end="")
    return EXIT_OK


def _setup_jars(args: argparse.Namespace) -> int:
    from pathlib import Path

    from receivables import jars

    found = jars.fetch(copy_to=Path(args.dest) if args.dest else None)
    print(f"Delta's {len(found)} jars are ready in {found[0].parent if args.dest else jars.maven_repository()}")
    return EXIT_OK


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": _pipeline_run, "rebuild": _pipeline_run, "reprocess": _pipeline_run,
    "maintain": _maintain, "report": _report, "history": _history, "query": _query, "sql": _sql,
    "generate": _generate, "config": _config, "setup-jars": _setup_jars, "catalog": _catalog,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        handler: Callable[[argparse.Namespace], int] = args.func
        return handler(args)
    except BrokenPipeError:  # the reader of our output went away (`| head`)
        return EXIT_OK
    except Exception as exc:
        if args.debug:
            raise
        code, message = _explain(exc, args)
        print(f"error: {message}", file=sys.stderr)
        return code


def _explain(exc: Exception, args: argparse.Namespace) -> tuple[int, str]:
    """The exit code and a one-paragraph message for an error that ends a command."""
    from receivables.jars import DeltaJarsError

    if isinstance(exc, INPUT_ERRORS):
        return EXIT_INPUT, str(exc)
    if isinstance(exc, RunLockedError):
        return EXIT_LOCKED, str(exc)
    if isinstance(exc, (ReceivablesError, ConfigError, DeltaJarsError)):
        return EXIT_USAGE, str(exc)
    names = {c.__name__ for c in type(exc).__mro__}
    if names & {"AnalysisException", "ParseException"}:
        return EXIT_USAGE, _spark_message(exc)
    if isinstance(exc, OSError) and not _out_of_space(exc):
        where = exc.filename or getattr(args, "output_dir", "")
        return EXIT_USAGE, f"cannot use {where}: {exc.strerror or exc}. {_os_advice(exc)}"
    if _out_of_space(exc):
        return EXIT_FAILED, (
            f"the output {getattr(args, 'output_dir', '')} ran out of disk space while the run wrote to it. "
            "Every table is still at a committed version; free space and run again: the next run completes the work."
        )
    first = _spark_message(exc)
    notes = "".join(f" {note}" for note in getattr(exc, "__notes__", []))
    return EXIT_FAILED, f"{type(exc).__name__}: {first}{notes} (run again with --debug for the traceback)"


def _spark_message(exc: BaseException) -> str:
    """The first paragraph of an error, without Spark's plan dump or JVM stack."""
    lines = []
    for line in str(exc).strip().splitlines():
        if not line.strip() or line.startswith(("'", "JVM stacktrace", "\tat ", "== ")):
            break
        lines.append(line.strip())
    text = " ".join(lines) or type(exc).__name__
    return text if len(text) <= 600 else text[:597] + "..."


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
