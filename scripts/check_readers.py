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


def log_rows(table: Path, con: duckdb.DuckDBPyConnection) -> tuple[int, set[str]]:
    """Live rows and reader features from the table's log: the newest checkpoint (read
    with DuckDB's Parquet reader) and the JSON commits after it."""
    log = table / "_delta_log"
    live: dict[tuple[str, str], int] = {}
    features: set[str] = set()
    parts = sorted(log.glob("*.checkpoint*.parquet"))
    after = -1
    if parts:
        after = max(int(p.name.split(".")[0]) for p in parts)
        files = [str(p) for p in parts if int(p.name.split(".")[0]) == after]
        for add, protocol in con.execute(
            "SELECT to_json(add), to_json(protocol) FROM read_parquet(?) "
            "WHERE add IS NOT NULL OR protocol IS NOT NULL", [files]
        ).fetchall():
            if protocol:
                features = set(json.loads(protocol).get("readerFeatures") or [])
            if add:
                _apply(live, {"add": json.loads(add)})
    for commit in sorted(log.glob("*.json")):
        if int(commit.name.split(".")[0]) <= after:
            continue
        for line in commit.read_text(encoding="utf-8").splitlines():
            action = json.loads(line)
            if "protocol" in action:
                features = set(action["protocol"].get("readerFeatures") or [])
            _apply(live, action)
    return sum(live.values()), features


def _apply(live: dict[tuple[str, str], int], action: dict) -> None:
    if action.get("add"):
        add = action["add"]
        rows = json.loads(add.get("stats") or "{}").get("numRecords", 0)
        dv = add.get("deletionVector") or {}
        live[_file_id(add)] = rows - (dv.get("cardinality") or 0)
    if action.get("remove"):
        live.pop(_file_id(action["remove"]), None)


def duckdb_connection() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    packaged = sorted(Path(duckdb.__file__).parent.parent.glob(
        "duckdb_ext/extensions/*/*/delta.duckdb_extension"))
    con.sql(f"LOAD '{packaged[-1]}'" if packaged else "LOAD delta")
    return con


def _delta_rs_rows(_con: duckdb.DuckDBPyConnection, table: Path) -> int:
    return deltalake.DeltaTable(str(table)).to_pyarrow_table().num_rows


def _duckdb_rows(con: duckdb.DuckDBPyConnection, table: Path) -> int:
    return con.sql(f"SELECT count(*) FROM delta_scan('{table}')").fetchone()[0]


def main(output: Path) -> int:
    con = duckdb_connection()
    print(f"deltalake (delta-rs) {deltalake.__version__}, duckdb {duckdb.__version__}")
    failures = 0
    tables = sorted(t for t in output.glob("*/*") if (t / "_delta_log").is_dir())
    if not tables:
        raise SystemExit(f"no Delta tables under {output}: run `make run` first")
    for table in tables:
        expected, features = log_rows(table, con)
        results = []
        for reader, read in (("delta-rs", _delta_rs_rows), ("duckdb", _duckdb_rows)):
            try:
                rows = read(con, table)
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
