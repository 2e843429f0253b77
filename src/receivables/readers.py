"""Reading the tables for the read-only commands (`history`, `query`, `sql`, `report`).

Two engines answer the same questions with the same rows:

- ``DuckReader``: DuckDB with its Delta extension (built on the Delta kernel; it reads
  deletion vectors and time-travels by version). No JVM: an answer takes well under a
  second where starting Spark alone takes several. Local outputs only.
- ``SparkReader``: the Spark session with Delta, for any Hadoop-compatible URI
  (``--engine spark``).

Both return ``Rows``: plain Python values (``Decimal`` amounts, ``date``, time-zone aware
UTC ``datetime``), so callers and printers never depend on the engine. SQL handed to
``sql`` is in the subset both dialects share (SELECT, WHERE, GROUP BY, ORDER BY … NULLS
FIRST, LIMIT, map subscripts, window functions, ``concat``); where they differ the reader
writes the expression (``money_text``, ``ordered_join``). ``user_sql`` runs a user's
statement in the engine's own dialect. ``copy_csv`` writes a query's rows to a CSV file
(DuckDB writes it itself, without handing the rows to Python).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from receivables.catalog import CATALOG
from receivables.errors import ReceivablesError

if TYPE_CHECKING:
    import duckdb
    from pyspark.sql import DataFrame, SparkSession

ENGINES = ("auto", "duckdb", "spark")
_NAMED = re.compile(r"\b(bronze|silver|gold|ops)\.([A-Za-z_][A-Za-z0-9_]*)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Rows:
    """A result: column names, which columns are numbers (printed right-aligned), values."""

    columns: list[str]
    numeric: list[bool]
    values: list[tuple[Any, ...]]

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.values]

    def first(self) -> dict[str, Any] | None:
        return self.dicts()[0] if self.values else None


@dataclass(frozen=True)
class Commit:
    """One commit of a table, as ``DESCRIBE HISTORY`` lists it."""

    version: int
    timestamp: dt.datetime  # UTC, aware
    operation: str
    user_metadata: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, str] = field(default_factory=dict)


class Reader(Protocol):
    engine: str
    output_dir: str

    def exists(self, table: str) -> bool: ...

    def relation(self, table: str, version: int | None = None) -> str: ...

    def sql(self, text: str) -> Rows: ...

    def user_sql(self, text: str) -> Rows: ...

    def commits(self, table: str) -> list[Commit]: ...

    def copy_csv(self, text: str, path: Path) -> None: ...

    def money_text(self, expr: str) -> str: ...

    def ordered_join(self, expr: str, order: str) -> str: ...


def split_name(table: str) -> tuple[str, str]:
    layer, _, name = table.partition(".")
    if not name or layer not in CATALOG:
        raise ReceivablesError(f"table {table!r} must be named layer.table, e.g. gold.invoice_aging "
                               f"(layers: {', '.join(CATALOG)})")
    return layer, name


def local_dir(output_dir: str) -> str | None:
    """The local folder of an output (a path or file: URI); None for a remote URI."""
    from receivables.ops.lock import local_path

    return local_path(output_dir)


def open_reader(engine: str, output_dir: str, spark_factory: Any = None) -> Reader:
    """The reader for ``engine`` (``auto``: DuckDB for a local output, else Spark).
    ``spark_factory()`` builds the Spark session only when Spark is the engine."""
    if engine not in ENGINES:
        raise ReceivablesError(f"engine {engine!r} is not one of {', '.join(ENGINES)}")
    folder = local_dir(output_dir)
    if engine == "auto":
        engine = "duckdb" if folder is not None else "spark"
    if engine == "duckdb":
        if folder is None:
            raise ReceivablesError(f"--engine duckdb reads local outputs only; {output_dir} is remote "
                                   "(use --engine spark)")
        return DuckReader(folder)
    if spark_factory is None:
        raise ReceivablesError("the Spark engine needs a session")
    return SparkReader(spark_factory(), output_dir)


def _commit_files(log: Path) -> Iterator[tuple[int, Path]]:
    for path in log.glob("*.json"):
        stem = path.name[:-5]
        if stem.isdigit():
            yield int(stem), path


def read_commits(folder: str) -> list[Commit]:
    """A local table's commits from its ``_delta_log``, timestamped as Delta does: the
    in-commit timestamp when the table records one, else the commit file's modification
    time, made strictly increasing."""
    out: list[Commit] = []
    last_ms = -1
    for version, path in sorted(_commit_files(Path(folder) / "_delta_log")):
        info: dict[str, Any] = {}
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if line.startswith('{"commitInfo"'):
                    info = json.loads(line)["commitInfo"]
                    break
        ms = int(info.get("inCommitTimestamp") or path.stat().st_mtime_ns // 1_000_000)
        if ms <= last_ms and "inCommitTimestamp" not in info:
            ms = last_ms + 1
        last_ms = ms
        try:
            meta = json.loads(info.get("userMetadata") or "{}")
        except ValueError:
            meta = {"text": info.get("userMetadata")}
        out.append(Commit(
            version=version,
            timestamp=dt.datetime.fromtimestamp(ms / 1000, dt.UTC),
            operation=str(info.get("operation", "")),
            user_metadata=meta if isinstance(meta, dict) else {"text": meta},
            metrics={str(k): str(v) for k, v in sorted((info.get("operationMetrics") or {}).items())},
        ))
    return out


class DuckReader:
    """DuckDB over the Delta tables of a local output folder."""

    engine = "duckdb"

    def __init__(self, output_dir: str) -> None:
        import duckdb

        self.output_dir = os.path.abspath(output_dir)
        self._con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
        self._con.execute(f"LOAD '{delta_extension()}'")
        self._con.execute("SET TimeZone = 'UTC'")
        self._attached: dict[tuple[str, int | None], str] = {}
        self._views: set[str] = set()

    def folder(self, table: str) -> str:
        layer, name = split_name(table)
        return os.path.join(self.output_dir, layer, name)

    def exists(self, table: str) -> bool:
        log = Path(self.folder(table)) / "_delta_log"
        return log.is_dir() and any(True for _ in _commit_files(log))

    def relation(self, table: str, version: int | None = None) -> str:
        """A name the table (at ``version``) is attached under, for ``sql``."""
        key = (table, version)
        if key not in self._attached:
            if not self.exists(table):
                raise ReceivablesError(f"{table} does not exist under {self.output_dir}")
            if version is not None:
                known = sorted(v for v, _ in _commit_files(Path(self.folder(table)) / "_delta_log"))
                if version not in known:
                    raise ReceivablesError(f"{table} has no version {version} (its log holds versions "
                                           f"{known[0]} to {known[-1]})")
            alias = f"{table.replace('.', '__')}__{'latest' if version is None else f'v{version}'}"
            # One attachment per version: the kernel resolves each snapshot once.
            at = "" if version is None else f", VERSION {int(version)}"
            uri = "file://" + self.folder(table).replace("'", "''")
            try:
                self._con.execute(f"ATTACH '{uri}' AS \"{alias}\" (TYPE delta{at})")
            except Exception as exc:  # the kernel names a missing or vacuumed version
                raise ReceivablesError(f"cannot read {table}{'' if version is None else f' at version {version}'}: "
                                       f"{str(exc).splitlines()[0]}") from None
            self._attached[key] = f'"{alias}"'
        return self._attached[key]

    def sql(self, text: str) -> Rows:
        import duckdb

        try:
            return self._rows(self._con.sql(text))
        except duckdb.Error as exc:
            raise ReceivablesError(f"SQL error: {str(exc).splitlines()[0]}") from None

    def user_sql(self, text: str) -> Rows:
        """A user's statement (DuckDB's dialect) with ``layer.table`` names for every table it
        mentions that exists."""
        import duckdb

        for layer, name in {(m.group(1).lower(), m.group(2)) for m in _NAMED.finditer(text)}:
            table = f"{layer}.{name}"
            if table in self._views or name not in CATALOG[layer] or not self.exists(table):
                continue
            self._con.execute(f"CREATE SCHEMA IF NOT EXISTS {layer}")
            self._con.execute(f"CREATE OR REPLACE VIEW {layer}.{name} AS SELECT * FROM {self.relation(table)}")
            self._views.add(table)
        try:
            rel = self._con.sql(text)
        except duckdb.Error as exc:
            raise ReceivablesError(f"SQL error: {str(exc).splitlines()[0]}") from None
        if rel is None:
            raise ReceivablesError("the statement returned no rows (read-only queries only)")
        return self._rows(rel)

    def commits(self, table: str) -> list[Commit]:
        if not self.exists(table):
            raise ReceivablesError(f"{table} does not exist under {self.output_dir}")
        return read_commits(self.folder(table))

    def copy_csv(self, text: str, path: Path) -> None:
        """The query's rows as CSV with a header, written by DuckDB (cells as Python's csv
        module writes them: NULL is an empty cell; a query maps '' to NULL itself)."""
        target = str(path).replace("'", "''")
        self._con.execute(f"COPY ({text}) TO '{target}' (FORMAT csv, HEADER true, DELIMITER ',', QUOTE '\"')")

    def money_text(self, expr: str) -> str:
        """``expr`` (a decimal amount) as text with thousands separators and two places,
        exactly (whole and cent parts as integers, no floating point)."""
        x = f"CAST({expr} AS DECIMAL(38,2))"
        return (f"(CASE WHEN {x} < 0 THEN '-' ELSE '' END || format('{{:,}}', CAST(TRUNC(ABS({x})) AS HUGEINT)) "
                f"|| '.' || lpad(CAST(CAST(ABS({x}) * 100 AS HUGEINT) % 100 AS VARCHAR), 2, '0'))")

    def ordered_join(self, expr: str, order: str) -> str:
        """An aggregate: the group's non-NULL ``expr`` texts in ``order``, joined by commas."""
        return f"string_agg({expr}, ',' ORDER BY {order})"

    def _rows(self, rel: duckdb.DuckDBPyRelation) -> Rows:
        # TIMESTAMP WITH TIME ZONE comes back as naive UTC (the session zone), made aware here.
        types = [str(t) for t in rel.types]
        cols = [f'CAST("{c}" AS TIMESTAMP) AS "{c}"' if t == "TIMESTAMP WITH TIME ZONE" else f'"{c}"'
                for c, t in zip(rel.columns, types, strict=True)]
        fetched = rel.project(", ".join(cols)).fetchall()
        stamps = [t.startswith("TIMESTAMP") for t in types]
        maps = [t.startswith("MAP(") for t in types]
        values = ([tuple(_aware(v) if s else _by_key(v) if m else v for v, s, m in zip(row, stamps, maps, strict=True))
                   for row in fetched] if any(stamps) or any(maps) else fetched)
        return Rows(list(rel.columns), [_duck_numeric(t) for t in types], values)


def _by_key(value: Any) -> Any:
    """A map cell with its keys in order. The order a map's entries are stored in is no
    part of its value, and the engines differ: DuckDB keeps it, PySpark's collect passes
    a map through a Java HashMap. Sorted, a map reads the same from either."""
    return None if value is None else dict(sorted(value.items()))


def _aware(value: Any) -> Any:
    return value.replace(tzinfo=dt.UTC) if isinstance(value, dt.datetime) and value.tzinfo is None else value


def _duck_numeric(type_name: str) -> bool:
    base = type_name.split("(")[0]
    return base in {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
                    "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "DECIMAL"}


def delta_extension() -> str:
    """The Delta extension file the ``duckdb-ext-delta`` package ships for this DuckDB."""
    import duckdb

    root = Path(duckdb.__file__).parent.parent / "duckdb_ext" / "extensions" / f"v{duckdb.__version__}"
    found = sorted(root.glob("*/delta.duckdb_extension"))
    if not found:
        raise ReceivablesError(
            f"DuckDB's Delta extension for DuckDB {duckdb.__version__} is not installed (package "
            "duckdb-ext-delta; `make setup` installs it); or read with --engine spark"
        )
    return str(found[0])


class SparkReader:
    """The Spark session over the tables of an output (any URI)."""

    engine = "spark"

    def __init__(self, spark: SparkSession, output_dir: str) -> None:
        self.spark = spark
        self.output_dir = output_dir
        self._views: dict[tuple[str, int | None], str] = {}
        self._registered = False

    def path(self, table: str) -> str:
        from receivables import io

        return io.table_path(self.output_dir, *split_name(table))

    def exists(self, table: str) -> bool:
        from receivables import io

        return io.is_table(self.spark, self.path(table))

    def relation(self, table: str, version: int | None = None) -> str:
        from receivables import io

        key = (table, version)
        if key not in self._views:
            if not self.exists(table):
                raise ReceivablesError(f"{table} does not exist under {self.output_dir}")
            name = f"{table.replace('.', '__')}__{'latest' if version is None else f'v{version}'}"
            io.read_version(self.spark, self.path(table), version).createOrReplaceTempView(name)
            self._views[key] = f"`{name}`"
        return self._views[key]

    def sql(self, text: str) -> Rows:
        return spark_rows(self.spark.sql(text))

    def user_sql(self, text: str) -> Rows:
        from receivables import io

        if not self._registered:
            io.register_catalog(self.spark, self.output_dir, CATALOG)
            self._registered = True
        return spark_rows(io.query(self.spark, text))

    def commits(self, table: str) -> list[Commit]:
        from receivables import io

        if not self.exists(table):
            raise ReceivablesError(f"{table} does not exist under {self.output_dir}")
        from pyspark.sql import functions as F

        hist = io.history(self.spark, self.path(table)).select(
            "version", F.col("timestamp").cast("string").alias("ts"), "operation", "userMetadata",
            "operationMetrics")
        out = []
        for r in hist.orderBy("version").collect():
            try:
                meta = json.loads(r["userMetadata"] or "{}")
            except ValueError:
                meta = {"text": r["userMetadata"]}
            out.append(Commit(int(r["version"]), _parse_utc(r["ts"]), str(r["operation"]),
                              meta if isinstance(meta, dict) else {"text": meta},
                              dict(sorted((r["operationMetrics"] or {}).items()))))
        return out

    def copy_csv(self, text: str, path: Path) -> None:
        """The query's rows as CSV with a header (collected, written by Python's csv module)."""
        import csv

        rows = self.sql(text)
        with path.open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(rows.columns)
            w.writerows(rows.values)

    def money_text(self, expr: str) -> str:
        return f"format_number({expr}, 2)"

    def ordered_join(self, expr: str, order: str) -> str:
        return f"listagg({expr}, ',') WITHIN GROUP (ORDER BY {order})"


def _parse_utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def spark_rows(df: DataFrame) -> Rows:
    """Collect a frame as ``Rows``; timestamps are read in the session zone (UTC) as text
    and made aware (collected directly, PySpark would turn them into this machine's local time)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import MapType, NumericType, TimestampType

    fields = df.schema.fields
    stamps = [isinstance(f.dataType, TimestampType) for f in fields]
    maps = [isinstance(f.dataType, MapType) for f in fields]
    df = df.select(*[F.col(f"`{f.name}`").cast("string") if s else F.col(f"`{f.name}`")
                     for f, s in zip(fields, stamps, strict=True)])
    values = [
        tuple((_parse_utc(v) if s and v is not None else _by_key(_plain(v)) if m else _plain(v))
              for v, s, m in zip(row, stamps, maps, strict=True))
        for row in df.collect()
    ]
    return Rows([f.name for f in fields], [isinstance(f.dataType, NumericType) for f in fields], values)


def _plain(value: Any) -> Any:
    """Spark's Row structs as dicts (DuckDB returns structs as dicts)."""
    from pyspark.sql import Row

    if isinstance(value, Row):
        return {k: _plain(v) for k, v in value.asDict().items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
