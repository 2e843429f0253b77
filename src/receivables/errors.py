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


class InputFilesError(ReceivablesError):
    """One or more delivered files cannot be ingested; every one is named, no table changes."""

    def __init__(self, problems: list[InputFileError]) -> None:
        self.problems = list(problems)
        if len(self.problems) == 1:
            text = str(self.problems[0])
        else:
            text = f"{len(self.problems)} input files cannot be ingested:\n" + "\n".join(
                f"  - {p}" for p in self.problems
            )
        super().__init__(text + "\nNothing was written; fix or remove these files and run again.")


class MissingInputError(ReceivablesError):
    """A required extract is absent from the input directory."""


class RunLockedError(ReceivablesError):
    """Another run holds the lock on this output directory."""


class ConservationError(ReceivablesError):
    """Rows or amounts were not conserved between layers; the run is stopped."""
