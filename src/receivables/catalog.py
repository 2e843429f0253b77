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
