"""One line per step of a run as it finishes, with what moved and how long it took:

    [ 3/10] silver.invoices ............. 5,000 inserted, 12 updated   4.2s

``Steps`` is handed to a run's ``RunRecord``; the layers mark where each step starts and
ends (``record.step(name)``), and the step's line is built from the counters the step
added under its name (``silver.invoices.inserted`` …), so no layer formats text.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

# A run's steps, in order. A step a run does not need (nothing new for an entity) is
# reported as skipped, so the numbering is the same on every run.
STEPS = (
    "recovery",
    "bronze",
    "silver.accounts",
    "silver.skus",
    "silver.invoices",
    "silver.invoice_line_items",
    "silver.payments",
    "gold.invoice_aging",
    "gold.account_receivables",
    "controls",
)

# The counters shown on a step's line, in this order, when the step moved them.
SHOWN = (
    "files.ingested", "files.recovered", "rows_appended", "inserted", "updated", "deleted",
    "recomputed", "reaged", "quarantine_inserted", "abandoned_runs",
)
LABELS = {
    "files.ingested": "new files", "files.recovered": "files recovered", "rows_appended": "rows appended",
    "quarantine_inserted": "quarantined", "reaged": "re-aged", "abandoned_runs": "abandoned runs settled",
}


@dataclass(frozen=True)
class StepLine:
    index: int  # 1-based position in STEPS
    name: str
    detail: str
    seconds: float

    def render(self) -> str:
        label = f"{self.name} ".ljust(30, ".")
        return f"[{self.index:>2}/{len(STEPS)}] {label} {self.detail:<48} {self.seconds:6.1f}s"


@dataclass
class Steps:
    """Times each step and hands its line to ``emit`` (nothing is printed by default)."""

    emit: Callable[[StepLine], None] | None = None
    clock: Callable[[], float] = time.monotonic
    lines: list[StepLine] = field(default_factory=list)

    def done(self, name: str, detail: str, seconds: float) -> None:
        line = StepLine(STEPS.index(name) + 1 if name in STEPS else 0, name, detail, seconds)
        self.lines.append(line)
        if self.emit is not None:
            self.emit(line)


def describe(name: str, counts: dict[str, int], before: dict[str, int]) -> str:
    """What a step moved: the ``SHOWN`` counters it changed (``files.*`` and those under
    ``<name>.``, e.g. ``silver.invoices.inserted``; bronze sums its entities)."""
    moved = {k: v - before.get(k, 0) for k, v in counts.items() if v != before.get(k, 0)}
    parts = []
    for what in SHOWN:
        if what.startswith("files."):
            n = moved.get(what, 0) if name == "bronze" else 0
        else:
            n = sum(v for k, v in moved.items() if k.startswith(f"{name}.") and k.endswith(f".{what}"))
        if n:
            parts.append(f"{n:,} {LABELS.get(what, what)}")
    return ", ".join(parts) or "no change"
