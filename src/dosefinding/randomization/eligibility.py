"""Eligibility screening: a study's inclusion rules as data, with the reason for every failure.

A rule is a mapping ``{"id", "field", "op", "value", "text"}``: ``op`` is one of
``>=, >, <=, <, ==, !=, between, in, is_true``; ``between`` takes ``[low, high]`` (both
included). Rules come from a list of dicts or the ``[[rule]]`` tables of a TOML file. A
subject fails a rule when the field is missing, not of the right type, or outside the rule;
every failed rule is reported, not only the first. :meth:`EligibilityRules.screen` screens one
subject (the service), :meth:`EligibilityRules.evaluate` many at once (the virtual trial's
screening): both decide by the same test, :meth:`Rule.passes`.
"""

from __future__ import annotations

import math
import operator
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from dosefinding.errors import InputError
from dosefinding.summary import Summary, SummaryDisplay, short_repr

__all__ = ["A2201_PRESET", "A2201_RULES", "EligibilityRules", "Rule", "RuleFailure", "ScreeningResult", "a2201_setup"]

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq, "!=": operator.ne,
}
OPERATORS = (*_COMPARE, "between", "in", "is_true")


@dataclass(frozen=True)
class Rule:
    """One inclusion rule: ``field op value``, with its identifier and its protocol text."""

    id: str
    field: str
    op: str
    value: Any
    text: str

    @classmethod
    def from_mapping(cls, rule: Mapping[str, Any], position: int) -> Rule:
        """A rule from a dict, or InputError naming the rule and the key at fault."""
        where = f"rules[{position}]"
        if not isinstance(rule, Mapping):
            raise InputError(f"{where}: must be a mapping with id, field, op, value, got {rule!r}")
        for key in ("id", "field", "op"):
            if not isinstance(rule.get(key), str) or not rule[key]:
                raise InputError(f"{where}.{key}: must be a non-empty string, got {rule.get(key)!r}")
        op = rule["op"]
        if op not in OPERATORS:
            raise InputError(f"{where}.op: must be one of {list(OPERATORS)}, got {op!r}")
        value = rule.get("value")
        if op == "between":
            if not isinstance(value, Sequence) or len(value) != 2 or not all(_is_number(v) for v in value):
                raise InputError(f"{where}.value: 'between' needs [low, high], got {value!r}")
            value = (float(value[0]), float(value[1]))
        elif op == "in":
            if isinstance(value, str) or not isinstance(value, Sequence) or not value:
                raise InputError(f"{where}.value: 'in' needs a non-empty list, got {value!r}")
            value = tuple(value)
        elif op == "is_true":
            value = True
        elif op in ("==", "!="):
            if value is None:
                raise InputError(f"{where}.value: {op!r} needs a value")
        elif not _is_number(value):
            raise InputError(f"{where}.value: {op!r} needs a number, got {value!r}")
        text = str(rule.get("text", f"{rule['field']} {op} {value}"))
        return cls(id=rule["id"], field=rule["field"], op=op, value=value, text=text)

    def passes(self, values: Sequence[Any]) -> NDArray[np.bool_]:
        """Whether each of ``values`` (one per subject; None when missing) passes the rule.

        The one test of the rule: :meth:`failure` (one subject) and
        :meth:`EligibilityRules.evaluate` (many) both use it.

        Examples
        --------
        >>> A2201_RULES.rules[2].passes([6.5, 4.9, None, "high"]).tolist()
        [True, False, False, False]
        """
        x = list(values)
        if self.op == "is_true":
            return np.array([v is True for v in x], dtype=bool)
        if self.op in ("in", "==", "!="):
            test = (lambda v: v in self.value) if self.op == "in" else (lambda v: _COMPARE[self.op](v, self.value))
            return np.array([v is not None and bool(test(v)) for v in x], dtype=bool)
        numeric = np.array([_is_number(v) for v in x], dtype=bool)
        number = np.array([v if ok else np.nan for v, ok in zip(x, numeric, strict=True)], dtype=float)
        if self.op == "between":
            low, high = self.value
            return numeric & (number >= low) & (number <= high)
        return numeric & _COMPARE[self.op](number, self.value)

    def failure(self, subject: Mapping[str, Any]) -> str | None:
        """Why ``subject`` fails this rule, or None if it passes."""
        x = subject.get(self.field)
        if self.passes([x])[0]:
            return None
        if x is None:
            return f"{self.field} missing"
        if self.op == "is_true":
            return f"{self.field} is {x!r}, must be true"
        if self.op in ("in", "==", "!="):
            return f"{self.field} = {x!r}, must be {self.op} {_show(self.value)}"
        if not _is_number(x):
            return f"{self.field} = {x!r} is not a number"
        if self.op == "between":
            low, high = self.value
            return f"{self.field} = {x:g}, must be between {low:g} and {high:g}"
        return f"{self.field} = {x:g}, must be {self.op} {self.value:g}"


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _show(value: Any) -> str:
    return repr(list(value)) if isinstance(value, tuple) else repr(value)


@dataclass(frozen=True)
class RuleFailure:
    """One failed rule: its identifier, protocol text and the reason."""

    rule: str
    text: str
    reason: str


@dataclass(frozen=True)
class ScreeningResult(SummaryDisplay):
    """The outcome of screening one subject."""

    eligible: bool
    failures: tuple[RuleFailure, ...]

    def to_frame(self) -> pd.DataFrame:
        """One row per failed rule: ``rule``, ``text`` and ``reason`` (no rows when eligible)."""
        return pd.DataFrame([vars(f) for f in self.failures], columns=["rule", "text", "reason"])

    def __repr__(self) -> str:
        return short_repr(self, eligible=self.eligible, failed=[f.rule for f in self.failures])

    def summary(self) -> Summary:
        """ELIGIBLE, or NOT ELIGIBLE with one line per failed rule."""
        if self.eligible:
            return Summary(["ELIGIBLE"], frame=self.to_frame())
        return Summary(["NOT ELIGIBLE"] + [f"  {f.rule}: {f.text} ({f.reason})" for f in self.failures],
                       frame=self.to_frame())


@dataclass(frozen=True)
class EligibilityRules:
    """A study's inclusion rules.

    Examples
    --------
    >>> result = A2201_RULES.screen({"AGE": 80, "ESSDAI7": 7, "ESSPRI": 6, "ANTIRO": True, "SALFLOW": 0.3})
    >>> print(result.summary())
    NOT ELIGIBLE
      AGE: Age 18 to 75 years (AGE = 80, must be between 18 and 75)
    """

    rules: tuple[Rule, ...]

    @classmethod
    def from_list(cls, rules: Sequence[Mapping[str, Any]]) -> EligibilityRules:
        """Rules from a list of dicts."""
        if isinstance(rules, (str, Mapping)) or not isinstance(rules, Sequence):
            raise InputError(f"rules: must be a list of rule mappings, got {type(rules).__name__}")
        parsed = tuple(Rule.from_mapping(rule, i) for i, rule in enumerate(rules))
        ids = [r.id for r in parsed]
        duplicated = sorted({i for i in ids if ids.count(i) > 1})
        if duplicated:
            raise InputError(f"rules: duplicate rule id(s) {duplicated}")
        return cls(parsed)

    @classmethod
    def from_toml(cls, path: str | Path) -> EligibilityRules:
        """Rules from the ``[[rule]]`` tables of a TOML file."""
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise InputError(f"path: cannot read eligibility rules from {str(path)!r} ({exc})") from None
        return cls.from_list(data.get("rule", []))

    def to_list(self) -> list[dict[str, Any]]:
        """The rules as a list of plain dicts (JSON-ready)."""
        return [
            {"id": r.id, "field": r.field, "op": r.op, "value": list(r.value) if isinstance(r.value, tuple) else r.value,
             "text": r.text}
            for r in self.rules
        ]

    @property
    def fields(self) -> tuple[str, ...]:
        """The fields the rules read, in order."""
        return tuple(dict.fromkeys(r.field for r in self.rules))

    def evaluate(self, columns: Mapping[str, Sequence[Any]]) -> NDArray[np.bool_]:
        """Screen many subjects at once: ``passes[i, j]`` is whether subject ``i`` passes rule ``j``.

        ``columns`` maps each field to one value per subject (a missing field fails its rules),
        as :meth:`screen` does for one subject.

        Examples
        --------
        >>> A2201_RULES.evaluate({"AGE": [45, 80], "ESSDAI7": [8, 8], "ESSPRI": [6.0, 6.0],
        ...                       "ANTIRO": [True, True], "SALFLOW": [0.3, 0.3]}).all(axis=1).tolist()
        [True, False]
        """
        sizes = {len(v) for v in columns.values()}
        if len(sizes) > 1:
            raise InputError(f"columns: every field needs one value per subject, got lengths {sorted(sizes)}")
        n = sizes.pop() if sizes else 0
        return np.column_stack(
            [rule.passes(columns.get(rule.field, [None] * n)) for rule in self.rules]
        ).reshape(n, len(self.rules))

    def screen(self, subject: Mapping[str, Any]) -> ScreeningResult:
        """Screen one subject (a mapping of field to value); every failed rule is reported."""
        failures = []
        for rule in self.rules:
            reason = rule.failure(subject)
            if reason is not None:
                failures.append(RuleFailure(rule=rule.id, text=rule.text, reason=reason))
        return ScreeningResult(eligible=not failures, failures=tuple(failures))


A2201_PRESET = Path(__file__).resolve().parents[1] / "study" / "presets" / "randomisation" / "a2201.toml"
"""The randomisation set-up preset of study A2201: its ``[study]`` table and inclusion ``[[rule]]`` tables."""

A2201_RULES = EligibilityRules.from_toml(A2201_PRESET)
"""The key inclusion criteria of study A2201 (Bowman et al., Lancet 2022), read from :data:`A2201_PRESET`.

The service applies no rules of its own: a study's rules are part of its set-up.
"""


def a2201_setup() -> dict[str, Any]:
    """The A2201 randomisation set-up from the preset: arms, strata, doses and eligibility rules (no seeds).

    Examples
    --------
    >>> setup = a2201_setup()
    >>> setup["arms"][0], [r["id"] for r in setup["eligibility"]][:2]
    ('Placebo', ['AGE', 'ESSDAI7'])
    """
    data = tomllib.loads(A2201_PRESET.read_text(encoding="utf-8"))
    return dict(data["study"]) | {"eligibility": A2201_RULES.to_list()}
