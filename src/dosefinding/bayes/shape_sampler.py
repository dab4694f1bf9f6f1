"""The posterior of a dose-response shape's parameters given estimates, and its sampler (many chains at once).

Target (as DoseFinding's ``bFitMod``): ``prior(theta) * exp(-r' S^-1 r / 2)``, ``r = y - f(doses; theta)``.
Each sweep of a chain updates

* the linear parameters (``e0``, ``emax``, ``e1``, ``delta``, ``b1``, ``b2``, linint's values) with normal
  or Student t priors by one Gibbs draw from their exact conditional: given the nonlinear
  parameters the shape is linear in them, so with normal priors the conditional is normal;
  a t prior is a normal with a gamma-distributed precision scale, drawn first (data
  augmentation);
* every other parameter (nonlinear ones, linear ones with log-normal or beta priors) by
  Neal's slice sampler (:func:`~dosefinding.bayes.slice_sampler.slice_update`), DoseFinding's method;
  a parameter with a log-normal prior on its logarithm (with the Jacobian), where its
  long right tail does not take many steps to step out of.

Both leave the posterior invariant; the Gibbs block needs one evaluation per sweep where the
slice sampler needs about ten per parameter, and draws the linear parameters without
autocorrelation given the rest.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from dosefinding.bayes.parameter_priors import ParameterPrior
from dosefinding.bayes.slice_sampler import slice_update
from dosefinding.shapes.library import Shape

__all__ = ["ShapePosterior", "normal_from_precision"]

FloatArray = NDArray[np.float64]


class ShapePosterior:
    """The posterior of the free parameters of ``model`` (without the fixed ``e0`` when placebo-adjusted).

    Examples
    --------
    >>> from dosefinding.bayes import normal_prior
    >>> from dosefinding.shapes import get_shape
    >>> post = ShapePosterior(get_shape("linear"), None, np.array([0.0, 1.0]), np.array([0.0, 1.0]), np.eye(2),
    ...                       [normal_prior(0, 1), normal_prior(0, 1)], placebo_adjusted=False)
    >>> post.gibbs_coordinates, post.slice_coordinates
    ([0, 1], [])
    """

    def __init__(self, model: Shape, constant: float | FloatArray | None, doses: FloatArray, estimates: FloatArray,
                 whitener: FloatArray, priors: Sequence[ParameterPrior], placebo_adjusted: bool) -> None:
        self.model, self.constant, self.doses, self.whitener = model, constant, doses, whitener
        self.priors = list(priors)
        self.fixed = int(placebo_adjusted)
        self.white_y = whitener @ estimates
        n_linear = len(model.parameter_names(constant)) - len(model.nonlinear_parameters) - self.fixed
        self.gibbs_coordinates = [j for j in range(n_linear) if self.priors[j].kind in ("normal", "t")]
        self.slice_coordinates = [j for j in range(len(self.priors)) if j not in self.gibbs_coordinates]
        self.lower = np.array([p.support[0] for p in self.priors])
        self.upper = np.array([p.support[1] for p in self.priors])
        self.log_scale = np.array([p.kind == "lognormal" for p in self.priors])

    def working(self, x: FloatArray) -> FloatArray:
        """The coordinates the slice sampler moves in: the logarithm of parameters with a log-normal prior."""
        out = np.array(x, dtype=float)
        out[:, self.log_scale] = np.log(out[:, self.log_scale])
        return out

    def _full(self, points: FloatArray) -> FloatArray:
        return np.concatenate([np.zeros((points.shape[0], 1)), points], axis=1) if self.fixed else points

    def _white_basis(self, points: FloatArray) -> FloatArray:
        """The whitened basis of the free linear parameters, ``(m, k, L)`` (or ``(k, L)`` for linear shapes)."""
        _, nonlinear = self.model.split(self._full(points))
        basis = self.model.basis(self.doses, nonlinear, self.constant)
        if self.fixed:
            basis = (basis - self.model.basis(np.zeros(1), nonlinear, self.constant))[..., 1:]
        return self.whitener @ basis

    def log_prior(self, points: FloatArray, coordinates: Sequence[int]) -> FloatArray:
        """Sum of the log priors of ``coordinates`` at points ``(m, p)``."""
        prior = np.zeros(points.shape[0])
        for j in coordinates:
            prior += self.priors[j].logpdf(points[:, j])
        return prior

    def log_density(self, points: FloatArray, prior: FloatArray | None = None) -> FloatArray:
        """Log posterior (up to a constant) at points ``(m, p)``; ``-inf`` outside the priors' supports.

        ``prior``: the log prior at the points when known.
        """
        if prior is None:
            prior = self.log_prior(points, range(len(self.priors)))
        full = self._full(points)
        linear, nonlinear = self.model.split(full)
        with np.errstate(all="ignore"):
            if self.model.is_linear:
                basis = self.model.basis(self.doses, nonlinear, self.constant)
                fitted = linear @ basis.T
                if self.fixed:
                    fitted -= linear @ self.model.basis(np.zeros(1), nonlinear, self.constant).T
            else:  # a nonlinear shape is e0 + slope * curve
                slope = linear[:, 1:2]
                fitted = linear[:, :1] + slope * self.model.curve(self.doses, nonlinear, self.constant)
                if self.fixed:
                    fitted -= linear[:, :1] + slope * self.model.curve(np.zeros(1), nonlinear, self.constant)
            r = fitted @ self.whitener.T - self.white_y
            value = prior - 0.5 * np.einsum("mk,mk->m", r, r)
        return np.where(np.isnan(value) | ~np.isfinite(prior), -np.inf, value)

    def gibbs(self, x: FloatArray, rng: np.random.Generator) -> None:
        """Draw the Gibbs coordinates of every chain ``x`` ``(m, p)`` from their conditional, in place."""
        g = self.gibbs_coordinates
        if not g:
            return
        m = x.shape[0]
        basis = self._white_basis(x)
        if basis.ndim == 2:
            basis = np.broadcast_to(basis, (m,) + basis.shape)
        others = [j for j in range(basis.shape[-1]) if j not in g]
        residual = self.white_y - (np.einsum("mkl,ml->mk", basis[..., others], x[:, others]) if others else np.zeros((m, 1)))
        bg = basis[..., g]
        means = np.array([self.priors[j].parameters[0] for j in g])
        scales = np.array([self.priors[j].parameters[1] for j in g])
        z = (x[:, g] - means) / scales
        prior_precision = np.empty((m, len(g)))
        for i, j in enumerate(g):
            prior = self.priors[j]
            if prior.kind == "t":
                nu = prior.parameters[2]
                scale = rng.gamma((nu + 1) / 2, 2.0 / (nu + z[:, i] ** 2))  # the t prior's precision scale
            else:
                scale = np.ones(m)
            prior_precision[:, i] = scale / scales[i] ** 2
        precision = np.einsum("mki,mkj->mij", bg, bg)
        precision[:, np.arange(len(g)), np.arange(len(g))] += prior_precision
        rhs = np.einsum("mki,mk->mi", bg, residual) + prior_precision * means
        x[:, g] = normal_from_precision(precision, rhs, rng.standard_normal((m, len(g))))

    def sweep(self, x: FloatArray, widths: FloatArray, rng: np.random.Generator) -> None:
        """One sweep of every chain, in place: the Gibbs block, then a slice update of each other coordinate
        (``widths``: its steps, on the :meth:`working` scale)."""
        self.gibbs(x, rng)
        if not self.slice_coordinates:
            return
        current = self.log_density(x)
        for d in self.slice_coordinates:
            # Only coordinate d moves within an update: the other priors are evaluated once.
            others = self.log_prior(x, [j for j in range(len(self.priors)) if j != d])
            prior_d = self.priors[d]
            if not self.log_scale[d]:
                def density(points: FloatArray, chains: NDArray[np.intp], d: int = d, others: FloatArray = others,
                            prior_d: ParameterPrior = prior_d) -> FloatArray:
                    return self.log_density(points, others[chains] + prior_d.logpdf(points[:, d]))

                slice_update(density, x, current, d, float(widths[d]), float(self.lower[d]), float(self.upper[d]),
                             rng)
                continue

            def log_density_u(points: FloatArray, chains: NDArray[np.intp], d: int = d, others: FloatArray = others,
                              prior_d: ParameterPrior = prior_d) -> FloatArray:
                u = points[:, d].copy()
                points[:, d] = np.exp(u)  # the slice sampler's points are its own copies
                return self.log_density(points, others[chains] + prior_d.logpdf(points[:, d])) + u

            u = np.log(x[:, d])
            work, current_u = x.copy(), current + u
            work[:, d] = u
            slice_update(log_density_u, work, current_u, d, float(widths[d]), -np.inf, np.inf, rng)
            x[:, d] = np.exp(work[:, d])
            current[:] = current_u - work[:, d]


def normal_from_precision(precision: FloatArray, rhs: FloatArray, z: FloatArray) -> FloatArray:
    """Draws of ``N(P^-1 b, P^-1)`` for a batch of precisions ``P`` ``(m, L, L)`` and vectors ``b`` ``(m, L)``, from
    standard normals ``z`` ``(m, L)``: ``x = C'^-1 (C^-1 b + z)`` with ``P = C C'`` (closed forms for ``L <= 2``,
    where numpy's batched linear algebra costs more than the arithmetic).

    Examples
    --------
    >>> p = np.array([[[4.0, 2.0], [2.0, 5.0]]])
    >>> x = normal_from_precision(p, np.array([[1.0, 2.0]]), np.zeros((1, 2)))
    >>> bool(np.allclose(x[0], np.linalg.solve(p[0], [1.0, 2.0])))
    True
    """
    size = precision.shape[-1]
    if size == 1:
        root = np.sqrt(precision[:, 0, 0])
        return ((rhs[:, 0] / root + z[:, 0]) / root)[:, None]
    if size == 2:
        l11 = np.sqrt(precision[:, 0, 0])
        l21 = precision[:, 1, 0] / l11
        l22 = np.sqrt(precision[:, 1, 1] - l21 * l21)
        w1 = rhs[:, 0] / l11 + z[:, 0]
        w2 = (rhs[:, 1] - l21 * rhs[:, 0] / l11) / l22 + z[:, 1]
        x2 = w2 / l22
        return np.column_stack([(w1 - l21 * x2) / l11, x2])
    chol = np.linalg.cholesky(precision)
    w = np.linalg.solve(chol, rhs[..., None])[..., 0] + z
    return np.linalg.solve(chol.swapaxes(-1, -2), w[..., None])[..., 0]
