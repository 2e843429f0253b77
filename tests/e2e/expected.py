"""Gold computed straight from the CSV files with the csv module and Decimal.

Independent of the code under test: no Spark, no receivables modules. Handles a single
delivery of each file (the shipped sample's layout), one price per SKU.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import defaultdict
from decimal import Decimal
from pathlib import Path


def _rows(path: Path):
    with path.open(encoding="utf-8", newline="") as fh:
        yield from csv.DictReader(fh)


def expected_aging(data: Path, as_of: dt.date, default_terms: int = 30) -> dict[int, tuple]:
    price = {r["item_id"]: Decimal(r["item_retail_price"]) for r in _rows(data / "skus.csv")}
    terms = {
        int(r["account_id"]): int(r["payment_terms_days"]) if r.get("payment_terms_days") else None
        for r in _rows(data / "accounts.csv")
    }
    totals: dict[int, Decimal] = defaultdict(lambda: Decimal("0.00"))
    for r in _rows(data / "invoice_line_items.csv"):
        totals[int(r["invoice_id"])] += int(r["quantity"]) * price[r["item_id"]]
    paid: dict[int, Decimal] = defaultdict(lambda: Decimal("0.00"))
    payments = data / "payments.csv"
    if payments.exists():
        for r in _rows(payments):
            if dt.date.fromisoformat(r["payment_date"]) <= as_of:
                paid[int(r["invoice_id"])] += Decimal(r["amount"])
    out = {}
    for r in _rows(data / "invoices.csv"):
        issued = dt.date.fromisoformat(r["date_issued"])
        if issued > as_of:
            continue
        i = int(r["invoice_id"])
        total = totals[i]
        p = paid[i]
        if r.get("payment_dates") and dt.date.fromisoformat(r["payment_dates"]) <= as_of:
            p += total
        if r.get("due_date"):
            due = dt.date.fromisoformat(r["due_date"])
        else:
            t = terms.get(int(r["account_id"]))
            due = issued + dt.timedelta(days=t if t is not None else default_terms)
        outstanding = max(total - p, Decimal("0.00"))
        late = (as_of - due).days
        days = late if outstanding > 0 and late > 0 else 0
        if outstanding == 0:
            bucket = "paid"
        elif days == 0:
            bucket = "current"
        elif days <= 30:
            bucket = "1-30"
        elif days <= 60:
            bucket = "31-60"
        elif days <= 90:
            bucket = "61-90"
        else:
            bucket = "90+"
        out[i] = (int(r["account_id"]), due, total, p, outstanding, days, bucket)
    return out
