"""Audit: commits tagged per run, per-run snapshots, retention that protects audits, report."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
import time
from decimal import Decimal

import pytest
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from receivables import io
from receivables.catalog import CATALOG
from receivables.generate import generate
from tests.e2e.conftest import last_run, read_as_of, run_cli, table_history

pytestmark = pytest.mark.e2e


def test_each_run_makes_at_most_one_commit_per_gold_table_tagged_with_its_id(spark, nights):
    out = str(nights["out"])
    runs = [nights["night1_run"], nights["night2_run"], nights["night3_run"]]
    for table in ("gold.invoice_aging", "gold.account_receivables"):
        commits = [r for r in table_history(spark, out, table) if r.run_id]
        tagged = [c.run_id for c in commits if c.operation != "CREATE TABLE"]
        assert len(tagged) == len(set(tagged)), table
        for run in runs:  # each night changed gold, so each made exactly one tagged commit
            assert run.run_id in tagged, (table, run.run_id)
            version = next(c.version for c in commits if c.run_id == run.run_id and c.operation != "CREATE TABLE")
            assert run.table_versions[table] == version


def test_every_commit_of_every_table_is_tagged_with_a_logged_run(spark, nights):
    from receivables.pipeline import CATALOG

    out = str(nights["out"])
    logged = {r.run_id for r in io.read(spark, f"{out}/ops/run_log").select("run_id").collect()}
    for layer, names in CATALOG.items():
        for name in names:
            if not io.is_table(spark, f"{out}/{layer}/{name}"):
                continue
            untagged = [c.version for c in table_history(spark, out, f"{layer}.{name}")
                        if c.run_id not in logged]
            assert untagged == [], (f"{layer}.{name}", untagged)


def test_every_run_appends_an_account_snapshot_stamped_with_its_as_of(spark, nights):
    out = str(nights["out"])
    hist = io.read(spark, str(nights["out"] / "gold" / "account_receivables_history"))
    per_run = {r.run_id: (r.as_of_date.isoformat(), r.n) for r in hist.groupBy("run_id", "as_of_date").count()
               .withColumnRenamed("count", "n").collect()}
    for night, as_of in (("night1_run", "2024-06-30"), ("night2_run", "2024-07-01"), ("night3_run", "2024-07-02")):
        run = nights[night]
        assert per_run[run.run_id][0] == as_of
    night1 = nights["night1_run"].run_id
    snap = {r.account_id: r.unpaid_total for r in hist.filter(f"run_id = '{night1}'").collect()}
    past = {r.account_id: r.unpaid_total
            for r in read_as_of(spark, out, "gold.account_receivables", run_id=night1).collect()}
    assert snap == past and len(snap) > 0


def test_maintain_refuses_to_vacuum_inside_the_audit_window(nights, tmp_path, capsys):
    out = tmp_path / "maint"
    shutil.copytree(nights["out"], out)
    assert run_cli("maintain", "--output-dir", str(out), "--retain-days", "30") == 2
    assert "refusing to VACUUM with 30 days" in capsys.readouterr().err


def test_maintain_keeps_every_run_in_the_window_readable(spark, nights, tmp_path, capsys):
    out = tmp_path / "maint-ok"
    shutil.copytree(nights["out"], out)
    assert run_cli("maintain", "--output-dir", str(out)) == 0
    printed = capsys.readouterr().out
    logged = last_run(spark, out)  # maintain is a run: one run-log row, its commits tagged with its id
    assert logged.command == "maintain" and logged.status == "succeeded"
    tables = sum(len(names) for names in CATALOG.values())
    assert logged.counts["maintain.tables"] == tables and logged.counts["maintain.retain_days"] == 400
    assert f"maintained {tables} tables" in printed and logged.run_id in printed
    optimized = [c for c in table_history(spark, str(out), "silver.invoices") if c.operation == "OPTIMIZE"]
    assert all(c.run_id == logged.run_id for c in optimized)
    props = DeltaTable.forPath(spark, str(out / "gold" / "invoice_aging")).detail().first()["properties"]
    assert props["delta.deletedFileRetentionDuration"] == "interval 400 days"
    run_id = nights["night1_run"].run_id
    past = read_as_of(spark, str(out), "gold.invoice_aging", run_id=run_id).collect()
    assert {r.invoice_id: r for r in past} == nights["night1"]


def test_report_for_a_past_run_writes_escaped_csv_and_html(spark, nights, tmp_path):
    out = str(nights["out"])
    run = nights["night1_run"]
    dest = tmp_path / "report"
    assert run_cli("report", "--output-dir", out, "--run", run.run_id, "--dest", str(dest)) == 0
    with (dest / "aging_report.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    night1_open = {}
    for r in nights["night1"].values():
        night1_open[r.account_id] = night1_open.get(r.account_id, Decimal("0.00")) + r.outstanding
    unpaid = {int(r["account_id"]): Decimal(r["unpaid_total"]) for r in rows}
    assert {k: v for k, v in unpaid.items() if v} == {k: v for k, v in night1_open.items() if v}
    assert all(not r["company_name"].startswith(("=", "+", "-", "@")) for r in rows)
    page = (dest / "aging_report.html").read_text(encoding="utf-8")
    total = sum(night1_open.values(), Decimal("0.00"))
    assert f'<div class="value" id="outstanding">{total:,.2f}</div>' in page
    assert f'<td id="grand-total">{total:,.2f}</td>' in page
    assert 'As of <strong id="as-of">2024-06-30</strong>' in page
    assert page.count('<tr class="customer"') == len(rows)
    with (dest / "aging_open_invoices.csv").open(encoding="utf-8", newline="") as fh:
        invoices = {int(r["invoice_id"]): Decimal(r["outstanding"]) for r in csv.DictReader(fh)}
    assert invoices == {i: r.outstanding for i, r in nights["night1"].items() if r.outstanding > 0}


def test_recorded_times_are_utc_whatever_the_machines_time_zone(spark, tmp_path, monkeypatch):
    data, out = tmp_path / "data", tmp_path / "out"
    generate(data, invoices=20, accounts=3, skus=12, seed=3, start=dt.date(2024, 1, 1), days=30)
    monkeypatch.setenv("TZ", "Asia/Kolkata")  # UTC+05:30: a shift no rounding hides
    time.tzset()
    try:
        before = dt.datetime.now(dt.UTC).replace(microsecond=0, tzinfo=None)
        assert run_cli("run", "--input-dir", str(data), "--output-dir", str(out), "--as-of", "2024-02-15") == 0
        after = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    finally:
        monkeypatch.undo()
        time.tzset()
    # rendered by Spark in the session time zone (UTC), not through Python's local time
    log = io.read(spark, str(out / "ops" / "run_log")).select(
        F.date_format("started_at", "yyyy-MM-dd HH:mm:ss").alias("started"),
        F.date_format("finished_at", "yyyy-MM-dd HH:mm:ss").alias("finished"),
    ).first()
    started, finished = (dt.datetime.fromisoformat(log[c]) for c in ("started", "finished"))
    assert before <= started <= finished <= after
    stamped = {r[0] for r in io.read(spark, str(out / "gold" / "invoice_aging"))
               .select(F.date_format("updated_at", "yyyy-MM-dd HH:mm:ss")).distinct().collect()}
    assert stamped == {log["started"]}
