"""Class-data sharing for the Spark JVM: a faster start for every command.

A JVM that starts Spark and Delta loads and verifies some 15,000 classes. ``make setup``
(``receivables setup-jars`` then ``python -m receivables.warmup``) runs a short training
session with ``-XX:ArchiveClassesAtExit`` and keeps the resulting archive in the user's
cache folder; later sessions start with ``-XX:SharedArchiveFile`` and map those classes
instead of loading them.

An archive only fits the JDK, the Spark jars and the Delta jars it was made with, at the
paths and with the sizes and modification times they had: the JVM maps none of its classes
for a class path in another place (a second checkout, a virtualenv elsewhere) or for jars
written again (a fresh clone and virtualenv at the same paths). Its file name carries a key of all of
them, so after an upgrade or from another install the key differs, that archive is
simply not used, and ``make setup`` there trains its own. The JVM checks the archive again
itself and ignores it (silently, ``-Xshare:auto``) if it does not fit. Training removes
the archives no JVM can map any more (a file they were made from is gone or written
again), not those of other installs.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path


def cache_dir() -> Path:
    base = os.environ.get("RECEIVABLES_CACHE") or os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "receivables"


def _java() -> Path | None:
    home = os.environ.get("JAVA_HOME")
    found = Path(home) / "bin" / "java" if home else (Path(w) if (w := shutil.which("java")) else None)
    return found.resolve() if found is not None and found.exists() else None


def spark_jars() -> Path:
    """The folder of the Spark jars on the JVM's class path (this pyspark's)."""
    import pyspark  # here, not at the top: the report finds its cache folder without pyspark

    return Path(pyspark.__file__).resolve().parent / "jars"


def inputs(jar_paths: list[str], spark_jar_dir: Path | None = None) -> list[tuple[str, int, int]] | None:
    """What the archive depends on: the java binary, pyspark's jars and Delta's jars, each
    with the path it is loaded from, its size and its modification time (nanoseconds). The
    JVM maps an archive only for class-path jars of the size and time it was made with: an
    install made again at the same paths (a fresh clone and virtualenv) needs its own
    archive. None when there is no java."""
    java = _java()
    if java is None:
        return None
    jars_dir = spark_jar_dir or spark_jars()
    files = [java, *sorted([*jars_dir.glob("*.jar"), *(Path(j).resolve() for j in jar_paths)])]
    return [(str(f), (st := f.stat()).st_size, st.st_mtime_ns) for f in files]


def key(jar_paths: list[str], spark_jar_dir: Path | None = None) -> str | None:
    """The archive's key: a digest of its ``inputs``."""
    found = inputs(jar_paths, spark_jar_dir)
    return None if found is None else _digest(found)


def _digest(found: list[tuple[str, int, int]]) -> str:
    digest = hashlib.sha256()
    for path, size, mtime_ns in found:
        digest.update(f"{path}:{size}:{mtime_ns}".encode())
    return digest.hexdigest()[:16]


def still_usable(recorded: list[tuple[str, int, int]]) -> bool:
    """Whether every file an archive was made from is still there with the size and time it
    had: when one is gone or written again, no JVM will map that archive any more."""
    for path, size, mtime_ns in recorded:
        try:
            st = os.stat(path)
        except OSError:
            return False
        if (st.st_size, st.st_mtime_ns) != (size, mtime_ns):
            return False
    return True


def archive(jar_paths: list[str]) -> Path | None:
    found = inputs(jar_paths)
    return None if found is None else archive_of(found)


def archive_of(found: list[tuple[str, int, int]]) -> Path:
    """The archive made from these ``inputs``."""
    return cache_dir() / f"spark-{_digest(found)}.jsa"


def java_options(jar_paths: list[str]) -> str:
    """The JVM options that use the archive, or "" when there is none for this JDK + jars
    (or ``RECEIVABLES_CDS`` is ``off``). During training, the options that write it."""
    training = os.environ.get("RECEIVABLES_CDS_TRAIN")
    if training:
        return f"-XX:ArchiveClassesAtExit={training}"
    return _archive_options(jar_paths)


def foreign_java_options(jar_paths: list[str]) -> str:
    """The options that let a JVM this package does not start (a user's ``spark-sql
    --properties-file``, docs/catalog.md) use the archive: it maps it when it runs the same
    JDK and Spark jars, and otherwise starts as it would without it. The JVM's CDS
    messages are off, since a JVM of another JDK or Spark install would warn at every start
    that it cannot use the archive."""
    options = _archive_options(jar_paths)
    return f"{options} -Xlog:cds=off -Xlog:cds+dynamic=off" if options else ""


def _archive_options(jar_paths: list[str]) -> str:
    if os.environ.get("RECEIVABLES_CDS", "").lower() == "off":
        return ""
    path = archive(jar_paths)
    return f"-XX:SharedArchiveFile={path} -Xshare:auto" if path is not None and path.is_file() else ""
