"""Reference jobs for `make bench` (scripts/bench.py), in the same Spark set-up as the pipeline.

  session   start a Spark + Delta session and stop it
  floor     read every CSV and write it as Parquet, nothing else
  baseline  the hand-rolled approach: read the CSVs, compute aging, overwrite Parquet
  layers    the same job through three Delta layers (bronze strings, silver typed, gold)
  night     on the output of `layers`, the least a Delta night can do: the night's files
            appended to bronze, MERGEd or appended into silver, the invoices they touch and
            every open invoice aged again from silver and MERGEd into gold, their accounts
            rolled up and MERGEd (8 commits; no validation, lineage, checks, audit or run log)
  commits   read N one-row Delta tables and append one row to each: the fixed cost of N
            Delta commits with no data behind them (a run's floor); --setup creates them
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

from delta.tables import DeltaTable
from pyspark.sql import functions as F

from receivables.config import load_settings
from receivables.spark import build_session

ENTITIES = ["accounts", "skus", "invoices", "invoice_line_items", "payments"]


def _read_csv(spark, paths: list[Path], multiline: bool = False):
    return (spark.read.option("header", True).option("multiLine", multiline).option("escape", '"')
            .csv([str(p) for p in paths]))


def _csv(spark, folder: Path, entity: str, multiline: bool = False):
    paths = [p for p in [folder / f"{entity}.csv", *sorted((folder / entity).glob("*.csv"))] if p.exists()]
    return _read_csv(spark, paths, multiline)


def floor(spark, src: Path, out: Path) -> None:
    for entity in ENTITIES:
        _csv(spark, src, entity, multiline=entity == "accounts").write.mode("overwrite").parquet(str(out / entity))


def typed(read) -> dict:
    """The five entities typed as the plain job types them; ``read(entity, multiline)``
    gives an entity's string columns."""
    money = "decimal(18,2)"
    return {
        "accounts": read("accounts", True).select(
            F.col("account_id").cast("long").alias("account_id"), "company_name",
            F.col("payment_terms_days").cast("int").alias("terms")),
        "skus": read("skus", False).select("item_id", F.col("item_retail_price").cast(money).alias("price")),
        "invoices": read("invoices", False).select(
            F.col("invoice_id").cast("long").alias("invoice_id"), F.col("account_id").cast("long").alias("account_id"),
            F.to_date("date_issued").alias("date_issued"), F.to_date("due_date").alias("due_date"),
            F.to_date("payment_dates").alias("paid_on")).dropDuplicates(["invoice_id"]),
        "invoice_line_items": read("invoice_line_items", False).select(
            F.col("invoice_id").cast("long").alias("invoice_id"), "item_id", F.col("quantity").cast("int").alias("q")),
        "payments": read("payments", False).select(
            F.col("invoice_id").cast("long").alias("invoice_id"), F.to_date("payment_date").alias("d"),
            F.col("amount").cast(money).alias("amount")),
    }


def aging_of(t: dict, as_of: dt.date):
    money = "decimal(18,2)"
    lit = F.lit(as_of)
    totals = t["invoice_line_items"].join(F.broadcast(t["skus"]), "item_id").groupBy("invoice_id").agg(
        F.sum(F.col("q") * F.col("price")).cast(money).alias("total"))
    paid = t["payments"].filter(F.col("d") <= lit).groupBy("invoice_id").agg(F.sum("amount").alias("paid"))
    return (
        t["invoices"].filter(F.col("date_issued") <= lit).join(totals, "invoice_id", "left")
        .join(paid, "invoice_id", "left")
        .join(F.broadcast(t["accounts"].select("account_id", "terms")), "account_id", "left")
        .withColumn("total", F.coalesce("total", F.lit(0).cast(money)))
        .withColumn("paid", F.coalesce("paid", F.lit(0).cast(money))
                    + F.when(F.col("paid_on") <= lit, F.col("total")).otherwise(0))
        .withColumn("due_date", F.coalesce("due_date", F.date_add("date_issued", F.coalesce("terms", F.lit(30)))))
        .withColumn("outstanding", F.greatest(F.col("total") - F.col("paid"), F.lit(0)))
        .withColumn("days_past_due", F.when((F.col("outstanding") > 0) & (F.datediff(lit, "due_date") > 0),
                                            F.datediff(lit, "due_date")).otherwise(0))
    )


def accounts_of(aging, accounts):
    return aging.groupBy("account_id").agg(
        F.sum("outstanding").alias("unpaid_total"),
        F.count(F.when(F.col("outstanding") > 0, 1)).alias("open_invoices"),
        F.max("days_past_due").alias("max_days_past_due"),
    ).join(accounts.select("account_id", "company_name"), "account_id", "left")


def baseline(spark, src: Path, out: Path, as_of: dt.date) -> None:
    t = typed(lambda entity, multiline: _csv(spark, src, entity, multiline))
    aging_of(t, as_of).write.mode("overwrite").parquet(str(out / "invoice_aging"))
    aging = spark.read.parquet(str(out / "invoice_aging"))
    accounts_of(aging, t["accounts"]).write.mode("overwrite").parquet(str(out / "account_receivables"))


def layers(spark, src: Path, out: Path, as_of: dt.date) -> None:
    """The plain job with three Delta layers: the CSVs as strings with their source file
    (bronze), typed as the plain job types them (silver; invoices de-duplicated by id), aging
    and accounts (gold). No validation, no MERGE, no checks."""
    def delta(df, path: Path) -> None:
        df.write.format("delta").mode("overwrite").save(str(path))

    for entity in ENTITIES:
        delta(_csv(spark, src, entity, multiline=entity == "accounts").withColumn("_source", F.input_file_name()),
              out / "bronze" / entity)
    bronze = typed(lambda entity, _: spark.read.format("delta").load(str(out / "bronze" / entity)))
    for entity, df in bronze.items():
        delta(df, out / "silver" / entity)
    t = {entity: spark.read.format("delta").load(str(out / "silver" / entity)) for entity in ENTITIES}
    delta(aging_of(t, as_of), out / "gold" / "invoice_aging")
    aging = spark.read.format("delta").load(str(out / "gold" / "invoice_aging"))
    delta(accounts_of(aging, t["accounts"]), out / "gold" / "account_receivables")


def night(spark, src: Path, day: str, out: Path, as_of: dt.date) -> None:
    """A night on the output of ``layers`` with as little work as a Delta night can do: each
    of the night's files (``<entity>/<day>.csv``) appended to its bronze table, typed and
    MERGEd (invoices, by id) or appended (line items, payments) into silver, the invoices
    they touch and every open invoice (their days past due move with as-of) aged again from
    silver and MERGEd into gold, and the accounts of those invoices rolled up again and
    MERGEd. One commit per table written, nothing else: the floor under a pipeline's night."""
    def path(layer: str, entity: str) -> str:
        return str(out / layer / entity)

    started = [time.monotonic()]

    def step(name: str) -> None:  # where the time goes, in the case's log
        now = time.monotonic()
        print(f"  {name:<28} {now - started[0]:6.1f} s", file=sys.stderr, flush=True)
        started[0] = now

    def merge(source, layer: str, entity: str, key: str) -> None:
        (DeltaTable.forPath(spark, path(layer, entity)).alias("t")
         .merge(source.alias("s"), f"t.{key} = s.{key}")
         .whenMatchedUpdateAll().whenNotMatchedInsertAll().execute())

    files = {e: src / e / f"{day}.csv" for e in ["invoices", "invoice_line_items", "payments"]}
    delivered = {e: _read_csv(spark, [f]) for e, f in files.items() if f.exists()}
    for entity, df in delivered.items():
        df.withColumn("_source", F.input_file_name()).write.format("delta").mode("append").save(
            path("bronze", entity))
    step("bronze (3 appends)")
    new = typed(lambda entity, _: delivered[entity] if entity in delivered
                else spark.read.format("delta").load(path("bronze", entity)))
    merge(new["invoices"], "silver", "invoices", "invoice_id")
    for entity in ["invoice_line_items", "payments"]:
        new[entity].write.format("delta").mode("append").save(path("silver", entity))
    step("silver (MERGE, 2 appends)")

    aging = spark.read.format("delta").load(path("gold", "invoice_aging"))
    touched = (new["invoices"].select("invoice_id")
               .union(new["payments"].select("invoice_id"))
               .union(aging.filter(F.col("outstanding") > 0).select("invoice_id"))
               .distinct().persist())
    t = {entity: spark.read.format("delta").load(path("silver", entity)) for entity in ENTITIES}
    for entity in ["invoices", "invoice_line_items", "payments"]:
        t[entity] = t[entity].join(F.broadcast(touched), "invoice_id", "left_semi")
    aged = aging_of(t, as_of).persist()
    aged.count()
    step("gold: touched and open aged")
    merge(aged, "gold", "invoice_aging", "invoice_id")
    step("gold.invoice_aging (MERGE)")
    accounts = aged.select("account_id").distinct()
    rolled = accounts_of(spark.read.format("delta").load(path("gold", "invoice_aging"))
                         .join(F.broadcast(accounts), "account_id", "left_semi"), t["accounts"])
    merge(rolled, "gold", "account_receivables", "account_id")
    step("gold.account_receivables")


def commits(spark, out: Path, tables: int, setup: bool) -> None:
    """One read and one one-row append per table, one table after the other, as a run
    commits to its tables (appends only: a MERGE costs more, so this is a lower bound)."""
    for i in range(tables):
        path = str(out / f"t{i}")
        # built in the JVM, as the pipeline builds its own small frames (no Python worker)
        row = spark.range(i, i + 1, numPartitions=1).selectExpr("id", "'x' AS v")
        if setup:
            row.write.format("delta").mode("overwrite").save(path)
            continue
        spark.read.format("delta").load(path).count()
        row.write.format("delta").mode("append").save(path)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["session", "floor", "baseline", "layers", "night", "commits"])
    p.add_argument("--input")
    p.add_argument("--out")
    p.add_argument("--as-of", type=dt.date.fromisoformat)
    p.add_argument("--conf")
    p.add_argument("--day", help="night: the night's file name (<entity>/<day>.csv)")
    p.add_argument("--tables", type=int, default=1)
    p.add_argument("--setup", action="store_true")
    a = p.parse_args()
    # The reference jobs move data as `receivables run` does, with its JIT; a bare session
    # is what a short command starts (the configured default).
    spark = build_session(load_settings(a.conf), command=None if a.mode == "session" else "run")
    if a.mode == "floor":
        floor(spark, Path(a.input), Path(a.out))
    elif a.mode == "baseline":
        baseline(spark, Path(a.input), Path(a.out), a.as_of)
    elif a.mode == "layers":
        layers(spark, Path(a.input), Path(a.out), a.as_of)
    elif a.mode == "night":
        night(spark, Path(a.input), a.day, Path(a.out), a.as_of)
    elif a.mode == "commits":
        commits(spark, Path(a.out), a.tables, a.setup)
    spark.stop()


if __name__ == "__main__":
    main()
