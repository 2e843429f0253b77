"""All reads and writes of Delta tables, and the run's commit tagging.

Tables live at ``<output_dir>/<layer>/<table>``; ``output_dir`` may be any
Hadoop-compatible URI. Layer code receives DataFrames and hands DataFrames back to the
functions here; it never opens files or sessions itself.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from delta.tables import DeltaMergeBuilder, DeltaTable
from pyspark.sql import Column, DataFrame, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DataType,
    DateType,
    DecimalType,
    FractionalType,
    IntegerType,
    IntegralType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from receivables.ops import faults

USER_METADATA_CONF = "spark.databricks.delta.commitInfo.userMetadata"
ROW_HASH_CHARS = 16  # hex digits of SHA-256 a row hash keeps (see silver.conform.row_hash)
OPTIMIZE_WRITE_CONF = "spark.databricks.delta.optimizeWrite.enabled"
SMALL_WRITE_ROWS = 1_000_000  # batches up to this size are written as few files (``small_write``)


def table_path(output_dir: str, layer: str, table: str) -> str:
    """Where a table lives: ``<output_dir>/<layer>/<table>``."""
    return f"{output_dir.rstrip('/')}/{layer}/{table}"


@dataclass(frozen=True)
class Layout:
    """How a table's files are laid out: its partition columns, and the columns a write of
    the whole table range-partitions its rows by first, so each file holds a range of them
    (a MERGE that touches a few rows of that range rewrites a few files, not all)."""

    partition_by: tuple[str, ...] = ()
    cluster_by: tuple[str, ...] = ()

    def arrange(self, df: DataFrame) -> DataFrame:
        columns = [*self.partition_by, *self.cluster_by]
        return df.repartitionByRange(*columns) if self.cluster_by else df


PLAIN = Layout()


def is_table(spark: SparkSession, path: str) -> bool:
    """A Delta table with at least one committed version at ``path``.

    A folder whose ``_delta_log`` holds no commit (a first write that died, e.g. on a full
    disk) is no table. Delta's own create would still take it for one, so a run first moves
    such a folder aside (``set_aside``) and then creates the table anew.
    """
    return last_commit(spark, path) is not None


def _hadoop_path(spark: SparkSession, path: str) -> tuple[Any, Any]:
    """``path`` as a Hadoop ``Path`` and the ``FileSystem`` that holds it (any URI)."""
    jvm: Any = spark._jvm
    hpath = jvm.org.apache.hadoop.fs.Path(path.rstrip("/"))
    return hpath.getFileSystem(spark._jsc.hadoopConfiguration()), hpath


def uncommitted(spark: SparkSession, path: str) -> bool:
    """``path`` exists but holds no committed Delta version (see ``is_table``)."""
    fs, hpath = _hadoop_path(spark, path)
    return bool(fs.exists(hpath)) and last_commit(spark, path) is None


def set_aside(spark: SparkSession, path: str, stamp: str) -> str:
    """Move a folder that holds no committed version (see ``uncommitted``) to a sibling
    ``_<name>.uncommitted-<stamp>``, so the table can be created anew and nothing in the
    folder is deleted. Returns the new path. Names starting with ``_`` are hidden from
    Spark and Delta readers."""
    fs, hpath = _hadoop_path(spark, path)
    jvm: Any = spark._jvm
    target = jvm.org.apache.hadoop.fs.Path(hpath.getParent(), f"_{hpath.getName()}.uncommitted-{stamp}")
    if not fs.rename(hpath, target):
        raise OSError(f"cannot move {path} aside to {target.toString()}")
    return str(target.toString())


def ensure_table(
    spark: SparkSession,
    path: str,
    schema: StructType,
    properties: dict[str, str],
    partition_by: Sequence[str] = (),
) -> bool:
    """Create an empty Delta table with this schema and these properties if absent;
    whether it did."""
    if is_table(spark, path):
        return False
    nullable = StructType([f.__class__(f.name, f.dataType, True) for f in schema.fields])
    builder = DeltaTable.createIfNotExists(spark).location(path).addColumns(nullable)
    for key, value in properties.items():
        builder = builder.property(key, value)
    if partition_by:
        builder = builder.partitionedBy(*partition_by)
    builder.execute()
    faults.committed()
    return True


def one(df: DataFrame) -> Row:
    """The first row of a query that always yields one (an aggregation without grouping)."""
    row = df.first()
    if row is None:
        raise ValueError("expected a row, the query returned none")
    return row


def local_frame(spark: SparkSession, rows: Sequence[Sequence[Any]], schema: StructType | str) -> DataFrame:
    """``rows`` (tuples in the order of ``schema``'s fields) as a DataFrame built inside
    the JVM, in one partition (a write of it is one file), with every column nullable.

    PySpark's ``createDataFrame`` of a Python list runs a Python worker process to unpickle
    the rows (~1 s to start, and on a cluster every executor would need Python). Here the
    rows travel as one JSON text, a list of values per column, that Spark parses and zips
    into rows; every value is written as text and cast to its column's type, so decimals,
    dates and timestamps arrive exactly (a naive datetime is local time, as
    ``createDataFrame`` takes it).
    """
    if isinstance(schema, str):
        parsed = DataType.fromDDL(schema)
        assert isinstance(parsed, StructType), schema
        schema = parsed
    fields = schema.fields
    for row in rows:
        if len(row) != len(fields):
            raise TypeError(f"local_frame: {row!r} has {len(row)} values for {len(fields)} columns")
    columns = {}
    for i, f in enumerate(fields):
        encode = _encoder(f.dataType)
        columns[f.name] = [encode(row[i]) for row in rows]
    wire = StructType([StructField(f.name, ArrayType(_text_type(f.dataType))) for f in fields])
    values = F.from_json(F.lit(json.dumps(columns, ensure_ascii=False)), wire, {"mode": "FAILFAST"})
    zipped = F.arrays_zip(*[values[f.name].alias(f.name) for f in fields])
    typed = [F.col(f.name).cast(f.dataType).alias(f.name) for f in fields]
    return spark.range(1, numPartitions=1).select(F.inline(zipped)).select(*typed)


def _text_type(t: DataType) -> DataType:
    """``t`` with every atomic type replaced by a string (``local_frame``'s JSON shape)."""
    if isinstance(t, StructType):
        return StructType([StructField(f.name, _text_type(f.dataType)) for f in t.fields])
    if isinstance(t, ArrayType):
        return ArrayType(_text_type(t.elementType))
    if isinstance(t, MapType):
        if not isinstance(t.keyType, StringType):
            raise TypeError(f"local_frame: map keys must be strings, not {t.keyType.simpleString()}")
        return MapType(StringType(), _text_type(t.valueType))
    return StringType()


# Each atomic type: the Python values it takes and how one is written as text that Spark's
# cast reads back exactly. Decimal before fractional (a DecimalType is a FractionalType).
_AS_TEXT: list[tuple[type[DataType], type | tuple[type, ...], Callable[[Any], str]]] = [
    (StringType, str, str),
    (BooleanType, bool, lambda v: "true" if v else "false"),
    (IntegralType, int, str),
    (DecimalType, (Decimal, int), lambda v: format(v, "f")),
    (FractionalType, (float, int), repr),
    (TimestampType, dt.datetime, lambda v: (v if v.tzinfo else v.astimezone()).isoformat()),
    (DateType, dt.date, lambda v: v.isoformat()),
]


def _encoder(t: DataType) -> Callable[[Any], Any]:
    """How ``local_frame`` writes a value of type ``t``: JSON of strings, lists and objects."""
    if isinstance(t, StructType):
        parts = [(f.name, _encoder(f.dataType)) for f in t.fields]
        return lambda v: None if v is None else {n: e(x) for (n, e), x in zip(parts, v, strict=True)}
    if isinstance(t, ArrayType):
        element = _encoder(t.elementType)
        return lambda v: None if v is None else [element(x) for x in v]
    if isinstance(t, MapType):
        value = _encoder(t.valueType)
        return lambda v: None if v is None else {k: value(x) for k, x in v.items()}
    found = next(((py, text) for spark_type, py, text in _AS_TEXT if isinstance(t, spark_type)), None)
    if found is None:
        raise TypeError(f"local_frame: no {t.simpleString()} columns")
    accepted, text = found
    refused = (bool,) if not isinstance(t, BooleanType) else ()
    if isinstance(t, DateType):
        refused = (*refused, dt.datetime)

    def encode(v: Any) -> Any:
        if v is None:
            return None
        if not isinstance(v, accepted) or isinstance(v, refused):
            raise TypeError(f"local_frame: {v!r} is no {t.simpleString()}")
        return text(v)

    return encode


def read(spark: SparkSession, path: str) -> DataFrame:
    return spark.read.format("delta").load(path)


def version(spark: SparkSession, path: str) -> int:
    """The latest committed version of a table (-1 if it does not exist)."""
    commit = last_commit(spark, path)
    return -1 if commit is None else commit.version


@dataclass(frozen=True)
class Commit:
    version: int
    timestamp: dt.datetime  # UTC, time-zone aware
    user_metadata: str | None
    metrics: dict[str, str] = field(default_factory=dict)  # operationMetrics, when known


def last_commit(spark: SparkSession, path: str) -> Commit | None:
    """The latest commit of a table (None if there is no table).

    Read straight from ``_delta_log`` through Hadoop's FileSystem (any URI): start at the
    version ``_last_checkpoint`` names, step forward while the next commit file exists,
    and read the newest one's ``commitInfo``. No Delta snapshot is built and no Spark job
    runs, so asking every table costs milliseconds, not a second each.
    """
    jvm: Any = spark._jvm
    hpath = jvm.org.apache.hadoop.fs.Path
    fs, log = _hadoop_path(spark, f"{path.rstrip('/')}/_delta_log")

    def text(name: str) -> str:
        stream = fs.open(hpath(log, name))
        try:
            return str(jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8"))
        finally:
            stream.close()

    def commit_file(v: int) -> str:
        return f"{v:020d}.json"

    if not fs.exists(log):
        return None
    latest = json.loads(text("_last_checkpoint"))["version"] if fs.exists(hpath(log, "_last_checkpoint")) else 0
    while fs.exists(hpath(log, commit_file(latest + 1))):
        latest += 1
    if not fs.exists(hpath(log, commit_file(latest))):
        return None if latest == 0 else _history_commit(spark, path)
    info: dict[str, Any] = {}
    for line in text(commit_file(latest)).splitlines():
        if '"commitInfo"' in line:
            info = json.loads(line).get("commitInfo", {})
            break
    when = dt.datetime.fromtimestamp(int(info.get("timestamp", 0)) / 1000, dt.UTC)
    return Commit(latest, when, info.get("userMetadata"), info.get("operationMetrics") or {})


def _history_commit(spark: SparkSession, path: str) -> Commit:
    row = one(DeltaTable.forPath(spark, path).history(1).select("version", "timestamp", "userMetadata"))
    # PySpark hands timestamps back as naive local times; astimezone reads them so.
    return Commit(int(row["version"]), row["timestamp"].astimezone(dt.UTC), row["userMetadata"])


def append(
    df: DataFrame, path: str, properties: dict[str, str] | None = None, add_columns: bool = False,
    layout: Layout = PLAIN,
) -> None:
    """Append ``df``; with ``add_columns`` the columns the table lacks are added to it
    (Delta's ``mergeSchema``), for a deliberate change of the table's shape. A table this
    creates gets ``layout`` (and a first write is arranged by it)."""
    created = ensure_table(df.sparkSession, path, df.schema, properties or {}, layout.partition_by)
    writer = (layout.arrange(df) if created else df).write.format("delta").mode("append")
    if add_columns:
        writer = writer.option("mergeSchema", "true")
    writer.save(path)
    faults.committed()


def replace_table(
    spark: SparkSession, df: DataFrame, path: str, properties: dict[str, str] | None = None,
    layout: Layout = PLAIN,
) -> MergeMetrics:
    """Replace every row, the schema and the layout of the table with ``df`` and ``layout``
    in one commit (earlier versions stay readable by time travel); the rows written count
    as inserted, the rows the table held as deleted."""
    held = 0
    if not is_table(spark, path):
        append(df, path, properties, layout=layout)
    else:
        held = read(spark, path).count()
        (layout.arrange(df).write.format("delta").mode("overwrite").option("overwriteSchema", "true")
         .partitionBy(*layout.partition_by).save(path))
        faults.committed()
    commit = last_commit(spark, path)
    return MergeMetrics(inserted=int(commit.metrics.get("numOutputRows", 0)) if commit else 0, deleted=held)


def columns(spark: SparkSession, path: str) -> list[str]:
    """The table's column names (its latest schema)."""
    return read(spark, path).columns


def partition_columns(spark: SparkSession, path: str) -> tuple[str, ...]:
    """The table's partition columns (empty when it is not partitioned)."""
    return tuple(one(DeltaTable.forPath(spark, path).detail().select("partitionColumns"))[0] or ())


def read_version(spark: SparkSession, path: str, version: int | None = None) -> DataFrame:
    """The table as it was at ``version`` (time travel); the latest rows when None."""
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.load(path)


def query(spark: SparkSession, text: str) -> DataFrame:
    """A user's SQL over the tables ``register_catalog`` named."""
    return spark.sql(text)


def history(spark: SparkSession, path: str) -> DataFrame:
    """Every commit of the table (``DESCRIBE HISTORY``): version, timestamp, operation,
    userMetadata, operationMetrics, …"""
    return DeltaTable.forPath(spark, path).history()


@dataclass(frozen=True)
class Compacted:
    files_removed: int
    files_added: int


def maintain_table(
    spark: SparkSession, path: str, properties: dict[str, str], retain_hours: int, optimize: bool,
    zorder_by: Sequence[str] = (),
) -> Compacted:
    """Set ``properties`` (no commit when already set), compact small files (OPTIMIZE) when
    ``optimize`` (``ZORDER BY zorder_by``: each file then holds a range of those columns),
    then VACUUM files removed more than ``retain_hours`` ago."""
    table = DeltaTable.forPath(spark, path)
    current = one(table.detail().select("properties"))[0] or {}
    if any(current.get(k) != v for k, v in properties.items()):
        props = ", ".join(f"'{k}' = '{v}'" for k, v in properties.items())
        spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ({props})")
        faults.committed()
    removed = added = 0
    if optimize:
        optimizer = table.optimize()
        done = optimizer.executeZOrderBy(*zorder_by) if zorder_by else optimizer.executeCompaction()
        metrics = one(done)["metrics"]
        removed, added = int(metrics["numFilesRemoved"]), int(metrics["numFilesAdded"])
    table.vacuum(retain_hours)
    return Compacted(removed, added)


def delete_where(spark: SparkSession, path: str, condition: Column) -> None:
    """Delete the rows matching ``condition`` (one commit; none when nothing matches)."""
    before = version(spark, path)
    DeltaTable.forPath(spark, path).delete(condition)
    if version(spark, path) != before:
        faults.committed()


def restore(spark: SparkSession, path: str, to_version: int) -> None:
    """Put the table back to ``to_version`` (a new commit; history keeps what was undone)."""
    DeltaTable.forPath(spark, path).restoreToVersion(to_version)
    faults.committed()


def insert_new(
    spark: SparkSession,
    source: DataFrame,
    path: str,
    key: Sequence[str],
    properties: dict[str, str] | None = None,
) -> int:
    """Insert source rows whose key the table lacks (idempotent append); returns inserted."""
    ensure_table(spark, path, source.schema, properties or {})
    on = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in key)
    result = (
        DeltaTable.forPath(spark, path).alias("t").merge(source.alias("s"), on)
        .whenNotMatchedInsertAll().execute()
    )
    faults.committed()
    row = result.first() if result is not None else None
    return int(row["num_inserted_rows"]) if row is not None else 0


def changes(spark: SparkSession, path: str, after_version: int, until: int | None = None) -> DataFrame | None:
    """Change Data Feed rows committed after ``after_version`` up to ``until`` (default:
    the latest version); None if there are none."""
    latest = version(spark, path) if until is None else until
    if latest <= after_version:
        return None
    return (
        spark.read.format("delta")
        .option("readChangeFeed", "true")
        .option("startingVersion", after_version + 1)
        .option("endingVersion", latest)
        .load(path)
    )


@dataclass(frozen=True)
class MergeMetrics:
    """Row counts of one MERGE (all zero when nothing was written)."""

    inserted: int = 0
    updated: int = 0
    deleted: int = 0

    @property
    def changed(self) -> int:
        return self.inserted + self.updated + self.deleted


def merge_by_hash(
    spark: SparkSession,
    source: DataFrame,
    path: str,
    key: Sequence[str],
    delete_missing: str | None = None,
    properties: dict[str, str] | None = None,
    prefilter: bool = True,
    skip_empty: bool = False,
    layout: Layout = PLAIN,
) -> MergeMetrics:
    """Upsert ``source`` into the table at ``path`` by ``key``.

    A matched row is rewritten only when its ``_row_hash`` differs (the hash covers every
    business column with NULL markers, so the comparison is NULL-safe). With
    ``delete_missing`` (a SQL condition on the target, ``"true"`` for all), target rows
    the source no longer has are deleted. ``prefilter=False`` skips the
    hash comparison for sources known to hold only changes; ``skip_empty`` then still
    makes no commit for an empty source. A table this creates gets ``layout``.
    """
    if not is_table(spark, path):
        # A first build: nothing to match, so a plain append writes the same rows without
        # a join against the (empty) target.
        append(source, path, properties, layout=layout)
        commit = last_commit(spark, path)
        return MergeMetrics(inserted=int(commit.metrics.get("numOutputRows", 0)) if commit else 0)
    if (prefilter or skip_empty) and not delete_missing:
        # Only rows that are new or differ reach the MERGE; none at all means no commit,
        # so an identical re-run leaves the table's history untouched. When every row is
        # new (a night of new invoices, lines, payments) they are appended: no join
        # against the whole target.
        if prefilter:
            changed = _flag_changes(spark, source, path, key).persist()
        else:
            changed = source.withColumn(_NEW, F.lit(False)).persist()
        try:
            n = changed.agg(
                F.count(F.lit(1)).alias("rows"), F.count(F.when(F.col(_NEW), 1)).alias("new")
            ).first()
            if n is None or n["rows"] == 0:
                return MergeMetrics()
            rows = changed.drop(_NEW)
            with small_write(spark, int(n["rows"])):
                if n["new"] == n["rows"]:
                    rows.write.format("delta").mode("append").save(path)
                    faults.committed()
                    return MergeMetrics(inserted=int(n["rows"]))
                return _merge(spark, rows, path, key, None)
        finally:
            changed.unpersist()
    return _merge(spark, source, path, key, delete_missing)


def upsert_changed(
    spark: SparkSession, source: DataFrame, path: str, key: Sequence[str], properties: dict[str, str] | None = None
) -> MergeMetrics:
    """Insert the source's new keys and rewrite the rows whose ``_row_hash`` differs; only
    those rows reach the MERGE, and none at all makes no commit."""
    return merge_by_hash(spark, source, path, key, properties=properties)


def replace_scope(
    spark: SparkSession, source: DataFrame, path: str, key: Sequence[str], scope: str,
    properties: dict[str, str] | None = None, layout: Layout = PLAIN,
) -> MergeMetrics:
    """Make the target rows matching the SQL condition ``scope`` (on ``t.*``; ``"true"``
    for the whole table) exactly the source: upsert by hash, delete the keys it lacks."""
    return merge_by_hash(spark, source, path, key, delete_missing=scope, properties=properties, layout=layout)


_DELETE, _TALLY = "_delete", "_tally"


def apply_changes(
    spark: SparkSession, changes: DataFrame, path: str, key: Sequence[str], deletes: Sequence[Any] = (),
    tally: str | None = None,
) -> tuple[MergeMetrics, int]:
    """One MERGE that writes rows known to differ from the table (``changes``: new keys
    inserted, the others rewritten) and removes the rows whose single key column value is
    in ``deletes``. It has no NOT MATCHED BY SOURCE clause, so Delta rewrites only the files
    holding those keys (such a clause, even with a condition, makes every file of the table
    one to rewrite). No commit when there is nothing to do. ``tally`` names a boolean
    column of ``changes`` that is counted (the second value returned), not written."""
    columns = [c for c in changes.columns if c != tally]
    flagged = F.col(tally) if tally else F.lit(False)
    source = changes.select(*columns, flagged.alias(_TALLY), F.lit(False).alias(_DELETE))
    if deletes:
        (column,) = key
        gone = local_frame(spark, [(v,) for v in deletes], StructType([changes.schema[column]]))
        source = source.unionByName(gone.select(
            *[F.col(c) if c == column else F.lit(None).cast(changes.schema[c].dataType).alias(c) for c in columns],
            F.lit(False).alias(_TALLY), F.lit(True).alias(_DELETE)))
    source = source.persist()
    try:
        n = one(source.agg(F.count(F.lit(1)).alias("rows"), F.count(F.when(F.col(_TALLY), 1)).alias("tally")))
        if n["rows"] == 0:
            return MergeMetrics(), 0
        on = " AND ".join(f"t.`{k}` = s.`{k}`" for k in key)
        values: dict[str, str | Column] = {c: F.col(f"s.`{c}`") for c in columns}
        merge = (
            DeltaTable.forPath(spark, path).alias("t").merge(source.alias("s"), on)
            .whenMatchedDelete(condition=F.col(f"s.{_DELETE}"))
            .whenMatchedUpdate(set=values)
            .whenNotMatchedInsert(condition=~F.col(f"s.{_DELETE}"), values=values)
        )
        with small_write(spark, int(n["rows"])):
            metrics = _execute(spark, merge, path)
    finally:
        source.unpersist()
    return metrics, int(n["tally"])


def upsert_all(
    spark: SparkSession, source: DataFrame, path: str, key: Sequence[str], properties: dict[str, str] | None = None
) -> MergeMetrics:
    """Upsert every source row (a small source known to hold changes: no pre-filter)."""
    return merge_by_hash(spark, source, path, key, properties=properties, prefilter=False)


_NEW = "_new_key"


def _flag_changes(spark: SparkSession, source: DataFrame, path: str, key: Sequence[str]) -> DataFrame:
    """Source rows that are new or whose ``_row_hash`` differs, flagged ``_new_key``.

    The target is first cut down to the source's keys (a broadcast semi-join when the
    source is small, as a night's batch is), so the target is scanned once, not shuffled.
    Before that, the source's range of the first key column becomes a literal predicate
    on the target (``key_range``), so Delta skips files outside it by their min/max
    statistics: a night's new invoices, lines and payments carry ids above every stored
    one, and their check reads no stored file.
    """
    keys = list(key)
    known = (
        key_range(read(spark, path), source, keys[0])
        .select(*keys, F.col("_row_hash").alias("_known_hash"))
        .join(source.select(*keys), keys, "left_semi")
    )
    return (
        source.join(known, keys, "left")
        .filter(F.col("_known_hash").isNull() | ~same_hash(F.col("_known_hash"), F.col("_row_hash")))
        .withColumn(_NEW, F.col("_known_hash").isNull())
        .drop("_known_hash")
    )


RANGED_TYPES = (IntegerType, LongType, DateType)


def key_range(target: DataFrame, source: DataFrame, column: str) -> DataFrame:
    """``target`` limited to the [min, max] of ``source[column]``, as literals Delta can
    skip files with. Only for integer and date keys (one small aggregation of the
    source); other types, or an empty source, leave the target as it is."""
    kind = source.schema[column].dataType
    if not isinstance(kind, RANGED_TYPES):
        return target
    low, high = one(source.agg(F.min(column), F.max(column)))
    if low is None:
        return target
    return target.filter(F.col(column).between(F.lit(low).cast(kind), F.lit(high).cast(kind)))


def same_hash(stored: Column, computed: Column) -> Column:
    """Row hashes equal: the row's business columns did not change."""
    return stored == computed


def changed_rows(spark: SparkSession, source: DataFrame, path: str, key: Sequence[str]) -> DataFrame:
    """The source rows the table lacks: new keys, or a different ``_row_hash``."""
    return _flag_changes(spark, source, path, key).drop(_NEW)


def _merge(
    spark: SparkSession,
    source: DataFrame,
    path: str,
    key: Sequence[str],
    delete_missing: str | None,
) -> MergeMetrics:
    on = " AND ".join(f"t.`{k}` = s.`{k}`" for k in key)
    merge = (
        DeltaTable.forPath(spark, path)
        .alias("t")
        .merge(source.alias("s"), on)
        .whenMatchedUpdateAll(condition=~same_hash(F.col("t._row_hash"), F.col("s._row_hash")))
        .whenNotMatchedInsertAll()
    )
    # Deletion first: a row both clauses match (an open invoice that left the source) goes.
    if delete_missing:
        merge = merge.whenNotMatchedBySourceDelete(condition=delete_missing)
    return _execute(spark, merge, path)


def _execute(spark: SparkSession, merge: DeltaMergeBuilder, path: str) -> MergeMetrics:
    """Run a built MERGE on the table at ``path``; its row counts (a commit is counted for
    the fault hooks only when the table's version moved)."""
    before = version(spark, path)
    result = merge.execute()
    if version(spark, path) != before:
        faults.committed()
    row = result.first() if result is not None else None
    if row is None:
        return MergeMetrics()
    return MergeMetrics(
        inserted=int(row["num_inserted_rows"]),
        updated=int(row["num_updated_rows"]),
        deleted=int(row["num_deleted_rows"]),
    )


@contextmanager
def _session_conf(spark: SparkSession, key: str, value: str) -> Iterator[None]:
    """``key`` set to ``value`` inside, restored (or unset) after."""
    previous = spark.conf.get(key, None)
    spark.conf.set(key, value)
    try:
        yield
    finally:
        if previous is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, previous)


def tagged_commits(spark: SparkSession, run_id: str, **extra: str) -> AbstractContextManager[None]:
    """Every Delta commit made inside carries ``{"run_id": …}`` as user metadata."""
    return _session_conf(spark, USER_METADATA_CONF, json.dumps({"run_id": run_id, **extra}, sort_keys=True))


def small_write(spark: SparkSession, rows: int) -> AbstractContextManager[None]:
    """Delta writes inside go through its optimized write when ``rows`` is at most
    ``SMALL_WRITE_ROWS``: one extra shuffle bins the written rows into files of up to
    512 MB, so a night's batch lands as one file instead of one per partition.

    A batch leaves classification (and its cache) in as many partitions as there are
    shuffle partitions, and each became a file: 8 files of a few hundred rows per silver
    table, every night, each opened by every later scan, each carrying its own deletion
    vector once a correction touches it. Bigger batches keep their partitions and
    their parallel write.
    """
    if rows > SMALL_WRITE_ROWS:
        return nullcontext()
    return _session_conf(spark, OPTIMIZE_WRITE_CONF, "true")


def register_catalog(spark: SparkSession, output_dir: str, tables: dict[str, list[str]]) -> list[str]:
    """Make ``layer.table`` names resolve to the Delta tables under ``output_dir``; returns
    the names of the tables that exist (and are now registered)."""
    done = []
    for layer, names in tables.items():
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {layer}")
        for name in names:
            path = table_path(output_dir, layer, name)
            if is_table(spark, path):
                spark.sql(
                    f"CREATE TABLE IF NOT EXISTS {layer}.{name} USING DELTA LOCATION '{path}'"
                )
                done.append(f"{layer}.{name}")
    return done
