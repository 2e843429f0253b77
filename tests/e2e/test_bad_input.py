"""The bad-input catalogue (docs/reliability.md): every case has a named outcome.

Row-level problems are delivered together in one night and each must end as a quarantine
row with its reason, a collapsed duplicate, a pending row or a flagged row, with rows and
amounts conserved. File-level problems each stop the run with a message naming file, line
and problem, and change no table (the run log records the failed run).
"""

from __future__ import annotations

import contextlib
import io as io_
import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from receivables import io
from receivables.pipeline import CATALOG
from tests.e2e.conftest import gold, last_run, run_cli, write_files

pytestmark = pytest.mark.e2e

AS_OF = "2024-03-31"
S1, S2 = "0-000-00001-1", "0-000-00002-2"
CONTACTS = ["Jane O'Hara", "+1-555-0100", "114 York Fork", "North Shelbyborough", "Ada Park", "+1-555-0199"]

FILES = {
    # BOM, columns reordered, quoted multi-line address with commas, comma in a name.
    "accounts.csv": "\ufeffjoining_date,account_id,company_name,company_address,contact_person,contact_phone,gender\n"
    '2020-01-01,1,"Acme, Inc","114 York Fork\nNorth Shelbyborough, SD 08296",Jane O\'Hara,+1-555-0100,F\n'
    '2020-02-01,2,Bolt Ltd,"1 Main St\nSpringfield, IL 62701",Ada Park,+1-555-0199,F\n'
    "2021-1-5,4,Late Co,Somewhere,Al Smith,+1-555-0142,M\n",
    "skus.csv": "item_id,item_name,item_description,item_cost_price,item_retail_price\n"
    f"{S1},Pen,A pen,5.00,10.00\n"
    f"{S1},Pen,A pen,5.00,10.00\n"
    f"{S2},Pad,A pad,1.00,2.50\n"
    '0-000-00003-3,Locale,x,1.00,"1.000,50"\n'
    "0-000-00004-4,Sci,x,1.00,1e3\n"
    "0-000-00005-5,Zero,x,1.00,0.00\n"
    "0-000-00006-6,Neg,x,1.00,-3.00\n"
    "0-000-00007-7,Fine,x,1.00,12.345\n",
    "invoices.csv": "invoice_id,account_id,date_issued\n"
    "1,1,2024-01-10\n"
    "1,1,2024-01-10\n"
    "2,2,2024-01-15\n"
    "3,1,2021-02-30\n"
    "4,1,2021-1-5\n"
    "5,1,2024-02-01\n"
    "5,2,2024-02-01\n"
    "6,99,2024-02-10\n"
    "7,1\n",
    "invoice_line_items.csv": "invoice_id,item_id,quantity\n"
    f"1,{S1},2\n"
    f"1,{S2},4\n"
    f"2,{S1},1\n"
    f"2,{S2},0\n"
    f"6,{S1},1\n"
    f"6,{S2},-1\n"
    f"6,{S2},2.5\n"
    f"8,{S1},1\n"
    f"1,{S1},2,9\n",
    "payments.csv": "payment_id,invoice_id,payment_date,amount\n"
    "101,1,2024-01-20,20.00\n"
    "102,2,2024-01-01,5.00\n"
    "103,1,2024-01-21,0.00\n"
    "104,1,2024-01-22,-5.00\n"
    '105,1,2024-01-23,"100,5"\n'
    "106,1,2024-01-24,1e3\n"
    "107,1,2024-01-25,10.005\n"
    "108,8,2024-01-26,3.00\n"
    "101,1,2024-01-20,20.00\n",
}

# (entity, record_key, what the reason must say)
QUARANTINED = [
    ("accounts", "account_id=4", "joining_date '2021-1-5' is not a real date written YYYY-MM-DD"),
    ("skus", "item_id=0-000-00003-3", "item_retail_price '1.000,50' is not a positive amount"),
    ("skus", "item_id=0-000-00004-4", "item_retail_price '1e3' is not a positive amount"),
    ("skus", "item_id=0-000-00005-5", "item_retail_price '0.00' is not a positive amount"),
    ("skus", "item_id=0-000-00006-6", "item_retail_price '-3.00' is not a positive amount"),
    ("skus", "item_id=0-000-00007-7", "item_retail_price '12.345' is not a positive amount"),
    ("invoices", "invoice_id=3", "date_issued '2021-02-30' is not a real date"),
    ("invoices", "invoice_id=4", "date_issued '2021-1-5' is not a real date"),
    ("invoices", "invoice_id=5", "conflicting duplicate key: invoice_id=5"),
    ("invoices", "invoice_id=7", "malformed row: not 5 fields as the header says"),
    ("invoice_line_items", f"invoice_id=2, item_id={S2}", "quantity '0' is not a positive whole number"),
    ("invoice_line_items", f"invoice_id=6, item_id={S2}", "quantity '-1' is not a positive whole number"),
    ("invoice_line_items", f"invoice_id=6, item_id={S2}", "quantity '2.5' is not a positive whole number"),
    ("invoice_line_items", f"invoice_id=1, item_id={S1}", "malformed row"),
    ("payments", "payment_id=103", "amount '0.00' is not a positive amount"),
    ("payments", "payment_id=104", "amount '-5.00' is not a positive amount"),
    ("payments", "payment_id=105", "amount '100,5' is not a positive amount"),
    ("payments", "payment_id=106", "amount '1e3' is not a positive amount"),
    ("payments", "payment_id=107", "amount '10.005' is not a positive amount"),
]


@pytest.fixture(scope="module")
def catalogue(spark, tmp_path_factory):
    base = tmp_path_factory.mktemp("bad_input")
    data, out = base / "data", base / "output"
    write_files(data, FILES)
    printed = io_.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        code = run_cli("run", "--input-dir", str(data), "--output-dir", str(out), "--as-of", AS_OF)
    assert code == 0, printed.getvalue()
    quarantine = [
        (r.entity, r.record_key, r.reason)
        for r in io.read(spark, str(out / "silver" / "quarantine")).collect()
    ]
    return {"base": base, "data": data, "out": out, "quarantine": quarantine, "run": last_run(spark, out),
            "printed": printed.getvalue()}


def test_every_bad_row_is_quarantined_with_its_reason(catalogue):
    got = catalogue["quarantine"]
    for entity, key, reason in QUARANTINED:
        assert any(e == entity and k == key and reason in r for e, k, r in got), (entity, key, reason, got)
    conflicts = [q for q in got if q[0] == "invoices" and q[1] == "invoice_id=5"]
    assert len(conflicts) == 2  # every copy of a conflicting key, not one of them
    assert len(got) == len(QUARANTINED) + 1


def test_rows_and_amounts_are_conserved_and_logged(catalogue):
    run = catalogue["run"]
    c, t = run.counts, run.control_totals
    records = {i.entity: i.records for i in run.inputs}
    # hand count of FILES: rows per file = bronze rows = accepted + duplicate + superseded + quarantined
    assert records == {"accounts": 3, "skus": 8, "invoices": 9, "invoice_line_items": 9, "payments": 9}
    expected = {
        "accounts": (2, 0, 1), "skus": (2, 1, 5), "invoices": (3, 1, 5),
        "invoice_line_items": (5, 0, 4), "payments": (3, 1, 5),
    }
    for entity, (accepted, duplicate, quarantined) in expected.items():
        assert c[f"bronze.{entity}.rows_appended"] == records[entity]
        assert c[f"silver.{entity}.bronze_rows"] == records[entity]
        assert c[f"silver.{entity}.accepted"] == accepted, entity
        assert c[f"silver.{entity}.duplicate"] == duplicate, entity
        assert c[f"silver.{entity}.invalid"] + c[f"silver.{entity}.conflict"] == quarantined, entity
    # amounts: 20 + 5 + 3 accepted, 20 duplicate, 0 − 5 + 10.005 rejected (kept to the cent in the log)
    assert t["silver.payments.amount.accepted"] == Decimal("28.00")
    assert t["silver.payments.amount.duplicate"] == Decimal("20.00")
    assert t["silver.payments.amount.invalid"] == Decimal("5.00")
    assert t["bronze.payments.amount.batch"] == Decimal("53.00")  # 53.005, logged to the cent
    assert t["silver.invoice_line_items.quantity.accepted"] == Decimal("9.00")  # 2 + 4 + 1 + 1 + 1


def test_good_rows_reach_gold_late_ones_wait_and_early_payments_are_flagged(spark, catalogue):
    rows = {r.invoice_id: r for r in gold(spark, catalogue["out"]).collect()}
    assert sorted(rows) == [1, 2, 6]  # 3, 4, 5 and 7 are quarantined; 8 has not arrived
    one, two, six = rows[1], rows[2], rows[6]
    # 1: 2 × 10.00 + 4 × 2.50 = 30.00; paid 20.00 once (the duplicate is not counted twice)
    assert (one.invoice_total, one.paid_to_date, one.outstanding) == (Decimal("30"), Decimal("20"), Decimal("10"))
    # due 2024-02-09: 51 days past due on 2024-03-31
    assert (one.days_past_due, one.aging_bucket, one.early_payments) == (51, "31-60", 0)
    # 2: paid 5.00 on 2024-01-01, before it was issued on 2024-01-15: counted and flagged
    assert (two.paid_to_date, two.outstanding, two.early_payments) == (Decimal("5.00"), Decimal("5.00"), 1)
    # 6: its account 99 has not arrived: kept, default terms, marked incomplete
    assert (six.invoice_total, six.is_complete, six.missing_inputs) == (Decimal("10.00"), False, "account")
    accounts = {r.account_id: r for r in gold(spark, catalogue["out"], "account_receivables").collect()}
    assert accounts[1].company_name == "Acme, Inc"  # BOM, reordered header, multi-line address


def test_no_contact_data_in_logs_commit_metadata_run_log_or_gold(spark, catalogue):
    out = catalogue["out"]
    printed = catalogue["printed"]
    assert "succeeded in" in printed  # the run's own output was captured
    run_log = json.dumps([r.asDict(recursive=True) for r in io.read(spark, str(out / "ops" / "run_log")).collect()],
                         default=str)
    commits = []
    for layer, names in CATALOG.items():
        for name in names:
            path = str(out / layer / name)
            if io.is_table(spark, path):
                hist = spark.sql(f"DESCRIBE HISTORY delta.`{path}`")
                commits += [json.dumps(r.asDict(recursive=True), default=str) for r in hist.collect()]
    gold_text = json.dumps(
        [r.asDict() for t in ("invoice_aging", "account_receivables", "account_receivables_history")
         for r in gold(spark, out, t).collect()], default=str)
    for secret in CONTACTS:
        assert secret not in printed
        assert secret not in run_log
        assert not any(secret in c for c in commits), secret
        assert secret not in gold_text
    for table in ("account_receivables", "account_receivables_history"):
        columns = gold(spark, out, table).columns
        assert not {"contact_person", "contact_phone", "company_address"} & set(columns)


BAD_FILES = [
    ("unterminated_quote", "payments/late.csv",
     'payment_id,invoice_id,payment_date,amount\n201,1,2024-02-01,"5.00\n202,1,2024-02-02,1.00\n',
     [", line ", "unterminated quote"]),
    ("header_missing_column", "invoices/late.csv", "invoice_id,date_issued\n9,2024-02-01\n",
     ["line 1", "account_id"]),
    ("header_renamed_column", "invoices/late.csv", "invoice_id,account,date_issued\n9,1,2024-02-01\n",
     ["line 1", "account"]),
    ("header_extra_column", "invoices/late.csv", "invoice_id,account_id,date_issued,notes\n9,1,2024-02-01,x\n",
     ["line 1", "notes"]),
    ("empty_file", "invoices/late.csv", "", ["is empty"]),
    ("non_utf8_bytes", "invoices/late.csv", b"invoice_id,account_id,date_issued\n9,1,2024-02-01\n10,1,caf\xe9\n",
     ["line 3", "UTF-8"]),
]


@pytest.mark.parametrize(("case", "rel", "content", "says"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_a_bad_file_stops_the_run_names_file_and_line_and_changes_no_table(
    spark, catalogue, tmp_path, capsys, case, rel, content, says
):
    data = tmp_path / "data"
    shutil.copytree(catalogue["data"], data)
    target = data / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        target.write_bytes(content)
    else:
        target.write_text(content, encoding="utf-8", newline="")
    out = catalogue["out"]
    tables = [(layer, n) for layer, names in CATALOG.items() for n in names if (layer, n) != ("ops", "run_log")]
    before = {t: io.version(spark, str(out / t[0] / t[1])) for t in tables}
    logged = io.version(spark, str(out / "ops" / "run_log"))

    code = run_cli("run", "--input-dir", str(data), "--output-dir", str(out), "--as-of", AS_OF)

    printed = capsys.readouterr()
    assert code == 3  # input rejected
    assert str(Path(rel).name) in printed.err
    for phrase in says:
        assert phrase in printed.err, (phrase, printed.err)
    assert "starting Spark" not in printed.out  # refused by the plain-Python check, before Spark
    assert {t: io.version(spark, str(out / t[0] / t[1])) for t in tables} == before
    assert io.version(spark, str(out / "ops" / "run_log")) == logged  # no run took place


def test_same_file_name_with_new_content_is_processed_and_flagged(spark, catalogue, tmp_path):
    data, out = tmp_path / "data", tmp_path / "out"
    shutil.copytree(catalogue["data"], data)
    shutil.copytree(catalogue["out"], out)
    old = (data / "payments.csv").read_text(encoding="utf-8")
    (data / "payments.csv").write_text(old + "109,1,2024-02-01,4.00\n", encoding="utf-8", newline="")
    assert run_cli("run", "--input-dir", str(data), "--output-dir", str(out), "--as-of", AS_OF) == 0
    run = last_run(spark, out)
    manifest = io.read(spark, str(out / "ops" / "file_manifest")).filter(
        (F.col("run_id") == run.run_id) & (F.col("source_file") == "payments.csv")
    ).first()
    assert manifest.action == "ingested" and manifest.replaces_checksum is not None
    # the whole new version went through silver: the old rows are unchanged, 109 is new
    assert run.counts["silver.payments.inserted"] == 1
    assert gold(spark, out).filter("invoice_id = 1").first().paid_to_date == Decimal("24.00")
