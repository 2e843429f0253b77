"""Incremental nights: only what changed moves; late rows complete on arrival;
gold after N nights equals a full rebuild; reprocess equals rebuild."""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from chispa import assert_df_equality
from delta.tables import DeltaTable

from receivables.gold.account_receivables import BUSINESS_COLUMNS as ACCOUNT_COLUMNS
from receivables.gold.invoice_aging import BUSINESS_COLUMNS as AGING_COLUMNS
from tests.e2e.conftest import gold, last_run, read_as_of, run_cli
from tests.e2e.nights import _night, _read, _write

pytestmark = pytest.mark.e2e
def _aging(spark, out: Path):
    return gold(spark, out).select(*AGING_COLUMNS)


def _accounts(spark, out: Path):
    return gold(spark, out, "account_receivables").select(*ACCOUNT_COLUMNS)


def _keyed(df, key: str) -> tuple[object, dict[object, object]]:
    """A gold table's schema and its rows by key (what the table holds, in Python)."""
    return df.schema, {r[key]: r for r in df.collect()}


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


def test_moving_as_of_reages_open_invoices_from_gold_and_recomputes_only_changes(nights):
    counts = nights["night2_run"].counts  # as-of 2024-06-30 -> 2024-07-01
    n1 = nights["night1"]
    aging = {i for i, r in n1.items() if r.outstanding > 0 and r.due_date < dt.date(2024, 7, 1)}
    assert counts["gold.invoice_aging.reaged"] > 0
    # each invoice that ages is re-aged or recomputed; only a handful are recomputed
    assert counts["gold.invoice_aging.reaged"] + counts["gold.invoice_aging.recomputed"] >= len(aging)
    assert counts["gold.invoice_aging.reaged"] <= len(aging)  # only invoices that age, each once
    assert counts["gold.invoice_aging.recomputed"] < len(n1) // 4


@pytest.fixture(scope="module")
def rebuilt(spark, nights, tmp_path_factory):
    """The three nights' output rebuilt as of night 3 (gold as the rebuild left it is kept),
    then a range of it reprocessed."""
    copy = tmp_path_factory.mktemp("rebuilt") / "out"
    shutil.copytree(nights["out"], copy)
    assert run_cli("rebuild", "--output-dir", str(copy), "--as-of", "2024-07-02") == 0
    assert last_run(spark, copy).command == "rebuild"
    after_rebuild = {"aging": _keyed(_aging(spark, copy), "invoice_id"),
                     "accounts": _keyed(_accounts(spark, copy), "account_id")}
    assert run_cli("reprocess", "--output-dir", str(copy), "--from", "2024-01-01", "--to", "2024-03-31",
                   "--as-of", "2024-07-02") == 0
    return {"out": copy, **after_rebuild}


def test_gold_after_nights_equals_a_full_rebuild(spark, nights, rebuilt):
    assert rebuilt["aging"] == _keyed(_aging(spark, nights["out"]), "invoice_id")
    assert rebuilt["accounts"] == _keyed(_accounts(spark, nights["out"]), "account_id")


def test_time_travel_by_run_returns_what_each_night_reported(spark, nights, rebuilt):
    copy = rebuilt["out"]  # rebuilt, then a range reprocessed: the nights' versions are still there
    night2 = read_as_of(spark, str(copy), "gold.invoice_aging", as_of_date=dt.date(2024, 7, 1)).collect()
    assert {r.invoice_id: r for r in night2} == nights["night2"]
    for night in ("night1", "night2"):
        run_id = nights[f"{night}_run"].run_id
        past = read_as_of(spark, str(copy), "gold.invoice_aging", run_id=run_id).collect()
        assert {r.invoice_id: r for r in past} == nights[night], night


def test_time_travel_by_timestamp_reads_what_gold_said_at_that_time(spark, nights, capsys):
    out = str(nights["out"])
    for night in ("night1", "night2"):
        # the run log's finish time (read back as naive local time), between this night's
        # gold commit and the next night's
        finished = nights[f"{night}_run"].finished_at.astimezone(dt.UTC)
        past = read_as_of(spark, out, "gold.invoice_aging", timestamp=finished.isoformat()).collect()
        assert {r.invoice_id: r for r in past} == nights[night], night
    later = read_as_of(spark, out, "gold.invoice_aging", timestamp="2999-12-31").collect()
    assert {r.invoice_id: r for r in later} == nights["night3"]
    assert run_cli("query", "gold.invoice_aging", "--output-dir", out, "--timestamp", "2000-01-01") == 2
    assert "gold.invoice_aging has no version at 2000-01-01 00:00:00 UTC" in capsys.readouterr().err
    assert run_cli("query", "gold.invoice_aging", "--output-dir", out, "--timestamp", "last night") == 2
    assert "timestamp 'last night' is not a date or date-time" in capsys.readouterr().err


def test_one_invoice_change_recomputes_it_and_its_account_only(spark, nights, tmp_path):
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
    # same as-of date as night 3: nothing ages, only the changed invoice is recomputed
    assert counts["gold.invoice_aging.recomputed"] == 1
    assert counts["gold.invoice_aging.reaged"] == 0
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


def test_account_left_without_invoices_is_deleted_in_the_runs_one_commit(spark, nights, tmp_path):
    out, data = tmp_path / "moved", tmp_path / "data"
    shutil.copytree(nights["out"], out)
    shutil.copytree(nights["data"], data)
    item = nights["changed_sku"]
    _write(data / "accounts" / "2024-07-03.csv",
           ["account_id", "company_name", "company_address", "contact_person", "contact_phone", "gender",
            "joining_date"],
           [[77, "Short-Lived, Inc.", "1 Way\nTown, ST 00001", "A B", "+1-000", "Other", "2024-01-01"]])
    _write(data / "invoices" / "2024-07-03.csv", ["invoice_id", "account_id", "date_issued"],
           [[7001, 77, "2024-07-01"]])
    _write(data / "invoice_line_items" / "2024-07-03.csv", ["invoice_id", "item_id", "quantity"],
           [[7001, item, 1]])
    _night(data, out, "2024-07-03")
    assert 77 in {r.account_id for r in gold(spark, out, "account_receivables").collect()}

    # The extract corrects the invoice's account: account 77 has no invoice left.
    _write(data / "invoices" / "2024-07-04.csv", ["invoice_id", "account_id", "date_issued"],
           [[7001, 1, "2024-07-01"]])
    _night(data, out, "2024-07-04")
    run = last_run(spark, out)
    accounts = {r.account_id: r for r in gold(spark, out, "account_receivables").collect()}
    assert 77 not in accounts
    assert run.counts["gold.account_receivables.deleted"] == 1
    commits = [
        c for c in DeltaTable.forPath(spark, str(out / "gold" / "account_receivables")).history().collect()
        if c.userMetadata and run.run_id in c.userMetadata
    ]
    assert len(commits) == 1, [c.operation for c in commits]
    assert run.table_versions["gold.account_receivables"] == commits[0].version
    assert 7001 in {r.invoice_id for r in gold(spark, out).filter("account_id = 1").collect()}
