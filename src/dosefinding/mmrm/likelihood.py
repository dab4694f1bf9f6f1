"""The MMRM objective, SAS's -2 (Res) Log Likelihood with beta profiled out, and its derivatives.

Subjects contribute the visits they have: subject ``i`` with visits ``o_i`` has
``y_i ~ N(X_i beta, Sigma[o_i, o_i])``. Subjects with the same set of visits (the same
missingness pattern) share ``Sigma[o, o]``, so the data enter only through per-pattern
sums of outer products, computed once:

    n_g,  XX_g[a, b] = sum_i X_ia' X_ib,  XY_g[a, b] = sum_i X_ia' y_ib,  YY_g[a, b] = sum_i y_ia y_ib

over the subjects ``i`` of pattern ``g`` (``X_ia`` is the design row of visit ``a``). A
pattern's matrix is padded to ``k x k`` with the identity at the missing visits; its
inverse, with the missing rows and columns set to zero, is ``W_g``. Every quantity below is
then a contraction of ``W_g`` with these sums over all patterns at once: no loop runs over
subjects, and only the one-time construction of the sums loops over the patterns. The
Hessian's ``Q_j = X'V^-1 V_j V^-1 X`` goes through the subjects' zero-padded designs (one
matrix product, ``N k^2 p^2``, rather than ``G k^2 p^2 q`` over the pattern sums).

With ``V = diag(Sigma_i)``, ``P = V^-1 - V^-1 X (X'V^-1 X)^-1 X'V^-1``, ``V_j = dV/dtheta_j``:

    -2 l_REML = (n - p) log(2 pi) + log|V| + log|X'V^-1 X| + y'P y
    -2 l_ML   =  n      log(2 pi) + log|V|                  + y'P y
    d/dtheta_j      = tr(P V_j) - y'P V_j P y                      (REML; V^-1 for P in tr for ML)
    d2/dtheta_j,k   = tr(P V_jk) - tr(P V_j P V_k) + 2 y'P V_j P V_k P y - y'P V_jk P y

(SAS PROC MIXED prints the first line as -2 Res Log Likelihood.)

Extensions:

- Grouped covariance (one copy of the structure per group, SAS's ``GROUP=``): a pattern
  belongs to one group, and its ``Sigma`` and derivatives are its group's, over that
  group's slice of ``theta``; the blocks of the Hessian between groups come only
  through ``X'V^-1 X`` (the ``g_z`` and ``Q_j`` terms).
- Spatial structures with times that differ between subjects: each subject has its own
  ``Sigma`` and derivatives, and the same contractions run over the subjects' padded
  data instead of the pattern sums (the code's "units" are then the subjects, not the
  patterns: ``N k^2 p`` work per evaluation and no ``N k^2 p^2`` sums).
- Weights (SAS's WEIGHT statement): ``R_i = W_i^-1/2 Sigma W_i^-1/2``, i.e. the model for
  ``W_i^1/2 y_i`` with design ``W_i^1/2 X_i`` and covariance ``Sigma``; the rows are
  scaled once and ``log|R_i| = log|Sigma| - sum log w`` adds ``-sum log w`` to -2 l.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import linalg

from dosefinding.mmrm.covariance import CovarianceModel, CovarianceStructure

__all__ = [
    "CovarianceBlock", "Evaluation", "PatternStats", "covariance_blocks", "covariance_units", "evaluate", "pattern_inverses",
]

FloatArray = NDArray[np.float64]
_LOG_2PI = float(np.log(2 * np.pi))


@dataclass(frozen=True)
class PatternStats:
    """Per-pattern sums of the data (see the module docstring).

    A pattern is a set of observed visits within a covariance group. ``x_pad`` (N, k, p)
    and ``y_pad`` (N, k) hold each subject's design and response with zeros at the
    missing visits (multiplied by the square roots of the weights when weighted);
    ``pattern`` is each subject's pattern, ``group`` (G,) each pattern's covariance
    group (``None`` ungrouped), ``times`` (N, k) each subject's visit times for spatial
    structures, or (N, k, d) each subject's visit coordinates (zero at missing visits;
    ``None`` when the positions are the same for all subjects) and ``log_weights`` the
    sum of the logarithms of the weights.

    Examples
    --------
    >>> x = np.ones((3, 1)); y = np.array([1.0, 2.0, 3.0])
    >>> stats = PatternStats.from_rows(x, y, subject=np.array([0, 0, 1]), visit=np.array([0, 1, 0]), k=2)
    >>> stats.n.tolist(), stats.mask.tolist()
    ([1, 1], [[True, False], [True, True]])
    """

    mask: NDArray[np.bool_]
    n: NDArray[np.int64]
    xx: FloatArray
    xy: FloatArray
    yy: FloatArray
    n_obs: int
    x_pad: FloatArray
    y_pad: FloatArray
    pattern: NDArray[np.intp]
    group: NDArray[np.intp] | None = None
    times: FloatArray | None = None
    log_weights: float = 0.0

    @classmethod
    def from_rows(
        cls,
        x: FloatArray,
        y: FloatArray,
        *,
        subject: NDArray[np.intp],
        visit: NDArray[np.intp],
        k: int,
        group: NDArray[np.intp] | None = None,
        times: FloatArray | None = None,
        weights: FloatArray | None = None,
    ) -> PatternStats:
        """Sums from one row per observation; ``subject`` codes 0..N-1, ``visit`` codes 0..k-1.

        ``group`` (per subject, codes 0..H-1), ``times`` and ``weights`` (per row) are optional;
        ``times`` is (n,) (one time per row) or (n, d) (d coordinates per row).

        Examples
        --------
        >>> x = np.ones((3, 1)); y = np.array([1.0, 2.0, 3.0])
        >>> positions = np.array([[1.0, 0.5], [2.0, 0.0], [1.0, 0.2]])
        >>> stats = PatternStats.from_rows(x, y, subject=np.array([0, 0, 1]), visit=np.array([0, 1, 0]), k=2,
        ...                                times=positions)
        >>> stats.times.shape, stats.times[1].tolist()
        ((2, 2, 2), [[1.0, 0.2], [0.0, 0.0]])
        """
        n_subjects, p = int(subject.max()) + 1, x.shape[1]
        log_weights = 0.0
        if weights is not None:
            root = np.sqrt(weights)
            x, y = x * root[:, None], y * root
            log_weights = float(np.log(weights).sum())
        present = np.zeros((n_subjects, k), dtype=bool)
        present[subject, visit] = True
        x_pad = np.zeros((n_subjects, k, p))
        x_pad[subject, visit] = x
        y_pad = np.zeros((n_subjects, k))
        y_pad[subject, visit] = y
        time_pad = None
        if times is not None:
            times = np.asarray(times, dtype=float)
            time_pad = np.zeros((n_subjects, k, *times.shape[1:]))  # (N, k), or (N, k, d) for coordinates
            time_pad[subject, visit] = times
        key = present.astype(float)
        if group is not None:
            key = np.hstack([key, np.asarray(group, dtype=float)[:, None]])
        keys, pattern = np.unique(key, axis=0, return_inverse=True)
        masks = keys[:, :k] > 0.5
        pattern_group = None if group is None else np.rint(keys[:, k]).astype(np.intp)
        pattern = pattern.ravel()
        order = np.argsort(pattern, kind="stable")
        counts = np.bincount(pattern, minlength=len(masks))
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        # One matrix product per pattern (not per subject): the sums are built once per fit.
        xx = np.empty((len(masks), k, k, p, p))
        xy = np.empty((len(masks), k, k, p))
        yy = np.empty((len(masks), k, k))
        for g, (start, count) in enumerate(zip(starts, counts, strict=True)):
            members = order[start:start + count]
            x_g = x_pad[members].reshape(count, k * p)
            y_g = y_pad[members]
            xx[g] = (x_g.T @ x_g).reshape(k, p, k, p).transpose(0, 2, 1, 3)
            xy[g] = (x_g.T @ y_g).reshape(k, p, k).transpose(0, 2, 1)
            yy[g] = y_g.T @ y_g
        return cls(mask=masks, n=counts, xx=xx, xy=xy, yy=yy, n_obs=int(y.size), x_pad=x_pad, y_pad=y_pad,
                   pattern=pattern, group=pattern_group, times=time_pad, log_weights=log_weights)

    @property
    def p(self) -> int:
        """Number of columns of the design."""
        return self.xx.shape[-1]

    def per_subject(self) -> PatternStats:
        """The same data with every subject its own pattern (no pattern sums: for the subject-level sums)."""
        k, p = self.x_pad.shape[1:]
        n_subjects = self.x_pad.shape[0]
        group = None if self.group is None else self.group[self.pattern]
        return PatternStats(
            mask=self.mask[self.pattern], n=np.ones(n_subjects, dtype=np.int64), xx=np.zeros((0, k, k, p, p)),
            xy=np.zeros((0, k, k, p)), yy=np.zeros((0, k, k)), n_obs=self.n_obs, x_pad=self.x_pad,
            y_pad=self.y_pad, pattern=np.arange(n_subjects), group=group, times=self.times,
            log_weights=self.log_weights,
        )


@dataclass(frozen=True)
class Evaluation:
    """The objective at one ``theta``, with what the fit and the inference need.

    ``hessian`` and ``q`` (the matrices ``X'V^-1 V_j V^-1 X``, so that
    ``d cov(beta) / d theta_j = cov(beta) Q_j cov(beta)``) are present for ``order=2``.
    """

    value: float
    beta: FloatArray
    beta_cov: FloatArray
    gradient: FloatArray | None = None
    hessian: FloatArray | None = None
    q: FloatArray | None = None


@dataclass(frozen=True)
class CovarianceBlock:
    """One group's share of the covariance: its units, its slice of ``theta`` and ``Sigma`` with derivatives.

    Units are the patterns, or the subjects when each has its own times. ``sigma``
    (k, k), ``first`` (q, k, k), ``second`` (q, q, k, k) are shared by the block's units,
    or carry a leading unit axis when ``per_unit``.
    """

    units: NDArray[np.intp]
    params: slice
    sigma: FloatArray
    first: FloatArray
    second: FloatArray
    per_unit: bool
    every_unit: bool

    def select(self, per_unit_values: FloatArray) -> FloatArray:
        """The block's rows of an array over all units (no copy when the block has them all)."""
        return per_unit_values if self.every_unit else per_unit_values[self.units]


def _units(stats: PatternStats, model: CovarianceModel) -> PatternStats:
    """The units over which ``Sigma`` is constant: the patterns, or the subjects when spatial times differ."""
    return stats.per_subject() if model.structure.spatial and stats.times is not None else stats


def _blocks(units: PatternStats, model: CovarianceModel, theta: FloatArray) -> list[CovarianceBlock]:
    structure, q = model.structure, model.structure.n_params
    n_units = len(units.n)
    per_unit = structure.spatial and units.times is not None
    parts = [theta] if model.n_groups == 1 else model.split(theta)
    blocks = []
    for h, part in enumerate(parts):
        members = np.arange(n_units) if units.group is None else np.flatnonzero(units.group == h)
        if per_unit:
            assert units.times is not None
            sigma, first, second = structure.evaluate_at(part, units.times[members])
        else:
            sigma, first, second = structure.evaluate(part)
        blocks.append(CovarianceBlock(members, slice(h * q, (h + 1) * q), sigma, first, second, per_unit,
                             every_unit=len(members) == n_units))
    return blocks


def _as_model(covariance: CovarianceStructure | CovarianceModel) -> CovarianceModel:
    return covariance if isinstance(covariance, CovarianceModel) else CovarianceModel(covariance)


def _unit_sigma(units: PatternStats, blocks: list[CovarianceBlock]) -> FloatArray:
    if len(blocks) == 1 and blocks[0].every_unit:
        return blocks[0].sigma
    k = units.mask.shape[1]
    sigma = np.empty((len(units.n), k, k))
    for block in blocks:
        sigma[block.units] = block.sigma
    return sigma


def covariance_blocks(
    stats: PatternStats, covariance: CovarianceStructure | CovarianceModel, theta: FloatArray
) -> tuple[PatternStats, list[CovarianceBlock], FloatArray]:
    """The units over which ``Sigma`` is constant, each group's :class:`CovarianceBlock`, and each unit's ``Sigma``.

    The units are the patterns, or the subjects when spatial times differ between them;
    ``Sigma`` is (G, k, k), one per unit.

    Examples
    --------
    >>> from dosefinding.mmrm.covariance import get_structure
    >>> stats = PatternStats.from_rows(np.ones((2, 1)), np.zeros(2), subject=np.array([0, 1]),
    ...                                visit=np.array([0, 1]), k=2)
    >>> units, blocks, sigma = covariance_blocks(stats, get_structure("cs", 2), np.zeros(2))
    >>> len(blocks), blocks[0].first.shape, sigma.shape
    (1, (2, 2, 2), (2, 2, 2))
    """
    model = _as_model(covariance)
    units = _units(stats, model)
    blocks = _blocks(units, model, np.asarray(theta, dtype=float))
    k = units.mask.shape[1]
    return units, blocks, np.broadcast_to(_unit_sigma(units, blocks), (len(units.n), k, k)).copy()


def covariance_units(
    stats: PatternStats, covariance: CovarianceStructure | CovarianceModel, theta: FloatArray
) -> tuple[PatternStats, FloatArray]:
    """The units over which ``Sigma`` is constant (the patterns, or the subjects when their times differ) and theirs.

    Returns the units as a :class:`PatternStats` and ``Sigma`` of each (G, k, k): its
    group's matrix, at its times for spatial structures (for the empirical sandwich).

    Examples
    --------
    >>> from dosefinding.mmrm.covariance import get_structure
    >>> stats = PatternStats.from_rows(np.ones((2, 1)), np.zeros(2), subject=np.array([0, 1]),
    ...                                visit=np.array([0, 1]), k=2)
    >>> units, sigma = covariance_units(stats, get_structure("cs", 2), np.zeros(2))
    >>> sigma.shape
    (2, 2, 2)
    """
    units, _, sigma = covariance_blocks(stats, covariance, theta)
    return units, sigma


def pattern_inverses(stats: PatternStats, sigma: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``W_g`` (G, k, k), the inverse of ``Sigma`` over each pattern's visits (zeros elsewhere), and its log det.

    ``sigma`` is one matrix (k, k) for all patterns or one per pattern (G, k, k). Raises
    ``numpy.linalg.LinAlgError`` when ``Sigma`` is not positive definite.
    """
    k = stats.mask.shape[1]
    observed = stats.mask.astype(float)
    both = observed[:, :, None] * observed[:, None, :]
    padded = np.asarray(sigma) * both + np.eye(k)[None] * (1.0 - observed)[:, None, :]
    chol = np.linalg.cholesky(padded)
    log_det = 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
    return np.linalg.inv(padded) * both, log_det


def _pairwise_traces(first: FloatArray, w: FloatArray, z: FloatArray) -> FloatArray:
    """``out[j, k] = sum_g tr(D_j W_g D_k Z_g)`` for ``D = first`` (q, k, k), ``W, Z`` (G, k, k).

    Summing ``W_g[b, c] Z_g[d, a]`` over the patterns first leaves a ``k^4`` array, so the
    cost is ``G k^4 + q k^4`` rather than ``q^2 G k^2``.
    """
    q, k = first.shape[0], first.shape[1]
    summed = (w.reshape(-1, k * k).T @ z.reshape(-1, k * k)).reshape(k, k, k, k)  # [b, c, d, a]
    kernel = summed.transpose(3, 0, 1, 2).reshape(k * k, k * k)  # [(a, b), (c, d)]
    flat = first.reshape(q, k * k)
    return flat @ kernel @ flat.T


def _contract(block: CovarianceBlock, derivative: FloatArray, per_unit_values: FloatArray) -> FloatArray:
    """``sum_u sum_ab D[u][..., a, b] A_u[a, b, ...]`` over the block's units, ``A = per_unit_values``."""
    values = block.select(per_unit_values)
    n_units, k = values.shape[0], values.shape[1]
    extra = values.shape[3:]
    lead = derivative.shape[1:-2] if block.per_unit else derivative.shape[:-2]
    if block.per_unit:
        flat_d = derivative.reshape(n_units, -1, k * k)
        out = np.einsum("gja,gab->jb", flat_d, values.reshape(n_units, k * k, -1))
    else:
        out = derivative.reshape(-1, k * k) @ values.sum(axis=0).reshape(k * k, -1)
    return out.reshape(*lead, *extra)


def _cross_products(stats: PatternStats, subject_level: bool, w: FloatArray) -> tuple[FloatArray, FloatArray, float]:
    """``X'V^-1 X``, ``X'V^-1 y`` and ``y'V^-1 y``, from the pattern sums or the subjects' padded data."""
    p = stats.p
    if subject_level:
        w_x = w @ stats.x_pad
        return (np.einsum("nap,naq->pq", stats.x_pad, w_x), np.einsum("nap,na->p", w_x, stats.y_pad),
                float(np.einsum("na,nab,nb->", stats.y_pad, w, stats.y_pad)))
    w_flat = w.reshape(-1)
    return ((w_flat @ stats.xx.reshape(-1, p * p)).reshape(p, p), w_flat @ stats.xy.reshape(-1, p),
            float(w_flat @ stats.yy.reshape(-1)))


def evaluate(
    stats: PatternStats,
    structure: CovarianceStructure | CovarianceModel,
    theta: FloatArray,
    *,
    reml: bool,
    order: int = 1,
) -> Evaluation:
    """-2 (restricted) log likelihood at ``theta``; its gradient (order >= 1) and Hessian (order 2).

    ``structure`` is one covariance structure, or a :class:`CovarianceModel` with a copy
    per group. Raises ``numpy.linalg.LinAlgError`` when ``Sigma`` or ``X'V^-1 X`` is not
    positive definite.

    Examples
    --------
    >>> from dosefinding.mmrm.covariance import get_structure
    >>> x = np.ones((4, 1)); y = np.array([1.0, 2.0, 2.0, 4.0])
    >>> stats = PatternStats.from_rows(x, y, subject=np.array([0, 1, 2, 3]), visit=np.zeros(4, int), k=1)
    >>> e = evaluate(stats, get_structure("us", 1), np.array([0.0]), reml=True)
    >>> round(e.value, 6), e.beta.tolist()
    (11.649926, [2.25])
    """
    model = _as_model(structure)
    units = _units(stats, model)
    subject_level = units is not stats
    p, n_units, k = stats.p, len(units.n), stats.mask.shape[1]
    blocks = _blocks(units, model, np.asarray(theta, dtype=float))
    w, log_det = pattern_inverses(units, _unit_sigma(units, blocks))

    xtwx, xtwy, ywy = _cross_products(stats, subject_level, w)
    factor = linalg.cho_factor(xtwx, lower=True, check_finite=False)
    beta = linalg.cho_solve(factor, xtwy, check_finite=False)
    beta_cov = linalg.cho_solve(factor, np.eye(p), check_finite=False)
    quad = ywy - float(beta @ xtwy)
    # With weights, log|W^-1/2 Sigma W^-1/2| = log|Sigma| - sum log w.
    value = float(units.n @ log_det) + quad - stats.log_weights
    if reml:
        value += 2.0 * float(np.log(np.diag(factor[0])).sum()) + (stats.n_obs - p) * _LOG_2PI
    else:
        value += stats.n_obs * _LOG_2PI
    if order == 0:
        return Evaluation(value=value, beta=beta, beta_cov=beta_cov)

    # Per unit: the residual cross products sum_i r_i r_i' and, for REML, sum_i X_i A X_i';
    # x_resid[u, a, b] = sum_i X_ia' r_ib (p-vectors).
    if subject_level:
        resid = stats.y_pad - stats.x_pad @ beta
        middle = resid[:, :, None] * resid[:, None, :]
        if reml:
            middle = middle + stats.x_pad @ beta_cov @ stats.x_pad.transpose(0, 2, 1)
        x_resid = stats.x_pad[:, :, None, :] * resid[:, None, :, None]
    else:
        xy_beta = stats.xy @ beta
        middle = stats.yy - xy_beta - xy_beta.transpose(0, 2, 1) + (stats.xx @ beta) @ beta
        if reml:
            middle = middle + (stats.xx.reshape(-1, p * p) @ beta_cov.reshape(-1)).reshape(n_units, k, k)
        x_resid = stats.xy - stats.xx @ beta
    w_middle_w = w @ middle @ w
    m = units.n[:, None, None] * w - w_middle_w  # per unit; the gradient is sum_u tr(D_j m_u)
    q = len(theta)
    gradient = np.empty(q)
    for block in blocks:
        gradient[block.params] = _contract(block, block.first, m)
    if order == 1:
        return Evaluation(value=value, beta=beta, beta_cov=beta_cov, gradient=gradient)

    # g_z[j] = X'V^-1 V_j P y = sum_u sum_cd D_j[c, d] (W R_u W)[c, d], R_u = x_resid[u].
    left = (w.transpose(0, 2, 1) @ x_resid.reshape(n_units, k, k * p)).reshape(n_units, k, k, p)  # [u, c, b, p]
    w_r_w = (left.transpose(0, 1, 3, 2) @ w[:, None]).transpose(0, 1, 3, 2)  # [u, c, d, p]
    # sum_u tr(D_j W D_k Z_u) collects -tr(V^-1 V_j V^-1 V_k), the quadratic term's
    # 2 y'P V_j V^-1 V_k P y and (REML) the 2 tr(V^-1 V_j V^-1 X A X'V^-1 V_k) of tr(P V_j P V_k).
    z = 2.0 * w_middle_w - units.n[:, None, None] * w
    g_z = np.empty((q, p))
    hessian = np.zeros((q, q))
    q_mats = np.empty((q, p, p))
    for block in blocks:
        g_z[block.params] = _contract(block, block.first, w_r_w)
        within = _contract(block, block.second, m)
        w_b, z_b = block.select(w), block.select(z)
        if block.per_unit:
            within += np.einsum("gjac,glca->jl", block.first @ w_b[:, None], block.first @ z_b[:, None])
        else:
            within += _pairwise_traces(block.first, w_b, z_b)
        hessian[block.params, block.params] = within
        q_mats[block.params] = _q_matrices(units, block, w)
    hessian -= 2.0 * g_z @ beta_cov @ g_z.T
    if reml:
        a_q = beta_cov[None] @ q_mats
        hessian -= np.einsum("jab,kba->jk", a_q, a_q)
    hessian = 0.5 * (hessian + hessian.T)
    return Evaluation(
        value=value, beta=beta, beta_cov=beta_cov, gradient=gradient, hessian=hessian, q=q_mats
    )


def _q_matrices(units: PatternStats, block: CovarianceBlock, w: FloatArray) -> FloatArray:
    """``Q_j = sum_ab D_j[a, b] sum_i (W X_i)_a' (W X_i)_b`` over the block's subjects' padded designs."""
    k, p = units.x_pad.shape[1], units.x_pad.shape[2]
    if block.every_unit:
        unit_of = units.pattern
        w_x = w[unit_of] @ units.x_pad  # (n, k, p)
    else:
        local = np.full(len(units.n), -1)
        local[block.units] = np.arange(len(block.units))
        members = np.flatnonzero(local[units.pattern] >= 0)
        unit_of = units.pattern[members]
        w_x = w[unit_of] @ units.x_pad[members]
    if block.per_unit:
        # Per-unit derivatives: the units are the subjects, in the block's order.
        position = np.full(len(units.n), -1)
        position[block.units] = np.arange(len(block.units))
        d_w_x = block.first[position[unit_of]] @ w_x[:, None]  # (n, q, k, p)
        return np.einsum("nap,njar->jpr", w_x, d_w_x)
    flat = w_x.reshape(w_x.shape[0], k * p)
    cross = (flat.T @ flat).reshape(k, p, k, p).transpose(0, 2, 1, 3).reshape(k * k, p * p)
    q = block.first.shape[0]
    return (block.first.reshape(q, k * k) @ cross).reshape(q, p, p)
