"""The design page's form, checked field by field: each bad field gets the :class:`InputError` message of its own.

The page sends its fields as typed (text, or numbers from a script); :func:`read_design` turns
them into a :class:`DesignInput` with the library's own validators (``as_doses``,
:class:`~dosefinding.shapes.Candidates`, ...) and, for every field that fails, keeps the message
under the field's name (:class:`FieldErrors`), so the page can show it next to the field.

Fields (the keys of the JSON object):

``doses``
    Dose levels, placebo (0) first, increasing: ``"0, 5, 50, 300"`` or a list.
``shapes``
    Shape name -> guesstimates, for the shapes chosen: ``""`` (or null) for linear and linlog; for
    the others numbers separated by commas, models by semicolons (``"10; 100"`` two emax models,
    ``"50, 3"`` one sigemax); a one-parameter shape also takes ``"10, 100"`` as two models.
``max_effect``
    Effect over placebo at the largest dose (quadratic: at the vertex; betamod: at the mode).
``sigma``
    Residual standard deviation.
``n``
    Patients per arm: one whole number, or one per dose (also the allocation of the sample size).
``alpha``, ``alternative``
    Level and sidedness of the multiple contrast test.
``target_power``
    The power the sample size aims at (the mean over the candidate models by default, ``summary``).
``summary``
    ``"mean"``, ``"min"`` or ``"max"``: how the sample size summarises the power over the models.
``truth``, ``name``, ``visit``
    The exported trial spec's true dose-response (a model label; default the first), name and
    primary week.

Examples
--------
>>> design = read_design({"doses": "0, 5, 50, 300", "shapes": {"linear": "", "emax": "10; 100"},
...                       "max_effect": "-3.5", "sigma": "5.6", "n": "45"})
>>> design.candidates.labels, design.n.tolist()
(('linear', 'emax1', 'emax2'), [45, 45, 45, 45])
>>> try:
...     read_design({"doses": "0, 50, 5", "shapes": {"emax": "-1"}, "sigma": "-2", "n": "0"})
... except FieldErrors as exc:
...     sorted(exc.errors)
['doses', 'n', 'sigma']
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np
from numpy.typing import NDArray

from dosefinding.errors import InputError
from dosefinding.mcp.mct import Alternative
from dosefinding.shapes.candidates import Candidates
from dosefinding.shapes.library import SHAPE_NAMES, get_shape
from dosefinding.validation import as_doses

__all__ = ["ALPHAS", "DEFAULTS", "MAGNITUDES", "MAX_DOSES", "MAX_MODELS", "MAX_N_PER_ARM", "DesignInput",
           "FieldErrors", "error_field", "read_design", "shape_catalogue"]

MAX_DOSES = 12
"""Most dose levels the page takes (a dose-finding design has a handful)."""
MAX_MODELS = 12
"""Most candidate models the page takes: 12 doses and 12 models of 8 shapes take about 11 s (2 busy cores);
30 and 30 took 450 s, which would block the page for everyone else."""
MAX_N_PER_ARM = 100_000
"""Most patients per arm the page takes: an exported spec must stay simulable."""
MAGNITUDES = (1e-100, 1e100)
"""Smallest and largest size of sigma and of the effect: their squares stay normal floating-point numbers."""
ALPHAS = (1e-5, 0.5)
"""Smallest and largest level: the critical value's probabilities are computed to about 1e-7."""

DEFAULTS: dict[str, Any] = {
    "doses": "0, 5, 50, 300",
    "shapes": {"linear": "", "emax": "10; 100", "sigemax": "50, 3", "exponential": "150"},
    "max_effect": "-3.5",
    "sigma": "5.6",
    "n": "45",
    "alpha": "0.025",
    "alternative": "one-sided",
    "target_power": "0.8",
    "summary": "mean",
    "truth": "",
    "name": "NEWTRIAL",
    "visit": "12",
}
"""The page's first design: A2201 (doses 0, 5, 50, 300 mg; SD 5.6; effect -3.5 at 300 mg; its five candidates)."""

# Guesstimates the page offers for a shape before the user types one (A2201's scale, largest dose 300).
_EXAMPLE_GUESSTIMATES = {"quadratic": "-0.002", "logistic": "50, 10", "betamod": "0.5, 0.5", "linint": ""}
_SPLIT = re.compile(r"[\s,]+")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,39}")


class FieldErrors(InputError):
    """One message per form field at fault (the field's name -> the :class:`InputError` message)."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{field}: {message}" for field, message in self.errors.items()))


@dataclass(frozen=True)
class DesignInput:
    """A checked design: what the page's numbers are computed from."""

    candidates: Candidates
    max_effect: float
    sigma: float
    n: NDArray[np.int64]
    alpha: float
    alternative: Alternative
    target_power: float
    summary: Literal["mean", "min", "max"]
    truth: str
    name: str
    visit: int

    @property
    def doses(self) -> NDArray[np.float64]:
        """The dose levels, placebo first."""
        return self.candidates.doses


def shape_catalogue() -> list[dict[str, Any]]:
    """Every shape of :mod:`dosefinding.shapes` with its guesstimate parameters, as the page lists them.

    Examples
    --------
    >>> [s["name"] for s in shape_catalogue()][:4]
    ['linear', 'linlog', 'quadratic', 'emax']
    >>> shape_catalogue()[4]["parameters"]
    ['ed50', 'h']
    """
    guessed = {"quadratic": ["delta (b2/b1, negative)"], "linint": ["effect share at each active dose"]}
    return [{"name": name,
             "parameters": guessed.get(name, list(get_shape(name).nonlinear_parameters)),
             "selected": name in DEFAULTS["shapes"],
             "guesstimate": DEFAULTS["shapes"].get(name, _EXAMPLE_GUESSTIMATES.get(name, ""))}
            for name in SHAPE_NAMES]


def read_design(form: Mapping[str, Any]) -> DesignInput:
    """The checked design of a form; :class:`FieldErrors` with every field at fault.

    Fields left out take :data:`DEFAULTS` (an empty ``shapes`` is an error: a design needs a candidate).
    """
    if not isinstance(form, Mapping):
        raise FieldErrors({"design": f"must be a JSON object of fields, got {type(form).__name__}"})
    unknown = sorted(set(form) - set(DEFAULTS))
    errors: dict[str, str] = {key: "unknown field" for key in unknown}

    @contextmanager
    def field(name: str) -> Iterator[None]:
        try:
            yield
        except InputError as exc:
            errors[name] = str(exc)

    value = {key: form.get(key, default) for key, default in DEFAULTS.items()}
    doses = max_effect = None
    with field("doses"):
        levels = as_doses(_numbers(value["doses"], "doses"), "doses")
        if levels.size > MAX_DOSES:
            raise InputError(f"doses: at most {MAX_DOSES} dose levels, got {levels.size}")
        doses = levels
    with field("max_effect"):
        effect = _number(value["max_effect"], "max_effect")
        if effect == 0:
            raise InputError("max_effect: must not be zero (it sets the direction of the effect)")
        _magnitude(abs(effect), "max_effect", "in absolute value ")
        max_effect = effect
    checked: dict[str, float] = {}
    with field("sigma"):
        checked["sigma"] = _number(value["sigma"], "sigma")
        if checked["sigma"] <= 0:
            raise InputError(f"sigma: must be positive, got {checked['sigma']:g}")
        _magnitude(checked["sigma"], "sigma", "")
    with field("alpha"):
        checked["alpha"] = _number(value["alpha"], "alpha")
        if not ALPHAS[0] <= checked["alpha"] <= ALPHAS[1]:
            raise InputError(f"alpha: must be from {ALPHAS[0]:g} to {ALPHAS[1]:g}, got {checked['alpha']:g}")
    with field("target_power"):
        checked["target_power"] = _number(value["target_power"], "target_power")
        if not 0 < checked["target_power"] < 1:
            raise InputError(f"target_power: must be between 0 and 1, got {checked['target_power']:g}")
    for name, choices in (("alternative", ("one-sided", "two-sided")), ("summary", ("mean", "min", "max"))):
        with field(name):
            if value[name] not in choices:
                raise InputError(f"{name}: must be one of {', '.join(choices)}, got {value[name]!r}")
    n = visit = None
    with field("n"):
        n = _patients(value["n"], None if doses is None else doses.size)
    with field("visit"):
        visit = _whole(_number(value["visit"], "visit"), "visit", 1, 520)
    with field("name"):
        if not isinstance(value["name"], str) or not _NAME.fullmatch(value["name"]):
            raise InputError(f"name: a letter, then up to 39 letters, digits, _ or -, got {value['name']!r}")
    candidates = None
    if doses is not None and max_effect is not None:
        candidates = _candidates(value["shapes"], doses, max_effect, field)
    truth = value["truth"] or (candidates.labels[0] if candidates is not None else "")
    with field("truth"):
        if candidates is not None and truth not in candidates.labels:
            raise InputError(f"truth: {truth!r} is not a candidate model ({', '.join(candidates.labels)})")
    if errors or candidates is None or n is None or visit is None or max_effect is None:
        raise FieldErrors(errors or {"shapes": "give at least one candidate shape"})
    return DesignInput(candidates=candidates, max_effect=max_effect, sigma=checked["sigma"], n=n,
                       alpha=checked["alpha"], alternative=cast(Alternative, value["alternative"]),
                       target_power=checked["target_power"], summary=value["summary"], truth=truth,
                       name=value["name"], visit=visit)


def _candidates(shapes: Any, doses: NDArray[np.float64], max_effect: float, field: Any) -> Candidates | None:
    """The candidate set; each shape is first built alone, so that a bad guesstimate names its own row."""
    if not isinstance(shapes, Mapping) or not shapes:
        with field("shapes"):
            raise InputError("shapes: give at least one candidate shape")
        return None
    parsed: dict[str, Any] = {}
    for name, text in shapes.items():
        with field(f"shapes.{name}"):
            shape = get_shape(name).name
            guess = _guesstimates(text, shape)
            Candidates(doses, {shape: guess}, max_effect=max_effect)
            if shape in parsed:
                raise InputError(f"shapes[{shape!r}]: given twice")
            parsed[shape] = guess
    if len(parsed) != len(shapes):
        return None
    candidates = None
    with field("shapes"):
        candidates = Candidates(doses, parsed, max_effect=max_effect)
        if len(candidates.models) > MAX_MODELS:
            raise InputError(f"shapes: at most {MAX_MODELS} candidate models, got {len(candidates.models)}")
    return candidates


def _guesstimates(text: Any, shape: str) -> Any:
    """Guesstimates as ``Candidates`` takes them: None, a list of numbers or a list of rows (a list given as is)."""
    if not _parameter_names(shape):
        if text not in (None, "") and not (isinstance(text, str) and not text.strip()):
            raise InputError(f"shapes[{shape!r}]: takes no guesstimate, leave it empty (got {text!r})")
        return None
    if isinstance(text, (list, tuple, int, float)) and not isinstance(text, bool):
        return text
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"shapes[{shape!r}]: needs a guesstimate ({', '.join(_parameter_names(shape))})")
    rows = [_numbers(part, f"shapes[{shape!r}]") for part in text.split(";") if part.strip()]
    return rows[0] if len(rows) == 1 else rows


def _parameter_names(shape: str) -> list[str]:
    return next(s["parameters"] for s in shape_catalogue() if s["name"] == shape)


def _number(value: Any, name: str) -> float:
    numbers = _numbers(value, name)
    if len(numbers) != 1:
        raise InputError(f"{name}: give one number, got {len(numbers)}")
    return numbers[0]


def _numbers(value: Any, name: str) -> list[float]:
    """Finite numbers from a number, a list of numbers or text separated by commas or spaces."""
    if isinstance(value, bool):
        raise InputError(f"{name}: must be a number, got {value!r}")
    if isinstance(value, (int, float)):
        items: list[Any] = [value]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    elif isinstance(value, str):
        items = [token for token in _SPLIT.split(value.strip()) if token]
    else:
        raise InputError(f"{name}: must be numbers, got {type(value).__name__}")
    if not items:
        raise InputError(f"{name}: is empty")
    numbers = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, float, str)):
            raise InputError(f"{name}: {item!r} is not a number")
        try:
            number = float(item)
        except (ValueError, OverflowError):
            raise InputError(f"{name}: {item!r} is not a number") from None
        if not math.isfinite(number):
            raise InputError(f"{name}: must be finite, got {item!r}")
        numbers.append(number)
    return numbers


def error_field(message: str) -> str:
    """The form field an :class:`InputError` message names (``"design"`` when it names none).

    Examples
    --------
    >>> error_field("sigma: must be positive, got -1"), error_field("shapes['emax']: ..."), error_field("corr: x")
    ('sigma', 'shapes.emax', 'design')
    """
    named = re.match(r"shapes\['([^']+)'\]", message)
    if named:
        return f"shapes.{named.group(1)}"
    prefix = message.split(":", 1)[0]
    return prefix if prefix in DEFAULTS else "design"


def _magnitude(number: float, name: str, what: str) -> None:
    if not MAGNITUDES[0] <= number <= MAGNITUDES[1]:
        raise InputError(f"{name}: must be {what}from {MAGNITUDES[0]:g} to {MAGNITUDES[1]:g}, got {number:g}")


def _whole(number: float, name: str, low: int, high: int) -> int:
    if number != int(number) or not low <= number <= high:
        raise InputError(f"{name}: must be a whole number from {low} to {high:,}, got {number:g}")
    return int(number)


def _patients(value: Any, k: int | None) -> NDArray[np.int64]:
    n = [_whole(x, "n", 1, MAX_N_PER_ARM) for x in _numbers(value, "n")]
    if k is not None and len(n) not in (1, k):
        raise InputError(f"n: give one number or one per dose ({k}), got {len(n)}")
    sizes = np.array(n * (k or 1) if len(n) == 1 else n, dtype=np.int64)
    if k is not None and sizes.sum() <= k:
        raise InputError(f"n: {sizes.tolist()} patients leave no degrees of freedom for the residual SD of {k} arms")
    return sizes
