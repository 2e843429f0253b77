"""The aging report a credit team reads: a CSV and a self-contained HTML page.

Built from gold.account_receivables_history (one snapshot per run), so any past run's
report can be produced again. The CSV escapes text cells that a spreadsheet would run as a
formula (leading ``= + - @``, tab or carriage return); numbers are written untouched.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from receivables import io
from receivables.errors import ReceivablesError
from receivables.gold.account_receivables import BUCKET_COLUMNS

CSV_COLUMNS = [
    "account_id", "company_name", "unpaid_total", "past_due_total", "open_invoices",
    *BUCKET_COLUMNS.values(), "max_days_past_due", "credit_balance", "incomplete_invoices",
]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """A CSV cell a spreadsheet will not evaluate: text starting with = + - @ gets a quote."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return "" if value is None else value


@dataclass(frozen=True)
class Report:
    run_id: str
    as_of: dt.date
    buckets: dict[str, Decimal]
    accounts: list[dict[str, object]]
    trend: list[tuple[dt.date, str, Decimal]]


def load(spark: SparkSession, output_dir: str, run_id: str | None, as_of: dt.date | None,
         top: int = 10) -> Report:
    path = io.table_path(output_dir, "gold", "account_receivables_history")
    if not io.is_table(spark, path):
        raise ReceivablesError("gold.account_receivables_history is empty: run `receivables run` first")
    hist = io.read(spark, path)
    runs = hist.select("run_id", "as_of_date", "snapshot_at").distinct()
    if run_id is not None:
        chosen = runs.filter(F.col("run_id") == run_id)
    elif as_of is not None:
        chosen = runs.filter(F.col("as_of_date") == F.lit(as_of))
    else:
        chosen = runs
    pick = chosen.orderBy(F.col("as_of_date").desc(), F.col("snapshot_at").desc()).first()
    if pick is None:
        raise ReceivablesError(f"no run found for {run_id or as_of}; `receivables history` lists runs")
    snap = hist.filter((F.col("run_id") == pick["run_id"]) & (F.col("as_of_date") == pick["as_of_date"]))
    sums = io.one(snap.agg(*[F.sum(c).alias(b) for b, c in BUCKET_COLUMNS.items()]))
    buckets = {b: sums[b] or Decimal("0.00") for b in BUCKET_COLUMNS}
    accounts = [
        r.asDict()
        for r in snap.select(*CSV_COLUMNS).orderBy(F.col("past_due_total").desc(), "account_id").collect()
    ]
    trend = [
        (r["as_of_date"], r["run_id"], r["unpaid"])
        for r in hist.groupBy("as_of_date", "run_id", "snapshot_at")
        .agg(F.sum("unpaid_total").alias("unpaid"))
        .orderBy("as_of_date", "snapshot_at")
        .collect()
    ]
    return Report(pick["run_id"], pick["as_of_date"], buckets, accounts[:], trend)


def write_csv(report: Report, path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(CSV_COLUMNS)
        for row in report.accounts:
            w.writerow([safe_cell(row[c]) for c in CSV_COLUMNS])


def _bars(buckets: dict[str, Decimal]) -> str:
    width, height, pad = 520, 220, 30
    top = max([float(v) for v in buckets.values()] + [1.0])
    step = (width - 2 * pad) / len(buckets)
    parts = []
    for i, (name, value) in enumerate(buckets.items()):
        h = (height - 2 * pad) * float(value) / top
        x = pad + i * step + 6
        y = height - pad - h
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{step - 12:.1f}" height="{h:.1f}" fill="#3b6ea5">'
            f"<title>{html.escape(name)}: {value:,}</title></rect>"
            f'<text x="{x + (step - 12) / 2:.1f}" y="{height - 10}" text-anchor="middle">'
            f"{html.escape(name)}</text>"
        )
    label = 'role="img" aria-label="outstanding by aging bucket"'
    return f'<svg {label} width="{width}" height="{height}">{"".join(parts)}</svg>'


def _trend(points: list[tuple[dt.date, str, Decimal]]) -> str:
    width, height, pad = 560, 200, 50
    if not points:
        return "<p>No runs yet.</p>"
    top = max(float(p[2]) for p in points) or 1.0
    n = max(len(points) - 1, 1)
    xy = [
        (pad + (width - 2 * pad) * i / n, height - pad - (height - 2 * pad) * float(p[2]) / top)
        for i, p in enumerate(points)
    ]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    labels = "".join(  # first and last as-of dates under the axis, values beside the points
        f'<text x="{xy[i][0]:.1f}" y="{height - 8}" text-anchor="middle">{points[i][0]}</text>'
        f'<text x="{xy[i][0]:.1f}" y="{xy[i][1] - 8:.1f}" text-anchor="middle">{points[i][2]:,}</text>'
        for i in sorted({0, len(points) - 1})
    )
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3"><title>{p[0]} ({html.escape(p[1])}): {p[2]:,}</title></circle>'
        for (x, y), p in zip(xy, points, strict=True)
    )
    return (f'<svg role="img" aria-label="unpaid total per run" width="{width}" height="{height}">'
            f'<polyline fill="none" stroke="#a53b3b" stroke-width="2" points="{line}"/>{dots}{labels}</svg>')


def write_html(report: Report, path: Path, top: int = 10) -> None:
    total = sum(report.buckets.values(), Decimal("0.00"))
    bucket_rows = "".join(
        f"<tr><td>{html.escape(b)}</td><td class=n>{v:,}</td></tr>" for b, v in report.buckets.items()
    )
    top_rows = "".join(
        f"<tr><td>{r['account_id']}</td><td>{html.escape(str(r['company_name'] or ''))}</td>"
        f"<td class=n>{r['past_due_total']:,}</td><td class=n>{r['unpaid_total']:,}</td>"
        f"<td class=n>{r['max_days_past_due']}</td></tr>"
        for r in report.accounts[:top]
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Accounts receivable aging — as of {report.as_of}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:60em}}table{{border-collapse:collapse}}
td,th{{padding:.2em .8em;border-bottom:1px solid #ddd}}.n{{text-align:right}}svg text{{font-size:12px}}</style>
</head><body>
<h1>Accounts receivable aging</h1>
<p>As of <strong>{report.as_of}</strong> (run <code>{html.escape(report.run_id)}</code>).
Outstanding: <strong id="total">{total:,}</strong></p>
<h2>Outstanding by aging bucket</h2>
{_bars(report.buckets)}
<table id="buckets"><tr><th>bucket</th><th>amount</th></tr>{bucket_rows}</table>
<h2>Largest past-due accounts</h2>
<table id="top"><tr><th>account</th><th>company</th><th>past due</th><th>unpaid</th>\
<th>max days</th></tr>{top_rows}</table>
<h2>Unpaid total across runs</h2>
{_trend(report.trend)}
</body></html>
"""
    path.write_text(page, encoding="utf-8")


def write(report: Report, out_dir: str | Path) -> tuple[Path, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv_path, html_path = out / "aging_report.csv", out / "aging_report.html"
    write_csv(report, csv_path)
    write_html(report, html_path)
    return csv_path, html_path
