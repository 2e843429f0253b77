"""ops.watermarks — how far each consumer has read each source table's history.

Grain: one row per (consumer, source). Silver reads bronze's Change Data Feed after its
watermark, gold reads silver's. The watermark moves only after the consumer's commit, so
a killed run is simply re-read by the next one (MERGEs by row hash make that a no-op).
A run saves all the watermarks it moved in one commit, after gold.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from receivables import io

KEY = ("consumer", "source")


def read_all(spark: SparkSession, path: str) -> dict[tuple[str, str], int]:
    if not io.is_table(spark, path):
        return {}
    return {(r["consumer"], r["source"]): int(r["version"]) for r in io.read(spark, path).collect()}


def save(
    spark: SparkSession,
    path: str,
    moved: dict[tuple[str, str], int],
    run_id: str,
    at: dt.datetime,
    properties: dict[str, str],
) -> None:
    """Upsert every (consumer, source) → version that moved, in one commit."""
    rows = [(consumer, source, int(v), run_id, at) for (consumer, source), v in sorted(moved.items())]
    if not rows:
        return
    df = io.local_frame(
        spark, rows, "consumer string, source string, version long, run_id string, updated_at timestamp"
    ).withColumn("_row_hash", F.sha2(F.concat_ws("|", "version"), 256))
    io.upsert_all(spark, df, path, KEY, properties)
