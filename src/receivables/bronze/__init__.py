"""Bronze: every delivered row as delivered (strings), plus lineage."""
