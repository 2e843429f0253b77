"""End to end on the shipped sample: the CLI into tmp_path, checked against the CSVs.

These runs use Spark's production settings for code generation and adaptive execution
(the rest of the suite evaluates expressions interpreted, see conf/test.yaml), so the
sample's gold is checked on the code path `receivables run` takes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from tests.e2e.conftest import TEST_CONF, gold, last_run, run_cli
from tests.e2e.expected import expected_aging

pytestmark = pytest.mark.e2e
AS_OF = "2024-12-31"
PRODUCTION_SQL = {"spark.sql.codegen.wholeStage": "true", "spark.sql.codegen.factoryMode": "FALLBACK",
                  "spark.sql.adaptive.enabled": "true"}


@pytest.fixture(scope="module")
def production_conf(spark, tmp_path_factory):
    """The test configuration with Spark's production code generation and AQE; the
    session's runtime settings are put back for the modules after this one."""
    import yaml

    raw = yaml.safe_load(open(TEST_CONF, encoding="utf-8"))
    raw["spark"]["conf"].update(PRODUCTION_SQL)
    path = tmp_path_factory.mktemp("conf") / "production-sql.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    tested = yaml.safe_load(open(TEST_CONF, encoding="utf-8"))["spark"]["conf"]
    yield str(path)
    for key in PRODUCTION_SQL:
        spark.conf.set(key, str(tested[key]))


@pytest.fixture(scope="module")
def sample_run(spark, tmp_path_factory, production_conf):
    import shutil

    from tests.e2e.conftest import ROOT

    base = tmp_path_factory.mktemp("sample")
    data = base / "data"
    shutil.copytree(ROOT / "data", data)
    out = base / "output"
    assert run_cli("run", "--input-dir", str(data), "--output-dir", str(out), "--as-of", AS_OF,
                   "--conf", production_conf) == 0
    assert spark.conf.get("spark.sql.codegen.wholeStage") == "true"
    first = last_run(spark, out)
    return data, out, first


def test_gold_matches_totals_computed_from_the_csvs(spark, sample_run):
    data, out, _ = sample_run
    expected = expected_aging(data, dt.date.fromisoformat(AS_OF))
    rows = gold(spark, out).collect()
    actual = {
        r.invoice_id: (r.account_id, r.due_date, r.invoice_total, r.paid_to_date, r.outstanding,
                       r.days_past_due, r.aging_bucket)
        for r in rows
    }
    assert len(actual) == len(expected) == 10_000
    assert actual == expected
    unpaid: dict[int, Decimal] = {}
    for account, *_, outstanding, _days, _bucket in expected.values():
        unpaid[account] = unpaid.get(account, Decimal("0.00")) + outstanding
    accounts = {r.account_id: r.unpaid_total for r in gold(spark, out, "account_receivables").collect()}
    assert accounts == unpaid


def test_run_log_records_counts_controls_and_versions(sample_run):
    _, _, first = sample_run
    assert first.status == "succeeded"
    assert first.counts["files.ingested"] == 5
    assert first.counts["silver.invoices.inserted"] == 10_000
    assert first.control_totals["silver.invoice_total"] == first.control_totals["gold.invoice_total"]
    assert first.table_versions["gold.invoice_aging"] >= 0
    assert {i.entity for i in first.inputs} == {
        "accounts", "skus", "invoices", "invoice_line_items", "payments"
    }


def test_run_log_keeps_what_gold_holds_computed_from_the_csvs(sample_run):
    data, _, first = sample_run
    expected = expected_aging(data, dt.date.fromisoformat(AS_OF))
    rows = list(expected.values())  # (account, due, total, paid, outstanding, days, bucket)
    assert first.counts["gold.state.invoices"] == len(rows)
    assert first.counts["gold.state.open_invoices"] == sum(1 for r in rows if r[4] > 0)
    assert first.counts["gold.state.past_due_invoices"] == sum(1 for r in rows if r[5] > 0)
    assert first.control_totals["gold.outstanding"] == sum(r[4] for r in rows)
    assert first.control_totals["gold.past_due_total"] == sum(r[4] for r in rows if r[5] > 0)


def test_second_identical_run_changes_no_data(spark, sample_run, production_conf):
    data, out, first = sample_run
    assert run_cli("run", "--input-dir", str(data), "--output-dir", str(out), "--as-of", AS_OF,
                   "--conf", production_conf) == 0
    second = last_run(spark, out)
    assert second.run_id != first.run_id
    assert second.counts["files.skipped_identical"] == 5
    assert second.counts.get("files.ingested", 0) == 0
    moved = {k: v for k, v in second.counts.items()
             if k.endswith((".inserted", ".updated", ".deleted")) and v}
    assert moved == {}
    assert second.counts["controls.reused"] == 1  # nothing changed: totals carried over
    state = {k: v for k, v in first.counts.items() if k.startswith("gold.state.")}
    assert state and all(second.counts[k] == v for k, v in state.items())
    reconciled = {k: v for k, v in first.control_totals.items()
                  if k.startswith(("gold.", "silver.invoice_total", "silver.paid"))}
    assert {k: second.control_totals[k] for k in reconciled} == reconciled
    for table in ("silver.invoices", "silver.invoice_line_items", "silver.payments",
                  "gold.invoice_aging", "gold.account_receivables"):
        assert second.table_versions[table] == first.table_versions[table], table


def test_gold_is_queryable_by_name(spark, sample_run, capsys):
    _, out, _ = sample_run
    assert run_cli("sql", "SELECT count(*) AS n FROM gold.invoice_aging", "--output-dir", str(out)) == 0
    assert "10000" in capsys.readouterr().out
