"""Candidate dose-response models: guesstimates turned into full parameters (R's ``Mods``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from dosefinding.errors import InputError
from dosefinding.shapes.library import Shape, get_shape
from dosefinding.validation import as_doses, as_vector

__all__ = ["CandidateModel", "Candidates"]

Direction = Literal["increasing", "decreasing"]

_POSITIVE_GUESSTIMATES = {"emax", "sigemax", "exponential", "logistic", "betamod"}
_PAIRED_GUESSTIMATES = {"sigemax", "logistic", "betamod"}
# Dose vectors whose mean responses a Candidates keeps.
_MEAN_RESPONSES_KEPT = 8


@dataclass(frozen=True)
class CandidateModel:
    """One candidate model: a shape with all parameters filled in.

    Examples
    --------
    >>> m = Candidates([0, 50, 100], {"emax": 25}).models[0]
    >>> m.label, m.shape, round(m.parameters["emax"], 3)
    ('emax', 'emax', 1.25)
    """

    label: str
    shape: str
    parameters: Mapping[str, float]
    guesstimate: tuple[float, ...]
    constant: float | tuple[float, ...] | None = None

    @property
    def description(self) -> str:
        """The shape and its guesstimates as a table row names the model.

        Examples
        --------
        >>> [m.description for m in Candidates([0, 5, 50, 300], {"linear": None, "emax": [10, 100],
        ...                                                         "sigemax": [[50, 3]]}).models]
        ['linear', 'emax (ed50 = 10)', 'emax (ed50 = 100)', 'sigemax (ed50 = 50, h = 3)']
        """
        names = get_shape(self.shape).nonlinear_parameters
        if not names:
            return self.shape
        return f"{self.shape} ({', '.join(f'{n} = {v:g}' for n, v in zip(names, self.guesstimate, strict=True))})"

    def response(self, doses: ArrayLike) -> NDArray[np.float64]:
        """Mean response of this model at ``doses``."""
        return get_shape(self.shape).response(
            doses, list(self.parameters.values()), self.constant
        )


@dataclass(frozen=True)
class Candidates:
    """A set of candidate dose-response models for MCP-Mod, as R DoseFinding's ``Mods``.

    Each shape takes its guesstimates (the nonlinear parameters); the linear parameters
    are then chosen so that the response is ``placebo_effect`` at dose 0 and the effect
    over placebo is ``max_effect`` at the largest dose (for the quadratic at its vertex,
    for betamod at its mode).

    Parameters
    ----------
    doses
        Dose levels, increasing, starting with placebo (0).
    shapes
        Mapping from shape name to guesstimates: ``None`` for ``linear`` and ``linlog``;
        a number or list of numbers for ``emax`` (ED50), ``exponential`` (delta) and
        ``quadratic`` (delta = b2/b1, negative); a pair or list of pairs for ``sigemax``
        (ED50, h), ``logistic`` (ED50, delta) and ``betamod`` (delta1, delta2); one value
        per active dose (or a list of such vectors) for ``linint``. Several guesstimates
        give models labelled ``emax1``, ``emax2``, ...
    placebo_effect, max_effect
        A number, or one per model in label order. ``max_effect`` defaults to 1 (or -1
        when ``direction="decreasing"``).
    direction
        ``"increasing"`` or ``"decreasing"``; by default it follows the sign of
        ``max_effect``, else increasing.
    scal
        Scale of the betamod shape, default 1.2 times the largest dose.
    off
        Offset of the linlog shape, default 1% of the largest dose.

    Examples
    --------
    >>> cands = Candidates([0, 5, 50, 300], {"linear": None, "emax": [10, 100]},
    ...                    max_effect=-3.5)
    >>> cands.labels
    ('linear', 'emax1', 'emax2')
    >>> cands.response_matrix().round(2).loc[300.0].tolist()
    [-3.5, -3.5, -3.5]
    """

    doses: NDArray[np.float64]
    models: tuple[CandidateModel, ...]
    direction: Direction
    scal: float
    off: float

    def __init__(
        self,
        doses: ArrayLike,
        shapes: Mapping[str, Any],
        placebo_effect: float | ArrayLike = 0.0,
        max_effect: float | ArrayLike | None = None,
        direction: Direction | None = None,
        scal: float | None = None,
        off: float | None = None,
    ) -> None:
        d = as_doses(doses)
        max_dose = float(d[-1])
        scal_value = 1.2 * max_dose if scal is None else float(scal)
        off_value = 0.01 * max_dose if off is None else float(off)
        if scal_value < max_dose:
            raise InputError(f"scal: must be at least the largest dose {max_dose:g}, got {scal_value:g}")
        if off_value <= 0:
            raise InputError(f"off: must be positive, got {off_value:g}")
        if not isinstance(shapes, Mapping) or not shapes:
            raise InputError("shapes: give a mapping from shape name to guesstimates")

        entries = [
            (get_shape(name), guess)
            for name, values in shapes.items()
            for guess in _split_guesstimates(get_shape(name), values, d.size - 1)
        ]
        direction_value = _resolve_direction(direction, max_effect)
        n_models = len(entries)
        placebo = _per_model(placebo_effect, n_models, "placebo_effect")
        default_effect = 1.0 if direction_value == "increasing" else -1.0
        effect = _per_model(default_effect if max_effect is None else max_effect, n_models, "max_effect")
        if np.any(effect == 0):
            raise InputError("max_effect: must not be zero")

        counts: dict[str, int] = {}
        for shape, _ in entries:
            counts[shape.name] = counts.get(shape.name, 0) + 1
        seen: dict[str, int] = {}
        models = []
        for i, (shape, guess) in enumerate(entries):
            seen[shape.name] = seen.get(shape.name, 0) + 1
            label = shape.name + (str(seen[shape.name]) if counts[shape.name] > 1 else "")
            constant = _constant_for(shape, d, scal_value, off_value)
            with np.errstate(all="ignore"):
                params = _full_parameters(shape, d, guess, placebo[i], effect[i], constant)
            _check_computable(shape, d, guess, params, placebo[i], effect[i], constant)
            models.append(
                CandidateModel(
                    label=label,
                    shape=shape.name,
                    parameters=dict(zip(shape.parameter_names(d), params.tolist())),
                    guesstimate=tuple(guess.tolist()),
                    constant=constant if not isinstance(constant, np.ndarray) else tuple(constant.tolist()),
                )
            )
        object.__setattr__(self, "doses", d)
        object.__setattr__(self, "models", tuple(models))
        object.__setattr__(self, "direction", direction_value)
        object.__setattr__(self, "scal", scal_value)
        object.__setattr__(self, "off", off_value)

    @property
    def labels(self) -> tuple[str, ...]:
        """Model labels in order (``emax1``, ``emax2``, ... where a shape has several)."""
        return tuple(m.label for m in self.models)

    def response_matrix(
        self, doses: ArrayLike | None = None, *, placebo_adjusted: bool = False
    ) -> pd.DataFrame:
        """Mean responses, one row per dose and one column per model.

        With ``placebo_adjusted=True`` the response at dose 0 is subtracted.
        """
        d = self.doses if doses is None else as_vector(doses, "doses")
        return pd.DataFrame(self.mean_responses(d, placebo_adjusted=placebo_adjusted), index=pd.Index(d, name="dose"),
                            columns=list(self.labels), copy=True)

    def mean_responses(self, doses: ArrayLike | None = None, *, placebo_adjusted: bool = False) -> NDArray[np.float64]:
        """The numbers of :meth:`response_matrix` (dose x model), read-only; kept for the last
        few dose vectors asked (a test, its power and its sample size ask for the same doses).

        Examples
        --------
        >>> Candidates([0, 50, 100], {"linear": None}).mean_responses([0, 100]).tolist()
        [[0.0], [1.0]]
        """
        d = self.doses if doses is None else as_vector(doses, "doses")
        cache: dict[tuple[bytes, bool], NDArray[np.float64]] = self.__dict__.setdefault("_mean_responses", {})
        key = (d.tobytes(), bool(placebo_adjusted))
        values = cache.get(key)
        if values is None:
            values = np.column_stack([m.response(d) for m in self.models])
            if placebo_adjusted:
                values = values - np.array([m.response([0.0])[0] for m in self.models])
            values.flags.writeable = False
            if len(cache) >= _MEAN_RESPONSES_KEPT:
                cache.pop(next(iter(cache)))
            cache[key] = values
        return values


def _resolve_direction(direction: str | None, max_effect: float | ArrayLike | None) -> Direction:
    if direction not in (None, "increasing", "decreasing"):
        raise InputError(f"direction: must be 'increasing' or 'decreasing', got {direction!r}")
    if max_effect is None:
        return "decreasing" if direction == "decreasing" else "increasing"
    signs = set(np.sign(as_vector(max_effect, "max_effect")).tolist())
    if len(signs) > 1:
        raise InputError("max_effect: all models must have effects of the same sign")
    implied: Direction = "increasing" if signs == {1.0} else "decreasing"
    if direction is not None and direction != implied:
        raise InputError(
            f"direction: {direction!r} contradicts the sign of max_effect ({implied})"
        )
    return implied


def _per_model(value: float | ArrayLike, n_models: int, name: str) -> NDArray[np.float64]:
    v = as_vector(value, name)
    if v.size == 1:
        return np.full(n_models, v[0])
    if v.size != n_models:
        raise InputError(f"{name}: give one value or one per model ({n_models}), got {v.size}")
    return v


def _split_guesstimates(shape: Shape, values: Any, n_active: int) -> list[NDArray[np.float64]]:
    name = shape.name
    if name in ("linear", "linlog"):
        if values is not None:
            raise InputError(f"shapes[{name!r}]: takes no guesstimate, give None")
        return [np.empty(0)]
    if values is None:
        raise InputError(f"shapes[{name!r}]: needs a guesstimate")
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"shapes[{name!r}]: guesstimates must be numeric, got {values!r}") from None
    width = 2 if name in _PAIRED_GUESSTIMATES else n_active if name == "linint" else 1
    if width == 1:
        rows = array.reshape(-1, 1)
    elif array.ndim == 1 and array.size == width:
        rows = array.reshape(1, width)
    else:
        rows = array
    if rows.ndim != 2 or rows.shape[1] != width:
        raise InputError(
            f"shapes[{name!r}]: each guesstimate needs {width} value(s), got {array.tolist()}"
        )
    if not np.all(np.isfinite(rows)):
        raise InputError(f"shapes[{name!r}]: guesstimates must be finite, got {array.tolist()}")
    for row in rows:
        _check_guesstimate(name, row)
    return list(rows)


def _check_guesstimate(name: str, guess: NDArray[np.float64]) -> None:
    if name in _POSITIVE_GUESSTIMATES and np.any(guess <= 0):
        raise InputError(f"shapes[{name!r}]: guesstimates must be positive, got {guess.tolist()}")
    if name == "quadratic" and guess[0] >= 0:
        raise InputError(
            f"shapes['quadratic']: the guesstimate delta = b2/b1 must be negative "
            f"(an umbrella shape), got {guess[0]:g}"
        )
    if name == "linint" and np.all(guess == 0):
        raise InputError("shapes['linint']: guesstimates must not all be zero")


def _constant_for(
    shape: Shape, doses: NDArray[np.float64], scal: float, off: float
) -> float | NDArray[np.float64] | None:
    constants: dict[str, float | NDArray[np.float64]] = {"off": off, "scal": scal, "nodes": doses}
    return constants.get(shape.constant or "")


def _full_parameters(
    shape: Shape,
    doses: NDArray[np.float64],
    guess: NDArray[np.float64],
    placebo: float,
    effect: float,
    constant: float | NDArray[np.float64] | None,
) -> NDArray[np.float64]:
    """Linear parameters that give ``placebo`` at 0 and ``effect`` at the reference dose."""
    name = shape.name
    if name == "linint":
        return placebo + np.concatenate([[0.0], effect * guess / guess[np.argmax(np.abs(guess))]])
    if name == "quadratic":
        vertex = -1.0 / (2.0 * guess[0])
        b1 = effect / (vertex + guess[0] * vertex**2)
        return np.array([placebo, b1, guess[0] * b1])
    if name == "betamod":
        return np.array([placebo, effect, *guess])
    curve = shape.basis(np.array([0.0, doses[-1]]), guess, constant)[:, 1]
    scale = effect / (curve[1] - curve[0])
    return np.array([placebo - scale * curve[0], scale, *guess])


def _check_computable(
    shape: Shape,
    doses: NDArray[np.float64],
    guess: NDArray[np.float64],
    parameters: NDArray[np.float64],
    placebo: float,
    effect: float,
    constant: float | NDArray[np.float64] | None,
) -> None:
    """Refuse a guesstimate whose model floating point cannot compute: parameters or means that
    are not finite, or an effect at the reference dose that is not ``effect`` (a curve so steep
    or flat that its scale factor overflows or underflows)."""
    reference = _reference_dose(shape, doses, guess, constant)
    with np.errstate(all="ignore"):
        means = shape.response(doses, parameters, constant)
        at = shape.response(np.array([0.0, reference]), parameters, constant)
    reached = at[1] - at[0]
    if np.all(np.isfinite(parameters)) and np.all(np.isfinite(means)) and abs(reached - effect) <= 1e-8 * abs(effect):
        return
    value = f"{guess[0]:g}" if guess.size == 1 else "(" + ", ".join(f"{g:g}" for g in guess) + ")"
    why = f"its effect at dose {reference:g} comes out as {reached:.3g} instead of {effect:g}"
    if shape.nonlinear_parameters and shape.name != "betamod":
        with np.errstate(all="ignore"):
            curve = shape.curve(np.array([0.0, reference]), guess, constant)
        why += f" (the shape's curve goes from {curve[0]:.3g} at dose 0 to {curve[1]:.3g} at dose {reference:g})"
    raise InputError(f"shapes[{shape.name!r}]: the guesstimate {value} cannot be computed in floating point "
                     f"with doses up to {doses[-1]:g}: {why}")


def _reference_dose(
    shape: Shape, doses: NDArray[np.float64], guess: NDArray[np.float64], constant: float | NDArray[np.float64] | None
) -> float:
    """The dose where the model has ``max_effect`` (see :class:`Candidates`)."""
    if shape.name == "quadratic":
        return float(-1.0 / (2.0 * guess[0]))
    if shape.name == "betamod":
        return float(constant) * float(guess[0] / (guess[0] + guess[1]))  # type: ignore[arg-type]  # betamod's scal
    if shape.name == "linint":
        return float(doses[1 + np.argmax(np.abs(guess))])
    return float(doses[-1])
