"""The gold step of a run: recompute the affected invoices and accounts, MERGE them into
gold, snapshot the accounts for the audit history, save the watermarks."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import functions as F

from receivables import io
from receivables.catalog import SILVER
from receivables.gold import account_receivables_history as history
from receivables.gold.account_receivables import build_account_receivables
from receivables.gold.invoice_aging import ages_with, build_invoice_aging, reaged_columns
from receivables.gold.scope import affected_accounts, affected_invoices, silver
from receivables.ops import faults, watermarks
from receivables.ops.run_log import RunRecord
from receivables.run import RunContext, Scope


def update_gold(
    ctx: RunContext,
    record: RunRecord,
    scope: Scope,
    marks: dict[tuple[str, str], int],
    silver_marks: dict[tuple[str, str], int] | None = None,
    rebuild: bool = False,
) -> None:
    """Recompute the affected invoices and accounts and MERGE them into gold.

    ``marks`` are the watermarks the run started from (read once, shared with silver).
    ``rebuild`` recomputes every invoice: a killed run committed to gold without saving
    the watermarks the incremental scope is derived from.
    """
    spark = ctx.spark
    marks_path = ctx.path("ops", "watermarks")
    sources = {f"silver.{n}": io.version(spark, ctx.path("silver", n)) for n in SILVER}
    aging_path = ctx.path("gold", "invoice_aging")
    accounts_path = ctx.path("gold", "account_receivables")
    last = marks.get(("gold", "as_of_date"))
    last_as_of = dt.date.fromordinal(last) if last is not None else None
    full = (
        scope.full
        or rebuild
        or last_as_of is None
        or ctx.as_of < last_as_of
        or not io.is_table(spark, aging_path)
        or not io.is_table(spark, accounts_path)
    )
    if not full and not scope.ranged and ctx.as_of == last_as_of and all(
        marks.get(("gold", k)) == v for k, v in sources.items()
    ):
        # Silver has not changed since gold last read it and the as-of date is the same:
        # no invoice can age or change, so gold is already right.
        for table in ("invoice_aging", "account_receivables"):
            record.count(f"gold.{table}.recomputed", 0)
        _snapshot_accounts(ctx, record)
        watermarks.save(spark, marks_path, silver_marks or {}, ctx.run_id, ctx.started_at, ctx.props("ops"))
        return
    silver_invoices = silver(ctx, "invoices")
    line_items = silver(ctx, "invoice_line_items")
    pays = silver(ctx, "payments")
    silver_accounts = silver(ctx, "accounts")
    if full:
        scoped_invoices, scoped_lines, scoped_pays = silver_invoices, line_items, pays
        ids = None
    else:
        assert last_as_of is not None
        ids = affected_invoices(ctx, marks, last_as_of, scope).persist()
        # Materialised before the joins below are planned, the cached ids have a known
        # size, so Spark broadcasts them (a night's few thousand) instead of shuffling all
        # of silver line items, invoices and payments to meet them; a change touching
        # millions of invoices still gets a sort-merge join.
        ids.count()
        scoped_invoices = silver_invoices.join(ids, "invoice_id", "left_semi")
        scoped_lines = line_items.join(ids, "invoice_id", "left_semi")
        scoped_pays = pays.join(ids, "invoice_id", "left_semi")
    aging = build_invoice_aging(
        scoped_invoices, scoped_lines, silver(ctx, "skus"), scoped_pays, silver_accounts,
        as_of=ctx.as_of, run_id=ctx.run_id, updated_at=ctx.started_at,
        default_terms_days=ctx.settings.default_terms_days,
    ).persist()
    try:
        recomputed = aging.count()
        reaging = None
        account_ids: list[int] = []
        gone: list[int] = []
        if not full:
            assert last_as_of is not None and ids is not None  # an incremental run has both
            before = io.read(spark, aging_path)
            moving = before.filter(ages_with(ctx.as_of)) if ctx.as_of > last_as_of else None
            old_rows = before.join(ids, "invoice_id", "left_semi")
            account_ids = affected_accounts(ctx, marks, aging, old_rows, moving)
            # Affected invoices gold holds that the recompute no longer yields (voided, or
            # issued after the as-of date now) leave gold in the same MERGE.
            gone = sorted(
                r[0] for r in old_rows.select("invoice_id")
                .join(aging.select("invoice_id"), "invoice_id", "left_anti").collect()
            )
            if moving is not None and moving.limit(1).count():
                # Every other open, past-due invoice ages by the days as-of moved, set in
                # the MERGE from its gold row alone: no re-aged rows are built, and the
                # invoices nothing touched cost one rewrite of gold, not a recompute.
                reaging = (
                    ages_with(ctx.as_of, "t"),
                    reaged_columns(as_of=ctx.as_of, run_id=ctx.run_id, updated_at=ctx.started_at, alias="t"),
                )
        with faults.during("gold.invoice_aging", aging_path):
            if full:
                metrics = io.merge_by_hash(
                    spark, aging, aging_path, ["invoice_id"], delete_missing="true",
                    properties=ctx.props("gold"),
                )
            else:
                # Recomputed rows reach the MERGE only when they differ. An aging invoice
                # the run recomputed always differs (its days past due moved), so the
                # rows re-aged in place are exactly the moving ones the run did not touch.
                metrics = io.merge_by_hash(
                    spark, io.changed_rows(spark, aging, aging_path, ["invoice_id"]), aging_path,
                    ["invoice_id"], properties=ctx.props("gold"), prefilter=False, skip_empty=True,
                    update_unmatched=reaging,
                    delete_missing=f"t.invoice_id IN ({', '.join(map(str, gone))})" if gone else None,
                )
        reaged_count = metrics.updated_unmatched
        record.count("gold.invoice_aging.recomputed", recomputed)
        record.count("gold.invoice_aging.reaged", reaged_count)
        record.merged("gold.invoice_aging", metrics, recomputed + reaged_count)

        current = io.read(spark, aging_path)
        delete_missing = "true" if full else None
        if full:
            accounts_in_scope = current
        else:
            scope_df = spark.createDataFrame([(a,) for a in account_ids], "account_id long")
            accounts_in_scope = current.join(F.broadcast(scope_df), "account_id", "left_semi")
        rollup = build_account_receivables(
            accounts_in_scope, silver_accounts,
            as_of=ctx.as_of, run_id=ctx.run_id, updated_at=ctx.started_at,
        ).persist()
        rolled = rollup.count()
        if not full:
            # Accounts left with no invoice leave gold in the same MERGE (one commit).
            gone = sorted(set(account_ids) - {r[0] for r in rollup.select("account_id").collect()})
            if gone:
                delete_missing = f"t.account_id IN ({', '.join(str(a) for a in gone)})"
        metrics = io.merge_by_hash(
            spark, rollup, accounts_path, ["account_id"],
            delete_missing=delete_missing, properties=ctx.props("gold"),
        )
        record.count("gold.account_receivables.recomputed", rolled)
        record.merged("gold.account_receivables", metrics, rolled)
    finally:
        spark.catalog.clearCache()
    _snapshot_accounts(ctx, record)
    moved = {("gold", k): v for k, v in {**sources, "as_of_date": ctx.as_of.toordinal()}.items()}
    moved = {k: v for k, v in moved.items() if marks.get(k) != v} | (silver_marks or {})
    watermarks.save(spark, marks_path, moved, ctx.run_id, ctx.started_at, ctx.props("ops"))


def _snapshot_accounts(ctx: RunContext, record: RunRecord) -> None:
    """Append this run's account receivables to the audit history (idempotent per run)."""
    path = ctx.path("gold", "account_receivables_history")
    snapshot = history.build_snapshot(
        io.read(ctx.spark, ctx.path("gold", "account_receivables")),
        as_of=ctx.as_of, run_id=ctx.run_id, snapshot_at=ctx.started_at,
    )
    io.ensure_table(ctx.spark, path, snapshot.schema, ctx.props("gold"), history.PARTITION)
    # A plain append: a run snapshots once, and a killed run's snapshot is removed by the
    # next run (ops.recovery), so no key check is needed.
    io.append(snapshot, path)
    commit = io.last_commit(ctx.spark, path)
    rows = int(commit.metrics.get("numOutputRows", 0)) if commit else 0
    record.count("gold.account_receivables_history.snapshot_rows", rows)
