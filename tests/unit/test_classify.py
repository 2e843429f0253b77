"""Every bronze row gets exactly one status; MERGE never sees a duplicate key."""

from __future__ import annotations

import datetime as dt

import pytest

from receivables.silver import conform, invoices
from receivables.silver.conform import classify, quarantined, repeated_keys, status_counts, typed

T1 = dt.datetime(2024, 1, 1, 3, 0)
T2 = dt.datetime(2024, 1, 2, 3, 0)
SCHEMA = (
    "invoice_id string, account_id string, date_issued string, due_date string, "
    "payment_dates string, _corrupt_record string, _source_file string, _file_checksum string, "
    "_row_number long, _run_id string, _as_of_date date, _ingested_at timestamp"
)


def _row(inv, acct, issued, file, row, at=T1, corrupt=None):
    return (inv, acct, issued, None, None, corrupt, file, f"sum-{file}", row, "r", at.date(), at)


# split_repeated (big batches) classifies keys delivered once without the window; the
# statuses must be the same either way.
SPLIT = pytest.mark.parametrize("split", [False, True], ids=["window", "split"])


@SPLIT
def test_statuses_cover_duplicates_conflicts_supersession_and_invalid_rows(spark, split):
    rows = [
        _row("1", "7", "2024-01-01", "a.csv", 1),  # identical earlier copy: duplicate
        _row("1", "7", "2024-01-01", "a.csv", 2),  # the last copy in the file wins
        _row("2", "7", "2024-01-01", "a.csv", 3),
        _row("2", "8", "2024-01-01", "a.csv", 4),  # same file, other content: both conflict
        _row("3", "7", "2024-01-01", "a.csv", 5),  # older version of 3: superseded
        _row("3", "9", "2024-01-05", "b.csv", 1, at=T2),  # newest version of 3: accepted
        _row("4", "7", "2024-02-30", "b.csv", 2, at=T2),  # impossible date: invalid
        _row("5", None, None, "b.csv", 3, at=T2, corrupt="5"),  # malformed row: invalid
        # other content in another file is a newer version, not a conflict
        _row("6", "7", "2024-01-01", "a.csv", 6),  # superseded
        _row("6", "8", "2024-01-01", "b.csv", 4, at=T2),  # accepted
        # a conflict in one file does not make the key's copy in another file a conflict
        _row("7", "7", "2024-01-01", "a.csv", 7),  # conflict
        _row("7", "8", "2024-01-01", "a.csv", 8),  # conflict
        _row("7", "9", "2024-01-01", "b.csv", 5, at=T2),  # accepted
        # a key whose other copy is invalid: the valid one is accepted
        _row("8", "7", "2024-01-01", "a.csv", 9),  # accepted
        _row("8", "7", "2024-13-01", "b.csv", 6, at=T2),  # invalid
        # no key at all, twice: both invalid
        _row(None, "7", "2024-01-01", "a.csv", 10),
        _row(" ", "7", "2024-01-01", "b.csv", 7, at=T2),
    ]
    bronze = spark.createDataFrame(rows, SCHEMA)
    classified = classify(typed(bronze, invoices.TABLE), invoices.TABLE, split_repeated=split)
    got = {(r._source_file, r._row_number): r._status for r in classified.collect()}
    assert got == {
        ("a.csv", 1): "duplicate",
        ("a.csv", 2): "accepted",
        ("a.csv", 3): "conflict",
        ("a.csv", 4): "conflict",
        ("a.csv", 5): "superseded",
        ("b.csv", 1): "accepted",
        ("b.csv", 2): "invalid",
        ("b.csv", 3): "invalid",
        ("a.csv", 6): "superseded",
        ("b.csv", 4): "accepted",
        ("a.csv", 7): "conflict",
        ("a.csv", 8): "conflict",
        ("b.csv", 5): "accepted",
        ("a.csv", 9): "accepted",
        ("b.csv", 6): "invalid",
        ("a.csv", 10): "invalid",
        ("b.csv", 7): "invalid",
    }
    assert status_counts(classified) == {
        "accepted": 5, "duplicate": 1, "superseded": 2, "invalid": 5, "conflict": 4
    }
    reasons = {r._row_number: r._reason for r in classified.filter("_source_file = 'b.csv'").collect()}
    assert reasons[2] == "date_issued '2024-02-30' is not a real date written YYYY-MM-DD"
    assert reasons[3].startswith("malformed row: not 5 fields")
    accepted_3 = classified.filter("invoice_id = 3 AND _status = 'accepted'").first()
    assert accepted_3.account_id == 9


@SPLIT
def test_quarantined_rows_keep_the_row_as_delivered(spark, split):
    rows = [
        _row("2", "7", "2024-01-01", "a.csv", 1),  # conflict with the next row
        _row("2", "8", "2024-01-01", "a.csv", 2),  # conflict
        _row("4", "7", "2024-02-30", "a.csv", 3),  # invalid
        _row("5", None, None, "a.csv", 4, corrupt="5;x"),  # malformed: invalid
        _row("6", "7", "2024-01-01", "a.csv", 5),  # accepted
    ]
    classified = classify(
        typed(spark.createDataFrame(rows, SCHEMA), invoices.TABLE), invoices.TABLE, split_repeated=split
    )
    raw = {
        r._row_number: r.raw_row
        for r in quarantined(classified, invoices.TABLE, "run-q", T2).collect()
    }
    assert raw == {
        1: '{"invoice_id":"2","account_id":"7","date_issued":"2024-01-01"}',
        2: '{"invoice_id":"2","account_id":"8","date_issued":"2024-01-01"}',
        3: '{"invoice_id":"4","account_id":"7","date_issued":"2024-02-30"}',
        4: '{"invoice_id":"5","_corrupt_record":"5;x"}',
    }
    # rows that reach silver do not carry their raw text along (it is in bronze)
    kept = classified.filter("_status = 'accepted'").select("_raw_row").collect()
    assert [r._raw_row for r in kept] == [None]


def test_a_batch_whose_keys_are_all_delivered_once_is_accepted_without_the_window(spark):
    rows = [
        _row("1", "7", "2024-01-01", "a.csv", 1),
        _row("2", "7", "2024-01-01", "a.csv", 2),
        _row("3", "7", "2024-02-30", "a.csv", 3),  # invalid
    ]
    classified = classify(
        typed(spark.createDataFrame(rows, SCHEMA), invoices.TABLE), invoices.TABLE, split_repeated=True
    )
    assert {r._row_number: r._status for r in classified.collect()} == {
        1: "accepted", 2: "accepted", 3: "invalid"
    }
    # no shuffle at all: the plan has no window and no exchange
    plan = classified._jdf.queryExecution().executedPlan().toString()
    assert "Window" not in plan and "Exchange" not in plan


def test_repeated_keys_are_found_up_to_a_limit(spark, monkeypatch):
    rows = [
        _row("1", "7", "2024-01-01", "a.csv", 1),
        _row("1", "7", "2024-01-01", "a.csv", 2),
        _row("2", "7", "2024-01-01", "a.csv", 3),
        _row("3", "7", "2024-01-01", "a.csv", 4),
        _row("3", "8", "2024-01-01", "b.csv", 1, at=T2),
        _row("3", "9", "2024-01-01", "b.csv", 2, at=T2),
        _row(None, "7", "2024-01-01", "b.csv", 3, at=T2),
        _row("x", "7", "2024-01-01", "b.csv", 4, at=T2),  # no whole-number id: NULL key too
    ]
    typed_rows = typed(spark.createDataFrame(rows, SCHEMA), invoices.TABLE)
    assert sorted(repeated_keys(typed_rows, ["invoice_id"], 10), key=str) == [(1,), (3,), (None,)]
    assert len(repeated_keys(typed_rows, ["invoice_id"], 3) or []) == 3  # exactly at the limit
    assert repeated_keys(typed_rows, ["invoice_id"], 2) is None
    # past the limit the whole batch takes the window, with the same statuses
    monkeypatch.setattr(conform, "REPEATED_KEYS_LIMIT", 2)
    windowed = classify(typed_rows, invoices.TABLE, split_repeated=True)
    assert "Window" in windowed._jdf.queryExecution().executedPlan().toString()
    assert {r._row_number: r._status for r in windowed.filter("_source_file = 'a.csv'").collect()} == {
        # key 3's newer copies conflict within b.csv, so a.csv's older copy wins
        1: "duplicate", 2: "accepted", 3: "accepted", 4: "accepted"
    }
