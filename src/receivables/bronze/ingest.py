"""Bronze tables: one per entity, every delivered row as delivered plus lineage.

Grain: one row per delivered CSV record (``_file_checksum``, ``_row_number``).
Columns: the entity's columns as strings (absent optional columns are NULL),
``_corrupt_record`` (the raw text of a row Spark could not split into the header's
columns), and lineage ``_source_file``, ``_file_checksum``, ``_row_number`` (1-based
record number within the file), ``_run_id``, ``_as_of_date``, ``_ingested_at``.
Append-only; Change Data Feed tells silver which rows are new.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import (
    BooleanType,
    DateType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from receivables.bronze.files import FileFacts
from receivables.entities import Entity
from receivables.errors import ConservationError
from receivables.ops.conservation import MEASURE, check_file, measure

CORRUPT = "_corrupt_record"

LINEAGE_FIELDS = [
    StructField("_source_file", StringType(), False),
    StructField("_file_checksum", StringType(), False),
    StructField("_row_number", LongType(), False),
    StructField("_run_id", StringType(), False),
    StructField("_as_of_date", DateType(), False),
    StructField("_ingested_at", TimestampType(), False),
]

MANIFEST_SCHEMA = StructType(
    [
        StructField("entity", StringType(), False),
        StructField("source_file", StringType(), False),
        StructField("checksum", StringType(), False),
        StructField("size_bytes", LongType(), False),
        StructField("records", LongType(), False),
        StructField("multiline", BooleanType(), False),
        StructField("has_bom", BooleanType(), False),
        StructField("action", StringType(), False),
        StructField("replaces_checksum", StringType(), True),
        StructField("run_id", StringType(), False),
        StructField("as_of_date", DateType(), False),
        StructField("recorded_at", TimestampType(), False),
        # the file's modification time (ns) when it was read: a later delivery with the same
        # path, size and time is known without reading it again (bronze.files.facts_for)
        StructField("modified_ns", LongType(), True),
    ]
)


def bronze_schema(entity: Entity) -> StructType:
    """Delivered columns (all strings), the corrupt-row column, then lineage."""
    fields = [StructField(c, StringType(), True) for c in entity.columns]
    fields.append(StructField(CORRUPT, StringType(), True))
    return StructType(fields + LINEAGE_FIELDS)


def _spark_uri(path: str) -> str:
    # Spark reports local files as file:/abs/path (URL-escaped), not file:///abs/path.
    return Path(path).resolve().as_uri().replace("file:///", "file:/", 1)


def _read_group(spark: SparkSession, facts: Sequence[FileFacts], multiline: bool) -> DataFrame:
    header = facts[0].header
    schema = StructType(
        [StructField(c, StringType(), True) for c in header]
        + [StructField(CORRUPT, StringType(), True)]
    )
    return (
        spark.read.format("csv")
        .schema(schema)
        .option("header", True)
        .option("multiLine", multiline)
        .option("escape", '"')
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT)
        .option("encoding", "UTF-8")
        .load([f.path for f in facts])
        .select(
            "*",
            F.col("_metadata.file_path").alias("_uri"),
            F.col("_metadata.file_block_start").alias("_block"),
            F.monotonically_increasing_id().alias("_mid"),
        )
    )


def read_delivered(
    spark: SparkSession,
    entity: Entity,
    facts: Sequence[FileFacts],
    input_root: str,
    run_id: str,
    as_of: dt.date,
    ingested_at: dt.datetime,
) -> DataFrame:
    """The new files of one entity as a bronze-shaped DataFrame (cached, counted).

    Row numbers are exact record numbers within each file even when Spark splits a file
    across tasks: rows are numbered by (split start, position within split). The count per
    file must equal the independent pre-pass count, or nothing is written.
    """
    root = Path(input_root).resolve()
    groups: dict[tuple[tuple[str, ...], bool], list[FileFacts]] = {}
    for f in facts:
        groups.setdefault((f.header, f.multiline), []).append(f)
    parts = [_read_group(spark, group, ml) for (_, ml), group in groups.items()]
    raw = parts[0]
    for part in parts[1:]:
        raw = raw.unionByName(part, allowMissingColumns=True)
    for column in entity.columns:
        if column not in raw.columns:
            raw = raw.withColumn(column, F.lit(None).cast(StringType()))
    raw = raw.persist()

    files = spark.createDataFrame(
        [
            (_spark_uri(f.path), str(Path(f.path).resolve().relative_to(root)), f.checksum)
            for f in facts
        ],
        "_uri string, _source_file string, _file_checksum string",
    )
    unit = measure(F.col(entity.measure)) if entity.measure else F.lit(None).cast(MEASURE)
    blocks = (
        raw.groupBy("_uri", "_block")
        .agg(F.min("_mid").alias("_first_mid"), F.count(F.lit(1)).alias("_n"), F.sum(unit).alias("_m"))
        .withColumn(
            "_offset",
            F.coalesce(
                F.sum("_n").over(
                    Window.partitionBy("_uri")
                    .orderBy("_block")
                    .rowsBetween(Window.unboundedPreceding, -1)
                ),
                F.lit(0),
            ),
        )
    ).persist()
    per_file = {
        r["_uri"]: (int(r["n"]), r["m"])
        for r in blocks.groupBy("_uri").agg(F.sum("_n").alias("n"), F.sum("_m").alias("m")).collect()
    }
    for f in facts:
        got, got_measure = per_file.get(_spark_uri(f.path), (0, None))
        try:
            if got != f.records:
                raise ConservationError(
                    f"{f.path}: Spark read {got} rows but the file holds {f.records} CSV records; "
                    "nothing was written (check quoting and line endings)"
                )
            if entity.measure:
                check_file(f.path, entity, f.measure_total, got_measure)
        except ConservationError:
            raw.unpersist()
            blocks.unpersist()
            raise
    return (
        raw.join(F.broadcast(blocks.drop("_n", "_m")), ["_uri", "_block"])
        .join(F.broadcast(files), "_uri")
        .select(
            *entity.columns,
            CORRUPT,
            "_source_file",
            "_file_checksum",
            (F.col("_offset") + F.col("_mid") - F.col("_first_mid") + 1).alias("_row_number"),
            F.lit(run_id).alias("_run_id"),
            F.lit(as_of).cast(DateType()).alias("_as_of_date"),
            F.lit(ingested_at).cast(TimestampType()).alias("_ingested_at"),
        )
    )
