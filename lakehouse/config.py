"""Profiles from conf/: base.yml merged with <profile>.yml, references and environment resolved."""

from __future__ import annotations

import copy
import datetime as dt
import os
import re
from pathlib import Path
from typing import Any

import yaml

DEFAULT_PROFILE = "local"
_REF = re.compile(r"\$\{([^}]+)\}")


class ConfigError(ValueError):
    """A profile is missing, malformed or refers to something that does not exist."""


def conf_dir() -> Path:
    """The conf/ folder in use: $LAKEHOUSE_CONF, else the repository's conf/ next to the package."""
    if env := os.environ.get("LAKEHOUSE_CONF"):
        return Path(env).resolve()
    here = Path(__file__).resolve().parent.parent / "conf"
    if here.is_dir():
        return here
    return (Path.cwd() / "conf").resolve()


def profiles() -> list[str]:
    """Names of the profiles available in conf/."""
    return sorted(p.stem for p in conf_dir().glob("*.yml") if p.stem != "base")


def load_config(
    profile: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The resolved settings of a profile, dotted-key overrides applied before resolving."""
    profile = profile or os.environ.get("LAKEHOUSE_PROFILE") or DEFAULT_PROFILE
    base_dir = conf_dir()
    profile_file = base_dir / f"{profile}.yml"
    if not profile_file.is_file():
        raise ConfigError(
            f"unknown profile {profile!r}: no {profile_file} (available: {', '.join(profiles())})"
        )
    cfg = _merge(_read_yaml(base_dir / "base.yml"), _read_yaml(profile_file))
    for key, value in (overrides or {}).items():
        _set(cfg, key, value)
    # Paths first, made absolute against the repository, so that settings
    # built from them (tracking URIs, source URLs) are absolute too.
    project_root = base_dir.parent
    for name, value in cfg.get("paths", {}).items():
        cfg["paths"][name] = _absolute(_resolve(value, cfg, stack=()), project_root)
    cfg = _resolve(cfg, cfg, stack=())
    if not isinstance(cfg.get("spark"), dict):
        raise ConfigError(f"profile {profile!r} has no spark: section (see conf/base.yml)")
    for key in ("jars_dir", "log4j_config"):
        if cfg["spark"].get(key):
            cfg["spark"][key] = _absolute(cfg["spark"][key], project_root)
    cfg["profile"] = profile
    cfg.setdefault("run", {})
    cfg["run"]["date"] = parse_run_date(cfg["run"].get("date"))
    return cfg


def parse_run_date(value: Any) -> dt.date:
    """The run date named by value (a date, 'YYYY-MM-DD' or None for today in UTC)."""
    if value is None or value == "":
        return dt.datetime.now(dt.UTC).date()
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise ConfigError(f"run date {value!r} is not a date of the form YYYY-MM-DD") from exc


def with_run(cfg: dict[str, Any], **run: Any) -> dict[str, Any]:
    """A copy of cfg whose run section carries the given values (date, batch_id, ...)."""
    out = copy.deepcopy(cfg)
    out["run"].update(run)
    out["run"]["date"] = parse_run_date(out["run"].get("date"))
    return out


def table_conf(cfg: dict[str, Any], name: str) -> dict[str, Any]:
    """The declaration of table `name` (path, keys, partitioning) from the profile."""
    try:
        return cfg["tables"][name]
    except KeyError:
        known = ", ".join(sorted(cfg.get("tables", {})))
        raise ConfigError(f"table {name!r} is not declared in conf/ (known: {known})") from None


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping at the top level")
    return data


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _set(cfg: dict[str, Any], dotted: str, value: Any) -> None:
    # Table names and Spark settings contain dots: at each level the longest
    # existing key wins, and a mapping whose keys hold dots takes the rest whole.
    node = cfg
    parts = dotted.split(".")
    i = 0
    while i < len(parts) - 1:
        for j in range(len(parts) - 1, i, -1):
            joined = ".".join(parts[i:j])
            if joined in node and isinstance(node[joined], dict):
                node, i = node[joined], j
                break
        else:
            if any("." in key for key in node):
                break
            node = node.setdefault(parts[i], {})
            i += 1
        if not isinstance(node, dict):
            # e.g. `sources.catalog: null`: a profile switches a section off that way.
            section = ".".join(parts[:i])
            raise ConfigError(f"cannot set {dotted}: {section} is {node!r} in this profile")
    node[".".join(parts[i:])] = value


def _lookup(cfg: dict[str, Any], dotted: str) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(f"reference ${{{dotted}}} names no setting")
        node = node[part]
    return node


def _resolve(value: Any, cfg: dict[str, Any], stack: tuple[str, ...]) -> Any:
    if isinstance(value, dict):
        return {k: _resolve(v, cfg, stack) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, cfg, stack) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        ref = match.group(1)
        if ref.startswith("env:"):
            name, _, default = ref[4:].partition(":-")
            # As in the shell, ${env:X:-d} also falls back to d when X is empty.
            if os.environ.get(name) or (name in os.environ and ":-" not in ref):
                return os.environ[name]
            if ":-" in ref:
                return default
            raise ConfigError(f"environment variable {name} is not set (needed by conf/)")
        if ref in stack:
            raise ConfigError(f"circular reference: {' -> '.join((*stack, ref))}")
        resolved = _resolve(_lookup(cfg, ref), cfg, (*stack, ref))
        return str(resolved)

    return _REF.sub(substitute, value)


def _absolute(value: Any, root: Path) -> Any:
    if not isinstance(value, str) or "://" in value or value.startswith("sqlite:"):
        return value
    path = Path(value)
    return str(path if path.is_absolute() else (root / path).resolve())
