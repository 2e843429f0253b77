"""The bronze step of a run: survey the input, check every new file, append, record."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
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


@dataclass
class Manifest:
    """What ``ops.file_manifest`` says of the files bronze holds."""

    known: set[tuple[str, str]] = field(default_factory=set)  # (entity, checksum) counted
    orphans: set[tuple[str, str]] = field(default_factory=set)  # appended by a killed run
    last_by_name: dict[tuple[str, str], str] = field(default_factory=dict)  # (entity, file) -> checksum
    recorded: dict[tuple[str, str, int, int], bronze_files.Recorded] = field(default_factory=dict)


@dataclass
class Delivery:
    """One delivered file and what this run does with it."""

    facts: bronze_files.FileFacts
    rel: str  # path under the input directory
    action: str  # ingested, recovered, skipped_identical
    replaces: str | None  # checksum of the earlier file of the same name


def read_manifest(ctx: RunContext) -> Manifest:
    path = ctx.path("ops", "file_manifest")
    if not io.is_table(ctx.spark, path):
        return Manifest()
    rows = io.read(ctx.spark, path).select(
        "entity", "source_file", "checksum", "size_bytes", "records", "multiline", "has_bom", "modified_ns", "action",
    ).collect()
    counted = [r for r in rows if r["action"] in COUNTED]
    return Manifest(
        known={(r["entity"], r["checksum"]) for r in counted},
        orphans={(r["entity"], r["checksum"]) for r in rows if r["action"] == ORPHANED},
        last_by_name={(r["entity"], r["source_file"]): r["checksum"] for r in counted},
        recorded={
            (r["entity"], r["source_file"], r["size_bytes"], r["modified_ns"]):
                bronze_files.Recorded(r["checksum"], r["records"], r["multiline"], r["has_bom"])
            for r in counted if r["modified_ns"] is not None
        },
    )


def sort_deliveries(facts: list[bronze_files.FileFacts], root: Path, manifest: Manifest) -> list[Delivery]:
    """Each file's action: a checksum bronze holds is ``skipped_identical``; one a killed
    run appended (orphaned) is ``recovered`` without appending its rows twice; any other
    is ``ingested`` (once, however many times this delivery repeats it)."""
    out: list[Delivery] = []
    seen: set[tuple[str, str]] = set()
    for f in facts:
        rel = str(Path(f.path).resolve().relative_to(root))
        key = (f.entity, f.checksum)
        if key in manifest.known or key in seen:
            action = "skipped_identical"
        else:
            action = "recovered" if key in manifest.orphans else "ingested"
            seen.add(key)
        previous = manifest.last_by_name.get((f.entity, rel))
        replaces = previous if previous and previous != f.checksum and action != "skipped_identical" else None
        out.append(Delivery(f, rel, action, replaces))
    return out


@dataclass(frozen=True)
class Ingested:
    """What the bronze step hands silver: per entity, the checksums of files whose rows an
    earlier, killed run had appended without recording them (silver reads those rows again),
    and the checksums of every file whose rows count (``ops.manifest.COUNTED``) after this
    run's appends: the manifest as silver would read it, without a second read."""

    recovered: dict[str, list[str]]
    counted: dict[str, list[str]]


def ingest_bronze(ctx: RunContext, record: RunRecord) -> Ingested:
    """Append every file not ingested before; identical re-deliveries are no-ops.

    Every file is checked before anything is written (the plain-Python pre-pass of every
    file, then Spark's read of every new file against it): bad files stop the run with one
    message naming each of them, and no table changes. Files under the input directory
    that are no extract are named in the run log with the reason they were skipped.
    Returns what silver needs of the manifest (``Ingested``).
    """
    assert ctx.input_dir is not None
    found, problems = bronze_files.survey(ctx.input_dir)
    root = Path(ctx.input_dir).resolve()
    manifest = read_manifest(ctx)

    def facts_of(d: bronze_files.DeliveredFile) -> bronze_files.FileFacts:
        if os.fspath(d.path) in ctx.inspected:
            return ctx.inspected[os.fspath(d.path)]
        rel = str(d.path.resolve().relative_to(root))
        return bronze_files.facts_for(d, rel, manifest.recorded, ctx.settings.reread_unchanged_files)

    deliveries = sort_deliveries(bronze_files.inspect_all(found.delivered, facts_of, problems), root, manifest)
    new: dict[str, list[bronze_files.FileFacts]] = {}
    recovered: dict[str, list[str]] = {}
    for d in deliveries:
        if d.action == "ingested":
            new.setdefault(d.facts.entity, []).append(d.facts)
        elif d.action == "recovered":
            recovered.setdefault(d.facts.entity, []).append(d.facts.checksum)
    _append(ctx, record, new)
    _record(ctx, record, deliveries, found.skipped)
    counted: dict[str, set[str]] = {}
    for entity, checksum in manifest.known | {(d.facts.entity, d.facts.checksum) for d in deliveries
                                              if d.action in COUNTED}:
        counted.setdefault(entity, set()).add(checksum)
    return Ingested(recovered, {entity: sorted(sums) for entity, sums in counted.items()})


def _append(ctx: RunContext, record: RunRecord, new: dict[str, list[bronze_files.FileFacts]]) -> None:
    """Read and check every entity's new files, then append them, entity by entity."""
    assert ctx.input_dir is not None
    staging = Path(tempfile.mkdtemp(prefix="receivables-staging-", dir=ctx.settings.staging_dir))
    try:
        # Every entity is read and checked before the first append, so a refused file
        # leaves every table as it was.
        frames = {
            name: read_delivered(
                ctx.spark, BY_NAME[name], files, ctx.input_dir, staging, ctx.run_id, ctx.as_of, ctx.started_at
            )
            for name, files in sorted(new.items(), key=lambda kv: ENTITY_ORDER[kv[0]])
        }
        for each in ENTITIES:
            io.ensure_table(
                ctx.spark, ctx.path("bronze", each.name), bronze_schema(each),
                ctx.props("bronze") | {"delta.enableChangeDataFeed": "true"},
            )
        for name, df in frames.items():
            path = ctx.path("bronze", name)
            with faults.during(f"bronze.{name}", path):
                io.append(df, path)
            faults.after(f"bronze.{name}")
            record.count(f"bronze.{name}.rows_appended", sum(f.records for f in new[name]))
    finally:
        ctx.spark.catalog.clearCache()
        shutil.rmtree(staging, ignore_errors=True)


def _record(
    ctx: RunContext, record: RunRecord, deliveries: list[Delivery], skipped: list[bronze_files.SkippedFile]
) -> None:
    """The manifest rows of what reached bronze (one commit; none on a night with nothing
    new), and every file, read or skipped, in the run log's inputs."""
    rows = [
        (d.facts.entity, d.rel, d.facts.checksum, d.facts.size_bytes, d.facts.records, d.facts.multiline,
         d.facts.has_bom, d.action, d.replaces, ctx.run_id, ctx.as_of, ctx.started_at, d.facts.modified_ns)
        for d in deliveries if d.action != "skipped_identical"
    ]
    if rows:
        io.append(io.local_frame(ctx.spark, rows, MANIFEST_SCHEMA), ctx.path("ops", "file_manifest"), ctx.props("ops"))
    for d in deliveries:
        record.inputs.append((d.facts.entity, d.rel, d.facts.checksum, d.facts.records, d.action, None))
        record.count(f"files.{d.action}", 1)
        if d.facts.blank_lines and d.action == "ingested":
            record.count(f"bronze.{d.facts.entity}.blank_lines", d.facts.blank_lines)
    for f in skipped:
        record.inputs.append((None, f.rel, None, None, "skipped", f.reason))
        record.count("files.skipped", 1)
