"""The JVM-free reader (DuckDB's Delta extension) answers what Spark answers, row for row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from receivables import audit, report
from receivables.audit import When
from receivables.catalog import CATALOG
from receivables.readers import DuckReader, SparkReader
from tests.e2e.conftest import run_cli

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def both(spark, nights):
    out = str(nights["out"])
    return DuckReader(out), SparkReader(spark, out)


def _deletion_vectors(table: Path) -> int:
    """Files of the table's log that carry a deletion vector (so the reader must apply it)."""
    seen = 0
    for commit in (table / "_delta_log").glob("*.json"):
        for line in commit.read_text(encoding="utf-8").splitlines():
            add = json.loads(line).get("add")
            seen += bool(add and add.get("deletionVector"))
    return seen


def _same(duck, spark):
    assert duck.columns == spark.columns
    assert duck.numeric == spark.numeric
    assert sorted(map(repr, duck.values)) == sorted(map(repr, spark.values))
    assert duck.values == spark.values  # and in the same (key) order


def test_every_table_at_every_run_reads_the_same_with_duckdb_and_spark(both, nights):
    duck, spark = both
    runs = [nights[f"night{n}_run"] for n in (1, 2, 3)]
    with_dvs = []
    for layer, names in CATALOG.items():
        for name in names:
            table = f"{layer}.{name}"
            if not spark.exists(table):
                continue
            versions = sorted({None, *(r.table_versions[table] for r in runs if table in r.table_versions)},
                              key=lambda v: -1 if v is None else v)
            for version in versions:
                when = When(version=version)
                _same(audit.read_as_of(duck, table, when), audit.read_as_of(spark, table, when))
            if _deletion_vectors(nights["out"] / layer / name):
                with_dvs.append(table)
    assert any(t.startswith("silver.") for t in with_dvs), with_dvs  # deletion-vector tables are compared


def test_run_history_counters_commits_and_timestamps_agree(both, nights):
    duck, spark = both
    _same(audit.run_history(duck), audit.run_history(spark))
    run_id = nights["night2_run"].run_id
    _same(audit.run_counters(duck, run_id), audit.run_counters(spark, run_id))
    for table in ("gold.invoice_aging", "silver.invoices", "ops.run_log"):
        _same(audit.table_history(duck, table), audit.table_history(spark, table))
    finished = nights["night2_run"].finished_at.isoformat()
    assert audit.version_at(duck, "gold.invoice_aging", finished) == audit.version_at(
        spark, "gold.invoice_aging", finished)


def test_sql_and_filtered_time_travel_agree(both, nights):
    duck, spark = both
    text = ("SELECT account_id, SUM(outstanding) AS open_amount, COUNT(*) AS n FROM gold.invoice_aging "
            "WHERE outstanding > 0 GROUP BY account_id ORDER BY account_id")
    _same(duck.user_sql(text), spark.user_sql(text))
    run_id = nights["night1_run"].run_id
    where = "days_past_due > 30 AND account_id < 5"
    _same(audit.read_as_of(duck, "gold.invoice_aging", When(run_id=run_id), where=where),
          audit.read_as_of(spark, "gold.invoice_aging", When(run_id=run_id), where=where))


def test_the_report_is_the_same_whichever_engine_reads(both, nights):
    duck, spark = both
    run_id = nights["night2_run"].run_id
    assert report.load(duck, run_id, None) == report.load(spark, run_id, None)


def test_query_prints_the_same_text_with_either_engine(nights, capsys):
    out = str(nights["out"])
    printed = []
    for engine in ("duckdb", "spark"):
        assert run_cli("query", "gold.account_receivables", "--output-dir", out, "--engine", engine,
                       "--run", nights["night1_run"].run_id) == 0
        printed.append(capsys.readouterr().out.splitlines())
    assert printed[0] == [line for line in printed[1] if line != "starting Spark …"]
    assert printed[0][-1].startswith("(") and "rows)" in printed[0][-1]


def test_a_missing_version_or_a_bad_filter_is_a_usage_error_naming_it(nights, capsys):
    out = str(nights["out"])
    assert run_cli("query", "gold.invoice_aging", "--output-dir", out, "--version", "999") == 2
    assert "gold.invoice_aging has no version 999 (its log holds versions 0 to" in capsys.readouterr().err
    assert run_cli("query", "gold.invoice_aging", "--output-dir", out, "--where", "no_such_column > 1") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: SQL error:") and "no_such_column" in err and "Traceback" not in err
