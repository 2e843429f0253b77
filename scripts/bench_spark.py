"""Reference jobs for `make bench` (scripts/bench.py), in the same Spark set-up as the pipeline.

  session   start a Spark + Delta session and stop it
  floor     read every CSV and write it as Parquet, nothing else
  baseline  the hand-rolled approach: read the CSVs, compute aging, overwrite Parquet
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from pyspark.sql import functions as F

from receivables.config import load_settings
from receivables.spark import build_session

ENTITIES = ["accounts", "skus", "invoices", "invoice_line_items", "payments"]


def _csv(spark, folder: Path, entity: str, multiline: bool = False):
    paths = [str(p) for p in [folder / f"{entity}.csv", *sorted((folder / entity).glob("*.csv"))] if p.exists()]
    return (spark.read.option("header", True).option("multiLine", multiline).option("escape", '"')
            .csv(paths))


def floor(spark, src: Path, out: Path) -> None:
    for entity in ENTITIES:
        _csv(spark, src, entity, multiline=entity == "accounts").write.mode("overwrite").parquet(str(out / entity))


def baseline(spark, src: Path, out: Path, as_of: dt.date) -> None:
    money = "decimal(18,2)"
    accounts = _csv(spark, src, "accounts", multiline=True).select(
        F.col("account_id").cast("long").alias("account_id"), "company_name",
        F.col("payment_terms_days").cast("int").alias("terms"))
    skus = _csv(spark, src, "skus").select("item_id", F.col("item_retail_price").cast(money).alias("price"))
    invoices = _csv(spark, src, "invoices").select(
        F.col("invoice_id").cast("long").alias("invoice_id"), F.col("account_id").cast("long").alias("account_id"),
        F.to_date("date_issued").alias("date_issued"), F.to_date("due_date").alias("due_date"),
        F.to_date("payment_dates").alias("paid_on")).dropDuplicates(["invoice_id"])
    lines = _csv(spark, src, "invoice_line_items").select(
        F.col("invoice_id").cast("long").alias("invoice_id"), "item_id", F.col("quantity").cast("int").alias("q"))
    pays = _csv(spark, src, "payments").select(
        F.col("invoice_id").cast("long").alias("invoice_id"), F.to_date("payment_date").alias("d"),
        F.col("amount").cast(money).alias("amount"))
    lit = F.lit(as_of)
    totals = lines.join(F.broadcast(skus), "item_id").groupBy("invoice_id").agg(
        F.sum(F.col("q") * F.col("price")).cast(money).alias("total"))
    paid = pays.filter(F.col("d") <= lit).groupBy("invoice_id").agg(F.sum("amount").alias("paid"))
    aging = (
        invoices.filter(F.col("date_issued") <= lit).join(totals, "invoice_id", "left").join(paid, "invoice_id", "left")
        .join(F.broadcast(accounts.select("account_id", "terms")), "account_id", "left")
        .withColumn("total", F.coalesce("total", F.lit(0).cast(money)))
        .withColumn("paid", F.coalesce("paid", F.lit(0).cast(money))
                    + F.when(F.col("paid_on") <= lit, F.col("total")).otherwise(0))
        .withColumn("due_date", F.coalesce("due_date", F.date_add("date_issued", F.coalesce("terms", F.lit(30)))))
        .withColumn("outstanding", F.greatest(F.col("total") - F.col("paid"), F.lit(0)))
        .withColumn("days_past_due", F.when((F.col("outstanding") > 0) & (F.datediff(lit, "due_date") > 0),
                                            F.datediff(lit, "due_date")).otherwise(0))
    )
    aging.write.mode("overwrite").parquet(str(out / "invoice_aging"))
    aging = spark.read.parquet(str(out / "invoice_aging"))
    aging.groupBy("account_id").agg(
        F.sum("outstanding").alias("unpaid_total"),
        F.count(F.when(F.col("outstanding") > 0, 1)).alias("open_invoices"),
        F.max("days_past_due").alias("max_days_past_due"),
    ).join(accounts.select("account_id", "company_name"), "account_id", "left") \
        .write.mode("overwrite").parquet(str(out / "account_receivables"))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["session", "floor", "baseline"])
    p.add_argument("--input")
    p.add_argument("--out")
    p.add_argument("--as-of", type=dt.date.fromisoformat)
    p.add_argument("--conf")
    a = p.parse_args()
    spark = build_session(load_settings(a.conf))
    if a.mode == "floor":
        floor(spark, Path(a.input), Path(a.out))
    elif a.mode == "baseline":
        baseline(spark, Path(a.input), Path(a.out), a.as_of)
    spark.stop()


if __name__ == "__main__":
    main()
