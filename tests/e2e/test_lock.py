"""Two runs on one output: the second exits at once with a clear message."""

from __future__ import annotations

import fcntl
import os

import pytest

from receivables.ops.lock import LOCK_NAME
from tests.e2e.conftest import run_cli

pytestmark = pytest.mark.e2e


def test_second_run_on_a_locked_output_exits_with_a_clear_message(sample_copy, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    fd = os.open(out / LOCK_NAME, os.O_RDWR | os.O_CREAT)  # another holder of the OS lock
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        code = run_cli("run", "--input-dir", str(sample_copy), "--output-dir", str(out), "--as-of", "2024-12-31")
    finally:
        os.close(fd)
    assert code == 4  # the documented exit code of a locked output
    assert "another run holds the lock" in capsys.readouterr().err
    assert not (out / "bronze").exists()  # nothing was written
