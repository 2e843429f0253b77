"""Strict parsing of delivered strings. Each parser returns (typed value, problem).

Nothing is coerced: "100,5", "1e3", "100.005", "2021-1-5" and "2021-02-30" are problems,
not values. A problem is a short sentence naming the column and the delivered value.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.types import DecimalType, IntegerType, LongType

MONEY = DecimalType(18, 2)

_INT = r"^[0-9]{1,18}$"
_SMALL_INT = r"^[0-9]{1,9}$"
_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_MONEY = r"^-?[0-9]{1,16}(\.[0-9]{1,2})?$"


@dataclass(frozen=True)
class Parsed:
    value: Column
    problem: Column


def clean(column: str) -> Column:
    """Trimmed text, with empty strings as NULL."""
    trimmed = F.trim(F.col(column))
    return F.when(trimmed == "", F.lit(None)).otherwise(trimmed)


def _problem(column: str, raw: Column, ok: Column, what: str, required: bool) -> Column:
    missing = F.lit(f"{column} is missing") if required else F.lit(None)
    return (
        F.when(raw.isNull(), missing)
        .when(~ok, F.concat(F.lit(f"{column} '"), raw, F.lit(f"' is not {what}")))
    )


def identifier(column: str, required: bool = True) -> Parsed:
    """A positive integer id such as invoice_id."""
    raw = clean(column)
    ok = raw.rlike(_INT)
    return Parsed(
        F.when(ok, raw.try_cast(LongType())),
        _problem(column, raw, ok, "a whole number", required),
    )


def text(column: str, required: bool = True) -> Parsed:
    raw = clean(column)
    return Parsed(raw, _problem(column, raw, F.lit(True), "text", required))


def iso_date(column: str, required: bool = True) -> Parsed:
    """A real calendar date written YYYY-MM-DD."""
    raw = clean(column)
    parsed = F.try_to_date(raw, "yyyy-MM-dd")
    ok = raw.rlike(_DATE) & parsed.isNotNull()
    return Parsed(
        F.when(ok, parsed),
        _problem(column, raw, ok, "a real date written YYYY-MM-DD", required),
    )


def money(column: str, positive: bool = True, required: bool = True) -> Parsed:
    """An exact amount with at most two decimals, e.g. 12.50; positive unless told."""
    raw = clean(column)
    value = raw.try_cast(MONEY)
    shape_ok = raw.rlike(_MONEY) & value.isNotNull()
    ok = shape_ok & (value > 0) if positive else shape_ok
    what = "a positive amount with at most two decimals" if positive else "an amount"
    return Parsed(F.when(ok, value), _problem(column, raw, ok, what, required))


def count(column: str, positive: bool = True, required: bool = True) -> Parsed:
    """A small whole number; positive (quantity) or non-negative (payment terms)."""
    raw = clean(column)
    value = raw.try_cast(IntegerType())
    shape_ok = raw.rlike(_SMALL_INT)
    ok = shape_ok & ((value > 0) if positive else (value >= 0))
    what = "a positive whole number" if positive else "a whole number of days"
    return Parsed(F.when(ok, value), _problem(column, raw, ok, what, required))
