"""The aging report a credit team reads: one self-contained HTML page and two CSV files.

Built from gold.account_receivables_history (one snapshot per run) and the version of
gold.invoice_aging the same run left, so any past run's report can be produced again.

- ``aging_report.html``: summary (outstanding, past due, % past due, credit balances, DSO),
  the aging matrix (one row per customer × current / past-due buckets / total / % of
  total, a TOTAL row, filter and sort in the page, each customer expanding to its open
  invoices), a bar chart of outstanding by bucket and the outstanding / past-due trend
  (one point per as-of date: the latest run for that date). Charts are Vega-Lite specs
  made with Altair, rendered by the Vega bundle written into the page (works offline).
  Every value is escaped; JSON inside ``<script>`` cannot close the element.
- ``aging_report.csv``: the matrix, one row per customer.
- ``aging_open_invoices.csv``: every open invoice of the snapshot.

CSV text cells that a spreadsheet would run as a formula (leading ``= + - @``, tab or
carriage return) get a leading quote; numbers are written untouched.

DSO (days sales outstanding, count-back over 90 days) = outstanding ÷ (Σ invoice_total of
invoices issued in the 90 days up to the as-of date) × 90; not shown when nothing was
issued in those 90 days.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import json
import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from receivables.buckets import Buckets
from receivables.errors import ReceivablesError
from receivables.readers import Reader

DSO_DAYS = 90
MAX_INVOICES_SHOWN = 200  # per customer in the page; every open invoice is in the CSV
ZERO = Decimal("0.00")
DAILY_TICKS_UP_TO = 14  # days the trend chart spans at most to have one tick a day
INVOICE_COLUMNS = ["account_id", "company_name", "invoice_id", "date_issued", "due_date", "days_past_due",
                   "aging_bucket", "invoice_total", "outstanding"]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_columns(buckets: Buckets) -> list[str]:
    """The matrix CSV's columns: one amount column per bucket the run aged with."""
    return ["account_id", "company_name", "unpaid_total", "past_due_total", "open_invoices",
            *buckets.columns.values(), "max_days_past_due", "credit_balance", "incomplete_invoices"]


def safe_cell(value: object) -> object:
    """A CSV cell a spreadsheet will not evaluate: text starting with = + - @ gets a quote."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return "" if value is None else value


def safe_cell_sql(expr: str) -> str:
    """``safe_cell`` as SQL both engines run (an empty text becomes an empty cell too)."""
    starts = "'=', '+', '-', '@', chr(9), chr(13)"
    quote = "''''"  # one single quote, as a SQL literal
    return f"(CASE WHEN substr({expr}, 1, 1) IN ({starts}) THEN concat({quote}, {expr}) ELSE NULLIF({expr}, '') END)"


@dataclass(frozen=True)
class TrendPoint:
    as_of: dt.date
    run_id: str
    outstanding: Decimal
    past_due: Decimal


@dataclass(frozen=True)
class Report:
    run_id: str
    as_of: dt.date
    bucket_set: Buckets  # the buckets the run aged with (its snapshot's amount columns)
    buckets: dict[str, Decimal]  # bucket name → outstanding
    accounts: list[dict[str, Any]]  # customers with a balance, largest total first
    trend: list[TrendPoint]
    aging: str | None = None  # gold.invoice_aging as the run left it: a relation for the reader
    invoices_note: str = ""  # why the drill-down is missing, when it is
    sales_window: Decimal | None = None  # invoiced in the DSO window

    @property
    def outstanding(self) -> Decimal:
        return sum((a["unpaid_total"] for a in self.accounts), ZERO)

    @property
    def past_due(self) -> Decimal:
        return sum((a["past_due_total"] for a in self.accounts), ZERO)

    @property
    def credit(self) -> Decimal:
        return sum((a["credit_balance"] for a in self.accounts), ZERO)

    @property
    def past_due_share(self) -> Decimal | None:
        return None if not self.outstanding else (100 * self.past_due / self.outstanding).quantize(Decimal("0.1"))

    @property
    def dso(self) -> Decimal | None:
        if not self.sales_window:
            return None
        return (self.outstanding / self.sales_window * DSO_DAYS).quantize(Decimal("0.1"))


def load(reader: Reader, run_id: str | None, as_of: dt.date | None) -> Report:
    if not reader.exists("gold.account_receivables_history"):
        raise ReceivablesError("gold.account_receivables_history is empty: run `receivables run` first")
    hist = reader.relation("gold.account_receivables_history")
    # A run's snapshot fills the amount columns of the bucket edges it aged with and
    # leaves NULL in those of other edges the history has seen (conf gold.bucket_edges).
    amounts = [c for c in reader.sql(f"SELECT * FROM {hist} LIMIT 0").columns if Buckets.is_amount_column(c)]
    runs = reader.sql(
        f"SELECT run_id, as_of_date, MAX(snapshot_at) AS snapshot_at, "
        f"{', '.join(f'COUNT({c}) AS {c}' for c in amounts)} FROM {hist} GROUP BY run_id, as_of_date"
    ).dicts()
    if run_id is not None:
        runs = [r for r in runs if r["run_id"] == run_id]
    elif as_of is not None:
        runs = [r for r in runs if r["as_of_date"] == as_of]
    if not runs:
        raise ReceivablesError(f"no run found for {run_id or as_of}; `receivables history` lists runs")
    pick = max(runs, key=lambda r: (r["as_of_date"], r["snapshot_at"]))
    bucket_set = Buckets.from_columns(c for c in amounts if pick[c])
    if bucket_set is None:
        raise ReceivablesError(f"the snapshot of run {pick['run_id']} holds no consistent set of bucket columns: "
                               f"{', '.join(c for c in amounts if pick[c])}")
    accounts = reader.sql(
        f"SELECT {', '.join(csv_columns(bucket_set))} FROM {hist} WHERE {_listed(pick['run_id'], pick['as_of_date'])} "
        "ORDER BY unpaid_total DESC, account_id ASC"
    ).dicts()
    buckets = {b: sum((a[c] for a in accounts), ZERO) for b, c in bucket_set.columns.items()}
    trend = _trend(reader, hist)
    aging, note, sales = _aging_of_run(reader, pick["run_id"], pick["as_of_date"])
    return Report(pick["run_id"], pick["as_of_date"], bucket_set, buckets, accounts, trend, aging, note, sales)


def _trend(reader: Reader, hist: str) -> list[TrendPoint]:
    """One point per as-of date: the latest snapshot taken for it."""
    rows = reader.sql(
        f"SELECT as_of_date, run_id, MAX(snapshot_at) AS snapshot_at, SUM(unpaid_total) AS outstanding, "
        f"SUM(past_due_total) AS past_due FROM {hist} GROUP BY as_of_date, run_id"
    ).dicts()
    latest: dict[dt.date, dict[str, Any]] = {}
    for r in rows:
        if r["as_of_date"] not in latest or r["snapshot_at"] > latest[r["as_of_date"]]["snapshot_at"]:
            latest[r["as_of_date"]] = r
    return [TrendPoint(d, r["run_id"], r["outstanding"] or ZERO, r["past_due"] or ZERO)
            for d, r in sorted(latest.items())]


def _aging_of_run(reader: Reader, run_id: str, as_of: dt.date) -> tuple[str | None, str, Decimal | None]:
    """gold.invoice_aging as the run left it (a relation for ``reader.sql``) and the DSO
    window's sales from it."""
    from receivables import audit

    try:
        version = audit.version_of_run(reader, "gold.invoice_aging", run_id)
        aging = reader.relation("gold.invoice_aging", version)
    except ReceivablesError as exc:
        return None, f"open invoices are not available for this run ({exc})", None
    since = as_of - dt.timedelta(days=DSO_DAYS)
    sales = reader.sql(
        f"SELECT SUM(invoice_total) AS s FROM {aging} WHERE date_issued > DATE '{since.isoformat()}' "
        f"AND date_issued <= DATE '{as_of.isoformat()}'"
    ).first()
    return aging, "", (sales or {}).get("s")


def write_csv(report: Report, path: Path) -> None:
    columns = csv_columns(report.bucket_set)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(columns)
        for row in report.accounts:
            w.writerow([safe_cell(row[c]) for c in columns])


def _listed(run_id: str, as_of: dt.date) -> str:
    """The condition on gold.account_receivables_history that picks the rows the matrix
    lists: the run's snapshot, customers with a balance."""
    from receivables import audit

    return (f"run_id = {audit.sql_run_id(run_id)} AND as_of_date = DATE '{as_of.isoformat()}' "
            "AND (unpaid_total <> 0 OR credit_balance <> 0)")


def _listed_accounts(report: Report, reader: Reader) -> str:
    """The run's snapshot rows the matrix lists, as a relation."""
    hist = reader.relation("gold.account_receivables_history")
    return f"(SELECT account_id, company_name, unpaid_total FROM {hist} WHERE {_listed(report.run_id, report.as_of)})"


def write_invoices_csv(report: Report, reader: Reader, path: Path) -> None:
    """Every open invoice of the run: customers in the matrix's order, each customer's
    largest first. The engine writes the rows (with DuckDB none passes through Python)."""
    if report.aging is None:
        with path.open("w", encoding="utf-8", newline="") as fh:
            csv.writer(fh, lineterminator="\n").writerow(INVOICE_COLUMNS)
        return
    reader.copy_csv(
        f"SELECT a.account_id, {safe_cell_sql('h.company_name')} AS company_name, a.invoice_id, a.date_issued, "
        f"a.due_date, a.days_past_due, {safe_cell_sql('a.aging_bucket')} AS aging_bucket, a.invoice_total, "
        f"a.outstanding FROM {report.aging} a JOIN {_listed_accounts(report, reader)} h "
        "ON h.account_id = a.account_id WHERE a.outstanding > 0 "
        "ORDER BY h.unpaid_total DESC, a.account_id ASC, a.outstanding DESC, a.invoice_id ASC",
        path,
    )


def drill_down_json(report: Report, reader: Reader) -> str:
    """The page's open invoices per customer, as JSON text safe inside ``<script>``:
    ``{"max": M, "accounts": {id: {"n": open invoices, "rows": [[invoice id, issued, due,
    days past due, bucket, outstanding], …]}}}``, at most M rows per customer, largest
    first; the page builds a customer's table from them when it is first expanded.

    The engine writes each row's JSON text and joins a customer's rows; they hold only
    numbers, ISO dates and bucket names (``[0-9a-z+-]`` by construction), so nothing
    needs escaping. Python handles one text per customer.
    """
    per_account: dict[int, tuple[int, str]] = {}
    if report.aging is not None:
        row = ("concat('[', CAST(invoice_id AS STRING), ',\"', CAST(date_issued AS STRING), '\",\"', "
               "CAST(due_date AS STRING), '\",', CAST(days_past_due AS STRING), ',\"', aging_bucket, '\",\"', "
               f"{reader.money_text('outstanding')}, '\"]')")
        ranked = (f"SELECT account_id, invoice_id, outstanding, {row} AS row_json, ROW_NUMBER() OVER "
                  "(PARTITION BY account_id ORDER BY outstanding DESC, invoice_id ASC) AS rn "
                  f"FROM {report.aging} WHERE outstanding > 0")
        shown = reader.ordered_join(f"CASE WHEN rn <= {MAX_INVOICES_SHOWN} THEN row_json END",
                                    "outstanding DESC, invoice_id ASC")
        for account, n, rows in reader.sql(
            f"SELECT account_id, COUNT(*) AS n, {shown} AS rows_json FROM ({ranked}) r GROUP BY account_id"
        ).values:
            per_account[account] = (n, rows or "")
    parts = []
    for a in report.accounts:
        n, rows = per_account.get(a["account_id"], (0, ""))
        parts.append(f'"{a["account_id"]}":{{"n":{n},"rows":[{rows}]}}')
    text = f'{{"max":{MAX_INVOICES_SHOWN},"accounts":{{{",".join(parts)}}}}}'
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _money(value: Decimal | None) -> str:
    return "" if value is None else f"{value:,.2f}"


def _share(part: Decimal, whole: Decimal) -> str:
    return "" if not whole else f"{100 * part / whole:.1f}%"


def _script_json(value: object) -> str:
    """JSON that is safe inside <script>: no '<', '>' or '&' can end the element."""
    text = json.dumps(value, default=str, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def chart_specs(report: Report) -> dict[str, dict[str, Any]]:
    """Vega-Lite specs (Altair) of the bucket bars and the trend lines."""
    import altair as alt

    order = list(report.buckets)
    bars = alt.Data(values=  # type: ignore[no-untyped-call]
        [{"bucket": b, "amount": float(v), "label": _money(v)} for b, v in report.buckets.items()])
    base = alt.Chart(bars).encode(
        x=alt.X("bucket:N", sort=order, title="Aging bucket", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("amount:Q", title="Outstanding", axis=alt.Axis(format=",.0f")),
    )
    bucket_chart = (
        base.mark_bar(color="#3b6ea5").encode(tooltip=[alt.Tooltip("bucket:N"), alt.Tooltip("label:N", title="amount")])
        + base.mark_text(dy=-6, fontSize=11).encode(text="label:N")
    ).properties(width=520, height=240, title="Outstanding by aging bucket")
    # Amounts are written at the first and the latest date only (every point has them in its
    # tooltip), inside the plot: the first date's to the right of its point, the latest's to
    # the left (a single date is a first); outstanding above its line, past due (never more
    # than outstanding) below its own unless that would reach the axis. The y axis leaves
    # room above the highest line for its label.
    last, top = len(report.trend) - 1, max((float(p.outstanding) for p in report.trend), default=0.0)
    points = [
        {"as_of": p.as_of.isoformat(), "series": series, "amount": float(v), "label": _money(v), "run_id": p.run_id,
         "edge": "first" if i == 0 else "last" if i == last else "",
         "place": "below" if series == "past due" and float(v) >= 0.15 * top else "above"}
        for i, p in enumerate(report.trend) for series, v in (("outstanding", p.outstanding), ("past due", p.past_due))
    ]
    trend_data = alt.Data(values=points)  # type: ignore[no-untyped-call]
    trend_base = alt.Chart(trend_data).encode(
        # Dates are days in UTC: a local-time scale would show 2024-12-30 for 2024-12-31 to a
        # reader west of UTC; over a few days, one tick a day (Vega would add ticks between
        # the days, each labelled with the same date).
        x=alt.X("as_of:T", title="As-of date", scale=alt.Scale(type="utc"),
                axis=alt.Axis(format="%Y-%m-%d", labelAngle=-30, **_day_ticks(report.trend))),
        y=alt.Y("amount:Q", title="Amount", axis=alt.Axis(format=",.0f"),
                scale=alt.Scale(domainMax=top * 1.15, nice=True) if top > 0 else alt.Undefined),
        color=alt.Color("series:N", title=None, scale=alt.Scale(range=["#3b6ea5", "#a53b3b"]),
                        legend=alt.Legend(orient="top")),
    )
    sides: tuple[tuple[str, Literal["left", "right"], int], ...] = (("first", "left", 3), ("last", "right", -3))
    labels = [
        trend_base.transform_filter((alt.datum.edge == edge) & (alt.datum.place == place))
        .mark_text(align=align, dx=dx, dy=dy, fontSize=10).encode(text="label:N")
        for edge, align, dx in sides
        for place, dy in (("above", -9), ("below", 15))
    ]
    trend_chart = alt.layer(
        trend_base.mark_line(point=True).encode(
            tooltip=[alt.Tooltip("as_of:N", title="as of"), "series:N",
                     alt.Tooltip("label:N", title="amount"), alt.Tooltip("run_id:N", title="run")]),
        *labels,
    ).properties(width=560, height=240, title="Outstanding and past due by as-of date (latest run per date)")
    return {"chart-buckets": bucket_chart.to_dict(), "chart-trend": trend_chart.to_dict()}


def _day_ticks(trend: list[TrendPoint]) -> dict[str, Any]:
    """The trend axis's ticks: one a day when its dates span at most two weeks, else Vega's own."""
    if not trend:
        return {}
    days = (max(p.as_of for p in trend) - min(p.as_of for p in trend)).days
    return {"tickCount": {"interval": "day", "step": 1}} if days <= DAILY_TICKS_UP_TO else {}


_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:84rem;color:#222;
  padding:0 1rem}
h1{margin-bottom:.2rem}.meta{color:#555;margin-top:0}
.cards{display:flex;flex-wrap:wrap;gap:.8rem;margin:1rem 0}
.card{border:1px solid #ddd;border-radius:6px;padding:.6rem 1rem;min-width:10rem}
.card .label{font-size:.8rem;color:#555;text-transform:uppercase;letter-spacing:.03em}
.card .value{font-size:1.4rem;font-variant-numeric:tabular-nums}
.charts{display:flex;flex-wrap:wrap;gap:2rem}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:.25rem .45rem;border-bottom:1px solid #e5e5e5;text-align:right;white-space:nowrap}
th:first-child,td:first-child,td.name{text-align:left}
thead th{cursor:pointer;background:#f5f5f5;position:sticky;top:0}
thead th[aria-sort=ascending]::after{content:" ▲"}thead th[aria-sort=descending]::after{content:" ▼"}
tfoot td{font-weight:bold;border-top:2px solid #333}
tr.detail>td{background:#fafafa;padding:.3rem 1rem .8rem 2.5rem}
tr.detail table{width:auto}
button.expand{border:0;background:none;cursor:pointer;font-size:1rem;width:1.5rem}
.past{color:#a53b3b}.note{color:#555;font-size:.9rem}
#filter{padding:.3rem .5rem;width:20rem;margin:.5rem 0}
"""

_SCRIPT = """
(function(){
  const specs = JSON.parse(document.getElementById('chart-specs').textContent);
  for (const [id, spec] of Object.entries(specs)) {
    vegaEmbed('#' + id, spec, {actions: false, renderer: 'svg'}).catch(console.error);
  }
  const drill = JSON.parse(document.getElementById('open-invoices').textContent);
  const heads = ['invoice', 'issued', 'due', 'days past due', 'bucket', 'outstanding'];
  function fill(cell, account) {  // the open-invoice table, built from text nodes only
    const data = drill.accounts[account] || {n: 0, rows: []};
    if (!data.rows.length) { const p = document.createElement('p'); p.className = 'note';
      p.textContent = 'No open invoices.'; cell.appendChild(p); return; }
    const table = document.createElement('table'); table.className = 'invoices';
    const head = table.createTHead().insertRow();
    for (const h of heads) { const th = document.createElement('th'); th.textContent = h; head.appendChild(th); }
    const tbody = table.createTBody();
    for (const r of data.rows) {
      const tr = tbody.insertRow();
      r.forEach((v, i) => { const td = tr.insertCell(); td.textContent = String(v);
        if (i === 3 && v > 0) td.className = 'past'; });
    }
    cell.appendChild(table);
    if (data.n > data.rows.length) { const p = document.createElement('p'); p.className = 'note';
      p.textContent = (data.n - data.rows.length).toLocaleString() +
        ' more open invoices of this customer are in aging_open_invoices.csv.'; cell.appendChild(p); }
  }
  const body = document.querySelector('#matrix tbody');
  const pairs = () => Array.from(body.querySelectorAll('tr.customer')).map(r => [r, r.nextElementSibling]);
  body.addEventListener('click', e => {
    const b = e.target.closest('button.expand'); if (!b) return;
    const row = b.closest('tr'), detail = row.nextElementSibling;
    if (!detail.dataset.filled) { fill(detail.firstElementChild, row.dataset.account); detail.dataset.filled = '1'; }
    const open = b.getAttribute('aria-expanded') !== 'true';
    b.setAttribute('aria-expanded', String(open)); b.textContent = open ? '▾' : '▸';
    detail.hidden = !open;
  });
  document.getElementById('filter').addEventListener('input', e => {
    const q = e.target.value.trim().toLowerCase();
    let shown = 0;
    for (const [row, detail] of pairs()) {
      const hit = !q || row.dataset.search.includes(q);
      row.hidden = !hit; if (!hit) detail.hidden = true;
      else if (row.querySelector('button.expand')?.getAttribute('aria-expanded') === 'true') detail.hidden = false;
      shown += hit ? 1 : 0;
    }
    document.getElementById('shown').textContent = shown.toLocaleString();
  });
  document.querySelectorAll('#matrix thead th').forEach((th, i) => th.addEventListener('click', () => {
    const asc = th.getAttribute('aria-sort') !== 'ascending';
    document.querySelectorAll('#matrix thead th').forEach(h => h.removeAttribute('aria-sort'));
    th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
    const key = th.dataset.key, text = key === 'name';
    const sorted = pairs().sort((a, b) => {
      const x = a[0].dataset[key], y = b[0].dataset[key];
      const c = text ? x.localeCompare(y) : (parseFloat(x) - parseFloat(y));
      return asc ? c : -c;
    });
    for (const [row, detail] of sorted) { body.appendChild(row); body.appendChild(detail); }
  }));
})();
"""


def _matrix(report: Report) -> str:
    total = report.outstanding
    heads = "".join(f'<th data-key="b{i}">{html.escape(b)}</th>' for i, b in enumerate(report.buckets))
    amounts = list(report.bucket_set.columns.values())
    body = []
    for a in report.accounts:
        name = str(a["company_name"] or f"account {a['account_id']}")
        cells = "".join(f"<td>{_money(a[c])}</td>" for c in amounts)
        data = "".join(f' data-b{i}="{a[c]}"' for i, c in enumerate(amounts))
        search = html.escape(f"{name} {a['account_id']}".lower(), quote=True)
        body.append(
            f'<tr class="customer" data-account="{a["account_id"]}" data-name="{html.escape(name.lower(), quote=True)}"'
            f' data-search="{search}"{data} data-total="{a["unpaid_total"]}">'
            f'<td class="name"><button class="expand" aria-expanded="false" '
            f'aria-label="open invoices of {html.escape(name, quote=True)}">▸</button>'
            f'{html.escape(name)} <span class="note">#{a["account_id"]}</span></td>{cells}'
            f"<td>{_money(a['unpaid_total'])}</td><td>{_share(a['unpaid_total'], total)}</td></tr>"
            f'<tr class="detail" hidden><td colspan="{len(report.buckets) + 3}"></td></tr>'
        )
    foot_cells = "".join(f"<td>{_money(v)}</td>" for v in report.buckets.values())
    share_cells = "".join(f"<td>{_share(v, total)}</td>" for v in report.buckets.values())
    return (
        '<table id="matrix"><thead><tr><th data-key="name">Customer</th>'
        f'{heads}<th data-key="total">Total</th><th data-key="total">% of total</th></tr></thead>'
        f"<tbody>{''.join(body)}</tbody>"
        f'<tfoot><tr id="total-row"><td>TOTAL</td>{foot_cells}<td id="grand-total">{_money(total)}</td>'
        f'<td>{"100.0%" if total else ""}</td></tr>'
        f'<tr id="share-row"><td>% of total</td>{share_cells}<td></td><td></td></tr></tfoot></table>'
    )


def render_html(report: Report, drill_down: str, vega_bundle: str) -> str:
    """The page; ``drill_down`` is ``drill_down_json``'s text."""
    share = report.past_due_share
    cards = [
        ("Total outstanding", _money(report.outstanding), "outstanding"),
        ("Past due", _money(report.past_due), "past-due"),
        ("% past due", "" if share is None else f"{share}%", "past-due-share"),
        ("Credit balances", _money(report.credit), "credit"),
        (f"DSO ({DSO_DAYS}-day count-back)", "n/a" if report.dso is None else f"{report.dso} days", "dso"),
        ("Customers with a balance", f"{len(report.accounts):,}", "customers"),
    ]
    card_html = "".join(
        f'<div class="card"><div class="label">{html.escape(label)}</div>'
        f'<div class="value" id="{key}">{html.escape(value)}</div></div>'
        for label, value, key in cards
    )
    note = f'<p class="note">{html.escape(report.invoices_note)}</p>' if report.invoices_note else ""
    bundle = vega_bundle.replace("</script", "<\\/script")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Accounts receivable aging — as of {report.as_of}</title>
<style>{_STYLE}</style>
<script>{bundle}</script>
</head><body>
<h1>Accounts receivable aging</h1>
<p class="meta">As of <strong id="as-of">{report.as_of}</strong> ·
run <code id="run-id">{html.escape(report.run_id)}</code></p>
<section class="cards" aria-label="summary">{card_html}</section>
<p class="note">DSO = outstanding ÷ invoiced in the {DSO_DAYS} days up to the as-of date × {DSO_DAYS}.
Past due = outstanding of invoices past their due date. Credit balances are overpayments, not netted
against outstanding.</p>
<section class="charts"><div id="chart-buckets"></div><div id="chart-trend"></div></section>
<h2>Aging by customer</h2>
<input id="filter" type="search" placeholder="Filter customers by name or id" aria-label="filter customers">
<span class="note"><span id="shown">{len(report.accounts):,}</span> of {len(report.accounts):,} customers ·
click a column to sort · ▸ shows a customer's open invoices</span>
{note}
{_matrix(report)}
<script type="application/json" id="chart-specs">{_script_json(chart_specs(report))}</script>
<script type="application/json" id="open-invoices">{drill_down}</script>
<script>{_SCRIPT}</script>
</body></html>
"""


def vega_bundle() -> str:
    """vega + vega-lite + vega-embed as one script, for the Vega-Lite version Altair writes.
    Built once (about 2 s) and kept in the cache folder (``$RECEIVABLES_CACHE``, else
    ``~/.cache/receivables``)."""
    from importlib.metadata import version as installed

    from altair.utils._importers import vl_version_for_vl_convert

    from receivables.cds import cache_dir

    vl = vl_version_for_vl_convert()
    cached = cache_dir() / f"vega-embed-{installed('vl-convert-python')}-{vl}.js"
    if cached.is_file():
        return cached.read_text(encoding="utf-8")
    import vl_convert  # a large native module: only when the bundle is not cached yet

    text = str(vl_convert.javascript_bundle(vl_version=vl))  # type: ignore[call-arg]
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(text, encoding="utf-8")
        partial.replace(cached)
    except OSError:
        pass  # an unwritable cache only costs the next report the same 2 s
    return text


def write(report: Report, reader: Reader, out_dir: str | Path) -> tuple[Path, Path, Path]:
    """The page and the two CSV files in ``out_dir``; ``reader`` (the one ``load`` used)
    reads the run's open invoices."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv_path, invoices_path, html_path = (out / "aging_report.csv", out / "aging_open_invoices.csv",
                                          out / "aging_report.html")
    write_csv(report, csv_path)
    write_invoices_csv(report, reader, invoices_path)
    html_path.write_text(render_html(report, drill_down_json(report, reader), vega_bundle()), encoding="utf-8")
    return html_path, csv_path, invoices_path
