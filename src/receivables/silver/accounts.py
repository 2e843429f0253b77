"""silver.accounts — one row per account_id: the latest valid delivery of each account.

Contact columns are personal data: they stay in silver and never reach gold, logs or the
run log.
"""

from receivables.entities import ACCOUNTS
from receivables.silver import parse as p
from receivables.silver.conform import SilverTable

TABLE = SilverTable(
    entity=ACCOUNTS,
    parsers=lambda: {
        "account_id": p.identifier("account_id"),
        "company_name": p.text("company_name"),
        "company_address": p.text("company_address", required=False),
        "contact_person": p.text("contact_person", required=False),
        "contact_phone": p.text("contact_phone", required=False),
        "gender": p.text("gender", required=False),
        "joining_date": p.iso_date("joining_date", required=False),
        "payment_terms_days": p.count("payment_terms_days", positive=False, required=False, max_value=p.MAX_TERMS_DAYS),
    },
)
