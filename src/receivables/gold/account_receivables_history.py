"""gold.account_receivables_history — one row per (run_id, account_id), append-only.

Each run appends the whole of gold.account_receivables as that run left it, stamped with
the run's as-of date. Time travel is bounded by the audit window (VACUUM, log retention);
this table is not: nothing in it is ever rewritten, so VACUUM never removes its rows.
Partitioned by as_of_date so a report for one date reads one folder.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, TimestampType

from receivables.gold.account_receivables import BUSINESS_COLUMNS

KEY = ("run_id", "account_id")
PARTITION = ("as_of_date",)


def build_snapshot(
    accounts: DataFrame, *, as_of: dt.date, run_id: str, snapshot_at: dt.datetime
) -> DataFrame:
    """Every current account row, stamped with this run."""
    return accounts.select(
        *BUSINESS_COLUMNS,
        F.lit(as_of).cast(DateType()).alias("as_of_date"),
        F.lit(run_id).alias("run_id"),
        F.lit(snapshot_at).cast(TimestampType()).alias("snapshot_at"),
    )
