"""Every table the pipeline writes, by layer: ``<output_dir>/<layer>/<table>``."""

from __future__ import annotations

from receivables.entities import ENTITIES

SILVER = ("accounts", "skus", "invoices", "invoice_line_items", "payments")
CATALOG: dict[str, list[str]] = {
    "bronze": [e.name for e in ENTITIES],
    "silver": [*SILVER, "quarantine"],
    "gold": ["invoice_aging", "account_receivables", "account_receivables_history"],
    "ops": ["run_log", "file_manifest", "watermarks"],
}
# What a failed run puts back: gold as readers see it, and the watermarks its next
# incremental scope is derived from (silver and bronze keep what they merged: they are
# right, and re-reading them is a no-op).
PUBLISHED = (("gold", "invoice_aging"), ("gold", "account_receivables"),
             ("gold", "account_receivables_history"), ("ops", "watermarks"))
# How read-only commands order a table's rows (its key; time for the logs).
SORT_KEYS: dict[str, tuple[str, ...]] = {
    **{f"bronze.{e.name}": ("_ingested_at", "_source_file", "_row_number") for e in ENTITIES},
    **{f"silver.{e.name}": e.key for e in ENTITIES},
    "silver.skus": ("item_id", "valid_from"),
    "silver.quarantine": ("entity", "_source_file", "_row_number"),
    "gold.invoice_aging": ("invoice_id",),
    "gold.account_receivables": ("account_id",),
    "gold.account_receivables_history": ("as_of_date", "run_id", "account_id"),
    "ops.run_log": ("started_at",),
    "ops.file_manifest": ("recorded_at", "entity", "source_file"),
    "ops.watermarks": ("consumer", "source"),
}
