"""Finding delivered files and checking them before Spark reads a byte.

A plain-Python pass over each new file computes its SHA-256, proves it is UTF-8, checks
the header against the entity's columns and counts CSV records independently of Spark's
reader (the count bronze must match). It also tells whether any record spans lines, so
Spark's whole-file ``multiLine`` parsing is used only where needed.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from receivables.entities import ENTITIES, NUMBER, Entity

if TYPE_CHECKING:
    from collections.abc import Callable
from receivables.errors import InputFileError, InputFilesError, MissingInputError

_CHUNK = 1 << 20
_BOM = codecs.BOM_UTF8
_GZIP_MAGIC = b"\x1f\x8b"
EXTENSIONS = (".csv", ".csv.gz")  # matched case-insensitively
# Spark (like Scala's ``String.trim``) treats a line of characters <= U+0020 as blank.
_BLANK = "".join(chr(c) for c in range(0x21))


@dataclass(frozen=True)
class DeliveredFile:
    """A file found in the input directory for one entity."""

    entity: Entity
    path: Path

    @property
    def name(self) -> str:
        return str(self.path)


@dataclass(frozen=True)
class SkippedFile:
    """A file under the input directory that is no extract: named in the run, not read."""

    path: Path
    rel: str
    reason: str


@dataclass(frozen=True)
class Survey:
    """Every file under the input directory, sorted into extracts and skipped files."""

    delivered: list[DeliveredFile]
    skipped: list[SkippedFile]


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
    compressed: bool = False  # gzip: Spark decompresses it by the name it is staged under
    blank_lines: int = 0  # empty or whitespace-only lines, skipped (they are no records)


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
        has_bom=known.has_bom, modified_ns=modified_ns, compressed=is_gzip(delivered.path),
    )


def _extract_name(name: str) -> str | None:
    """The stem of a CSV extract's file name (``x`` of ``x.csv`` / ``x.CSV.gz``), else None."""
    lower = name.lower()
    for ext in sorted(EXTENSIONS, key=len, reverse=True):
        if lower.endswith(ext) and len(name) > len(ext):
            return name[: -len(ext)]
    return None


def _walk(root: Path) -> Iterator[Path]:
    """Every file and symlink under ``root``, in a stable order; folders are not followed
    through symlinks."""
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        base = Path(folder)
        for d in list(dirs):
            if (base / d).is_symlink():
                dirs.remove(d)
                yield base / d
        for f in sorted(files):
            yield base / f


def survey(input_dir: str | Path) -> tuple[Survey, list[InputFileError]]:
    """Sort every file under the input directory, and list the files that stop the run.

    An extract is ``<entity>.csv`` at the top, or any file under an ``<entity>/`` folder
    (sub-folders too); ``.csv`` and gzip-compressed ``.csv.gz`` in any letter case. A
    hidden file (name starting with ``.``) is skipped; so is a file outside every entity's
    name and folder. Both are named with their reason. A file in an entity's folder that
    is not a CSV extract, or a path leading out of the input root, stops the run: it was
    delivered for a known entity and cannot be read.
    """
    root = Path(input_dir).resolve()
    if not root.is_dir():
        raise MissingInputError(f"input directory {input_dir} does not exist")
    folders = {e.name.lower(): e for e in ENTITIES}
    delivered: list[DeliveredFile] = []
    skipped: list[SkippedFile] = []
    problems: list[InputFileError] = []
    for path in _walk(root):
        rel = path.relative_to(root)
        parts = rel.parts
        if any(part.startswith(".") for part in parts):
            skipped.append(SkippedFile(path, str(rel), "hidden file (its name or folder starts with '.')"))
            continue
        stem = _extract_name(path.name)
        if len(parts) == 1:
            entity = folders.get(stem.lower()) if stem else None
            if entity is None:
                skipped.append(SkippedFile(
                    path, str(rel),
                    "not an extract: expected <entity>.csv[.gz] or <entity>/ for one of "
                    + ", ".join(e.name for e in ENTITIES),
                ))
                continue
        else:
            entity = folders.get(parts[0].lower())
            if entity is None:
                skipped.append(SkippedFile(
                    path, str(rel), f"not under an entity's folder ({parts[0]}/ is not one of "
                    + ", ".join(e.name for e in ENTITIES) + ")",
                ))
                continue
            if stem is None:
                problems.append(InputFileError(
                    str(path), f"is in the {entity.name} folder but is not a .csv or .csv.gz extract; "
                    "move it out of the input directory or deliver it as CSV",
                ))
                continue
        real = path.resolve()
        if root not in real.parents:
            problems.append(InputFileError(str(path), f"resolves to {real}, outside the input root {root}; refused"))
        elif not real.is_file():
            problems.append(InputFileError(str(path), "is not a regular file"))
        else:
            delivered.append(DeliveredFile(entity, path))
    for entity in ENTITIES:
        if entity.file_required and not problems and not any(d.entity is entity for d in delivered):
            raise MissingInputError(
                f"{root} has no {entity.name}.csv nor {entity.name}/*.csv: "
                f"every run needs the {entity.name} extract (a header-only file is fine)"
            )
    return Survey(delivered, skipped), problems


def discover(input_dir: str | Path) -> list[DeliveredFile]:
    """Every extract delivered for each entity (see ``survey``); raises on the first problem."""
    found, problems = survey(input_dir)
    if problems:
        raise problems[0]
    return found.delivered


def inspect_all(
    delivered: list[DeliveredFile],
    facts_of: Callable[[DeliveredFile], FileFacts],
    problems: list[InputFileError] | None = None,
) -> list[FileFacts]:
    """``facts_of`` every file; every file that fails is collected and raised in one error."""
    problems = list(problems or [])
    facts: list[FileFacts] = []
    for d in delivered:
        try:
            facts.append(facts_of(d))
        except InputFileError as exc:
            problems.append(exc)
    if problems:
        raise InputFilesError(problems)
    return facts


CHECKED_FILES = "_checked_files.json"  # in a local output folder: facts of files that passed


def precheck(input_dir: str | Path, cache: Path | None = None, reread: bool = False) -> dict[str, FileFacts]:
    """Sort and inspect every file under the input directory in plain Python, before any
    Spark work: every bad file is named in one ``InputFilesError``. Returns each
    extract's facts by path, for the run to use instead of reading the files again.

    ``cache`` (a JSON file) remembers the facts of files that passed, by path, size and
    modification time: a file seen unchanged is not read again unless ``reread``
    (``pipeline.reread_unchanged_files``). The cache only saves reading; the run still
    decides from ``ops.file_manifest`` which files are new.
    """
    found, problems = survey(input_dir)
    known = {} if reread or cache is None else _read_cache(cache)

    def facts_of(d: DeliveredFile) -> FileFacts:
        size, modified_ns = stat_key(d.path)
        hit = known.get(os.fspath(d.path))
        if hit is not None and (hit.entity, hit.size_bytes, hit.modified_ns) == (d.entity.name, size, modified_ns):
            return hit
        return inspect(d)

    facts = {f.path: f for f in inspect_all(found.delivered, facts_of, problems)}
    if cache is not None:
        _write_cache(cache, facts)
    return facts


def _read_cache(cache: Path) -> dict[str, FileFacts]:
    import json

    try:
        raw = json.loads(cache.read_text(encoding="utf-8"))
        return {
            path: FileFacts(**{**f, "header": tuple(f["header"]), "measure_total": Decimal(f["measure_total"])})
            for path, f in raw.get("files", {}).items()
        } if raw.get("version") == 1 else {}
    except (OSError, ValueError, TypeError, KeyError):
        return {}  # absent or unreadable: every file is read


def _write_cache(cache: Path, facts: dict[str, FileFacts]) -> None:
    import dataclasses
    import json

    doc = {"version": 1, "files": {
        path: {**dataclasses.asdict(f), "measure_total": str(f.measure_total)} for path, f in facts.items()
    }}
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(cache.name + ".tmp")
        tmp.write_text(json.dumps(doc), encoding="utf-8")
        os.replace(tmp, cache)
    except OSError:
        pass  # a cache that cannot be written costs a re-read next time, nothing else


def is_gzip(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(2) == _GZIP_MAGIC


def _open_bytes(path: Path, compressed: bool) -> BinaryIO:
    if compressed:
        return gzip.open(path, "rb")  # type: ignore[return-value]  # a GzipFile reads bytes like any BinaryIO
    return path.open("rb")


def checksum(path: Path) -> str:
    """SHA-256 of the file's bytes as delivered; also proves its text is valid UTF-8
    (decompressed first when the file is gzip)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    _check_utf8(path)
    return digest.hexdigest()


def _check_utf8(path: Path) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    try:
        with _open_bytes(path, is_gzip(path)) as fh:
            while chunk := fh.read(_CHUNK):
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
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InputFileError(str(path), f"is not a readable gzip file ({exc}); deliver it again") from None
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise InputFileError(str(path), "ends inside a UTF-8 character", line) from None


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


def _is_blank(row: list[str]) -> bool:
    """An empty line, or a line of whitespace only (one field of blanks): no record."""
    return not row or (len(row) == 1 and not row[0].strip(_BLANK))


def inspect(delivered: DeliveredFile) -> FileFacts:
    """Checksum, header and record count of one file; raises InputFileError if unusable."""
    path = delivered.path
    name = str(path)
    size, modified_ns = stat_key(path)  # before reading: a file changed meanwhile is re-read next time
    if size == 0:
        raise InputFileError(name, "is empty (0 bytes, not even a header); expected a header row")
    digest = checksum(path)
    compressed = is_gzip(path)
    with _open_bytes(path, compressed) as fh:
        first = fh.read(3)
        has_bom = first == _BOM
    if not first:
        raise InputFileError(name, "is empty once decompressed (not even a header); expected a header row")
    records = 0
    blank = 0
    multiline = False
    measure_total = Decimal(0)
    number = re.compile(NUMBER)
    with _open_bytes(path, compressed) as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh, strict=True)
        try:
            header = canonical_header(delivered.entity, name, next(reader))
            at = header.index(delivered.entity.measure) if delivered.entity.measure else None
            last_line = reader.line_num
            for row in reader:
                if _is_blank(row):  # Spark skips these too (bronze.ingest drops them likewise)
                    blank += 1
                else:
                    records += 1
                    if at is not None and at < len(row) and number.match(row[at].strip(" ")):
                        measure_total += Decimal(row[at].strip(" "))
                    if reader.line_num - last_line > 1:
                        multiline = True
                last_line = reader.line_num
        except StopIteration:
            raise InputFileError(name, "has no header row", 1) from None
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
        compressed=compressed,
        blank_lines=blank,
    )
