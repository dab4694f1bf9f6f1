"""Guesstimates: nonlinear shape parameters from prior beliefs about the effect (R's ``guesst``).

A belief "at dose d the effect is the fraction p of the maximum effect" pins down the
nonlinear parameters of a standardised shape (Pinheiro, Bretz and Branson, 2006). The
formulas follow R DoseFinding's ``guesst``; where R searches numerically, the same
equations are solved here to machine precision.
"""

from __future__ import annotations

import itertools

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import OptimizeResult, brentq, least_squares, root
from scipy.special import logit

from dosefinding.errors import ConvergenceError, InputError
from dosefinding.shapes.library import Shape, get_shape
from dosefinding.validation import as_vector

__all__ = ["guesstimate"]

FloatArray = NDArray[np.float64]

# Half-width, in log(delta), of the bracket searched for the exponential root around
# log(max_dose): wide enough for any p representable below dose / max_dose.
_LOG_BRACKET = 60.0


def guesstimate(
    shape: str,
    dose: ArrayLike,
    p: ArrayLike,
    *,
    less: bool = True,
    local: bool = False,
    max_dose: float | None = None,
    dose_max_effect: float | None = None,
    scal: float | None = None,
) -> dict[str, float]:
    """Nonlinear parameters of ``shape`` from the fraction ``p`` of the effect at ``dose``.

    Parameters
    ----------
    shape
        One of ``emax``, ``sigemax``, ``exponential``, ``logistic``, ``quadratic``,
        ``betamod`` (R's spellings ``sigEmax`` and ``betaMod`` work too).
    dose, p
        A dose and the fraction of the maximum effect expected there, or sequences of
        the same length giving several pairs. Doses must be positive and ``0 < p <= 1``.
        ``logistic`` and ``sigemax`` need at least two pairs at different doses.
    less
        Quadratic shape only: whether ``dose`` lies below (``True``) or above the dose of
        maximum effect, which chooses one of the two roots.
    local
        ``emax``, ``logistic`` and ``sigemax`` only. ``False`` measures the effect
        against the asymptotic maximum; ``True`` against the effect at ``max_dose``
        (and, for ``logistic``, over the effect at dose 0). ``exponential`` is always
        local; the other shapes ignore it.
    max_dose
        Largest dose of the trial; needed by the local versions, ``exponential`` and
        ``betamod``.
    dose_max_effect
        ``betamod`` only: the dose of maximum effect (R's ``dMax``), ``<= max_dose``.
    scal
        ``betamod`` only: its scale, larger than ``dose_max_effect``.

    Returns
    -------
    dict
        ``{"ed50": ...}`` (emax), ``{"ed50", "h"}`` (sigemax), ``{"delta"}``
        (exponential, quadratic), ``{"ed50", "delta"}`` (logistic),
        ``{"delta1", "delta2"}`` (betamod).

    Raises
    ------
    InputError
        If an argument is missing or out of range, the pairs do not fit the shape (for
        the local logistic and sigemax, when the least-squares fit drifts to where they
        no longer determine the parameters), or they lead to a non-positive ed50, delta
        or h.
    ConvergenceError
        If the least-squares fit of a local logistic or sigemax guesstimate stops
        without converging.

    Notes
    -----
    As in R, several pairs are combined by averaging the one-pair guesstimates (emax,
    quadratic, betamod), by a least-squares line through ``logit(p)`` against dose
    (logistic) or ``log(p / (1 - p))`` against log dose (sigemax), and by least squares
    on the standardised shape (exponential; the local logistic and sigemax versions,
    started from the asymptotic guesstimate). Where R uses ``optimize`` or Nelder-Mead,
    the answer here is the exact root or least-squares solution, so it differs from R's
    in the digits that R's optimiser does not resolve. R also searches the exponential
    delta only in ``(0, 2 * max_dose)``; here a larger root is found as well.

    Examples
    --------
    >>> {k: round(v, 4) for k, v in guesstimate("emax", 0.3, 0.8).items()}
    {'ed50': 0.075}
    >>> g = guesstimate("sigEmax", [0.2, 0.6], [0.2, 0.95], local=True, max_dose=1.0)
    >>> {k: round(v, 4) for k, v in g.items()}
    {'ed50': 0.2888, 'h': 3.8032}
    """
    model = get_shape(shape)
    d = as_vector(dose, "dose")
    frac = as_vector(p, "p", length=d.size)
    if d.size == 0:
        raise InputError("dose: need at least one pair (dose, p), got none")
    if np.any(d <= 0):
        raise InputError(f"dose: must be positive, got {d[d <= 0].tolist()}")
    if np.any((frac <= 0) | (frac > 1)):
        bad = frac[(frac <= 0) | (frac > 1)].tolist()
        raise InputError(f"p: fractions of the maximum effect must satisfy 0 < p <= 1, got {bad}")

    match model.name:
        case "emax":
            top = _max_dose(max_dose, d, "the local emax guesstimate") if local else None
            result = {"ed50": _emax(d, frac, top)}
        case "exponential":
            result = {"delta": _exponential(d, frac, _max_dose(max_dose, d, "exponential"))}
        case "logistic" | "sigemax":
            top = _max_dose(max_dose, d, f"the local {model.name} guesstimate") if local else None
            result = _logistic_or_sigemax(model, d, frac, top)
        case "quadratic":
            result = {"delta": _quadratic(d, frac, less)}
        case "betamod":
            result = _betamod(d, frac, dose_max_effect, max_dose, scal)
        case _:
            raise InputError(
                f"shape: no guesstimate for {model.name!r}; guesstimates exist for emax, "
                "sigemax, exponential, logistic, quadratic and betamod"
            )

    if result.get("ed50", 1.0) <= 0:
        raise InputError(
            f"p: the pairs (dose, p) lead to ed50 = {result['ed50']:.6g}, "
            "but a guesstimate of ed50 must be positive"
        )
    return result


def _positive(value: float | None, name: str, needed_by: str) -> float:
    if value is None:
        raise InputError(f"{name}: needed by {needed_by}")
    number = float(value)
    if not np.isfinite(number) or number <= 0:
        raise InputError(f"{name}: must be positive and finite, got {value!r}")
    return number


def _max_dose(max_dose: float | None, d: FloatArray, needed_by: str) -> float:
    top = _positive(max_dose, "max_dose", needed_by)
    if np.any(d >= top):
        raise InputError(
            f"dose: must be below max_dose = {top:g} for {needed_by}, got {d[d >= top].tolist()}"
        )
    return top


def _emax(d: FloatArray, frac: FloatArray, max_dose: float | None) -> float:
    if max_dose is None:
        return float(np.mean(d * (1.0 - frac) / frac))
    if np.any(frac <= d / max_dose):
        raise InputError(
            "p: the local emax guesstimate needs p > dose / max_dose, got "
            f"p = {frac.tolist()} at dose / max_dose = {(d / max_dose).tolist()}"
        )
    return float(np.mean((d / frac - d) / (1.0 - d / (max_dose * frac))))


def _log_expm1(a: FloatArray) -> FloatArray:
    """log(exp(a) - 1) for a > 0, without overflow for large a."""
    return a + np.log(-np.expm1(-a))


def _exponential(d: FloatArray, frac: FloatArray, max_dose: float) -> float:
    """delta (through t = log delta) with expm1(d / delta) / expm1(max_dose / delta) = p.

    The ratio increases from 0 to d / max_dose as delta grows, so each pair has one root;
    several pairs are fitted by least squares, whose minimum lies between their roots.
    """
    if np.any(frac >= d / max_dose):
        raise InputError(
            "p: the exponential guesstimate needs p < dose / max_dose, got "
            f"p = {frac.tolist()} at dose / max_dose = {(d / max_dose).tolist()}"
        )

    def log_ratio(t: float, dose: FloatArray) -> FloatArray:
        scale = np.exp(-t)
        return _log_expm1(dose * scale) - _log_expm1(np.asarray(max_dose * scale))

    centre = np.log(max_dose)
    roots = [
        brentq(
            lambda t, di=di, pi=pi: float(log_ratio(t, np.array([di]))[0] - np.log(pi)),
            centre - _LOG_BRACKET,
            centre + _LOG_BRACKET,
            xtol=1e-15,
        )
        for di, pi in zip(d, frac)
    ]
    low, high = min(roots), max(roots)
    if low == high:
        return float(np.exp(low))

    def sse_slope(t: float) -> float:
        scale = np.exp(-t)
        ratio = np.exp(log_ratio(t, d))
        a, a_max = d * scale, max_dose * scale
        # d log(expm1(a)) / d log(a) = -a / expm1(-a)
        dratio = ratio * (-a_max / np.expm1(-a_max) + a / np.expm1(-a))
        return float(np.sum((ratio - frac) * dratio))

    return float(np.exp(brentq(sse_slope, low, high, xtol=1e-15)))


def _logistic_or_sigemax(
    model: Shape, d: FloatArray, frac: FloatArray, max_dose: float | None
) -> dict[str, float]:
    """Line through the linearised pairs, then (local version) least squares on the curve."""
    name = model.name
    if d.size < 2:
        raise InputError(f"dose: the {name} guesstimate needs at least two pairs (dose, p)")
    if np.all(d == d[0]):
        raise InputError(
            f"dose: the {name} guesstimate needs two different doses, got {d.tolist()}"
        )
    if np.any(frac == 1):
        raise InputError(f"p: must be below 1 for the {name} guesstimate (its logit is infinite)")

    linear_in = d if name == "logistic" else np.log(d)
    intercept, slope = np.polynomial.polynomial.polyfit(linear_in, logit(frac), 1)
    if slope <= 0:
        raise InputError(
            f"p: must increase with dose for the {name} guesstimate, got p = {frac.tolist()} "
            f"at dose = {d.tolist()}"
        )
    # logistic: logit(p) = (d - ed50) / delta;  sigemax: logit(p) = h * (log d - log ed50)
    location = -intercept / slope
    if name == "logistic":
        start, keys = np.array([location, 1.0 / slope]), ("ed50", "delta")
    else:
        start, keys = np.array([np.exp(location), slope]), ("ed50", "h")
    if max_dose is not None:
        start = _fit_local(model, d, frac, max_dose, start)
    return {key: float(value) for key, value in zip(keys, start)}


# Sum of squared residuals of the fractions below which a fallback start solved the pairs exactly.
_EXACT_FIT = 1e-20


def _fit_local(
    model: Shape, d: FloatArray, frac: FloatArray, max_dose: float, start: FloatArray
) -> FloatArray:
    """Least squares of (f(d) - f(0)) / (f(max_dose) - f(0)) - p over the nonlinear parameters.

    The positive parameters (all but the logistic ed50) are fitted on the log scale.
    """
    on_log_scale = np.array([model.name == "sigemax", True])
    x = np.concatenate([d, [0.0, max_dose]])

    def parameters(z: FloatArray) -> FloatArray:
        theta = z.copy()
        theta[on_log_scale] = np.exp(z[on_log_scale])
        return theta

    def curve(theta: FloatArray) -> FloatArray:
        return model.basis(x, theta)[:, 1]

    def residuals(z: FloatArray) -> FloatArray:
        g = curve(parameters(z))
        return (g[:-2] - g[-2]) / (g[-1] - g[-2]) - frac

    def jacobian(z: FloatArray) -> FloatArray:
        theta = parameters(z)
        g = curve(theta)
        dg = model.gradient(x, np.concatenate([[0.0, 1.0], theta]))[:, 2:]
        dg = dg * np.where(on_log_scale, theta, 1.0)
        span = g[-1] - g[-2]
        standardised = (g[:-2] - g[-2]) / span
        return (dg[:-2] - dg[-2] - standardised[:, None] * (dg[-1] - dg[-2])) / span

    def solve(first: FloatArray) -> tuple[OptimizeResult, bool]:
        z0 = first.copy()
        z0[on_log_scale] = np.log(first[on_log_scale])
        # Trial steps can overflow the curve; "trf" shrinks its trust region on non-finite residuals.
        with np.errstate(all="ignore"):
            fit = least_squares(
                residuals, z0, jac=jacobian, method="trf", xtol=1e-15, ftol=1e-15, gtol=1e-15
            )
        determined = np.all(np.isfinite(fit.x)) and np.all(np.isfinite(fit.jac))
        if determined:
            singular_values = np.linalg.svd(fit.jac, compute_uv=False)
            determined = singular_values[-1] > np.sqrt(np.finfo(float).eps) * singular_values[0]
        return fit, bool(determined)

    fit, determined = solve(start)
    # From the linearised start, a steep curve whose ed50 lies beyond the doses can drift off
    # to a flat region; other starts (ed50 at the doses and beyond, shallow to steep) then find it.
    if not determined and model.name == "sigemax":
        for location, steepness in itertools.product([d.min(), d.max(), max_dose, 2 * max_dose], [1.0, 3.0, 8.0]):
            other, other_determined = solve(np.array([location, steepness]))
            # Only an exact solution of the pairs counts: a drift elsewhere is no better.
            if other_determined and other.success and 2 * other.cost <= _EXACT_FIT:
                fit, determined = other, True
                break
    if not determined:
        raise InputError(
            f"p: the pairs (dose, p) have no local {model.name} guesstimate with max_dose = "
            f"{max_dose:g}: least squares from {start.tolist()} drifts to "
            f"{parameters(fit.x).tolist()}, where they no longer determine the parameters"
        )
    if not fit.success:
        raise ConvergenceError(
            f"the local {model.name} guesstimate: least squares from {start.tolist()} "
            f"stopped at {parameters(fit.x).tolist()} ({fit.message})"
        )

    def gradient(z: FloatArray) -> FloatArray:
        return jacobian(z).T @ residuals(z)

    # The trust region stops where the sum of squares no longer changes in floating point,
    # which in flat directions is far from the minimum; solving gradient = 0 gets closer.
    with np.errstate(all="ignore"):
        polished = root(gradient, fit.x, method="hybr", tol=1e-12).x
        better = np.max(np.abs(gradient(polished))) <= np.max(np.abs(gradient(fit.x))) and (
            np.sum(residuals(polished) ** 2) <= 2 * fit.cost * (1 + 1e-12)
        )
    return parameters(polished if better else fit.x)


def _quadratic(d: FloatArray, frac: FloatArray, less: bool) -> float:
    """delta = b2 / b1 such that d + delta * d**2 is the fraction p of the vertex value."""
    spread = np.sqrt(1.0 - frac)
    return float(np.mean(-(1.0 - spread if less else 1.0 + spread) / (2.0 * d)))


def _betamod(
    d: FloatArray,
    frac: FloatArray,
    dose_max_effect: float | None,
    max_dose: float | None,
    scal: float | None,
) -> dict[str, float]:
    """delta1, delta2 with mode at dose_max_effect; each pair fixes their common scale."""
    mode = _positive(dose_max_effect, "dose_max_effect", "betamod")
    top = _positive(max_dose, "max_dose", "betamod")
    scale = _positive(scal, "scal", "betamod")
    if scale <= mode:
        raise InputError(f"scal: must be larger than dose_max_effect = {mode:g}, got {scale:g}")
    if mode > top:
        raise InputError(f"dose_max_effect: must not exceed max_dose = {top:g}, got {mode:g}")
    if np.any(d >= scale):
        raise InputError(
            f"dose: must be below scal = {scale:g} for betamod, got {d[d >= scale].tolist()}"
        )
    if np.any(d == mode):
        raise InputError(
            f"dose: betamod reaches its maximum at dose_max_effect = {mode:g} whatever delta1 "
            "and delta2 are, so a pair there does not determine them"
        )
    if np.any(frac == 1):
        raise InputError("p: betamod reaches p = 1 only at dose_max_effect, so p must be below 1")
    # With delta1 = k * delta2 the mode is at dose_max_effect; log_kernel is
    # log(f(d) / f(dose_max_effect)) for delta2 = 1 and scales linearly with delta2.
    k = mode / (scale - mode)
    log_kernel = k * np.log(d / mode) + np.log((scale - d) / (scale - mode))
    beta = np.log(frac) / log_kernel
    return {"delta1": float(np.mean(k * beta)), "delta2": float(np.mean(beta))}
