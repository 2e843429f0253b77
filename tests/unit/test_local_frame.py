"""io.local_frame: small frames built inside the JVM, value for value what PySpark's own
``createDataFrame`` builds (the reference here), and with no Python worker."""

from __future__ import annotations

import datetime as dt
import re
import time
from decimal import Decimal

import pytest
from pyspark.sql.types import StructField, StructType

from receivables import io
from receivables.ops.manifest import MANIFEST_SCHEMA
from receivables.ops.run_log import SCHEMA as RUN_LOG_SCHEMA

UTC = dt.UTC
INDIA = dt.timezone(dt.timedelta(hours=5, minutes=30))


def _nullable(schema: StructType) -> StructType:
    return StructType([StructField(f.name, f.dataType, True) for f in schema.fields])


def _run_log_rows():
    started = dt.datetime(2026, 12, 7, 4, 5, 6, 123456, tzinfo=UTC)
    return [
        ("r1", "run", dt.date(2026, 12, 7), "succeeded", started, dt.datetime(2026, 12, 7, 9, 40, 0, 7, tzinfo=INDIA),
         Decimal("12.345"),
         [("invoices", 'in/a "quoted"\nname\\x.csv', "ab" * 32, 9_007_199_254_740_993, "ingested", None),
          (None, "notes.txt", None, None, "skipped", "not an extract: ünïcode ✓")],
         {"silver.invoices.inserted": 2**63 - 1, "gold.state.newest_issued": -1},
         {"silver.paid": Decimal("123456789012345678901234567890123456.78"), "gold.credit": Decimal("0E-2"),
          "gold.outstanding": Decimal("-0.01")},
         {}, None),
        ("r2", "rebuild", dt.date(1900, 1, 1), "failed", started, started, Decimal("0.000"), [], {}, {},
         {"gold.invoice_aging": 0}, "ConservationError: Σ paid 1 ≠ 2"),
    ]


def test_rows_equal_what_createDataFrame_builds_value_for_value(spark):
    rows = _run_log_rows()
    built = io.local_frame(spark, rows, RUN_LOG_SCHEMA)
    assert built.schema == _nullable(RUN_LOG_SCHEMA)
    got = built.collect()
    assert got == spark.createDataFrame(rows, RUN_LOG_SCHEMA).collect()
    # exact, written out by hand: 38 digits, microseconds, a +05:30 instant in UTC
    assert got[0]["control_totals"]["silver.paid"] == Decimal("123456789012345678901234567890123456.78")
    assert got[0]["finished_at"] == dt.datetime(2026, 12, 7, 4, 10, 0, 7)  # the session's zone is UTC
    assert got[0]["inputs"][0]["records"] == 9_007_199_254_740_993  # no float on the way
    assert got[0]["inputs"][0]["source_file"] == 'in/a "quoted"\nname\\x.csv'


def test_a_naive_datetime_is_local_time_as_createDataFrame_takes_it(spark, monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        row = [("m.csv", dt.datetime(2026, 12, 7, 10, 0, 0))]
        schema = "source_file string, recorded_at timestamp"
        built = io.local_frame(spark, row, schema)
        assert built.collect() == spark.createDataFrame(row, schema).collect()
        # the instant, as the session (UTC) prints it
        assert built.selectExpr("CAST(recorded_at AS STRING)").first()[0] == "2026-12-07 04:30:00"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_manifest_rows_and_an_empty_list(spark):
    at = dt.datetime(2026, 12, 7, 4, 5, 6, tzinfo=UTC)
    rows = [("payments", f"p/{i}.csv", f"{i:064x}", i * 10, i, i % 2 == 0, False, "ingested", None, "r",
             dt.date(2026, 1, 1), at, None if i == 3 else 10**18 + i) for i in range(5)]
    expected = spark.createDataFrame(rows, MANIFEST_SCHEMA).collect()
    assert io.local_frame(spark, rows, MANIFEST_SCHEMA).collect() == expected
    empty = io.local_frame(spark, [], MANIFEST_SCHEMA)
    assert empty.count() == 0 and empty.schema == _nullable(MANIFEST_SCHEMA)


@pytest.mark.parametrize(
    ("value", "ddl"),
    [("1", "n long"), (True, "n long"), (1.5, "n decimal(10,2)"), (dt.datetime(2026, 1, 1), "d date"),
     ("2026-01-01", "d date"), (1, "flag boolean")],
)
def test_a_value_of_the_wrong_type_is_refused_naming_it(spark, value, ddl):
    with pytest.raises(TypeError, match=re.escape(f"{value!r} is no")):
        io.local_frame(spark, [(value,)], ddl)


def test_a_row_of_the_wrong_length_is_refused_and_many_rows_arrive_in_order(spark):
    with pytest.raises(TypeError, match=re.escape("(1, 2) has 2 values for 1 columns")):
        io.local_frame(spark, [(1, 2)], "n long")
    ids = [(n * 7, f"a{n}") for n in range(20_000)]
    got = io.local_frame(spark, ids, "account_id long, name string").collect()
    assert [tuple(r) for r in got] == ids

