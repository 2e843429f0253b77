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
    # The suite's session runs pipelines in-process (``run_cli``) for the whole run of a
    # worker (minutes), so it compiles tiered: C2's faster code pays back its compiling
    # there. The CLI processes tests start live for one small run each and compile C1 only
    # (conf/test.yaml spark.jit).
    session = build_session(settings, warehouse_dir=str(tmp_path_factory.mktemp("warehouse")), jit="tiered")
    yield session
    session.stop()
