"""The one validator of TOML specs: pydantic models whose every error names the key path.

The trial spec (:mod:`dosefinding.study.trial_schema`), the analysis spec
(:mod:`dosefinding.study.analysis_schema`) and the published items of a paper are pydantic
models built from :class:`SpecModel` and the field types below; :func:`validate` checks a
parsed TOML document against one of them and turns the first problem into one
:class:`~dosefinding.errors.InputError` naming the key path, e.g. ``arms[2].dose: missing``
or ``trial.sed: unknown key (expected ...)``.

The field types (:class:`Number`, :class:`Integer`, :class:`Text`, ...) are annotations
``Annotated[float, Number(lower=0.0)]``: each checks a value with the message of the spec
readers and contributes its part of the JSON Schema (:func:`dosefinding.study.schema.spec_json_schema`).

Examples
--------
>>> from typing import Annotated
>>> from pydantic import Field
>>> class Trial(SpecModel):
...     seed: Annotated[int, Integer(lower=0)] = Field(0, description="Random seed.")
...     name: Annotated[str, Text()] = Field(description="Name.")
>>> validate(Trial, {"name": "tiny", "seed": 1}, "trial").seed
1
>>> validate(Trial, {"name": "tiny", "sed": 1}, "trial")
Traceback (most recent call last):
...
dosefinding.errors.InputError: trial.sed: unknown key (expected seed, name)
>>> validate(Trial, {"name": "tiny", "seed": -1}, "trial")
Traceback (most recent call last):
...
dosefinding.errors.InputError: trial.seed: must be at least 0, got -1
"""

import datetime as dt
import math
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar, NoReturn, Self, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ModelWrapValidatorHandler,
    ValidationError,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from dosefinding.errors import InputError

__all__ = [
    "Anything",
    "Before",
    "Check",
    "DateRange",
    "Filters",
    "Flag",
    "Integer",
    "KeyNames",
    "Names",
    "Note",
    "Number",
    "NumberOrNumbers",
    "Numbers",
    "Shares",
    "SpecModel",
    "Tables",
    "Text",
    "check_value",
    "fail",
    "key_path",
    "library_problem",
    "read_toml",
    "validate",
]

M = TypeVar("M", bound=BaseModel)


def fail(message: str, key: str = "") -> NoReturn:
    """Stop validation with ``message``; ``key`` (``".name"`` or ``"[i]"``) extends the key path of the value."""
    raise PydanticCustomError("spec", "{message}", {"message": message, "key": key})


def library_problem(message: str, key: str, shapes: str = "shapes") -> tuple[str, str]:
    """A library :class:`~dosefinding.errors.InputError` message as a spec problem: ``(problem, key path)``.

    The library names its own argument (``"max_effect: ..."``, ``"shapes['emax']: ..."``); it
    becomes a key below ``key`` (a shape below ``key.shapes``: ``shapes`` is the spec's key of the
    shapes' table), unless ``key`` already ends with it.

    Examples
    --------
    >>> library_problem("shapes['emax']: guesstimates must be positive, got [-10.0]", "analysis", "candidates")
    ('guesstimates must be positive, got [-10.0]', 'analysis.candidates.emax')
    >>> library_problem("max_effect: must not be zero", "analysis")
    ('must not be zero', 'analysis.max_effect')
    """
    head, sep, rest = message.partition(": ")
    if not sep or " " in head:
        return message, key
    if head.startswith("shapes["):  # shapes['emax']
        head = f"{shapes}." + head[len("shapes["):-1].strip("'")
    return rest, key if key.endswith("." + head) else f"{key}.{head}"


def key_path(*parts: str | int) -> str:
    """Join a location into a key path: ``("arms", 2, "dose")`` -> ``arms[2].dose``.

    Examples
    --------
    >>> key_path("endpoints", "SCORE", "visits", 1)
    'endpoints.SCORE.visits[1]'
    """
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part:
            out += f".{part}" if out else part
    return out


class SpecModel(BaseModel):
    """A table of a spec: frozen, unknown keys refused naming the keys it has."""

    model_config = ConfigDict(extra="allow", frozen=True, protected_namespaces=(),
                              json_schema_extra={"additionalProperties": False})
    unknown: ClassVar[str] = "unknown key"
    """The start of the message for a key the table does not have."""
    open_table: ClassVar[bool] = False
    """Whether the table keeps keys it does not describe."""

    @model_validator(mode="wrap")
    @classmethod
    def _known_keys(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        # after the fields are checked: a missing or wrong key is reported before a typo elsewhere in the table
        table = handler(data)
        if table.model_extra and not cls.open_table:
            fail(f"{cls.unknown} (expected {', '.join(cls.model_fields)})", "." + next(iter(table.model_extra)))
        return table


def _message(error: Mapping[str, Any], path: str) -> str:
    where = key_path(path, *error["loc"])
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "spec":
        return f"{(where + ctx['key']).lstrip('.')}: {ctx['message']}"
    if kind == "missing":
        return f"{where}: missing"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"{where}: must be a table, got {error['input']!r}"
    if kind in ("list_type", "tuple_type"):
        return f"{where}: must be a list, got {error['input']!r}"
    return f"{where}: {error['msg']}"  # pragma: no cover - every field type reports through fail()


def validate(model: type[M], data: object, path: str = "") -> M:
    """``data`` checked against ``model``; the first problem is an :class:`InputError` naming its key path.

    ``path`` is the key path of ``data`` in its document (``""`` for the document itself).
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InputError(_message(exc.errors(include_url=False)[0], path)) from None


def check_value(check: "Check", value: object, key: str) -> Any:
    """``value`` checked by the field type ``check`` outside a model; a problem names ``key``.

    Examples
    --------
    >>> check_value(Numbers(length=2, what="bounds"), [1, 2], "screening.failing.AGE")
    (1.0, 2.0)
    """
    try:
        return check.check(value)
    except PydanticCustomError as exc:
        ctx = exc.context or {}
        raise InputError(f"{key}{ctx.get('key', '')}: {ctx.get('message', exc.message())}") from None


def read_toml(text: str) -> dict[str, Any]:
    """A TOML document, or an :class:`InputError` ``spec: not valid TOML (...)``.

    Examples
    --------
    >>> read_toml("a = 1")
    {'a': 1}
    """
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"spec: not valid TOML ({exc})") from None


# --------------------------------------------------------------------------- field types


class Check:
    """A field type: :meth:`check` a TOML value (or :func:`fail`), :meth:`json` its JSON Schema."""

    def check(self, value: Any) -> Any:  # pragma: no cover - every field type overrides it
        raise NotImplementedError

    def json(self) -> JsonSchemaValue:  # pragma: no cover - every field type overrides it
        raise NotImplementedError

    def at(self, value: Any, key: str) -> Any:
        """:meth:`check` a value found at ``key`` (``".name"`` or ``"[i]"``) below the one being validated."""
        try:
            return self.check(value)
        except PydanticCustomError as exc:
            context = exc.context or {}
            fail(str(context.get("message", exc.message())), key + str(context.get("key", "")))

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(self.check)

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return self.json()


def _bound(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def _number_json(lower: float | None, upper: float | None, strict: bool) -> JsonSchemaValue:
    out: dict[str, Any] = {"type": "number"}
    if lower is not None:
        out["exclusiveMinimum" if strict else "minimum"] = _bound(lower)
    if upper is not None:
        out["maximum"] = _bound(upper)
    return out


def _number(value: object, lower: float | None, upper: float | None, strict: bool, key: str = "") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        fail(f"must be a finite number, got {value!r}", key)
    x = float(value)
    if lower is not None and (x < lower or (strict and x == lower)):
        fail(f"must be {'greater than' if strict else 'at least'} {lower:g}, got {x:g}", key)
    if upper is not None and x > upper:
        fail(f"must be at most {upper:g}, got {x:g}", key)
    return x


@dataclass(frozen=True)
class Number(Check):
    """A finite number (a float) within ``[lower, upper]`` (``strict``: above ``lower``; ``below``: under it)."""

    lower: float | None = None
    upper: float | None = None
    strict: bool = False
    below: float | None = None

    def check(self, value: Any) -> float:
        x = _number(value, self.lower, self.upper, self.strict)
        if self.below is not None and x >= self.below:
            fail(f"must be below {self.below:g}, got {x:g}")
        return x

    def json(self) -> JsonSchemaValue:
        out = _number_json(self.lower, self.upper, self.strict)
        if self.below is not None:
            out["exclusiveMaximum"] = _bound(self.below)
        return out


def _numbers(value: object, lower: float | None, upper: float | None, strict: bool = False) -> tuple[float, ...]:
    if not isinstance(value, list) or not value:
        fail(f"must be a non-empty list of numbers, got {value!r}")
    return tuple(_number(v, lower, upper, strict, f"[{i}]") for i, v in enumerate(value))


@dataclass(frozen=True)
class Numbers(Check):
    """A non-empty list of numbers (``length`` of them, one per ``what``), each as :class:`Number`."""

    lower: float | None = None
    upper: float | None = None
    length: int | None = None
    what: str = "entries"

    def check(self, value: Any) -> tuple[float, ...]:
        if self.length is not None and isinstance(value, list) and len(value) != self.length:
            fail(f"needs {self.length} values (one per {self.what.rstrip('s')}), got {len(value)}")
        return _numbers(value, self.lower, self.upper)

    def json(self) -> JsonSchemaValue:
        out: dict[str, Any] = {"type": "array", "items": _number_json(self.lower, self.upper, False), "minItems": 1}
        if self.length is not None:
            out["minItems"] = out["maxItems"] = self.length
        return out


@dataclass(frozen=True)
class NumberOrNumbers(Check):
    """A number (the same for every visit or arm) or a list with one number per visit or arm.

    The number of entries is checked where the schedule and the arms are known (:func:`per`).
    """

    lower: float | None = None
    upper: float | None = None
    strict: bool = False

    def check(self, value: Any) -> float | tuple[float, ...]:
        if isinstance(value, list):
            return _numbers(value, self.lower, self.upper, self.strict)
        return _number(value, self.lower, self.upper, self.strict)

    def json(self) -> JsonSchemaValue:
        one = _number_json(self.lower, self.upper, self.strict)
        return {"anyOf": [one, {"type": "array", "items": one, "minItems": 1}]}


@dataclass(frozen=True)
class Integer(Check):
    """A whole number of at least ``lower``."""

    lower: int | None = None

    def check(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            fail(f"must be an integer, got {value!r}")
        if self.lower is not None and value < self.lower:
            fail(f"must be at least {self.lower}, got {value}")
        return value

    def json(self) -> JsonSchemaValue:
        return {"type": "integer"} if self.lower is None else {"type": "integer", "minimum": self.lower}


@dataclass(frozen=True)
class Text(Check):
    """A non-blank string, one of ``choices`` when given."""

    choices: Sequence[str] | None = None

    def check(self, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            fail(f"must be a non-empty string, got {value!r}")
        if self.choices is not None and value not in self.choices:
            fail(f"must be one of {', '.join(self.choices)}; got {value!r}")
        return value

    def json(self) -> JsonSchemaValue:
        if self.choices is not None:
            return {"type": "string", "enum": list(self.choices)}
        return {"type": "string", "minLength": 1, "pattern": r"\S"}


@dataclass(frozen=True)
class Note(Check):
    """A free text (label, unit, description), possibly empty."""

    def check(self, value: Any) -> str:
        if not isinstance(value, str):
            fail(f"must be a string, got {value!r}")
        return value

    def json(self) -> JsonSchemaValue:
        return {"type": "string"}


@dataclass(frozen=True)
class Flag(Check):
    """``true`` or ``false``."""

    def check(self, value: Any) -> bool:
        if not isinstance(value, bool):
            fail(f"must be true or false, got {value!r}")
        return value

    def json(self) -> JsonSchemaValue:
        return {"type": "boolean"}


@dataclass(frozen=True)
class Names(Check):
    """A list of non-blank strings (``empty``: possibly empty); ``what`` names them in the message."""

    what: str = "column names"
    empty: bool = True

    def check(self, value: Any) -> tuple[str, ...]:
        if (not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value)
                or (not value and not self.empty)):
            fail(f"must be a {'' if self.empty else 'non-empty '}list of {self.what}, got {value!r}")
        return tuple(value)

    def json(self) -> JsonSchemaValue:
        return {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 0 if self.empty else 1}


@dataclass(frozen=True)
class Shares(Check):
    """A table of shares (name to a number of at least 0) adding up to 1; ``names``: the only names allowed."""

    names: Sequence[str] | None = None

    def check(self, value: Any) -> MappingProxyType[str, float]:
        if not isinstance(value, Mapping):
            fail(f"must be a table, got {value!r}")
        shares = {name: _number(v, 0.0, None, False, f".{name}") for name, v in value.items()}
        total = sum(shares.values())
        if not shares or abs(total - 1.0) > 1e-6:
            fail(f"shares must add up to 1, got {total:g}")
        for name in shares:
            if self.names is not None and name not in self.names:
                fail(f"unknown severity (expected {', '.join(self.names)})", f".{name}")
        return MappingProxyType(shares)

    def json(self) -> JsonSchemaValue:
        out: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "number", "minimum": 0},
                               "minProperties": 1}
        if self.names is not None:
            out["propertyNames"] = {"enum": list(self.names)}
        return out


@dataclass(frozen=True)
class Filters(Check):
    """Row filters: column to a value or a list of values (``as_given``: kept as given, else as tuples)."""

    message: str = "must be a value or a list of values"
    not_table: str = "must be a table"
    as_given: bool = False

    def check(self, value: Any) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            fail(f"{self.not_table}, got {value!r}")
        out = {}
        for column, given in value.items():
            values = given if isinstance(given, list) else [given]
            if not values or not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in values):
                fail(f"{self.message}, got {given!r}", f".{column}")
            out[column] = tuple(values)
        return dict(value) if self.as_given else MappingProxyType(out)

    def json(self) -> JsonSchemaValue:
        scalar = {"type": ["string", "number"]}
        return {"type": "object", "additionalProperties": {
            "anyOf": [scalar, {"type": "array", "items": scalar, "minItems": 1}]}}


@dataclass(frozen=True)
class DateRange(Check):
    """``[first, last]``: two dates (TOML dates or ``YYYY-MM-DD`` strings), the last not before the first."""

    def check(self, value: Any) -> tuple[dt.date, dt.date]:
        if not isinstance(value, list) or len(value) != 2:
            fail("must be [first date, last date]")
        first, last = (_date(v, f"[{i}]") for i, v in enumerate(value))
        if last < first:
            fail("last date is before the first")
        return first, last

    def json(self) -> JsonSchemaValue:
        date = {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]}
        return {"type": "array", "items": date, "minItems": 2, "maxItems": 2}


def _date(value: object, key: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        fail(f"must be a date (YYYY-MM-DD), got {value!r}", key)


@dataclass(frozen=True)
class Anything(Check):
    """Any TOML value, checked where its meaning is known; ``schema`` is its JSON Schema."""

    schema: Mapping[str, Any]

    def check(self, value: Any) -> Any:
        return value

    def json(self) -> JsonSchemaValue:
        return dict(self.schema)


@dataclass(frozen=True)
class Tables:
    """An array of tables (``[[name]]``): ``message`` when the value is not one; at least ``minimum`` of them."""

    message: str
    minimum: int = 0

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        def check(value: Any) -> Any:
            if not isinstance(value, list) or len(value) < self.minimum:
                fail(self.message)
            return value

        return core_schema.no_info_before_validator_function(check, handler(source))

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        out = handler(schema)
        if self.minimum:
            out = {**out, "minItems": self.minimum}
        return out


@dataclass(frozen=True)
class KeyNames:
    """A table whose keys match ``pattern`` (a regular expression); ``message`` names the key that does not."""

    pattern: str
    message: str

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        def check(value: Any) -> Any:
            for name in value if isinstance(value, Mapping) else ():
                if not re.fullmatch(self.pattern, name):
                    fail(self.message, f".{name}")
            return value

        return core_schema.no_info_before_validator_function(check, handler(source))

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {**handler(schema), "propertyNames": {"pattern": f"^{self.pattern}$"}}


@dataclass(frozen=True)
class Before:
    """Rewrite a value before the field's own validation (``function``); the JSON Schema is ``schema``."""

    function: Callable[[Any], Any]
    schema: JsonSchemaValue

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(self.function, handler(source))

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {"anyOf": [self.schema, handler(schema)]}
