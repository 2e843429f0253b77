"""Configuration: YAML files in conf/, loaded once and passed down explicitly."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PACKAGE_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONF = PACKAGE_ROOT / "conf" / "base.yaml"


class ConfigError(ValueError):
    """A configuration file is missing or malformed."""


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
    with path.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"configuration file {path} must hold a mapping at the top level")
    return data


def load_settings(*extra: str | Path | None) -> Settings:
    """Load conf/base.yaml, then deep-merge each extra file given (later wins)."""
    raw = _read_yaml(DEFAULT_CONF)
    for path in extra:
        if path:
            raw = _deep_merge(raw, _read_yaml(Path(path)))
    try:
        spark = raw["spark"]
        pipeline = raw["pipeline"]
        return Settings(
            app_name=str(spark["app_name"]),
            master=str(spark["master"]),
            jars_dir=str(spark["jars_dir"]),
            spark_conf={str(k): str(v) for k, v in (spark.get("conf") or {}).items()},
            default_terms_days=int(pipeline["default_payment_terms_days"]),
            timezone=str(pipeline["timezone"]),
            reread_unchanged_files=bool(pipeline.get("reread_unchanged_files", False)),
            staging_dir=str(pipeline["staging_dir"]) if pipeline.get("staging_dir") else None,
            audit_window_days=int((raw.get("audit") or {}).get("window_days", 400)),
            table_properties={
                str(layer): {str(k): str(v) for k, v in (props or {}).items()}
                for layer, props in (raw.get("tables") or {}).items()
            },
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"configuration is missing or has a bad value: {exc}") from exc
