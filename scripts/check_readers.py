"""`make check-readers`: read every table of an output with Delta readers outside Spark.

Runs in its own virtualenv (`.venv-readers`, made by the Makefile target) with delta-rs
(the `deltalake` package) and DuckDB with its `delta` extension from PyPI. For each table
it prints the rows each reader returns and the rows the Delta log says the table holds
(Σ numRecords of its live files minus rows their deletion vectors remove), and the
reader features the table requires.

Exit status 1 when a reader returns a different row count than the log, or fails on a
table that does not need a feature it lacks (delta-rs 1.6 does not read deletion vectors,
which silver uses; see README "Table features and readers").
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import deltalake
import duckdb


def _file_id(action: dict) -> tuple[str, str]:
    """A logical file is its path plus its deletion vector (the protocol's unique id)."""
    dv = action.get("deletionVector") or {}
    return action["path"], f"{dv.get('storageType', '')}{dv.get('pathOrInlineDv', '')}@{dv.get('offset', '')}"


def log_rows(table: Path) -> tuple[int, set[str]]:
    """Live rows and reader features from the table's JSON commits (checkpoints are not
    written for tables this small, and the script refuses tables that have one)."""
    if any((table / "_delta_log").glob("*.checkpoint*.parquet")):
        raise SystemExit(f"{table}: has a checkpoint; this check reads JSON commits only")
    live: dict[str, int] = {}
    features: set[str] = set()
    for commit in sorted((table / "_delta_log").glob("*.json")):
        for line in commit.read_text(encoding="utf-8").splitlines():
            action = json.loads(line)
            if "protocol" in action:
                features = set(action["protocol"].get("readerFeatures") or [])
            if "add" in action:
                add = action["add"]
                rows = json.loads(add.get("stats") or "{}").get("numRecords", 0)
                dv = add.get("deletionVector") or {}
                live[_file_id(add)] = rows - dv.get("cardinality", 0)
            if "remove" in action:
                live.pop(_file_id(action["remove"]), None)
    return sum(live.values()), features


def duckdb_connection() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    packaged = sorted(Path(duckdb.__file__).parent.parent.glob(
        "duckdb_ext/extensions/*/*/delta.duckdb_extension"))
    con.sql(f"LOAD '{packaged[-1]}'" if packaged else "LOAD delta")
    return con


def main(output: Path) -> int:
    con = duckdb_connection()
    print(f"deltalake (delta-rs) {deltalake.__version__}, duckdb {duckdb.__version__}")
    failures = 0
    tables = sorted(t for t in output.glob("*/*") if (t / "_delta_log").is_dir())
    if not tables:
        raise SystemExit(f"no Delta tables under {output}: run `make run` first")
    for table in tables:
        expected, features = log_rows(table)
        results = []
        for reader, read in (
            ("delta-rs", lambda: deltalake.DeltaTable(str(table)).to_pyarrow_table().num_rows),
            ("duckdb", lambda: con.sql(f"SELECT count(*) FROM delta_scan('{table}')").fetchone()[0]),
        ):
            try:
                rows = read()
                ok = rows == expected
                results.append(f"{reader} {rows}" + ("" if ok else " MISMATCH"))
            except Exception as exc:  # a reader that cannot read the table says why
                reason = str(exc).splitlines()[0][:90]
                ok = reader == "delta-rs" and "deletionVectors" in features
                results.append(f"{reader} cannot read ({reason})" + ("" if ok else " UNEXPECTED"))
            failures += not ok
        name = f"{table.parent.name}.{table.name}"
        print(f"{name:36s} log {expected:>9}  {'; '.join(results)}  features: {sorted(features) or '-'}")
    print("all readers agree with the log" if not failures else f"{failures} unexpected result(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "output")))
