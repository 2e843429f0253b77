"""Table maintenance that never breaks an audit: OPTIMIZE, then VACUUM outside the window.

Every table's ``delta.deletedFileRetentionDuration`` and ``delta.logRetentionDuration`` equal
the configured audit window, so Delta itself keeps every version inside it readable.
``maintain`` brings older tables up to the configured properties, compacts small files, and
vacuums only files removed before the window; asking for less is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from receivables import io
from receivables.config import Settings
from receivables.errors import ReceivablesError


class AuditWindowError(ReceivablesError):
    """A maintenance request would remove data an audit may still need."""


@dataclass(frozen=True)
class Maintained:
    table: str
    files_removed: int
    files_added: int
    retain_days: int


def maintain(
    spark: SparkSession,
    settings: Settings,
    output_dir: str,
    catalog: dict[str, list[str]],
    retain_days: int | None = None,
    optimize: bool = True,
) -> list[Maintained]:
    window = settings.audit_window_days
    days = window if retain_days is None else retain_days
    if days < window:
        raise AuditWindowError(
            f"refusing to VACUUM with {days} days of retention: the audit window is {window} days "
            "(conf audit.window_days), and time travel to any run inside it must keep working. "
            "Raise --retain-days, or shorten the window in conf if the audit policy allows."
        )
    done = []
    for layer, names in catalog.items():
        for name in names:
            path = io.table_path(output_dir, layer, name)
            if not io.is_table(spark, path):
                continue
            table = DeltaTable.forPath(spark, path)
            wanted = settings.retention_properties()
            current = table.detail().select("properties").first()[0] or {}
            if any(current.get(k) != v for k, v in wanted.items()):  # no commit when already set
                props = ", ".join(f"'{k}' = '{v}'" for k, v in wanted.items())
                spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ({props})")
            removed = added = 0
            if optimize:
                metrics = table.optimize().executeCompaction().first()["metrics"]
                removed, added = int(metrics["numFilesRemoved"]), int(metrics["numFilesAdded"])
            table.vacuum(days * 24)
            done.append(Maintained(f"{layer}.{name}", removed, added, days))
    return done
