"""Finding delivered files and checking them before Spark reads a byte.

A plain-Python pass over each new file computes its SHA-256, proves it is UTF-8, checks
the header against the entity's columns and counts CSV records independently of Spark's
reader (the count bronze must match). It also tells whether any record spans lines, so
Spark's whole-file ``multiLine`` parsing is used only where needed.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import os
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from receivables.entities import ENTITIES, NUMBER, Entity
from receivables.errors import InputFileError, MissingInputError

_CHUNK = 1 << 20
_BOM = codecs.BOM_UTF8


@dataclass(frozen=True)
class DeliveredFile:
    """A file found in the input directory for one entity."""

    entity: Entity
    path: Path

    @property
    def name(self) -> str:
        return str(self.path)


@dataclass(frozen=True)
class FileFacts:
    """What the pre-pass learned about one file."""

    entity: str
    path: str
    checksum: str
    size_bytes: int
    header: tuple[str, ...]  # canonical column names, in file order
    records: int
    multiline: bool
    has_bom: bool
    measure_total: Decimal = Decimal(0)  # Σ of the entity's measure column (see entities.NUMBER)
    modified_ns: int | None = None  # modification time when read (see ``facts_for``)


def stat_key(path: Path) -> tuple[int, int]:
    """(size, modification time in ns): what tells an already-read file apart cheaply."""
    st = path.stat()
    return st.st_size, st.st_mtime_ns


@dataclass(frozen=True)
class Recorded:
    """What the file manifest remembers of a file bronze holds."""

    checksum: str
    records: int
    multiline: bool
    has_bom: bool


def facts_for(
    delivered: DeliveredFile,
    rel: str,
    recorded: dict[tuple[str, str, int, int], Recorded],
    reread: bool = False,
) -> FileFacts:
    """The pre-pass facts of a delivered file, reading it only when it may be new.

    A file whose (entity, path relative to the input root, size, modification time) is
    in ``recorded`` is known by its recorded checksum and not read again, unless
    ``reread`` (``pipeline.reread_unchanged_files``) asks for every file to be re-read.
    """
    size, modified_ns = stat_key(delivered.path)
    known = None if reread else recorded.get((delivered.entity.name, rel, size, modified_ns))
    if known is None:
        return inspect(delivered)
    return FileFacts(
        entity=delivered.entity.name, path=os.fspath(delivered.path), checksum=known.checksum,
        size_bytes=size, header=(), records=known.records, multiline=known.multiline,
        has_bom=known.has_bom, modified_ns=modified_ns,
    )


def discover(input_dir: str | Path) -> list[DeliveredFile]:
    """Every CSV delivered for each entity: ``<entity>.csv`` and ``<entity>/*.csv``.

    Paths are resolved and must stay inside the input root: a symlink pointing out of it
    is refused rather than followed.
    """
    root = Path(input_dir).resolve()
    if not root.is_dir():
        raise MissingInputError(f"input directory {input_dir} does not exist")
    found: list[DeliveredFile] = []
    for entity in ENTITIES:
        candidates = [root / f"{entity.name}.csv"]
        folder = root / entity.name
        if folder.is_dir():
            candidates += sorted(p for p in folder.iterdir() if p.suffix.lower() == ".csv")
        files = [p for p in candidates if p.exists() or p.is_symlink()]
        for path in files:
            real = path.resolve()
            if root not in real.parents:
                raise InputFileError(
                    str(path), f"resolves to {real}, outside the input root {root}; refused"
                )
            if not real.is_file():
                raise InputFileError(str(path), "is not a regular file")
            found.append(DeliveredFile(entity, path))
        if not files and entity.file_required:
            raise MissingInputError(
                f"{root} has no {entity.name}.csv nor {entity.name}/*.csv: "
                f"every run needs the {entity.name} extract (a header-only file is fine)"
            )
    return found


def checksum(path: Path) -> str:
    """SHA-256 of the file's bytes; also proves they are valid UTF-8."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                bad_line = line + chunk[: exc.start].count(b"\n")
                raise InputFileError(
                    str(path),
                    f"is not UTF-8 (byte 0x{chunk[exc.start]:02x}); re-export the extract as UTF-8",
                    bad_line,
                ) from None
            line += chunk.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise InputFileError(str(path), "ends inside a UTF-8 character", line) from None
    return digest.hexdigest()


def canonical_header(entity: Entity, path: str, raw: list[str]) -> tuple[str, ...]:
    """Map the delivered header to canonical names, or raise naming what is wrong."""
    names = [entity.aliases.get(h.strip(), h.strip()) for h in raw]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputFileError(path, f"header repeats column(s) {', '.join(dupes)}", 1)
    missing = [c for c in entity.required if c not in names]
    if missing:
        raise InputFileError(
            path,
            f"header lacks {', '.join(missing)} (expected {', '.join(entity.required)}"
            + (f"; optional {', '.join(entity.optional)}" if entity.optional else "")
            + f"; found {', '.join(raw)})",
            1,
        )
    extra = [n for n in names if n not in entity.columns]
    if extra:
        raise InputFileError(
            path,
            f"header has unexpected column(s) {', '.join(extra)} for {entity.name}; "
            f"expected {', '.join(entity.columns)}",
            1,
        )
    return tuple(names)


def inspect(delivered: DeliveredFile) -> FileFacts:
    """Checksum, header and record count of one file; raises InputFileError if unusable."""
    path = delivered.path
    name = str(path)
    size, modified_ns = stat_key(path)  # before reading: a file changed meanwhile is re-read next time
    digest = checksum(path)
    if size == 0:
        raise InputFileError(name, "is empty (0 bytes, not even a header); expected a header row")
    with path.open("rb") as fh:
        has_bom = fh.read(3) == _BOM
    records = 0
    multiline = False
    measure_total = Decimal(0)
    number = re.compile(NUMBER)
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh, strict=True)
        try:
            header = canonical_header(delivered.entity, name, next(reader))
            at = header.index(delivered.entity.measure) if delivered.entity.measure else None
            last_line = reader.line_num
            for row in reader:
                if row:  # Spark skips blank lines too
                    records += 1
                    if at is not None and at < len(row) and number.match(row[at].strip(" ")):
                        measure_total += Decimal(row[at].strip(" "))
                    if reader.line_num - last_line > 1:
                        multiline = True
                last_line = reader.line_num
        except csv.Error as exc:
            raise InputFileError(
                name,
                f"is not valid CSV ({exc}); look for an unterminated quote at or before this line",
                reader.line_num,
            ) from None
    return FileFacts(
        entity=delivered.entity.name,
        path=os.fspath(path),
        checksum=digest,
        size_bytes=size,
        header=header,
        records=records,
        multiline=multiline,
        has_bom=has_bom,
        measure_total=measure_total,
        modified_ns=modified_ns,
    )
