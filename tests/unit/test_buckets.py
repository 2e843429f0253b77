"""Aging buckets from configured edges: names, amount columns, and edges read back from a
table's columns; the configuration refuses edges that cannot make buckets."""

from __future__ import annotations

import pytest

from receivables.buckets import DEFAULT, Buckets
from receivables.config import ConfigError, load_settings


def test_default_edges_are_the_classic_five_buckets():
    assert list(DEFAULT.columns.items()) == [
        ("current", "current_amount"), ("1-30", "past_due_1_30"), ("31-60", "past_due_31_60"),
        ("61-90", "past_due_61_90"), ("90+", "past_due_90_plus"),
    ]


@pytest.mark.parametrize(("days", "bucket"), [(0, "current"), (1, "1-15"), (15, "1-15"), (16, "16-45"),
                                              (45, "16-45"), (46, "45+"), (4000, "45+")])
def test_each_day_falls_in_one_bucket_with_edges_inclusive(days, bucket):
    assert Buckets((15, 45)).name_of(days) == bucket


def test_a_paid_invoice_is_paid_whatever_its_days():
    assert Buckets((15, 45)).name_of(99, outstanding_positive=False) == "paid"


@pytest.mark.parametrize("edges", [(30, 60, 90), (15, 45), (7,), (1, 2, 3, 365)])
def test_edges_are_read_back_from_the_columns_they_make(edges):
    buckets = Buckets(edges)
    columns = ["account_id", "past_due_total", *buckets.columns.values(), "credit_balance"]
    assert Buckets.from_columns(columns) == buckets


@pytest.mark.parametrize("columns", [
    ["current_amount"],  # no past-due bucket
    ["past_due_1_30", "past_due_31_60"],  # no open-ended last bucket
    ["past_due_1_30", "past_due_40_60", "past_due_60_plus"],  # a gap between 30 and 40
    ["past_due_1_30", "past_due_31_60", "past_due_30_plus"],  # the last bucket overlaps
    ["past_due_1_30", "past_due_1_15", "past_due_16_30", "past_due_30_plus"],  # two sets mixed
])
def test_columns_that_form_no_single_set_of_edges_give_none(columns):
    assert Buckets.from_columns(columns) is None


@pytest.mark.parametrize("edges", ["[60, 30]", "[30, 30]", "[0, 30]", "[]", "30", "[30, true]", "[1.5]"])
def test_the_configuration_refuses_edges_that_make_no_buckets(tmp_path, edges):
    conf = tmp_path / "conf.yaml"
    conf.write_text(f"gold:\n  bucket_edges: {edges}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="gold.bucket_edges"):
        load_settings(conf)


def test_the_configuration_sets_the_edges(tmp_path):
    conf = tmp_path / "conf.yaml"
    conf.write_text("gold:\n  bucket_edges: [15, 45]\n", encoding="utf-8")
    assert load_settings(conf).buckets == Buckets((15, 45))
    assert load_settings().buckets == DEFAULT
