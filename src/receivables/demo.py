"""`make demo`: several simulated nights on a generated extract, with the run log printed.

Night 1 loads everything; night 2 brings new invoices as delta files, a payment, a
corrected line item and a SKU price change; night 3 re-delivers a file unchanged and moves
the as-of date; night 4 changes nothing. Watch the counts: only what changed moves.
"""

from __future__ import annotations

import argparse
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m receivables.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--dest", metavar="DIR",
                        help="folder for the demo's data/ and output/ (default: a new temporary folder)")
    args = parser.parse_args(argv)
    work = Path(args.dest) if args.dest else Path(tempfile.mkdtemp(prefix="receivables-demo-"))
    if work.exists() and any(work.iterdir()):
        print(f"error: {work} is not empty; the demo writes data/ and output/ into an empty folder", file=sys.stderr)
        return 2
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
    # a counter a run never touched is absent from its map: 0, not NULL
    cli(["sql", "SELECT as_of_date, status, "
         + ", ".join(f"coalesce(counts['{key}'], 0) AS {name}" for key, name in (
             ("files.ingested", "files_in"), ("files.skipped_identical", "files_skipped"),
             ("silver.invoice_line_items.updated", "lines_updated"),
             ("gold.invoice_aging.recomputed", "gold_recomputed"), ("gold.invoice_aging.updated", "gold_updated"),
             ("gold.invoice_aging.inserted", "gold_inserted")))
         + ", control_totals['gold.outstanding'] AS outstanding FROM ops.run_log ORDER BY started_at",
         "--output-dir", str(out)])
    print(f"\nTables are in {out}" + ("" if args.dest else f"; remove {work} when done."))
    return 0


if __name__ == "__main__":
    sys.exit(main())
