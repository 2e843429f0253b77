"""ops.run_log — one row per run: what it read, what it changed, what it proved.

Grain: one row per run_id. ``counts`` holds per-layer row counts
(``silver.invoices.inserted`` …), ``control_totals`` the money that must reconcile
between silver and gold, ``table_versions`` the Delta version of every table after the
run (what an auditor time-travels to). No contact data is ever written here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import (
    ArrayType,
    DateType,
    DecimalType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from receivables import io
from receivables.progress import Steps, describe

INPUT_TYPE = StructType(
    [
        StructField("entity", StringType()),
        StructField("source_file", StringType()),
        StructField("checksum", StringType()),
        StructField("records", LongType()),
        StructField("action", StringType()),
        StructField("reason", StringType()),  # why a file was skipped (NULL when read)
    ]
)

SCHEMA = StructType(
    [
        StructField("run_id", StringType(), False),
        StructField("command", StringType(), False),
        StructField("as_of_date", DateType(), False),
        StructField("status", StringType(), False),
        StructField("started_at", TimestampType(), False),
        StructField("finished_at", TimestampType(), False),
        StructField("duration_seconds", DecimalType(12, 3), False),
        StructField("inputs", ArrayType(INPUT_TYPE), False),
        StructField("counts", MapType(StringType(), LongType()), False),
        StructField("control_totals", MapType(StringType(), DecimalType(38, 2)), False),
        StructField("table_versions", MapType(StringType(), LongType()), False),
        StructField("error", StringType(), True),
    ]
)


@dataclass
class RunRecord:
    """Collected during a run, written once at its end."""

    run_id: str
    command: str
    as_of: dt.date
    started_at: dt.datetime
    inputs: list[tuple[str | None, str, str | None, int | None, str, str | None]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    control_totals: dict[str, Decimal] = field(default_factory=dict)
    table_versions: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # printed with the run's summary
    steps: Steps = field(default_factory=Steps)  # each step's line as it ends (progress)

    @contextmanager
    def step(self, name: str) -> Iterator[list[str]]:
        """Mark one step of the run (``progress.STEPS``): its line says what the counters
        under its name moved (or what the step appends to the list it is given), and how
        long it took. A step that fails has no line."""
        before, started = dict(self.counts), self.steps.clock()
        said: list[str] = []
        yield said
        detail = ", ".join(said) or describe(name, self.counts, before)
        self.steps.done(name, detail, self.steps.clock() - started)

    def skip(self, name: str, why: str) -> None:
        self.steps.done(name, why, 0.0)

    def count(self, name: str, value: int) -> None:
        self.counts[name] = self.counts.get(name, 0) + int(value)

    def merged(self, table: str, metrics: Any, considered: int | None = None) -> None:
        """Count one MERGE's rows (``io.MergeMetrics``) under ``<table>.``: inserted, updated,
        deleted and, given how many rows it considered, unchanged."""
        for name in ("inserted", "updated", "deleted"):
            self.count(f"{table}.{name}", getattr(metrics, name))
        if considered is not None:
            self.count(f"{table}.unchanged", considered - metrics.inserted - metrics.updated)

    def to_frame(
        self, spark: SparkSession, status: str, finished_at: dt.datetime, error: str | None
    ) -> DataFrame:
        seconds = Decimal(str(round((finished_at - self.started_at).total_seconds(), 3)))
        row = (
            self.run_id,
            self.command,
            self.as_of,
            status,
            self.started_at,
            finished_at,
            seconds,
            [tuple(i) for i in self.inputs],
            dict(self.counts),
            {k: Decimal(v) for k, v in self.control_totals.items()},
            dict(self.table_versions),
            error,
        )
        return io.local_frame(spark, [row], SCHEMA)
