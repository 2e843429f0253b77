"""Three simulated nights on a small generated extract, shared by the e2e modules."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from receivables.generate import generate
from tests.e2e.conftest import gold, last_run, run_cli

UNKNOWN_SKU = "9-999-99999-9"


def _write(path: Path, header: list[str], rows: list[list[object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def _read(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def _night(data: Path, out: Path, as_of: str) -> None:
    assert run_cli("run", "--input-dir", str(data), "--output-dir", str(out), "--as-of", as_of) == 0



@pytest.fixture(scope="session")
def nights(spark, tmp_path_factory):
    """Three nights on a small generated extract, with snapshots of what each reported."""
    base = tmp_path_factory.mktemp("nights")
    data, out = base / "data", base / "output"
    generate(data, invoices=300, accounts=20, skus=30, seed=11, start=dt.date(2024, 1, 1), days=180)
    skus = _read(data / "skus.csv")
    lines = _read(data / "invoice_line_items.csv")
    changed_sku = skus[2][0]
    seen: dict[str, object] = {"changed_sku": changed_sku}

    shutil.copytree(data, base / "data_night1")  # each night's input, for replays elsewhere
    seen["data_night1"] = base / "data_night1"
    _night(data, out, "2024-06-30")
    seen["night1_run"] = last_run(spark, out)
    seen["night1"] = {r.invoice_id: r for r in gold(spark, out).collect()}

    # Night 2: new invoices as delta files, a corrected line, a payment and a line whose
    # invoice has not arrived, an unknown SKU, and a SKU snapshot with one price changed.
    night1 = seen["night1"]
    corrected = next(r for r in lines[1:] if night1[int(r[0])].outstanding > 0)
    seen["corrected_invoice"] = int(corrected[0])
    _write(data / "invoices" / "2024-07-01.csv", ["invoice_id", "account_id", "date_issued"],
           [[5001, 1, "2024-07-01"], [5002, 2, "2024-07-01"], [5004, 3, "2024-06-15"]])
    _write(data / "invoice_line_items" / "2024-07-01.csv", ["invoice_id", "item_id", "quantity"],
           [[5001, changed_sku, 2], [5002, UNKNOWN_SKU, 1], [5003, changed_sku, 1],
            [5004, changed_sku, 1], [corrected[0], corrected[1], int(corrected[2]) + 1]])
    _write(data / "payments" / "2024-07-01.csv", ["payment_id", "invoice_id", "payment_date", "amount"],
           [[90001, 5003, "2024-07-01", "1.00"]])
    skus[2][4] = f"{Decimal(skus[2][4]) + Decimal('1.00'):.2f}"
    _write(data / "skus.csv", skus[0], skus[1:])
    shutil.copytree(data, base / "data_night2")
    seen["data_night2"] = base / "data_night2"
    _night(data, out, "2024-07-01")
    seen["night2_run"] = last_run(spark, out)
    seen["night2"] = {r.invoice_id: r for r in gold(spark, out).collect()}
    seen["night2_accounts"] = gold(spark, out, "account_receivables").collect()

    # Night 3: the missing invoice and SKU arrive; a file is re-delivered unchanged.
    _write(data / "invoices" / "2024-07-02.csv", ["invoice_id", "account_id", "date_issued"],
           [[5003, 1, "2024-07-01"]])
    _write(data / "skus" / "2024-07-02.csv", skus[0], [[UNKNOWN_SKU, "Late Item", "", "1.00", "4.00"]])
    shutil.copy(data / "invoices" / "2024-07-01.csv", data / "invoices" / "2024-07-01-resent.csv")
    _night(data, out, "2024-07-02")
    seen["night3_run"] = last_run(spark, out)
    seen["night3"] = {r.invoice_id: r for r in gold(spark, out).collect()}
    seen["base"], seen["data"], seen["out"] = base, data, out
    return seen


