"""gold.account_receivables — one row per account_id that has invoices issued by as_of.

unpaid_total = Σ outstanding; past_due_total = Σ outstanding of invoices past due; one
amount column per aging bucket; credit_balance = Σ overpayments. No contact data.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, TimestampType

from receivables.buckets import DEFAULT, Buckets
from receivables.silver.conform import row_hash
from receivables.silver.parse import MONEY


def business_columns(buckets: Buckets) -> list[str]:
    """The table's columns besides lineage: one amount column per bucket."""
    return [
        "account_id",
        "company_name",
        "unpaid_total",
        "open_invoices",
        "past_due_total",
        *buckets.columns.values(),
        "max_days_past_due",
        "credit_balance",
        "invoice_count",
        "incomplete_invoices",
    ]


BUSINESS_COLUMNS = business_columns(DEFAULT)  # with the default edges 30 / 60 / 90


def _money_sum(condition: Column, column: str = "outstanding") -> Column:
    return F.coalesce(F.sum(F.when(condition, F.col(column))), F.lit(0)).cast(MONEY)


def build_account_receivables(
    aging: DataFrame,
    accounts: DataFrame,
    *,
    as_of: dt.date,
    run_id: str,
    updated_at: dt.datetime,
    buckets: Buckets,
) -> DataFrame:
    """Roll invoice aging up to accounts (the caller scopes ``aging`` to affected accounts)
    with one amount column per bucket of ``buckets`` (the edges ``aging`` was aged with)."""
    bucket = F.col("aging_bucket")
    totals = aging.groupBy("account_id").agg(
        _money_sum(F.lit(True)).alias("unpaid_total"),
        F.count(F.when(F.col("outstanding") > 0, 1)).alias("open_invoices"),
        _money_sum(F.col("days_past_due") > 0).alias("past_due_total"),
        *[_money_sum(bucket == b).alias(name) for b, name in buckets.columns.items()],
        F.max("days_past_due").cast("int").alias("max_days_past_due"),
        _money_sum(F.lit(True), "credit_amount").alias("credit_balance"),
        F.count(F.lit(1)).alias("invoice_count"),
        F.count(F.when(~F.col("is_complete"), 1)).alias("incomplete_invoices"),
    )
    names = accounts.select("account_id", "company_name")
    return (
        totals.join(names, "account_id", "left")
        .select(
            *business_columns(buckets),
            F.lit(as_of).cast(DateType()).alias("as_of_date"),
            F.lit(run_id).alias("run_id"),
            F.lit(updated_at).cast(TimestampType()).alias("updated_at"),
            row_hash(business_columns(buckets)).alias("_row_hash"),
        )
    )
