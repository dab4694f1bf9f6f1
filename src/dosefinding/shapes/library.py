"""The nine dose-response shapes of MCP-Mod, with their gradients and default bounds.

Every shape is linear in its leading parameters given the nonlinear ones:
``response = basis(dose, nonlinear) @ linear``. For example the Emax shape
``e0 + emax * dose / (ed50 + dose)`` has linear parameters ``(e0, emax)``, nonlinear
parameter ``ed50`` and basis ``[1, dose / (ed50 + dose)]``. The Mod step profiles the
linear parameters out in closed form; the MCP step uses the responses.

The formulas, gradients and bounds are those of R DoseFinding (Bornkamp, Pinheiro and
Bretz), so that results can be compared with it number for number.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dosefinding.errors import InputError

__all__ = ["SHAPE_NAMES", "Shape", "default_bounds", "get_shape"]

FloatArray = NDArray[np.float64]


def _log_or_zero(x: FloatArray) -> FloatArray:
    """log(x) where x > 0 and 0 where x == 0 (the limit that the gradients need)."""
    positive = x > 0
    return np.where(positive, np.log(np.where(positive, x, 1.0)), 0.0)


def _xlogx(x: FloatArray) -> FloatArray:
    return x * _log_or_zero(x)


def _emax_curve(dose: FloatArray, ed50: FloatArray) -> FloatArray:
    return dose / (ed50 + dose)


def _sigemax_curve(dose: FloatArray, ed50: FloatArray, h: FloatArray) -> FloatArray:
    with np.errstate(over="ignore", divide="ignore"):
        return 1.0 / (1.0 + np.exp(h * (np.log(ed50) - np.log(dose))))


def _sigemax_moving(dose: FloatArray, ed50: FloatArray, h: FloatArray, _: None) -> FloatArray:
    """The curve and its derivatives in ed50 and h at a unit emax, with the arithmetic of
    :func:`_sigemax_curve` and :func:`_sigemax_grad` in fewer array operations."""
    with np.errstate(over="ignore", divide="ignore"):
        g = 1.0 / (1.0 + np.exp(h * (np.log(ed50) - np.log(dose))))
    out = np.empty(g.shape + (3,))
    out[..., 0] = g
    a = 1.0 - g
    out[..., 1] = -(h / ed50) * g * a
    out[..., 2] = _log_or_zero(dose / ed50) * g * a
    return out


def _exponential_curve(dose: FloatArray, delta: FloatArray) -> FloatArray:
    return np.expm1(dose / delta)


def _logistic_curve(dose: FloatArray, ed50: FloatArray, delta: FloatArray) -> FloatArray:
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp((ed50 - dose) / delta))


def _betamod_curve(
    dose: FloatArray, delta1: FloatArray, delta2: FloatArray, scal: float
) -> FloatArray:
    x = dose / scal
    log_max_density = _xlogx(delta1) + _xlogx(delta2) - _xlogx(delta1 + delta2)
    log_x = _log_or_zero(x)
    log_1mx = _log_or_zero(1.0 - x)
    value = np.exp(delta1 * log_x + delta2 * log_1mx - log_max_density)
    return np.where((x == 0) | (x == 1), 0.0, value)


def _linint_basis(dose: FloatArray, nodes: FloatArray) -> FloatArray:
    """Hat functions on the nodes: linear interpolation as a design matrix."""
    if np.any((dose < nodes[0]) | (dose > nodes[-1])):
        raise InputError(
            f"dose: linint interpolates between {nodes[0]:g} and {nodes[-1]:g} only, "
            f"got {dose[(dose < nodes[0]) | (dose > nodes[-1])].tolist()}"
        )
    identity = np.eye(nodes.size)
    return np.stack([np.interp(dose, nodes, row) for row in identity], axis=-1)


@dataclass(frozen=True)
class Shape:
    """One dose-response shape: its formula, gradient, parameters and bounds.

    Parameters are passed as a 1-d array in the order of :meth:`parameter_names`.
    Extra constants that are not estimated are ``off`` (linlog), ``scal`` (betamod) and
    ``nodes`` (linint, the doses at which it interpolates).

    Examples
    --------
    >>> from dosefinding.shapes import get_shape
    >>> emax = get_shape("emax")
    >>> emax.response([0.0, 25.0, 100.0], [0.0, 1.0, 25.0]).round(3).tolist()
    [0.0, 0.5, 0.8]
    """

    name: str
    linear_parameters: tuple[str, ...]
    nonlinear_parameters: tuple[str, ...]
    constant: str | None
    # A linear shape has its whole basis; a nonlinear one its curve (the basis is
    # ``[1, curve]``) and the gradient of its nonlinear parameters, which is given the
    # curve already computed: ``(dose, curve, slope, *nonlinear, constant)``.
    _basis: Callable[..., FloatArray] | None = None
    _curve: Callable[..., FloatArray] | None = None
    _nonlinear_gradient: Callable[..., FloatArray] | None = None
    # Optionally the curve and gradient together, ``(dose, *nonlinear, constant)`` (see moving_columns).
    _moving: Callable[..., FloatArray] | None = None
    # Derivative in dose of the basis (linear shape, ``(dose, constant)``) or of the curve
    # (nonlinear shape, ``(dose, curve, *nonlinear, constant)``).
    _dose_slope: Callable[..., FloatArray] | None = None

    @property
    def is_linear(self) -> bool:
        """True where every parameter enters linearly (linear, linlog, quadratic, linint)."""
        return not self.nonlinear_parameters

    def parameter_names(self, nodes: ArrayLike | None = None) -> tuple[str, ...]:
        """Names of the parameters in order: linear ones first, then nonlinear ones."""
        if self.name == "linint":
            return tuple(f"d{_format_dose(d)}" for d in _require_nodes(nodes))
        return self.linear_parameters + self.nonlinear_parameters

    def basis(
        self, dose: ArrayLike, nonlinear: ArrayLike = (), constant: float | ArrayLike | None = None
    ) -> FloatArray:
        """Design matrix of the linear parameters given the nonlinear ones.

        ``nonlinear`` may carry leading batch dimensions (shape ``(..., k)``); the
        result then has shape ``(..., n_doses, n_linear)``.
        """
        if self.nonlinear_parameters:
            return _stack(1.0, self.curve(dose, nonlinear, constant))
        assert self._basis is not None
        return self._basis(np.asarray(dose, dtype=float), self._constant(constant))

    def curve(self, dose: ArrayLike, nonlinear: ArrayLike, constant: float | ArrayLike | None = None) -> FloatArray:
        """The basis column that moves with the nonlinear parameters (a nonlinear shape is ``e0 + slope * curve``).

        ``nonlinear`` may carry leading batch dimensions (shape ``(..., k)``); the
        result then has shape ``(..., n_doses)``.

        Examples
        --------
        >>> get_shape("emax").curve([0.0, 25.0], [25.0]).tolist()
        [0.0, 0.5]
        """
        if self._curve is None:
            raise InputError(f"shape {self.name!r} has no nonlinear parameters, so no moving curve")
        theta = np.asarray(nonlinear, dtype=float)
        columns = [theta[..., i, None] for i in range(len(self.nonlinear_parameters))]
        return self._curve(np.asarray(dose, dtype=float), *columns, self._constant(constant))

    def moving_columns(
        self, dose: ArrayLike, nonlinear: ArrayLike, constant: float | ArrayLike | None = None
    ) -> FloatArray:
        """:meth:`curve` and its derivative with respect to each nonlinear parameter, shape ``(..., n_doses, 1 + k)``.

        The derivatives are the gradient of the nonlinear parameters at a unit slope
        (``emax``, ``e1`` = 1).

        Examples
        --------
        >>> get_shape("emax").moving_columns([0.0, 25.0], [25.0]).tolist()
        [[0.0, -0.0], [0.5, -0.01]]
        """
        if self._nonlinear_gradient is None:
            raise InputError(f"shape {self.name!r} has no nonlinear parameters, so no moving curve")
        theta = np.asarray(nonlinear, dtype=float)
        columns = [theta[..., i, None] for i in range(len(self.nonlinear_parameters))]
        if self._moving is not None:
            return self._moving(np.asarray(dose, dtype=float), *columns, self._constant(constant))
        curve = self.curve(dose, nonlinear, constant)
        derivatives = self._nonlinear_gradient(np.asarray(dose, dtype=float), curve, 1.0, *columns, self._constant(constant))
        return np.concatenate([curve[..., None], derivatives], axis=-1)

    def response(
        self, dose: ArrayLike, parameters: ArrayLike, constant: float | ArrayLike | None = None
    ) -> FloatArray:
        """Mean response at ``dose`` for the full parameter vector ``parameters``."""
        linear, nonlinear = self.split(parameters)
        return self.basis(dose, nonlinear, constant) @ linear

    def gradient(
        self, dose: ArrayLike, parameters: ArrayLike, constant: float | ArrayLike | None = None
    ) -> FloatArray:
        """Derivative of the response with respect to each parameter, shape ``(n_doses, p)``.

        ``parameters`` may carry leading batch dimensions (shape ``(..., p)``); the result
        then has shape ``(..., n_doses, p)``.
        """
        linear, nonlinear = self.split(parameters)
        d = np.asarray(dose, dtype=float)
        basis = self.basis(d, nonlinear, constant)
        if self._nonlinear_gradient is None:
            return basis
        # Each parameter as a column (..., 1), so that the formulas broadcast over doses.
        values = [linear[..., i, None] for i in range(1, linear.shape[-1])]
        values += [nonlinear[..., i, None] for i in range(nonlinear.shape[-1])]
        curve = basis[..., 1]
        return np.concatenate([basis, self._nonlinear_gradient(d, curve, *values, self._constant(constant))], axis=-1)

    def dose_slope(
        self, dose: ArrayLike, parameters: ArrayLike, constant: float | ArrayLike | None = None
    ) -> FloatArray:
        """Derivative of the mean response with respect to dose, at ``dose``.

        Examples
        --------
        >>> get_shape("emax").dose_slope([0.0, 25.0], [0.0, 1.0, 25.0]).tolist()
        [0.04, 0.01]
        """
        if self._dose_slope is None:
            raise InputError(f"shape {self.name!r}: its response has no derivative in dose at the nodes")
        linear, nonlinear = self.split(parameters)
        d = np.asarray(dose, dtype=float)
        if self.nonlinear_parameters:
            curve = self.curve(d, nonlinear, constant)
            columns = [nonlinear[..., i, None] for i in range(nonlinear.shape[-1])]
            return linear[..., 1, None] * self._dose_slope(d, curve, *columns, self._constant(constant))
        return np.einsum("...np,...p->...n", self._dose_slope(d, self._constant(constant)), linear)

    def split(self, parameters: ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Split a full parameter vector (or a batch ``(..., p)`` of them) into its linear and nonlinear parts."""
        p = np.asarray(parameters, dtype=float)
        k = len(self.nonlinear_parameters)
        if k == 0:
            return p, p[..., :0]
        return p[..., :-k], p[..., -k:]

    def _constant(self, constant: float | ArrayLike | None) -> float | FloatArray | None:
        if self.constant is None:
            return None
        if constant is None:
            raise InputError(f"shape {self.name!r} needs the constant {self.constant!r}")
        if self.constant == "nodes":
            return _require_nodes(constant)
        return float(constant)  # type: ignore[arg-type]  # a scalar: only 'nodes' is an array


def _format_dose(d: float) -> str:
    return f"{d:g}"


def _require_nodes(nodes: ArrayLike | None) -> FloatArray:
    if nodes is None:
        raise InputError("shape 'linint' needs the constant 'nodes' (the doses it interpolates)")
    return np.asarray(nodes, dtype=float)


def _stack(*columns: FloatArray | float) -> FloatArray:
    """The columns side by side in a last axis, broadcast against each other (a float is a constant column)."""
    out = np.empty(np.broadcast(*columns).shape + (len(columns),))
    for i, column in enumerate(columns):
        out[..., i] = column
    return out


def _emax_grad(d: FloatArray, _curve: FloatArray, emax: FloatArray, ed50: FloatArray, _: None) -> FloatArray:
    return (-emax * d / (ed50 + d) ** 2)[..., None]


def _sigemax_grad(d: FloatArray, g: FloatArray, emax: FloatArray, ed50: FloatArray, h: FloatArray, _: None) -> FloatArray:
    a = 1.0 - g
    return _stack(-(h * emax / ed50) * g * a, emax * _log_or_zero(d / ed50) * g * a)


def _exponential_grad(d: FloatArray, _curve: FloatArray, e1: FloatArray, delta: FloatArray, _: None) -> FloatArray:
    return (-np.exp(d / delta) * d * e1 / delta**2)[..., None]


def _logistic_grad(d: FloatArray, g: FloatArray, emax: FloatArray, ed50: FloatArray, delta: FloatArray, _: None) -> FloatArray:
    # From the curve g = 1 / (1 + exp((ed50 - d) / delta)), whose derivative in its exponent is
    # -g (1 - g): finite where the exponential overflows (g is then 0).
    slope = emax * g * (1.0 - g) / delta
    return _stack(-slope, slope * (ed50 - d) / delta)


def _betamod_grad(
    d: FloatArray, g: FloatArray, emax: FloatArray, delta1: FloatArray, delta2: FloatArray, scal: float
) -> FloatArray:
    x = d / scal
    log_sum = _log_or_zero(np.asarray(delta1 + delta2))
    return _stack(
        g * emax * (_log_or_zero(x) + log_sum - _log_or_zero(np.asarray(delta1))),
        g * emax * (_log_or_zero(1.0 - x) + log_sum - _log_or_zero(np.asarray(delta2))),
    )


_SHAPES: dict[str, Shape] = {
    s.name: s
    for s in (
        Shape("linear", ("e0", "delta"), (), None, _basis=lambda d, _: _stack(1.0, d),
              _dose_slope=lambda d, _: _stack(0.0, np.ones_like(d))),
        Shape(
            "linlog",
            ("e0", "delta"),
            (),
            "off",
            _basis=lambda d, off: _stack(1.0, np.log(d + off)),
            _dose_slope=lambda d, off: _stack(0.0, 1.0 / (d + off)),
        ),
        Shape("quadratic", ("e0", "b1", "b2"), (), None, _basis=lambda d, _: _stack(1.0, d, d * d),
              _dose_slope=lambda d, _: _stack(0.0, np.ones_like(d), 2.0 * d)),
        Shape(
            "emax",
            ("e0", "emax"),
            ("ed50",),
            None,
            _curve=lambda d, ed50, _: _emax_curve(d, ed50),
            _nonlinear_gradient=_emax_grad,
            _dose_slope=lambda d, _g, ed50, _: ed50 / (ed50 + d) ** 2,
        ),
        Shape(
            "sigemax",
            ("e0", "emax"),
            ("ed50", "h"),
            None,
            _curve=lambda d, ed50, h, _: _sigemax_curve(d, ed50, h),
            _nonlinear_gradient=_sigemax_grad,
            _moving=_sigemax_moving,
            _dose_slope=lambda d, g, _ed50, h, _: h / d * g * (1.0 - g),
        ),
        Shape(
            "exponential",
            ("e0", "e1"),
            ("delta",),
            None,
            _curve=lambda d, delta, _: _exponential_curve(d, delta),
            _nonlinear_gradient=_exponential_grad,
            _dose_slope=lambda d, _g, delta, _: np.exp(d / delta) / delta,
        ),
        Shape(
            "logistic",
            ("e0", "emax"),
            ("ed50", "delta"),
            None,
            _curve=lambda d, ed50, delta, _: _logistic_curve(d, ed50, delta),
            _nonlinear_gradient=_logistic_grad,
            _dose_slope=lambda d, g, _ed50, delta, _: g * (1.0 - g) / delta,
        ),
        Shape(
            "betamod",
            ("e0", "emax"),
            ("delta1", "delta2"),
            "scal",
            _curve=_betamod_curve,
            _nonlinear_gradient=_betamod_grad,
            _dose_slope=lambda d, g, delta1, delta2, scal: g * (delta1 / d - delta2 / (scal - d)),
        ),
        Shape("linint", (), (), "nodes", _basis=_linint_basis),
    )
}

SHAPE_NAMES: tuple[str, ...] = tuple(_SHAPES)

_R_NAMES = {"sigEmax": "sigemax", "betaMod": "betamod", "linInt": "linint"}


def get_shape(name: str) -> Shape:
    """The :class:`Shape` called ``name`` (R's spellings ``sigEmax``, ``betaMod``, ``linInt`` work too).

    Examples
    --------
    >>> get_shape("sigEmax").parameter_names()
    ('e0', 'emax', 'ed50', 'h')
    """
    key = _R_NAMES.get(name, name) if isinstance(name, str) else name
    if key not in _SHAPES:
        raise InputError(f"shape {name!r} does not exist; the shapes are {', '.join(SHAPE_NAMES)}")
    return _SHAPES[key]


def default_bounds(shape: str, max_dose: float) -> FloatArray | None:
    """Default bounds of the nonlinear parameters, as R DoseFinding's ``defBnds``.

    Returns an array of shape ``(k, 2)`` (lower, upper per nonlinear parameter), or
    ``None`` for shapes without nonlinear parameters.

    Examples
    --------
    >>> default_bounds("emax", 100.0).tolist()
    [[0.1, 150.0]]
    """
    md = float(max_dose)
    table: Mapping[str, Sequence[Sequence[float]]] = {
        "emax": [[0.001 * md, 1.5 * md]],
        "exponential": [[0.1 * md, 2.0 * md]],
        "logistic": [[0.001 * md, 1.5 * md], [0.01 * md, 0.5 * md]],
        "sigemax": [[0.001 * md, 1.5 * md], [0.5, 10.0]],
        "betamod": [[0.05, 4.0], [0.05, 4.0]],
    }
    key = get_shape(shape).name
    return np.array(table[key], dtype=float) if key in table else None
