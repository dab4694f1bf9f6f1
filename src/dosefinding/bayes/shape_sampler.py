"""The posterior of a dose-response shape's parameters given estimates, and its sampler (many chains at once).

Target (as DoseFinding's ``bFitMod``): ``prior(theta) * exp(-r' S^-1 r / 2)``, ``r = y - f(doses; theta)``.
The shape is linear in its linear parameters (``e0``, ``emax``, ``e1``, ``delta``, ``b1``, ``b2``,
linint's values) given the nonlinear ones, so with normal priors on the linear parameters
their conditional posterior is normal, and a t prior is a normal whose precision is scaled by
a gamma-distributed ``lambda`` (data augmentation). Each sweep of a chain:

* collapsed, for a nonlinear shape whose linear parameters all have normal or t priors: draw
  the t priors' ``lambda`` given the linear parameters; slice-sample each nonlinear parameter
  from its posterior with the linear parameters integrated out (a normal marginal likelihood,
  in closed form); draw the linear parameters from their normal conditional. The nonlinear
  parameters then mix without waiting for ``emax`` (with which ``ed50`` is strongly correlated);
* otherwise: the normal/t linear parameters by one Gibbs draw, then every other parameter by
  Neal's slice sampler (:func:`~dosefinding.bayes.slice_sampler.slice_update`), DoseFinding's method.

Both leave the posterior invariant. A parameter with a log-normal prior is slice-sampled on its
logarithm (with the Jacobian), where its long right tail does not take many steps to step out of.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

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
        self.white_ones = whitener @ np.ones(doses.size)
        n_linear = len(model.parameter_names(constant)) - len(model.nonlinear_parameters) - self.fixed
        self.gibbs_coordinates = [j for j in range(n_linear) if self.priors[j].kind in ("normal", "t")]
        self.slice_coordinates = [j for j in range(len(self.priors)) if j not in self.gibbs_coordinates]
        self.lower = np.array([p.support[0] for p in self.priors])
        self.upper = np.array([p.support[1] for p in self.priors])
        self.log_scale = np.array([p.kind == "lognormal" for p in self.priors])
        self.prior_means = np.array([self.priors[j].parameters[0] for j in self.gibbs_coordinates])
        # A nonlinear shape is e0 + slope * curve: two linear parameters, one when placebo-adjusted.
        self.collapsed = not model.is_linear and self.gibbs_coordinates == list(range(n_linear))
        if self.collapsed:
            # b: the whitened estimates less the prior means of the linear parameters that do not move (e0).
            b = self.white_y if self.fixed else self.white_y - self.prior_means[0] * self.white_ones
            columns = [whitener.T @ whitener, (whitener.T @ b)[:, None]]
            if not self.fixed:
                columns.append((whitener.T @ self.white_ones)[:, None])
                self._b_ones, self._ones_ones = float(b @ self.white_ones), float(self.white_ones @ self.white_ones)
            self._forms = np.hstack(columns)
            self._bb = float(b @ b)

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

    def collapsed_log_density(self, points: FloatArray, prior: FloatArray, prior_precision: FloatArray,
                              log_prior_precision: FloatArray | None = None) -> FloatArray:
        """Log posterior of the nonlinear parameters at points ``(m, p)`` with the linear ones integrated out
        (normal priors of precision ``prior_precision`` ``(m, L)``); ``prior``: the nonlinear ones' log prior;
        ``log_prior_precision``: ``sum(log(prior_precision), axis=1)`` when known.

        With ``A = W B``, ``r = W y - A m0`` and ``M = A'A + D``: ``-(r'r - c' M^-1 c) / 2 - log det(M D^-1) / 2``,
        ``c = A' r`` (the normal marginal likelihood ``N(y; B m0, B D^-1 B' + S)`` up to a constant).
        """
        with np.errstate(all="ignore"):
            _, nonlinear = self.model.split(self._full(points))
            curve = self.model.curve(self.doses, nonlinear, self.constant)
            if self.fixed:
                curve = curve - self.model.curve(np.zeros(1), nonlinear, self.constant)
            # With the moving column A_1 = W curve, every inner product is one of curve' S^-1 curve, curve' W' b
            # and curve' W' W 1 (b the constant part of r): one product with the precomputed forms.
            k = self.doses.size
            products = curve @ self._forms
            moving_moving = np.einsum("mk,mk->m", products[:, :k], curve)
            moving_b = products[:, k]
            if self.fixed:
                mean = self.prior_means[0]
                rr = self._bb - 2 * mean * moving_b + mean * mean * moving_moving
                c1 = moving_b - mean * moving_moving
                m11 = moving_moving + prior_precision[:, 0]
                quadratic, log_det = c1 * c1 / m11, np.log(m11)
            else:
                mean = self.prior_means[1]
                moving_ones = products[:, k + 1]
                rr = self._bb - 2 * mean * moving_b + mean * mean * moving_moving
                c0 = self._b_ones - mean * moving_ones
                c1 = moving_b - mean * moving_moving
                m11 = self._ones_ones + prior_precision[:, 0]
                m22 = moving_moving + prior_precision[:, 1]
                det = m11 * m22 - moving_ones * moving_ones
                quadratic = (m22 * c0 * c0 - 2 * moving_ones * c0 * c1 + m11 * c1 * c1) / det
                log_det = np.log(det)
            if log_prior_precision is None:
                log_prior_precision = np.sum(np.log(prior_precision), axis=1)
            value = prior - 0.5 * (rr - quadratic + log_det - log_prior_precision)
        return np.where(np.isnan(value) | ~np.isfinite(prior), -np.inf, value)

    def prior_precisions(self, x: FloatArray, rng: np.random.Generator) -> FloatArray:
        """The prior precision of each Gibbs coordinate of every chain ``(m, L)``: ``1 / sd^2`` for a normal prior;
        for a t prior ``lambda / scale^2`` with ``lambda`` drawn from its gamma conditional given the parameter."""
        m = x.shape[0]
        out = np.empty((m, len(self.gibbs_coordinates)))
        for i, j in enumerate(self.gibbs_coordinates):
            prior = self.priors[j]
            location, scale = prior.parameters[0], prior.parameters[1]
            if prior.kind == "t":
                nu = prior.parameters[2]
                z = (x[:, j] - location) / scale
                out[:, i] = rng.gamma((nu + 1) / 2, 2.0 / (nu + z * z)) / scale**2
            else:
                out[:, i] = 1.0 / scale**2
        return out

    def draw_linear(self, x: FloatArray, prior_precision: FloatArray, rng: np.random.Generator) -> None:
        """Draw the Gibbs coordinates of every chain ``x`` ``(m, p)`` from their normal conditional given the
        other coordinates and the prior precisions ``(m, L)``, in place."""
        g = self.gibbs_coordinates
        m = x.shape[0]
        basis = self._white_basis(x)
        if basis.ndim == 2:
            basis = np.broadcast_to(basis, (m,) + basis.shape)
        others = [j for j in range(basis.shape[-1]) if j not in g]
        residual = self.white_y - (np.einsum("mkl,ml->mk", basis[..., others], x[:, others]) if others else np.zeros((m, 1)))
        bg = basis[..., g]
        precision = np.einsum("mki,mkj->mij", bg, bg)
        precision[:, np.arange(len(g)), np.arange(len(g))] += prior_precision
        rhs = np.einsum("mki,mk->mi", bg, residual) + prior_precision * self.prior_means
        x[:, g] = normal_from_precision(precision, rhs, rng.standard_normal((m, len(g))))

    def sweep(self, x: FloatArray, widths: FloatArray, rng: np.random.Generator) -> None:
        """One sweep of every chain, in place (``widths``: the slice steps, on the :meth:`working` scale).

        Collapsed (every linear parameter with a normal or t prior, a nonlinear shape): draw the t priors'
        precision scales given the linear parameters, slice-sample each nonlinear parameter from its
        posterior with the linear ones integrated out, then draw the linear ones given it. Otherwise: the
        Gibbs block, then a slice update of each other coordinate.
        """
        if self.gibbs_coordinates:
            precisions = self.prior_precisions(x, rng)
        if self.collapsed:
            nonlinear = self.slice_coordinates

            log_precisions = np.sum(np.log(precisions), axis=1)

            def evaluate(points: FloatArray, chains: NDArray[np.intp], prior: FloatArray) -> FloatArray:
                return self.collapsed_log_density(points, prior, np.take(precisions, chains, axis=0), log_precisions[chains])

            self._slice_updates(x, widths, nonlinear, evaluate, rng)
            self.draw_linear(x, precisions, rng)
            return
        if self.gibbs_coordinates:
            self.draw_linear(x, precisions, rng)

        def full(points: FloatArray, chains: NDArray[np.intp], prior: FloatArray) -> FloatArray:
            return self.log_density(points, prior)

        self._slice_updates(x, widths, range(len(self.priors)), full, rng)

    def _slice_updates(self, x: FloatArray, widths: FloatArray, prior_coordinates: Sequence[int],
                       evaluate: Callable[[FloatArray, NDArray[np.intp], FloatArray], FloatArray],
                       rng: np.random.Generator) -> None:
        """A slice update of each slice coordinate; ``evaluate(points, chains, prior)`` is the log density given
        the log prior of ``prior_coordinates`` at the points."""
        chains = np.arange(x.shape[0])
        current = evaluate(x, chains, self.log_prior(x, prior_coordinates))
        for d in self.slice_coordinates:
            # Only coordinate d moves within an update: the other priors are evaluated once.
            others = self.log_prior(x, [j for j in prior_coordinates if j != d])
            prior_d = self.priors[d]
            if not self.log_scale[d]:
                def density(points: FloatArray, owners: NDArray[np.intp], d: int = d, others: FloatArray = others,
                            prior_d: ParameterPrior = prior_d) -> FloatArray:
                    return evaluate(points, owners, others[owners] + prior_d.logpdf(points[:, d]))

                slice_update(density, x, current, d, float(widths[d]), float(self.lower[d]), float(self.upper[d]),
                             rng)
                continue

            # log(x) of a log-normal x is normal: its density is the log-normal prior times the Jacobian x.
            prior_u = ParameterPrior("normal", prior_d.parameters)

            def density_u(points: FloatArray, owners: NDArray[np.intp], d: int = d, others: FloatArray = others,
                          prior_u: ParameterPrior = prior_u) -> FloatArray:
                u = points[:, d].copy()
                points[:, d] = np.exp(u)  # the slice sampler's points are its own copies
                return evaluate(points, owners, others[owners] + prior_u.logpdf(u))

            u = np.log(x[:, d])
            work, current_u = x.copy(), current + u
            work[:, d] = u
            slice_update(density_u, work, current_u, d, float(widths[d]), -np.inf, np.inf, rng)
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
