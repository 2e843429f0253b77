"""Incremental nights: only what changed moves; late rows complete on arrival;
gold after N nights equals a full rebuild; reprocess equals rebuild."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from chispa import assert_df_equality
from delta.tables import DeltaTable

from receivables.audit import read_as_of
from receivables.generate import generate
from receivables.gold.account_receivables import BUSINESS_COLUMNS as ACCOUNT_COLUMNS
from receivables.gold.invoice_aging import BUSINESS_COLUMNS as AGING_COLUMNS
from tests.e2e.conftest import gold, last_run, run_cli

pytestmark = pytest.mark.e2e
UNKNOWN_SKU = "9-999-99999-9"


def _write(path: Path, header: list[str], rows: list[list[object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def _read(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def _night(data: Path, out: Path, as_of: str) -> None:
    assert run_cli("run", "--input-dir", str(data), "--output-dir", str(out), "--as-of", as_of) == 0


def _aging(spark, out: Path):
    return gold(spark, out).select(*AGING_COLUMNS)


@pytest.fixture(scope="module")
def nights(spark, tmp_path_factory):
    """Three nights on a small generated extract, with snapshots of what each reported."""
    base = tmp_path_factory.mktemp("nights")
    data, out = base / "data", base / "output"
    generate(data, invoices=300, accounts=20, skus=30, seed=11, start=dt.date(2024, 1, 1), days=180)
    skus = _read(data / "skus.csv")
    lines = _read(data / "invoice_line_items.csv")
    changed_sku = skus[2][0]
    seen: dict[str, object] = {"changed_sku": changed_sku}

    _night(data, out, "2024-06-30")
    seen["night1_run"] = last_run(spark, out)
    seen["night1"] = {r.invoice_id: r for r in gold(spark, out).collect()}

    # Night 2: new invoices as delta files, a corrected line, a payment and a line whose
    # invoice has not arrived, an unknown SKU, and a SKU snapshot with one price changed.
    night1 = seen["night1"]
    corrected = next(r for r in lines[1:] if night1[int(r[0])].outstanding > 0)
    seen["corrected_invoice"] = int(corrected[0])
    _write(data / "invoices" / "2024-07-01.csv", ["invoice_id", "account_id", "date_issued"],
           [[5001, 1, "2024-07-01"], [5002, 2, "2024-07-01"], [5004, 3, "2024-06-15"]])
    _write(data / "invoice_line_items" / "2024-07-01.csv", ["invoice_id", "item_id", "quantity"],
           [[5001, changed_sku, 2], [5002, UNKNOWN_SKU, 1], [5003, changed_sku, 1],
            [5004, changed_sku, 1], [corrected[0], corrected[1], int(corrected[2]) + 1]])
    _write(data / "payments" / "2024-07-01.csv", ["payment_id", "invoice_id", "payment_date", "amount"],
           [[90001, 5003, "2024-07-01", "1.00"]])
    skus[2][4] = f"{Decimal(skus[2][4]) + Decimal('1.00'):.2f}"
    _write(data / "skus.csv", skus[0], skus[1:])
    _night(data, out, "2024-07-01")
    seen["night2_run"] = last_run(spark, out)
    seen["night2"] = {r.invoice_id: r for r in gold(spark, out).collect()}

    # Night 3: the missing invoice and SKU arrive; a file is re-delivered unchanged.
    _write(data / "invoices" / "2024-07-02.csv", ["invoice_id", "account_id", "date_issued"],
           [[5003, 1, "2024-07-01"]])
    _write(data / "skus" / "2024-07-02.csv", skus[0], [[UNKNOWN_SKU, "Late Item", "", "1.00", "4.00"]])
    shutil.copy(data / "invoices" / "2024-07-01.csv", data / "invoices" / "2024-07-01-resent.csv")
    _night(data, out, "2024-07-02")
    seen["night3_run"] = last_run(spark, out)
    seen["night3"] = {r.invoice_id: r for r in gold(spark, out).collect()}
    seen["base"], seen["data"], seen["out"] = base, data, out
    return seen


def test_price_change_applies_from_the_run_that_saw_it(nights):
    sku = nights["changed_sku"]
    before, after = nights["night1"], nights["night2"]
    # 5004 was issued 2024-06-15, before the change was seen (2024-07-01): old price.
    # 5001 was issued on 2024-07-01: new price. Old invoices keep their totals.
    old_price = after[5004].invoice_total
    assert after[5001].invoice_total == 2 * (old_price + Decimal("1.00"))
    untouched = [i for i in before if i != nights["corrected_invoice"]]
    assert all(after[i].invoice_total == before[i].invoice_total for i in untouched), sku


def test_late_rows_are_kept_and_complete_when_parents_arrive(nights):
    n2, n3 = nights["night2"], nights["night3"]
    assert 5003 not in n2  # line item and payment arrived before their invoice
    assert (n2[5002].is_complete, n2[5002].missing_inputs) == (False, "sku_price")
    assert n3[5002].is_complete and n3[5002].invoice_total == Decimal("4.00")
    assert n3[5003].is_complete and n3[5003].paid_to_date == Decimal("1.00")


def test_redelivered_identical_file_is_skipped(nights):
    run = nights["night3_run"]
    actions = {(i.source_file, i.action) for i in run.inputs}
    assert ("invoices/2024-07-01-resent.csv", "skipped_identical") in actions
    assert ("invoices/2024-07-02.csv", "ingested") in actions


def test_night_reports_only_changed_rows(nights):
    counts = nights["night2_run"].counts
    assert counts["silver.invoice_line_items.inserted"] == 4
    assert counts["silver.invoice_line_items.updated"] == 1
    assert counts["silver.invoices.inserted"] == 3
    assert counts["silver.payments.inserted"] == 1
    assert counts["silver.skus.inserted"] == 1 and counts["silver.skus.updated"] == 1
    assert counts["gold.invoice_aging.inserted"] == 3  # 5001, 5002, 5004; 5003 waits


def test_gold_after_nights_equals_a_full_rebuild(spark, nights, tmp_path):
    copy = tmp_path / "rebuilt"
    shutil.copytree(nights["out"], copy)
    assert run_cli("rebuild", "--output-dir", str(copy), "--as-of", "2024-07-02") == 0
    assert_df_equality(_aging(spark, copy), _aging(spark, nights["out"]), ignore_row_order=True)
    assert_df_equality(
        gold(spark, copy, "account_receivables").select(*ACCOUNT_COLUMNS),
        gold(spark, nights["out"], "account_receivables").select(*ACCOUNT_COLUMNS),
        ignore_row_order=True,
    )


def test_time_travel_by_run_returns_what_each_night_reported(spark, nights, tmp_path):
    copy = tmp_path / "audited"
    shutil.copytree(nights["out"], copy)
    assert run_cli("rebuild", "--output-dir", str(copy), "--as-of", "2024-07-02") == 0
    for night in ("night1", "night2"):
        run_id = nights[f"{night}_run"].run_id
        past = read_as_of(spark, str(copy), "gold.invoice_aging", run_id=run_id).collect()
        assert {r.invoice_id: r for r in past} == nights[night], night


def test_one_invoice_change_recomputes_it_its_account_and_open_invoices_only(spark, nights, tmp_path):
    out = tmp_path / "one-change"
    shutil.copytree(nights["out"], out)
    data = tmp_path / "data"
    shutil.copytree(nights["data"], data)
    open_before = {i for i, r in nights["night3"].items() if r.outstanding > 0 or not r.is_complete}
    target = sorted(open_before - {nights["corrected_invoice"]})[0]
    item = next(r for r in _read(data / "invoice_line_items.csv")[1:] if int(r[0]) == target)
    _write(data / "invoice_line_items" / "2024-07-02-fix.csv", ["invoice_id", "item_id", "quantity"],
           [[target, item[1], int(item[2]) + 1]])
    _night(data, out, "2024-07-02")
    counts = last_run(spark, out).counts
    assert counts["silver.invoice_line_items.updated"] == 1
    assert counts.get("silver.invoice_line_items.inserted", 0) == 0
    assert counts["gold.invoice_aging.recomputed"] == len(open_before)
    assert counts["gold.invoice_aging.updated"] == 1
    assert counts.get("gold.invoice_aging.inserted", 0) == 0
    assert counts["gold.account_receivables.updated"] == 1


def test_reprocess_restores_a_range_exactly_as_rebuild_and_touches_nothing_else(spark, nights, tmp_path):
    out = tmp_path / "reprocess"
    shutil.copytree(nights["out"], out)
    silver = DeltaTable.forPath(spark, str(out / "silver" / "invoices"))
    silver.delete("date_issued BETWEEN DATE'2024-03-01' AND DATE'2024-03-31'")  # simulated damage
    assert run_cli("reprocess", "--output-dir", str(out), "--from", "2024-03-01", "--to", "2024-03-31",
                   "--as-of", "2024-07-02") == 0
    counts = last_run(spark, out).counts
    assert counts["silver.invoices.inserted"] > 0
    assert counts["silver.invoices.updated"] == 0
    assert counts.get("silver.invoice_line_items.updated", 0) == 0
    assert_df_equality(_aging(spark, out), _aging(spark, nights["out"]), ignore_row_order=True)
