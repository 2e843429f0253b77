"""Time travel for auditors: read any table as a past run, version or timestamp left it."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import NumericType, TimestampType

from receivables import io
from receivables.errors import ReceivablesError


def _path(output_dir: str, table: str) -> str:
    layer, _, name = table.partition(".")
    if not name:
        raise ReceivablesError(f"table {table!r} must be named layer.table, e.g. gold.invoice_aging")
    return io.table_path(output_dir, layer, name)


def version_of_run(spark: SparkSession, output_dir: str, table: str, run_id: str) -> int:
    """The version of ``table`` the run left behind (from ops.run_log)."""
    log = io.read(spark, io.table_path(output_dir, "ops", "run_log"))
    row = log.filter(F.col("run_id") == run_id).select("table_versions").first()
    if row is None:
        raise ReceivablesError(f"no run {run_id} in ops.run_log; `receivables history` lists runs")
    versions = row["table_versions"] or {}
    if table not in versions:
        raise ReceivablesError(f"run {run_id} recorded no version of {table}")
    return int(versions[table])


def last_run_for_date(spark: SparkSession, output_dir: str, as_of_date: dt.date) -> str:
    """The id of the last successful run that reported for ``as_of_date``."""
    log = io.read(spark, io.table_path(output_dir, "ops", "run_log"))
    row = (
        log.filter((F.col("as_of_date") == F.lit(as_of_date)) & (F.col("status") == "succeeded"))
        .orderBy(F.col("started_at").desc())
        .select("run_id")
        .first()
    )
    if row is None:
        raise ReceivablesError(f"no successful run reported as of {as_of_date}")
    return str(row["run_id"])


def read_as_of(
    spark: SparkSession,
    output_dir: str,
    table: str,
    *,
    run_id: str | None = None,
    version: int | None = None,
    timestamp: str | None = None,
    as_of_date: dt.date | None = None,
) -> DataFrame:
    """Rows of ``table`` after a run, at a version, at a timestamp, or after the last run for
    an as-of date; the current rows when none is given."""
    path = _path(output_dir, table)
    if not io.is_table(spark, path):
        raise ReceivablesError(f"{table} does not exist under {output_dir}")
    if as_of_date is not None and run_id is None:
        run_id = last_run_for_date(spark, output_dir, as_of_date)
    if run_id is not None:
        version = version_of_run(spark, output_dir, table, run_id)
    if version is None and timestamp is not None:
        version = version_at(spark, output_dir, table, timestamp)
    return io.read_version(spark, path, version)


def parse_timestamp(text: str) -> dt.datetime:
    """``YYYY-MM-DD`` (midnight) or ``YYYY-MM-DD[ T]HH:MM[:SS[.ffffff]]``, in UTC unless
    it carries an offset (``Z``, ``+02:00``); returned time-zone aware."""
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ReceivablesError(
            f"timestamp {text!r} is not a date or date-time such as 2024-07-01 or 2024-07-01T18:30:00Z"
        ) from None
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


def version_at(spark: SparkSession, output_dir: str, table: str, timestamp: str) -> int:
    """The version ``table`` was at on ``timestamp``: its last commit at or before it.

    A time after the latest commit gives the latest version (what the table said then);
    a time before the first commit is an error naming the first commit's time.
    """
    when = parse_timestamp(timestamp)
    commits = io.history(spark, _path(output_dir, table)).select("version", "timestamp")
    row = commits.filter(F.col("timestamp") <= F.lit(when)).orderBy(F.col("version").desc()).first()
    if row is None:
        first = commits.orderBy("version").first()
        # PySpark hands timestamps back as naive local times; astimezone reads them so.
        since = (
            f"; its first readable commit is at {first['timestamp'].astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC"
            if first is not None else ""
        )
        raise ReceivablesError(f"{table} has no version at {when:%Y-%m-%d %H:%M:%S} UTC{since}")
    return int(row["version"])


def table_history(spark: SparkSession, output_dir: str, table: str) -> DataFrame:
    """Delta commits of one table with the run id each was tagged with."""
    path = _path(output_dir, table)
    meta = F.col("userMetadata")
    return io.history(spark, path).select(
        "version",
        "timestamp",
        "operation",
        F.get_json_object(meta, "$.run_id").alias("run_id"),
        F.get_json_object(meta, "$.as_of").alias("as_of"),
        F.get_json_object(meta, "$.command").alias("command"),
        F.col("operationMetrics").alias("metrics"),
    ).orderBy("version")


def run_history(spark: SparkSession, output_dir: str) -> DataFrame:
    log = io.read(spark, io.table_path(output_dir, "ops", "run_log"))
    return log.select(
        "run_id", "command", "as_of_date", "status", "started_at", "duration_seconds",
        F.col("table_versions")["gold.invoice_aging"].alias("gold_invoice_aging_v"),
        F.col("table_versions")["gold.account_receivables"].alias("gold_account_receivables_v"),
        F.col("control_totals")["gold.outstanding"].alias("outstanding"),
        F.col("counts")["files.ingested"].alias("files_ingested"),
        F.col("counts")["gold.invoice_aging.recomputed"].alias("invoices_recomputed"),
        F.col("counts")["gold.invoice_aging.updated"].alias("invoices_updated"),
    ).orderBy("started_at")


def run_counters(spark: SparkSession, output_dir: str, run_id: str) -> DataFrame:
    """One run's every counter, control total and table version, one per row, by name."""
    log = io.read(spark, io.table_path(output_dir, "ops", "run_log")).filter(F.col("run_id") == run_id)
    if log.isEmpty():
        raise ReceivablesError(f"no run {run_id} in ops.run_log; `receivables history` lists runs")
    counts = log.select(F.lit("count").alias("kind"), F.explode("counts").alias("name", "value"))
    totals = log.select(F.lit("control total").alias("kind"), F.explode("control_totals").alias("name", "value"))
    versions = log.select(F.lit("table version").alias("kind"), F.explode("table_versions").alias("name", "value"))
    return (
        counts.select("kind", "name", F.format_number(F.col("value"), 0).alias("value"))
        .unionByName(totals.select("kind", "name", F.format_number(F.col("value"), 2).alias("value")))
        .unionByName(versions.select("kind", "name", F.col("value").cast("string").alias("value")))
        .orderBy("kind", "name")
    )


def sorted_by_key(df: DataFrame, table: str) -> DataFrame:
    """Rows in the table's key order (``catalog.SORT_KEYS``), else by the first column."""
    from receivables.catalog import SORT_KEYS

    key = [c for c in SORT_KEYS.get(table, ()) if c in df.columns] or df.columns[:1]
    return df.orderBy(*key)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:,.{max(0, -value.as_tuple().exponent)}f}"  # type: ignore[operator]
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str, sort_keys=True)
    return str(value)


def emit(df: DataFrame, fmt: str, limit: int | None = None) -> None:
    """Print rows as an aligned table (numbers right-aligned, decimal amounts with
    thousands separators; ids as they are), CSV or JSON lines, in the frame's order."""
    if limit:
        df = df.limit(limit)
    # Timestamps are rendered by Spark in the session time zone (UTC), as ``show`` does;
    # collected to Python they would turn into the local time of this machine.
    df = df.select(*[F.col(f.name).cast("string") if isinstance(f.dataType, TimestampType) else F.col(f.name)
                     for f in df.schema.fields])
    rows = df.collect()
    if fmt == "json":
        for r in rows:
            print(json.dumps(r.asDict(recursive=True), default=str))
        return
    if fmt == "csv":
        import csv
        import sys

        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(df.columns)
        for r in rows:
            writer.writerow(["" if v is None else v for v in r])
        return
    numeric = [isinstance(f.dataType, NumericType) for f in df.schema.fields]
    cells = [[_cell(v) for v in r] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(df.columns)]

    def line(values: list[str]) -> str:
        padded = (v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True))
        return "  ".join(padded).rstrip()

    print(line(list(df.columns)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print(line(row))
    print(f"({len(rows):,} row{'s' if len(rows) != 1 else ''})")
