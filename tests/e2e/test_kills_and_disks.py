"""A run killed after any of its commits converges; a full disk, a half-created table
folder and an unwritable output are survivable and clearly reported."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from pyspark.sql import functions as F

from receivables import io
from receivables.ops import faults
from tests.e2e.conftest import last_run, write_files
from tests.e2e.small_book import LATER, S1, S2, aging, captured, copy_night, run_night, versions
from tests.e2e.test_faults import state

pytestmark = pytest.mark.e2e


# ------------------------------------------------------- killed after any commit


def test_runs_killed_after_their_first_second_third_commit_converge_to_the_uninterrupted_run(
    spark, base_night, tmp_path, monkeypatch
):
    """Attempt k of the night dies right after its k-th Delta commit, on the output the
    attempts before it left; each attempt first settles the one before (its run-log row,
    orphaned files, audit snapshot), so the kills land on every stretch of the night and of
    recovery. The attempt that makes fewer than k commits, or dies right after its last
    one (its run-log row), finishes the night, and the output then equals an uninterrupted
    night in every row of every table."""
    night2 = {
        "invoices/n2.csv": "invoice_id,account_id,date_issued\n7,1,2024-04-02\n2,2,2024-05-30\n",
        "invoice_line_items/n2.csv": f"invoice_id,item_id,quantity\n7,{S1},1\n1,{S1},3\n",
        "payments/n2.csv": "payment_id,invoice_id,payment_date,amount\n12,7,2024-04-20,4.00\n",
        "skus/n2.csv": "item_id,item_name,item_description,item_cost_price,item_retail_price\n"
        f"{S2},Pad,A pad,1.00,3.00\n",
    }
    data = tmp_path / "data"
    shutil.copytree(base_night["data"], data)
    write_files(data, night2)
    reference = tmp_path / "reference"
    shutil.copytree(base_night["out"], reference)
    before = versions(spark, reference, skip_run_log=False)
    assert run_night(data, reference, LATER) == 0
    commits = sum(v - before.get(k, -1) for k, v in versions(spark, reference, skip_run_log=False).items())
    assert commits >= 10  # bronze ×4, manifest, silver ×4, gold ×3, watermarks, run log

    out = tmp_path / "killed"
    shutil.copytree(base_night["out"], out)
    monkeypatch.setenv(faults.MODE_ENV, "raise")
    killed = 0
    for k in range(1, 3 * commits):
        monkeypatch.setenv(faults.ENV, f"after:commit:{k}")
        try:
            code = run_night(data, out, LATER)
        except faults.Killed:
            killed += 1
            spark.catalog.clearCache()
            done = io.read(spark, str(out / "ops" / "run_log")).filter(
                (F.col("as_of_date") == F.lit(LATER).cast("date")) & (F.col("status") == "succeeded"))
            if done.count():
                break  # killed right after its run-log row, its last commit: the night is done
            continue
        assert code == 0, k
        break
    assert killed >= 4, killed
    monkeypatch.delenv(faults.ENV)
    assert state(spark, out) == state(spark, reference)
    statuses = [r.status for r in io.read(spark, str(out / "ops" / "run_log")).collect()]
    # every killed attempt that changed a table is logged abandoned (one killed right after
    # logging its predecessor changed nothing else, and leaves only that row)
    assert statuses.count("succeeded") == 2 and 1 <= statuses.count("abandoned") <= killed, statuses
    assert "failed" not in statuses


# ------------------------------------------------------------ disks and folders


@pytest.fixture()
def small_disk(tmp_path):
    """A tmpfs of 64 KiB (needs root); grown with ``grow()``."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")

    def grow() -> None:
        subprocess.run(["mount", "-o", "remount,size=256m", str(mount)], check=True)

    yield mount, grow
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_run_that_fills_the_disk_fails_and_the_next_one_completes(spark, base_night, tmp_path, small_disk):
    mount, grow = small_disk
    out = mount / "out"
    code, printed = captured(run_night, base_night["data"], out)
    assert code != 0
    assert "Traceback" not in printed and ("disk space" in printed or "No space left" in printed), printed
    grow()
    spark.catalog.clearCache()
    code, printed = captured(run_night, base_night["data"], out)
    assert code == 0, printed
    assert aging(spark, out) == aging(spark, base_night["out"])


def test_a_table_folder_without_a_commit_is_treated_as_absent_and_named(spark, base_night, tmp_path):
    data, out = copy_night(base_night, tmp_path)
    shutil.rmtree(out / "ops" / "run_log")
    (out / "ops" / "run_log" / "_delta_log").mkdir(parents=True)
    (out / "ops" / "run_log" / "part-00000-half-written.parquet").write_bytes(b"PAR1")
    code, printed = captured(run_night, data, out)
    assert code == 0, printed
    assert "ops.run_log has files but no committed version" in printed
    aside = [p for p in (out / "ops").iterdir() if p.name.startswith("_run_log.uncommitted-")]
    assert len(aside) == 1 and (aside[0] / "part-00000-half-written.parquet").read_bytes() == b"PAR1"
    assert last_run(spark, out).status == "succeeded"


def test_an_unwritable_output_is_a_clear_error_without_a_traceback(base_night, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    code, printed = captured(run_night, base_night["data"], blocker / "out")
    assert code == 2 and "Traceback" not in printed
    assert f"cannot use {blocker / 'out'}" in printed or f"cannot use {blocker}" in printed
    assert "Choose a writable --output-dir" in printed or "Check the path" in printed

    ro = tmp_path / "ro"
    ro.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(ro)], capture_output=True)
    if done.returncode != 0:
        pytest.skip("cannot mount a read-only tmpfs here")
    try:
        code, printed = captured(run_night, base_night["data"], ro / "out")
        assert code == 2 and "Traceback" not in printed
        assert "Read-only file system" in printed and "Choose a writable --output-dir" in printed
    finally:
        subprocess.run(["umount", "-l", str(ro)], check=False)
    assert not os.path.exists(ro / "out")
