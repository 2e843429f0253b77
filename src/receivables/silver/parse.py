"""Strict parsing of delivered strings. Each parser returns (typed value, problem).

Nothing is coerced: "100,5", "1e3", "100.005", "2021-1-5" and "2021-02-30" are problems,
not values. A problem is a short sentence naming the column and the delivered value.
"""

from __future__ import annotations

import datetime as dt
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


EARLIEST = dt.date(1900, 1, 1)
LATEST = dt.date(2999, 12, 31)  # a due date derived from terms must stay a valid date


def iso_date(column: str, required: bool = True) -> Parsed:
    """A real calendar date written YYYY-MM-DD, between 1900-01-01 and 2999-12-31."""
    raw = clean(column)
    parsed = F.try_to_date(raw, "yyyy-MM-dd")
    ok = raw.rlike(_DATE) & parsed.isNotNull()
    problem = _problem(column, raw, ok, "a real date written YYYY-MM-DD", required)
    outside = ok & ~parsed.between(F.lit(EARLIEST), F.lit(LATEST))
    problem = F.coalesce(problem, F.when(outside, F.concat(
        F.lit(f"{column} '"), raw, F.lit(f"' is outside {EARLIEST}..{LATEST}, the dates accepted"))))
    return Parsed(F.when(ok & ~outside, parsed), problem)


# Bounds that keep every product and sum gold makes inside MONEY (below 10^16): a line
# (quantity × unit price) stays below 10^13, so an invoice holds 1,000 such lines and an
# account 1,000 such invoices before a total could overflow; payments likewise.
MAX_QUANTITY = 999_999
MAX_PRICE = 9_999_999  # whole units of a SKU price (9,999,999.99 at most)
MAX_PAYMENT = 9_999_999_999  # whole units of one payment (9,999,999,999.99 at most)
MAX_TERMS_DAYS = 3_650  # payment terms (ten years) keep a derived due date a valid date


def _above(column: str, raw: Column, too_big: Column, limit: str) -> Column:
    return F.when(
        too_big,
        F.concat(F.lit(f"{column} '"), raw, F.lit(f"' is above {limit}, the largest accepted (totals must fit)")),
    )


def money(column: str, positive: bool = True, required: bool = True, max_units: int | None = None) -> Parsed:
    """An exact amount with at most two decimals, e.g. 12.50; positive unless told, and at
    most ``max_units`` whole units when given."""
    raw = clean(column)
    value = raw.try_cast(MONEY)
    shape_ok = raw.rlike(_MONEY) & value.isNotNull()
    ok = shape_ok & (value > 0) if positive else shape_ok
    what = "a positive amount with at most two decimals" if positive else "an amount"
    problem = _problem(column, raw, ok, what, required)
    if max_units is not None:
        too_big = ok & (F.abs(value) >= F.lit(max_units + 1))
        ok = ok & ~too_big
        problem = F.coalesce(problem, _above(column, raw, too_big, f"{max_units:,}.99"))
    return Parsed(F.when(ok, value), problem)


def count(column: str, positive: bool = True, required: bool = True, max_value: int | None = None) -> Parsed:
    """A small whole number; positive (quantity) or non-negative (payment terms), at most
    ``max_value`` when given."""
    raw = clean(column)
    value = raw.try_cast(IntegerType())
    shape_ok = raw.rlike(_SMALL_INT)
    ok = shape_ok & ((value > 0) if positive else (value >= 0))
    what = "a positive whole number" if positive else "a whole number of days"
    problem = _problem(column, raw, ok, what, required)
    if max_value is not None:
        too_big = ok & (value > F.lit(max_value))
        ok = ok & ~too_big
        problem = F.coalesce(problem, _above(column, raw, too_big, f"{max_value:,}"))
    return Parsed(F.when(ok, value), problem)


TRUE_WORDS = ("true", "yes", "y", "1")
FALSE_WORDS = ("false", "no", "n", "0")


def flag(column: str) -> Parsed:
    """A yes/no marker (true/false, yes/no, y/n, 1/0 in any case); empty or absent is false."""
    raw = clean(column)
    word = F.lower(raw)
    value = F.when(raw.isNull() | word.isin(*FALSE_WORDS), F.lit(False)).when(word.isin(*TRUE_WORDS), F.lit(True))
    ok = value.isNotNull()
    what = "true or false (also yes/no, y/n, 1/0)"
    return Parsed(value, _problem(column, raw, ok, what, required=False))


