"""Time travel for auditors: read any table as a past run, version or timestamp left it.

Every function takes a ``readers.Reader`` (DuckDB or Spark) and returns ``readers.Rows``,
so `history` and `query` print the same rows whichever engine read them.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from receivables.errors import ReceivablesError
from receivables.readers import Reader, Rows

_RUN_ID = re.compile(r"^[A-Za-z0-9_.:-]+$")


def sql_run_id(run_id: str) -> str:
    """``run_id`` as a SQL string literal, refused unless it is made of run-id characters."""
    if not _RUN_ID.match(run_id):
        raise ReceivablesError(f"{run_id!r} is not a run id (letters, digits and - _ . : only)")
    return f"'{run_id}'"


def version_of_run(reader: Reader, table: str, run_id: str) -> int:
    """The version of ``table`` the run left behind (from ops.run_log)."""
    log = reader.relation("ops.run_log")
    row = reader.sql(f"SELECT table_versions FROM {log} WHERE run_id = {sql_run_id(run_id)}").first()
    if row is None:
        raise ReceivablesError(f"no run {run_id} in ops.run_log; `receivables history` lists runs")
    versions = row["table_versions"] or {}
    if table not in versions:
        raise ReceivablesError(f"run {run_id} recorded no version of {table}")
    return int(versions[table])


def last_run_for_date(reader: Reader, as_of_date: dt.date) -> str:
    """The id of the last successful run that reported for ``as_of_date``."""
    log = reader.relation("ops.run_log")
    row = reader.sql(
        f"SELECT run_id FROM {log} WHERE as_of_date = DATE '{as_of_date.isoformat()}' "
        "AND status = 'succeeded' ORDER BY started_at DESC LIMIT 1"
    ).first()
    if row is None:
        raise ReceivablesError(f"no successful run reported as of {as_of_date}")
    return str(row["run_id"])


@dataclass(frozen=True)
class When:
    """Which version of a table to read: after a run, at a version, at a timestamp, or
    after the last successful run for a business date; the latest when all are None."""

    run_id: str | None = None
    version: int | None = None
    timestamp: str | None = None
    as_of_date: dt.date | None = None


def resolve_version(reader: Reader, table: str, when: When) -> int | None:
    """The version ``when`` points at (None: the latest)."""
    if not reader.exists(table):
        raise ReceivablesError(f"{table} does not exist under {reader.output_dir}")
    run_id = when.run_id
    if when.as_of_date is not None and run_id is None:
        run_id = last_run_for_date(reader, when.as_of_date)
    if run_id is not None:
        return version_of_run(reader, table, run_id)
    if when.version is None and when.timestamp is not None:
        return version_at(reader, table, when.timestamp)
    return when.version


LATEST = When()


def read_as_of(reader: Reader, table: str, when: When = LATEST, *, where: str | None = None,
               limit: int | None = None) -> Rows:
    """Rows of ``table`` as ``when`` names it, in the table's key order. ``where`` is a SQL
    condition in the engine's dialect."""
    rel = reader.relation(table, resolve_version(reader, table, when))
    columns = reader.sql(f"SELECT * FROM {rel} LIMIT 0").columns
    key = [c for c in _sort_key(table) if c in columns] or columns[:1]
    text = f"SELECT * FROM {rel}"
    if where:
        text += f" WHERE ({where})"
    text += " ORDER BY " + ", ".join(f"{c} ASC NULLS FIRST" for c in key)
    if limit:
        text += f" LIMIT {int(limit)}"
    return reader.sql(text)


def _sort_key(table: str) -> tuple[str, ...]:
    from receivables.catalog import SORT_KEYS

    return SORT_KEYS.get(table, ())


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


def version_at(reader: Reader, table: str, timestamp: str) -> int:
    """The version ``table`` was at on ``timestamp``: its last commit at or before it.

    A time after the latest commit gives the latest version (what the table said then);
    a time before the first commit is an error naming the first commit's time.
    """
    when = parse_timestamp(timestamp)
    commits = reader.commits(table)
    before = [c.version for c in commits if c.timestamp <= when]
    if not before:
        since = f"; its first readable commit is at {commits[0].timestamp:%Y-%m-%d %H:%M:%S} UTC" if commits else ""
        raise ReceivablesError(f"{table} has no version at {when:%Y-%m-%d %H:%M:%S} UTC{since}")
    return max(before)


def table_history(reader: Reader, table: str) -> Rows:
    """Delta commits of one table with the run id each was tagged with."""
    rows = [
        (c.version, c.timestamp, c.operation, c.user_metadata.get("run_id"), c.user_metadata.get("as_of"),
         c.user_metadata.get("command"), c.metrics)
        for c in reader.commits(table)
    ]
    return Rows(["version", "timestamp", "operation", "run_id", "as_of", "command", "metrics"],
                [True, False, False, False, False, False, False], rows)


def run_history(reader: Reader) -> Rows:
    log = reader.relation("ops.run_log")
    return reader.sql(
        "SELECT run_id, command, as_of_date, status, started_at, duration_seconds, "
        "table_versions['gold.invoice_aging'] AS gold_invoice_aging_v, "
        "table_versions['gold.account_receivables'] AS gold_account_receivables_v, "
        "control_totals['gold.outstanding'] AS outstanding, "
        "counts['files.ingested'] AS files_ingested, "
        "counts['gold.invoice_aging.recomputed'] AS invoices_recomputed, "
        "counts['gold.invoice_aging.updated'] AS invoices_updated "
        f"FROM {log} ORDER BY started_at ASC NULLS FIRST"
    )


def run_counters(reader: Reader, run_id: str) -> Rows:
    """One run's every counter, control total and table version, one per row, by name."""
    log = reader.relation("ops.run_log")
    row = reader.sql(
        f"SELECT counts, control_totals, table_versions FROM {log} WHERE run_id = {sql_run_id(run_id)}"
    ).first()
    if row is None:
        raise ReceivablesError(f"no run {run_id} in ops.run_log; `receivables history` lists runs")
    out: list[tuple[Any, ...]] = []
    out += [("control total", k, f"{Decimal(v):,.2f}") for k, v in (row["control_totals"] or {}).items()]
    out += [("count", k, f"{int(v):,}") for k, v in (row["counts"] or {}).items()]
    out += [("table version", k, str(v)) for k, v in (row["table_versions"] or {}).items()]
    return Rows(["kind", "name", "value"], [False, False, False], sorted(out))


def _text(value: Any) -> str:
    """A value as the printers show it: timestamps in UTC like Spark prints them."""
    if isinstance(value, dt.datetime):
        text = value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
        return text.rstrip("0").rstrip(".") if "." in text else text
    return str(value)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:,.{max(0, -value.as_tuple().exponent)}f}"  # type: ignore[operator]
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=_text, sort_keys=True)
    return _text(value)


def emit(rows: Rows, fmt: str, limit: int | None = None) -> None:
    """Print rows as an aligned table (numbers right-aligned, decimal amounts with
    thousands separators; ids as they are), CSV or JSON lines, in their order."""
    values = rows.values[:limit] if limit else rows.values
    if fmt == "json":
        for row in values:
            print(json.dumps(dict(zip(rows.columns, row, strict=True)), default=_text))
        return
    if fmt == "csv":
        import csv
        import sys

        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(rows.columns)
        for row in values:
            writer.writerow(["" if v is None else _csv(v) for v in row])
        return
    cells = [[_cell(v) for v in row] for row in values]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(rows.columns)]

    def line(texts: list[str]) -> str:
        padded = (v.rjust(w) if num else v.ljust(w) for v, w, num in zip(texts, widths, rows.numeric, strict=True))
        return "  ".join(padded).rstrip()

    print(line(list(rows.columns)))
    print("  ".join("-" * w for w in widths))
    for texts in cells:
        print(line(texts))
    print(f"({len(values):,} row{'s' if len(values) != 1 else ''})")


def _csv(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=_text, sort_keys=True)
    return value if isinstance(value, (str, int, float, Decimal)) else _text(value)
