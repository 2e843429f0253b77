"""The one place a SparkSession is built.

Delta's jars are found locally (``receivables.jars``: ``.jars``, ``$RECEIVABLES_JARS`` or
the local Maven repository); nothing is resolved or downloaded at session start. Under
``spark-submit`` the same factory is used; pass the jars with ``--jars`` there.

Spark logs errors only, one line each (the packaged ``conf/log4j2.properties``), unless
the session is built ``quiet=False`` (``receivables --verbose``).
"""

from __future__ import annotations

from pyspark.sql import SparkSession

from receivables import jars
from receivables.config import LOG4J_CONF, Settings


def _running_under_spark_submit() -> bool:
    # spark-submit starts the JVM before Python runs and hands us its gateway.
    import os

    return "PYSPARK_GATEWAY_PORT" in os.environ


def build_session(settings: Settings, warehouse_dir: str | None = None, quiet: bool = True) -> SparkSession:
    """Build (or return the running) SparkSession configured for Delta."""
    builder = SparkSession.builder.appName(settings.app_name)
    submitted = _running_under_spark_submit()
    conf = dict(settings.spark_conf)
    if not submitted:
        builder = builder.master(settings.master)
        builder = builder.config("spark.jars", ",".join(jars.find(settings.jars_dir)))
        if quiet:
            options = conf.get("spark.driver.extraJavaOptions", "")
            quiet_logs = f"-Dlog4j2.configurationFile={LOG4J_CONF.as_uri()}"
            conf["spark.driver.extraJavaOptions"] = f"{quiet_logs} {options}".strip()
            conf.setdefault("spark.log.structuredLogging.enabled", "false")
    for key, value in conf.items():
        if submitted and key in ("spark.driver.memory", "spark.driver.extraJavaOptions"):
            continue  # fixed by spark-submit before Python starts
        builder = builder.config(key, value)
    if warehouse_dir:
        builder = builder.config("spark.sql.warehouse.dir", warehouse_dir)
    session = builder.getOrCreate()
    if quiet:
        session.sparkContext.setLogLevel("ERROR")
    return session
