"""gold.account_receivables_history — one row per (run_id, account_id), append-only.

Each run appends the whole of gold.account_receivables as that run left it, stamped with
the run's as-of date. Time travel is bounded by the audit window (VACUUM, log retention);
this table is not: nothing in it is ever rewritten, so VACUUM never removes its rows.
Partitioned by as_of_date so a report for one date reads one folder.

When the bucket edges change (conf ``gold.bucket_edges``, then ``receivables rebuild``)
the table gains the new bucket columns: earlier snapshots keep their own columns and
hold NULL in the new ones, later snapshots hold NULL in the old ones.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, TimestampType

from receivables.buckets import Buckets
from receivables.gold.account_receivables import business_columns

KEY = ("run_id", "account_id")
PARTITION = ("as_of_date",)


def build_snapshot(
    accounts: DataFrame, *, as_of: dt.date, run_id: str, snapshot_at: dt.datetime, buckets: Buckets
) -> DataFrame:
    """Every current account row, stamped with this run."""
    return accounts.select(
        *business_columns(buckets),
        F.lit(as_of).cast(DateType()).alias("as_of_date"),
        F.lit(run_id).alias("run_id"),
        F.lit(snapshot_at).cast(TimestampType()).alias("snapshot_at"),
    )
