"""The gold step of a run: recompute the affected invoices and accounts, MERGE them into
gold, snapshot the accounts for the audit history, save the watermarks."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import functions as F

from receivables import io
from receivables.buckets import Buckets
from receivables.catalog import SILVER
from receivables.errors import ReceivablesError
from receivables.gold import account_receivables_history as history
from receivables.gold.account_receivables import build_account_receivables
from receivables.gold.invoice_aging import LAYOUT, ages_with, build_invoice_aging, reage
from receivables.gold.scope import affected_accounts, affected_invoices, silver
from receivables.ops import faults, watermarks
from receivables.ops.run_log import RunRecord
from receivables.run import RunContext, Scope

_REAGED = "_reaged"  # marks the re-aged rows among a night's changes (counted, not stored)


class BucketEdgesChanged(ReceivablesError):
    """The configured bucket edges differ from the ones gold was built with."""


def buckets_change(ctx: RunContext, scope: Scope) -> bool:
    """Whether this run changes gold's aging buckets: gold.account_receivables was built
    with other edges than the configuration's ``gold.bucket_edges``. Only a full rebuild
    may (it re-ages every invoice and rewrites the account table with the new bucket
    columns); any other run stops here, before it writes anything, naming both."""
    path = ctx.path("gold", "account_receivables")
    if not io.is_table(ctx.spark, path):
        return False
    stored = Buckets.from_columns(io.columns(ctx.spark, path))
    wanted = ctx.settings.buckets
    if stored == wanted:
        return False
    if scope.full:
        return True
    built = f"edges {list(stored.edges)} ({stored.describe()})" if stored else "other bucket columns"
    raise BucketEdgesChanged(
        f"gold was built with bucket {built}; the configuration's gold.bucket_edges is "
        f"{list(wanted.edges)} ({wanted.describe()}). Run `receivables rebuild` once to re-age every invoice "
        f"with the new edges (earlier runs stay readable as they were), or set gold.bucket_edges back."
    )


@dataclass(frozen=True)
class Plan:
    """What a gold update recomputes: every invoice (``full``), or those a night affects."""

    full: bool
    unchanged: bool  # silver as gold last read it, same as-of: gold is already right
    last_as_of: dt.date | None
    sources: dict[str, int]  # silver table -> version this update reads


def plan(ctx: RunContext, scope: Scope, marks: dict[tuple[str, str], int], rebuild: bool) -> Plan:
    """``rebuild`` recomputes every invoice: a killed run committed to gold without saving
    the watermarks the incremental scope is derived from."""
    sources = {f"silver.{n}": io.version(ctx.spark, ctx.path("silver", n)) for n in SILVER}
    last = marks.get(("gold", "as_of_date"))
    last_as_of = dt.date.fromordinal(last) if last is not None else None
    full = (
        scope.full or rebuild or last_as_of is None or ctx.as_of < last_as_of
        or not io.is_table(ctx.spark, ctx.path("gold", "invoice_aging"))
        or not io.is_table(ctx.spark, ctx.path("gold", "account_receivables"))
    )
    unchanged = not full and not scope.ranged and ctx.as_of == last_as_of and all(
        marks.get(("gold", k)) == v for k, v in sources.items()
    )
    return Plan(full, unchanged, last_as_of, sources)


def update_gold(
    ctx: RunContext,
    record: RunRecord,
    scope: Scope,
    marks: dict[tuple[str, str], int],
    silver_marks: dict[tuple[str, str], int] | None = None,
    rebuild: bool = False,
    new_buckets: bool = False,
) -> None:
    """Recompute the affected invoices and accounts and MERGE them into gold, snapshot the
    accounts, then save the watermarks that moved (silver's, ``silver_marks``, with gold's)
    in one commit. ``marks`` are the watermarks the run started from. ``new_buckets``
    (a full rebuild after the bucket edges changed, ``buckets_change``) replaces the
    account table with the new bucket columns and adds them to its history."""
    todo = plan(ctx, scope, marks, rebuild)
    moved = dict(silver_marks or {})
    if todo.unchanged:
        for table in ("invoice_aging", "account_receivables"):
            record.count(f"gold.{table}.recomputed", 0)
        record.skip("gold.invoice_aging", "up to date (silver and as-of unchanged)")
        with record.step("gold.account_receivables") as said:
            said.append("up to date; snapshot for this run")
            _snapshot_accounts(ctx, record)
    else:
        try:
            with record.step("gold.invoice_aging"):
                account_ids = _update_aging(ctx, record, scope, marks, todo)
            with record.step("gold.account_receivables"):
                _update_accounts(ctx, record, account_ids, new_buckets)
                ctx.spark.catalog.clearCache()  # the recompute's cached frames, before the snapshot
                _snapshot_accounts(ctx, record)
        finally:
            ctx.spark.catalog.clearCache()
        gold_marks = {("gold", k): v for k, v in {**todo.sources, "as_of_date": ctx.as_of.toordinal()}.items()}
        moved |= {k: v for k, v in gold_marks.items() if marks.get(k) != v}
    watermarks.save(ctx.spark, ctx.path("ops", "watermarks"), moved, ctx.run_id, ctx.started_at, ctx.props("ops"))


def _update_aging(
    ctx: RunContext, record: RunRecord, scope: Scope, marks: dict[tuple[str, str], int], todo: Plan
) -> list[int] | None:
    """MERGE the recomputed invoices into gold.invoice_aging (re-aging the open ones nothing
    touched in the same commit); returns the accounts whose roll-up may change (None: all)."""
    spark = ctx.spark
    aging_path = ctx.path("gold", "invoice_aging")
    invoices, lines, pays = silver(ctx, "invoices"), silver(ctx, "invoice_line_items"), silver(ctx, "payments")
    ids = None
    if not todo.full:
        assert todo.last_as_of is not None
        ids = affected_invoices(ctx, marks, todo.last_as_of, scope).persist()
        # Materialised before the joins below are planned, the cached ids have a known
        # size, so Spark broadcasts them (a night's few thousand) instead of shuffling all
        # of silver line items, invoices and payments to meet them; a change touching
        # millions of invoices still gets a sort-merge join.
        ids.count()
        invoices, lines, pays = (df.join(ids, "invoice_id", "left_semi") for df in (invoices, lines, pays))
    aging = build_invoice_aging(
        invoices, lines, silver(ctx, "skus"), pays, silver(ctx, "accounts"),
        as_of=ctx.as_of, run_id=ctx.run_id, updated_at=ctx.started_at,
        default_terms_days=ctx.settings.default_terms_days, buckets=ctx.settings.buckets,
    ).persist()
    recomputed = aging.count()
    reaged = 0
    if ids is None:
        with faults.during("gold.invoice_aging", aging_path):
            if io.is_table(spark, aging_path) and io.partition_columns(spark, aging_path) != LAYOUT.partition_by:
                # an output written before gold.invoice_aging was partitioned: a full
                # recompute rewrites it in the layout nights rely on, in one commit
                metrics = io.replace_table(spark, aging, aging_path, ctx.props("gold"), LAYOUT)
                record.notes.append(f"gold.invoice_aging rewritten partitioned by {', '.join(LAYOUT.partition_by)}")
            else:
                metrics = io.replace_scope(spark, aging, aging_path, ["invoice_id"], "true", ctx.props("gold"),
                                           LAYOUT)
        account_ids = None
    else:
        assert todo.last_as_of is not None
        before = io.read(spark, aging_path)
        moving = before.filter(ages_with(ctx.as_of)) if ctx.as_of > todo.last_as_of else None
        old_rows = before.join(ids, "invoice_id", "left_semi")
        account_ids = affected_accounts(ctx, marks, aging, old_rows, moving)
        # Affected invoices gold holds that the recompute no longer yields (voided, or
        # issued after the as-of date now) leave gold in the same MERGE.
        gone = sorted(
            r[0] for r in old_rows.select("invoice_id")
            .join(aging.select("invoice_id"), "invoice_id", "left_anti").collect()
        )
        # Recomputed rows reach the MERGE only when they differ. Every other open invoice
        # past its due date ages by the days as-of moved, from its gold row alone (read
        # from the open buckets' partitions): an invoice nothing touched costs no
        # recompute, and only the files of open invoices (and of the recomputed ones)
        # are rewritten.
        changes = io.changed_rows(spark, aging, aging_path, ["invoice_id"]).withColumn(_REAGED, F.lit(False))
        if moving is not None:
            untouched = moving.join(ids, "invoice_id", "left_anti")  # the affected ones are recomputed
            changes = changes.unionByName(reage(untouched, as_of=ctx.as_of, run_id=ctx.run_id,
                                                updated_at=ctx.started_at, buckets=ctx.settings.buckets)
                                          .withColumn(_REAGED, F.lit(True)))
        with faults.during("gold.invoice_aging", aging_path):
            metrics, reaged = io.apply_changes(spark, changes, aging_path, ["invoice_id"], gone, tally=_REAGED)
    record.count("gold.invoice_aging.recomputed", recomputed)
    record.count("gold.invoice_aging.reaged", reaged)
    record.merged("gold.invoice_aging", metrics, recomputed + reaged)
    return account_ids


def _update_accounts(
    ctx: RunContext, record: RunRecord, account_ids: list[int] | None, new_buckets: bool = False
) -> None:
    """Roll gold.invoice_aging up into gold.account_receivables for ``account_ids`` (None:
    every account); an account left with no invoice leaves gold in the same MERGE.
    ``new_buckets`` replaces the whole table (its bucket columns change) in one commit."""
    spark = ctx.spark
    current = io.read(spark, ctx.path("gold", "invoice_aging"))
    delete_missing: str | None = "true"
    if account_ids is not None:
        scope_df = io.local_frame(spark, [(a,) for a in account_ids], "account_id long")
        current = current.join(F.broadcast(scope_df), "account_id", "left_semi")
        delete_missing = None
    rollup = build_account_receivables(
        current, silver(ctx, "accounts"), as_of=ctx.as_of, run_id=ctx.run_id, updated_at=ctx.started_at,
        buckets=ctx.settings.buckets,
    ).persist()
    rolled = rollup.count()
    if account_ids is not None:
        gone = sorted(set(account_ids) - {r[0] for r in rollup.select("account_id").collect()})
        if gone:
            delete_missing = f"t.account_id IN ({', '.join(str(a) for a in gone)})"
    path = ctx.path("gold", "account_receivables")
    if new_buckets:
        metrics = io.replace_table(spark, rollup, path, ctx.props("gold"))
        record.notes.append(
            f"gold.account_receivables rewritten with the buckets {ctx.settings.buckets.describe()} "
            f"(gold.bucket_edges {list(ctx.settings.buckets.edges)}); its earlier versions keep the old columns"
        )
    elif delete_missing:
        metrics = io.replace_scope(spark, rollup, path, ["account_id"], delete_missing, ctx.props("gold"))
    else:
        metrics = io.upsert_changed(spark, rollup, path, ["account_id"], ctx.props("gold"))
    record.count("gold.account_receivables.recomputed", rolled)
    record.merged("gold.account_receivables", metrics, rolled)


def _snapshot_accounts(ctx: RunContext, record: RunRecord) -> None:
    """Append this run's account receivables to the audit history (idempotent per run).
    The first snapshot with new bucket edges adds their columns to the history."""
    path = ctx.path("gold", "account_receivables_history")
    snapshot = history.build_snapshot(
        io.read(ctx.spark, ctx.path("gold", "account_receivables")),
        as_of=ctx.as_of, run_id=ctx.run_id, snapshot_at=ctx.started_at, buckets=ctx.settings.buckets,
    )
    io.ensure_table(ctx.spark, path, snapshot.schema, ctx.props("gold"), history.PARTITION)
    new = set(snapshot.columns) - set(io.columns(ctx.spark, path))
    if new - set(ctx.settings.buckets.columns.values()):
        raise ReceivablesError(f"{path} lacks the columns {sorted(new)} this run's snapshot holds")
    # A plain append: a run snapshots once, and a killed run's snapshot is removed by the
    # next run (ops.recovery), so no key check is needed.
    io.append(snapshot, path, add_columns=bool(new))
    commit = io.last_commit(ctx.spark, path)
    rows = int(commit.metrics.get("numOutputRows", 0)) if commit else 0
    record.count("gold.account_receivables_history.snapshot_rows", rows)
