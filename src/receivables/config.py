"""Configuration: YAML files in conf/, loaded once and passed down explicitly."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from receivables.buckets import DEFAULT as DEFAULT_BUCKETS
from receivables.buckets import Buckets, parse_edges

DEFAULT_CONF = Path(__file__).resolve().parent / "conf" / "base.yaml"
LOG4J_CONF = Path(__file__).resolve().parent / "conf" / "log4j2.properties"


JIT_MODES = ("tiered", "c1")
GARBAGE_COLLECTORS = ("parallel", "g1", "serial")


class ConfigError(ValueError):
    """A configuration file is missing or malformed."""


Scalar = (str, int, float, bool)
# Every key a configuration file may hold, with the type its value must have. A mapping
# of str → scalar (Spark conf, table properties) is written ``dict``.
SCHEMA: dict[str, dict[str, Any]] = {
    "spark": {"app_name": str, "master": str, "jars_dir": (str, type(None)), "conf": dict, "jit": dict, "gc": str},
    "pipeline": {
        "default_payment_terms_days": int, "timezone": str, "reread_unchanged_files": bool,
        "staging_dir": (str, type(None)),
    },
    "gold": {"bucket_edges": list},
    "tables": {"bronze": dict, "silver": dict, "gold": dict, "ops": dict, "common": dict},
    "audit": {"window_days": int},
}


def _type_name(kind: Any) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {str: "text", int: "a whole number", bool: "true or false", dict: "a mapping", list: "a list",
             type(None): "empty"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def validate(raw: dict[str, Any], source: str) -> None:
    """Refuse unknown keys and values of the wrong type, naming the key and ``source``."""
    for section, value in raw.items():
        if section not in SCHEMA:
            raise ConfigError(f"{source}: unknown section '{section}' (known: {', '.join(SCHEMA)})")
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: '{section}' must be a mapping of keys, got {value!r}")
        for key, item in value.items():
            kind = SCHEMA[section].get(key)
            if kind is None:
                raise ConfigError(
                    f"{source}: unknown key '{section}.{key}' (known in {section}: {', '.join(SCHEMA[section])})"
                )
            if isinstance(item, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
                ok = False  # YAML true is no number
            else:
                ok = item is None and kind is dict or isinstance(item, kind)
            if not ok:
                raise ConfigError(f"{source}: '{section}.{key}' must be {_type_name(kind)}, got {item!r}")
            if kind is dict and item:
                for k, v in item.items():
                    if not isinstance(v, Scalar):
                        raise ConfigError(f"{source}: '{section}.{key}.{k}' must be a single value, got {v!r}")
    zone = (raw.get("pipeline") or {}).get("timezone")
    if zone is not None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"{source}: 'pipeline.timezone' {zone!r} is not a time zone (e.g. UTC, Europe/Paris)"
            ) from None
    for command, mode in ((raw.get("spark") or {}).get("jit") or {}).items():
        if mode not in JIT_MODES:
            raise ConfigError(f"{source}: 'spark.jit.{command}' must be one of {', '.join(JIT_MODES)}, got {mode!r}")
    gc = (raw.get("spark") or {}).get("gc")
    if gc is not None and gc not in GARBAGE_COLLECTORS:
        raise ConfigError(f"{source}: 'spark.gc' must be one of {', '.join(GARBAGE_COLLECTORS)}, got {gc!r}")
    edges = (raw.get("gold") or {}).get("bucket_edges")
    if edges is not None:
        try:
            parse_edges(edges, "'gold.bucket_edges'")
        except ValueError as exc:
            raise ConfigError(f"{source}: {exc}") from None
    window = (raw.get("audit") or {}).get("window_days")
    if window is not None and window < 1:
        raise ConfigError(f"{source}: 'audit.window_days' must be at least 1, got {window}")


@dataclass(frozen=True)
class Settings:
    """Everything a run needs besides paths, as-of date and run id."""

    app_name: str
    master: str
    jars_dir: str
    spark_conf: dict[str, str]
    default_terms_days: int
    timezone: str
    table_properties: dict[str, dict[str, str]] = field(default_factory=dict)
    audit_window_days: int = 400
    reread_unchanged_files: bool = False
    staging_dir: str | None = None  # where a run links new files for Spark (None: the system temp dir)
    buckets: Buckets = DEFAULT_BUCKETS  # aging buckets gold is built with (conf gold.bucket_edges)
    jit: dict[str, str] = field(default_factory=dict)  # command (or "default") -> "tiered" | "c1"
    gc: str = "parallel"  # the driver JVM's garbage collector (spark.gc, as base.yaml): parallel | g1 | serial

    def jit_for(self, command: str | None) -> str:
        """The JIT mode of the JVM a command starts (``spark.jit``; tiered unless set)."""
        return self.jit.get(command or "default") or self.jit.get("default") or "tiered"

    def retention_properties(self) -> dict[str, str]:
        """Log and removed-file retention that keeps the audit window readable."""
        window = f"interval {self.audit_window_days} days"
        return {"delta.logRetentionDuration": window, "delta.deletedFileRetentionDuration": window}

    def properties_for(self, layer: str) -> dict[str, str]:
        """Delta table properties for a layer: retention, the common ones, the layer's own."""
        props = self.retention_properties()
        props.update(self.table_properties.get("common", {}))
        props.update(self.table_properties.get(layer, {}))
        return props


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"configuration file {path} does not exist")
    try:
        with path.open(encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"configuration file {path} is not valid YAML: {exc}".replace("\n", " ")) from None
    if not isinstance(data, dict):
        raise ConfigError(f"configuration file {path} must hold a mapping at the top level")
    return data


def effective(*extra: str | Path | None) -> dict[str, Any]:
    """The packaged defaults with each extra file deep-merged over them (later wins),
    every file validated (``validate``)."""
    raw = _read_yaml(DEFAULT_CONF)
    validate(raw, str(DEFAULT_CONF))
    for path in extra:
        if path:
            over = _read_yaml(Path(path))
            validate(over, str(path))
            raw = _deep_merge(raw, over)
    return raw


def load_settings(*extra: str | Path | None) -> Settings:
    """Load the packaged defaults (``conf/base.yaml`` in the package), then deep-merge each
    extra file given (later wins)."""
    raw = effective(*extra)
    try:
        spark = raw["spark"]
        pipeline = raw["pipeline"]
        return Settings(
            app_name=str(spark["app_name"]),
            master=str(spark["master"]),
            jars_dir=str(spark["jars_dir"]) if spark.get("jars_dir") else "",
            spark_conf={str(k): str(v) for k, v in (spark.get("conf") or {}).items()},
            jit={str(k): str(v) for k, v in (spark.get("jit") or {}).items()},
            gc=str(spark["gc"]),  # the packaged defaults always name one; validate() refused an empty value
            default_terms_days=int(pipeline["default_payment_terms_days"]),
            timezone=str(pipeline["timezone"]),
            reread_unchanged_files=bool(pipeline.get("reread_unchanged_files", False)),
            staging_dir=str(pipeline["staging_dir"]) if pipeline.get("staging_dir") else None,
            audit_window_days=int((raw.get("audit") or {}).get("window_days", 400)),
            buckets=parse_edges((raw.get("gold") or {}).get("bucket_edges", list(DEFAULT_BUCKETS.edges)),
                                "gold.bucket_edges"),
            table_properties={
                str(layer): {str(k): str(v) for k, v in (props or {}).items()}
                for layer, props in (raw.get("tables") or {}).items()
            },
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"configuration is missing or has a bad value: {exc}") from exc
