"""Aging buckets: ``current`` (not past due), then one bucket per range of days past due
between the configured edges, and one past the last edge. The default edges 30 / 60 / 90
give current, 1-30, 31-60, 61-90 and 90+ (conf ``gold.bucket_edges``). Each bucket is one
amount column of gold.account_receivables. No Spark here: the readers use it too.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_EDGES = (30, 60, 90)


@dataclass(frozen=True)
class Buckets:
    edges: tuple[int, ...] = DEFAULT_EDGES

    def __post_init__(self) -> None:
        if not self.edges or any(e < 1 for e in self.edges) or list(self.edges) != sorted(set(self.edges)):
            raise ValueError(f"bucket edges must be increasing whole numbers of days ≥ 1, got {list(self.edges)}")

    @property
    def ranges(self) -> list[tuple[str, int, int | None]]:
        """(name, first day, last day or None) of each past-due bucket."""
        lows = [1, *(e + 1 for e in self.edges)]
        highs: list[int | None] = [*self.edges, None]
        return [(f"{lo}-{hi}" if hi is not None else f"{lo - 1}+", lo, hi) for lo, hi in zip(lows, highs, strict=True)]

    @property
    def columns(self) -> dict[str, str]:
        """Bucket name → amount column of gold.account_receivables."""
        cols = {"current": "current_amount"}
        for name, lo, hi in self.ranges:
            cols[name] = f"past_due_{lo}_{hi}" if hi is not None else f"past_due_{lo - 1}_plus"
        return cols


DEFAULT = Buckets()
BUCKET_COLUMNS = DEFAULT.columns
