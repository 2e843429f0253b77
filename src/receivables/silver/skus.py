"""silver.skus — SKU price history (SCD type 2): one row per (item_id, valid_from).

A version is in effect for invoices issued on ``valid_from`` up to (not including)
``valid_to``; the current version has ``valid_to`` NULL and ``is_current`` true.
A change delivered in a run with as-of date D takes effect from D (docs/rules.md), so invoices
issued before D keep their totals. An item's first version is in effect from 1900-01-01:
older invoices need a price and none earlier is known.

History is derived from every valid bronze SKU row with ``_as_of_date`` (bronze lineage),
so a rebuild gives exactly what the nightly runs built.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, TimestampType

from receivables.entities import SKUS
from receivables.silver import parse as p
from receivables.silver.conform import SilverTable, row_hash

BEGINNING = dt.date(1900, 1, 1)

TABLE = SilverTable(
    entity=SKUS,
    parsers=lambda: {
        "item_id": p.text("item_id"),
        "item_name": p.text("item_name"),
        "item_description": p.text("item_description", required=False),
        "item_cost_price": p.money("item_cost_price", max_units=p.MAX_PRICE),
        "item_retail_price": p.money("item_retail_price", max_units=p.MAX_PRICE),
    },
)

COLUMNS = ["item_id", "item_name", "item_description", "item_cost_price", "item_retail_price"]


def build_price_history(versions: DataFrame, updated_at: dt.datetime) -> DataFrame:
    """SCD2 rows from the accepted SKU row of each (item_id, as-of date).

    Consecutive identical contents collapse into one version.
    """
    by_date = Window.partitionBy("item_id").orderBy("_as_of_date")
    changes = versions.withColumn("_prev", F.lag("_row_hash").over(by_date)).filter(
        F.col("_prev").isNull() | (F.col("_prev") != F.col("_row_hash"))
    )
    first = F.row_number().over(by_date) == 1
    history = changes.withColumn(
        "valid_from", F.when(first, F.lit(BEGINNING)).otherwise(F.col("_as_of_date"))
    ).withColumn("valid_to", F.lead("valid_from").over(by_date))
    return history.select(
        *COLUMNS,
        F.col("valid_from").cast(DateType()).alias("valid_from"),
        F.col("valid_to").cast(DateType()).alias("valid_to"),
        F.col("valid_to").isNull().alias("is_current"),
        row_hash([*COLUMNS, "valid_from", "valid_to"]).alias("_row_hash"),
        "_source_file",
        "_file_checksum",
        "_row_number",
        "_run_id",
        "_as_of_date",
        F.lit(updated_at).cast(TimestampType()).alias("_updated_at"),
    )
