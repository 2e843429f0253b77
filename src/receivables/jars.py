"""Delta's jars: which ones, where they are found, and how they are fetched once.

The jars a session loads are the ones listed in ``JARS`` (Maven coordinates and SHA-256
of each file). They are found, in this order, in:

1. the folder named by ``spark.jars_dir`` in the configuration (default ``.jars`` in the
   working directory, where ``make setup`` puts them), when it holds them;
2. the folder named by the environment variable ``RECEIVABLES_JARS``;
3. the local Maven repository (``~/.m2/repository``, or ``$MAVEN_REPOSITORY``), where
   ``mvn`` or an earlier ``receivables setup-jars`` left them.

``receivables setup-jars`` fetches missing ones from Maven Central (or the repository in
``$RECEIVABLES_MAVEN_URL``) into the local Maven repository and checks every checksum.
Nothing is downloaded when a session starts.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import delta
import pyspark

MAVEN_CENTRAL = "https://repo1.maven.org/maven2"


class DeltaJarsError(RuntimeError):
    """Delta's jars are missing or do not match the installed delta-spark / pyspark."""


@dataclass(frozen=True)
class Jar:
    group: str
    artifact: str
    version: str
    sha256: str

    @property
    def file_name(self) -> str:
        return f"{self.artifact}-{self.version}.jar"

    @property
    def maven_path(self) -> str:
        return f"{self.group.replace('.', '/')}/{self.artifact}/{self.version}/{self.file_name}"


DELTA_VERSION = "4.4.0"
SPARK_LINE = "4.1"
UNITY_VERSION = "0.6.0"

# delta-spark's runtime dependencies outside Spark itself (``mvn dependency:tree`` of
# io.delta:delta-spark_4.1_2.13:4.4.0), each with the SHA-256 of its Maven Central file.
JARS: tuple[Jar, ...] = (
    Jar("io.delta", f"delta-spark_{SPARK_LINE}_2.13", DELTA_VERSION,
        "75a9400986853c061f5109f012547de2545a5759e5e752e5ef633dabe16a4f10"),
    Jar("io.delta", "delta-storage", DELTA_VERSION,
        "c46735481fa8e326b0957be02b4420cbcab4b325bb08009b7f2045a95133f1cc"),
    Jar("io.delta", "delta-kernel-api", DELTA_VERSION,
        "ee9b5a14ac3b7efdff4d61a58478fe8eb0e5a3fbca43889dca7290795fe79a11"),
    Jar("io.delta", "delta-kernel-defaults", DELTA_VERSION,
        "225c975199e4718b38ee5b7e6da7f19e9585024262b2cec2656b32151a856b0b"),
    Jar("io.delta", "delta-kernel-unitycatalog", DELTA_VERSION,
        "cea22dfb4ac562b3cd27bf652697750e8336009d73fb06631363aaaad5345ffa"),
    Jar("io.unitycatalog", "unitycatalog-client", UNITY_VERSION,
        "48257499a86b801a3e2372cec55ac226ca1c1c7eabe5c118e7302f29a1fdbc19"),
    Jar("io.unitycatalog", "unitycatalog-hadoop", UNITY_VERSION,
        "c47b63c961c87102b9e1d63809a0915ba4c86b7652f57c8d39ca3a05b441a150"),
)

HOW_TO_GET = "run `receivables setup-jars` (or `make setup` in a checkout) once to fetch them from Maven Central"


def maven_repository() -> Path:
    return Path(os.environ.get("MAVEN_REPOSITORY") or Path.home() / ".m2" / "repository")


def check_versions() -> None:
    """The listed jars are for the installed delta-spark and pyspark."""
    pip_delta = getattr(delta, "__version__", None) or _pip_version()
    pyspark_line = ".".join(pyspark.__version__.split(".")[:2])
    if pip_delta != DELTA_VERSION or pyspark_line != SPARK_LINE:
        raise DeltaJarsError(
            f"this receivables expects delta-spark {DELTA_VERSION} on pyspark {SPARK_LINE}.x, found "
            f"delta-spark {pip_delta} on pyspark {pyspark.__version__}: reinstall receivables"
        )


def _pip_version() -> str:
    from importlib.metadata import version

    return version("delta-spark")


def _in_folder(folder: Path) -> list[Path] | None:
    paths = [folder / j.file_name for j in JARS]
    return paths if all(p.is_file() for p in paths) else None


def _in_maven(repo: Path) -> list[Path] | None:
    paths = [repo / j.maven_path for j in JARS]
    return paths if all(p.is_file() for p in paths) else None


def candidates(jars_dir: str | None) -> list[tuple[str, Callable[[], list[Path] | None]]]:
    """Where jars are looked for, in order, each with a description for messages."""
    places: list[tuple[str, Callable[[], list[Path] | None]]] = []
    if jars_dir:
        folder = Path(jars_dir).expanduser()
        places.append((f"{folder} (spark.jars_dir)", lambda: _in_folder(folder)))
    env = os.environ.get("RECEIVABLES_JARS")
    if env:
        places.append((f"{env} ($RECEIVABLES_JARS)", lambda: _in_folder(Path(env).expanduser())))
    repo = maven_repository()
    places.append((f"{repo} (local Maven repository)", lambda: _in_maven(repo)))
    return places


def find(jars_dir: str | None) -> list[str]:
    """The jar files a session loads; ``DeltaJarsError`` (one line) when none of the
    places holds them all."""
    check_versions()
    looked = []
    for where, look in candidates(jars_dir):
        found = look()
        if found:
            return [str(p.resolve()) for p in found]
        looked.append(where)
    raise DeltaJarsError(f"Delta's jars are not in {', '.join(looked)}: {HOW_TO_GET}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(repo: Path | None = None, url: str | None = None, copy_to: Path | None = None,
          say: Callable[[str], None] = print) -> list[Path]:
    """Put every listed jar in the local Maven repository (downloading the missing ones)
    and verify its SHA-256; with ``copy_to``, also copy them into that folder. Returns the
    verified files (in ``copy_to`` when given)."""
    repo = repo or maven_repository()
    url = (url or os.environ.get("RECEIVABLES_MAVEN_URL") or MAVEN_CENTRAL).rstrip("/")
    out = []
    for jar in JARS:
        path = repo / jar.maven_path
        if not path.is_file() or _sha256(path) != jar.sha256:
            path.parent.mkdir(parents=True, exist_ok=True)
            say(f"fetching {jar.group}:{jar.artifact}:{jar.version} from {url}")
            with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
                with urllib.request.urlopen(f"{url}/{jar.maven_path}", timeout=60) as response:
                    shutil.copyfileobj(response, tmp)
            got = _sha256(Path(tmp.name))
            if got != jar.sha256:
                os.unlink(tmp.name)
                raise DeltaJarsError(f"{jar.file_name} from {url} has SHA-256 {got}, expected {jar.sha256}")
            os.replace(tmp.name, path)
        if copy_to is not None:
            copy_to.mkdir(parents=True, exist_ok=True)
            target = copy_to / jar.file_name
            if not target.is_file() or _sha256(target) != jar.sha256:
                shutil.copyfile(path, target)
            path = target
        out.append(path)
    return out
