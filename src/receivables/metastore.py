"""The tables by name in any Spark session: a Hive metastore kept under the output.

``receivables catalog`` registers every table (``CREATE TABLE … USING DELTA LOCATION``)
in an embedded Derby metastore at ``<output>/_catalog/metastore_db`` and writes
``<output>/_catalog/spark-defaults.conf``: the properties a plain ``pyspark``,
``spark-sql`` or ``spark-submit`` needs (``--properties-file``) to find the same
metastore and Delta. The tables point at their folders, so later runs need no new
registration (only a table created later, such as silver.quarantine, needs
``receivables catalog`` again). Derby's files and its log stay under ``_catalog``;
nothing is written to the working directory. Embedded Derby admits one JVM at a time:
close the other session before registering again.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from receivables import cds
from receivables.config import Settings
from receivables.errors import ReceivablesError


def catalog_dir(output_dir: str) -> Path:
    from receivables.readers import local_dir

    folder = local_dir(output_dir)
    if folder is None:
        raise ReceivablesError(f"the metastore is kept beside a local output; {output_dir} is remote "
                               "(register the tables in your own metastore with CREATE TABLE … LOCATION)")
    return Path(os.path.abspath(folder)) / "_catalog"


def session_conf(output_dir: str) -> dict[str, str]:
    """The Spark properties that point a session at the output's metastore."""
    home = catalog_dir(output_dir)
    return {
        "spark.sql.catalogImplementation": "hive",
        "spark.sql.warehouse.dir": str(home / "warehouse"),
        "spark.hadoop.javax.jdo.option.ConnectionURL":
            f"jdbc:derby:;databaseName={home / 'metastore_db'};create=true",
        "spark.hadoop.datanucleus.schema.autoCreateAll": "true",
        "spark.hadoop.hive.metastore.schema.verification": "false",
    }


def derby_options(output_dir: str) -> str:
    home = catalog_dir(output_dir)
    return f"-Dderby.system.home={home} -Dderby.stream.error.file={home / 'derby.log'}"


def settings_for(settings: Settings, output_dir: str) -> Settings:
    """``settings`` with the metastore's properties added (for the registering session)."""
    conf = {**settings.spark_conf, **session_conf(output_dir)}
    conf["spark.driver.extraJavaOptions"] = " ".join(
        o for o in (conf.get("spark.driver.extraJavaOptions", ""), derby_options(output_dir)) if o)
    return replace(settings, spark_conf=conf)


def write_properties(output_dir: str, settings: Settings, jar_paths: list[str]) -> Path:
    """``<output>/_catalog/spark-defaults.conf`` for ``--properties-file``."""
    conf = {
        "spark.jars": ",".join(jar_paths),
        "spark.sql.extensions": settings.spark_conf.get("spark.sql.extensions", ""),
        "spark.sql.catalog.spark_catalog": settings.spark_conf.get("spark.sql.catalog.spark_catalog", ""),
        "spark.sql.session.timeZone": settings.spark_conf.get("spark.sql.session.timeZone", "UTC"),
        **session_conf(output_dir),
        # Derby's home, and the class archive `make setup` trained (a start ~3.5 s shorter
        # for a spark-sql of this install's pyspark; ignored by any other JVM)
        "spark.driver.extraJavaOptions": " ".join(
            o for o in (derby_options(output_dir), cds.foreign_java_options(jar_paths)) if o),
    }
    path = catalog_dir(output_dir) / "spark-defaults.conf"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# Written by `receivables catalog`: pass to pyspark, spark-sql or spark-submit with",
             f"#   --properties-file {path}",
             "# to query the tables of this output by name (gold.invoice_aging, ...)."]
    path.write_text("\n".join([*lines, *(f"{k} {v}" for k, v in conf.items())]) + "\n", encoding="utf-8")
    return path
