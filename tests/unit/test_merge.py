"""io.merge_by_hash's pre-filter: the source's key range cuts the target by file statistics."""

from __future__ import annotations

from pyspark.sql import functions as F

from receivables import io


def _table(spark, path: str, *ranges: tuple[int, int]) -> None:
    """One Delta file per id range; every row hashed "h<id>"."""
    for low, high in ranges:
        (
            spark.range(low, high + 1)
            .select(
                F.col("id").alias("invoice_id"),
                F.concat(F.lit("h"), F.col("id").cast("string")).alias("_row_hash"),
            )
            .coalesce(1).write.format("delta").mode("append").save(path)
        )


def _source(spark, rows: list[tuple[int, str]]):
    return spark.createDataFrame(rows, "invoice_id long, _row_hash string")


def test_key_range_reads_only_files_that_can_hold_the_sources_keys(spark, tmp_path):
    path = str(tmp_path / "t")
    _table(spark, path, (1, 100), (101, 200))
    target = io.read(spark, path)
    assert len(target.inputFiles()) == 2
    ranged = io.key_range(target, _source(spark, [(150, "x"), (160, "y")]), "invoice_id")
    assert len(ranged.inputFiles()) == 1  # ids 1–100 cannot match 150–160
    assert sorted(r[0] for r in ranged.select("invoice_id").collect()) == list(range(150, 161))
    # new ids above every stored one: no stored file is read
    assert io.key_range(target, _source(spark, [(201, "x")]), "invoice_id").inputFiles() == []
    # a string key or an empty source leaves the target whole
    as_text = _source(spark, [(150, "x")]).select(F.col("invoice_id").cast("string").alias("invoice_id"))
    assert io.key_range(target, as_text, "invoice_id") is target
    assert io.key_range(target, _source(spark, []), "invoice_id") is target


def test_new_rows_above_the_stored_range_are_appended_and_changes_still_merge(spark, tmp_path):
    path = str(tmp_path / "t")
    _table(spark, path, (1, 100), (101, 200))
    # 201 and 202 are new: appended without a MERGE
    metrics = io.merge_by_hash(spark, _source(spark, [(201, "h201"), (202, "h202")]), path, ["invoice_id"])
    assert (metrics.inserted, metrics.updated) == (2, 0)
    # 5 changed, 150 unchanged, 203 new: the range 5–203 spans every file, one MERGE
    batch = _source(spark, [(5, "changed"), (150, "h150"), (203, "h203")])
    metrics = io.merge_by_hash(spark, batch, path, ["invoice_id"])
    assert (metrics.inserted, metrics.updated) == (1, 1)
    rows = dict(io.read(spark, path).select("invoice_id", "_row_hash").collect())
    assert len(rows) == 203
    assert (rows[5], rows[150], rows[201], rows[203]) == ("changed", "h150", "h201", "h203")
    # the same batch again changes nothing and makes no commit
    before = io.version(spark, path)
    assert io.merge_by_hash(spark, batch, path, ["invoice_id"]).changed == 0
    assert io.version(spark, path) == before


def _files_written(spark, path: str) -> int:
    metrics = io.last_commit(spark, path).metrics
    return int(metrics.get("numTargetFilesAdded", metrics.get("numFiles", 0)))


def test_a_small_batch_is_written_as_one_file_whatever_its_partitions(spark, tmp_path, monkeypatch):
    path = str(tmp_path / "t")
    _table(spark, path, (1, 100))
    new = _source(spark, [(i, f"h{i}") for i in range(101, 141)]).repartition(4)
    assert new.rdd.getNumPartitions() == 4
    assert io.merge_by_hash(spark, new, path, ["invoice_id"]).inserted == 40  # an append
    assert _files_written(spark, path) == 1
    mixed = _source(spark, [(7, "changed")] + [(i, f"h{i}") for i in range(141, 161)]).repartition(4)
    metrics = io.merge_by_hash(spark, mixed, path, ["invoice_id"])  # a MERGE
    assert (metrics.inserted, metrics.updated) == (20, 1)
    assert _files_written(spark, path) == 1
    assert spark.conf.get(io.OPTIMIZE_WRITE_CONF, "false") == "false"  # only inside the write
    # above the size limit a batch keeps its partitions: the same kind of append, 4 files
    monkeypatch.setattr(io, "SMALL_WRITE_ROWS", 10)
    more = _source(spark, [(i, f"h{i}") for i in range(161, 201)]).repartition(4)
    assert io.merge_by_hash(spark, more, path, ["invoice_id"]).inserted == 40
    assert _files_written(spark, path) > 1
    assert io.read(spark, path).count() == 200
