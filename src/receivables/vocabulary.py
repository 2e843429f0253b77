"""Words every layer shares: row statuses and column names that are no entity's."""

STATUSES = ("accepted", "duplicate", "superseded", "invalid", "conflict")  # of a bronze row in silver
CORRUPT = "_corrupt_record"  # the raw text of a row Spark could not split into the header's columns
CDF_META = ("_change_type", "_commit_version", "_commit_timestamp")  # Change Data Feed columns
