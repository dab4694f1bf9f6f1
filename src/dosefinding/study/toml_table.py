"""Reading a TOML table: typed access by key, errors naming the key path, unknown keys refused.

The spec of a virtual trial (:mod:`dosefinding.study.spec`) and the analysis spec
(:mod:`dosefinding.study.analysis_spec`) are read through it, so that every problem is an
:class:`~dosefinding.errors.InputError` naming the key at fault, e.g. ``arms[2].dose: missing``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from dosefinding.errors import InputError

__all__ = ["MISSING", "TomlTable", "toml_number", "toml_numbers"]

MISSING: Any = object()
"""The default of a required key: reading it when absent is an error."""


class TomlTable:
    """A TOML table being read: typed access by key, errors naming the key path, unknown keys refused.

    ``path`` is the key path of the table (``""`` for the root); :meth:`done` refuses the
    keys that were never read.

    Examples
    --------
    >>> t = TomlTable({"seed": 1, "name": "tiny"}, "trial")
    >>> t.integer("seed"), t.text("name"), t.number("sd", 2.0)
    (1, 'tiny', 2.0)
    >>> t.done()
    >>> typo = TomlTable({"seed": 1, "sed": 2}, "trial")
    >>> typo.integer("seed")
    1
    >>> typo.done()
    Traceback (most recent call last):
    ...
    dosefinding.errors.InputError: trial.sed: unknown key (expected seed)
    """

    def __init__(self, data: object, path: str) -> None:
        if not isinstance(data, Mapping):
            raise InputError(f"{path}: must be a table, got {data!r}")
        self.data = data
        self.path = path
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def has(self, name: str) -> bool:
        return name in self.data

    def raw(self, name: str, default: Any = MISSING) -> Any:
        self.used.add(name)
        if name not in self.data:
            if default is MISSING:
                raise InputError(f"{self.key(name)}: missing")
            return default
        return self.data[name]

    def table(self, name: str, default: Any = MISSING) -> TomlTable | None:
        value = self.raw(name, default)
        return None if value is None else TomlTable(value, self.key(name))

    def number(self, name: str, default: Any = MISSING, *, lower: float | None = None,
               upper: float | None = None, strict: bool = False) -> float:
        return toml_number(self.raw(name, default), self.key(name), lower=lower, upper=upper, strict=strict)

    def integer(self, name: str, default: Any = MISSING, *, lower: int | None = None) -> int:
        value = self.raw(name, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"{self.key(name)}: must be an integer, got {value!r}")
        if lower is not None and value < lower:
            raise InputError(f"{self.key(name)}: must be at least {lower}, got {value}")
        return value

    def text(self, name: str, default: Any = MISSING, *, choices: Sequence[str] | None = None) -> str:
        value = self.raw(name, default)
        if not isinstance(value, str) or not value.strip():
            raise InputError(f"{self.key(name)}: must be a non-empty string, got {value!r}")
        if choices is not None and value not in choices:
            raise InputError(f"{self.key(name)}: must be one of {', '.join(choices)}; got {value!r}")
        return value

    def note(self, name: str, default: str = "") -> str:
        """An optional free text (label, unit, description), possibly empty."""
        value = self.raw(name, default)
        if not isinstance(value, str):
            raise InputError(f"{self.key(name)}: must be a string, got {value!r}")
        return value

    def flag(self, name: str, default: Any = MISSING) -> bool:
        value = self.raw(name, default)
        if not isinstance(value, bool):
            raise InputError(f"{self.key(name)}: must be true or false, got {value!r}")
        return value

    def numbers(self, name: str, default: Any = MISSING, *, length: int | None = None,
                lower: float | None = None, upper: float | None = None, what: str = "entries") -> tuple[float, ...]:
        return toml_numbers(self.raw(name, default), self.key(name), length=length, lower=lower, upper=upper, what=what)

    def per_visit(self, name: str, n_visits: int, default: Any = MISSING, *, lower: float | None = None,
                  strict: bool = False) -> tuple[float, ...]:
        """A number repeated over the visits, or a list with one number per visit."""
        value = self.raw(name, default)
        key = self.key(name)
        if isinstance(value, list):
            values = toml_numbers(value, key, length=n_visits, lower=lower, what="visits")
        else:
            values = (toml_number(value, key, lower=lower),) * n_visits
        if strict and any(v <= (lower or 0.0) for v in values):
            raise InputError(f"{key}: must be greater than {lower or 0:g}, got {list(values)}")
        return values

    def done(self) -> None:
        unknown = [k for k in self.data if k not in self.used]
        if unknown:
            expected = ", ".join(sorted(self.used)) or "no keys"
            raise InputError(f"{self.key(unknown[0])}: unknown key (expected {expected})")


def toml_number(value: object, key: str, *, lower: float | None = None, upper: float | None = None,
                strict: bool = False) -> float:
    """``value`` as a finite float within its bounds (``strict``: above ``lower``), or an error naming ``key``.

    Examples
    --------
    >>> toml_number(3, "trial.seed", lower=0)
    3.0
    """
    if value is MISSING:
        raise InputError(f"{key}: missing")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"{key}: must be a finite number, got {value!r}")
    x = float(value)
    if lower is not None and (x < lower or (strict and x == lower)):
        raise InputError(f"{key}: must be {'greater than' if strict else 'at least'} {lower:g}, got {x:g}")
    if upper is not None and x > upper:
        raise InputError(f"{key}: must be at most {upper:g}, got {x:g}")
    return x


def toml_numbers(value: object, key: str, *, length: int | None = None, lower: float | None = None,
                 upper: float | None = None, what: str = "entries") -> tuple[float, ...]:
    """A non-empty list of numbers (``length`` of them, one per ``what``), each as :func:`toml_number`.

    Examples
    --------
    >>> toml_numbers([1, 2.5], "change.placebo", length=2, what="visits")
    (1.0, 2.5)
    """
    if not isinstance(value, list) or not value:
        raise InputError(f"{key}: must be a non-empty list of numbers, got {value!r}")
    if length is not None and len(value) != length:
        raise InputError(f"{key}: needs {length} values (one per {what.rstrip('s')}), got {len(value)}")
    return tuple(toml_number(v, f"{key}[{i}]", lower=lower, upper=upper) for i, v in enumerate(value))
