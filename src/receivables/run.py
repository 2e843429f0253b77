"""What one run is (``RunContext``), which invoices it re-derives (``Scope``), and what it
returns (``RunResult``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pyspark.sql import SparkSession

from receivables import io
from receivables.config import Settings
from receivables.ops.run_log import RunRecord
from receivables.progress import StepLine

if TYPE_CHECKING:
    from receivables.bronze.files import FileFacts


@dataclass(frozen=True)
class RunContext:
    """What one run is: where, for which business date, under which id, since when."""

    spark: SparkSession
    settings: Settings
    output_dir: str
    as_of: dt.date
    run_id: str
    started_at: dt.datetime
    command: str
    clock: Callable[[], dt.datetime]  # read only to stamp when the run finished
    input_dir: str | None = None
    # the input's files as inspected before Spark started (``bronze.files.precheck``), by path
    inspected: Mapping[str, FileFacts] = field(default_factory=dict)
    on_step: Callable[[StepLine], None] | None = None  # shown each step's line as it ends

    def path(self, layer: str, table: str) -> str:
        return io.table_path(self.output_dir, layer, table)

    def props(self, layer: str) -> dict[str, str]:
        return self.settings.properties_for(layer)


@dataclass(frozen=True)
class Scope:
    """Which invoices a run re-derives: everything, or a date range of date_issued."""

    full: bool = False
    issued_from: dt.date | None = None
    issued_to: dt.date | None = None

    @property
    def ranged(self) -> bool:
        return self.issued_from is not None


@dataclass
class RunResult:
    record: RunRecord
    status: str
    error: str | None = None
    input_rejected: bool = False  # failed on a bad or missing input file (nothing was written)
    summary: dict[str, object] = field(default_factory=dict)
