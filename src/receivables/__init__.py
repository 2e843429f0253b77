"""receivables: an incremental Delta Lake lakehouse for accounts receivable."""

__version__ = "0.1.0"
