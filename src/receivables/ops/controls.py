"""Control totals: money that must reconcile between silver and gold on every run.

Gold is maintained incrementally; these totals are computed from silver in one pass and
compared with gold, so drift in any incremental path fails the run instead of hiding.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from receivables import io
from receivables.errors import ConservationError
from receivables.silver.conform import live

if TYPE_CHECKING:
    from receivables.ops.run_log import RunRecord
    from receivables.run import RunContext


def _silver_totals(ctx: RunContext) -> tuple[Decimal, Decimal]:
    """Σ invoice totals and Σ payments counted by as_of, straight from silver.

    An invoice's total is Σ quantity × price over its lines, every product exact to the
    cent, so Σ of the totals is Σ of the line amounts: one aggregation over the priced
    lines, with no per-invoice grouping.
    """
    spark, as_of = ctx.spark, F.lit(ctx.as_of)
    inv = live(io.read(spark, ctx.path("silver", "invoices"))).filter(F.col("date_issued") <= as_of)
    lines = live(io.read(spark, ctx.path("silver", "invoice_line_items"))).select("invoice_id", "item_id", "quantity")
    prices = io.read(spark, ctx.path("silver", "skus")).select(
        "item_id", "valid_from", "valid_to", "item_retail_price"
    )
    amount = F.col("quantity") * F.col("item_retail_price")
    totals_of_lines = (
        lines.join(inv.select("invoice_id", "date_issued", (F.col("paid_in_full_date") <= as_of).alias("_in_full")),
                   "invoice_id")
        .join(F.broadcast(prices), "item_id")
        .where("valid_from <= date_issued AND (valid_to IS NULL OR date_issued < valid_to)")
        .agg(F.sum(amount).alias("t"), F.sum(F.when(F.col("_in_full"), amount)).alias("f"))
    )
    row = io.one(totals_of_lines)
    paid = (
        live(io.read(spark, ctx.path("silver", "payments")))
        .filter(F.col("payment_date") <= as_of)
        .join(inv.select("invoice_id"), "invoice_id", "left_semi")
        .agg(F.sum("amount"))
    )
    pays = io.one(paid)[0]
    zero = Decimal("0.00")  # the sums are decimals with two places, as every amount is
    return (row["t"] or zero), (row["f"] or zero) + (pays or zero)


RECONCILED = ("silver.invoices", "silver.invoice_line_items", "silver.skus", "silver.payments",
              "gold.invoice_aging", "gold.account_receivables")


def _reuse(ctx: RunContext, record: RunRecord) -> bool:
    """Copy the totals of the last successful run if it reconciled these very versions."""
    log_path = ctx.path("ops", "run_log")
    if not io.is_table(ctx.spark, log_path):
        return False
    last = (
        io.read(ctx.spark, log_path).filter(F.col("status") == "succeeded")
        .orderBy(F.col("finished_at").desc())
        .select("as_of_date", "table_versions", "control_totals", "counts").first()
    )
    if last is None or last["as_of_date"] != ctx.as_of:
        return False
    before = last["table_versions"] or {}
    for name in RECONCILED:
        layer, table = name.split(".")
        if before.get(name) is None or before[name] != io.version(ctx.spark, ctx.path(layer, table)):
            return False
    totals = {k: v for k, v in (last["control_totals"] or {}).items() if k.startswith(("silver.invoice_total",
              "silver.paid", "gold."))}
    counts = {k: v for k, v in (last["counts"] or {}).items() if k.startswith("gold.state.")}
    if len(counts) < len(STATE) or "gold.past_due_total" not in totals:
        return False  # logged before these were recorded
    record.control_totals.update(totals)
    for k, v in counts.items():
        record.count(k, v)
    record.count("controls.reused", 1)
    return True


def reconcile(ctx: RunContext, record: RunRecord) -> str:
    """Fill the run's control totals and fail the run if silver and gold disagree; returns
    what it did, in a few words.

    When neither silver nor gold changed since the last successful run for the same as-of
    date, its reconciled totals are copied instead of rescanning both layers.
    """
    if _reuse(ctx, record):
        return "unchanged since the last run for this as-of: totals reused"
    spark = ctx.spark
    zero = Decimal("0.00")
    past_due = F.col("days_past_due") > 0
    gold_sums = io.read(spark, ctx.path("gold", "invoice_aging")).agg(
        F.sum("invoice_total").alias("total"),
        F.sum("paid_to_date").alias("paid"),
        F.sum("outstanding").alias("outstanding"),
        F.sum("credit_amount").alias("credit"),
        F.sum(F.when(past_due, F.col("outstanding"))).alias("past_due_total"),
        F.count(F.lit(1)).alias("invoices"),
        F.count(F.when(F.col("outstanding") > 0, 1)).alias("open_invoices"),
        F.count(F.when(past_due, 1)).alias("past_due_invoices"),
        F.count(F.when(~F.col("is_complete"), 1)).alias("incomplete_invoices"),
        F.coalesce(F.max(F.unix_date("date_issued")), F.lit(-1)).alias("newest_issued"),
    )
    g = io.one(gold_sums)
    for name in STATE:  # what gold holds after this run (printed, and kept in the run log)
        record.count(f"gold.state.{name}", g[name])
    account_sums = io.read(spark, ctx.path("gold", "account_receivables")).agg(
        F.sum("unpaid_total").alias("unpaid"), F.sum("credit_balance").alias("credit")
    )
    a = io.one(account_sums)
    silver_total, silver_paid = _silver_totals(ctx)
    totals = {
        "silver.invoice_total": silver_total,
        "silver.paid": silver_paid,
        "gold.invoice_total": g["total"] or zero,
        "gold.paid_to_date": g["paid"] or zero,
        "gold.outstanding": g["outstanding"] or zero,
        "gold.credit": g["credit"] or zero,
        "gold.past_due_total": g["past_due_total"] or zero,
        "gold.accounts.unpaid_total": a["unpaid"] or zero,
        "gold.accounts.credit_balance": a["credit"] or zero,
    }
    record.control_totals.update(totals)
    checks = [
        ("Σ invoice_total", totals["silver.invoice_total"], totals["gold.invoice_total"]),
        ("Σ paid", totals["silver.paid"], totals["gold.paid_to_date"]),
        (
            "Σ outstanding − Σ credit",
            totals["gold.invoice_total"] - totals["gold.paid_to_date"],
            totals["gold.outstanding"] - totals["gold.credit"],
        ),
        ("Σ unpaid_total", totals["gold.outstanding"], totals["gold.accounts.unpaid_total"]),
        ("Σ credit_balance", totals["gold.credit"], totals["gold.accounts.credit_balance"]),
    ]
    broken = [f"{name}: silver/invoices {x} ≠ gold {y}" for name, x, y in checks if x != y]
    if broken:
        raise ConservationError("control totals do not reconcile: " + "; ".join(broken))
    return f"silver and gold reconcile ({len(checks)} checks)"


# What gold holds after a run, kept in the run log's counts as gold.state.<name>;
# newest_issued is the newest date_issued in days since 1970-01-01 (-1: no invoice).
STATE = ("invoices", "open_invoices", "past_due_invoices", "incomplete_invoices", "newest_issued")
STALE_AFTER_DAYS = 365
EPOCH = dt.date(1970, 1, 1)


def staleness(as_of: dt.date, record: RunRecord) -> str | None:
    """A one-line warning when the as-of date is more than a year past the newest invoice
    gold holds: every unpaid invoice then ages 90+ days, which is rarely what was meant."""
    day = record.counts.get("gold.state.newest_issued", -1)
    if day < 0:
        return None
    newest = EPOCH + dt.timedelta(days=day)
    if (as_of - newest).days <= STALE_AFTER_DAYS:
        return None
    return (
        f"as of {as_of} is {(as_of - newest).days:,} days after the newest invoice ({newest}): every unpaid "
        f"invoice is aged 90+ days; pass --as-of {newest} (or the extract's date) to age the book as it was"
    )


def summary(record: RunRecord) -> dict[str, object]:
    """The numbers `receivables run` prints at the end, from the run's reconciled totals."""
    zero = Decimal("0.00")
    totals, counts = record.control_totals, record.counts
    return {
        **{k: counts.get(f"gold.state.{k}", 0) for k in STATE},
        "unpaid_total": totals.get("gold.outstanding", zero),
        "past_due_total": totals.get("gold.past_due_total", zero),
        "credit_total": totals.get("gold.credit", zero),
    }
