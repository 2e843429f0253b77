"""`make demo`: several simulated nights on a generated extract, with the run log printed.

Night 1 loads everything; night 2 brings new invoices as delta files, a payment, a
corrected line item and a SKU price change; night 3 re-delivers a file unchanged and moves
the as-of date; night 4 changes nothing. Watch the counts: only what changed moves.
"""

from __future__ import annotations

import csv
import shutil
import sys
import tempfile
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from receivables.cli import main as cli
from receivables.generate import generate


def _rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def _write(path: Path, rows: Sequence[Sequence[object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="receivables-demo-"))
    data, out = work / "data", work / "output"
    generate(data, invoices=2000, accounts=50, skus=40, seed=3)
    nights = []

    def night(as_of: str, story: str) -> None:
        print(f"\n=== {as_of}: {story}")
        if cli(["run", "--input-dir", str(data), "--output-dir", str(out), "--as-of", as_of]) != 0:
            raise SystemExit(1)
        nights.append(as_of)

    night("2024-12-31", "first load of the full extract")
    lines = _rows(data / "invoice_line_items.csv")
    skus = _rows(data / "skus.csv")
    _write(data / "invoices" / "2025-01-01.csv",
           [["invoice_id", "account_id", "date_issued"], [90001, 1, "2025-01-01"]])
    _write(data / "invoice_line_items" / "2025-01-01.csv",
           [["invoice_id", "item_id", "quantity"], [90001, skus[1][0], 3],
            [lines[1][0], lines[1][1], int(lines[1][2]) + 1]])
    _write(data / "payments" / "2025-01-01.csv",
           [["payment_id", "invoice_id", "payment_date", "amount"], [900001, 90001, "2025-01-01", "5.00"]])
    skus[1][4] = f"{Decimal(skus[1][4]) + Decimal('2.00'):.2f}"
    _write(data / "skus.csv", skus)
    night("2025-01-01", "1 new invoice, 1 payment, 1 corrected line, 1 SKU price change")
    shutil.copy(data / "payments" / "2025-01-01.csv", data / "payments" / "2025-01-01-resent.csv")
    night("2025-01-02", "a file re-delivered unchanged; as-of moves one day (open invoices age)")
    night("2025-01-02", "nothing new: an identical re-run")
    print("\nRun log (receivables sql over ops.run_log):")
    cli(["sql", "SELECT as_of_date, status, counts['files.ingested'] AS files_in, "
         "counts['files.skipped_identical'] AS files_skipped, "
         "counts['silver.invoice_line_items.updated'] AS lines_updated, "
         "counts['gold.invoice_aging.recomputed'] AS gold_recomputed, "
         "counts['gold.invoice_aging.updated'] AS gold_updated, "
         "counts['gold.invoice_aging.inserted'] AS gold_inserted, "
         "control_totals['gold.outstanding'] AS outstanding "
         "FROM ops.run_log ORDER BY started_at", "--output-dir", str(out)])
    print(f"\nTables are in {out}; remove {work} when done.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
