"""silver.payments — one row per payment_id: a positive amount paid on a date.

A payment may arrive before its invoice; it is kept and counts once the invoice exists.
"""

from receivables.entities import PAYMENTS
from receivables.silver import parse as p
from receivables.silver.conform import SilverTable

TABLE = SilverTable(
    entity=PAYMENTS,
    parsers=lambda: {
        "payment_id": p.identifier("payment_id"),
        "invoice_id": p.identifier("invoice_id"),
        "payment_date": p.iso_date("payment_date"),
        "amount": p.money("amount", max_units=p.MAX_PAYMENT),
        "voided": p.flag("voided"),
    },
)
