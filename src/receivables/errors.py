"""Named errors. Each message says which file or table, what is wrong and what to do."""


class ReceivablesError(Exception):
    """Base class: the CLI prints these as one clear line and exits non-zero."""


class InputFileError(ReceivablesError):
    """A delivered file cannot be ingested; no table changes for this run."""

    def __init__(self, path: str, problem: str, line: int | None = None) -> None:
        where = f"{path}, line {line}" if line is not None else path
        super().__init__(f"{where}: {problem}")
        self.path = path
        self.line = line
        self.problem = problem


class MissingInputError(ReceivablesError):
    """A required extract is absent from the input directory."""


class RunLockedError(ReceivablesError):
    """Another run holds the lock on this output directory."""


class ConservationError(ReceivablesError):
    """Rows or amounts were not conserved between layers; the run is stopped."""
