"""Table maintenance that never breaks an audit: OPTIMIZE, then VACUUM outside the window.

Every table's ``delta.deletedFileRetentionDuration`` and ``delta.logRetentionDuration`` equal
the configured audit window, so Delta itself keeps every version inside it readable.
``maintain`` brings older tables up to the configured properties, compacts small files, and
vacuums only files removed before the window; asking for less is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    zorder: dict[str, tuple[str, ...]] | None = None,
) -> list[Maintained]:
    """Maintain every table of ``catalog``; ``zorder`` names the columns a table's files are
    kept in ranges of (``layer.table`` → columns), as its first write laid them out."""
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
            done_ = io.maintain_table(spark, path, settings.retention_properties(), days * 24, optimize,
                                      (zorder or {}).get(f"{layer}.{name}", ()))
            done.append(Maintained(f"{layer}.{name}", done_.files_removed, done_.files_added, days))
    return done
