"""One run of the lakehouse: bronze → silver → gold, then the run log.

The orchestration lives here; each layer's rules live in its own modules and every Delta
read or write goes through ``receivables.io``. A run takes its as-of date, run id and
clock reading as parameters, so any run can be reproduced.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from receivables import io
from receivables.bronze import files as bronze_files
from receivables.bronze.ingest import MANIFEST_SCHEMA, bronze_schema, read_delivered
from receivables.config import Settings
from receivables.entities import BY_NAME, ENTITIES, INVOICES, SKUS
from receivables.errors import ReceivablesError
from receivables.gold import account_receivables_history as history
from receivables.gold.account_receivables import build_account_receivables
from receivables.gold.invoice_aging import ages_with, build_invoice_aging, reaged_columns
from receivables.ops import conservation, controls, faults, recovery, watermarks
from receivables.ops.lock import run_lock
from receivables.ops.run_log import RunRecord
from receivables.silver import accounts, invoice_line_items, invoices, payments, skus
from receivables.silver.conform import (
    QUARANTINE_SCHEMA,
    SilverTable,
    accepted,
    classify,
    quarantined,
    typed,
)

SILVER_TABLES: dict[str, SilverTable] = {
    "accounts": accounts.TABLE,
    "skus": skus.TABLE,
    "invoices": invoices.TABLE,
    "invoice_line_items": invoice_line_items.TABLE,
    "payments": payments.TABLE,
}
CATALOG = {
    "bronze": [e.name for e in ENTITIES],
    "silver": [*SILVER_TABLES, "quarantine"],
    "gold": ["invoice_aging", "account_receivables", "account_receivables_history"],
    "ops": ["run_log", "file_manifest", "watermarks"],
}
CDF_META = ["_change_type", "_commit_version", "_commit_timestamp"]
ENTITY_ORDER = {e.name: i for i, e in enumerate(ENTITIES)}
COUNTED = ("ingested", "recovered")  # manifest actions whose bronze rows reach silver
ORPHANED = recovery.ORPHANED


@dataclass(frozen=True)
class RunContext:
    """What one run is: where, for which business date, under which id, since when."""

    spark: SparkSession
    settings: Settings
    output_dir: str
    as_of: dt.date
    run_id: str
    started_at: dt.datetime
    command: str
    clock: Callable[[], dt.datetime]  # read only to stamp when the run finished
    input_dir: str | None = None

    def path(self, layer: str, table: str) -> str:
        return io.table_path(self.output_dir, layer, table)

    def props(self, layer: str) -> dict[str, str]:
        return self.settings.properties_for(layer)


@dataclass(frozen=True)
class Scope:
    """Which invoices a run re-derives: everything, or a date range of date_issued."""

    full: bool = False
    issued_from: dt.date | None = None
    issued_to: dt.date | None = None

    @property
    def ranged(self) -> bool:
        return self.issued_from is not None


@dataclass
class RunResult:
    record: RunRecord
    status: str
    error: str | None = None
    summary: dict[str, object] = field(default_factory=dict)


# What a failed run puts back: gold as readers see it, and the watermarks its next
# incremental scope is derived from (silver and bronze keep what they merged: they are
# right, and re-reading them is a no-op).
PUBLISHED = (("gold", "invoice_aging"), ("gold", "account_receivables"),
             ("gold", "account_receivables_history"), ("ops", "watermarks"))


def execute(ctx: RunContext, scope: Scope | None = None) -> RunResult:
    """Run the pipeline under the output directory's lock and write the run-log row.

    A run that fails after it started to write gold (its controls do not reconcile, or
    anything else goes wrong) restores gold and the watermarks to the versions it found,
    so readers never see the gold of a failed run.
    """
    scope = scope or Scope()
    record = RunRecord(ctx.run_id, ctx.command, ctx.as_of, ctx.started_at)
    faults.start_run()
    with run_lock(ctx.output_dir), io.tagged_commits(
        ctx.spark, ctx.run_id, as_of=ctx.as_of.isoformat(), command=ctx.command
    ):
        status, error = "succeeded", None
        found: dict[tuple[str, str], int] = {}
        try:
            for layer, names in CATALOG.items():
                for name in names:
                    if io.uncommitted(ctx.spark, ctx.path(layer, name)):
                        record.notes.append(
                            f"{layer}.{name} has files but no committed version (a write that did not "
                            "finish, e.g. on a full disk); treated as absent and written anew"
                        )
            abandoned = recovery.find_abandoned(ctx, CATALOG)
            recovery.settle(ctx, abandoned, record)
            found = {t: io.version(ctx.spark, ctx.path(*t)) for t in PUBLISHED}
            recovered = ingest_bronze(ctx, record) if ctx.input_dir is not None else {}
            marks = watermarks.read_all(ctx.spark, ctx.path("ops", "watermarks"))
            silver_marks = update_silver(ctx, record, scope, marks, recovered)
            update_gold(ctx, record, scope, marks, silver_marks,
                        rebuild=any(r.touched_gold for r in abandoned))
            faults.after("gold")
            controls.reconcile(ctx, record)
        except ReceivablesError as exc:
            status, error = "failed", str(exc) + _unpublish(ctx, record, found)
        except Exception as exc:  # recorded, then re-raised for the caller to report
            status, error = "failed", f"{type(exc).__name__}: {exc}"
            try:
                error += _unpublish(ctx, record, found)
                _write_run_log(ctx, record, status, error)
            except Exception as again:  # e.g. the disk is still full: the next run settles it
                exc.add_note(f"the failed run could not be logged either: {type(again).__name__}")
            raise
        _write_run_log(ctx, record, status, error)
    result = RunResult(record, status, error)
    if status == "succeeded":
        result.summary = controls.summary(record)
    return result


def _unpublish(ctx: RunContext, record: RunRecord, found: dict[tuple[str, str], int]) -> str:
    """Put every published table this run changed back to the version it found; returns
    a sentence for the run's error saying so (empty when nothing had moved)."""
    put_back = []
    for table, before in found.items():
        path = ctx.path(*table)
        if io.version(ctx.spark, path) == before:
            continue
        if before >= 0:
            io.restore(ctx.spark, path, before)
        else:  # created by this run: left empty, as it was absent
            io.delete_where(ctx.spark, path, F.lit(True))
        put_back.append(".".join(table))
    record.count("gold.restored_tables", len(put_back))
    if not put_back:
        return ""
    return f" (restored {', '.join(put_back)} to the versions before this run; gold is unchanged)"


def _write_run_log(ctx: RunContext, record: RunRecord, status: str, error: str | None) -> None:
    record.table_versions = table_versions(ctx)
    finished = ctx.clock()
    io.append(
        record.to_frame(ctx.spark, status, max(finished, ctx.started_at), error),
        ctx.path("ops", "run_log"),
        ctx.props("ops"),
    )


def table_versions(ctx: RunContext) -> dict[str, int]:
    out = {}
    for layer, names in CATALOG.items():
        for name in names:
            if (layer, name) == ("ops", "run_log"):
                continue
            v = io.version(ctx.spark, ctx.path(layer, name))
            if v >= 0:
                out[f"{layer}.{name}"] = v
    return out


# --------------------------------------------------------------------------- bronze


def ingest_bronze(ctx: RunContext, record: RunRecord) -> dict[str, list[str]]:
    """Append every file not ingested before; identical re-deliveries are no-ops.

    Every file is checked before anything is written (the plain-Python pre-pass of every
    file, then Spark's read of every new file against it): bad files stop the run with one
    message naming each of them, and no table changes. Files under the input directory
    that are no extract are named in the run log with the reason they were skipped.
    Returns the checksums per entity of files whose rows an earlier, killed run had
    appended without recording them: silver reads those rows again.
    """
    assert ctx.input_dir is not None
    found, problems = bronze_files.survey(ctx.input_dir)
    root = Path(ctx.input_dir).resolve()
    manifest_path = ctx.path("ops", "file_manifest")
    manifest, orphans = [], set()
    if io.is_table(ctx.spark, manifest_path):
        everything = io.read(ctx.spark, manifest_path).select(
            "entity", "source_file", "checksum", "size_bytes", "records", "multiline", "has_bom", "modified_ns",
            "action",
        ).collect()
        manifest = [r for r in everything if r["action"] in COUNTED]
        orphans = {(r["entity"], r["checksum"]) for r in everything if r["action"] == ORPHANED}
    known = {(r["entity"], r["checksum"]) for r in manifest}
    last_by_name = {(r["entity"], r["source_file"]): r["checksum"] for r in manifest}
    recorded = {
        (r["entity"], r["source_file"], r["size_bytes"], r["modified_ns"]):
            bronze_files.Recorded(r["checksum"], r["records"], r["multiline"], r["has_bom"])
        for r in manifest if r["modified_ns"] is not None
    }

    def rel_of(path: str | Path) -> str:
        return str(Path(path).resolve().relative_to(root))

    def facts_of(d: bronze_files.DeliveredFile) -> bronze_files.FileFacts:
        return bronze_files.facts_for(d, rel_of(d.path), recorded, ctx.settings.reread_unchanged_files)

    all_facts = bronze_files.inspect_all(found.delivered, facts_of, problems)

    rows = []
    by_entity: dict[str, list[bronze_files.FileFacts]] = {}
    seen: set[tuple[str, str]] = set()
    for f in all_facts:
        rel = rel_of(f.path)
        key = (f.entity, f.checksum)
        if key in known or key in seen:
            action = "skipped_identical"
        else:
            action = "ingested"
            seen.add(key)
            by_entity.setdefault(f.entity, []).append(f)
        previous = last_by_name.get((f.entity, rel))
        replaces = previous if previous and previous != f.checksum and action == "ingested" else None
        rows.append((f, rel, action, replaces))

    # Rows a killed run appended without recording their file (``ops.recovery`` listed
    # them as orphaned): the file is delivered again, so its rows count from now on,
    # without appending them twice.
    recovered: dict[str, list[str]] = {}
    for entity, new in by_entity.items():
        back = sorted({f.checksum for f in new if (entity, f.checksum) in orphans})
        if back:
            recovered[entity] = back
            by_entity[entity] = [f for f in new if f.checksum not in back]
            rows = [
                (f, rel, "recovered" if f.entity == entity and f.checksum in back and a == "ingested" else a, rep)
                for f, rel, a, rep in rows
            ]

    staging = Path(tempfile.mkdtemp(prefix="receivables-staging-", dir=ctx.settings.staging_dir))
    try:
        # Read and check every entity's new files before the first append, so a refused
        # file leaves every table as it was.
        frames = {
            name: read_delivered(
                ctx.spark, BY_NAME[name], new, ctx.input_dir, staging, ctx.run_id, ctx.as_of, ctx.started_at
            )
            for name, new in sorted(by_entity.items(), key=lambda kv: ENTITY_ORDER[kv[0]]) if new
        }
        for entity in ENTITIES:
            io.ensure_table(
                ctx.spark, ctx.path("bronze", entity.name), bronze_schema(entity),
                ctx.props("bronze") | _cdf(),
            )
        for entity_name, df in frames.items():
            path = ctx.path("bronze", entity_name)
            with faults.during(f"bronze.{entity_name}", path):
                io.append(df, path)
            faults.after(f"bronze.{entity_name}")
            record.count(f"bronze.{entity_name}.rows_appended", sum(f.records for f in by_entity[entity_name]))
    finally:
        ctx.spark.catalog.clearCache()
        shutil.rmtree(staging, ignore_errors=True)

    # The manifest lists what reached bronze; skipped files are in the run log's inputs, so
    # a night with nothing new makes no manifest commit.
    manifest_rows = [
        (f.entity, rel, f.checksum, f.size_bytes, f.records, f.multiline, f.has_bom,
         action, replaces, ctx.run_id, ctx.as_of, ctx.started_at, f.modified_ns)
        for f, rel, action, replaces in rows if action != "skipped_identical"
    ]
    if manifest_rows:
        # One file per night (a local list is split over the default parallelism).
        rows_df = ctx.spark.createDataFrame(manifest_rows, MANIFEST_SCHEMA).coalesce(1)
        io.append(rows_df, manifest_path, ctx.props("ops"))
    for f, rel, action, _ in rows:
        record.inputs.append((f.entity, rel, f.checksum, f.records, action, None))
        record.count(f"files.{action}", 1)
        if f.blank_lines and action == "ingested":
            record.count(f"bronze.{f.entity}.blank_lines", f.blank_lines)
    for skipped in found.skipped:
        record.inputs.append((None, skipped.rel, None, None, "skipped", skipped.reason))
        record.count("files.skipped", 1)
    return recovered


def _cdf() -> dict[str, str]:
    return {"delta.enableChangeDataFeed": "true"}


# --------------------------------------------------------------------------- silver


@dataclass(frozen=True)
class BronzeBatch:
    """The bronze rows a silver update reads, and the bronze version they end at."""

    rows: DataFrame | None
    version: int
    whole: bool  # all of bronze (a first build or a full rebuild): classified split


def _bronze(ctx: RunContext, entity: str, rows: DataFrame | None = None) -> DataFrame:
    """Bronze rows that count: those of files ``ops.file_manifest`` records as ingested.

    A run writes the manifest after every bronze append has succeeded, so rows a killed or
    failed run appended stay out of silver until their file is delivered again (then it is
    recorded ``recovered``); a file refused at any later check never reaches silver.
    """
    rows = rows if rows is not None else io.read(ctx.spark, ctx.path("bronze", entity))
    manifest_path = ctx.path("ops", "file_manifest")
    if not io.is_table(ctx.spark, manifest_path):
        return rows.limit(0)
    files = (
        io.read(ctx.spark, manifest_path)
        .filter((F.col("entity") == entity) & F.col("action").isin(*COUNTED))
        .select(F.col("checksum").alias("_file_checksum")).distinct()
    )
    return rows.join(F.broadcast(files), "_file_checksum", "left_semi")


def _bronze_batch(
    ctx: RunContext, entity: str, marks: dict, scope: Scope, recovered: Sequence[str] = ()
) -> BronzeBatch:
    """The bronze rows silver has not read: the Change Data Feed after silver's watermark,
    plus the rows of files recovered in this run (appended by a killed run, maybe before
    the watermark)."""
    path = ctx.path("bronze", entity)
    latest = io.version(ctx.spark, path)
    if scope.full or scope.ranged:
        return BronzeBatch(_bronze(ctx, entity), latest, whole=scope.full)
    after = marks.get((f"silver.{entity}", f"bronze.{entity}"), -1)
    feed = io.changes(ctx.spark, path, after)
    if feed is None and not recovered:
        return BronzeBatch(None, latest, whole=False)
    rows = None
    if feed is not None:
        rows = feed.filter(F.col("_change_type") == "insert").drop(*CDF_META)
        if recovered:
            rows = rows.filter(~F.col("_file_checksum").isin(list(recovered)))
    if recovered:
        again = io.read(ctx.spark, path).filter(F.col("_file_checksum").isin(list(recovered)))
        rows = again if rows is None else rows.unionByName(again)
    return BronzeBatch(_bronze(ctx, entity, rows), latest, whole=after < 0)


def update_silver(
    ctx: RunContext, record: RunRecord, scope: Scope, marks: dict[tuple[str, str], int],
    recovered: dict[str, list[str]] | None = None,
) -> dict[tuple[str, str], int]:
    """MERGE each entity's new bronze rows into silver; quarantine what fails.

    ``marks`` are the watermarks as the run found them. Returns the ones that moved; gold
    saves them with its own in one commit.
    """
    moved: dict[tuple[str, str], int] = {}
    for entity in ENTITIES:
        name = entity.name
        batch = _bronze_batch(ctx, name, marks, scope, (recovered or {}).get(name, ()))
        if batch.rows is None:
            continue
        if name == SKUS.name:
            _silver_skus(ctx, record, batch.rows, scope)
        else:
            _silver_entity(ctx, record, SILVER_TABLES[name], batch.rows, scope, split=batch.whole)
        if marks.get((f"silver.{name}", f"bronze.{name}")) != batch.version:
            moved[(f"silver.{name}", f"bronze.{name}")] = batch.version
    return moved


def _record_statuses(record: RunRecord, name: str, counts: dict[str, int]) -> None:
    for status, n in counts.items():
        record.count(f"silver.{name}.{status}", n)
    record.count(f"silver.{name}.bronze_rows", sum(counts.values()))


def _quarantine(
    ctx: RunContext, record: RunRecord, table: SilverTable, classified: DataFrame, counts: dict[str, int]
) -> None:
    path = ctx.path("silver", "quarantine")
    io.ensure_table(ctx.spark, path, QUARANTINE_SCHEMA, ctx.props("silver"))
    if counts["invalid"] + counts["conflict"] == 0:
        return  # nothing rejected: no MERGE, no empty commit
    rows = quarantined(classified, table, ctx.run_id, ctx.started_at)
    with io.small_write(ctx.spark, counts["invalid"] + counts["conflict"]):
        inserted = io.insert_new(
            ctx.spark, rows, path, ["entity", "_file_checksum", "_row_number"], ctx.props("silver")
        )
    record.count(f"silver.{table.entity.name}.quarantine_inserted", inserted)


def _ranged_invoice_ids(ctx: RunContext, scope: Scope) -> DataFrame:
    """Invoice ids with date_issued in the range, in bronze (as delivered) or in silver."""
    lo, hi = F.lit(scope.issued_from), F.lit(scope.issued_to)
    bronze = typed(_bronze(ctx, INVOICES.name), invoices.TABLE)
    ids = bronze.filter(F.col("date_issued").between(lo, hi)).select("invoice_id")
    silver_path = ctx.path("silver", "invoices")
    if io.is_table(ctx.spark, silver_path):
        ids = ids.unionByName(
            io.read(ctx.spark, silver_path).filter(F.col("date_issued").between(lo, hi)).select("invoice_id")
        )
    return ids.filter(F.col("invoice_id").isNotNull()).distinct()


def _silver_entity(
    ctx: RunContext, record: RunRecord, table: SilverTable, batch: DataFrame, scope: Scope,
    split: bool = False,
) -> None:
    """Classify one entity's batch, check conservation, quarantine, MERGE. ``split``
    classifies keys delivered once without the window (big batches: see ``classify``)."""
    name = table.entity.name
    rows = typed(batch, table)
    delete_missing = "true" if scope.full else None
    if scope.ranged:
        if name in ("invoices", "invoice_line_items", "payments"):
            ids = _ranged_invoice_ids(ctx, scope)
            rows = rows.join(F.broadcast(ids), "invoice_id", "left_semi")
            if name == "invoices":
                delete_missing = (
                    f"t.date_issued BETWEEN DATE'{scope.issued_from}' AND DATE'{scope.issued_to}'"
                )
        else:
            return  # reference data is not invoice-dated: nightly MERGEs keep it current
    classified = classify(rows, table, split_repeated=split).persist()
    try:
        counts = conservation.check_batch(record, table.entity, rows, classified)
        _record_statuses(record, name, counts)
        _quarantine(ctx, record, table, classified, counts)
        with faults.during(f"silver.{name}", ctx.path("silver", name)):
            metrics = io.merge_by_hash(
                ctx.spark,
                accepted(classified, table, ctx.started_at),
                ctx.path("silver", name),
                table.key,
                delete_missing=delete_missing,
                properties=ctx.props("silver"),
            )
    finally:
        classified.unpersist()
    record.count(f"silver.{name}.inserted", metrics.inserted)
    record.count(f"silver.{name}.updated", metrics.updated)
    record.count(f"silver.{name}.deleted", metrics.deleted)
    record.count(f"silver.{name}.unchanged", counts["accepted"] - metrics.inserted - metrics.updated)


def _silver_skus(ctx: RunContext, record: RunRecord, batch: DataFrame, scope: Scope) -> None:
    """SKU price history is re-derived from all bronze SKU rows (a small dimension)."""
    if scope.ranged:
        return
    table = skus.TABLE
    batch_files = [r[0] for r in batch.select("_file_checksum").distinct().collect()]
    everything = _bronze(ctx, SKUS.name)
    classified = classify(typed(everything, table), table, partition=["_as_of_date"]).persist()
    try:
        in_batch = classified.filter(F.col("_file_checksum").isin(batch_files))
        counts = conservation.check_batch(
            record, table.entity, typed(batch, table), in_batch
        )
        _record_statuses(record, "skus", counts)
        _quarantine(ctx, record, table, in_batch, counts)
        history = skus.build_price_history(
            accepted(classified, table, ctx.started_at), ctx.started_at
        )
        metrics = io.merge_by_hash(
            ctx.spark, history, ctx.path("silver", "skus"), ["item_id", "valid_from"],
            delete_missing="true", properties=ctx.props("silver"),
        )
    finally:
        classified.unpersist()
    record.count("silver.skus.inserted", metrics.inserted)
    record.count("silver.skus.updated", metrics.updated)
    record.count("silver.skus.deleted", metrics.deleted)


# --------------------------------------------------------------------------- gold


def _silver(ctx: RunContext, name: str) -> DataFrame:
    path = ctx.path("silver", name)
    if not io.is_table(ctx.spark, path):
        raise ReceivablesError(f"silver.{name} does not exist yet: run `receivables run` first")
    return io.read(ctx.spark, path)


def _affected_accounts(
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


def _affected_invoices(
    ctx: RunContext, marks: dict, last_as_of: dt.date, scope: Scope
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
            _silver(ctx, "invoice_line_items").join(F.broadcast(since), "item_id")
            .join(_silver(ctx, "invoices").select("invoice_id", "date_issued"), "invoice_id")
            .filter(F.col("date_issued") >= F.col("_since")).select("invoice_id")
        )
    account_changes = feed("accounts")
    if account_changes is not None:
        parts.append(
            _silver(ctx, "invoices").join(
                F.broadcast(account_changes.select("account_id").distinct()), "account_id", "left_semi"
            ).select("invoice_id")
        )
    # Open invoices nothing else touched are re-aged from gold itself (see update_gold);
    # these are the ones whose payments or visibility move with the as-of date.
    window = (F.col("_d") > F.lit(last_as_of)) & (F.col("_d") <= F.lit(ctx.as_of))
    inv = _silver(ctx, "invoices")
    parts.append(inv.withColumn("_d", F.col("date_issued")).filter(window).select("invoice_id"))
    parts.append(inv.withColumn("_d", F.col("paid_in_full_date")).filter(window).select("invoice_id"))
    parts.append(
        _silver(ctx, "payments").withColumn("_d", F.col("payment_date")).filter(window).select("invoice_id")
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
    sources = {f"silver.{n}": io.version(spark, ctx.path("silver", n)) for n in SILVER_TABLES}
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
    silver_invoices = _silver(ctx, "invoices")
    line_items = _silver(ctx, "invoice_line_items")
    pays = _silver(ctx, "payments")
    silver_accounts = _silver(ctx, "accounts")
    if full:
        scoped_invoices, scoped_lines, scoped_pays = silver_invoices, line_items, pays
        ids = None
    else:
        assert last_as_of is not None
        ids = _affected_invoices(ctx, marks, last_as_of, scope).persist()
        # Materialised before the joins below are planned, the cached ids have a known
        # size, so Spark broadcasts them (a night's few thousand) instead of shuffling all
        # of silver line items, invoices and payments to meet them; a change touching
        # millions of invoices still gets a sort-merge join.
        ids.count()
        scoped_invoices = silver_invoices.join(ids, "invoice_id", "left_semi")
        scoped_lines = line_items.join(ids, "invoice_id", "left_semi")
        scoped_pays = pays.join(ids, "invoice_id", "left_semi")
    aging = build_invoice_aging(
        scoped_invoices, scoped_lines, _silver(ctx, "skus"), scoped_pays, silver_accounts,
        as_of=ctx.as_of, run_id=ctx.run_id, updated_at=ctx.started_at,
        default_terms_days=ctx.settings.default_terms_days,
    ).persist()
    try:
        recomputed = aging.count()
        reaging = None
        account_ids: list[int] = []
        gone: list[int] = []
        if not full:
            before = io.read(spark, aging_path)
            moving = before.filter(ages_with(ctx.as_of)) if ctx.as_of > last_as_of else None
            old_rows = before.join(ids, "invoice_id", "left_semi")
            account_ids = _affected_accounts(ctx, marks, aging, old_rows, moving)
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
        record.count("gold.invoice_aging.inserted", metrics.inserted)
        record.count("gold.invoice_aging.updated", metrics.updated)
        record.count("gold.invoice_aging.deleted", metrics.deleted)
        record.count(
            "gold.invoice_aging.unchanged",
            recomputed + reaged_count - metrics.inserted - metrics.updated,
        )

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
        record.count("gold.account_receivables.inserted", metrics.inserted)
        record.count("gold.account_receivables.updated", metrics.updated)
        record.count("gold.account_receivables.deleted", metrics.deleted)
        record.count(
            "gold.account_receivables.unchanged", rolled - metrics.inserted - metrics.updated
        )
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
