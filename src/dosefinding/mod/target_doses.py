"""Target doses (TD) and effective doses (ED) of a dose-response curve, as R DoseFinding's ``TD`` and ``ED``.

The target dose is the smallest dose whose effect over placebo reaches a clinically
relevant ``delta``; the effective dose ``ED_p`` is the smallest dose that gives a
fraction ``p`` of the effect at the largest dose (for the quadratic and betamod shapes: of
the maximum effect within the dose range). Each comes in two kinds: ``"continuous"`` (the
dose on the fitted curve) and ``"discrete"`` (the smallest dose of a given set that
reaches the target). Where the curve never reaches the target, the dose is NaN and
:attr:`DoseEstimate.note` says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize

from dosefinding.errors import InputError
from dosefinding.shapes.candidates import Direction
from dosefinding.shapes.library import Shape, get_shape
from dosefinding.summary import Summary, SummaryDisplay, short_repr
from dosefinding.validation import as_probability, as_vector

__all__ = [
    "DoseEstimate",
    "DoseKind",
    "check_delta",
    "check_dose_kind",
    "continuous_target_dose",
    "curve_effective_dose",
    "curve_target_dose",
    "gradient_at_target_dose",
    "quadratic_roots",
    "target_dose_gradient",
]

FloatArray = NDArray[np.float64]
DoseKind = Literal["continuous", "discrete"]

# Brent's method to the last bits; R's uniroot stops at .Machine$double.eps^0.25 (about
# 1.2e-4 in dose units), which is why R's betamod TD and ED can differ from ours there.
_ROOT_TOLERANCE = 4 * np.finfo(float).eps


@dataclass(frozen=True)
class DoseEstimate(SummaryDisplay):
    """A target dose (TD) or effective dose (ED) of one curve.

    Attributes
    ----------
    dose
        The dose, NaN where the curve does not reach the target.
    quantity
        ``"TD"`` or ``"ED"``.
    dose_kind
        ``"continuous"`` (on the curve) or ``"discrete"`` (the smallest of the given doses).
    target
        ``delta``, the effect over placebo aimed at (signed: negative for a decreasing
        curve), or ``p``, the fraction of the maximum effect.
    note
        Why the dose is NaN, or that a continuous TD lies beyond the largest dose
        (extrapolated); empty otherwise.

    Examples
    --------
    >>> td = curve_target_dose("linear", [0.0, 0.01], 2.0, doses=[0, 100, 300])
    >>> round(float(td), 6), td.note
    (200.0, '')
    """

    dose: float
    quantity: Literal["TD", "ED"]
    dose_kind: DoseKind
    target: float
    note: str = ""

    def __float__(self) -> float:
        return self.dose

    def __repr__(self) -> str:
        return short_repr(self, dose=self.dose, quantity=self.quantity, dose_kind=self.dose_kind,
                          target=self.target, note=self.note)

    def summary(self) -> Summary:
        """One line: the quantity, its target and the dose (or why there is none)."""
        name = "delta" if self.quantity == "TD" else "p"
        value = "not reached" if np.isnan(self.dose) else f"{self.dose:.4g}"
        line = f"{self.quantity} ({self.dose_kind}, {name} = {self.target:g}): {value}"
        return Summary([f"{line} ({self.note})" if self.note else line])


def check_delta(delta: float, direction: Direction | None = None) -> Direction:
    """The direction of a target effect ``delta``, checked against ``direction``.

    ``delta`` is the effect over placebo aimed at, on the response scale: positive for an
    increasing curve, negative for a decreasing one. Zero, a non-finite value or a sign
    that contradicts ``direction`` is an :class:`InputError`.

    Examples
    --------
    >>> check_delta(-2.0)
    'decreasing'
    """
    try:
        value = float(delta)
    except (TypeError, ValueError):
        raise InputError(f"delta: must be a number, got {delta!r}") from None
    if not np.isfinite(value) or value == 0:
        raise InputError(f"delta: must be a finite non-zero effect over placebo, got {delta!r}")
    if direction not in (None, "increasing", "decreasing"):
        raise InputError(f"direction: must be 'increasing' or 'decreasing', got {direction!r}")
    implied: Direction = "increasing" if value > 0 else "decreasing"
    if direction is not None and direction != implied:
        sign, article = ("positive", "an") if direction == "increasing" else ("negative", "a")
        raise InputError(
            f"delta: the target effect over placebo of {article} {direction} curve must be {sign}, got {value:g}"
        )
    return implied


def curve_target_dose(
    shape: str,
    parameters: ArrayLike,
    delta: float,
    *,
    doses: ArrayLike,
    dose_kind: DoseKind = "continuous",
    direction: Direction | None = None,
    constant: float | ArrayLike | None = None,
) -> DoseEstimate:
    """Smallest dose whose effect over placebo reaches ``delta`` (R DoseFinding's ``TD``).

    Parameters
    ----------
    shape, parameters, constant
        The curve: a shape name, its full parameter vector (with ``e0``, or ``d0`` for
        linint) and its constant (``off``, ``scal`` or the linint nodes).
    delta
        Effect over placebo aimed at: positive for a beneficial increase, negative for a
        beneficial decrease (R's ``Delta`` with ``direction = "decreasing"`` is ``-Delta``).
    doses
        The doses of the design, with placebo (0): the set from which a discrete TD is
        chosen; a continuous TD above the largest of them is flagged as extrapolated.
    dose_kind
        ``"continuous"``: the dose on the curve, in closed form (a root of the curve for
        betamod); ``"discrete"``: the smallest of ``doses`` that reaches ``delta``.
    direction
        ``"increasing"`` or ``"decreasing"``; by default the sign of ``delta``.

    Examples
    --------
    >>> td = curve_target_dose("emax", [0.0, -4.0, 40.0], -2.0, doses=[0, 5, 50, 300])
    >>> float(td), float(curve_target_dose("emax", [0.0, -4.0, 40.0], -2.0,
    ...                                     doses=[0, 5, 50, 300], dose_kind="discrete"))
    (40.0, 50.0)
    """
    model, pars, constant_value, design = _curve(shape, parameters, constant, doses)
    dose_kind = check_dose_kind(dose_kind)
    target_direction = check_delta(delta, direction)
    estimate = DoseEstimate(np.nan, "TD", dose_kind, float(delta))
    if dose_kind == "discrete":
        # As R: flip a decreasing curve so that the target effect is positive.
        linear, nonlinear = model.split(pars)
        flipped = np.concatenate([-linear, nonlinear]) if target_direction == "decreasing" else pars
        response = model.response(design, flipped, constant_value)
        reached = response >= response[0] + abs(float(delta))
        if not reached.any():
            return _with(estimate, note=f"no dose of {_doses_text(design)} reaches an effect of {delta:g}")
        return _with(estimate, dose=float(design[np.argmax(reached)]))
    dose, note = continuous_target_dose(model, pars, delta, constant_value)
    if np.isnan(dose):
        return _with(estimate, note=note.format(delta=f"{delta:g}"))
    if dose > design[-1]:
        note = f"beyond the largest dose {design[-1]:g} (extrapolated)"
    return _with(estimate, dose=dose, note=note)


def target_dose_gradient(
    shape: str, parameters: ArrayLike, delta: float, *, constant: float | ArrayLike | None = None
) -> FloatArray:
    """Derivative of the continuous target dose with respect to each parameter of the curve.

    The TD solves ``f(TD) - f(0) = delta``; by implicit differentiation its gradient is
    ``-(g(TD) - g(0)) / f'(TD)``, with ``g`` the gradient of the mean in the parameters and
    ``f'`` its derivative in dose (the ``e0`` entry is 0). This is the vector ``b`` of the
    TD-optimality criterion ``b' M^- b`` (Dette et al. 2008; R DoseFinding's ``calcTDgrad``).

    Parameters
    ----------
    shape, parameters, constant
        The curve, as for :func:`curve_target_dose` (not linint, whose TD has no derivative at
        its nodes).
    delta
        Effect over placebo aimed at, signed as for :func:`curve_target_dose`.

    Examples
    --------
    >>> target_dose_gradient("linear", [0.0, 0.01], 0.5).round(6).tolist()
    [0.0, -5000.0]
    """
    model, pars, constant_value, _ = _curve(shape, parameters, constant, [0.0])
    if model.name == "linint":
        raise InputError("shape: the linint TD has no derivative at its nodes; choose a smooth shape")
    dose, note = continuous_target_dose(model, pars, delta, constant_value)
    if np.isnan(dose):
        raise InputError(f"delta: {note.format(delta=f'{delta:g}')}, so it has no target dose")
    return gradient_at_target_dose(model, pars, dose, constant_value)


def continuous_target_dose(
    model: Shape, parameters: FloatArray, delta: float, constant: float | ArrayLike | None = None
) -> tuple[float, str]:
    """The continuous TD of a checked curve (:func:`curve_target_dose` without the checks and the doses), or NaN
    and why (the reason may hold ``{delta}`` for the signed target).

    Examples
    --------
    >>> from dosefinding.shapes import get_shape
    >>> continuous_target_dose(get_shape("emax"), np.array([0.0, -4.0, 40.0]), -2.0)
    (40.0, '')
    """
    target_direction = check_delta(delta)
    decreasing = target_direction == "decreasing"
    # As R: flip a decreasing curve so that the target effect is positive.
    linear, nonlinear = model.split(parameters)
    curve = np.concatenate([-linear, nonlinear]) if decreasing else parameters
    return _continuous_target_dose(model, curve, abs(float(delta)), model._constant(constant), decreasing=decreasing)


def gradient_at_target_dose(
    model: Shape,
    parameters: FloatArray,
    dose: float,
    constant: float | ArrayLike | None = None,
    gradients: FloatArray | None = None,
) -> FloatArray:
    """:func:`target_dose_gradient` given the target dose ``dose`` of the curve (checked parameters and constant),
    and optionally ``gradients``, the rows of the mean's gradient at ``dose`` and at 0 if the caller has them.

    Examples
    --------
    >>> from dosefinding.shapes import get_shape
    >>> gradient_at_target_dose(get_shape("linear"), np.array([0.0, 0.01]), 50.0).round(6).tolist()
    [0.0, -5000.0]
    """
    at = np.array([dose, 0.0])
    gradient = model.gradient(at, parameters, constant) if gradients is None else gradients
    return (gradient[1] - gradient[0]) / model.dose_slope(at[:1], parameters, constant)[0] + 0.0  # + 0.0: no -0


def curve_effective_dose(
    shape: str,
    parameters: ArrayLike,
    p: float,
    *,
    doses: ArrayLike,
    dose_kind: DoseKind = "continuous",
    constant: float | ArrayLike | None = None,
) -> DoseEstimate:
    """Smallest dose giving a fraction ``p`` of the maximum effect (R DoseFinding's ``ED``).

    The maximum effect is the effect over placebo at the largest of ``doses``; for the
    quadratic and betamod shapes it is the largest effect within the dose range (the
    vertex or the mode when they lie inside it). Signs do not matter: ED is defined for
    increasing and decreasing curves alike.

    Parameters
    ----------
    shape, parameters, constant
        The curve, as for :func:`curve_target_dose`.
    p
        Fraction of the maximum effect, in (0, 1).
    doses
        The doses of the design, with placebo (0): the largest is the dose of the maximum
        effect; a discrete ED is the smallest of them with ``|effect| >= p * max |effect|``.
    dose_kind
        ``"continuous"`` or ``"discrete"``.

    Examples
    --------
    >>> ed = curve_effective_dose("emax", [0.0, -4.0, 40.0], 0.5, doses=[0, 5, 50, 300])
    >>> round(float(ed), 4)
    31.5789
    """
    model, pars, constant_value, design = _curve(shape, parameters, constant, doses)
    dose_kind = check_dose_kind(dose_kind)
    fraction = as_probability(p, "p")
    max_dose = float(design[-1])
    estimate = DoseEstimate(np.nan, "ED", dose_kind, fraction)
    flat = _with(estimate, note="the curve is flat: it has no maximum effect to take a fraction of")
    if dose_kind == "discrete":
        effect = np.abs(model.response(design, pars, constant_value) - model.response(np.zeros(1), pars, constant_value))
        largest = _largest_effect(model, pars, constant_value, max_dose) if model.name in ("quadratic", "betamod") else effect.max()
        if largest == 0:
            return flat
        reached = effect >= fraction * largest
        if not reached.any():
            return _with(estimate, note=f"no dose of {_doses_text(design)} reaches {fraction:g} of the maximum effect")
        return _with(estimate, dose=float(design[np.argmax(reached)]))
    linear, nonlinear = model.split(pars)
    if model.name == "linint":
        effect = linear - linear[0]
        largest = int(np.argmax(np.abs(effect)))
        if effect[largest] == 0:
            return flat
        sign = np.sign(effect[largest])
        dose, _ = _continuous_target_dose(model, sign * pars, fraction * abs(effect[largest]), constant_value)
        return _with(estimate, dose=dose)
    if linear[1] == 0:
        return flat
    return _with(estimate, dose=_continuous_effective_dose(model, linear, nonlinear, fraction, max_dose, constant_value))


def _curve(
    shape: str, parameters: ArrayLike, constant: float | ArrayLike | None, doses: ArrayLike
) -> tuple[Shape, FloatArray, float | FloatArray | None, FloatArray]:
    model = get_shape(shape)
    pars = as_vector(parameters, "parameters")
    constant_value = model._constant(constant)
    n_expected = len(model.parameter_names(constant_value if model.name == "linint" else None))
    if pars.size != n_expected:
        raise InputError(f"parameters: the {model.name} shape has {n_expected} parameters, got {pars.size}")
    design = np.unique(as_vector(doses, "doses"))
    if design[0] != 0:
        raise InputError(f"doses: must be non-negative and include placebo (dose 0), got {design.tolist()}")
    return model, pars, constant_value, design


def check_dose_kind(dose_kind: str) -> DoseKind:
    """``dose_kind`` checked to be ``"continuous"`` or ``"discrete"``.

    Examples
    --------
    >>> check_dose_kind("discrete")
    'discrete'
    """
    if dose_kind not in ("continuous", "discrete"):
        raise InputError(f"dose_kind: must be 'continuous' or 'discrete', got {dose_kind!r}")
    return cast(DoseKind, dose_kind)  # checked just above to be one of DoseKind's values


def _with(estimate: DoseEstimate, dose: float = np.nan, note: str = "") -> DoseEstimate:
    return DoseEstimate(float(dose), estimate.quantity, estimate.dose_kind, estimate.target, note)


def _doses_text(doses: FloatArray) -> str:
    return "[" + ", ".join(f"{d:g}" for d in doses) + "]"


def _continuous_target_dose(
    model: Shape, pars: FloatArray, delta: float, constant: float | FloatArray | None, decreasing: bool = False
) -> tuple[float, str]:
    """The dose where an increasing curve's effect reaches ``delta > 0`` (R's calcTD), or NaN and why.

    ``decreasing``: the curve was mirrored (``pars`` negated) for a decreasing target, so the
    reason states its effects negated back, as the curve has them. The reason may hold
    ``{delta}`` for the caller to fill in with the signed target.
    """
    linear, nonlinear = model.split(pars)
    name = model.name
    sign, largest = (-1.0, "most negative effect") if decreasing else (1.0, "largest effect")

    def never(what: str, value: float) -> str:
        return f"the {name} curve's effect never reaches {{delta}}: its {what} is {sign * value + 0.0:.4g}"  # no -0

    if name == "linint":
        nodes = np.asarray(constant, dtype=float)
        reached = linear >= linear[0] + delta
        if not reached.any():
            return np.nan, never(largest, np.max(linear - linear[0]))
        j = int(np.argmax(reached))
        step = (linear[0] + delta - linear[j - 1]) / (linear[j] - linear[j - 1])
        return float(nodes[j - 1] + step * (nodes[j] - nodes[j - 1])), ""
    slope = linear[1]
    if name in ("linear", "linlog", "exponential") and slope <= 0:
        return np.nan, never("slope parameter", slope)
    if name == "linear":
        return delta / slope, ""
    if name == "linlog":
        return float(constant) * np.expm1(delta / slope), ""  # type: ignore[arg-type]  # linlog's scalar off
    if name == "exponential":
        return float(nonlinear[0] * np.log1p(delta / slope)), ""
    if name == "quadratic":
        b1, b2 = linear[1], linear[2]
        discriminant = 4 * b2 * delta + b1 * b1
        if discriminant < 0:
            # b2 < 0: the largest effect over doses >= 0 is at the vertex, or at placebo if the vertex is negative.
            return np.nan, never(largest, -b1 * b1 / (4 * b2) if b1 > 0 else 0.0)
        roots = quadratic_roots(b1, b2, delta)
        if not np.any(roots > 0):
            return np.nan, "the quadratic curve reaches {delta} only at negative doses"
        return float(np.min(roots[roots > 0])), ""
    if name == "logistic":
        ed50, scale = nonlinear
        at_zero = 1.0 / (1.0 + np.exp(ed50 / scale))
        if delta > slope * (1 - at_zero):
            return np.nan, never("asymptotic effect", slope * (1 - at_zero))
        level = at_zero + delta / slope
        return float(ed50 + scale * np.log(level / (1.0 - level))), ""
    if delta > slope or (delta == slope and name != "betamod"):
        return np.nan, never("maximum effect" if name == "betamod" else "asymptotic effect", slope)
    if name in ("emax", "sigemax"):
        ed50 = nonlinear[0]
        hill = nonlinear[1] if name == "sigemax" else 1.0
        return float(ed50 * (delta / (slope - delta)) ** (1.0 / hill)), ""
    # betamod: the effect rises to its maximum at the mode.
    mode = _betamod_mode(nonlinear, constant)
    return _betamod_root(model, nonlinear, constant, delta / slope, mode), ""


def _continuous_effective_dose(
    model: Shape,
    linear: FloatArray,
    nonlinear: FloatArray,
    p: float,
    max_dose: float,
    constant: float | FloatArray | None,
) -> float:
    """ED_p of a non-flat curve in closed form (a root for betamod), as R's calcED."""
    name = model.name
    if name == "linear":
        return p * max_dose
    if name == "linlog":
        off = float(constant)  # type: ignore[arg-type]  # linlog's constant is its scalar off
        return off * np.expm1(p * np.log1p(max_dose / off))
    if name == "exponential":
        # delta log1p(p expm1(D / delta)), in logs: expm1 overflows for D / delta > 709.
        delta, scaled = nonlinear[0], max_dose / nonlinear[0]
        return float(delta * np.logaddexp(0.0, np.log(p) + scaled + np.log(-np.expm1(-scaled))))
    if name == "emax":
        ed50 = nonlinear[0]
        return float(p * ed50 * max_dose / ((1 - p) * max_dose + ed50))
    if name == "sigemax":
        # ed50 (p r / ((1 - p) r + 1))^(1/h) with r = (D / ed50)^h, in logs: r overflows for steep curves.
        ed50, hill = nonlinear
        log_ratio = hill * np.log(max_dose / ed50)
        log_fraction = np.log(p) + log_ratio - np.logaddexp(np.log1p(-p) + log_ratio, 0.0)
        return float(ed50 * np.exp(log_fraction / hill))
    if name == "logistic":
        ed50, scale = nonlinear
        at_zero, at_max = 1.0 / (1.0 + np.exp((ed50 - np.array([0.0, max_dose])) / scale))
        level = at_zero + p * (at_max - at_zero)
        return float(ed50 + scale * np.log(level / (1.0 - level)))
    if name == "quadratic":
        b1, b2 = linear[1], linear[2]
        vertex = -b1 / (2 * b2)
        top = vertex if 0 <= vertex <= max_dose else max_dose
        target = p * (b1 * top + b2 * top * top)
        roots = quadratic_roots(b1, b2, target)
        return float(np.min(roots[roots > 0]))
    # betamod: a fraction p of the effect at the mode (which R uses even beyond max_dose).
    mode = _betamod_mode(nonlinear, constant)
    return _betamod_root(model, nonlinear, constant, p, mode)


def quadratic_roots(b1: float | FloatArray, b2: float | FloatArray, target: float | FloatArray) -> FloatArray:
    """Both roots of ``b2 x^2 + b1 x = target`` (real: the caller checked the discriminant), stacked on a
    leading axis of two; elementwise for arrays.

    The stable form (q = -(b1 + sign(b1) sqrt(disc)) / 2, roots q / b2 and -target / q): the textbook
    formula loses every digit of the small root when ``b2`` is tiny next to ``b1`` (a nearly linear curve).

    Examples
    --------
    >>> quadratic_roots(1.0, -0.5, 0.5).tolist()
    [1.0, 1.0]
    """
    q = -(b1 + np.copysign(np.sqrt(b1 * b1 + 4 * b2 * target), b1)) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.array([q / b2, -target / q])


def _betamod_mode(nonlinear: FloatArray, scal: float | FloatArray | None) -> float:
    delta1, delta2 = nonlinear
    return float(delta1 / (delta1 + delta2) * float(scal))  # type: ignore[arg-type]  # betamod's scalar scal


def _betamod_root(
    model: Shape, nonlinear: FloatArray, scal: float | FloatArray | None, level: float, mode: float
) -> float:
    """The dose in [0, mode] where the betamod curve (1 at its mode) equals ``level`` in (0, 1]."""

    def excess(dose: float) -> float:
        return float(model.basis(np.array([dose]), nonlinear, scal)[0, 1] - level)

    if excess(mode) <= 0:
        return mode
    return float(optimize.brentq(excess, 0.0, mode, xtol=1e-300, rtol=_ROOT_TOLERANCE))


def _largest_effect(model: Shape, pars: FloatArray, constant: float | FloatArray | None, max_dose: float) -> float:
    """Largest |effect over placebo| within [0, max_dose] of the quadratic or betamod curve.

    R maximises numerically (``optimize``); the maximum is at an end or at the vertex / mode.
    """
    linear, nonlinear = model.split(pars)
    if model.name == "quadratic":
        vertex = -linear[1] / (2 * linear[2])
        points = np.array([max_dose, vertex]) if 0 < vertex < max_dose else np.array([max_dose])
    else:
        points = np.array([min(_betamod_mode(nonlinear, constant), max_dose)])
    effect = model.response(points, pars, constant) - model.response(np.zeros(1), pars, constant)
    return float(np.max(np.abs(effect)))
