"""Deterministic sample extracts shaped like the real billing system's.

Same seed, same bytes. Company names carry commas, addresses a newline (both quoted),
item ids are ISBN-like strings, invoice and account ids integers. Invoices carry
``payment_dates`` when paid in full; ``payments.csv`` (optional) holds partial payments
and a few overpayments for other invoices.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

_FIRST = ["James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda",
          "David", "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica"]
_LAST = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
         "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson"]
_SUFFIX = ["Inc", "LLC", "Ltd", "Group", "PLC", "and Sons"]
_STREET = ["York Fork", "Maple Avenue", "Oak Street", "Pine Court", "Cedar Lane", "Elm Drive"]
_CITY = ["North Shelbyborough", "Lake Amanda", "Port Daniel", "East Ryan", "South Kelly"]
_STATE = ["SD", "CA", "NY", "TX", "WA", "OR", "FL"]
_WORDS = ["deluxe", "compact", "steel", "wireless", "organic", "premium", "classic", "smart"]
_THINGS = ["widget", "lamp", "notebook", "kettle", "speaker", "chair", "backpack", "monitor"]

HEADERS = {
    "accounts": ["account_id", "company_name", "company_address", "contact_person",
                 "contact_phone", "gender", "joining_date", "payment_terms_days"],
    "skus": ["item_id", "item_name", "item_description", "item_cost_price", "item_retail_price"],
    "invoices": ["invoice_id", "account_id", "date_issued", "due_date", "payment_dates"],
    "invoice_line_items": ["invoice_id", "item_id", "quantity"],
    "payments": ["payment_id", "invoice_id", "payment_date", "amount"],
}


def _isbn(rng: random.Random) -> str:
    return f"{rng.randint(0, 1)}-{rng.randint(100, 999)}-{rng.randint(10000, 99999)}-{rng.randint(0, 9)}"


def _company(rng: random.Random) -> str:
    a, b = rng.sample(_LAST, 2)
    return rng.choice([f"{a}, {b} and {rng.choice(_LAST)}", f"{a} {rng.choice(_SUFFIX)}", f"{a}-{b}"])


def _writer(path: Path) -> tuple[TextIO, Any]:
    fh = path.open("w", encoding="utf-8", newline="")
    return fh, csv.writer(fh, lineterminator="\n")


def generate(
    out_dir: str | Path,
    *,
    invoices: int = 5000,
    accounts: int = 200,
    skus: int = 100,
    seed: int = 7,
    start: dt.date = dt.date(2024, 1, 1),
    days: int = 365,
    payments_file: bool = True,
    first_invoice_id: int = 1,
) -> dict[str, int]:
    """Write the five extracts into ``out_dir``; returns rows written per file."""
    rng = random.Random(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, int] = {}

    fh, w = _writer(out / "accounts.csv")
    w.writerow(HEADERS["accounts"])
    for account_id in range(1, accounts + 1):
        address = (f"{rng.randint(1, 999)} {rng.choice(_STREET)}\n"
                   f"{rng.choice(_CITY)}, {rng.choice(_STATE)} {rng.randint(10000, 99999):05d}")
        terms = rng.choice(["", "", "15", "30", "45", "60"])
        joined = start - dt.timedelta(days=rng.randint(30, 2000))
        w.writerow([account_id, _company(rng), address,
                    f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
                    f"+1-{rng.randint(200, 999)}-{rng.randint(200, 999)}-{rng.randint(1000, 9999)}",
                    rng.choice(["Male", "Female"]), joined.isoformat(), terms])
    fh.close()
    written["accounts"] = accounts

    prices: dict[str, Decimal] = {}
    fh, w = _writer(out / "skus.csv")
    w.writerow(HEADERS["skus"])
    while len(prices) < skus:
        item = _isbn(rng)
        if item in prices:
            continue
        cost = Decimal(rng.randint(100, 20000)) / 100
        retail = (cost * Decimal(rng.choice(["1.2", "1.5", "1.8", "2"]))).quantize(Decimal("0.01"))
        prices[item] = retail
        name = f"{rng.choice(_WORDS)} {rng.choice(_THINGS)}"
        w.writerow([item, name.title(), f"A {name}, {rng.choice(_WORDS)} and durable", f"{cost:.2f}", f"{retail:.2f}"])
    fh.close()
    written["skus"] = skus
    items = list(prices)

    inv_fh, inv_w = _writer(out / "invoices.csv")
    line_fh, line_w = _writer(out / "invoice_line_items.csv")
    inv_w.writerow(HEADERS["invoices"])
    line_w.writerow(HEADERS["invoice_line_items"])
    pay_rows: list[tuple[str, int, Decimal]] = []
    lines = 0
    for invoice_id in range(first_invoice_id, first_invoice_id + invoices):
        issued = start + dt.timedelta(days=rng.randrange(days))
        due = issued + dt.timedelta(days=30) if rng.random() < 0.3 else None
        total = Decimal("0.00")
        for item in rng.sample(items, rng.randint(1, 10)):
            qty = rng.randint(1, 5)
            total += prices[item] * qty
            line_w.writerow([invoice_id, item, qty])
            lines += 1
        fate = rng.random()
        paid_on = ""
        if fate < 0.45:
            paid_on = (issued + dt.timedelta(days=rng.randint(0, 60))).isoformat()
        elif fate < 0.70 and payments_file:
            remaining = total
            for _ in range(rng.randint(1, 3)):
                part = (remaining * Decimal(rng.choice(["0.3", "0.5", "1"]))).quantize(Decimal("0.01"))
                if part <= 0:
                    break
                remaining -= part
                when = issued + dt.timedelta(days=rng.randint(0, 90))
                pay_rows.append((when.isoformat(), invoice_id, part))
            if rng.random() < 0.05:
                when = issued + dt.timedelta(days=rng.randint(30, 120))
                pay_rows.append((when.isoformat(), invoice_id, remaining + Decimal("25.00")))
        inv_w.writerow([invoice_id, rng.randint(1, accounts), issued.isoformat(),
                        due.isoformat() if due else "", paid_on])
    inv_fh.close()
    line_fh.close()
    written["invoices"] = invoices
    written["invoice_line_items"] = lines

    if payments_file:
        fh, w = _writer(out / "payments.csv")
        w.writerow(HEADERS["payments"])
        for payment_id, (paid_on_text, invoice_id, amount) in enumerate(pay_rows, start=1):
            w.writerow([payment_id, invoice_id, paid_on_text, f"{amount:.2f}"])
        fh.close()
        written["payments"] = len(pay_rows)
    return written
