"""Aging buckets: ``current`` (not past due), then one bucket per range of days past due
between the configured edges, and one past the last edge. The default edges 30 / 60 / 90
give current, 1-30, 31-60, 61-90 and 90+ (conf ``gold.bucket_edges``). Each bucket is one
amount column of gold.account_receivables, named for its range (``past_due_1_30``,
``past_due_90_plus``), so a table's columns tell which edges built it. No Spark here: the
readers use it too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

DEFAULT_EDGES = (30, 60, 90)
CURRENT, PAID = "current", "paid"
CURRENT_COLUMN = "current_amount"
_RANGE_COLUMN = re.compile(r"^past_due_(\d+)_(\d+|plus)$")


@dataclass(frozen=True)
class Buckets:
    edges: tuple[int, ...] = DEFAULT_EDGES

    def __post_init__(self) -> None:
        edges = list(self.edges)
        if not edges or any(isinstance(e, bool) or not isinstance(e, int) or e < 1 for e in edges) \
                or edges != sorted(set(edges)):
            raise ValueError(f"bucket edges must be increasing whole numbers of days ≥ 1, got {edges}")

    @property
    def ranges(self) -> list[tuple[str, int, int | None]]:
        """(name, first day, last day or None) of each past-due bucket."""
        lows = [1, *(e + 1 for e in self.edges)]
        highs: list[int | None] = [*self.edges, None]
        return [(f"{lo}-{hi}" if hi is not None else f"{lo - 1}+", lo, hi) for lo, hi in zip(lows, highs, strict=True)]

    @property
    def columns(self) -> dict[str, str]:
        """Bucket name → amount column of gold.account_receivables (``current`` first)."""
        cols = {CURRENT: CURRENT_COLUMN}
        for name, lo, hi in self.ranges:
            cols[name] = f"past_due_{lo}_{hi}" if hi is not None else f"past_due_{lo - 1}_plus"
        return cols

    def name_of(self, days_past_due: int, outstanding_positive: bool = True) -> str:
        """The bucket of one invoice (the rule gold applies, in plain Python)."""
        if not outstanding_positive:
            return PAID
        if days_past_due <= 0:
            return CURRENT
        for name, _lo, hi in self.ranges:
            if hi is None or days_past_due <= hi:
                return name
        raise AssertionError("the last range is open-ended")

    def describe(self) -> str:
        return ", ".join(self.columns)

    @staticmethod
    def is_amount_column(name: str) -> bool:
        """A bucket's amount column (``current_amount``, ``past_due_<from>_<to|plus>``)."""
        return name == CURRENT_COLUMN or _RANGE_COLUMN.match(name) is not None

    @classmethod
    def from_columns(cls, names: Iterable[str]) -> Buckets | None:
        """The buckets whose amount columns ``names`` holds (the columns of
        gold.account_receivables, or the non-empty ones of a run's snapshot); None when
        they do not form one consistent set."""
        ranges = sorted(
            (int(m.group(1)), None if m.group(2) == "plus" else int(m.group(2)))
            for m in map(_RANGE_COLUMN.match, names) if m
        )
        if not ranges or ranges[-1][1] is not None or ranges[0][0] != 1:
            return None
        edges = tuple(hi for _lo, hi in ranges[:-1] if hi is not None)
        try:
            found = cls(edges)
        except ValueError:
            return None
        return found if list(found.columns.values())[1:] == [
            f"past_due_{lo}_{hi if hi is not None else 'plus'}" for lo, hi in ranges
        ] else None


def parse_edges(value: object, source: str) -> Buckets:
    """Buckets from a configuration value (a list of whole days), or a ValueError naming
    ``source``."""
    if not isinstance(value, list | tuple) or not value:
        raise ValueError(f"{source} must be a list of whole numbers of days, e.g. [30, 60, 90], got {value!r}")
    try:
        return Buckets(tuple(value))
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from None


DEFAULT = Buckets()
BUCKET_COLUMNS = DEFAULT.columns
