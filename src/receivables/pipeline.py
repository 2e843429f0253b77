"""One run of the lakehouse: bronze → silver → gold, then the run log.

The orchestration lives here; each layer's rules live in its own modules and every Delta
read or write goes through ``receivables.io``. A run takes its as-of date, run id and
clock reading as parameters, so any run can be reproduced.
"""

from __future__ import annotations

from pyspark.sql import functions as F

from receivables import io
from receivables.bronze.update import ingest_bronze
from receivables.catalog import CATALOG, PUBLISHED
from receivables.errors import InputFileError, InputFilesError, MissingInputError, ReceivablesError
from receivables.gold.update import buckets_change, update_gold
from receivables.ops import controls, faults, recovery, watermarks
from receivables.ops.run_log import RunRecord
from receivables.progress import Steps
from receivables.run import RunContext, RunResult, Scope
from receivables.silver.update import update_silver

__all__ = ["CATALOG", "RunContext", "RunResult", "Scope", "execute", "write_run_log"]


def execute(ctx: RunContext, scope: Scope | None = None) -> RunResult:
    """Run the pipeline and write the run-log row. The caller holds the output's lock
    (``ops.lock.run_lock``; the CLI takes it before Spark starts).

    A run that fails after it started to write gold (its controls do not reconcile, or
    anything else goes wrong) restores gold and the watermarks to the versions it found,
    so readers never see the gold of a failed run.
    """
    scope = scope or Scope()
    record = RunRecord(ctx.run_id, ctx.command, ctx.as_of, ctx.started_at, steps=Steps(emit=ctx.on_step))
    faults.start_run()
    with io.tagged_commits(ctx.spark, ctx.run_id, as_of=ctx.as_of.isoformat(), command=ctx.command):
        status, error, rejected = "succeeded", None, False
        found: dict[tuple[str, str], int] = {}
        try:
            with record.step("recovery"):
                _set_aside_uncommitted(ctx, record)
                abandoned = recovery.find_abandoned(ctx, CATALOG)
                recovery.settle(ctx, abandoned, record)
                found = {t: io.version(ctx.spark, ctx.path(*t)) for t in PUBLISHED}
            new_buckets = buckets_change(ctx, scope)  # before anything is written
            ingested = None
            if ctx.input_dir is None:
                record.skip("bronze", f"no files read ({ctx.command})")
            else:
                with record.step("bronze"):
                    ingested = ingest_bronze(ctx, record)
            marks = watermarks.read_all(ctx.spark, ctx.path("ops", "watermarks"))
            silver_marks = update_silver(ctx, record, scope, marks, ingested)
            update_gold(ctx, record, scope, marks, silver_marks,
                        rebuild=any(r.touched_gold for r in abandoned), new_buckets=new_buckets)
            faults.after("gold")
            with record.step("controls") as said:
                said.append(controls.reconcile(ctx, record))
            stale = controls.staleness(ctx.as_of, record)
            if stale:
                record.notes.append(stale)
        except ReceivablesError as exc:
            status, error = "failed", str(exc) + _unpublish(ctx, record, found)
            rejected = isinstance(exc, (InputFileError, InputFilesError, MissingInputError))
        except Exception as exc:  # recorded, then re-raised for the caller to report
            status, error = "failed", f"{type(exc).__name__}: {exc}"
            try:
                error += _unpublish(ctx, record, found)
                write_run_log(ctx, record, status, error)
            except Exception as again:  # e.g. the disk is still full: the next run settles it
                exc.add_note(f"the failed run could not be logged either: {type(again).__name__}")
            raise
        write_run_log(ctx, record, status, error)
    result = RunResult(record, status, error, input_rejected=rejected)
    if status == "succeeded":
        result.summary = controls.summary(record)
    return result


def _set_aside_uncommitted(ctx: RunContext, record: RunRecord) -> None:
    """Move every table folder that holds no committed version (``io.uncommitted``: a
    first write that died, e.g. on a full disk) out of the way, and say so in the run's
    notes; the run then creates that table anew."""
    stamp = ctx.started_at.strftime("%Y%m%dT%H%M%S")
    for layer, names in CATALOG.items():
        for name in names:
            path = ctx.path(layer, name)
            if io.uncommitted(ctx.spark, path):
                moved = io.set_aside(ctx.spark, path, stamp)
                record.notes.append(
                    f"{layer}.{name} has files but no committed version (a write that did not "
                    f"finish, e.g. on a full disk); moved to {moved} and written anew"
                )


def _unpublish(ctx: RunContext, record: RunRecord, found: dict[tuple[str, str], int]) -> str:
    """Put every published table this run changed back to the version it found; returns
    a sentence for the run's error saying so (empty when nothing had moved)."""
    put_back = []
    for table, before in found.items():
        path = ctx.path(*table)
        if io.version(ctx.spark, path) == before:
            continue
        if before >= 0:
            io.restore(ctx.spark, path, before)
        else:  # created by this run: left empty, as it was absent
            io.delete_where(ctx.spark, path, F.lit(True))
        put_back.append(".".join(table))
    record.count("gold.restored_tables", len(put_back))
    if not put_back:
        return ""
    return f" (restored {', '.join(put_back)} to the versions before this run; gold is unchanged)"


def write_run_log(ctx: RunContext, record: RunRecord, status: str, error: str | None) -> None:
    """Append the run's row to ops.run_log, with every table's version after the run."""
    record.table_versions = table_versions(ctx)
    finished = ctx.clock()
    io.append(
        record.to_frame(ctx.spark, status, max(finished, ctx.started_at), error),
        ctx.path("ops", "run_log"),
        ctx.props("ops"),
    )


def table_versions(ctx: RunContext) -> dict[str, int]:
    out = {}
    for layer, names in CATALOG.items():
        for name in names:
            if (layer, name) == ("ops", "run_log"):
                continue
            v = io.version(ctx.spark, ctx.path(layer, name))
            if v >= 0:
                out[f"{layer}.{name}"] = v
    return out
