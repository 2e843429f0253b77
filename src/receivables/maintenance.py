"""``receivables maintain`` as a run: OPTIMIZE and VACUUM every table (``ops.maintain``)
under the caller's lock, its commits tagged with the run id, one ``ops.run_log`` row."""

from __future__ import annotations

from receivables import io
from receivables.catalog import CATALOG
from receivables.gold import invoice_aging
from receivables.ops import maintain as ops_maintain
from receivables.ops.run_log import RunRecord
from receivables.pipeline import write_run_log
from receivables.progress import Steps
from receivables.run import RunContext, RunResult


def maintain(ctx: RunContext, retain_days: int | None, optimize: bool) -> RunResult:
    """Maintain every table and log the run with what it compacted. A retention inside the
    audit window is refused before any change (and no run is logged)."""
    record = RunRecord(ctx.run_id, ctx.command, ctx.as_of, ctx.started_at, steps=Steps(emit=ctx.on_step))
    status, error = "succeeded", None
    with io.tagged_commits(ctx.spark, ctx.run_id, as_of=ctx.as_of.isoformat(), command=ctx.command):
        try:
            done = ops_maintain.maintain(ctx.spark, ctx.settings, ctx.output_dir, CATALOG, retain_days, optimize,
                                         {"gold.invoice_aging": invoice_aging.LAYOUT.cluster_by})
            for m in done:
                record.count(f"maintain.{m.table}.files_removed", m.files_removed)
                record.count(f"maintain.{m.table}.files_added", m.files_added)
            record.count("maintain.tables", len(done))
            record.count("maintain.retain_days", done[0].retain_days if done else 0)
        except ops_maintain.AuditWindowError:
            raise  # refused before anything changed: no run took place
        except Exception as exc:
            write_run_log(ctx, record, "failed", f"{type(exc).__name__}: {exc}")
            raise
        write_run_log(ctx, record, status, error)
    return RunResult(record, status, error)
