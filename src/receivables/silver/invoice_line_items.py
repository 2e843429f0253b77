"""silver.invoice_line_items — one row per (invoice_id, item_id) with its quantity.

A line may arrive before its invoice or its SKU; it is kept here and gold marks the
invoice incomplete until what it needs arrives.
"""

from receivables.entities import LINE_ITEMS
from receivables.silver import parse as p
from receivables.silver.conform import SilverTable

TABLE = SilverTable(
    entity=LINE_ITEMS,
    parsers=lambda: {
        "invoice_id": p.identifier("invoice_id"),
        "item_id": p.text("item_id"),
        "quantity": p.count("quantity", max_value=p.MAX_QUANTITY),
        "voided": p.flag("voided"),
    },
)
