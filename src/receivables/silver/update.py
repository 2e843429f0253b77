"""The silver step of a run: each entity's unread bronze rows, classified, checked,
quarantined or MERGEd into silver."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from receivables import io
from receivables.bronze.update import Ingested
from receivables.entities import ENTITIES, INVOICES, SKUS
from receivables.ops import conservation, faults, manifest
from receivables.ops.run_log import RunRecord
from receivables.run import RunContext, Scope
from receivables.silver import accounts, invoice_line_items, invoices, payments, skus
from receivables.silver.conform import (
    QUARANTINE_SCHEMA,
    SilverTable,
    accepted,
    classify,
    quarantined,
    typed,
)
from receivables.vocabulary import CDF_META

SILVER_TABLES: dict[str, SilverTable] = {
    "accounts": accounts.TABLE,
    "skus": skus.TABLE,
    "invoices": invoices.TABLE,
    "invoice_line_items": invoice_line_items.TABLE,
    "payments": payments.TABLE,
}


@dataclass(frozen=True)
class BronzeBatch:
    """The bronze rows a silver update reads, and the bronze version they end at."""

    rows: DataFrame | None
    version: int
    whole: bool  # all of bronze (a first build or a full rebuild): classified split


@dataclass(frozen=True)
class Bronze:
    """Bronze rows that count: those of files ``ops.file_manifest`` records as ingested.

    A run writes the manifest after every bronze append has succeeded, so rows a killed or
    failed run appended stay out of silver until their file is delivered again (then it is
    recorded ``recovered``); a file refused at any later check never reaches silver.

    The manifest is read once per run (``read``, or handed over by the bronze step, which
    read it); each read of bronze is then a filter on the checksums it lists, not a join
    with the manifest table.
    """

    ctx: RunContext
    counted: dict[str, list[str]]  # entity → checksums of its COUNTED files

    @classmethod
    def read(cls, ctx: RunContext) -> Bronze:
        return cls(ctx, manifest.counted_checksums(ctx.spark, ctx.path("ops", "file_manifest")))

    def rows(self, entity: str, rows: DataFrame | None = None) -> DataFrame:
        """The counted rows of ``rows`` (all of the entity's bronze table by default)."""
        rows = rows if rows is not None else io.read(self.ctx.spark, self.ctx.path("bronze", entity))
        return rows.filter(F.col("_file_checksum").isin(self.counted.get(entity, [])))


def _bronze_batch(
    bronze: Bronze, entity: str, marks: dict[tuple[str, str], int], scope: Scope, recovered: Sequence[str] = ()
) -> BronzeBatch:
    """The bronze rows silver has not read: the Change Data Feed after silver's watermark,
    plus the rows of files recovered in this run (appended by a killed run, maybe before
    the watermark)."""
    ctx = bronze.ctx
    path = ctx.path("bronze", entity)
    latest = io.version(ctx.spark, path)
    if scope.full or scope.ranged:
        return BronzeBatch(bronze.rows(entity), latest, whole=scope.full)
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
    return BronzeBatch(bronze.rows(entity, rows), latest, whole=after < 0)


def update_silver(
    ctx: RunContext, record: RunRecord, scope: Scope, marks: dict[tuple[str, str], int],
    ingested: Ingested | None = None,
) -> dict[tuple[str, str], int]:
    """MERGE each entity's new bronze rows into silver; quarantine what fails.

    ``marks`` are the watermarks as the run found them; ``ingested`` is what this run's
    bronze step found (None when the run read no files). Returns the watermarks that
    moved; gold saves them with its own in one commit.
    """
    moved: dict[tuple[str, str], int] = {}
    bronze = Bronze(ctx, ingested.counted) if ingested is not None else Bronze.read(ctx)
    recovered = ingested.recovered if ingested is not None else {}
    for entity in ENTITIES:
        name = entity.name
        with record.step(f"silver.{name}") as said:
            batch = _bronze_batch(bronze, name, marks, scope, recovered.get(name, ()))
            if batch.rows is None:
                said.append("nothing new in bronze")
                continue
            if name == SKUS.name:
                _silver_skus(bronze, record, batch.rows, scope)
            else:
                _silver_entity(bronze, record, SILVER_TABLES[name], batch.rows, scope, split=batch.whole)
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


def _ranged_invoice_ids(bronze: Bronze, scope: Scope) -> DataFrame:
    """Invoice ids with date_issued in the range, in bronze (as delivered) or in silver."""
    ctx = bronze.ctx
    lo, hi = F.lit(scope.issued_from), F.lit(scope.issued_to)
    delivered = typed(bronze.rows(INVOICES.name), invoices.TABLE)
    ids = delivered.filter(F.col("date_issued").between(lo, hi)).select("invoice_id")
    silver_path = ctx.path("silver", "invoices")
    if io.is_table(ctx.spark, silver_path):
        ids = ids.unionByName(
            io.read(ctx.spark, silver_path).filter(F.col("date_issued").between(lo, hi)).select("invoice_id")
        )
    return ids.filter(F.col("invoice_id").isNotNull()).distinct()


def _silver_entity(
    bronze: Bronze, record: RunRecord, table: SilverTable, batch: DataFrame, scope: Scope,
    split: bool = False,
) -> None:
    """Classify one entity's batch, check conservation, quarantine, MERGE. ``split``
    classifies keys delivered once without the window (big batches: see ``classify``)."""
    ctx = bronze.ctx
    name = table.entity.name
    rows = typed(batch, table)
    delete_missing = "true" if scope.full else None
    if scope.ranged:
        if name in ("invoices", "invoice_line_items", "payments"):
            ids = _ranged_invoice_ids(bronze, scope)
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
            rows_in = accepted(classified, table, ctx.started_at)
            path = ctx.path("silver", name)
            if delete_missing:
                metrics = io.replace_scope(ctx.spark, rows_in, path, table.key, delete_missing, ctx.props("silver"))
            else:
                metrics = io.upsert_changed(ctx.spark, rows_in, path, table.key, ctx.props("silver"))
    finally:
        classified.unpersist()
    record.merged(f"silver.{name}", metrics, counts["accepted"])


def _silver_skus(bronze: Bronze, record: RunRecord, batch: DataFrame, scope: Scope) -> None:
    """SKU price history is re-derived from all bronze SKU rows (a small dimension)."""
    if scope.ranged:
        return
    ctx = bronze.ctx
    table = skus.TABLE
    batch_files = [r[0] for r in batch.select("_file_checksum").distinct().collect()]
    everything = bronze.rows(SKUS.name)
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
        metrics = io.replace_scope(
            ctx.spark, history, ctx.path("silver", "skus"), ["item_id", "valid_from"], "true", ctx.props("silver"),
        )
    finally:
        classified.unpersist()
    record.merged("silver.skus", metrics)
