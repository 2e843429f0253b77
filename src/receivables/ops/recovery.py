"""Runs that died before their run-log row: found, logged as abandoned, their traces settled.

Every commit a run makes carries its run id (``io.tagged_commits``). Runs hold the output
lock, so when the next run starts, the commits of a run that was killed (SIGKILL, lost
machine) are still the latest commits of the tables it touched. A run id found there but
missing from ``ops.run_log`` is such a run. The next run then:

- appends an ``abandoned`` row for it to ``ops.run_log`` (the table versions it left, when
  it committed them), so every run id that appears in any table is in the run log;
- deletes that run's rows from ``gold.account_receivables_history`` (a snapshot of a run
  that never finished is not an audit record; Delta's own history still has it);
- asks for a full gold recompute when it had committed to gold, because gold's incremental
  scope is derived from the watermarks that run never saved;
- records, in ``ops.file_manifest`` with action ``orphaned``, the files whose rows it had
  appended to bronze before its manifest row: those rows stay out of silver until the
  same file is delivered again (then it is ``recovered``, its rows counted, not re-appended).

Everything else converges by itself: bronze re-delivery is guarded by file checksums,
silver MERGEs are idempotent by row hash and re-read from unadvanced watermarks.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from receivables import io
from receivables.ops.manifest import MANIFEST_SCHEMA, ORPHANED
from receivables.ops.run_log import RunRecord

if TYPE_CHECKING:
    from receivables.run import RunContext

HISTORY = ("gold", "account_receivables_history")
MANIFEST = ("ops", "file_manifest")


@dataclass
class Abandoned:
    run_id: str
    command: str
    as_of: dt.date
    first_commit: dt.datetime
    last_commit: dt.datetime
    table_versions: dict[str, int] = field(default_factory=dict)

    @property
    def touched_gold(self) -> bool:
        return any(t.startswith("gold.") for t in self.table_versions)


def find_abandoned(ctx: RunContext, catalog: dict[str, list[str]]) -> list[Abandoned]:
    """Runs whose commits are the latest of some table but that have no run-log row.

    A run's run-log row is its last write, so a table's latest commit that is newer than
    the run log's latest commit can only come from a run that died first. Only then is
    the run log read to confirm (the usual night reads no table here, just commit files).
    """
    log_commit = io.last_commit(ctx.spark, ctx.path("ops", "run_log"))
    candidates: list[tuple[str, str, io.Commit, dict[str, str]]] = []
    for layer, names in catalog.items():
        for name in names:
            if (layer, name) == ("ops", "run_log"):
                continue
            commit = io.last_commit(ctx.spark, ctx.path(layer, name))
            if commit is None or not commit.user_metadata:
                continue
            if log_commit is not None and commit.timestamp <= log_commit.timestamp:
                continue
            try:
                meta = json.loads(commit.user_metadata)
            except ValueError:
                continue
            if meta.get("run_id") and meta["run_id"] != ctx.run_id:
                candidates.append((layer, name, commit, meta))
    if not candidates:
        return []
    logged = (
        {r[0] for r in io.read(ctx.spark, ctx.path("ops", "run_log")).select("run_id").collect()}
        if log_commit is not None else set()
    )
    found: dict[str, Abandoned] = {}
    for layer, name, commit, meta in candidates:
        run_id = meta["run_id"]
        if run_id in logged:
            continue
        run = found.setdefault(
            run_id,
            Abandoned(run_id, meta.get("command", "unknown"),
                      dt.date.fromisoformat(meta.get("as_of", ctx.as_of.isoformat())),
                      commit.timestamp, commit.timestamp),
        )
        run.table_versions[f"{layer}.{name}"] = commit.version
        run.first_commit = min(run.first_commit, commit.timestamp)
        run.last_commit = max(run.last_commit, commit.timestamp)
    return sorted(found.values(), key=lambda r: r.first_commit)


def settle(ctx: RunContext, runs: list[Abandoned], record: RunRecord) -> None:
    """Log each abandoned run and drop its unfinished audit snapshot."""
    history_path = ctx.path(*HISTORY)
    for run in runs:
        if f"{HISTORY[0]}.{HISTORY[1]}" in run.table_versions:
            io.delete_where(
                ctx.spark, history_path,
                (F.col("as_of_date") == F.lit(run.as_of)) & (F.col("run_id") == F.lit(run.run_id)),
            )
        _record_orphans(ctx, run)
        row = RunRecord(run.run_id, run.command, run.as_of, run.first_commit)
        row.table_versions = dict(run.table_versions)
        io.append(
            row.to_frame(
                ctx.spark, "abandoned", run.last_commit,
                f"stopped before writing its run-log row (killed or crashed); found and settled by run {ctx.run_id}",
            ),
            ctx.path("ops", "run_log"),
            ctx.props("ops"),
        )
        record.count("recovery.abandoned_runs", 1)


def _record_orphans(ctx: RunContext, run: Abandoned) -> None:
    """List the files whose rows ``run`` appended to bronze without a manifest row."""
    path = ctx.path(*MANIFEST)
    known = (
        io.read(ctx.spark, path).select("entity", F.col("checksum").alias("_file_checksum"))
        if io.is_table(ctx.spark, path) else None
    )
    for table, v in run.table_versions.items():
        layer, entity = table.split(".")
        if layer != "bronze":
            continue
        appended = io.changes(ctx.spark, ctx.path(layer, entity), v - 1, until=v)
        if appended is None:
            continue
        files = appended.groupBy("_source_file", "_file_checksum").agg(F.count(F.lit(1)).alias("records"))
        if known is not None:
            files = files.join(known.filter(F.col("entity") == entity).drop("entity"), "_file_checksum", "left_anti")
        rows = [
            (entity, r["_source_file"], r["_file_checksum"], -1, int(r["records"]), False, False, ORPHANED,
             None, run.run_id, run.as_of, run.last_commit, None)
            for r in files.collect()
        ]
        if rows:
            io.append(io.local_frame(ctx.spark, rows, MANIFEST_SCHEMA), path, ctx.props("ops"))
