"""Train the class-data sharing archive (``receivables.cds``): ``python -m receivables.warmup``
(``--if-missing``: only when this install has none; ``--path``: print the archive's path).

A short session does what a night does, in miniature, with ``-XX:ArchiveClassesAtExit``;
the classes it loaded are archived for every later session on this JDK and these jars.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from receivables import cds


def _workload(work: Path) -> None:
    """What a night does, in miniature: read CSV, write, append, MERGE and time-travel Delta."""
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    from receivables.config import load_settings
    from receivables.spark import build_session

    spark = build_session(load_settings())
    (work / "in.csv").write_text("id,amount\n1,2.50\n2,3.00\n", encoding="utf-8")
    rows = spark.read.option("header", True).csv(str(work / "in.csv"))
    path = str(work / "t")
    rows.write.format("delta").save(path)
    rows.write.format("delta").mode("append").save(path)
    changed = rows.withColumn("amount", F.lit("9.99"))
    (DeltaTable.forPath(spark, path).alias("t").merge(changed.alias("s"), "t.id = s.id")
     .whenMatchedUpdateAll().whenNotMatchedInsertAll().execute())
    spark.read.format("delta").option("versionAsOf", 0).load(path).groupBy("id").count().collect()
    DeltaTable.forPath(spark, path).history().collect()
    gateway = spark.sparkContext._gateway
    assert gateway is not None
    jvm = gateway.proc
    spark.stop()
    # The JVM writes the archive as it exits, once it sees its stdin close: wait for it.
    jvm.stdin.close()
    jvm.wait(timeout=300)


def train() -> Path:
    """Write the archive for this JDK + jars (replacing an older one) and return its path."""
    from receivables import jars
    from receivables.config import load_settings

    found = jars.find(load_settings().jars_dir)
    made_from = cds.inputs(found)  # listed once: the archive's name and its .install agree
    if made_from is None:
        raise RuntimeError("no java found (JAVA_HOME or PATH): nothing to archive")
    target = cds.archive_of(made_from)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(target.parent)
    with tempfile.TemporaryDirectory(prefix="receivables-cds-") as work:
        partial = Path(work) / "archive.jsa"
        env = {**os.environ, "RECEIVABLES_CDS_TRAIN": str(partial)}
        subprocess.run([sys.executable, "-m", "receivables.warmup", "--workload", work], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        if not partial.is_file():
            raise RuntimeError("the training session wrote no archive")
        shutil.move(partial, target)
    listed = ",\n".join(json.dumps(f) for f in made_from)  # one file a line: [path, size, mtime_ns]
    target.with_suffix(".install").write_text(f"[\n{listed}\n]\n", encoding="utf-8")
    return target


def _remove_stale(folder: Path) -> None:
    """Remove the archives no JVM can map any more: each archive's ``.install`` file lists the
    files it was made from (``cds.inputs``), and one of them is gone or written again (an
    install removed, or made again at the same paths, which trains its own). Older
    ``.install`` files name only the Spark jars folder: those archives go with the folder.
    An archive without one predates them."""
    for old in folder.glob("spark-*.jsa"):
        install = old.with_suffix(".install")
        if not install.is_file() or not _usable(install.read_text(encoding="utf-8")):
            old.unlink()
            install.unlink(missing_ok=True)


def _usable(recorded: str) -> bool:
    try:
        made_from = json.loads(recorded)
    except ValueError:  # an older .install: the Spark jars folder's path
        return Path(recorded.strip()).is_dir()
    try:
        files = [(str(path), int(size), int(mtime_ns)) for path, size, mtime_ns in made_from]
    except (TypeError, ValueError):
        return False
    return cds.still_usable(files)


def current() -> Path | None:
    """The archive for this JDK + jars, if it exists."""
    from receivables import jars
    from receivables.config import load_settings

    path = cds.archive(jars.find(load_settings().jars_dir))
    return path if path is not None and path.is_file() else None


if __name__ == "__main__":
    if sys.argv[1:2] == ["--workload"]:
        _workload(Path(sys.argv[2]))
    elif sys.argv[1:2] == ["--path"]:  # for spark-submit --driver-java-options (docs/deploy.md)
        print(current() or "")
    elif sys.argv[1:2] == ["--if-missing"] and (ready := current()) is not None:
        print(f"class-data sharing archive for Spark + Delta: {ready} (up to date)")
    else:
        print(f"class-data sharing archive for Spark + Delta: {train()} (trained)")
