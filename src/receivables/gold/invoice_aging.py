"""gold.invoice_aging — one row per invoice_id issued on or before the as-of date.

Rules (docs/rules.md): total = Σ quantity × the SKU retail price in effect on date_issued;
due date = given due_date, else date_issued + the account's terms, else + default terms;
paid_to_date = payments dated up to as_of (plus the invoice total when its
``paid_in_full_date`` is on or before as_of); outstanding = max(total − paid, 0), the
excess is ``credit_amount``; days_past_due = as_of − due_date when outstanding > 0 and
as_of > due_date, else 0. An invoice whose lines, prices or account have not arrived is
``is_complete = false`` with ``missing_inputs`` naming what is missing. A payment dated
before its invoice was issued counts, and ``early_payments`` flags how many there are.
A voided invoice has no row; a voided line or payment does not count.

``as_of_date``, ``run_id`` and ``updated_at`` tell which run last changed the row: a row
whose values do not change is not rewritten (paid invoices do not age).

A night whose as-of date moves re-ages open invoices that nothing else touched from
their gold row alone (``reage``): due date and outstanding do not depend on as-of unless
a payment or an issue date falls between the two dates, and the caller recomputes those
invoices in full.

Layout (``LAYOUT``): partitioned by ``aging_bucket``, so the open invoices a night
re-ages live in the files of the open buckets and the paid bulk of the book is not
rewritten when they age; a write of the whole table range-partitions each bucket's rows
by ``date_issued``, so a correction of a recent paid invoice rewrites the file of recent
dates (``receivables maintain`` keeps that order: OPTIMIZE ZORDER BY date_issued).
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, IntegerType, TimestampType

from receivables.buckets import CURRENT, DEFAULT, PAID, Buckets
from receivables.io import Layout
from receivables.silver.conform import live, row_hash
from receivables.silver.parse import MONEY

BUSINESS_COLUMNS = [
    "invoice_id",
    "account_id",
    "date_issued",
    "due_date",
    "invoice_total",
    "paid_to_date",
    "outstanding",
    "credit_amount",
    "days_past_due",
    "aging_bucket",
    "line_count",
    "is_complete",
    "missing_inputs",
    "early_payments",
]


def _zero() -> Column:
    return F.lit(0).cast(MONEY)


def aging_bucket(outstanding: Column, days_past_due: Column, buckets: Buckets = DEFAULT) -> Column:
    """paid / current / one name per range of days past due (default 1-30 / 31-60 /
    61-90 / 90+)."""
    bucket = F.when(outstanding <= 0, PAID).when(days_past_due == 0, CURRENT)
    for name, _low, high in buckets.ranges:
        bucket = bucket.when(days_past_due <= high, name) if high is not None else bucket.otherwise(name)
    return bucket


def filter_issued_by(invoices: DataFrame, as_of: dt.date) -> DataFrame:
    return invoices.filter(F.col("date_issued") <= F.lit(as_of))


def with_totals(invoices: DataFrame, line_items: DataFrame, skus: DataFrame) -> DataFrame:
    """Adds invoice_total, line_count and priced_count (lines with a price in effect)."""
    lines = (
        line_items.join(invoices.select("invoice_id", "date_issued"), "invoice_id")
        .alias("l")
        .join(
            F.broadcast(skus.select("item_id", "item_retail_price", "valid_from", "valid_to")).alias("s"),
            (F.col("l.item_id") == F.col("s.item_id"))
            & (F.col("s.valid_from") <= F.col("l.date_issued"))
            & (F.col("s.valid_to").isNull() | (F.col("l.date_issued") < F.col("s.valid_to"))),
            "left",
        )
        .groupBy("l.invoice_id")
        .agg(
            F.count(F.lit(1)).alias("line_count"),
            F.count("s.item_retail_price").alias("priced_count"),
            F.sum(F.col("l.quantity") * F.col("s.item_retail_price")).alias("_total"),
        )
    )
    return invoices.join(lines, "invoice_id", "left").select(
        invoices["*"],
        F.coalesce("line_count", F.lit(0)).cast("long").alias("line_count"),
        F.coalesce("priced_count", F.lit(0)).cast("long").alias("priced_count"),
        F.coalesce(F.col("_total").cast(MONEY), _zero()).alias("invoice_total"),
    )


def with_payments(
    invoices: DataFrame, payments: DataFrame, as_of: dt.date, issued: DataFrame | None = None
) -> DataFrame:
    """Adds paid_to_date: payments up to as_of plus a paid-in-full date up to as_of, and
    early_payments: how many of those are dated before the invoice was issued (they count,
    and are flagged for review). ``issued`` (invoice_id, date_issued) saves re-deriving
    ``invoices`` when it carries expensive columns."""
    issued = issued if issued is not None else invoices.select("invoice_id", "date_issued")
    paid = (
        payments.filter(F.col("payment_date") <= F.lit(as_of))
        .join(issued.select("invoice_id", F.col("date_issued").alias("_issued")), "invoice_id")
        .groupBy("invoice_id")
        .agg(
            F.sum("amount").alias("_paid"),
            F.count(F.when(F.col("payment_date") < F.col("_issued"), 1)).alias("_early"),
        )
    )
    counted = F.col("paid_in_full_date") <= F.lit(as_of)
    in_full = F.when(counted, F.col("invoice_total")).otherwise(_zero())
    early_in_full = F.when(counted & (F.col("paid_in_full_date") < F.col("date_issued")), 1).otherwise(0)
    return (
        invoices.join(paid, "invoice_id", "left")
        .withColumn("paid_to_date", (F.coalesce(F.col("_paid"), _zero()) + in_full).cast(MONEY))
        .withColumn("early_payments", (F.coalesce(F.col("_early"), F.lit(0)) + early_in_full).cast(IntegerType()))
    )


def with_due_date(invoices: DataFrame, accounts: DataFrame, default_terms_days: int) -> DataFrame:
    """Adds due_date (given, else issued + account terms, else + default) and has_account."""
    terms = accounts.select(
        "account_id", "payment_terms_days", F.lit(True).alias("has_account")
    )
    joined = invoices.join(F.broadcast(terms), "account_id", "left")
    days = F.coalesce(F.col("payment_terms_days"), F.lit(default_terms_days)).cast(IntegerType())
    return joined.withColumn(
        "due_date",
        F.coalesce(F.col("due_date"), F.date_add(F.col("date_issued"), days)).cast(DateType()),
    ).withColumn("has_account", F.coalesce("has_account", F.lit(False)))


def days_past_due(outstanding: Column, due_date: Column, as_of: dt.date) -> Column:
    """as_of − due_date when something is outstanding and the due date has passed, else 0."""
    late = F.datediff(F.lit(as_of), due_date)
    return F.when((outstanding > 0) & (late > 0), late).otherwise(F.lit(0)).cast(IntegerType())


def with_aging(invoices: DataFrame, as_of: dt.date, buckets: Buckets = DEFAULT) -> DataFrame:
    """Adds outstanding, credit_amount, days_past_due and aging_bucket."""
    total, paid = F.col("invoice_total"), F.col("paid_to_date")
    outstanding = F.greatest(total - paid, _zero()).cast(MONEY)
    return (
        invoices.withColumn("outstanding", outstanding)
        .withColumn("credit_amount", F.greatest(paid - total, _zero()).cast(MONEY))
        .withColumn("days_past_due", days_past_due(F.col("outstanding"), F.col("due_date"), as_of))
        .withColumn("aging_bucket", aging_bucket(F.col("outstanding"), F.col("days_past_due"), buckets))
    )


LAYOUT = Layout(partition_by=("aging_bucket",), cluster_by=("date_issued",))


def ages_with(as_of: dt.date) -> Column:
    """Gold rows whose days past due move when the as-of date moves on to ``as_of``. The
    bucket test is implied by the outstanding one; it lets a read skip the paid partition."""
    return (F.col("aging_bucket") != PAID) & (F.col("outstanding") > 0) & (F.col("due_date") < F.lit(as_of))


def reaged_columns(*, as_of: dt.date, run_id: str, updated_at: dt.datetime, buckets: Buckets) -> dict[str, Column]:
    """The columns re-aging sets on a gold row, each computed from the row as stored:
    days past due, bucket, lineage and the row hash over the new values."""
    col = F.col
    days = days_past_due(col("outstanding"), col("due_date"), as_of)
    moved = {"days_past_due": days, "aging_bucket": aging_bucket(col("outstanding"), days, buckets)}
    return {
        **moved,
        "as_of_date": F.lit(as_of).cast(DateType()),
        "run_id": F.lit(run_id),
        "updated_at": F.lit(updated_at).cast(TimestampType()),
        "_row_hash": row_hash([moved.get(c, col(c)).alias(c) for c in BUSINESS_COLUMNS]),
    }


def with_completeness(invoices: DataFrame) -> DataFrame:
    """Adds is_complete and missing_inputs ("line_items", "sku_price", "account")."""
    missing = F.concat_ws(
        ",",
        F.when(F.col("line_count") == 0, F.lit("line_items")),
        F.when(F.col("priced_count") < F.col("line_count"), F.lit("sku_price")),
        F.when(~F.col("has_account"), F.lit("account")),
    )
    return invoices.withColumn(
        "missing_inputs", F.when(missing == "", F.lit(None)).otherwise(missing)
    ).withColumn("is_complete", F.col("missing_inputs").isNull())


COLUMNS = [*BUSINESS_COLUMNS, "as_of_date", "run_id", "updated_at", "_row_hash"]


def _with_lineage(rows: DataFrame, as_of: dt.date, run_id: str, updated_at: dt.datetime) -> DataFrame:
    return rows.select(
        *BUSINESS_COLUMNS,
        F.lit(as_of).cast(DateType()).alias("as_of_date"),
        F.lit(run_id).alias("run_id"),
        F.lit(updated_at).cast(TimestampType()).alias("updated_at"),
        row_hash(BUSINESS_COLUMNS).alias("_row_hash"),
    )


def reage(
    rows: DataFrame, *, as_of: dt.date, run_id: str, updated_at: dt.datetime, buckets: Buckets
) -> DataFrame:
    """Gold rows aged to a later ``as_of`` from their own due date and outstanding.

    Valid only for invoices with no payment, paid-in-full date or issue date after the
    as-of date the rows were computed for and on or before ``as_of``, and no silver change
    since: everything but days past due and the bucket is then unchanged.
    """
    columns = reaged_columns(as_of=as_of, run_id=run_id, updated_at=updated_at, buckets=buckets)
    return rows.select(*[columns.get(c, F.col(c)).alias(c) for c in COLUMNS])


def build_invoice_aging(
    invoices: DataFrame,
    line_items: DataFrame,
    skus: DataFrame,
    payments: DataFrame,
    accounts: DataFrame,
    *,
    as_of: dt.date,
    run_id: str,
    updated_at: dt.datetime,
    default_terms_days: int,
    buckets: Buckets,
) -> DataFrame:
    """Gold invoice aging for the given silver invoices (already scoped by the caller).
    Voided invoices, lines and payments count nowhere."""
    line_items, payments = live(line_items), live(payments)
    issued = live(invoices).select(
        "invoice_id", "account_id", "date_issued", "due_date", "paid_in_full_date"
    ).transform(lambda df: filter_issued_by(df, as_of))
    return (
        issued.transform(lambda df: with_totals(df, line_items, skus))
        .transform(lambda df: with_payments(df, payments, as_of, issued))
        .transform(lambda df: with_due_date(df, accounts, default_terms_days))
        .transform(lambda df: with_aging(df, as_of, buckets))
        .transform(with_completeness)
        .transform(lambda df: _with_lineage(df, as_of, run_id, updated_at))
    )
