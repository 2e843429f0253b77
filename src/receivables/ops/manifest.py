"""ops.file_manifest — one row per file a run recorded: what reached bronze, from where.

Grain: one row per (entity, checksum, run). ``action`` is ``ingested`` (its rows were
appended), ``recovered`` (a killed run had appended its rows; delivered again, they count
from then on) or ``orphaned`` (rows a killed run appended without recording the file: they
stay out of silver until the file is delivered again). Silver reads only bronze rows of
``COUNTED`` files.
"""

from __future__ import annotations

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import BooleanType, DateType, LongType, StringType, StructField, StructType, TimestampType

from receivables import io

COUNTED = ("ingested", "recovered")  # actions whose bronze rows reach silver
ORPHANED = "orphaned"

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


def counted_checksums(spark: SparkSession, path: str) -> dict[str, list[str]]:
    """Entity → checksums of its ``COUNTED`` files (no entry when the manifest is absent)."""
    if not io.is_table(spark, path):
        return {}
    rows = (
        io.read(spark, path).filter(F.col("action").isin(*COUNTED))
        .select("entity", "checksum").distinct().collect()
    )
    counted: dict[str, list[str]] = {}
    for row in rows:
        counted.setdefault(row["entity"], []).append(row["checksum"])
    return {entity: sorted(sums) for entity, sums in counted.items()}
