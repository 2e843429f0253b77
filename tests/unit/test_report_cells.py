"""CSV cells a spreadsheet would evaluate are escaped; numbers are left alone."""

from decimal import Decimal

import pytest

from receivables.report import safe_cell


@pytest.mark.parametrize("text", ["=HYPERLINK(\"x\")", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_formula_like_text_is_escaped(text):
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("value", [Decimal("-5.00"), Decimal("10.50"), 7, "Acme, Inc", "O'Hara-Smith"])
def test_numbers_and_ordinary_text_are_untouched(value):
    assert safe_cell(value) == value


def test_missing_value_is_an_empty_cell():
    assert safe_cell(None) == ""
