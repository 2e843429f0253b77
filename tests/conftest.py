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
    session = build_session(settings, warehouse_dir=str(tmp_path_factory.mktemp("warehouse")))
    yield session
    session.stop()
