"""Tables by name in a user's own Spark session, through the metastore under the output."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pyspark
import pytest

from receivables import warmup
from receivables.readers import DuckReader
from receivables.spark import jit_options

pytestmark = pytest.mark.e2e
SPARK_SQL = Path(pyspark.__file__).parent / "bin" / "spark-sql"
ROOT = Path(__file__).resolve().parents[2]


def test_a_plain_spark_sql_session_queries_gold_by_name(nights, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(nights["out"], out)
    done = subprocess.run([sys.executable, "-m", "receivables.cli", "catalog", "--output-dir", str(out),
                           "--conf", str(ROOT / "conf" / "test.yaml")], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    props = out / "_catalog" / "spark-defaults.conf"
    assert f"--properties-file {props}" in done.stdout and "registered" in done.stdout
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    query = "SELECT count(*), sum(outstanding) FROM gold.invoice_aging; SELECT count(*) FROM ops.run_log"
    # A short query: its JVM compiles C1 only, as `receivables catalog` itself does (the
    # properties file's own driver options stay as written); it logs where its classes
    # come from.
    loaded = tmp_path / "classes.log"
    env = {**os.environ, "JDK_JAVA_OPTIONS": " ".join([*jit_options("c1"), f"-Xlog:class+load=info:file={loaded}"])}
    user = subprocess.run([str(SPARK_SQL), "--properties-file", str(props), "-e", query],
                          cwd=elsewhere, capture_output=True, text=True, timeout=600, env=env)
    assert user.returncode == 0, user.stderr[-2000:]
    if warmup.current() is not None:  # the properties give it the class archive `make setup` trained
        shared = loaded.read_text(encoding="utf-8").count("source: shared objects file")
        assert shared > 5000, shared
    reader = DuckReader(str(out))
    aging = reader.relation("gold.invoice_aging")
    want = reader.sql(f"SELECT count(*) AS n, sum(outstanding) AS s FROM {aging}").first()
    lines = [line.split("\t") for line in user.stdout.strip().splitlines()]
    assert [int(lines[0][0]), Decimal(lines[0][1])] == [want["n"], want["s"]]
    assert int(lines[1][0]) == 3  # the three nights
    assert list(elsewhere.iterdir()) == []  # no metastore_db/, spark-warehouse/ or derby.log here
    assert not (ROOT / "metastore_db").exists() and not (ROOT / "derby.log").exists()
