"""The pre-pass over delivered files: headers, encoding, quoting, record counts."""

from __future__ import annotations

import os

import pytest

from receivables.bronze.files import DeliveredFile, Recorded, discover, facts_for, inspect, stat_key
from receivables.entities import ACCOUNTS, INVOICES
from receivables.errors import InputFileError, MissingInputError

HEADER = "invoice_id,account_id,date_issued,due_date,payment_dates\n"


def _facts(tmp_path, text: str | bytes, entity=INVOICES, name="invoices.csv"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return inspect(DeliveredFile(entity, path))


def test_counts_records_not_lines_and_detects_multiline(tmp_path):
    text = (
        "account_id,company_name,company_address,contact_person,contact_phone,gender,joining_date\n"
        '1,"Smith, Jones","114 York Fork\nNorth Shelbyborough, SD 08296",Ann,+1,Female,2020-01-01\n'
        '2,Acme,"1 Road",Bob,+2,Male,2020-01-02\n'
    )
    facts = _facts(tmp_path, text, ACCOUNTS, "accounts.csv")
    assert (facts.records, facts.multiline) == (2, True)


def test_single_line_file_is_not_multiline(tmp_path):
    facts = _facts(tmp_path, HEADER + "1,2,2021-01-01,,\n\n")
    assert (facts.records, facts.multiline) == (1, False)


def test_header_order_may_differ_and_alias_is_accepted(tmp_path):
    facts = _facts(tmp_path, "date_issued,payment_date,account_id,invoice_id\n2021-01-01,,1,1\n")
    assert facts.header == ("date_issued", "payment_dates", "account_id", "invoice_id")


def test_missing_column_names_file_and_column(tmp_path):
    with pytest.raises(InputFileError, match=r"invoices.csv, line 1: header lacks date_issued"):
        _facts(tmp_path, "invoice_id,account_id\n1,2\n")


def test_renamed_or_extra_column_is_refused(tmp_path):
    with pytest.raises(InputFileError, match="unexpected column"):
        _facts(tmp_path, "invoice_id,account_id,date_issued,colour\n1,2,2021-01-01,red\n")


def test_unterminated_quote_is_a_file_error(tmp_path):
    with pytest.raises(InputFileError, match="unterminated quote"):
        _facts(tmp_path, HEADER + '1,2,"2021-01-01,,\n3,4,2021-01-02,,\n')


def test_non_utf8_bytes_name_the_line(tmp_path):
    with pytest.raises(InputFileError, match=r"line 3: is not UTF-8"):
        _facts(tmp_path, HEADER.encode() + b"1,2,2021-01-01,,\n2,3,2021-01-0\xff,,\n")


def test_bom_is_accepted(tmp_path):
    facts = _facts(tmp_path, b"\xef\xbb\xbf" + HEADER.encode() + b"1,2,2021-01-01,,\n")
    assert (facts.has_bom, facts.records, facts.header[0]) == (True, 1, "invoice_id")


def test_empty_file_is_a_file_error(tmp_path):
    with pytest.raises(InputFileError, match="is empty"):
        _facts(tmp_path, b"")


def test_discover_finds_both_layouts_and_refuses_symlinks_out_of_root(tmp_path):
    root = tmp_path / "in"
    (root / "invoices").mkdir(parents=True)
    for name in ("accounts", "skus", "invoice_line_items"):
        (root / f"{name}.csv").write_text("x\n")
    (root / "invoices" / "2024-03-15.csv").write_text(HEADER)
    (root / "invoices" / "2024-03-16.csv").write_text(HEADER)
    found = [(d.entity.name, d.path.name) for d in discover(root)]
    assert ("invoices", "2024-03-15.csv") in found and ("invoices", "2024-03-16.csv") in found
    outside = tmp_path / "secret.csv"
    outside.write_text(HEADER)
    (root / "invoices" / "evil.csv").symlink_to(outside)
    with pytest.raises(InputFileError, match="outside the input root"):
        discover(root)


def test_missing_required_extract_is_named(tmp_path):
    with pytest.raises(MissingInputError, match="no accounts.csv"):
        discover(tmp_path)


def test_a_file_with_recorded_path_size_and_time_is_not_read_again(tmp_path):
    path = tmp_path / "invoices.csv"
    path.write_bytes((HEADER + "1,2,2021-01-01,,\n").encode())
    first = inspect(DeliveredFile(INVOICES, path))
    assert first.modified_ns == stat_key(path)[1]
    recorded = {("invoices", "invoices.csv", first.size_bytes, first.modified_ns):
                Recorded(first.checksum, first.records, first.multiline, first.has_bom)}
    # Same size and time, bytes no longer valid UTF-8: known facts prove it was not read.
    path.write_bytes(path.read_bytes()[:-3] + b",\xff\n")
    os.utime(path, ns=(first.modified_ns, first.modified_ns))
    known = facts_for(DeliveredFile(INVOICES, path), "invoices.csv", recorded)
    assert (known.checksum, known.records, known.size_bytes) == (first.checksum, 1, first.size_bytes)
    # pipeline.reread_unchanged_files: every file is read again, so the bad byte is found
    with pytest.raises(InputFileError, match="not UTF-8"):
        facts_for(DeliveredFile(INVOICES, path), "invoices.csv", recorded, reread=True)


def test_a_touched_file_is_read_again(tmp_path):
    path = tmp_path / "invoices.csv"
    path.write_bytes((HEADER + "1,2,2021-01-01,,\n").encode())
    first = inspect(DeliveredFile(INVOICES, path))
    recorded = {("invoices", "invoices.csv", first.size_bytes, first.modified_ns):
                Recorded("recorded-checksum", first.records, first.multiline, first.has_bom)}
    os.utime(path, ns=(first.modified_ns + 10**9, first.modified_ns + 10**9))
    again = facts_for(DeliveredFile(INVOICES, path), "invoices.csv", recorded)
    assert again.checksum == first.checksum != "recorded-checksum"
