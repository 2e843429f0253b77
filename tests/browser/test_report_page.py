"""The aging report in a real browser (headless Chromium): totals equal gold's, a customer
expands to its open invoices, filter and sort work, charts render, a hostile company name
stays text, and the page logs no error. Run with `make test-browser`."""

from __future__ import annotations

import csv
import datetime as dt
import os
import re
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from receivables import cli
from receivables.generate import generate
from receivables.readers import DuckReader

pytestmark = pytest.mark.browser
CHROMIUM = os.environ.get("RECEIVABLES_CHROMIUM", "/usr/bin/chromium")
HOSTILE = '<script>alert("x")</script> & "Co" =1+1'
# Chromium's flags for a closed network: no background connections, no first-run work.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def page_and_gold(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM} (`make test-browser` installs Debian's package)")
    base = tmp_path_factory.mktemp("browser")
    data, out, dest = base / "data", base / "out", base / "report"
    generate(data, invoices=120, accounts=12, skus=20, seed=11, start=dt.date(2024, 1, 1), days=120)
    accounts = data / "accounts.csv"
    with accounts.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    rows[1][1] = HOSTILE  # account 1's company name
    with accounts.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    assert cli.main(["run", "--input-dir", str(data), "--output-dir", str(out), "--as-of", "2024-05-15"]) == 0
    assert cli.main(["run", "--input-dir", str(data), "--output-dir", str(out), "--as-of", "2024-05-16"]) == 0
    assert cli.main(["report", "--output-dir", str(out), "--dest", str(dest)]) == 0
    reader = DuckReader(str(out))
    gold = reader.sql(f"SELECT account_id, aging_bucket, outstanding FROM {reader.relation('gold.invoice_aging')} "
                      "WHERE outstanding > 0").dicts()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        errors: list[str] = []
        dialogs: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto((dest / "aging_report.html").as_uri())
        page.wait_for_selector("#chart-buckets svg")
        page.wait_for_selector("#chart-trend svg")
        yield page, gold, errors, dialogs, dest, browser
        shot = os.environ.get("RECEIVABLES_SCREENSHOT")
        if shot:
            page.screenshot(path=shot, full_page=False)
        browser.close()
    shutil.rmtree(base, ignore_errors=True)


def _money(text: str) -> Decimal:
    return Decimal(text.replace(",", "") or "0")


def test_matrix_totals_equal_gold(page_and_gold):
    page, gold, *_ = page_and_gold
    expected = sum((r["outstanding"] for r in gold), Decimal("0"))
    assert _money(page.inner_text("#grand-total")) == expected
    assert _money(page.inner_text("#outstanding")) == expected
    heads = page.locator("#matrix thead th").all_inner_texts()
    totals = page.locator("#total-row td").all_inner_texts()
    for bucket in ("current", "1-30", "31-60", "61-90", "90+"):
        want = sum((r["outstanding"] for r in gold if r["aging_bucket"] == bucket), Decimal("0"))
        assert _money(totals[heads.index(bucket)]) == want, bucket
    customers = page.locator("#matrix tbody tr.customer")
    assert customers.count() == len({r["account_id"] for r in gold})


def test_a_customer_expands_to_its_open_invoices(page_and_gold):
    page, gold, *_ = page_and_gold
    row = page.locator("#matrix tbody tr.customer").first
    account = int(row.get_attribute("data-account") or 0)
    detail = page.locator(f'#matrix tbody tr.customer[data-account="{account}"] + tr.detail')
    assert detail.is_hidden()
    row.locator("button.expand").click()
    assert detail.is_visible()
    assert detail.locator("table.invoices tbody tr").count() == sum(1 for r in gold if r["account_id"] == account)
    row.locator("button.expand").click()
    assert detail.is_hidden()


def test_filter_and_sort(page_and_gold):
    page, *_ = page_and_gold
    page.fill("#filter", "alert")  # the hostile name, found as text
    visible = page.locator("#matrix tbody tr.customer:visible")
    assert visible.count() == 1 and page.inner_text("#shown") == "1"
    page.fill("#filter", "")
    page.click('#matrix thead th[data-key="total"] >> nth=0')
    totals = [_money(t) for t in page.locator("#matrix tbody tr.customer td:nth-last-child(2)").all_inner_texts()]
    assert totals == sorted(totals)


def test_charts_have_axes_and_value_labels(page_and_gold):
    page, *_ = page_and_gold
    bars = page.inner_text("#chart-buckets")
    assert "Aging bucket" in bars and "Outstanding" in bars
    labels = set(page.locator("#chart-buckets svg text").all_text_contents())
    heads = page.locator("#matrix thead th").all_inner_texts()
    totals = page.locator("#total-row td").all_inner_texts()
    for bucket in ("current", "1-30", "31-60", "61-90", "90+"):  # each bar carries its amount
        assert totals[heads.index(bucket)] in labels, (bucket, labels)
    trend = page.inner_text("#chart-trend")
    assert "As-of date" in trend and "Amount" in trend


def _box(locator) -> tuple[float, float, float, float]:
    """The union of the elements' boxes on the page: left, top, right, bottom."""
    boxes = [b for b in (e.bounding_box() for e in locator.all()) if b]
    assert boxes, locator
    return (min(b["x"] for b in boxes), min(b["y"] for b in boxes),
            max(b["x"] + b["width"] for b in boxes), max(b["y"] + b["height"] for b in boxes))


def test_the_trend_writes_the_first_and_latest_amounts_inside_its_plot(page_and_gold):
    """Each series' amount at the first and the latest as-of date is written once, within the
    plot (the axes' lines) and clear of the legend; the latest ones are the page's cards."""
    page, *_ = page_and_gold
    chart = page.locator("#chart-trend svg")
    labels = [t for t in chart.locator("text").all() if re.fullmatch(r"[\d,]+\.\d\d", t.text_content() or "")]
    latest = {page.inner_text("#outstanding"), page.inner_text("#past-due")}
    texts = [t.text_content() for t in labels]
    assert len(texts) == 4 and latest <= set(texts), (texts, latest)  # two dates × two series
    left, top, right, bottom = _box(chart.locator(".role-axis-domain"))
    legend = _box(chart.locator(".role-legend"))
    for label in labels:
        x0, y0, x1, y1 = _box(label)
        assert left <= x0 and x1 <= right and top <= y0 and y1 <= bottom, (label.text_content(), (x0, y0, x1, y1))
        assert y0 >= legend[3] or x1 <= legend[0] or x0 >= legend[2], (label.text_content(), legend)


def test_the_trend_shows_each_as_of_date_once_in_any_time_zone(page_and_gold):
    """Two runs a day apart: the axis names those two days, in UTC+0 and west of it (a local
    time scale showed 2024-05-14 for 2024-05-15 in New York, and a tick between the days)."""
    _page, _gold, _errors, _dialogs, dest, browser = page_and_gold
    for zone in ("UTC", "America/New_York", "Pacific/Auckland"):
        context = browser.new_context(timezone_id=zone)
        page = context.new_page()
        page.goto((dest / "aging_report.html").as_uri())
        page.wait_for_selector("#chart-trend svg")
        texts = page.locator("#chart-trend svg text").all_text_contents()
        dates = [t for t in texts if re.fullmatch(r"\d{4}-\d{2}-\d{2}", t)]
        assert dates == ["2024-05-15", "2024-05-16"], (zone, dates)
        context.close()


def test_hostile_names_are_text_and_the_page_logs_no_error(page_and_gold):
    page, _gold, errors, dialogs, dest, _browser = page_and_gold
    assert HOSTILE in page.inner_text("#matrix tbody")
    assert dialogs == [] and errors == []
    with (dest / "aging_report.csv").open(encoding="utf-8", newline="") as fh:
        names = [r["company_name"] for r in csv.DictReader(fh)]
    assert all(not n.startswith(("=", "+", "-", "@")) for n in names)
