"""Configured aging buckets: a run refuses edges gold was not built with, `rebuild` re-ages
every invoice with the new ones, and earlier runs stay readable (and reportable) as they were.

The small book, as of 2024-03-31: invoice 1 (account 1) owes 17.50, due 2024-02-09, 51 days
past due; invoice 2 (account 2) owes 7.50, due 2024-03-02, 29 days past due.
"""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pytest

from tests.e2e.conftest import TEST_CONF, gold, last_run, read_as_of, run_cli
from tests.e2e.small_book import AS_OF, captured, copy_night, run_night, versions

pytestmark = pytest.mark.e2e
D = Decimal


def _conf(tmp_path: Path, edges: str) -> str:
    conf = tmp_path / "edges.yaml"
    conf.write_text(Path(TEST_CONF).read_text(encoding="utf-8") + f"\ngold:\n  bucket_edges: {edges}\n",
                    encoding="utf-8")
    return str(conf)


def _report(out: Path, dest: Path, *which: str) -> list[dict[str, str]]:
    assert run_cli("report", "--output-dir", str(out), "--dest", str(dest), *which) == 0
    with (dest / "aging_report.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_new_bucket_edges_need_a_rebuild_and_keep_past_runs_as_they_were(spark, base_night, tmp_path):
    data, out = copy_night(base_night, tmp_path)  # the small book, run as of AS_OF with the default edges
    first = last_run(spark, out)
    conf = _conf(tmp_path, "[15, 45]")  # current, 1-15, 16-45, 45+

    before = versions(spark, out)
    code, printed = captured(run_night, data, out, AS_OF, "--conf", conf)
    assert code == 1
    assert "gold.bucket_edges is [15, 45]" in printed and "receivables rebuild" in printed
    assert "edges [30, 60, 90]" in printed
    assert versions(spark, out) == before  # nothing written

    code, printed = captured(run_cli, "rebuild", "--output-dir", str(out), "--as-of", AS_OF, "--conf", conf)
    assert code == 0
    assert "note: gold.account_receivables rewritten with the buckets current, 1-15, 16-45, 45+" in printed
    aging = {r.invoice_id: (r.days_past_due, r.aging_bucket) for r in gold(spark, out).collect()}
    assert aging == {1: (51, "45+"), 2: (29, "16-45")}
    accounts = gold(spark, out, "account_receivables")
    amounts = [c for c in accounts.columns if c.startswith(("current_", "past_due_")) and c != "past_due_total"]
    assert amounts == ["current_amount", "past_due_1_15", "past_due_16_45", "past_due_45_plus"]
    got = {r.account_id: tuple(r[c] for c in amounts) for r in accounts.collect()}
    assert got == {1: (D("0.00"), D("0.00"), D("0.00"), D("17.50")), 2: (D("0.00"), D("0.00"), D("7.50"), D("0.00"))}

    # The first run's gold and report are what they were: old columns, old buckets.
    past = read_as_of(spark, out, "gold.account_receivables", run_id=first.run_id)
    assert {r.account_id: (r.past_due_31_60, r.past_due_1_30) for r in past.collect()} == {
        1: (D("17.50"), D("0.00")), 2: (D("0.00"), D("7.50"))}
    old = _report(out, tmp_path / "old", "--run", first.run_id)
    assert {r["account_id"]: r["past_due_31_60"] for r in old} == {"1": "17.50", "2": "0.00"}
    assert "past_due_45_plus" not in old[0]
    new = _report(out, tmp_path / "new")
    assert {r["account_id"]: (r["past_due_16_45"], r["past_due_45_plus"]) for r in new} == {
        "1": ("0.00", "17.50"), "2": ("7.50", "0.00")}
    assert "past_due_31_60" not in new[0]
    page = (tmp_path / "new" / "aging_report.html").read_text(encoding="utf-8")
    assert '<th data-key="b3">45+</th>' in page and ">31-60<" not in page

    # Nights go on with the new edges; a night with the old ones is refused in turn.
    assert run_night(data, out, "2024-04-30", "--conf", conf) == 0
    assert {r.invoice_id: r.aging_bucket for r in gold(spark, out).collect()} == {1: "45+", 2: "45+"}
    assert run_night(data, out, "2024-05-01") == 1
