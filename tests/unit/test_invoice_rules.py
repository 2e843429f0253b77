"""The business rules of docs/rules.md, one hand-computed invoice per rule (as of 2021-02-01)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from receivables.buckets import DEFAULT, Buckets
from receivables.gold.account_receivables import build_account_receivables
from receivables.gold.invoice_aging import BUSINESS_COLUMNS, ages_with, build_invoice_aging, reage

AS_OF = dt.date(2021, 2, 1)
RUN = "run-test"
AT = dt.datetime(2021, 2, 2, 3, 0, 0)
d = dt.date.fromisoformat

INVOICES = "invoice_id long, account_id long, date_issued date, due_date date, paid_in_full_date date"
LINES = "invoice_id long, item_id string, quantity int"
SKUS = "item_id string, item_retail_price decimal(18,2), valid_from date, valid_to date"
PAYMENTS = "payment_id long, invoice_id long, payment_date date, amount decimal(18,2)"
ACCOUNTS = "account_id long, company_name string, payment_terms_days int"

# id: (account, issued, due, paid_in_full, [(item, qty)])
CASES = {
    1: (1, "2021-01-01", "2021-01-31", None, [("A", 2)]),  # 1 day past due
    2: (1, "2021-01-01", "2021-02-01", None, [("A", 1)]),  # due on as-of: current
    3: (1, "2021-01-01", "2021-01-20", None, [("A", 1)]),  # paid on the as-of date
    4: (2, "2020-12-01", None, None, [("A", 1)]),  # partial payments, 15-day terms
    5: (1, "2021-01-05", None, None, [("A", 1)]),  # overpaid
    6: (1, "2021-01-05", None, None, []),  # no line items
    7: (3, "2021-01-20", None, None, [("A", 1)]),  # payment after as-of; default terms
    8: (1, "2021-02-02", None, None, [("A", 1)]),  # issued after as-of: excluded
    9: (1, "2021-01-14", "2021-03-01", None, [("B", 1)]),  # before the price change
    10: (1, "2021-01-15", "2021-03-01", None, [("B", 1)]),  # on the price change
    11: (1, "2021-01-01", None, "2021-01-10", [("A", 3)]),  # paid in full via payment_dates
    12: (1, "2021-01-02", "2021-03-01", None, [("A", 1), ("C", 1)]),  # C has no price
    13: (99, "2021-01-25", None, None, [("A", 1)]),  # account not delivered yet
    14: (1, "2020-09-01", "2020-10-01", None, [("A", 1)]),  # 123 days: 90+
    15: (1, "2020-12-01", "2021-01-02", None, [("A", 1)]),  # 30 days: 1-30
    16: (1, "2020-12-01", "2021-01-01", None, [("A", 1)]),  # 31 days: 31-60
    17: (1, "2020-10-01", "2020-11-03", None, [("A", 1)]),  # 90 days: 61-90
    18: (1, "2020-10-01", "2020-11-02", None, [("A", 1)]),  # 91 days: 90+
    19: (1, "2021-01-31", "2021-02-01", "2021-02-02", [("A", 1)]),  # paid in full after as-of
}
PAYMENT_ROWS = [
    (1, 3, d("2021-02-01"), D("10.00")),
    (2, 4, d("2020-12-20"), D("3.00")),
    (3, 4, d("2021-01-10"), D("4.00")),
    (4, 5, d("2021-01-06"), D("15.00")),
    (5, 7, d("2021-02-02"), D("10.00")),
    (6, 404, d("2021-01-06"), D("8.00")),  # invoice not delivered yet: no gold row
]


@pytest.fixture(scope="module")
def inputs(spark):
    invoices = spark.createDataFrame(
        [
            (i, acct, d(issued), d(due) if due else None, d(paid) if paid else None)
            for i, (acct, issued, due, paid, _) in CASES.items()
        ],
        INVOICES,
    )
    lines = spark.createDataFrame(
        [(i, item, q) for i, (*_, ls) in CASES.items() for item, q in ls], LINES
    )
    skus = spark.createDataFrame(
        [
            ("A", D("10.00"), d("1900-01-01"), None),
            ("B", D("5.00"), d("1900-01-01"), d("2021-01-15")),
            ("B", D("7.00"), d("2021-01-15"), None),
        ],
        SKUS,
    )
    payments = spark.createDataFrame(PAYMENT_ROWS, PAYMENTS)
    accounts = spark.createDataFrame(
        [(1, "Acme, Inc", None), (2, "Bolt Ltd", 15), (3, "Crane LLC", None)], ACCOUNTS
    )
    return invoices, lines, skus, payments, accounts


@pytest.fixture(scope="module")
def aging(spark, inputs):
    return build_invoice_aging(
        *inputs, as_of=AS_OF, run_id=RUN, updated_at=AT, default_terms_days=30, buckets=DEFAULT
    ).persist()


EXPECTED_COLUMNS = (
    "invoice_id long, account_id long, due_date date, invoice_total decimal(18,2), "
    "paid_to_date decimal(18,2), outstanding decimal(18,2), credit_amount decimal(18,2), "
    "days_past_due int, aging_bucket string, is_complete boolean, missing_inputs string"
)


def test_invoice_aging_matches_hand_computed_rows(spark, aging):
    t = D
    expected = spark.createDataFrame(
        [
            (1, 1, d("2021-01-31"), t("20.00"), t("0.00"), t("20.00"), t("0.00"), 1, "1-30", True, None),
            (2, 1, d("2021-02-01"), t("10.00"), t("0.00"), t("10.00"), t("0.00"), 0, "current", True, None),
            (3, 1, d("2021-01-20"), t("10.00"), t("10.00"), t("0.00"), t("0.00"), 0, "paid", True, None),
            (4, 2, d("2020-12-16"), t("10.00"), t("7.00"), t("3.00"), t("0.00"), 47, "31-60", True, None),
            (5, 1, d("2021-02-04"), t("10.00"), t("15.00"), t("0.00"), t("5.00"), 0, "paid", True, None),
            (6, 1, d("2021-02-04"), t("0.00"), t("0.00"), t("0.00"), t("0.00"), 0, "paid", False, "line_items"),
            (7, 3, d("2021-02-19"), t("10.00"), t("0.00"), t("10.00"), t("0.00"), 0, "current", True, None),
            (9, 1, d("2021-03-01"), t("5.00"), t("0.00"), t("5.00"), t("0.00"), 0, "current", True, None),
            (10, 1, d("2021-03-01"), t("7.00"), t("0.00"), t("7.00"), t("0.00"), 0, "current", True, None),
            (11, 1, d("2021-01-31"), t("30.00"), t("30.00"), t("0.00"), t("0.00"), 0, "paid", True, None),
            (12, 1, d("2021-03-01"), t("10.00"), t("0.00"), t("10.00"), t("0.00"), 0, "current", False, "sku_price"),
            (13, 99, d("2021-02-24"), t("10.00"), t("0.00"), t("10.00"), t("0.00"), 0, "current", False, "account"),
            (14, 1, d("2020-10-01"), t("10.00"), t("0.00"), t("10.00"), t("0.00"), 123, "90+", True, None),
            (15, 1, d("2021-01-02"), t("10.00"), t("0.00"), t("10.00"), t("0.00"), 30, "1-30", True, None),
            (16, 1, d("2021-01-01"), t("10.00"), t("0.00"), t("10.00"), t("0.00"), 31, "31-60", True, None),
            (17, 1, d("2020-11-03"), t("10.00"), t("0.00"), t("10.00"), t("0.00"), 90, "61-90", True, None),
            (18, 1, d("2020-11-02"), t("10.00"), t("0.00"), t("10.00"), t("0.00"), 91, "90+", True, None),
            (19, 1, d("2021-02-01"), t("10.00"), t("0.00"), t("10.00"), t("0.00"), 0, "current", True, None),
        ],
        EXPECTED_COLUMNS,
    )
    actual = aging.select(*[c.split()[0] for c in EXPECTED_COLUMNS.split(", ")])
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def _row(aging, invoice_id):
    return aging.filter(f"invoice_id = {invoice_id}").first()


def test_payment_on_as_of_date_counts_as_paid(aging):
    row = _row(aging, 3)
    assert (row.outstanding, row.days_past_due, row.aging_bucket) == (D("0.00"), 0, "paid")


def test_due_on_as_of_date_is_current_with_zero_days(aging):
    assert (_row(aging, 2).days_past_due, _row(aging, 2).aging_bucket) == (0, "current")


def test_one_day_past_due(aging):
    assert _row(aging, 1).days_past_due == 1


def test_partial_payments_add_up(aging):
    assert (_row(aging, 4).paid_to_date, _row(aging, 4).outstanding) == (D("7.00"), D("3.00"))


def test_overpayment_becomes_credit_not_negative_outstanding(aging):
    row = _row(aging, 5)
    assert (row.outstanding, row.credit_amount) == (D("0.00"), D("5.00"))


def test_payment_after_as_of_is_ignored(aging):
    assert _row(aging, 7).paid_to_date == D("0.00")


def test_invoice_issued_after_as_of_is_excluded(aging):
    assert aging.filter("invoice_id = 8").count() == 0


def test_price_change_does_not_rewrite_older_invoices(aging):
    assert (_row(aging, 9).invoice_total, _row(aging, 10).invoice_total) == (D("5.00"), D("7.00"))


def test_payment_for_unknown_invoice_creates_no_row(aging):
    assert aging.filter("invoice_id = 404").count() == 0


def test_money_columns_are_exact_decimals(aging):
    types = dict(aging.dtypes)
    for column in ("invoice_total", "paid_to_date", "outstanding", "credit_amount"):
        assert types[column] == "decimal(18,2)"


def test_account_receivables_rolls_up_buckets_and_credit(spark, aging, inputs):
    accounts = inputs[4]
    rollup = build_account_receivables(aging, accounts, as_of=AS_OF, run_id=RUN, updated_at=AT, buckets=DEFAULT)
    t = D
    expected = spark.createDataFrame(
        [
            # account 1: open 1,2,9,10,12,14-19 (20+10+5+7+10+6×10 = 112); current 2,9,10,12,19 = 42; credit from 5
            (1, "Acme, Inc", t("112.00"), 11, t("70.00"), t("42.00"), t("30.00"), t("10.00"),
             t("10.00"), t("20.00"), 123, t("5.00"), 15, 2),
            (2, "Bolt Ltd", t("3.00"), 1, t("3.00"), t("0.00"), t("0.00"), t("3.00"), t("0.00"),
             t("0.00"), 47, t("0.00"), 1, 0),
            (3, "Crane LLC", t("10.00"), 1, t("0.00"), t("10.00"), t("0.00"), t("0.00"), t("0.00"),
             t("0.00"), 0, t("0.00"), 1, 0),
            (99, None, t("10.00"), 1, t("0.00"), t("10.00"), t("0.00"), t("0.00"), t("0.00"),
             t("0.00"), 0, t("0.00"), 1, 1),
        ],
        "account_id long, company_name string, unpaid_total decimal(18,2), open_invoices long, "
        "past_due_total decimal(18,2), current_amount decimal(18,2), past_due_1_30 decimal(18,2), "
        "past_due_31_60 decimal(18,2), past_due_61_90 decimal(18,2), past_due_90_plus decimal(18,2), "
        "max_days_past_due int, credit_balance decimal(18,2), invoice_count long, "
        "incomplete_invoices long",
    )
    actual = rollup.select(*expected.columns)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


LATER = dt.date(2021, 3, 5)


def test_reage_moves_only_open_past_due_rows_by_hand(aging):
    moved = {r.invoice_id: r for r in aging.filter(ages_with(LATER)).collect()}
    # paid (3, 5, 11), no lines (6), issued after the first as-of (8) never age; 9, 10
    # and 12 are due 2021-03-01, before the new as-of date, so they do.
    assert 3 not in moved and 5 not in moved and 6 not in moved and 11 not in moved
    assert 8 not in moved
    again = {r.invoice_id: r for r in reage(
        aging.filter(ages_with(LATER)), as_of=LATER, run_id="run-2", updated_at=AT, buckets=DEFAULT
    ).collect()}
    assert (again[1].days_past_due, again[1].aging_bucket) == (33, "31-60")  # due 01-31
    assert (again[2].days_past_due, again[2].aging_bucket) == (32, "31-60")  # due 02-01
    assert (again[9].days_past_due, again[9].aging_bucket) == (4, "1-30")  # due 03-01
    assert (again[14].days_past_due, again[14].aging_bucket) == (155, "90+")  # due 2020-10-01
    assert again[1].outstanding == D("20.00") and again[1].as_of_date == LATER
    assert again[1].run_id == "run-2" and again[1]._row_hash != _row(aging, 1)._row_hash


def test_reage_equals_a_full_recompute_for_rows_nothing_else_touched(spark, inputs, aging):
    # 7 (payment on 02-02), 8 (issued 02-02) and 19 (paid in full 02-02) change for other
    # reasons between the two dates: the pipeline recomputes those in full.
    touched = [7, 8, 19]
    later = build_invoice_aging(
        *inputs, as_of=LATER, run_id="run-2", updated_at=AT, default_terms_days=30, buckets=DEFAULT
    ).filter(~F.col("invoice_id").isin(touched))
    start = aging.filter(~F.col("invoice_id").isin(touched))
    reaged = reage(start.filter(ages_with(LATER)), as_of=LATER, run_id="run-2", updated_at=AT, buckets=DEFAULT)
    expected = later.join(reaged.select("invoice_id"), "invoice_id", "left_semi")
    assert reaged.count() == 12
    assert_df_equality(reaged.select(*BUSINESS_COLUMNS, "_row_hash"),
                       expected.select(*BUSINESS_COLUMNS, "_row_hash"), ignore_row_order=True)
    # the rows that do not age are exactly the rows whose recompute equals the old row
    kept = later.join(reaged.select("invoice_id"), "invoice_id", "left_anti").select(*BUSINESS_COLUMNS)
    assert_df_equality(kept, start.join(reaged.select("invoice_id"), "invoice_id", "left_anti")
                       .select(*BUSINESS_COLUMNS), ignore_row_order=True)


EDGES = Buckets((15, 45, 120))  # current, 1-15, 16-45, 46-120, 120+


def test_configured_edges_name_every_bucket_by_its_range(spark, inputs):
    aging = build_invoice_aging(*inputs, as_of=AS_OF, run_id=RUN, updated_at=AT, default_terms_days=30,
                                buckets=EDGES)
    got = {r.invoice_id: (r.days_past_due, r.aging_bucket) for r in aging.collect()}
    # the same invoices as above, days past due unchanged, buckets by the new edges
    assert got[1] == (1, "1-15") and got[15] == (30, "16-45") and got[16] == (31, "16-45")
    assert got[4] == (47, "46-120") and got[17] == (90, "46-120") and got[18] == (91, "46-120")
    assert got[14] == (123, "120+")
    assert got[2] == (0, "current") and got[3] == (0, "paid") and got[5] == (0, "paid")


def test_configured_edges_give_one_amount_column_per_bucket(spark, inputs):
    aging = build_invoice_aging(*inputs, as_of=AS_OF, run_id=RUN, updated_at=AT, default_terms_days=30,
                                buckets=EDGES)
    rollup = build_account_receivables(aging, inputs[4], as_of=AS_OF, run_id=RUN, updated_at=AT, buckets=EDGES)
    t = D
    expected = spark.createDataFrame(
        [  # account 1: current 2,9,10,12,19 = 42; 1-15: 1 = 20; 16-45: 15,16; 46-120: 17,18; 120+: 14
            (1, t("112.00"), t("42.00"), t("20.00"), t("20.00"), t("20.00"), t("10.00")),
            (2, t("3.00"), t("0.00"), t("0.00"), t("0.00"), t("3.00"), t("0.00")),  # 4: 47 days
            (3, t("10.00"), t("10.00"), t("0.00"), t("0.00"), t("0.00"), t("0.00")),
            (99, t("10.00"), t("10.00"), t("0.00"), t("0.00"), t("0.00"), t("0.00")),
        ],
        "account_id long, unpaid_total decimal(18,2), current_amount decimal(18,2), past_due_1_15 decimal(18,2), "
        "past_due_16_45 decimal(18,2), past_due_46_120 decimal(18,2), past_due_120_plus decimal(18,2)",
    )
    assert [c for c in rollup.columns if c.startswith(("current_", "past_due_")) and c != "past_due_total"] == \
        expected.columns[2:]
    assert_df_equality(rollup.select(*expected.columns), expected, ignore_row_order=True, ignore_nullable=True)
