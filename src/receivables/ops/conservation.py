"""Conservation: every delivered row, and every unit of its measure, is accounted for.

Per file: CSV records counted in plain Python = rows Spark read into bronze, and the Σ of
the entity's measure (payment ``amount``, line ``quantity``) agrees too (checked in
``bronze.ingest``). Per silver batch: bronze rows = accepted + duplicate + superseded +
quarantined (invalid, conflict), and the measure sums likewise. A run that breaks either
fails with ConservationError; the sums are written to the run log's control totals.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DecimalType

from receivables.entities import NUMBER, Entity
from receivables.errors import ConservationError
from receivables.vocabulary import STATUSES

if TYPE_CHECKING:
    from receivables.ops.run_log import RunRecord

MEASURE = DecimalType(38, 6)
MEASURED = "_measure"  # the delivered measure of a typed row (silver.conform.typed)
QUARANTINED = ("invalid", "conflict")


def measure(column: Column) -> Column:
    """The measure value of a delivered string, NULL when it is not a plain number."""
    text = F.trim(column)
    return F.when(text.rlike(NUMBER), text.cast(MEASURE))


def check_batch(record: RunRecord, entity: Entity, rows: DataFrame, classified: DataFrame) -> dict[str, int]:
    """Compare the typed bronze rows of a batch with their classification; returns rows per
    status (every status present, zero when none). Both carry the delivered measure in
    ``_measure`` (NULL for entities without one)."""
    name = entity.name
    unit = F.col(MEASURED).alias("m")
    both = rows.select(F.lit("__batch").alias("_status"), unit).unionByName(classified.select("_status", unit))
    per_status = {
        r["_status"]: (int(r["n"]), r["m"] or Decimal(0))
        for r in both.groupBy("_status").agg(F.count(F.lit(1)).alias("n"), F.sum("m").alias("m")).collect()
    }  # one job: the batch as read and as classified
    n_batch, expected = per_status.pop("__batch", (0, Decimal(0)))
    n_classified = sum(n for n, _ in per_status.values())
    total = sum((m for _, m in per_status.values()), Decimal(0))
    if entity.measure:
        for status, (_, m) in per_status.items():
            record.control_totals[f"silver.{name}.{entity.measure}.{status}"] = _cents(m)
        record.control_totals[f"bronze.{name}.{entity.measure}.batch"] = _cents(expected)
    if n_classified != n_batch or total != expected:
        raise ConservationError(
            f"silver.{name}: the batch has {n_batch} bronze rows (Σ {entity.measure} {expected}) but "
            f"accepted + duplicate + superseded + quarantined = {n_classified} (Σ {total}); nothing was merged"
        )

    return {s: per_status.get(s, (0, None))[0] for s in STATUSES}


def _cents(value: Decimal) -> Decimal:
    """The run log keeps two decimals; the check above is exact."""
    return value.quantize(Decimal("0.01"))


def check_file(path: str, entity: Entity, expected: Decimal, got: Decimal | None) -> None:
    """The Σ measure Spark read from a file equals the plain-Python pre-pass."""
    if (got or Decimal(0)) != expected:
        raise ConservationError(
            f"{path}: Spark read Σ {entity.measure} = {got or 0} but the file holds {expected}; "
            "nothing was written (check quoting and line endings)"
        )
