"""The JVM-free reader (DuckDB's Delta extension) answers what Spark answers, row for row."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from decimal import Decimal
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


def test_the_report_is_the_same_whichever_engine_reads(both, nights, tmp_path):
    duck, spark = both
    run_id = nights["night2_run"].run_id
    loaded = {r.engine: report.load(r, run_id, None) for r in both}
    assert dataclasses.replace(loaded["duckdb"], aging=None) == dataclasses.replace(loaded["spark"], aging=None)
    for reader in both:
        report.write(loaded[reader.engine], reader, tmp_path / reader.engine)
    for name in ("aging_report.csv", "aging_open_invoices.csv", "aging_report.html"):
        assert (tmp_path / "duckdb" / name).read_bytes() == (tmp_path / "spark" / name).read_bytes(), name
    with (tmp_path / "duckdb" / "aging_open_invoices.csv").open(encoding="utf-8", newline="") as fh:
        listed = {int(r["invoice_id"]): Decimal(r["outstanding"]) for r in csv.DictReader(fh)}
    assert listed == {i: r.outstanding for i, r in nights["night2"].items() if r.outstanding > 0}


TRICKY = ["Acme, Inc", 'He said "hi"', "=HYPERLINK(1)", "+1", "-2", "@SUM(A1)", "\ttab", "new\nline",
          "", None, " lead", "Ünïcode <b>&", "'quoted'"]
AMOUNTS = ["0.00", "0.05", "12.50", "999.99", "1000.00", "1234567.89", "-5.25", "9999999999999999.99"]


def _text(value: str | None) -> str:
    """A SQL text literal both dialects read alike (control characters and quotes by chr)."""
    if value is None:
        return "CAST(NULL AS STRING)"
    if not value:
        return "''"
    return "concat(" + ", ".join(f"chr({ord(c)})" if c in "\t\n\r'\\" else f"'{c}'" for c in value) + ")"


def test_csv_cells_money_text_and_ordered_joins_are_the_same_with_either_engine(both, tmp_path):
    from receivables.report import safe_cell, safe_cell_sql

    expected = io.StringIO()
    w = csv.writer(expected, lineterminator="\n")
    w.writerow(["k", "name"])
    w.writerows((i, safe_cell(n)) for i, n in enumerate(TRICKY))
    names = " UNION ALL ".join(f"SELECT {i} AS k, {_text(n)} AS c" for i, n in enumerate(TRICKY))
    amounts = " UNION ALL ".join(f"SELECT {i} AS k, CAST({a} AS DECIMAL(18,2)) AS a" for i, a in enumerate(AMOUNTS))
    groups = ("SELECT 1 AS g, 'a' AS t, 1 AS o UNION ALL SELECT 1, 'b', 2 UNION ALL SELECT 1, 'z', 5 "
              "UNION ALL SELECT 2, 'c', 9")
    for reader in both:
        target = tmp_path / f"{reader.engine}.csv"
        reader.copy_csv(f"SELECT k, {safe_cell_sql('c')} AS name FROM ({names}) t ORDER BY k", target)
        assert target.read_text(encoding="utf-8") == expected.getvalue(), reader.engine
        money = reader.sql(f"SELECT k, {reader.money_text('a')} AS m FROM ({amounts}) t ORDER BY k").values
        assert [m for _k, m in money] == [f"{Decimal(a):,.2f}" for a in AMOUNTS], reader.engine
        joined = reader.sql(f"SELECT g, {reader.ordered_join('CASE WHEN o < 3 THEN t END', 'o DESC')} AS j "
                            f"FROM ({groups}) x GROUP BY g ORDER BY g").values
        assert joined == [(1, "b,a"), (2, None)], reader.engine


def test_query_prints_the_same_text_with_either_engine(nights, capsys):
    out = str(nights["out"])
    printed, said = [], []
    for engine in ("duckdb", "spark"):
        assert run_cli("query", "gold.account_receivables", "--output-dir", out, "--engine", engine,
                       "--run", nights["night1_run"].run_id) == 0
        captured = capsys.readouterr()
        printed.append(captured.out.splitlines())
        said.append(captured.err)
    assert printed[0] == printed[1]  # stdout is the rows alone: Spark's progress line goes to stderr
    assert "starting Spark" not in said[0] and "starting Spark" in said[1]
    assert printed[0][-1].startswith("(") and "rows)" in printed[0][-1]


def test_a_missing_version_or_a_bad_filter_is_a_usage_error_naming_it(nights, capsys):
    out = str(nights["out"])
    assert run_cli("query", "gold.invoice_aging", "--output-dir", out, "--version", "999") == 2
    assert "gold.invoice_aging has no version 999 (its log holds versions 0 to" in capsys.readouterr().err
    assert run_cli("query", "gold.invoice_aging", "--output-dir", out, "--where", "no_such_column > 1") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: SQL error:") and "no_such_column" in err and "Traceback" not in err
