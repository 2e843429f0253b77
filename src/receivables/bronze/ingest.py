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
    DateType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from receivables import io
from receivables.bronze.files import FileFacts
from receivables.entities import Entity
from receivables.errors import ConservationError
from receivables.ops.conservation import MEASURE, check_file, measure
from receivables.vocabulary import CORRUPT

LINEAGE_FIELDS = [
    StructField("_source_file", StringType(), False),
    StructField("_file_checksum", StringType(), False),
    StructField("_row_number", LongType(), False),
    StructField("_run_id", StringType(), False),
    StructField("_as_of_date", DateType(), False),
    StructField("_ingested_at", TimestampType(), False),
]

def bronze_schema(entity: Entity) -> StructType:
    """Delivered columns (all strings), the corrupt-row column, then lineage."""
    fields = [StructField(c, StringType(), True) for c in entity.columns]
    fields.append(StructField(CORRUPT, StringType(), True))
    return StructType(fields + LINEAGE_FIELDS)


def stage(facts: Sequence[FileFacts], folder: Path) -> dict[str, FileFacts]:
    """Link each file into ``folder`` under a plain name (``<n>.csv``, ``<n>.csv.gz``).

    Spark reads a path as a glob pattern and a URI, skips names starting with ``_`` or
    ``.``, and Hadoop refuses a ``:`` in a file name; any name the billing system can
    write must still load. The links' names are the only ones Spark sees, so every
    delivered name is taken literally. Returns the staged name of each file.
    """
    folder.mkdir(parents=True, exist_ok=True)
    staged: dict[str, FileFacts] = {}
    for n, f in enumerate(facts):
        name = f"{n}.csv.gz" if f.compressed else f"{n}.csv"
        link = folder / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(Path(f.path).resolve())
        staged[name] = f
    return staged


def _read_group(
    spark: SparkSession, folder: Path, names: Sequence[str], header: tuple[str, ...], multiline: bool
) -> DataFrame:
    schema = StructType(
        [StructField(c, StringType(), True) for c in header]
        + [StructField(CORRUPT, StringType(), True)]
    )
    raw = (
        spark.read.format("csv")
        .schema(schema)
        .option("header", True)
        .option("multiLine", multiline)
        .option("escape", '"')
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT)
        .option("encoding", "UTF-8")
        .load([str(folder / name) for name in names])
    )
    # A whitespace-only line is no record (the pre-pass counts it as blank): Spark drops it
    # when reading line by line, and keeps it as a one-field row in multiLine mode.
    blank = (
        F.col(CORRUPT).isNotNull()
        & F.coalesce(F.col(header[0]), F.lit("")).rlike("^[\\x00-\\x20]*$")
    )
    for column in header[1:]:
        blank = blank & F.col(column).isNull()
    return raw.filter(~blank).select(
        "*",
        F.element_at(F.split(F.col("_metadata.file_path"), "/"), -1).alias("_staged"),
        F.col("_metadata.file_block_start").alias("_block"),
        F.monotonically_increasing_id().alias("_mid"),
    )


def read_delivered(
    spark: SparkSession,
    entity: Entity,
    facts: Sequence[FileFacts],
    input_root: str,
    staging: Path,
    run_id: str,
    as_of: dt.date,
    ingested_at: dt.datetime,
) -> DataFrame:
    """The new files of one entity as a bronze-shaped DataFrame (cached, counted).

    Row numbers are exact record numbers within each file even when Spark splits a file
    across tasks: rows are numbered by (split start, position within split). The count per
    file must equal the independent pre-pass count, or ``ConservationError`` is raised:
    the caller checks every entity before it writes any. Unpersist the result after use.
    """
    root = Path(input_root).resolve()
    staged = stage(facts, staging / entity.name)
    groups: dict[tuple[tuple[str, ...], bool], list[str]] = {}
    for name, f in staged.items():
        groups.setdefault((f.header, f.multiline), []).append(name)
    parts = [_read_group(spark, staging / entity.name, names, header, ml) for (header, ml), names in groups.items()]
    raw = parts[0]
    for part in parts[1:]:
        raw = raw.unionByName(part, allowMissingColumns=True)
    for column in entity.columns:
        if column not in raw.columns:
            raw = raw.withColumn(column, F.lit(None).cast(StringType()))
    raw = raw.persist()

    files = io.local_frame(
        spark,
        [(name, str(Path(f.path).resolve().relative_to(root)), f.checksum) for name, f in staged.items()],
        "_staged string, _source_file string, _file_checksum string",
    )
    unit = measure(F.col(entity.measure)) if entity.measure else F.lit(None).cast(MEASURE)
    blocks = (
        raw.groupBy("_staged", "_block")
        .agg(F.min("_mid").alias("_first_mid"), F.count(F.lit(1)).alias("_n"), F.sum(unit).alias("_m"))
        .withColumn(
            "_offset",
            F.coalesce(
                F.sum("_n").over(
                    Window.partitionBy("_staged")
                    .orderBy("_block")
                    .rowsBetween(Window.unboundedPreceding, -1)
                ),
                F.lit(0),
            ),
        )
    ).persist()
    per_file = {
        r["_staged"]: (int(r["n"]), r["m"])
        for r in blocks.groupBy("_staged").agg(F.sum("_n").alias("n"), F.sum("_m").alias("m")).collect()
    }
    for name, f in staged.items():
        got, got_measure = per_file.get(name, (0, None))
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
        raw.join(F.broadcast(blocks.drop("_n", "_m")), ["_staged", "_block"])
        .join(F.broadcast(files), "_staged")
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
