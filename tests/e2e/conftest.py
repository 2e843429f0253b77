from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from receivables import io
from receivables.cli import main

ROOT = Path(__file__).resolve().parents[2]
TEST_CONF = str(ROOT / "conf" / "test.yaml")


# The long modules in two groups of about equal length, collected first, so that each of
# `make test`'s two workers starts on one of them; every other module and every unit test
# then goes to whichever worker is free. Seconds of test time in three `make test` runs on
# a 2-core machine, 2026-12-06: the nights modules 510-590, kills 160-205 (group A);
# reliability 300-400, faults 190-250 (group B); bad input 50-190, all the others 260.
# Left to pytest-xdist (largest groups first, a free worker takes the next two), one
# worker ran 860-910 s while the other had 700-790 s.
LONG_GROUPS = {
    "tests/e2e/test_kills_and_disks.py": "long-a",  # with the modules of the nights fixture
    "tests/e2e/test_reliability.py": "long-b",
    "tests/e2e/test_faults.py": "long-b",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under ``make test`` (pytest-xdist, ``--dist loadgroup --no-loadscope-reorder``) each
    end-to-end module runs on one worker, so its module-scoped fixtures are built once; the
    modules that use the session's ``nights`` fixture share a worker, so it too is built
    once. The long modules run in two groups (``LONG_GROUPS``), collected first."""
    e2e = [i for i in items if i.nodeid.startswith("tests/e2e/")]
    with_nights = {i.nodeid.split("::")[0] for i in e2e if "nights" in getattr(i, "fixturenames", ())}
    group: dict[str, str] = {}
    for item in e2e:
        module = item.nodeid.split("::")[0]
        group[item.nodeid] = "long-a" if module in with_nights else LONG_GROUPS.get(module, module)
        item.add_marker(pytest.mark.xdist_group(group[item.nodeid]))
    order = {"long-a": 0, "long-b": 1}
    items[:] = sorted(items, key=lambda i: order.get(group.get(i.nodeid, ""), 2))  # stable


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


from tests.e2e.nights import nights  # noqa: E402,F401  (shared session fixtures)
from tests.e2e.small_book import base_night  # noqa: E402,F401
