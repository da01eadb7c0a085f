"""Typed configs from YAML files with `--set a.b=value` overrides on top.

Configs are nested dataclasses. A YAML file mirrors their nesting; unknown keys are errors (a typo
must not be silently ignored), and every value is checked against its field's type and range
(`corpus.config_types`). Overrides are parsed as YAML scalars, so `--set docs.corrupt.seed=3`
gives an int and `--set run.address=null` gives None.

A config with one seed declares where it is (`SEED = "run.seed"`, a class variable): loading it
refuses a `seed` set elsewhere (a YAML file or `--set samples.seed=3`) that differs from it, and
returns the config with every `seed` field set to it (`one_seed`), so what is printed and recorded
is what runs.
"""
from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import yaml

from corpus.config_types import ConfigError, checked, field_bounds

T = TypeVar("T")


def from_dict(cls: type[T], data: dict[str, Any], where: str = "") -> T:
    """Build dataclass `cls` from a nested dict, recursing into dataclass-typed fields."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(fields)
    if unknown:
        raise ConfigError(f"{where.rstrip('.') or cls.__name__}: unknown keys {sorted(unknown)}; valid keys: {sorted(fields)} "
                          "(see --print-config)")
    kwargs = {}
    for name, value in data.items():
        t = hints[name]
        if dataclasses.is_dataclass(t):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}{name}: is a section (keys {sorted(f.name for f in dataclasses.fields(t))}), "
                                  f"not a value: set one of its keys, e.g. {where}{name}.KEY=VALUE")
            kwargs[name] = from_dict(t, value, f"{where}{name}.")
        else:
            kwargs[name] = checked(value, t, f"setting {where}{name}", field_bounds(fields[name]))
    return cls(**kwargs)


def to_dict(cfg: Any) -> dict[str, Any]:
    """A config as plain nested dicts (for YAML, manifests and logs)."""
    return dataclasses.asdict(cfg)


def _set_path(d: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    for k in keys[:-1]:
        d = d.setdefault(k, {})
        if not isinstance(d, dict):
            raise ConfigError(f"--set {dotted}: '{k}' is not a section")
    d[keys[-1]] = value


def load_config(cls: type[T], path: str | Path | None = None, overrides: list[str] | None = None) -> T:
    """Defaults of `cls`, updated by the YAML file at `path`, updated by `key.path=value` overrides;
    with one seed when `cls` declares it (see the module docstring)."""
    data = to_dict(cls())
    given: list[tuple[str, Any]] = []  # (dotted key, value) of everything the user set
    if path:
        loaded = _read_yaml(Path(path))
        given += _leaves(loaded, f"--config {path}: ")
        _merge(data, loaded)
    for ov in overrides or []:
        if "=" not in ov:
            raise ConfigError(f"--set {ov!r}: expected key.path=value")
        k, v = ov.split("=", 1)
        try:
            value = yaml.safe_load(v)
        except yaml.YAMLError as e:
            raise ConfigError(f"--set {ov!r}: the value is not valid YAML ({_one_line(e)})") from e
        _set_path(data, k.strip(), value)
        given += _leaves({k.strip(): value}, "--set ")
    try:
        cfg = from_dict(cls, data)
    except TypeError as e:  # a scalar where a section is expected, and the like
        raise ConfigError(f"{cls.__name__}: {e}") from e
    seed_key = getattr(cls, "SEED", None)
    if seed_key:
        seed = _get(cfg, seed_key)
        for key, value in given:
            name = key.split(": ")[-1]
            if name.rsplit(".", 1)[-1] == "seed" and name != seed_key and value != seed:
                raise ConfigError(f"{key}={value!r}: a build has one seed, {seed_key} (here {seed!r}), which every "
                                  f"operator uses; remove this key and set {seed_key} (--seed) instead")
    return one_seed(cfg)


def one_seed(cfg: T) -> T:
    """`cfg` with every `seed` field set to the seed at `cfg.SEED` (unchanged when it declares none)."""
    seed_key = getattr(cfg, "SEED", None)
    return _with_seed(cfg, _get(cfg, seed_key)) if seed_key else cfg


def _with_seed(cfg: T, seed: Any) -> T:
    changes = {}
    for f in dataclasses.fields(cfg):  # type: ignore[arg-type]
        v = getattr(cfg, f.name)
        new = seed if f.name == "seed" else _with_seed(v, seed) if dataclasses.is_dataclass(v) else v
        if new is not v and new != v:
            changes[f.name] = new
    return dataclasses.replace(cfg, **changes) if changes else cfg  # type: ignore[type-var]


def _get(cfg: Any, dotted: str) -> Any:
    for k in dotted.split("."):
        cfg = getattr(cfg, k)
    return cfg


def _leaves(d: dict[str, Any], where: str, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(where + dotted key, value) of every value in a nested mapping."""
    for k, v in d.items():
        if isinstance(v, dict):
            yield from _leaves(v, where, f"{prefix}{k}.")
        else:
            yield f"{where}{prefix}{k}", v


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split())


def _read_yaml(path: Path) -> dict[str, Any]:
    """The YAML mapping in `path`; a missing or malformed file is a ConfigError naming it."""
    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except OSError as e:
        raise ConfigError(f"--config {path}: cannot read it ({e.strerror or e})") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"--config {path}: not valid YAML ({_one_line(e)})") from e
    if not isinstance(loaded, dict):
        raise ConfigError(f"--config {path}: expected a mapping of sections, got {type(loaded).__name__}")
    return loaded


def _merge(base: dict[str, Any], new: dict[str, Any]) -> None:
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _merge(base[k], v)
        else:
            base[k] = v
