"""Which invoices and accounts a night's gold update recomputes (see docs/incremental.md)."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from receivables import io
from receivables.errors import ReceivablesError
from receivables.run import RunContext, Scope


def silver(ctx: RunContext, name: str) -> DataFrame:
    path = ctx.path("silver", name)
    if not io.is_table(ctx.spark, path):
        raise ReceivablesError(f"silver.{name} does not exist yet: run `receivables run` first")
    return io.read(ctx.spark, path)


def affected_accounts(
    ctx: RunContext,
    marks: dict[tuple[str, str], int],
    aging: DataFrame,
    old_rows: DataFrame,
    moving: DataFrame | None,
) -> list[int]:
    """Accounts whose roll-up may change: those of the recomputed invoices before and
    after, of the ones that age, and accounts changed in silver.

    Collected before gold is written: Spark recomputes a cached read of a Delta table
    after a write to it, so a DataFrame over the old gold would show the new rows and
    lose the accounts an invoice moved away from.
    """
    parts = [aging.select("account_id"), old_rows.select("account_id")]
    if moving is not None:
        parts.append(moving.select("account_id"))
    changed = io.changes(ctx.spark, ctx.path("silver", "accounts"), marks.get(("gold", "silver.accounts"), -1))
    if changed is not None:
        parts.append(changed.select("account_id"))
    union = parts[0]
    for part in parts[1:]:
        union = union.unionByName(part)
    return sorted(r[0] for r in union.filter(F.col("account_id").isNotNull()).distinct().collect())


def affected_invoices(
    ctx: RunContext, marks: dict[tuple[str, str], int], last_as_of: dt.date, scope: Scope
) -> DataFrame:
    """Invoice ids whose gold row may change in this run (see docs/incremental.md)."""
    spark = ctx.spark
    parts: list[DataFrame] = []

    def feed(name: str) -> DataFrame | None:
        after = marks.get(("gold", f"silver.{name}"), -1)
        return io.changes(spark, ctx.path("silver", name), after)

    for name in ("invoices", "invoice_line_items", "payments"):
        changed = feed(name)
        if changed is not None:
            parts.append(changed.select("invoice_id"))
    sku_changes = feed("skus")
    if sku_changes is not None:
        since = (
            sku_changes.filter(F.col("_change_type") != "update_preimage")
            .select(
                "item_id",
                F.when(F.col("_change_type") == "update_postimage", F.coalesce("valid_to", "valid_from"))
                .otherwise(F.col("valid_from")).alias("_since"),
            )
            .groupBy("item_id").agg(F.min("_since").alias("_since"))
        )
        parts.append(
            silver(ctx, "invoice_line_items").join(F.broadcast(since), "item_id")
            .join(silver(ctx, "invoices").select("invoice_id", "date_issued"), "invoice_id")
            .filter(F.col("date_issued") >= F.col("_since")).select("invoice_id")
        )
    account_changes = feed("accounts")
    if account_changes is not None:
        parts.append(
            silver(ctx, "invoices").join(
                F.broadcast(account_changes.select("account_id").distinct()), "account_id", "left_semi"
            ).select("invoice_id")
        )
    # Open invoices nothing else touched are re-aged from gold itself (see update_gold);
    # these are the ones whose payments or visibility move with the as-of date.
    window = (F.col("_d") > F.lit(last_as_of)) & (F.col("_d") <= F.lit(ctx.as_of))
    inv = silver(ctx, "invoices")
    parts.append(inv.withColumn("_d", F.col("date_issued")).filter(window).select("invoice_id"))
    parts.append(inv.withColumn("_d", F.col("paid_in_full_date")).filter(window).select("invoice_id"))
    parts.append(
        silver(ctx, "payments").withColumn("_d", F.col("payment_date")).filter(window).select("invoice_id")
    )
    if scope.ranged:
        parts.append(
            inv.filter(F.col("date_issued").between(F.lit(scope.issued_from), F.lit(scope.issued_to)))
            .select("invoice_id")
        )
    ids = parts[0]
    for part in parts[1:]:
        ids = ids.unionByName(part)
    return ids.filter(F.col("invoice_id").isNotNull()).distinct()
