"""The bronze step of a run: survey the input, check every new file, append, record."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from receivables import io
from receivables.bronze import files as bronze_files
from receivables.bronze.ingest import bronze_schema, read_delivered
from receivables.entities import BY_NAME, ENTITIES
from receivables.ops import faults
from receivables.ops.manifest import COUNTED, MANIFEST_SCHEMA, ORPHANED
from receivables.ops.run_log import RunRecord
from receivables.run import RunContext

ENTITY_ORDER = {e.name: i for i, e in enumerate(ENTITIES)}


def ingest_bronze(ctx: RunContext, record: RunRecord) -> dict[str, list[str]]:
    """Append every file not ingested before; identical re-deliveries are no-ops.

    Every file is checked before anything is written (the plain-Python pre-pass of every
    file, then Spark's read of every new file against it): bad files stop the run with one
    message naming each of them, and no table changes. Files under the input directory
    that are no extract are named in the run log with the reason they were skipped.
    Returns the checksums per entity of files whose rows an earlier, killed run had
    appended without recording them: silver reads those rows again.
    """
    assert ctx.input_dir is not None
    found, problems = bronze_files.survey(ctx.input_dir)
    root = Path(ctx.input_dir).resolve()
    manifest_path = ctx.path("ops", "file_manifest")
    manifest, orphans = [], set()
    if io.is_table(ctx.spark, manifest_path):
        everything = io.read(ctx.spark, manifest_path).select(
            "entity", "source_file", "checksum", "size_bytes", "records", "multiline", "has_bom", "modified_ns",
            "action",
        ).collect()
        manifest = [r for r in everything if r["action"] in COUNTED]
        orphans = {(r["entity"], r["checksum"]) for r in everything if r["action"] == ORPHANED}
    known = {(r["entity"], r["checksum"]) for r in manifest}
    last_by_name = {(r["entity"], r["source_file"]): r["checksum"] for r in manifest}
    recorded = {
        (r["entity"], r["source_file"], r["size_bytes"], r["modified_ns"]):
            bronze_files.Recorded(r["checksum"], r["records"], r["multiline"], r["has_bom"])
        for r in manifest if r["modified_ns"] is not None
    }

    def rel_of(path: str | Path) -> str:
        return str(Path(path).resolve().relative_to(root))

    def facts_of(d: bronze_files.DeliveredFile) -> bronze_files.FileFacts:
        return bronze_files.facts_for(d, rel_of(d.path), recorded, ctx.settings.reread_unchanged_files)

    all_facts = bronze_files.inspect_all(found.delivered, facts_of, problems)

    rows = []
    by_entity: dict[str, list[bronze_files.FileFacts]] = {}
    seen: set[tuple[str, str]] = set()
    for f in all_facts:
        rel = rel_of(f.path)
        key = (f.entity, f.checksum)
        if key in known or key in seen:
            action = "skipped_identical"
        else:
            action = "ingested"
            seen.add(key)
            by_entity.setdefault(f.entity, []).append(f)
        previous = last_by_name.get((f.entity, rel))
        replaces = previous if previous and previous != f.checksum and action == "ingested" else None
        rows.append((f, rel, action, replaces))

    # Rows a killed run appended without recording their file (``ops.recovery`` listed
    # them as orphaned): the file is delivered again, so its rows count from now on,
    # without appending them twice.
    recovered: dict[str, list[str]] = {}
    for entity, new in by_entity.items():
        back = sorted({f.checksum for f in new if (entity, f.checksum) in orphans})
        if back:
            recovered[entity] = back
            by_entity[entity] = [f for f in new if f.checksum not in back]
            rows = [
                (f, rel, "recovered" if f.entity == entity and f.checksum in back and a == "ingested" else a, rep)
                for f, rel, a, rep in rows
            ]

    staging = Path(tempfile.mkdtemp(prefix="receivables-staging-", dir=ctx.settings.staging_dir))
    try:
        # Read and check every entity's new files before the first append, so a refused
        # file leaves every table as it was.
        frames = {
            name: read_delivered(
                ctx.spark, BY_NAME[name], new, ctx.input_dir, staging, ctx.run_id, ctx.as_of, ctx.started_at
            )
            for name, new in sorted(by_entity.items(), key=lambda kv: ENTITY_ORDER[kv[0]]) if new
        }
        for each in ENTITIES:
            io.ensure_table(
                ctx.spark, ctx.path("bronze", each.name), bronze_schema(each),
                ctx.props("bronze") | _cdf(),
            )
        for entity_name, df in frames.items():
            path = ctx.path("bronze", entity_name)
            with faults.during(f"bronze.{entity_name}", path):
                io.append(df, path)
            faults.after(f"bronze.{entity_name}")
            record.count(f"bronze.{entity_name}.rows_appended", sum(f.records for f in by_entity[entity_name]))
    finally:
        ctx.spark.catalog.clearCache()
        shutil.rmtree(staging, ignore_errors=True)

    # The manifest lists what reached bronze; skipped files are in the run log's inputs, so
    # a night with nothing new makes no manifest commit.
    manifest_rows = [
        (f.entity, rel, f.checksum, f.size_bytes, f.records, f.multiline, f.has_bom,
         action, replaces, ctx.run_id, ctx.as_of, ctx.started_at, f.modified_ns)
        for f, rel, action, replaces in rows if action != "skipped_identical"
    ]
    if manifest_rows:
        # One file per night (a local list is split over the default parallelism).
        rows_df = ctx.spark.createDataFrame(manifest_rows, MANIFEST_SCHEMA).coalesce(1)
        io.append(rows_df, manifest_path, ctx.props("ops"))
    for f, rel, action, _ in rows:
        record.inputs.append((f.entity, rel, f.checksum, f.records, action, None))
        record.count(f"files.{action}", 1)
        if f.blank_lines and action == "ingested":
            record.count(f"bronze.{f.entity}.blank_lines", f.blank_lines)
    for skipped in found.skipped:
        record.inputs.append((None, skipped.rel, None, None, "skipped", skipped.reason))
        record.count("files.skipped", 1)
    return recovered


def _cdf() -> dict[str, str]:
    return {"delta.enableChangeDataFeed": "true"}
