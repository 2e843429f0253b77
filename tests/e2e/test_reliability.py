"""Guarantees under hostile input: every file accounted for, refused runs and failed
runs leave no trace in silver or gold, no row blocks later nights, moved and voided
invoices leave gold.

Each scenario is a small hand-written extract whose outcome is worked out by hand.
"""

from __future__ import annotations

import gzip
import shutil
from decimal import Decimal

import pytest
from pyspark.sql import functions as F

from receivables import io
from receivables.ops import faults
from tests.e2e.conftest import last_run, run_cli, write_files
from tests.e2e.small_book import (
    ACCOUNTS,
    BASE,
    LATER,
    S1,
    S2,
    aging,
    captured,
    copy_night,
    run_night,
    unpaid,
    versions,
)

pytestmark = pytest.mark.e2e


# ----------------------------------------------------------------------- every file


def test_every_file_under_the_input_is_ingested_or_named_with_its_reason(spark, tmp_path):
    data, out = tmp_path / "data", tmp_path / "out"
    files = dict(BASE)
    del files["payments.csv"]
    # a blank and a whitespace-only line are no records; the multi-line address keeps
    # this file on Spark's whole-file parser, where such a line is a one-field row
    files["accounts.csv"] = (
        ACCOUNTS + "\n   \n" + '3,"Crane, LLC","9 Elm St\nSpringfield",Cy,+1-555-0102,M,2020-01-01\n'
    )
    files["invoice_line_items.csv"] = BASE["invoice_line_items.csv"] + " \t \n"
    files["payments.CSV"] = "payment_id,invoice_id,payment_date,amount\n11,1,2024-02-01,30.00\n"
    files["invoice_line_items/2024-03-01 (1).csv"] = f"invoice_id,item_id,quantity\n3,{S1},1\n"
    files["invoice_line_items/[1]; rm -rf x.csv"] = f"invoice_id,item_id,quantity\n4,{S1},1\n"
    files["invoice_line_items/_early:5.csv"] = f"invoice_id,item_id,quantity\n5,{S1},1\n"
    files["invoice_line_items/deep/2024/03/{6}.csv"] = f"invoice_id,item_id,quantity\n6,{S1},1\n"
    files["README.txt"] = "how the extracts are made\n"
    files[".DS_Store"] = "x"
    files["archive/old.csv"] = "invoice_id,account_id,date_issued\n99,1,2024-01-01\n"
    write_files(data, files)
    (data / "invoices").mkdir()
    with gzip.open(data / "invoices" / "2024-03-01.CSV.GZ", "wt", encoding="utf-8", newline="") as fh:
        fh.write("invoice_id,account_id,date_issued\n3,1,2024-03-01\n4,1,2024-03-01\n5,3,2024-03-01\n"
                 "6,3,2024-03-01\n")

    code, printed = captured(run_night, data, out)

    assert code == 0, printed
    # 1 is paid in full by the upper-case payments file; 3-6 come from the gzip invoices
    # file and from lines in files whose names Spark would take for globs or URIs.
    assert aging(spark, out) == {
        1: (1, Decimal("30.00"), Decimal("30.00"), Decimal("0.00")),
        2: (2, Decimal("7.50"), Decimal("0.00"), Decimal("7.50")),
        3: (1, Decimal("10.00"), Decimal("0.00"), Decimal("10.00")),
        4: (1, Decimal("10.00"), Decimal("0.00"), Decimal("10.00")),
        5: (3, Decimal("10.00"), Decimal("0.00"), Decimal("10.00")),
        6: (3, Decimal("10.00"), Decimal("0.00"), Decimal("10.00")),
    }
    run = last_run(spark, out)
    skipped = {i.source_file: i.reason for i in run.inputs if i.action == "skipped"}
    assert set(skipped) == {"README.txt", ".DS_Store", "archive/old.csv"}
    assert "not an extract" in skipped["README.txt"] and "hidden" in skipped[".DS_Store"]
    assert "not under an entity's folder" in skipped["archive/old.csv"]
    for name in skipped:
        assert f"skipped {name}: " in printed
    ingested = {i.source_file for i in run.inputs if i.action == "ingested"}
    assert {"payments.CSV", "invoices/2024-03-01.CSV.GZ", "invoice_line_items/_early:5.csv"} <= ingested
    assert run.counts["bronze.accounts.blank_lines"] == 2
    assert run.counts["bronze.invoice_line_items.blank_lines"] == 1
    assert run.counts["files.skipped"] == 3
    assert run.counts["silver.accounts.invalid"] == 0  # the blank lines became no rows


def test_an_unknown_file_for_an_entity_and_a_bad_file_stop_the_run_naming_both(spark, base_night, tmp_path):
    data, out = copy_night(base_night, tmp_path)
    write_files(data, {
        "invoices/notes.txt": "call Bolt about invoice 2\n",
        "payments/late.csv": 'payment_id,invoice_id,payment_date,amount\n12,2,2024-03-01,"7.50\n',
        "invoices/2024-03-15.csv": "invoice_id,account_id,date_issued\n7,1,2024-03-15\n",  # good
    })
    before = versions(spark, out, skip_run_log=False)

    code, printed = captured(run_night, data, out)

    assert code == 3  # input rejected, before Spark started: no run, no run-log row
    assert "2 input files cannot be ingested" in printed
    assert "invoices/notes.txt" in printed and "not a .csv or .csv.gz extract" in printed
    assert "payments/late.csv, line 2" in printed and "unterminated quote" in printed
    assert "starting Spark" not in printed
    assert versions(spark, out, skip_run_log=False) == before  # the good invoices file was not appended either


# --------------------------------------------------------- refused and failed runs


def test_rows_a_killed_run_appended_reach_silver_only_if_their_file_returns(spark, base_night, tmp_path, monkeypatch):
    data, out = copy_night(base_night, tmp_path)
    write_files(data, {
        "invoices/2024-03-20.csv": "invoice_id,account_id,date_issued\n8,1,2024-03-20\n",
        "invoice_line_items/2024-03-20.csv": f"invoice_id,item_id,quantity\n8,{S1},1\n",
    })
    monkeypatch.setenv(faults.ENV, "after:commit:1")  # dies right after bronze.invoices (before its lines)
    monkeypatch.setenv(faults.MODE_ENV, "raise")
    with pytest.raises(faults.Killed):
        run_night(data, out)
    monkeypatch.delenv(faults.ENV)
    bronze = io.read(spark, str(out / "bronze" / "invoices"))
    assert bronze.filter("invoice_id = '8'").count() == 1  # nothing is lost from bronze

    # The extract is corrected before the next night: invoice 8 was really 9.
    (data / "invoices" / "2024-03-20.csv").write_text(
        "invoice_id,account_id,date_issued\n9,1,2024-03-20\n", encoding="utf-8")
    (data / "invoice_line_items" / "2024-03-20.csv").write_text(
        f"invoice_id,item_id,quantity\n9,{S1},1\n", encoding="utf-8")
    assert run_night(data, out) == 0
    assert sorted(aging(spark, out)) == [1, 2, 9]
    silver = {r.invoice_id for r in io.read(spark, str(out / "silver" / "invoices")).collect()}
    assert silver == {1, 2, 9}

    # Delivered again, the killed run's file is recovered, and its rows count from now on.
    write_files(data, {"invoices/2024-03-20-first.csv": "invoice_id,account_id,date_issued\n8,1,2024-03-20\n"})
    assert run_night(data, out) == 0
    run = last_run(spark, out)
    assert [i.action for i in run.inputs if i.source_file == "invoices/2024-03-20-first.csv"] == ["recovered"]
    assert sorted(aging(spark, out)) == [1, 2, 8, 9]


def test_a_failed_control_leaves_gold_and_watermarks_as_they_were(spark, base_night, tmp_path):
    from delta.tables import DeltaTable

    data, out = copy_night(base_night, tmp_path)
    # gold changed behind the pipeline's back (an invoice the next night only re-ages):
    # that night's controls must fail
    DeltaTable.forPath(spark, str(out / "gold" / "invoice_aging")).update(
        F.col("invoice_id") == 1, {"invoice_total": F.col("invoice_total") + F.lit(1)}
    )
    write_files(data, {"payments/2024-04-01.csv": "payment_id,invoice_id,payment_date,amount\n12,2,2024-04-01,7.50\n"})
    published = ("gold/invoice_aging", "gold/account_receivables", "gold/account_receivables_history",
                 "ops/watermarks")
    before = {t: sorted(map(repr, io.read(spark, str(out / t)).collect())) for t in published}

    code = run_night(data, out, LATER)

    assert code != 0
    run = last_run(spark, out)
    assert run.status == "failed" and "restored gold.invoice_aging" in run.error
    assert {t: sorted(map(repr, io.read(spark, str(out / t)).collect())) for t in published} == before
    # silver kept the new payment: it is right, and the next good run uses it
    assert io.read(spark, str(out / "silver" / "payments")).filter("payment_id = 12").count() == 1


# ------------------------------------------------------------- no row blocks nights


def test_values_whose_products_cannot_fit_are_quarantined_and_later_nights_run(spark, base_night, tmp_path):
    data, out = copy_night(base_night, tmp_path)
    write_files(data, {
        "skus/big.csv": "item_id,item_name,item_description,item_cost_price,item_retail_price\n"
        "0-000-00009-9,Gold bar,x,1.00,99999999.99\n",
        "invoices/2024-03-20.csv": "invoice_id,account_id,date_issued\n20,1,2024-03-20\n21,1,9999-12-31\n",
        "invoice_line_items/2024-03-20.csv": f"invoice_id,item_id,quantity\n20,{S1},999999999\n20,{S2},1\n",
        "payments/2024-03-20.csv": "payment_id,invoice_id,payment_date,amount\n30,20,2024-03-21,99999999999999.99\n",
        "accounts/terms.csv": "account_id,company_name,company_address,contact_person,contact_phone,gender,"
        "joining_date,payment_terms_days\n2,Bolt,2 Main St,Bob,+1-555-0101,M,2020-01-01,999999999\n",
    })
    code, printed = captured(run_night, data, out)
    assert code == 0, printed
    reasons = {r.reason for r in io.read(spark, str(out / "silver" / "quarantine")).collect()}
    assert {
        "item_retail_price '99999999.99' is above 9,999,999.99, the largest accepted (totals must fit)",
        "quantity '999999999' is above 999,999, the largest accepted (totals must fit)",
        "amount '99999999999999.99' is above 9,999,999,999.99, the largest accepted (totals must fit)",
        "date_issued '9999-12-31' is outside 1900-01-01..2999-12-31, the dates accepted",
        "payment_terms_days '999999999' is above 3,650, the largest accepted (totals must fit)",
    } <= reasons
    # invoice 20 holds its one good line (2.50) and waits for the other
    assert aging(spark, out)[20] == (1, Decimal("2.50"), Decimal("0.00"), Decimal("2.50"))
    assert run_night(data, out, LATER) == 0  # and the next night runs


# ----------------------------------------------------- deletions and moved invoices


def test_an_invoice_issued_after_the_as_of_date_now_leaves_gold_and_its_account(spark, base_night, tmp_path):
    data, out = copy_night(base_night, tmp_path)
    write_files(data, {"invoices/fix.csv": "invoice_id,account_id,date_issued\n2,2,2024-06-01\n"})
    assert run_night(data, out, LATER) == 0
    assert last_run(spark, out).status == "succeeded"
    assert sorted(aging(spark, out)) == [1]
    assert unpaid(spark, out) == {1: Decimal("17.50")}  # account 2 has no invoice left
    rebuilt = tmp_path / "rebuilt"
    shutil.copytree(out, rebuilt)
    assert run_cli("rebuild", "--output-dir", str(rebuilt), "--as-of", LATER) == 0
    assert aging(spark, rebuilt) == aging(spark, out) and unpaid(spark, rebuilt) == unpaid(spark, out)


def test_voided_invoices_lines_and_payments_leave_gold_and_the_accounts_totals(spark, base_night, tmp_path):
    data, out = copy_night(base_night, tmp_path)
    write_files(data, {
        "invoices/void.csv": "invoice_id,account_id,date_issued,voided\n2,2,2024-02-01,true\n",
        "invoice_line_items/void.csv": f"invoice_id,item_id,quantity,void\n1,{S2},4,yes\n",
        "payments/void.csv": "payment_id,invoice_id,payment_date,amount,deleted\n11,1,2024-02-01,12.50,1\n",
    })
    assert run_night(data, out) == 0
    # 2 is gone; 1 keeps its pen line only (2 × 10.00) and loses its payment
    assert aging(spark, out) == {1: (1, Decimal("20.00"), Decimal("0.00"), Decimal("20.00"))}
    assert unpaid(spark, out) == {1: Decimal("20.00")}
    run = last_run(spark, out)
    assert run.control_totals["silver.invoice_total"] == Decimal("20.00")
    # un-voided by a later delivery, invoice 2 comes back
    write_files(data, {"invoices/unvoid.csv": "invoice_id,account_id,date_issued,voided\n2,2,2024-02-01,false\n"})
    assert run_night(data, out) == 0
    assert sorted(aging(spark, out)) == [1, 2] and unpaid(spark, out)[2] == Decimal("7.50")
