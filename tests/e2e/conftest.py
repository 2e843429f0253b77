from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from receivables import io
from receivables.cli import main

ROOT = Path(__file__).resolve().parents[2]
TEST_CONF = str(ROOT / "conf" / "test.yaml")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under ``make test`` (pytest-xdist, ``--dist loadgroup``) each end-to-end module runs
    on one worker, so its module-scoped fixtures are built once; the modules that use the
    session's ``nights`` fixture share a worker, so it too is built once."""
    e2e = [i for i in items if i.nodeid.startswith("tests/e2e/")]
    with_nights = {i.nodeid.split("::")[0] for i in e2e if "nights" in getattr(i, "fixturenames", ())}
    for item in e2e:
        module = item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group("nights" if module in with_nights else module))


def run_cli(*args: str) -> int:
    """The CLI in-process (it reuses the suite's Spark session), with the test
    configuration unless ``args`` name one."""
    return main([*args] if "--conf" in args else [*args, "--conf", TEST_CONF])


def write_files(folder: Path, files: dict[str, str]) -> None:
    """Write extracts given as {file name: text}, exactly as written (no newline translation)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8", newline="")


def last_run(spark, output: Path):
    return (
        io.read(spark, str(output / "ops" / "run_log"))
        .orderBy("started_at", ascending=False)
        .first()
    )


def read_as_of(spark, output, table: str, **when):
    """The Spark frame of ``table`` at the version a run, date, timestamp or version names."""
    from receivables import audit
    from receivables.readers import SparkReader

    reader = SparkReader(spark, str(output))
    return io.read_version(spark, reader.path(table), audit.resolve_version(reader, table, audit.When(**when)))


def table_history(spark, output, table: str) -> list[SimpleNamespace]:
    """The table's commits as ``receivables history TABLE`` lists them (read by Spark)."""
    from receivables import audit
    from receivables.readers import SparkReader

    return [SimpleNamespace(**d) for d in audit.table_history(SparkReader(spark, str(output)), table).dicts()]


def gold(spark, output: Path, table: str = "invoice_aging"):
    return io.read(spark, str(output / "gold" / table))


@pytest.fixture()
def sample_copy(tmp_path) -> Path:
    dest = tmp_path / "data"
    shutil.copytree(ROOT / "data", dest)
    return dest


from tests.e2e.nights import nights  # noqa: E402,F401  (shared session fixture)
