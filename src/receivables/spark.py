"""The one place a SparkSession is built.

Delta's jars come from the folder `make setup` fills (``spark.jars``); nothing is resolved
or downloaded at session start. Under ``spark-submit`` the same factory is used; pass the
jars with ``--jars`` there and the folder is not needed.
"""

from __future__ import annotations

import re
from pathlib import Path

import delta
import pyspark
from pyspark.sql import SparkSession

from receivables.config import PACKAGE_ROOT, Settings


class DeltaJarsError(RuntimeError):
    """Delta's jars are missing or do not match the installed delta-spark / pyspark."""


_DELTA_JAR = re.compile(r"delta-spark_(\d+\.\d+)_2\.13-(.+)\.jar$")


def _resolve_jars_dir(jars_dir: str) -> Path:
    path = Path(jars_dir)
    if path.is_absolute():
        return path
    cwd_path = Path.cwd() / path
    return cwd_path if cwd_path.is_dir() else PACKAGE_ROOT / path


def delta_jars(jars_dir: str) -> list[str]:
    """The jar files to load, after checking they match the installed Python packages."""
    folder = _resolve_jars_dir(jars_dir)
    jars = sorted(str(p) for p in folder.glob("*.jar")) if folder.is_dir() else []
    main = [j for j in jars if _DELTA_JAR.search(j)]
    if not main:
        raise DeltaJarsError(
            f"no Delta jars in {folder}: run `make setup` (fetches them once from Maven Central)"
        )
    spark_line, jar_version = _DELTA_JAR.search(main[0]).groups()  # type: ignore[union-attr]
    pip_delta = delta.__version__ if hasattr(delta, "__version__") else _pip_version()
    pyspark_line = ".".join(pyspark.__version__.split(".")[:2])
    if jar_version != pip_delta or spark_line != pyspark_line:
        raise DeltaJarsError(
            f"{Path(main[0]).name} does not match delta-spark {pip_delta} on pyspark "
            f"{pyspark.__version__}: re-run `make setup`"
        )
    return jars


def _pip_version() -> str:
    from importlib.metadata import version

    return version("delta-spark")


def _running_under_spark_submit() -> bool:
    # spark-submit starts the JVM before Python runs and hands us its gateway.
    import os

    return "PYSPARK_GATEWAY_PORT" in os.environ


def build_session(settings: Settings, warehouse_dir: str | None = None) -> SparkSession:
    """Build (or return the running) SparkSession configured for Delta."""
    builder = SparkSession.builder.appName(settings.app_name)
    submitted = _running_under_spark_submit()
    if not submitted:
        builder = builder.master(settings.master)
        builder = builder.config("spark.jars", ",".join(delta_jars(settings.jars_dir)))
    for key, value in settings.spark_conf.items():
        if submitted and key == "spark.driver.memory":
            continue  # fixed by spark-submit before Python starts
        builder = builder.config(key, value)
    if warehouse_dir:
        builder = builder.config("spark.sql.warehouse.dir", warehouse_dir)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session
