"""silver.invoices — one row per invoice_id: header of each invoice, latest valid version.

``due_date`` is NULL when the extract does not give it (gold derives it from terms);
``paid_in_full_date`` comes from the extract's ``payment_dates`` column (alias
``payment_date``) and counts as one payment of the whole invoice total on that date.
"""

from receivables.entities import INVOICES
from receivables.silver import parse as p
from receivables.silver.conform import SilverTable

TABLE = SilverTable(
    entity=INVOICES,
    parsers=lambda: {
        "invoice_id": p.identifier("invoice_id"),
        "account_id": p.identifier("account_id"),
        "date_issued": p.iso_date("date_issued"),
        "due_date": p.iso_date("due_date", required=False),
        "paid_in_full_date": p.iso_date("payment_dates", required=False),
        "voided": p.flag("voided"),
    },
)


