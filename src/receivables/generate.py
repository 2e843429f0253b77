"""Deterministic sample extracts shaped like the real billing system's.

Same seed, same bytes. Company names carry commas, addresses a newline (both quoted),
item ids are ISBN-like strings, invoice and account ids integers. Invoices carry
``payment_dates`` when paid in full; ``payments.csv`` (optional) holds partial payments
and a few overpayments for other invoices.

Two shapes of book:

- ``paid_share=P`` (the CLI's default, ``REAL_PAID_SHARE``): like a real billing system's,
  a share P of invoices is paid in full 20 to 65 days after issue (half through
  ``payment_dates``, half through one or two rows of ``payments.csv``); of the rest, four
  in five are paid late (66 to 180 days) and one in five never in full. As of the end of
  the issue period only invoices still inside their payment window and the unpaid few
  are open: over four years of invoices about 4 % of the book (a public extract of a real
  system: 3 % open, 0.6 % past due at its latest date).
- ``paid_share=None`` (``--worst-case``; the shipped sample): 45 % paid in full within 60
  days, 25 % partly paid, 30 % never paid, so about 40 % of the book is open and past due
  and every bucket is populated. A night then re-ages far more invoices than a real one.
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

REAL_PAID_SHARE = 0.97

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


def _realistic_payments(rng: random.Random, issued: dt.date, invoice_id: int, total: Decimal, in_full: bool,
                        payments_file: bool, pay_rows: list[tuple[str, int, Decimal]]) -> str:
    """One invoice of a realistic book: paid in full 20-65 days after issue (through
    ``payment_dates`` or payment rows); else paid late (66-180 days, 4 in 5) or never in
    full. Returns the invoice's ``payment_dates`` value."""
    if in_full:
        when = issued + dt.timedelta(days=rng.randint(20, 65))
        if not payments_file or rng.random() < 0.5:
            return when.isoformat()
        first = (total * Decimal(rng.choice(["0.5", "1"]))).quantize(Decimal("0.01"))
        pay_rows.append(((when - dt.timedelta(days=rng.randint(0, 15))).isoformat(), invoice_id, first))
        if first < total:
            pay_rows.append((when.isoformat(), invoice_id, total - first))
        return ""
    if rng.random() < 0.8:  # paid late
        return (issued + dt.timedelta(days=rng.randint(66, 180))).isoformat()
    if payments_file and rng.random() < 0.4:  # never paid in full
        part = (total * Decimal(rng.choice(["0.3", "0.5"]))).quantize(Decimal("0.01"))
        pay_rows.append(((issued + dt.timedelta(days=rng.randint(20, 90))).isoformat(), invoice_id, part))
    return ""


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
    paid_share: float | None = None,
) -> dict[str, int]:
    """Write the five extracts into ``out_dir``; returns rows written per file.
    ``paid_share`` None writes the worst-case book, a share the realistic one (see above)."""
    if paid_share is not None and not 0 <= paid_share <= 1:
        raise ValueError(f"paid_share must lie between 0 and 1, got {paid_share}")
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
        if paid_share is not None:
            paid_on = _realistic_payments(rng, issued, invoice_id, total, fate < paid_share,
                                          payments_file, pay_rows)
        elif fate < 0.45:
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
