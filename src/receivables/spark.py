"""The one place a SparkSession is built.

Delta's jars are found locally (``receivables.jars``: ``.jars``, ``$RECEIVABLES_JARS`` or
the local Maven repository); nothing is resolved or downloaded at session start. Under
``spark-submit`` the same factory is used; pass the jars with ``--jars`` there.

The JVM starts from a class-data sharing archive when ``make setup`` made one for this
JDK and these jars (``receivables.cds``).

Spark logs errors only, one line each (the packaged ``conf/log4j2.properties``), and
what the JVM itself prints (start-up notices, ``VACUUM``'s "Deleted N files") goes to a
log file in the temporary folder instead of the terminal, unless the session is built
``quiet=False`` (``receivables --verbose``).
"""

from __future__ import annotations

import atexit
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

from pyspark import SparkContext
from pyspark.sql import SparkSession

from receivables import cds, jars
from receivables.config import LOG4J_CONF, Settings


def _running_under_spark_submit() -> bool:
    # spark-submit starts the JVM before Python runs and hands us its gateway.
    import os

    return "PYSPARK_GATEWAY_PORT" in os.environ


# C1 alone: no C2 compiles. On its own the flag also shrinks the code cache to the
# non-tiered default (48 MB), which Spark + Delta fill; the JVM then evicts compiled code
# and compiles it again (measured 2026-12-06: the code cache sweeper took 30 of 283 CPU
# seconds over nine small runs in one session). So C1 keeps tiered's 240 MB code cache.
C1_ONLY = ("-XX:TieredStopAtLevel=1", "-XX:ReservedCodeCacheSize=240m")


def jit_options(mode: str) -> tuple[str, ...]:
    """The JVM options of a JIT mode (``spark.jit``): none for tiered, the JVM's default."""
    return C1_ONLY if mode == "c1" else ()


# The driver JVM's collector (``spark.gc``). On a 2-core machine a night spent ~8 % less
# wall time with the parallel collector than with G1, the JVM's default, whose concurrent
# threads and write barriers compete with the work for the same cores (docs/benchmarks.md).
GC_OPTIONS = {"parallel": "-XX:+UseParallelGC", "g1": "-XX:+UseG1GC", "serial": "-XX:+UseSerialGC"}
_SELECTS_GC = re.compile(r"-XX:\+Use\w*GC\b")


def gc_options(name: str, java_options: str = "") -> tuple[str, ...]:
    """The JVM option selecting collector ``name``; none when ``java_options`` (the
    configured ``spark.driver.extraJavaOptions``) already selects one: the JVM refuses two."""
    return () if _SELECTS_GC.search(java_options) else (GC_OPTIONS[name],)


def build_session(
    settings: Settings, warehouse_dir: str | None = None, quiet: bool = True, command: str | None = None,
    jit: str | None = None,
) -> SparkSession:
    """Build (or return the running) SparkSession configured for Delta; its JVM compiles
    with ``jit`` ("tiered" or "c1"), by default the mode the configuration names for
    ``command`` (``spark.jit``), and collects garbage with ``spark.gc``."""
    builder = SparkSession.builder.appName(settings.app_name)
    submitted = _running_under_spark_submit()
    conf = dict(settings.spark_conf)
    if not submitted:
        found = jars.find(settings.jars_dir)
        builder = builder.master(settings.master)
        builder = builder.config("spark.jars", ",".join(found))
        java_options = conf.get("spark.driver.extraJavaOptions", "")
        options = [java_options, cds.java_options(found), *jit_options(jit or settings.jit_for(command)),
                   *gc_options(settings.gc, java_options)]
        if quiet:
            options.append(f"-Dlog4j2.configurationFile={LOG4J_CONF.as_uri()}")
            conf.setdefault("spark.log.structuredLogging.enabled", "false")
        conf["spark.driver.extraJavaOptions"] = " ".join(o for o in options if o)
    for key, value in conf.items():
        if submitted and key in ("spark.driver.memory", "spark.driver.extraJavaOptions"):
            continue  # fixed by spark-submit before Python starts
        builder = builder.config(key, value)
    if warehouse_dir:
        builder = builder.config("spark.sql.warehouse.dir", warehouse_dir)
    starts_jvm = not submitted and SparkContext._active_spark_context is None
    with _jvm_console_to_log() if quiet and starts_jvm else nullcontext():
        session = builder.getOrCreate()
    if quiet:
        session.sparkContext.setLogLevel("ERROR")
        _quiet_python_loggers()
    return session


def _quiet_python_loggers() -> None:
    """PySpark logs every failed query as a JSON line before raising it; the CLI prints the
    error itself, once."""
    from pyspark.logger import PySparkLogger

    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        PySparkLogger.getLogger(name).disabled = True


@contextmanager
def _jvm_console_to_log() -> Iterator[None]:
    """Start the JVM with its stdout and stderr on a log file: the JVM is a child process
    and keeps the descriptors it was started with; Python gets its own back at once."""
    fd, log = tempfile.mkstemp(prefix="receivables-spark-", suffix=".log")
    atexit.register(_remove, log)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        yield
    except Exception as exc:  # the JVM did not start: what it printed says why
        with open(log, encoding="utf-8", errors="replace") as fh:
            exc.add_note("the JVM printed: " + " ".join(fh.read()[-1500:].split()))
        raise
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for each in (*saved, fd):
            os.close(each)


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
