"""One Spark session for the whole suite: local[2], few shuffle partitions, UI off, Delta."""

from __future__ import annotations

from pathlib import Path

import pytest

from receivables.config import load_settings
from receivables.spark import build_session

ROOT = Path(__file__).resolve().parents[1]
TEST_CONF = ROOT / "conf" / "test.yaml"


@pytest.fixture(scope="session")
def settings():
    return load_settings(TEST_CONF)


@pytest.fixture(scope="session")
def spark(settings, tmp_path_factory):
    # The suite's session runs pipelines in-process (``run_cli``): it starts the JVM the way
    # `receivables run` does (its JIT: conf spark.jit.run).
    session = build_session(settings, warehouse_dir=str(tmp_path_factory.mktemp("warehouse")), command="run")
    yield session
    session.stop()
