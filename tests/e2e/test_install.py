"""The package as a user installs it: a wheel, installed outside the checkout, runs from any
folder (its configuration inside the package, Delta's jars from the local Maven repository)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from receivables import jars

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    base = tmp_path_factory.mktemp("install")
    source, wheels = base / "source", base / "wheels"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    # python -m build, as a user would, without isolation so that it needs no network
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(wheels), str(source)],
                   check=True, cwd=base, capture_output=True)
    (wheel,) = wheels.glob("receivables-*.whl")
    target = base / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, cwd=base)
    return wheel, target, base


def _cli(target: Path, cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "receivables.cli", *args], cwd=cwd, text=True, capture_output=True,
                          env={**os.environ, "PYTHONPATH": str(target), **(env or {})}, timeout=600)


def test_the_wheel_carries_the_configuration_and_quiet_logging(installed):
    wheel, _, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    assert "receivables/conf/base.yaml" in names and "receivables/conf/log4j2.properties" in names


def test_the_installed_command_runs_a_query_from_any_folder(installed):
    _, target, base = installed
    elsewhere = base / "elsewhere"
    elsewhere.mkdir()
    where = _cli(target, elsewhere, "config", "show")
    assert where.returncode == 0, where.stderr
    assert "window_days: 400" in where.stdout
    imported = subprocess.run([sys.executable, "-c", "import receivables; print(receivables.__file__)"],
                              cwd=elsewhere, text=True, capture_output=True,
                              env={**os.environ, "PYTHONPATH": str(target)})
    assert imported.stdout.startswith(str(target))  # the installed copy, not the checkout
    # no .jars here: the jars come from the local Maven repository, where make setup put them
    done = _cli(target, elsewhere, "sql", "SELECT 6 * 7 AS answer", "--output-dir", str(base / "out"),
                "--engine", "spark",
                env={"MAVEN_REPOSITORY": str(jars.maven_repository())})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "42" in done.stdout
    assert "WARN" not in done.stderr and "INFO" not in done.stderr, done.stderr[-3000:]  # quiet Spark
    assert not (elsewhere / "spark-warehouse").exists() and not (elsewhere / "metastore_db").exists()


def test_without_jars_anywhere_every_spark_command_says_how_to_get_them(installed):
    _, target, base = installed
    done = _cli(target, base, "history", "--output-dir", str(base / "out"), "--engine", "spark",
                env={"MAVEN_REPOSITORY": str(base / "no-m2"), "RECEIVABLES_JARS": ""})
    assert done.returncode == 2
    assert "receivables setup-jars" in done.stderr and "Traceback" not in done.stderr


def test_sessions_start_from_the_class_archive_setup_trained(spark):
    from receivables import warmup

    trained = warmup.current()
    if trained is None:
        pytest.skip("no class-data sharing archive for this JDK and these jars (make setup trains one)")
    runtime = spark._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()
    assert f"-XX:SharedArchiveFile={trained}" in list(runtime.getInputArguments())
    assert "sharing" in spark._jvm.java.lang.System.getProperty("java.vm.info")
    # what it was made from is recorded, so that a later training keeps it while it fits
    assert warmup._usable(trained.with_suffix(".install").read_text(encoding="utf-8"))
    # "sharing" holds for the JDK's own ~12 MB archive too: the JVM must have mapped this
    # one (it refuses, silently, an archive whose jars differ in path, size or time)
    jcmd = Path(spark._jvm.java.lang.System.getProperty("java.home")) / "bin" / "jcmd"
    if not jcmd.is_file():
        pytest.skip(f"no {jcmd} to ask the JVM which archives it mapped")
    pid = spark._jvm.java.lang.ProcessHandle.current().pid()
    info = subprocess.run([str(jcmd), str(pid), "VM.info"], capture_output=True, text=True, timeout=120).stdout
    mapped = re.search(r"CDS archive\(s\) mapped at: .*size (\d+)", info)
    assert mapped and int(mapped.group(1)) > 100_000_000, mapped and mapped.group(0)
