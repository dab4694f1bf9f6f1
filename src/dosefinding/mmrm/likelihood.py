"""The MMRM objective, SAS's -2 (Res) Log Likelihood with beta profiled out, and its derivatives, for a batch of data sets.

Subjects contribute the visits they have: subject ``i`` with visits ``o_i`` has
``y_i ~ N(X_i beta, Sigma[o_i, o_i])``. One evaluation covers ``T`` data sets at once
(simulated trials; a single fit is the batch of one) that share the design's layout: the
same visits and the same split of the design into visit pieces (below), each with its own
responses, missing visits and ``theta``.

Visit pieces. Each design column is split into visit-specific pieces (its values at one
visit, zero elsewhere); pieces that are zero for every subject are dropped and, within a
visit, a basis of the remaining ones is kept (greedily, the columns present at every visit
first, so that every visit keeps the same columns where it can), so that ``X_i = U_i C`` with
``U_i[a, j] = u_ij [visit(j) = a]`` and ``C`` (p' x p) mapping the basis pieces to the
columns (:class:`VisitPieces`). For cell means by arm and visit plus baseline by visit
``p' = p`` and ``C = I``; for a treatment-coded ``ARM * AVISIT`` model the pieces are the
intercept and the arm dummies at each visit. When the pieces hold the same values at every
visit (``u_i`` is ``z_i`` at each visit: factors and subject-level covariates, "repeated"),
only the sums of ``z_i`` are kept.

Missingness patterns. Subjects with the same set of visits (and covariance group) share
``Sigma[o, o]``, so the data enter only through per-pattern sums, computed once:

    n_g,  UU_g = sum_i u_i u_i',  UY_g = sum_i u_i y_i',  YY_g = sum_i y_i y_i'

over the subjects ``i`` of pattern ``g`` (:class:`PatternStats`). A pattern's matrix is
padded to ``k x k`` with the identity at the missing visits; its inverse, with the missing
rows and columns set to zero, is ``W_g``. Every quantity below is then a contraction of
``W_g`` with these sums over all patterns and trials at once: no loop runs over subjects or
trials, e.g. ``X'V^-1 X = C' (sum_g W_g[visit(j), visit(l)] UU_g[j, l]) C`` (``sum_g W_g kron
ZZ_g`` for repeated pieces), ``p'^2 G`` work per trial instead of ``N k p^2``.

With ``V = diag(Sigma_i)``, ``P = V^-1 - V^-1 X (X'V^-1 X)^-1 X'V^-1``, ``V_j = dV/dtheta_j``:

    -2 l_REML = (n - p) log(2 pi) + log|V| + log|X'V^-1 X| + y'P y
    -2 l_ML   =  n      log(2 pi) + log|V|                  + y'P y
    d/dtheta_j      = tr(P V_j) - y'P V_j P y                      (REML; V^-1 for P in tr for ML)
    d2/dtheta_j,k   = tr(P V_jk) - tr(P V_j P V_k) + 2 y'P V_j P V_k P y - y'P V_jk P y

(SAS PROC MIXED prints the first line as -2 Res Log Likelihood.) The Hessian's REML term
``-tr(A Q_j A Q_l)``, ``A = (X'V^-1 X)^-1``, ``Q_j = X'V^-1 V_j V^-1 X``, costs more than
the rest together (``q p'^2 G + q p^3`` per trial); it is ``O(p / n)`` against the rest
and negative semi-definite, so Newton's iterations may leave it out (``exact=False``) and
converge linearly at a rate of about ``p / n``; the exact Hessian (and ``Q_j``, which the
Satterthwaite and Kenward-Roger inference need) comes with ``exact=True``.

Extensions:

- Grouped covariance (one copy of the structure per group, SAS's ``GROUP=``): a pattern
  belongs to one group, and its ``Sigma`` and derivatives are its group's, over that
  group's slice of ``theta``; the blocks of the Hessian between groups come only
  through ``X'V^-1 X`` (the ``g_z`` and ``Q_j`` terms).
- Spatial structures with times that differ between subjects: each subject is its own
  pattern (a "unit") with its own ``Sigma`` and derivatives.
- Weights (SAS's WEIGHT statement): ``R_i = W_i^-1/2 Sigma W_i^-1/2``, i.e. the model for
  ``W_i^1/2 y_i`` with design ``W_i^1/2 X_i`` and covariance ``Sigma``; the pieces and
  responses are scaled once and ``log|R_i| = log|Sigma| - sum log w`` adds ``-sum log w``.

A data set whose ``Sigma`` or ``X'V^-1 X`` is not positive definite at its ``theta`` gets
``ok = False`` and an infinite objective; the others are not affected.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, TypeVar, cast, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dosefinding.errors import InputError
from dosefinding.mmrm.covariance import CovarianceModel, CovarianceStructure, Curvature

__all__ = [
    "BatchEvaluation", "CovarianceBlock", "Evaluation", "PatternStats", "VisitPieces", "as_model",
    "covariance_blocks", "covariance_inverses", "cross_products", "evaluate", "evaluate_batch", "pattern_inverses",
    "q_matrices", "residual_crossproducts", "take_optional", "weighted_crossproducts",
]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
_Array = TypeVar("_Array", bound="np.ndarray[Any, Any]")


@overload
def take_optional(array: None, index: Any) -> None: ...
@overload
def take_optional(array: _Array, index: Any) -> _Array: ...
@overload
def take_optional(array: _Array | None, index: Any) -> _Array | None: ...
def take_optional(array: _Array | None, index: Any) -> _Array | None:
    """``array[index]`` for an optional field of a batch (``None`` stays ``None``).

    Examples
    --------
    >>> take_optional(np.arange(3.0), [2]).tolist(), take_optional(None, [2])
    ([2.0], None)
    """
    return None if array is None else array[index]
_LOG_2PI = float(np.log(2 * np.pi))
# Relative size of a pivoted-QR diagonal below which a visit piece of a column is a
# combination of the pieces before it.
_BASIS_TOL = 1e-10
# Bits of an int64 key available for the trial, the pattern's visits and its group.
_KEY_BITS = 62


def _column_basis(values: FloatArray) -> tuple[NDArray[np.intp], FloatArray]:
    """Columns of ``values`` forming a basis, taken greedily in their order (each kept unless it is a
    combination of the kept ones before it, QR without pivoting), and every column as their combination
    (rank, m). Decided and solved on columns of unit length, so that neither depends on the columns' scales."""
    norms = np.linalg.norm(values, axis=0)
    norms = np.where(norms > 0, norms, 1.0)
    unit = values / norms
    r = np.linalg.qr(unit, mode="r")
    keep = np.flatnonzero(np.abs(np.diag(r)) > _BASIS_TOL)
    coef = np.linalg.lstsq(unit[:, keep], unit, rcond=None)[0]
    coef[np.abs(coef) < 1e-12] = 0.0
    coef[:, keep] = np.eye(keep.size)
    return keep, coef * norms[None, :] / norms[keep, None]


@dataclass(frozen=True)
class VisitPieces:
    """The design's visit pieces (see the module docstring): ``X_i = U_i C``.

    ``visit`` (p',) is the visit of each piece (ordered by visit), ``basis`` the map ``C``
    (p', p) or ``None`` for the identity, ``repeated`` whether every visit has the same
    ``r = p' / k`` pieces with the same values (then ``u_i = 1_k kron z_i``).

    Examples
    --------
    >>> x = np.zeros((4, 2, 2)); x[:, :, 0] = 1.0; x[:, 1, 1] = 1.0  # intercept + visit 2 dummy
    >>> u, pieces = VisitPieces.split(x)
    >>> pieces.visit.tolist(), pieces.basis.tolist(), pieces.repeated
    ([0, 1], [[1.0, 0.0], [1.0, 1.0]], True)
    """

    visit: NDArray[np.intp]
    basis: FloatArray | None
    k: int
    p: int
    repeated: bool

    @classmethod
    def split(cls, x: FloatArray, observed: BoolArray | None = None) -> tuple[FloatArray, VisitPieces]:
        """The pieces ``u`` (..., N, p') of a design ``x`` (..., N, k, p) and their layout.

        ``observed`` (..., N, k): which rows exist (the design of a missing visit is then
        irrelevant and is set to the subject's pieces at an observed visit when the pieces
        are otherwise repeated). Raises :class:`InputError` when every column is zero.
        """
        x = np.asarray(x, dtype=float)
        n_subjects, k, p = x.shape[-3:]
        # Columns present at every visit come first, so that a visit's pieces are the same columns (and values)
        # as the other visits' wherever the visit-specific columns add nothing.
        present = np.any(x != 0, axis=tuple(range(x.ndim - 3)) + (-3,))  # (k, p)
        preferred = np.argsort(~present.all(axis=0), kind="stable")
        pieces_u, visits, rows = [], [], []
        for a in range(k):
            nonzero = preferred[present[a, preferred]]
            if nonzero.size == 0:
                continue
            sub = x[..., a, nonzero].reshape(-1, nonzero.size)
            # A basis from the first data set's rows, checked on all rows (else found from all of them).
            keep, coef = _column_basis(sub[:n_subjects])
            scale = float(np.abs(sub).max())
            if sub.shape[0] > n_subjects and np.abs(sub - sub[:, keep] @ coef).max() > _BASIS_TOL * scale:
                keep, coef = _column_basis(sub)
            block = np.zeros((keep.size, p))
            block[:, nonzero] = coef
            pieces_u.append(x[..., a, nonzero[keep]])
            visits.append(np.full(keep.size, a))
            rows.append(block)
        if not pieces_u:
            raise InputError("x: every column of the design is zero")
        u = np.concatenate(pieces_u, axis=-1)
        visit = np.concatenate(visits).astype(np.intp)
        basis = np.vstack(rows)
        identity = basis.shape[0] == p and np.array_equal(basis, np.eye(p))
        u, repeated = cls._repeat(u, visit, k, observed)
        return u, cls(visit=visit, basis=None if identity else basis, k=k, p=p, repeated=repeated)

    @staticmethod
    def _repeat(u: FloatArray, visit: NDArray[np.intp], k: int,
                observed: BoolArray | None) -> tuple[FloatArray, bool]:
        """Whether the pieces are the same at every (observed) visit; then ``u`` with them at every visit."""
        counts = np.bincount(visit, minlength=k)
        if counts[0] == 0 or not np.all(counts == counts[0]):
            return u, False
        by_visit = u.reshape(*u.shape[:-1], k, int(counts[0]))
        if observed is None:
            return u, bool(np.array_equal(by_visit, np.broadcast_to(by_visit[..., :1, :], by_visit.shape)))
        first = np.argmax(observed, axis=-1)[..., None, None]
        z = np.take_along_axis(by_visit, first, axis=-2)
        if not np.all((by_visit == z) | ~observed[..., None]):
            return u, False
        return np.broadcast_to(z, by_visit.shape).reshape(u.shape).copy(), True

    @property
    def n_pieces(self) -> int:
        """``p'``."""
        return self.visit.size

    @property
    def width(self) -> int:
        """Size of the kept sums: ``r`` for repeated pieces, else ``p'``."""
        return self.n_pieces // self.k if self.repeated else self.n_pieces

    @cached_property
    def selector(self) -> FloatArray:
        """``S[a, j] = [visit(j) = a]`` (k, p')."""
        return (self.visit[None, :] == np.arange(self.k)[:, None]).astype(float)

    @cached_property
    def pairs(self) -> NDArray[np.intp]:
        """``visit(j) k + visit(l)`` (p', p'): gathers ``W[visit(j), visit(l)]``."""
        return self.visit[:, None] * self.k + self.visit[None, :]

    @cached_property
    def _permutation(self) -> tuple[NDArray[np.intp], NDArray[np.intp]] | None:
        """For a ``C`` that only reorders the columns: the piece of each column and the column of each piece."""
        c = self.basis
        if c is None or c.shape[0] != c.shape[1] or not np.all((c == 0) | (c == 1)):
            return None
        if not (np.all(c.sum(axis=0) == 1) and np.all(c.sum(axis=1) == 1)):
            return None
        return np.argmax(c, axis=0), np.argmax(c, axis=1)

    def _map(self, values: FloatArray, axes: int, to_columns: bool) -> FloatArray:
        """``values`` by ``C`` (to the columns) or ``C'`` (to the pieces) on its last one or two axes."""
        if self.basis is None:
            return values
        if self._permutation is not None:
            order = self._permutation[0 if to_columns else 1]
            out = np.take(values, order, axis=-1)
            return out if axes == 1 else np.take(out, order, axis=-2)
        c = self.basis if to_columns else self.basis.T
        return values @ c if axes == 1 else np.swapaxes(c, 0, 1) @ values @ c

    def to_columns(self, values: FloatArray, axes: int = 1) -> FloatArray:
        """``values`` over the pieces (..., p') or (..., p', p') mapped to the columns by ``C``."""
        return self._map(values, axes, to_columns=True)

    def from_columns(self, beta: FloatArray, axes: int = 1) -> FloatArray:
        """``C beta`` (..., p'), or ``C A C'`` (..., p', p') for ``axes=2``."""
        return self._map(beta, axes, to_columns=False)

    @cached_property
    def _kron_columns(self) -> NDArray[np.intp] | None:
        """For repeated pieces and ``C`` the identity or a reordering: where each (column, column) pair sits in a
        (k, k, r, r) array over (visit, visit, piece, piece)."""
        permutation = self._permutation
        if not self.repeated or (self.basis is not None and permutation is None):
            return None
        piece = np.arange(self.p) if permutation is None else permutation[0]
        visit, within = np.divmod(piece, self.width)
        k, r = self.k, self.width
        return (((visit[:, None] * k + visit[None, :]) * r + within[:, None]) * r + within[None, :]).ravel()

    def kron_to_columns(self, values: FloatArray) -> FloatArray:
        """Values over pairs of repeated pieces laid out (..., k, k, r, r) as (..., p, p) over the columns."""
        lead = values.shape[:-4]
        index = self._kron_columns
        if index is not None:
            return np.take(values.reshape(*lead, -1), index, axis=-1).reshape(*lead, self.p, self.p)
        k, r = self.k, self.width
        pieces = np.moveaxis(values, -3, -2).reshape(*lead, k * r, k * r)
        return self.to_columns(pieces, axes=2)

    def fitted(self, u: FloatArray, beta_t: FloatArray) -> FloatArray:
        """``X_i beta`` (T, N, k) from the pieces ``u`` (T or 1, N, p') and ``beta_t = C beta`` (T, p')."""
        products = u * beta_t[:, None, :]
        return products @ self.selector.T

    def unweighted(self) -> VisitPieces:
        """The layout for pieces scaled row by row (by weights): not repeated."""
        return replace(self, repeated=False)


def _slots(observed: BoolArray, group: NDArray[np.intp] | None, n_groups: int
           ) -> tuple[NDArray[np.intp], BoolArray, NDArray[np.intp] | None]:
    """Each subject's pattern slot (T, N), the slots' masks (T, G, k) and groups (T, G).

    Slots are numbered within each data set; a data set with fewer patterns leaves its
    last slots empty (no subject, no visit).
    """
    t_count, n_subjects, k = observed.shape
    trial = np.broadcast_to(np.arange(t_count)[:, None], (t_count, n_subjects))
    group_bits = int(np.ceil(np.log2(max(n_groups, 1)))) + 1
    trial_bits = int(np.ceil(np.log2(max(t_count, 1)))) + 1
    if k + group_bits + trial_bits <= _KEY_BITS:
        code = observed.astype(np.int64) @ (np.int64(1) << np.arange(k, dtype=np.int64))
        if group is not None:
            code = code + (np.asarray(group, dtype=np.int64) << k)
        key = (trial.astype(np.int64) << (k + group_bits)) + code
        unique, inverse = np.unique(key.ravel(), return_inverse=True)
        trial_of = unique >> (k + group_bits)
        masks = ((unique[:, None] >> np.arange(k)) & 1).astype(bool)
        groups = (unique >> k) & ((1 << group_bits) - 1)
    else:
        columns = [trial.reshape(-1, 1), observed.reshape(-1, k)]
        if group is not None:
            columns.append(np.broadcast_to(group, (t_count, n_subjects)).reshape(-1, 1))
        rows = np.hstack([c.astype(np.int64) for c in columns])
        unique_rows, inverse = np.unique(rows, axis=0, return_inverse=True)
        trial_of = unique_rows[:, 0]
        masks = unique_rows[:, 1:k + 1].astype(bool)
        groups = unique_rows[:, k + 1] if group is not None else np.zeros(len(unique_rows), dtype=np.int64)
    inverse = inverse.reshape(t_count, n_subjects)
    first = np.searchsorted(trial_of, np.arange(t_count))
    slot = inverse - first[:, None]
    n_slots = int(np.bincount(trial_of, minlength=t_count).max())
    position = np.arange(len(trial_of)) - first[trial_of]
    mask = np.zeros((t_count, n_slots, k), dtype=bool)
    mask[trial_of, position] = masks
    slot_group = None
    if group is not None:
        slot_group = np.zeros((t_count, n_slots), dtype=np.intp)
        slot_group[trial_of, position] = groups
    return slot, mask, slot_group


@dataclass(frozen=True)
class PatternStats:
    """Per data set and pattern slot: counts, masks and the sums of the module docstring.

    Arrays have a leading axis over the ``T`` data sets: ``n`` (T, G), ``mask`` (T, G, k),
    ``uu`` (T, G, w, w), ``uy`` (T, G, w, k), ``yy`` (T, G, k, k) with ``w`` the pieces'
    :attr:`VisitPieces.width`; ``n_obs`` (T,) observations; ``group`` (T, G) each slot's
    covariance group (``None`` ungrouped); ``times`` (T, G, k) or (T, G, k, d), each
    slot's visit positions when every subject is its own slot (spatial structures with
    positions that differ between subjects; zero at missing visits), else ``None``;
    ``log_weights`` (T,) the sum of the logarithms of the weights. ``subject_u`` (T or 1,
    N, p'), ``subject_y`` (T, N, k) and ``subject_slot`` (T, N) keep each subject's pieces,
    responses (weighted, zero at missing visits) and slot, for the empirical sandwich.
    The responses in the sums (not ``subject_y``) are centred on their OLS fit ``X b``
    (``centre``, (T, p)): the likelihood and its derivatives are the same for ``y - X b``,
    whose estimates are ``beta - b`` (:func:`evaluate_batch` adds ``b`` back), and no digit
    of a large mean is lost to cancellation in ``YY``.

    Examples
    --------
    >>> x = np.ones((3, 1)); y = np.array([1.0, 2.0, 3.0])
    >>> stats = PatternStats.from_rows(x, y, subject=np.array([0, 0, 1]), visit=np.array([0, 1, 0]), k=2)
    >>> stats.n.tolist(), stats.mask.tolist(), stats.n_obs.tolist()
    ([[1.0, 1.0]], [[[True, False], [True, True]]], [3])
    """

    pieces: VisitPieces
    n: FloatArray
    mask: BoolArray
    uu: FloatArray
    uy: FloatArray
    yy: FloatArray
    n_obs: NDArray[np.int64]
    subject_u: FloatArray = field(repr=False)
    subject_y: FloatArray = field(repr=False)
    subject_slot: NDArray[np.intp] = field(repr=False)
    group: NDArray[np.intp] | None = None
    times: FloatArray | None = None
    log_weights: FloatArray | None = None
    visit_positions: FloatArray | None = None
    centre: FloatArray | None = None

    @classmethod
    def from_arrays(
        cls,
        y: FloatArray,
        u: FloatArray,
        pieces: VisitPieces,
        *,
        group: NDArray[np.intp] | None = None,
        n_groups: int = 1,
        times: FloatArray | None = None,
        weights: FloatArray | None = None,
    ) -> PatternStats:
        """Sums from responses ``y`` (T, N, k), NaN at missing visits, and pieces ``u`` (T or 1, N, p').

        ``group`` (T or 1, N) codes 0..n_groups-1 per subject; ``times`` (T or 1, N, k) or
        (T or 1, N, k, d): each subject is then its own slot; ``weights`` (T or 1, N, k),
        positive at the observed visits.
        """
        y = np.asarray(y, dtype=float)
        t_count, n_subjects = y.shape[:2]
        observed = ~np.isnan(y)
        y0 = np.where(observed, y, 0.0)
        log_weights = np.zeros(t_count)
        if weights is not None:
            w = np.where(observed, np.broadcast_to(weights, y.shape), 1.0)
            root = np.sqrt(w)
            y0 = y0 * root
            u = u * root[..., pieces.visit]
            pieces = pieces.unweighted()
            log_weights = np.log(w).sum(axis=(1, 2))
        group_t = None if group is None else np.broadcast_to(np.asarray(group, dtype=np.intp), (t_count, n_subjects))
        if times is not None:
            times = np.array(np.broadcast_to(times, (t_count, *np.shape(times)[1:])), dtype=float)
            times[~observed] = 0.0
            weight = observed.reshape(*observed.shape, *[1] * (times.ndim - 3)).astype(float)
            visit_positions = times.sum(axis=1) / np.maximum(weight.sum(axis=1), 1.0)
            slot = np.broadcast_to(np.arange(n_subjects), (t_count, n_subjects))
            mask, slot_group = observed, group_t
        else:
            visit_positions = None
            slot, mask, slot_group = _slots(observed, group_t, n_groups)
        first = cls._summed(pieces, u, y0, observed, slot, mask, slot_group, times, log_weights, visit_positions)
        # The sums of the response centred on its OLS fit (any X b gives the same fit, beta shifted by b):
        # y'V^-1 y - beta'X'V^-1 y then does not cancel away the digits of a large mean.
        centre = first.ols_coefficients()
        fitted = pieces.fitted(u, pieces.from_columns(centre))
        centred = cls._summed(pieces, u, (y0 - fitted) * observed, observed, slot, mask, slot_group, times,
                              log_weights, visit_positions)
        return replace(centred, subject_y=y0, centre=centre)

    @classmethod
    def _summed(cls, pieces: VisitPieces, u: FloatArray, y0: FloatArray, observed: BoolArray,
                slot: NDArray[np.intp], mask: BoolArray, slot_group: NDArray[np.intp] | None,
                times: FloatArray | None, log_weights: FloatArray, visit_positions: FloatArray | None) -> PatternStats:
        """The sums over each slot's subjects of the pieces ``u`` and responses ``y0`` (zero at missing visits)."""
        t_count, n_subjects, k = y0.shape
        z = u[..., :pieces.width] if pieces.repeated else u
        z_t = np.broadcast_to(z, (t_count, n_subjects, z.shape[-1]))
        if times is not None:
            n = np.ones((t_count, n_subjects))
            uu = z_t[..., :, None] * z_t[..., None, :]
            uy = z_t[..., :, None] * y0[..., None, :]
            yy = y0[..., :, None] * y0[..., None, :]
        else:
            n_slots = mask.shape[1]
            one_hot = np.zeros((t_count, n_slots, n_subjects))
            one_hot[np.arange(t_count)[:, None], slot, np.arange(n_subjects)[None]] = 1.0
            n = one_hot.sum(axis=2)
            r = z_t.shape[-1]
            hz = (one_hot[:, :, :, None] * z_t[:, None]).transpose(0, 1, 3, 2).reshape(t_count, n_slots * r,
                                                                                      n_subjects)
            uu = (hz @ z_t).reshape(t_count, n_slots, r, r)
            uy = (hz @ y0).reshape(t_count, n_slots, r, k)
            yy = (one_hot @ (y0[:, :, :, None] * y0[:, :, None, :]).reshape(t_count, n_subjects, k * k)).reshape(
                t_count, n_slots, k, k)
        return cls(pieces=pieces, n=n, mask=mask, uu=uu, uy=uy, yy=yy, n_obs=observed.sum(axis=(1, 2)),
                   subject_u=u, subject_y=y0, subject_slot=slot, group=slot_group, times=times,
                   log_weights=log_weights, visit_positions=visit_positions)

    def ols_coefficients(self) -> FloatArray:
        """The ordinary least squares coefficients of each data set (T, p); 0 where ``X'X`` is singular.

        Solved on the normal equations scaled to a unit diagonal (the units of the columns do not matter).
        """
        xtx, xty, _ = cross_products(self, self.mask[..., None] * np.eye(self.k))
        d = np.sqrt(np.maximum(np.diagonal(xtx, axis1=-2, axis2=-1), np.finfo(float).tiny))
        _, ok = _cholesky(xtx / (d[:, :, None] * d[:, None, :]))
        scaled = np.where(ok[:, None, None], xtx / (d[:, :, None] * d[:, None, :]), np.eye(xtx.shape[-1]))
        return np.where(ok[:, None], np.linalg.solve(scaled, (xty / d)[:, :, None])[:, :, 0] / d, 0.0)

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
        """One data set from one row per observation; ``subject`` codes 0..N-1, ``visit`` codes 0..k-1.

        ``group`` (per subject, codes 0..H-1), ``times`` and ``weights`` (per row) are optional;
        ``times`` is (n,) (one time per row) or (n, d) (d coordinates per row); with it every
        subject is its own slot.

        Examples
        --------
        >>> x = np.ones((3, 1)); y = np.array([1.0, 2.0, 3.0])
        >>> positions = np.array([[1.0, 0.5], [2.0, 0.0], [1.0, 0.2]])
        >>> stats = PatternStats.from_rows(x, y, subject=np.array([0, 0, 1]), visit=np.array([0, 1, 0]), k=2,
        ...                                times=positions)
        >>> stats.times.shape, stats.times[0, 1].tolist()
        ((1, 2, 2, 2), [[1.0, 0.2], [0.0, 0.0]])
        """
        x = np.asarray(x, dtype=float)
        n_subjects, p = int(subject.max()) + 1, x.shape[1]
        y_pad = np.full((1, n_subjects, k), np.nan)
        y_pad[0, subject, visit] = y
        x_pad = np.zeros((1, n_subjects, k, p))
        x_pad[0, subject, visit] = x
        observed = ~np.isnan(y_pad)
        u, pieces = VisitPieces.split(x_pad, observed)
        padded: dict[str, FloatArray | None] = {"times": None, "weights": None}
        for name, values in (("times", times), ("weights", weights)):
            if values is not None:
                values = np.asarray(values, dtype=float)
                array = np.zeros((1, n_subjects, k, *values.shape[1:]))
                array[0, subject, visit] = values
                padded[name] = array
        n_groups = 1 if group is None else int(np.max(group)) + 1
        return cls.from_arrays(y_pad, u, pieces, group=None if group is None else np.asarray(group)[None],
                               n_groups=n_groups, times=padded["times"], weights=padded["weights"])

    @property
    def p(self) -> int:
        """Number of columns of the design."""
        return self.pieces.p

    @property
    def k(self) -> int:
        """Number of visits."""
        return self.mask.shape[-1]

    @property
    def n_sets(self) -> int:
        """Number of data sets ``T``."""
        return self.n.shape[0]

    def take(self, index: NDArray[np.intp]) -> PatternStats:
        """The data sets ``index``."""
        def pick(a: _Array | None) -> _Array | None:
            return take_optional(a, index)

        shared_u = self.subject_u.shape[0] == 1 and self.n_sets != 1
        return replace(self, n=self.n[index], mask=self.mask[index], uu=self.uu[index], uy=self.uy[index],
                       yy=self.yy[index], n_obs=self.n_obs[index],
                       subject_u=self.subject_u if shared_u else self.subject_u[index],
                       subject_y=self.subject_y[index], subject_slot=self.subject_slot[index],
                       group=pick(self.group), times=pick(self.times), log_weights=pick(self.log_weights),
                       visit_positions=pick(self.visit_positions), centre=pick(self.centre))

    def scaled(self, factor: FloatArray) -> PatternStats:
        """The same data with each data set's response divided by ``factor`` (T,)."""
        f = np.asarray(factor, dtype=float)
        return replace(self, uy=self.uy / f[:, None, None, None], yy=self.yy / (f**2)[:, None, None, None],
                       subject_y=self.subject_y / f[:, None, None],
                       centre=None if self.centre is None else self.centre / f[:, None])

    def design_sums(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``sum_i X_ia' X_ib`` (T, G, k, k, p, p), ``sum_i X_ia' y_ib`` (T, G, k, k, p) and ``YY`` per slot.

        Over the slot's visits (zero elsewhere). The pieces ``u`` of a missing visit need
        not be zero (the likelihood's ``W_g`` ignores them): every other use of the sums
        masks the missing visits.
        """
        pieces = self.pieces
        uu, uy = self.uu, self.uy
        if pieces.repeated:
            uu = np.tile(uu, (1, 1, pieces.k, pieces.k))
            uy = np.tile(uy, (1, 1, pieces.k, 1))
        # X_ia = sum_j S[a, j] u_ij C[j]: the pieces of visit a, at the slot's visits only.
        s = pieces.selector[None, None] * self.mask[:, :, :, None]
        xx = np.einsum("tgaj,tgjl,tgbl->tgabjl", s, uu, s)
        xy = np.einsum("tgaj,tgjb->tgabj", s, uy)
        return pieces.to_columns(xx, axes=2), pieces.to_columns(xy), self.yy


@dataclass(frozen=True)
class Evaluation:
    """The objective of one data set at one ``theta``, with what the fit and the inference need.

    ``hessian`` and ``q`` (the matrices ``X'V^-1 V_j V^-1 X``, so that
    ``d cov(beta) / d theta_j = cov(beta) Q_j cov(beta)``) are present for ``order=2``.
    """

    value: float
    beta: FloatArray
    beta_cov: FloatArray
    gradient: FloatArray | None = None
    hessian: FloatArray | None = None
    q: FloatArray | None = None


@dataclass(frozen=True, kw_only=True)
class BatchEvaluation(Evaluation):
    """The objective of each of ``T`` data sets at its ``theta``: the fields of :class:`Evaluation` with a leading
    axis over the data sets, and ``ok``.

    ``ok`` is False where ``Sigma`` or ``X'V^-1 X`` is not positive definite (``value``
    is then infinite). ``gradient`` comes with ``order`` 1 and 2, ``hessian`` with ``order=2``
    and ``q`` with ``order=2`` and ``exact``.
    """

    value: FloatArray  # type: ignore[assignment]  # one value per data set
    ok: BoolArray

    def member(self, t: int) -> Evaluation:
        """Data set ``t`` as an :class:`Evaluation`."""
        def pick(a: FloatArray | None) -> FloatArray | None:
            return take_optional(a, t)

        return Evaluation(value=float(self.value[t]), beta=self.beta[t], beta_cov=self.beta_cov[t],
                          gradient=pick(self.gradient), hessian=pick(self.hessian), q=pick(self.q))


def as_model(covariance: CovarianceStructure | CovarianceModel) -> CovarianceModel:
    """``covariance`` as a :class:`CovarianceModel` (one group for a bare structure)."""
    return covariance if isinstance(covariance, CovarianceModel) else CovarianceModel(covariance)


def _cholesky(a: FloatArray) -> tuple[FloatArray, BoolArray]:
    """Batched Cholesky factors of (..., n, n) and which matrices are positive definite (identity for the others)."""
    try:
        # numpy's stubs type linalg results as floating[Any]
        return cast(FloatArray, np.linalg.cholesky(a)), np.ones(a.shape[:-2], dtype=np.bool_)
    except np.linalg.LinAlgError:
        pass
    size = a.shape[-1]
    flat = a.reshape(-1, size, size)
    finite = np.all(np.isfinite(flat), axis=(1, 2))
    safe = np.where(finite[:, None, None], flat, np.eye(size))
    ok = finite & (np.linalg.eigvalsh(safe)[:, 0] > 0)
    chol = np.broadcast_to(np.eye(size), flat.shape).copy()
    try:
        chol[ok] = np.linalg.cholesky(safe[ok])
    except np.linalg.LinAlgError:
        for i in np.flatnonzero(ok):  # eigvalsh and potrf disagree at the edge of definiteness
            try:
                chol[i] = np.linalg.cholesky(safe[i])
            except np.linalg.LinAlgError:
                ok[i] = False
    return chol.reshape(a.shape), ok.reshape(a.shape[:-2])


def _inverses(mask: BoolArray, sigma: FloatArray) -> tuple[FloatArray, FloatArray, BoolArray]:
    """``W`` (T, G, k, k), the zero-padded inverse of ``Sigma`` over each slot's visits, ``log|Sigma_g|`` and ok (T,).

    ``sigma`` is (T, G, k, k), or (T, 1, k, k) for the same matrix in every slot.
    """
    k = mask.shape[-1]
    observed = mask.astype(float)
    both = observed[..., :, None] * observed[..., None, :]
    padded = sigma * both + np.eye(k) * (1.0 - observed)[..., None, :]
    chol, ok = _cholesky(padded)
    log_det = 2.0 * np.log(np.diagonal(chol, axis1=-2, axis2=-1)).sum(axis=-1)
    inv_chol = np.linalg.inv(chol)
    return (np.swapaxes(inv_chol, -1, -2) @ inv_chol) * both, log_det, np.all(ok, axis=1)


def pattern_inverses(stats: PatternStats, sigma: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``W_g`` (G, k, k) and ``log|Sigma_g|`` of a single data set; ``sigma`` (k, k) or one per slot (G, k, k).

    Raises ``numpy.linalg.LinAlgError`` when ``Sigma`` is not positive definite.
    """
    sigma = np.asarray(sigma, dtype=float)
    w, log_det, ok = _inverses(stats.mask[:1], sigma[None] if sigma.ndim == 3 else sigma[None, None])
    if not ok[0]:
        raise np.linalg.LinAlgError("Sigma is not positive definite")
    return w[0], log_det[0]


def cross_products(stats: PatternStats, w: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``X'WX`` (T, p, p), ``X'Wy`` (T, p) and ``y'Wy`` (T,)."""
    pieces = stats.pieces
    t_count, n_slots, k = w.shape[0], w.shape[1], w.shape[2]
    if pieces.repeated:
        # sum_g W_g kron ZZ_g and sum_g sum_b W_g[a, b] ZY_g[i, b].
        r = pieces.width
        zz = stats.uu.reshape(t_count, n_slots, r * r)
        xtwx = pieces.kron_to_columns((w.reshape(t_count, n_slots, k * k).transpose(0, 2, 1) @ zz).reshape(
            t_count, k, k, r, r))
        xtwy = pieces.to_columns((w @ stats.uy.transpose(0, 1, 3, 2)).sum(axis=1).reshape(t_count, k * r))
    else:
        w_pairs = np.take(w.reshape(t_count, n_slots, k * k), pieces.pairs, axis=2)
        xtwx = pieces.to_columns((w_pairs * stats.uu).sum(axis=1), axes=2)
        xtwy = pieces.to_columns((np.take(w, pieces.visit, axis=2) * stats.uy).sum(axis=(1, 3)))
    ywy = (w * stats.yy).sum(axis=(1, 2, 3))
    return xtwx, xtwy, ywy


def residual_crossproducts(stats: PatternStats, beta_t: FloatArray, cov_t: FloatArray | None) -> FloatArray:
    """Per slot ``sum_i r_i r_i'`` (+ ``sum_i X_i A X_i'`` for REML), (T, G, k, k); ``beta_t = C beta``, ``cov_t = C A C'``."""
    pieces = stats.pieces
    t_count, n_slots, k = stats.yy.shape[:3]
    quad = beta_t[:, :, None] * beta_t[:, None, :]
    if cov_t is not None:
        quad = quad + cov_t
    if pieces.repeated:
        # sum_i (X_i beta) y_i' and f_g[a, b] = sum_ij quad[(a, i), (b, j)] ZZ_g[i, j].
        r = pieces.width
        e = beta_t.reshape(t_count, 1, k, r) @ stats.uy
        zz = stats.uu.reshape(t_count, n_slots, r * r)
        blocks = quad.reshape(t_count, k, r, k, r).transpose(0, 2, 4, 1, 3).reshape(t_count, r * r, k * k)
        f = (zz @ blocks).reshape(t_count, n_slots, k, k)
    else:
        s = pieces.selector
        e = (s[None] * beta_t[:, None, :])[:, None] @ stats.uy
        f = s @ (quad[:, None] * stats.uu) @ s.T
    return stats.yy - e - e.transpose(0, 1, 3, 2) + f


def _residual_pieces(stats: PatternStats, beta_t: FloatArray) -> FloatArray:
    """``R_g[j, e] = sum_i u_ij (y_i - X_i beta)_e`` per slot: (T, G, w, k)."""
    pieces = stats.pieces
    t_count, k = beta_t.shape[0], pieces.k
    if pieces.repeated:
        b = beta_t.reshape(t_count, 1, k, pieces.width).transpose(0, 1, 3, 2)  # [i, e]: piece i at visit e
        return stats.uy - stats.uu @ b
    return stats.uy - stats.uu @ (beta_t[:, :, None] * pieces.selector.T[None])[:, None]


@dataclass(frozen=True)
class _SlotCovariance:
    """``Sigma`` of every slot and the derivatives of each group (or, ``per_unit``, of each slot).

    ``sigma`` (T, G, k, k) or (T, 1, k, k) shared; ``first`` (T, H, q_h, k, k), or (T, G,
    q_h, k, k) per unit; ``curvature`` contracts the second derivatives with matrices
    (T, H, k, k) (per unit (T, G, k, k)); ``membership`` (T, G, H) one-hot slot groups
    (``None`` for one group).
    """

    sigma: FloatArray
    first: FloatArray | None
    curvature: Curvature | None
    per_unit: bool
    membership: FloatArray | None

    def by_group(self, values: FloatArray) -> FloatArray:
        """Sums over the slots of each group: (T, G, ...) -> (T, H, ...)."""
        if self.membership is None:
            return values.sum(axis=1, keepdims=True)
        t_count, n_slots = values.shape[:2]
        flat = values.reshape(t_count, n_slots, -1)
        return (self.membership.transpose(0, 2, 1) @ flat).reshape(t_count, -1, *values.shape[2:])

    def contract(self, values: FloatArray) -> FloatArray:
        """``sum_g sum_ab D_j[a, b] V_g[a, b, ...]`` over each group's slots: (T, G, k, k, ...) -> (T, H, q_h, ...)."""
        assert self.first is not None
        t_count, n_slots, k = values.shape[:3]
        extra = values.shape[4:]
        q_h = self.first.shape[2]
        d = self.first.reshape(*self.first.shape[:3], k * k)
        if self.per_unit:
            per_slot = d @ values.reshape(t_count, n_slots, k * k, -1)
            return self.by_group(per_slot).reshape(t_count, -1, q_h, *extra)
        summed = self.by_group(values).reshape(t_count, -1, k * k, int(np.prod(extra, dtype=int)))
        return (d @ summed).reshape(t_count, -1, q_h, *extra)

    def slot_first(self, group: NDArray[np.intp] | None) -> FloatArray:
        """The derivatives of each slot's ``Sigma`` (T, G or 1, q_h, k, k)."""
        assert self.first is not None
        if self.per_unit or self.membership is None:
            return self.first
        assert group is not None
        return np.take_along_axis(self.first, group[:, :, None, None, None], axis=1)


def _slot_covariance(stats: PatternStats, model: CovarianceModel, theta: FloatArray, order: int) -> _SlotCovariance:
    structure, n_groups = model.structure, model.n_groups
    parts = model.split(theta)  # (T, H, q_h)
    membership = None
    if n_groups > 1:
        assert stats.group is not None, "grouped covariance needs the slots' groups"
        membership = (stats.group[:, :, None] == np.arange(n_groups)).astype(float)
    if structure.spatial and stats.times is not None:
        slot_theta = parts if n_groups == 1 or stats.group is None else np.take_along_axis(
            parts, stats.group[:, :, None], axis=1)
        slot_theta = np.broadcast_to(slot_theta, (*stats.n.shape, structure.n_params))
        sigma, first, second = structure.evaluate_at(slot_theta, stats.times[:, :, None], order)
        sigma = sigma[:, :, 0]
        first = None if first is None else first[:, :, 0]
        curvature: Curvature | None = None
        if second is not None:
            second = second[:, :, 0]

            def curvature(m: FloatArray) -> FloatArray:
                return np.einsum("tgjlab,tgab->tgjl", second, m)

        return _SlotCovariance(sigma, first, curvature, True, membership)
    sigma, first, curvature = structure.derivatives(parts, order)
    if n_groups > 1:
        assert stats.group is not None
        sigma = np.take_along_axis(sigma, stats.group[:, :, None, None], axis=1)
    return _SlotCovariance(sigma, first, curvature, False, membership)


def covariance_inverses(stats: PatternStats, covariance: CovarianceStructure | CovarianceModel,
                        theta: ArrayLike) -> tuple[FloatArray, BoolArray]:
    """``W_g`` (T, G, k, k) of every slot of every data set at its ``theta`` (T, q), and where ``Sigma`` is PD (T,)."""
    cov = _slot_covariance(stats, as_model(covariance), np.asarray(theta, dtype=float), 0)
    w, _, ok = _inverses(stats.mask, cov.sigma)
    return w, ok


def _pairwise_traces(cov: _SlotCovariance, w: FloatArray, z: FloatArray) -> FloatArray:
    """``out[h, j, l] = sum_(g in h) tr(D_j W_g D_l Z_g)``, (T, H, q_h, q_h).

    Summing ``W_g[b, c] Z_g[d, a]`` over the slots first leaves a ``k^4`` array per group,
    so the cost is ``G k^4 + q k^4`` rather than ``q^2 G k^2``.
    """
    assert cov.first is not None
    t_count, n_slots, k = w.shape[:3]
    if cov.per_unit:
        traces = np.einsum("tgjac,tglca->tgjl", cov.first @ w[:, :, None], cov.first @ z[:, :, None])
        return cov.by_group(traces)
    w_flat, z_flat = w.reshape(t_count, n_slots, k * k), z.reshape(t_count, n_slots, k * k)
    if cov.membership is None:
        summed = (w_flat.transpose(0, 2, 1) @ z_flat)[:, None]
    else:
        summed = np.einsum("tgh,tgx,tgy->thxy", cov.membership, w_flat, z_flat)
    n_groups = summed.shape[1]
    kernel = summed.reshape(t_count, n_groups, k, k, k, k).transpose(0, 1, 5, 2, 3, 4).reshape(
        t_count, n_groups, k * k, k * k)  # [(a, b), (c, d)] = sum_g W_g[b, c] Z_g[d, a]
    d = cov.first.reshape(t_count, n_groups, -1, k * k)
    return d @ kernel @ d.transpose(0, 1, 3, 2)


def _g_z(stats: PatternStats, cov: _SlotCovariance, w: FloatArray, beta_t: FloatArray) -> FloatArray:
    """``g_z[j] = X'V^-1 V_j P y`` (T, q, p): ``sum_g sum_cd D_j[c, d] (W_g X_i)[c]' (W_g r_i)[d]`` in the pieces."""
    pieces = stats.pieces
    t_count = w.shape[0]
    resid_w = _residual_pieces(stats, beta_t) @ w  # (T, G, w, k): R_g W_g
    if pieces.repeated:
        # Piece (a, i): W_g[c, a] (R_g W_g)[i, d].
        kernel = np.einsum("tgca,tgid->tgcdai", w, resid_w)
    else:
        kernel = np.einsum("tgjc,tgjd->tgcdj", np.take(w, pieces.visit, axis=2), resid_w)
    out = cov.contract(kernel)  # (T, H, q_h, ...) over the pieces
    return pieces.to_columns(out.reshape(t_count, -1, pieces.n_pieces))


def _q_matrices(stats: PatternStats, cov: _SlotCovariance, w: FloatArray) -> FloatArray:
    """``Q_j = X'V^-1 V_j V^-1 X`` (T, q, p, p): ``sum_g (W_g D_j W_g)[visit(j'), visit(l')] UU_g[j', l']``."""
    pieces = stats.pieces
    t_count, n_slots, k = w.shape[:3]
    first = cov.slot_first(stats.group)
    q_h = first.shape[2]
    w_d_w = w[:, :, None] @ first @ w[:, :, None]  # (T, G, q_h, k, k)
    membership = cov.membership if cov.membership is not None else np.ones((t_count, n_slots, 1))
    n_groups = membership.shape[2]
    counts = np.bincount(pieces.visit, minlength=k)
    p_t = pieces.n_pieces
    if pieces.repeated:
        # sum_g (W_g D_j W_g) kron ZZ_g, one matrix product over the slots of each group.
        r = pieces.width
        weighted = w_d_w.reshape(t_count, n_slots, 1, q_h * k * k) * membership[:, :, :, None]
        products = weighted.transpose(0, 2, 3, 1) @ stats.uu.reshape(t_count, 1, n_slots, r * r)
        return pieces.kron_to_columns(products.reshape(t_count, n_groups * q_h, k, k, r, r))
    if np.all(counts == counts[0]):
        # Pieces come ordered by visit: with as many at each visit, the blocks are one batched product.
        r = int(counts[0])
        out = np.einsum("tgh,tgqab,tgaibj->thqaibj", membership, w_d_w,
                        stats.uu.reshape(t_count, n_slots, k, r, k, r), optimize=True)
    else:
        out = np.zeros((t_count, n_groups, q_h, p_t, p_t))
        groups = [np.flatnonzero(pieces.visit == a) for a in range(k)]
        for a, rows in enumerate(groups):
            for b, cols in enumerate(groups):
                if rows.size == 0 or cols.size == 0:
                    continue
                block = stats.uu[:, :, rows[:, None], cols[None]].reshape(t_count, n_slots, rows.size * cols.size)
                coef = np.einsum("tgh,tgq->thqg", membership, w_d_w[:, :, :, a, b])
                out[:, :, :, rows[:, None], cols[None]] = (coef @ block[:, None]).reshape(
                    t_count, n_groups, q_h, rows.size, cols.size)
    return pieces.to_columns(out.reshape(t_count, n_groups * q_h, p_t, p_t), axes=2)


def q_matrices(stats: PatternStats, covariance: CovarianceStructure | CovarianceModel, theta: ArrayLike) -> FloatArray:
    """Satterthwaite's ``Q_j = X'V^-1 V_j V^-1 X`` (T, q, p, p) of every data set at its ``theta`` (T, q): the
    ``q`` of :func:`evaluate_batch` (``order=2``) alone, without the likelihood and its derivatives.

    Examples
    --------
    >>> from dosefinding.mmrm.covariance import get_structure
    >>> x = np.ones((4, 1)); y = np.array([1.0, 2.0, 2.0, 4.0])
    >>> stats = PatternStats.from_rows(x, y, subject=np.array([0, 1, 2, 3]), visit=np.zeros(4, int), k=1)
    >>> theta = np.zeros((1, 1))
    >>> q_matrices(stats, get_structure("us", 1), theta).tolist() == evaluate_batch(
    ...     stats, get_structure("us", 1), theta, reml=True, order=2).q.tolist()
    True
    """
    cov = _slot_covariance(stats, as_model(covariance), np.asarray(theta, dtype=float), 1)
    w, _, _ = _inverses(stats.mask, cov.sigma)
    return _q_matrices(stats, cov, w)


def evaluate_batch(
    stats: PatternStats,
    covariance: CovarianceStructure | CovarianceModel,
    theta: ArrayLike,
    *,
    reml: bool,
    order: int = 1,
    exact: bool = True,
) -> BatchEvaluation:
    """-2 (restricted) log likelihood of each data set at its ``theta`` (T, q); gradient (order >= 1), Hessian (2).

    ``exact=False`` leaves REML's ``-tr(A Q_j A Q_l)`` out of the Hessian and does not
    return ``q`` (see the module docstring).

    Examples
    --------
    >>> from dosefinding.mmrm.covariance import get_structure
    >>> x = np.ones((4, 1)); y = np.array([1.0, 2.0, 2.0, 4.0])
    >>> stats = PatternStats.from_rows(x, y, subject=np.array([0, 1, 2, 3]), visit=np.zeros(4, int), k=1)
    >>> e = evaluate_batch(stats, get_structure("us", 1), np.zeros((1, 1)), reml=True)
    >>> e.value.round(6).tolist(), e.ok.tolist()
    ([11.649926], [True])
    """
    model = as_model(covariance)
    theta = np.asarray(theta, dtype=float)
    pieces = stats.pieces
    t_count, p = stats.n_sets, pieces.p
    cov = _slot_covariance(stats, model, theta, order)
    w, log_det, ok_sigma = _inverses(stats.mask, cov.sigma)
    xtwx, xtwy, ywy = cross_products(stats, w)
    chol_x, ok_x = _cholesky(xtwx)
    inv_chol_x = np.linalg.inv(chol_x)
    beta_cov = inv_chol_x.transpose(0, 2, 1) @ inv_chol_x
    # Through the triangular factors, not beta_cov: -2LL uses y'Wy - beta'X'Wy, first-order in beta's error.
    beta = (inv_chol_x.transpose(0, 2, 1) @ (inv_chol_x @ xtwy[:, :, None]))[:, :, 0]
    value = (stats.n * log_det).sum(axis=1) + ywy - (beta * xtwy).sum(axis=1)
    if stats.log_weights is not None:
        value = value - stats.log_weights  # log|W^-1/2 Sigma W^-1/2| = log|Sigma| - sum log w
    if reml:
        value = value + 2.0 * np.log(np.diagonal(chol_x, axis1=1, axis2=2)).sum(axis=1) + (stats.n_obs - p) * _LOG_2PI
    else:
        value = value + stats.n_obs * _LOG_2PI
    ok = ok_sigma & ok_x & np.isfinite(value)
    value = np.where(ok, value, np.inf)
    given = beta if stats.centre is None else beta + stats.centre  # the estimates of the responses as given
    if order == 0:
        return BatchEvaluation(value=value, beta=given, ok=ok, beta_cov=beta_cov)
    beta_t = pieces.from_columns(beta)
    cov_t = None
    if reml:
        cov_t = pieces.from_columns(beta_cov, axes=2)
    w_middle_w = w @ residual_crossproducts(stats, beta_t, cov_t) @ w
    n = stats.n[:, :, None, None]
    m = n * w - w_middle_w  # per slot; the gradient is sum_g tr(D_j m_g)
    q = theta.shape[1]
    gradient = cov.contract(m).reshape(t_count, q)
    if order == 1:
        return BatchEvaluation(value=value, beta=given, ok=ok, beta_cov=beta_cov, gradient=gradient)

    # sum_g tr(D_j W D_k Z_g) collects -tr(V^-1 V_j V^-1 V_k), the quadratic term's
    # 2 y'P V_j V^-1 V_k P y and (REML) the 2 tr(V^-1 V_j V^-1 X A X'V^-1 V_k) of tr(P V_j P V_k).
    z = 2.0 * w_middle_w - n * w
    assert cov.curvature is not None
    within = (cov.curvature(m) if cov.per_unit else cov.curvature(cov.by_group(m)))
    if cov.per_unit:
        within = cov.by_group(within)
    within = within + _pairwise_traces(cov, w, z)
    n_groups, q_h = within.shape[1], within.shape[2]
    hessian = np.zeros((t_count, q, q))
    for h in range(n_groups):
        block = slice(h * q_h, (h + 1) * q_h)
        hessian[:, block, block] = within[:, h]
    g_z = _g_z(stats, cov, w, beta_t)
    hessian -= 2.0 * g_z @ beta_cov @ g_z.transpose(0, 2, 1)
    q_mats = None
    if exact:
        q_mats = _q_matrices(stats, cov, w)
        if reml:
            a_q = beta_cov[:, None] @ q_mats  # tr(A Q_j A Q_l) = sum_ab (A Q_j)[a, b] (A Q_l)[b, a]
            hessian -= a_q.reshape(t_count, q, -1) @ a_q.transpose(0, 3, 2, 1).reshape(t_count, -1, q)
    hessian = 0.5 * (hessian + hessian.transpose(0, 2, 1))
    return BatchEvaluation(value=value, beta=given, ok=ok, beta_cov=beta_cov, gradient=gradient, hessian=hessian,
                           q=q_mats)


def evaluate(
    stats: PatternStats,
    structure: CovarianceStructure | CovarianceModel,
    theta: ArrayLike,
    *,
    reml: bool,
    order: int = 1,
) -> Evaluation:
    """-2 (restricted) log likelihood of a single data set at ``theta`` (q,); gradient (order >= 1), Hessian (2).

    The batch of one of :func:`evaluate_batch` (the Hessian exact, with ``q``).
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
    e = evaluate_batch(stats, structure, np.asarray(theta, dtype=float)[None], reml=reml, order=order)
    if not e.ok[0]:
        raise np.linalg.LinAlgError("Sigma or X'V^-1 X is not positive definite")
    return e.member(0)


@dataclass(frozen=True)
class CovarianceBlock:
    """One group's share of the covariance of a single data set: its slots, its slice of ``theta``, derivatives.

    ``first`` is (q, k, k), shared by the block's slots, or (slots, q, k, k) when
    ``per_unit`` (each subject its own slot, with its own times).
    """

    units: NDArray[np.intp]
    params: slice
    first: FloatArray
    per_unit: bool
    every_unit: bool

    def select(self, per_unit_values: FloatArray) -> FloatArray:
        """The block's rows of an array over all slots (no copy when the block has them all)."""
        return per_unit_values if self.every_unit else per_unit_values[self.units]


def covariance_blocks(
    stats: PatternStats, covariance: CovarianceStructure | CovarianceModel, theta: ArrayLike
) -> tuple[list[CovarianceBlock], FloatArray]:
    """Each group's :class:`CovarianceBlock` and each slot's ``Sigma`` (G, k, k), for a single data set.

    Examples
    --------
    >>> from dosefinding.mmrm.covariance import get_structure
    >>> stats = PatternStats.from_rows(np.ones((2, 1)), np.zeros(2), subject=np.array([0, 1]),
    ...                                visit=np.array([0, 1]), k=2)
    >>> blocks, sigma = covariance_blocks(stats, get_structure("cs", 2), np.zeros(2))
    >>> len(blocks), blocks[0].first.shape, sigma.shape
    (1, (2, 2, 2), (2, 2, 2))
    """
    model = as_model(covariance)
    cov = _slot_covariance(stats, model, np.asarray(theta, dtype=float)[None], 1)
    assert cov.first is not None
    n_slots, k, q_h = stats.n.shape[1], stats.k, model.structure.n_params
    groups = np.zeros(n_slots, dtype=np.intp) if stats.group is None else stats.group[0]
    blocks = []
    for h in range(model.n_groups):
        members = np.arange(n_slots) if model.n_groups == 1 else np.flatnonzero(groups == h)
        first = cov.first[0, members] if cov.per_unit else cov.first[0, h]
        blocks.append(CovarianceBlock(members, slice(h * q_h, (h + 1) * q_h), first, cov.per_unit,
                                      every_unit=len(members) == n_slots))
    return blocks, np.broadcast_to(cov.sigma[0], (n_slots, k, k)).copy()


def weighted_crossproducts(stats: PatternStats, w: FloatArray) -> FloatArray:
    """``C_g[a, b] = sum_i (W_g X_i)_a' (W_g X_i)_b`` (G, k, k, p, p) over each slot of a single data set.

    ``(W_g X_i)[a] = sum_j W_g[a, visit(j)] u_ij C[j]``, so ``C_g[a, b]`` is
    ``C' (W_g[a, visit] o UU_g o W_g[b, visit]) C`` (``o`` elementwise, over pairs of pieces).
    """
    pieces = stats.pieces
    uu = stats.uu[0]
    if pieces.repeated:
        uu = np.tile(uu, (1, pieces.k, pieces.k))
    rows = w[:, :, pieces.visit]  # (G, k, p'): W_g[a, visit(j)]
    out = rows[:, :, None, :, None] * uu[:, None, None] * rows[:, None, :, None, :]
    return pieces.to_columns(out, axes=2)
