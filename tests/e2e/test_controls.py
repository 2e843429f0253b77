"""The nightly reconciliation: silver's totals worked out by hand, and drift in gold caught.

Gold is maintained incrementally; the run recomputes Σ invoice totals and Σ paid from
silver and compares them with gold. These tests hold the recompute to hand-computed
numbers (price history, an invoice paid in full by date, a future invoice and payment)
and show that a gold row changed behind the pipeline's back fails the next run.
"""

from __future__ import annotations

import shutil
from decimal import Decimal

import pytest
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from tests.e2e.conftest import last_run, run_cli, write_files

pytestmark = pytest.mark.e2e

S1, S2 = "0-000-00001-1", "0-000-00002-2"
AS_OF, LATER = "2024-03-31", "2024-04-30"
FILES = {
    "accounts.csv": "account_id,company_name,company_address,contact_person,contact_phone,gender,joining_date\n"
    "1,Acme,1 Main St,Ann,+1-555-0100,F,2020-01-01\n",
    "skus.csv": "item_id,item_name,item_description,item_cost_price,item_retail_price\n"
    f"{S1},Pen,A pen,5.00,10.00\n"
    f"{S2},Pad,A pad,1.00,2.50\n",
    # 3 is paid in full by its payment_dates value; 4 is issued after the first as-of date.
    "invoices.csv": "invoice_id,account_id,date_issued,payment_dates\n"
    "1,1,2024-01-10,\n"
    "2,1,2024-02-01,\n"
    "3,1,2024-02-15,2024-03-01\n"
    "4,1,2024-04-02,\n",
    "invoice_line_items.csv": "invoice_id,item_id,quantity\n"
    f"1,{S1},2\n"
    f"1,{S2},4\n"
    f"2,{S2},3\n"
    f"3,{S1},1\n"
    f"4,{S1},5\n",
    # 13 comes after the first as-of date.
    "payments.csv": "payment_id,invoice_id,payment_date,amount\n"
    "11,1,2024-02-01,12.50\n"
    "12,2,2024-03-15,7.50\n"
    "13,1,2024-04-10,17.50\n",
}


@pytest.fixture(scope="module")
def reconciled(spark, tmp_path_factory):
    base = tmp_path_factory.mktemp("controls")
    data, out = base / "data", base / "output"
    write_files(data, FILES)
    assert run_cli("run", "--input-dir", str(data), "--output-dir", str(out), "--as-of", AS_OF) == 0
    first = last_run(spark, out)
    assert run_cli("run", "--input-dir", str(data), "--output-dir", str(out), "--as-of", LATER) == 0
    return {"data": data, "out": out, "first": first, "later": last_run(spark, out)}


def test_silver_totals_are_the_hand_computed_ones(reconciled):
    first, later = reconciled["first"].control_totals, reconciled["later"].control_totals
    # As of 2024-03-31: 1 = 2 × 10.00 + 4 × 2.50 = 30.00, 2 = 3 × 2.50 = 7.50, 3 = 10.00;
    # 4 is not issued yet. Paid: 12.50 + 7.50 by payment, 10.00 for 3 paid in full.
    assert first["silver.invoice_total"] == Decimal("47.50") == first["gold.invoice_total"]
    assert first["silver.paid"] == Decimal("30.00") == first["gold.paid_to_date"]
    # As of 2024-04-30: 4 = 5 × 10.00 = 50.00 is issued and payment 13 (17.50) counts.
    assert later["silver.invoice_total"] == Decimal("97.50") == later["gold.invoice_total"]
    assert later["silver.paid"] == Decimal("47.50") == later["gold.paid_to_date"]


def test_a_gold_row_changed_outside_the_pipeline_fails_the_next_run(spark, reconciled, tmp_path):
    out = tmp_path / "output"
    shutil.copytree(reconciled["out"], out)
    DeltaTable.forPath(spark, str(out / "gold" / "invoice_aging")).update(
        F.col("invoice_id") == 2, {"invoice_total": F.col("invoice_total") + F.lit(1)}
    )
    code = run_cli("run", "--input-dir", str(reconciled["data"]), "--output-dir", str(out), "--as-of", LATER)
    assert code != 0
    run = last_run(spark, out)
    assert run.status == "failed"
    assert "Σ invoice_total: silver/invoices 97.50 ≠ gold 98.50" in run.error
    assert run.control_totals["silver.invoice_total"] == Decimal("97.50")
