"""Strict parsing: nothing is silently coerced (FACTS: Spark CSV casting pitfalls)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from receivables.silver import parse as p


def _parse(spark, parser, values):
    df = spark.createDataFrame([(v,) for v in values], "v string")
    parsed = parser("v")
    rows = df.select(parsed.value.alias("value"), parsed.problem.alias("problem")).collect()
    return [(r.value, r.problem) for r in rows]


@pytest.mark.parametrize("text", ["100,5", "1.000,50", "1e3", "100.005", "abc", "-5.00", "0.00"])
def test_money_rejects_locale_scientific_extra_decimals_and_non_positive(spark, text):
    [(value, problem)] = _parse(spark, p.money, [text])
    assert value is None
    assert problem == f"v '{text}' is not a positive amount with at most two decimals"


def test_money_accepts_exact_two_decimal_amounts(spark):
    assert [v for v, _ in _parse(spark, p.money, ["12.50", "7", " 0.01 "])] == [
        Decimal("12.50"), Decimal("7.00"), Decimal("0.01")
    ]


@pytest.mark.parametrize("text", ["2021-02-30", "2021-1-5", "05/01/2021", "2021-13-01"])
def test_dates_must_be_real_and_iso(spark, text):
    [(value, problem)] = _parse(spark, p.iso_date, [text])
    assert value is None and "is not a real date written YYYY-MM-DD" in problem


def test_missing_required_value_is_named(spark):
    assert _parse(spark, p.iso_date, [None, ""]) == [(None, "v is missing")] * 2


def test_optional_value_may_be_empty(spark):
    assert _parse(spark, lambda c: p.iso_date(c, required=False), [None]) == [(None, None)]


@pytest.mark.parametrize("text", ["0", "-1", "2.5", "x"])
def test_quantity_must_be_a_positive_whole_number(spark, text):
    [(value, problem)] = _parse(spark, p.count, [text])
    assert value is None and problem is not None


def test_identifier_parses_integers(spark):
    assert _parse(spark, p.identifier, ["42", "4.2"]) == [
        (42, None), (None, "v '4.2' is not a whole number")
    ]
