"""Shared silver machinery: type and validate bronze rows, classify, de-duplicate.

Every bronze row of a batch gets exactly one status, so rows are conserved:
``accepted`` (the version that reaches silver), ``duplicate`` (same key and content as
the accepted row), ``superseded`` (an older version of the key in the same batch),
``invalid`` (failed parsing) or ``conflict`` (one file gives the key two different
contents: all its copies are quarantined, so a MERGE never sees duplicate keys).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

from receivables import io
from receivables.entities import VOID, Entity
from receivables.ops.conservation import MEASURE, MEASURED, measure
from receivables.silver.parse import Parsed
from receivables.vocabulary import CORRUPT, STATUSES

ORDER = ["_ingested_at", "_source_file", "_row_number"]
LINEAGE = ["_source_file", "_file_checksum", "_row_number", "_run_id", "_as_of_date", "_ingested_at"]

QUARANTINE_SCHEMA = StructType(
    [
        StructField("entity", StringType(), False),
        StructField("record_key", StringType(), True),
        StructField("reason", StringType(), False),
        StructField("raw_row", StringType(), True),
        StructField("_source_file", StringType(), False),
        StructField("_file_checksum", StringType(), False),
        StructField("_row_number", LongType(), False),
        StructField("_run_id", StringType(), False),
        StructField("quarantined_at", TimestampType(), False),
    ]
)


@dataclass(frozen=True)
class SilverTable:
    """How one entity's bronze rows become silver rows."""

    entity: Entity
    parsers: Callable[[], dict[str, Parsed]]  # output column -> parser, in output order

    @property
    def key(self) -> tuple[str, ...]:
        return self.entity.key


def row_hash(columns: Sequence[str | Column]) -> Column:
    """The first 64 bits (16 hex digits) of SHA-256 over the business columns; NULLs are
    distinguishable from any value.

    A hash is only ever compared with other versions of the same key, so taking a changed
    row for unchanged needs a 2^-64 coincidence; the full 64 hex digits were most of the
    bytes of silver line items and of gold.
    """
    digest = F.sha2(F.to_json(F.struct(*[F.col(c) if isinstance(c, str) else c for c in columns])), 256)
    return F.substring(digest, 1, io.ROW_HASH_CHARS)


def record_key(key: Sequence[str]) -> Column:
    return F.concat_ws(", ", *[F.concat(F.lit(f"{k}="), F.coalesce(F.col(k).cast("string"), F.lit("?"))) for k in key])


def typed(bronze: DataFrame, table: SilverTable) -> DataFrame:
    """Parse every column; ``_problems`` lists what is wrong with the row (empty if fine).
    An optional column the bronze rows lack (a table written before it existed) is NULL."""
    for column in table.entity.optional:
        if column not in bronze.columns:
            bronze = bronze.withColumn(column, F.lit(None).cast(StringType()))
    parsers = table.parsers()
    problems = [p.problem for p in parsers.values()]
    malformed = F.when(
        F.col(CORRUPT).isNotNull(),
        F.lit(f"malformed row: not {len([c for c in table.entity.columns if c != VOID])} fields "
              "as the header says"),
    )
    entity = table.entity
    return bronze.select(
        *[p.value.alias(name) for name, p in parsers.items()],
        F.filter(F.array(malformed, *problems), lambda x: x.isNotNull()).alias("_problems"),
        F.to_json(F.struct(*entity.columns, CORRUPT)).alias("_raw_row"),
        # the delivered measure, for the conservation check of the batch (see ops.conservation)
        (measure(F.col(entity.measure)) if entity.measure else F.lit(None).cast(MEASURE)).alias(MEASURED),
        *[F.col(c) for c in LINEAGE],
    )


REPEATED_KEYS_LIMIT = 100_000  # repeated keys a split batch broadcasts; past it, one window


def classify(
    rows: DataFrame, table: SilverTable, partition: Sequence[str] = (), *, split_repeated: bool = False
) -> DataFrame:
    """Give each typed row a ``_status`` and a ``_reason`` (for quarantined rows).

    ``partition`` extends the key for de-duplication (SKUs de-duplicate per as-of date).

    ``split_repeated`` is for big batches (a first build or a full rebuild reads all of
    bronze). One pass over the keys finds those the batch holds more than once; only their
    rows go through the window, and a key delivered once is accepted (or invalid) where it
    is read, without shuffling and sorting the batch. The statuses are the same either
    way. Past ``REPEATED_KEYS_LIMIT`` repeated keys (they are broadcast) the whole batch
    takes the window.
    """
    business = list(table.parsers().keys())
    key = [*table.key, *partition]

    def hashed(part: DataFrame) -> DataFrame:
        return part.withColumn("_row_hash", row_hash(business))

    if split_repeated:
        found = repeated_keys(rows, key, REPEATED_KEYS_LIMIT)
        if found == []:
            return _classify_once(hashed(rows))
        if found is not None:
            schema = StructType(
                [StructField(f"_repeated_{i}", rows.schema[k].dataType, True) for i, k in enumerate(key)]
            )
            repeated = F.broadcast(io.local_frame(rows.sparkSession, found, schema))
            # each side is hashed after the join: the repeated side keeps few of the rows
            once = hashed(rows.join(repeated, _same_key(key), "left_anti"))
            again = hashed(rows.join(repeated, _same_key(key), "left_semi"))
            return _classify_once(once).unionByName(_classify_window(again, table, key))
    return _classify_window(hashed(rows), table, key)


def repeated_keys(rows: DataFrame, key: Sequence[str], limit: int) -> list[tuple[Any, ...]] | None:
    """The keys ``rows`` holds more than once (a NULL key too), one tuple each; None when
    there are more than ``limit``."""
    found = (
        rows.groupBy(*key).agg(F.count(F.lit(1)).alias("_n"))
        .filter(F.col("_n") > 1).select(*key).limit(limit + 1).collect()
    )
    return None if len(found) > limit else [tuple(r) for r in found]


def _same_key(key: Sequence[str]) -> Column:
    on = [F.col(k).eqNullSafe(F.col(f"_repeated_{i}")) for i, k in enumerate(key)]
    condition = on[0]
    for part in on[1:]:
        condition = condition & part
    return condition


def _valid() -> Column:
    return F.size("_problems") == 0


def _kept(rows: DataFrame) -> list[str]:
    # What leaves classification is cached by the caller: the raw row (unique text per row,
    # most of a cached row's bytes) is kept only for rows bound for quarantine, and
    # ``_problems`` only feeds the invalid rows' reason.
    return [c for c in rows.columns if c not in ("_problems", "_raw_row")]


def _classify_once(rows: DataFrame) -> DataFrame:
    """Rows of keys the batch holds once: accepted when valid, else invalid."""
    valid = _valid()
    return rows.select(
        *_kept(rows),
        F.when(~valid, F.col("_raw_row")).alias("_raw_row"),
        F.when(valid, "accepted").otherwise("invalid").alias("_status"),
        F.when(~valid, F.array_join("_problems", "; ")).alias("_reason"),
    )


def _classify_window(with_hash: DataFrame, table: SilverTable, key: Sequence[str]) -> DataFrame:
    valid = _valid()
    # One window spec (the key's rows, newest first, whole frame) for every window
    # function, so Spark shuffles and sorts the batch once. A conflict is one file giving
    # the key two different contents: among the key's distinct (file, hash) pairs, more
    # than one from this row's file. The winner is the newest row that is not a conflict.
    newest_first = (
        Window.partitionBy(*key)
        .orderBy(*[F.col(c).desc() for c in ORDER])
        .rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    )
    seen = F.collect_set(F.struct("_file_checksum", "_row_hash")).over(newest_first)
    ok = with_hash.filter(valid).withColumn(
        "_conflict",
        F.size(F.filter(seen, lambda x: x["_file_checksum"] == F.col("_file_checksum"))) > 1,
    )
    winner = F.first(
        F.when(~F.col("_conflict"), F.struct("_file_checksum", "_row_number", "_row_hash")),
        ignorenulls=True,
    ).over(newest_first)
    ok = ok.withColumn("_winner", winner)
    is_winner = (F.col("_winner._file_checksum") == F.col("_file_checksum")) & (
        F.col("_winner._row_number") == F.col("_row_number")
    )
    kept = _kept(with_hash)
    ok = ok.select(
        *kept,
        F.when(F.col("_conflict"), F.col("_raw_row")).alias("_raw_row"),
        F.when(F.col("_conflict"), "conflict")
        .when(is_winner, "accepted")
        .when(F.col("_row_hash") == F.col("_winner._row_hash"), "duplicate")
        .otherwise("superseded")
        .alias("_status"),
        F.when(
            F.col("_conflict"),
            F.concat(
                F.lit("conflicting duplicate key: "),
                record_key(table.key),
                F.lit(" appears in this file with different content"),
            ),
        ).alias("_reason"),
    )
    bad = with_hash.filter(~valid).select(
        *kept,
        "_raw_row",
        F.lit("invalid").alias("_status"),
        F.array_join("_problems", "; ").alias("_reason"),
    )
    return ok.unionByName(bad)


def accepted(classified: DataFrame, table: SilverTable, updated_at: dt.datetime) -> DataFrame:
    """The rows that reach silver: business columns, hash and lineage."""
    return classified.filter(F.col("_status") == "accepted").select(
        *table.parsers().keys(),
        "_row_hash",
        "_source_file",
        "_file_checksum",
        "_row_number",
        "_run_id",
        "_as_of_date",
        F.lit(updated_at).cast(TimestampType()).alias("_updated_at"),
    )


def quarantined(classified: DataFrame, table: SilverTable, run_id: str, at: dt.datetime) -> DataFrame:
    """Rows that failed, shaped for the quarantine table."""
    return classified.filter(F.col("_status").isin("invalid", "conflict")).select(
        F.lit(table.entity.name).alias("entity"),
        record_key(table.key).alias("record_key"),
        F.col("_reason").alias("reason"),
        F.col("_raw_row").alias("raw_row"),
        "_source_file",
        "_file_checksum",
        "_row_number",
        F.lit(run_id).alias("_run_id"),
        F.lit(at).cast(TimestampType()).alias("quarantined_at"),
    )


def live(rows: DataFrame) -> DataFrame:
    """The rows that count: a voided row (``voided`` true) is kept in silver, as the latest
    word on its key, and counts in no total."""
    if VOID not in rows.columns:
        return rows
    return rows.filter(~F.coalesce(F.col(VOID), F.lit(False)))


def status_counts(classified: DataFrame) -> dict[str, int]:
    counts = {s: 0 for s in STATUSES}
    for row in classified.groupBy("_status").count().collect():
        counts[row["_status"]] = int(row["count"])
    return counts
