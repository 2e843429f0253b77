"""The nightly job on a real Spark standalone cluster (docs/deploy.md).

One master and two workers (1 core, 1 GB each) are started on loopback from the installed
pyspark; the job goes through `spark-submit --master spark://…` with the package shipped
as a zip (`--py-files`) and Delta's jars (`--jars`), output addressed as a `file:` URI.
The executors are given no Python (a path that does not exist): the job runs no Python
there. Two nights must leave gold exactly as the same two nights did in local mode (the
`nights` fixture). The cluster is stopped even when the test fails.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pyspark
import pytest

from receivables import io
from tests.e2e.conftest import ROOT, TEST_CONF

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]

SPARK_HOME = Path(pyspark.__file__).resolve().parent
LINEAGE = ("run_id", "updated_at")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(path: Path, text: str, count: int = 1, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text(errors="replace").count(text) >= count:
            return
        time.sleep(0.5)
    raise AssertionError(f"{text!r} did not appear {count}× in {path}:\n{path.read_text(errors='replace')[-3000:]}")


def _env(base: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        SPARK_HOME=str(SPARK_HOME), SPARK_LOCAL_IP="127.0.0.1", SPARK_LOG_DIR=str(base / "logs"),
        PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable,
    )
    env.pop("PYSPARK_GATEWAY_PORT", None)
    env.pop("RECEIVABLES_FAULT", None)
    return env


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    base = tmp_path_factory.mktemp("cluster")
    env = _env(base)
    spark_class = str(SPARK_HOME / "bin" / "spark-class")
    port = _free_port()
    url = f"spark://127.0.0.1:{port}"
    procs: list[subprocess.Popen] = []

    def start(name: str, *args: str) -> Path:
        log = base / f"{name}.log"
        procs.append(subprocess.Popen([spark_class, *args], env=env, cwd=base, stdout=log.open("w"),
                                      stderr=subprocess.STDOUT, start_new_session=True))
        return log

    try:
        master_log = start("master", "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                           "--port", str(port), "--webui-port", str(_free_port()))
        _wait_for(master_log, "I have been elected leader")
        for i in range(2):
            start(f"worker{i}", "org.apache.spark.deploy.worker.Worker", url, "--host", "127.0.0.1",
                  "--cores", "1", "--memory", "1g", "--webui-port", str(_free_port()),
                  "--work-dir", str(base / f"work{i}"))
        _wait_for(master_log, "Registering worker", count=2)
        yield {"url": url, "base": base, "env": env}
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def _package(dest: Path) -> Path:
    """The receivables package as a zip for --py-files."""
    archive = dest / "receivables.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted((ROOT / "src" / "receivables").rglob("*.py")):
            zf.write(path, path.relative_to(ROOT / "src"))
    return archive


def _submit(cluster, data: Path, out_uri: str, as_of: str, py_files: Path) -> subprocess.CompletedProcess:
    jars = ",".join(sorted(str(p) for p in (ROOT / ".jars").glob("*.jar")))
    return subprocess.run(
        [str(SPARK_HOME / "bin" / "spark-submit"), "--master", cluster["url"],
         "--jars", jars, "--py-files", str(py_files),
         "--driver-memory", "1g", "--executor-memory", "512m", "--total-executor-cores", "2",
         "--conf", "spark.executor.cores=1",
         # the executors get no Python: the job runs none there (docs/deploy.md)
         "--conf", f"spark.pyspark.driver.python={sys.executable}",
         "--conf", "spark.pyspark.python=/nonexistent/python3",
         str(ROOT / "src" / "etl_job.py"), "--input_dir", str(data), "--output_dir", out_uri,
         "--as_of", as_of, "--conf", TEST_CONF],
        env=cluster["env"], cwd=ROOT, capture_output=True, text=True, timeout=900,
    )


def _business(rows) -> dict[int, tuple]:
    return {r.invoice_id: tuple(v for k, v in r.asDict().items() if k not in LINEAGE) for r in rows}


def test_two_nights_on_a_standalone_cluster_match_local_mode(spark, nights, cluster):
    base = cluster["base"]
    out = base / "output"
    py_files = _package(base)
    for night, as_of in (("night1", "2024-06-30"), ("night2", "2024-07-01")):
        done = _submit(cluster, nights[f"data_{night}"], out.as_uri(), as_of, py_files)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
        assert "succeeded in" in done.stdout
        got = _business(io.read(spark, str(out / "gold" / "invoice_aging")).collect())
        assert got == _business(nights[night].values()), night
    # the work really ran on the cluster's executors, not in a local driver
    assert list((base / "work0").iterdir()) and list((base / "work1").iterdir())
    accounts = io.read(spark, str(out / "gold" / "account_receivables")).collect()
    assert _business_accounts(accounts) == _business_accounts(nights["night2_accounts"])


def _business_accounts(rows) -> dict[int, tuple]:
    return {r.account_id: tuple(v for k, v in r.asDict().items() if k not in LINEAGE) for r in rows}
