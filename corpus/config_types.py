"""Settings checked against their dataclass field types and ranges, from YAML and `--set` alike.

`checked(value, type, where, field)` returns the value as the field's type declares it (an int where a
float is declared becomes a float, a list where a tuple is declared a tuple) or raises `ConfigError`
naming the key, the value and what is expected. Numbers are ≥ 0 unless the field declares its own
bounds with `bounded(default, ...)` (every numeric setting is a count, a size, a time, a share or a
threshold; `Bounds(minimum=None)` lifts the floor).
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any

from corpus.errors import UserError


class ConfigError(UserError, ValueError):
    """A config file or override that does not fit the config's fields (a user error: one line, exit 2)."""


@dataclass(frozen=True)
class Bounds:
    """Allowed range of a numeric setting; `above` excludes `minimum` itself."""

    minimum: float | None = 0
    maximum: float | None = None
    above: bool = False

    def admits(self, x: float) -> bool:
        low = self.minimum is None or (x > self.minimum if self.above else x >= self.minimum)
        return low and (self.maximum is None or x <= self.maximum)

    def describe(self) -> str:
        parts = []
        if self.minimum is not None:
            parts.append(f"{'>' if self.above else '>='} {self.minimum:g}")
        if self.maximum is not None:
            parts.append(f"<= {self.maximum:g}")
        return " and ".join(parts) or "any number"


DEFAULT_BOUNDS = Bounds()
FRACTION = Bounds(0, 1)
POSITIVE = Bounds(0, above=True)
AT_LEAST_ONE = Bounds(1)
JPEG_QUALITY = Bounds(1, 100)


def bounded(default: Any, bounds: Bounds) -> Any:
    """A dataclass field with `default` whose numbers must lie within `bounds`."""
    return dataclasses.field(default=default, metadata={"bounds": bounds})


def field_bounds(f: dataclasses.Field) -> Bounds:
    """The bounds a field declares, or the default (≥ 0)."""
    return f.metadata.get("bounds", DEFAULT_BOUNDS)


def _name(t: Any) -> str:
    if t is type(None):
        return "null"
    if isinstance(t, type):
        return {"bool": "true or false", "int": "an integer", "float": "a number", "str": "a string"}.get(
            t.__name__, t.__name__)
    return str(t).replace("typing.", "")


def checked(value: Any, t: Any, where: str, bounds: Bounds = DEFAULT_BOUNDS) -> Any:
    """`value` converted to type `t` and checked against `bounds`; `ConfigError` naming `where` if it does not fit."""
    origin, args = typing.get_origin(t), typing.get_args(t)

    def fail(expected: str) -> ConfigError:
        return ConfigError(f"{where}={value!r}: expected {expected}")

    if t is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return checked(value, option, where, bounds)
            except ConfigError as e:
                errors.append(e)
        if len(errors) == 1:
            raise errors[0]
        raise fail(" or ".join(_name(a) for a in args))
    if origin is typing.Literal:
        if value not in args:
            raise fail("one of " + ", ".join(repr(a) for a in args))
        return value
    if t is bool:
        if not isinstance(value, bool):
            raise fail("true or false")
        return value
    if t in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (t is int and not isinstance(value, int)):
            raise fail(_name(t))
        if value != value or value in (float("inf"), float("-inf")):
            raise fail("a finite number")
        if not bounds.admits(value):
            raise fail(f"{_name(t)} {bounds.describe()}")
        return t(value)
    if t is str:
        if not isinstance(value, str):
            raise fail("a string (quote it in YAML)")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise fail(f"a list, e.g. [{', '.join('…' for _ in range(max(1, len(args))))}]")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise fail(f"a list of {len(args)} values")
            return tuple(checked(v, a, f"{where}[{i}]", bounds) for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        items = [checked(v, item, f"{where}[{i}]", bounds) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise fail("a mapping")
        kt, vt = args or (Any, Any)
        return {checked(k, kt, f"{where} key", bounds): checked(v, vt, f"{where}.{k}", bounds) for k, v in value.items()}
    return value
