"""A small hand-written extract (two accounts, two invoices) and helpers to run it, shared
by the reliability modules; its outcomes are worked out by hand in the tests."""

from __future__ import annotations

import contextlib
import io as io_
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from receivables import io
from receivables.pipeline import CATALOG
from tests.e2e.conftest import gold, run_cli, write_files

S1, S2 = "0-000-00001-1", "0-000-00002-2"
AS_OF, LATER = "2024-03-31", "2024-04-30"
ACCOUNTS = (
    "account_id,company_name,company_address,contact_person,contact_phone,gender,joining_date\n"
    "1,Acme,1 Main St,Ann,+1-555-0100,F,2020-01-01\n"
    "2,Bolt,2 Main St,Bob,+1-555-0101,M,2020-01-01\n"
)
SKUS = (
    "item_id,item_name,item_description,item_cost_price,item_retail_price\n"
    f"{S1},Pen,A pen,5.00,10.00\n"
    f"{S2},Pad,A pad,1.00,2.50\n"
)
BASE = {
    "accounts.csv": ACCOUNTS,
    "skus.csv": SKUS,
    # 1 → account 1, 30.00; 2 → account 2, 7.50
    "invoices.csv": "invoice_id,account_id,date_issued\n1,1,2024-01-10\n2,2,2024-02-01\n",
    "invoice_line_items.csv": f"invoice_id,item_id,quantity\n1,{S1},2\n1,{S2},4\n2,{S2},3\n",
    "payments.csv": "payment_id,invoice_id,payment_date,amount\n11,1,2024-02-01,12.50\n",
}


def run_night(data: Path, out: Path, as_of: str = AS_OF, *extra: str) -> int:
    return run_cli("run", "--input-dir", str(data), "--output-dir", str(out), "--as-of", as_of, *extra)


def captured(fn, *args):
    printed = io_.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        code = fn(*args)
    return code, printed.getvalue()


def versions(spark, out: Path, skip_run_log: bool = True) -> dict[str, int]:
    return {
        f"{layer}.{n}": io.version(spark, str(out / layer / n))
        for layer, names in CATALOG.items() for n in names
        if not (skip_run_log and (layer, n) == ("ops", "run_log"))
    }


def aging(spark, out: Path) -> dict[int, tuple]:
    return {
        r.invoice_id: (r.account_id, r.invoice_total, r.paid_to_date, r.outstanding)
        for r in gold(spark, out).collect()
    }


def unpaid(spark, out: Path) -> dict[int, Decimal]:
    return {r.account_id: r.unpaid_total for r in gold(spark, out, "account_receivables").collect()}


@pytest.fixture(scope="session")
def base_night(spark, tmp_path_factory):
    """The base extract, run once as of 2024-03-31 (shared: tests copy it, never change it)."""
    root = tmp_path_factory.mktemp("reliability")
    data, out = root / "data", root / "out"
    write_files(data, BASE)
    assert run_night(data, out) == 0
    return {"data": data, "out": out}


def copy_night(base_night, tmp_path: Path) -> tuple[Path, Path]:
    data, out = tmp_path / "data", tmp_path / "out"
    shutil.copytree(base_night["data"], data)
    shutil.copytree(base_night["out"], out)
    return data, out
