"""Operational tables: run log, file manifest, watermarks; and the run lock."""
