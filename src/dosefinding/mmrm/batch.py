"""One MMRM fitted to many data sets at once: the first stage of simulated trials.

:func:`fit_mmrm_batch` fits the model of :func:`dosefinding.mmrm.mmrm` to ``T`` trials that
share the design's layout: responses ``y`` (T, N, V) with NaN at the missing visits and a
design ``x`` (N, V, p) shared by all trials or (T, N, V, p) per trial. There is one MMRM
engine (:mod:`dosefinding.mmrm.engine`): the covariance structures, the likelihood, the
starting values, the scaling and the optimiser are those of ``mmrm()``, which is the batch of
one. This module only checks the arrays, splits the design into visit pieces once
(:class:`~dosefinding.mmrm.likelihood.VisitPieces`), builds the per-pattern sums of each
chunk of trials and collects the fits with their inference (Satterthwaite, residual,
between-within or Kenward-Roger degrees of freedom of any contrast, per trial).

A trial is fitted independently of the others: its numbers do not depend on the trials
it is batched with.

Memory. The trials are fitted in chunks of ``chunk_size``; a batch of several chunks keeps,
per trial, the estimates and their covariance, ``Sigma``, ``theta`` and (Satterthwaite) the
covariance of ``theta``: ``p + p^2 + V^2 + q + q^2`` numbers (about 11 kB for A2201's
``p = 30``, ``V = 6``, ``q = 21``), beside the responses. Satterthwaite's ``Q`` matrices
(``q p^2`` numbers a trial, 150 kB for A2201) are not kept: each chunk's are recomputed from
its data at its optimum whenever degrees of freedom are asked for
(:class:`RecomputedSatterthwaite`), so that at most one chunk's are in memory. A batch of
one chunk keeps them (no recomputation). A trial that the data do not identify
(:mod:`dosefinding.mmrm.identifiability`), whose ``X'V^-1 X`` is singular, or that does
not converge comes back with ``converged = False`` and the reason in ``notes`` (estimates
NaN when no optimum was reached); the other trials are not affected.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, TypeVar, cast

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from dosefinding.errors import InputError
from dosefinding.mmrm.covariance import CovarianceModel, get_structure
from dosefinding.mmrm.empirical import sandwich
from dosefinding.mmrm.engine import MMRMFit, fit_stats
from dosefinding.mmrm.fit import check_options
from dosefinding.mmrm.identifiability import identifiability
from dosefinding.mmrm.inference import BetweenWithin, CoefficientInference, KenwardRoger, ResidualDF, Satterthwaite
from dosefinding.mmrm.kenward_roger import kenward_roger
from dosefinding.mmrm.likelihood import PatternStats, VisitPieces, covariance_inverses, q_matrices
from dosefinding.summary import Summary, SummaryDisplay, short_repr
from dosefinding.validation import as_positive_int

__all__ = ["BatchMMRMResult", "ChunkData", "ChunkedInference", "RecomputedSatterthwaite", "fit_mmrm_batch"]

FloatArray = NDArray[np.float64]
_Array = TypeVar("_Array", bound="np.ndarray[Any, Any]")
BoolArray = NDArray[np.bool_]
_CHUNK = 128


@dataclass(frozen=True)
class BatchMMRMResult(SummaryDisplay):
    """MMRM fits of many trials with the same model.

    Attributes
    ----------
    beta, beta_cov
        Estimates (T, p) and their covariance (T, p, p): model-based ``(X'V^-1 X)^-1``,
        the sandwich (``vcov="empirical"``) or Kenward-Roger's adjusted one.
    sigma
        The covariance matrix over the visits (T, V, V); with ``group``, one per group
        (T, groups, V, V).
    theta
        The variance parameters as :mod:`dosefinding.mmrm.covariance` defines them (T, q).
    m2_log_likelihood
        SAS's -2 Res Log Likelihood (REML) or -2 Log Likelihood (ML), (T,).
    converged
        Whether each fit met ``mmrm()``'s criterion (T,); the estimates of the others are
        those of the last point reached (NaN when none was).
    iterations
        Batched Newton iterations per trial (T,).
    n_obs
        Observations used per trial (T,).
    notes
        Why a trial did not converge ("" for the converged ones).
    inference
        The covariance of the estimates and the degrees of freedom of contrasts, per trial
        (:meth:`df`).
    covariance_structure, reml, df_method, vcov
        The model as fitted.
    """

    beta: FloatArray
    beta_cov: FloatArray
    sigma: FloatArray
    theta: FloatArray
    m2_log_likelihood: FloatArray
    converged: BoolArray
    iterations: NDArray[np.int64]
    n_obs: NDArray[np.int64]
    notes: tuple[str, ...]
    inference: CoefficientInference
    covariance_structure: str
    reml: bool = True
    df_method: str = "satterthwaite"
    vcov: str = "asymptotic"

    def _contrasts(self, contrasts: ArrayLike) -> FloatArray:
        c = np.atleast_2d(np.asarray(contrasts, dtype=float))
        p = self.beta.shape[1]
        if c.ndim not in (2, 3) or c.shape[-1] != p or (c.ndim == 3 and c.shape[0] != len(self.beta)):
            raise InputError(f"contrasts: need shape (m, {p}) or ({len(self.beta)}, m, {p}), got {np.shape(contrasts)}")
        if not np.all(np.isfinite(c)):
            raise InputError("contrasts: must be finite")
        return c

    def contrast(self, contrasts: ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Estimates (T, m) and covariance (T, m, m) of ``L beta`` for the rows of ``contrasts`` (m, p) or (T, m, p).

        Examples
        --------
        >>> import numpy as np
        >>> from dosefinding.mmrm import fit_mmrm_batch
        >>> rng = np.random.default_rng(2)
        >>> x = np.repeat(np.eye(2), 20, axis=0)[:, None, :].repeat(3, axis=1)  # 2 arms x 20 subjects, 3 visits
        >>> x = np.concatenate([x, np.tile(np.eye(3)[:, 1:], (40, 1, 1))], axis=2)  # arm means + visit effects
        >>> fit = fit_mmrm_batch(rng.normal(size=(5, 40, 3)) + 0.5 * x[None, :, :, 1], x)  # 5 simulated trials
        >>> estimate, cov = fit.contrast([[-1, 1, 0, 0]])  # treatment - control, per trial
        >>> estimate.shape, cov.shape, fit.df([[-1, 1, 0, 0]]).shape
        ((5, 1), (5, 1, 1), (5, 1))
        """
        c = self._contrasts(contrasts)
        per_trial = np.broadcast_to(c, (len(self.beta), *c.shape[-2:]))
        return np.einsum("tmp,tp->tm", per_trial, self.beta), c @ self.beta_cov @ np.swapaxes(c, -1, -2)

    def df(self, contrasts: ArrayLike) -> FloatArray:
        """Degrees of freedom (T, m) of the rows of ``contrasts`` (m, p) or (T, m, p), by :attr:`df_method`.

        The example of :meth:`contrast` shows both.
        """
        return self.inference.df(self._contrasts(contrasts))

    def to_frame(self) -> pd.DataFrame:
        """One row per trial: ``converged``, ``iterations``, ``n_obs``, ``m2_log_likelihood`` and ``note``."""
        return pd.DataFrame({"converged": self.converged, "iterations": self.iterations, "n_obs": self.n_obs,
                             "m2_log_likelihood": self.m2_log_likelihood, "note": list(self.notes)},
                            index=pd.RangeIndex(len(self.converged), name="trial"))

    def __repr__(self) -> str:
        return short_repr(self, trials=len(self.converged), converged=int(self.converged.sum()),
                          covariance=self.covariance_structure, method="REML" if self.reml else "ML",
                          df_method=self.df_method, vcov=self.vcov, coefficients=self.beta.shape[1])

    def summary(self) -> Summary:
        """A short account of the batch: trials, convergence, iterations and -2 log likelihoods."""
        likelihood = "-2 Res Log Likelihood" if self.reml else "-2 Log Likelihood"
        ll = self.m2_log_likelihood[self.converged]
        lines = [
            (f"Batch MMRM: {len(self.converged)} trials, covariance {self.covariance_structure}, "
             f"{'REML' if self.reml else 'ML'}, {self.df_method} df"),
            (f"Converged: {int(self.converged.sum())} of {len(self.converged)}; "
             f"iterations median {float(np.median(self.iterations)):.0f}, max {int(self.iterations.max())}"),
        ]
        if ll.size:
            lines.append(f"{likelihood} (converged): median {float(np.median(ll)):.4f}, "
                         f"range {float(ll.min()):.4f} to {float(ll.max()):.4f}")
        reasons = sorted({note for note in self.notes if note})
        lines += [f"Not converged: {note}" for note in reasons[:5]]
        return Summary(lines, frame=self.to_frame())



def _numeric(name: str, value: ArrayLike) -> FloatArray:
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}: must be numeric ({exc})") from None


def _per_trial(name: str, value: ArrayLike | None, shape: tuple[int, ...], trailing: int = 0) -> FloatArray | None:
    """``value`` as (T or 1, *shape[1:], trailing axes), or InputError naming ``name``."""
    if value is None:
        return None
    array = _numeric(name, value)
    core = array.shape[: array.ndim - trailing] if trailing else array.shape
    if core == shape[1:]:
        return array[None]
    if core != shape:
        raise InputError(f"{name}: shape {array.shape} does not match y's {shape} (need {shape[1:]} or {shape}"
                         f"{' plus the coordinate axis' if trailing else ''})")
    return array


def _check(y: ArrayLike, x: ArrayLike) -> tuple[FloatArray, FloatArray]:
    y_arr, x_arr = _numeric("y", y), _numeric("x", x)
    if y_arr.ndim != 3:
        raise InputError(f"y: must have shape (trials, subjects, visits), got {y_arr.shape}")
    t_count, n_subjects, k = y_arr.shape
    if x_arr.ndim == 3:
        expected: tuple[int, ...] = (n_subjects, k)
        got = x_arr.shape[:2]
    elif x_arr.ndim == 4:
        expected, got = (t_count, n_subjects, k), x_arr.shape[:3]
    else:
        raise InputError(f"x: must have shape (subjects, visits, p) or (trials, subjects, visits, p), got {x_arr.shape}")
    if got != expected:
        raise InputError(f"x: shape {x_arr.shape} does not match y's {y_arr.shape} (need {expected} + (p,))")
    if t_count == 0 or k == 0 or x_arr.shape[-1] == 0:
        raise InputError(f"y, x: need at least one trial, visit and design column, got y {y_arr.shape}, "
                         f"x {x_arr.shape}")
    if not np.all(np.isfinite(x_arr)):
        raise InputError("x: must be finite (NaN or infinity found)")
    if np.any(np.isinf(y_arr)):
        raise InputError("y: must be finite or NaN (missing); infinity found")
    return y_arr, x_arr if x_arr.ndim == 4 else x_arr[None]


def _model(covariance: str, k: int, group: NDArray[np.intp] | None, times: FloatArray | None,
           coordinates: bool, observed: BoolArray) -> tuple[CovarianceModel, FloatArray | None]:
    """The covariance model and the per-subject positions to pass on (None when every subject shares them).

    The structure's own positions (its reported matrix and starting values) are each visit's mean over the
    observed visits of all trials, as ``mmrm()`` takes them over the used rows.
    """
    spatial = type(get_structure(covariance, max(k, 2))).spatial  # InputError for an unknown name
    if spatial and times is None:
        raise InputError(f"covariance: {covariance!r} is spatial and needs times=")
    if times is not None and not spatial:
        raise InputError(f"times: only spatial covariance structures use times, not {covariance!r}")
    visit_positions = None
    per_subject = None
    if times is not None:
        if not np.all(np.isfinite(times)):
            raise InputError("times: must be finite")
        full = np.broadcast_to(times, (*observed.shape, *times.shape[3:]))
        weight = observed.reshape(*observed.shape, *[1] * (times.ndim - 3)).astype(float)
        visit_positions = (full * weight).sum(axis=(0, 1)) / np.maximum(weight.sum(axis=(0, 1)), 1.0)
        flat = full[observed]
        visits = np.nonzero(observed)[2]
        if not np.array_equal(flat, visit_positions[visits]):
            per_subject = times
    structure = get_structure(covariance, k, times=None if visit_positions is None else visit_positions)
    if coordinates != (times is not None and times.ndim == 4):
        raise InputError("times: with coordinates=True give (subjects, visits, d) or (trials, subjects, visits, d) "
                         "positions; without, (subjects, visits) or (trials, subjects, visits) times")
    if group is None:
        return CovarianceModel(structure), per_subject
    n_groups = int(group.max()) + 1
    return CovarianceModel(structure, groups=tuple(str(h) for h in range(n_groups)), column="group"), per_subject


def _groups(group: ArrayLike | None, shape: tuple[int, ...]) -> NDArray[np.intp] | None:
    array = _per_trial("group", group, shape[:2])
    if array is None:
        return None
    if not np.all((array >= 0) & (array == np.round(array))):
        raise InputError("group: must hold integer codes 0, 1, ... per subject")
    codes = array.astype(np.intp)
    present = np.unique(codes)
    if not np.array_equal(present, np.arange(present.size)):
        raise InputError(f"group: codes must be 0..H-1 with every code present, got {present.tolist()}")
    return codes


def _between_within(fit: MMRMFit, u: FloatArray, pieces: VisitPieces, observed: BoolArray,
                    beta_cov: FloatArray) -> BetweenWithin:
    """Between-within df per trial from its observed design rows (a loop over the trials)."""
    coefficient_df = np.empty((len(observed), pieces.p))
    x_rows = (u[..., None, :] * pieces.selector)  # (T or 1, N, k, p'): the pieces of each visit's row
    for t in range(len(observed)):
        subject, visit = np.nonzero(observed[t])
        rows = pieces.to_columns(x_rows[min(t, len(x_rows) - 1), subject, visit])
        coefficient_df[t] = BetweenWithin.from_design(beta_cov[t], rows, subject).coefficient_df
    return BetweenWithin(beta_cov=beta_cov, coefficient_df=coefficient_df)


def _kenward_roger(fit: MMRMFit, linear: bool) -> KenwardRoger:
    """Kenward-Roger per trial: :func:`~dosefinding.mmrm.kenward_roger.kenward_roger` on each fit (a loop)."""
    t_count, p, q = fit.beta.shape[0], fit.beta.shape[1], fit.model.n_params
    parts = {"beta_cov": np.full((t_count, p, p), np.nan), "phi": np.full((t_count, p, p), np.nan),
             "p": np.full((t_count, q, p, p), np.nan), "theta_cov": np.full((t_count, q, q), np.nan)}
    for t in np.flatnonzero(fit.fitted):
        one = kenward_roger(fit.stats.take(np.array([t])), fit.model, fit.theta_scaled[t], fit.evaluation.member(int(t)),
                            linear=linear).scaled(fit.scale[t])
        for name, values in parts.items():
            values[t] = getattr(one, name)
    return KenwardRoger(**parts)


def _inference(fit: MMRMFit, df_method: str, vcov: str, u: FloatArray, pieces: VisitPieces,
               observed: BoolArray, data: ChunkData | None) -> CoefficientInference:
    if df_method == "satterthwaite":
        full = fit.satterthwaite()
        if data is None:
            return full
        return RecomputedSatterthwaite(beta_cov=full.beta_cov, theta_cov=full.theta_cov, q_scale=fit.scale**2,
                                       data=replace(data, theta=fit.hessian_theta, scale=fit.scale,
                                                    fitted=fit.fitted))
    if df_method.startswith("kenward_roger"):
        return _kenward_roger(fit, linear=df_method == "kenward_roger_linear")
    beta_cov = fit.beta_cov
    if vcov == "empirical":
        theta = np.where(fit.fitted[:, None], fit.theta_scaled, 0.0)
        w, _ = covariance_inverses(fit.stats, fit.model, theta)
        scaled = sandwich(fit.stats, w, fit.evaluation.beta, fit.evaluation.beta_cov)
        beta_cov = np.where(fit.fitted[:, None, None], scaled * (fit.scale**2)[:, None, None], np.nan)
    if df_method == "between_within":
        return _between_within(fit, u, pieces, observed, beta_cov)
    return ResidualDF(beta_cov=beta_cov, residual_df=fit.stats.n_obs - fit.stats.p)


def fit_mmrm_batch(
    y: ArrayLike,
    x: ArrayLike,
    *,
    covariance: str = "us",
    reml: bool = True,
    df_method: str = "satterthwaite",
    vcov: str = "asymptotic",
    group: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    times: ArrayLike | None = None,
    coordinates: bool = False,
    max_iter: int = 50,
    chunk_size: int = _CHUNK,
) -> BatchMMRMResult:
    """Fit one MMRM (``mmrm()``'s model, likelihood, optimiser and convergence criterion) to each of many trials.

    Parameters
    ----------
    y
        Responses (T, N, V): T trials of N subjects at V visits, NaN at a missing visit
        (any pattern, monotone or not; a subject without any visit takes no part).
    x
        Design (N, V, p) shared by all trials, or (T, N, V, p) per trial: row ``x[i, a]``
        is subject ``i``'s design row at visit ``a`` (e.g. cell means of arm by visit and
        baseline by visit). Columns must be linearly independent (a trial where they are
        not is not fitted).
    covariance
        Any structure of :func:`~dosefinding.mmrm.mmrm`: ``"us"``, ``"cs"``, ``"csh"``,
        ``"ar1"``, ``"ar1h"``, ``"toep"``, ``"toeph"``, ``"ad"``, ``"adh"``, ``"sp_exp"``.
    reml
        Restricted (SAS's default) or full maximum likelihood.
    df_method, vcov
        As :func:`~dosefinding.mmrm.mmrm`: ``"satterthwaite"``, ``"residual"``,
        ``"between_within"``, ``"kenward_roger"`` or ``"kenward_roger_linear"`` (the last
        three computed trial by trial); ``"asymptotic"`` or ``"empirical"``.
    group
        Covariance group codes 0..H-1 per subject, (N,) or (T, N) (SAS's ``GROUP=``).
    weights
        Positive weights (N, V) or (T, N, V) at the observed visits (SAS's WEIGHT).
    times
        For ``"sp_exp"``: each subject's visit times (N, V) or (T, N, V), or with
        ``coordinates=True`` its visit coordinates (N, V, d) or (T, N, V, d).
    max_iter
        Batched Newton iterations before a trial goes to the fallback chain.
    chunk_size
        Trials fitted together. Memory grows with it (Satterthwaite's ``Q`` matrices of a
        chunk, ``q p^2`` numbers a trial, and the intermediates of its fit); beyond one
        chunk the result keeps ``p + p^2 + V^2 + q + q^2`` numbers a trial (see the module
        docstring). The numbers do not depend on it.

    Returns
    -------
    BatchMMRMResult

    Raises
    ------
    InputError
        For shapes that do not match, non-finite ``x``, infinite ``y``, columns of ``x``
        aliased in every trial, or an unknown option.

    Examples
    --------
    The design of a data frame comes from :func:`dosefinding.mmrm.data.prepare_data`; here
    fev_data and, as a second trial, the same responses plus 1:

    >>> import numpy as np
    >>> from dosefinding.datasets import fev_data
    >>> from dosefinding.mmrm import mmrm
    >>> from dosefinding.mmrm.data import prepare_data
    >>> data = fev_data()  # 200 subjects x 4 visits, FEV1 missing at 263 visits
    >>> model = prepare_data("FEV1 ~ ARMCD * AVISIT", data.fillna({"FEV1": 0.0}), subject="USUBJID", visit="AVISIT")
    >>> x = np.zeros((200, 4, len(model.columns)))
    >>> x[model.subject, model.visit] = model.x
    >>> y = np.full((2, 200, 4), np.nan)
    >>> y[:, model.subject, model.visit] = data["FEV1"].to_numpy()
    >>> y[1] += 1.0
    >>> fit = fit_mmrm_batch(y, x)
    >>> fit.beta.shape, fit.sigma.shape, bool(fit.converged.all())
    ((2, 8), (2, 4, 4), True)
    >>> one = mmrm("FEV1 ~ ARMCD * AVISIT", data, subject="USUBJID", visit="AVISIT")
    >>> bool(np.allclose(fit.beta[0], one.coefficients, rtol=1e-8))
    True
    >>> bool(np.allclose(fit.beta[1] - fit.beta[0], [1, 0, 0, 0, 0, 0, 0, 0]))  # only the intercept moves
    True
    """
    y_arr, x_arr = _check(y, x)
    check_options(df_method, vcov, reml, covariance)
    max_iter = as_positive_int(max_iter, "max_iter")
    chunk = as_positive_int(chunk_size, "chunk_size")
    t_count, _, k = y_arr.shape
    group_codes = _groups(group, y_arr.shape)
    weight_arr = _per_trial("weights", weights, y_arr.shape)
    if weight_arr is not None:
        observed_weights = np.broadcast_to(weight_arr, y_arr.shape)[~np.isnan(y_arr)]
        if not np.all(np.isfinite(observed_weights) & (observed_weights > 0)):
            raise InputError("weights: must be positive and finite at every observed visit")
    time_arr = _per_trial("times", times, y_arr.shape, trailing=1 if coordinates else 0)
    model, per_subject_times = _model(covariance, k, group_codes, time_arr, coordinates, ~np.isnan(y_arr))
    u, pieces = VisitPieces.split(x_arr)
    if pieces.basis is not None and np.linalg.matrix_rank(pieces.basis) < pieces.p:
        raise InputError("x: its columns are linearly dependent in every trial (aliased columns); drop them")
    q, p = model.n_params, pieces.p
    out = {"beta": np.empty((t_count, p)), "beta_cov": np.empty((t_count, p, p)), "theta": np.empty((t_count, q)),
           "value": np.empty(t_count), "converged": np.empty(t_count, dtype=bool),
           "iterations": np.empty(t_count, dtype=np.int64)}
    sigma = np.empty((t_count, model.n_groups, k, k))
    notes: list[str] = []
    inferences: list[tuple[int, CoefficientInference]] = []
    observed = ~np.isnan(y_arr)

    def pick(array: _Array | None, part: slice) -> _Array | None:
        return array if array is None or len(array) == 1 else cast(_Array, array[part])  # numpy: ndarray[Any]

    for start in range(0, t_count, chunk):
        part = slice(start, min(start + chunk, t_count))
        u_part = u if len(u) == 1 else u[part]
        stats = PatternStats.from_arrays(y_arr[part], u_part, pieces, group=pick(group_codes, part),
                                         n_groups=model.n_groups, times=pick(per_subject_times, part),
                                         weights=pick(weight_arr, part))
        reasons = identifiability(stats, model, reml=reml)
        fit = fit_stats(stats, model, reml=reml, max_iter=max_iter, valid=np.array([not r for r in reasons]))
        data = None
        if t_count > chunk:
            data = ChunkData(y=y_arr[part], u=u_part, pieces=pieces, group=pick(group_codes, part),
                             n_groups=model.n_groups, times=pick(per_subject_times, part),
                             weights=pick(weight_arr, part), model=model)
        inference = _inference(fit, df_method, vcov, u_part, stats.pieces, observed[part], data)
        inferences.append((start, inference))
        out["beta"][part], out["beta_cov"][part], out["theta"][part] = fit.beta, inference.beta_cov, fit.theta
        out["value"][part], out["converged"][part], out["iterations"][part] = (fit.m2_log_likelihood, fit.converged,
                                                                               fit.iterations)
        sigma[part] = fit.sigma()
        for t, reason in enumerate(reasons):
            notes.append("" if fit.converged[t] else reason or "; ".join(fit.attempts[t]))
        del fit, stats  # the next chunk's are built before these go otherwise
    return BatchMMRMResult(
        beta=out["beta"], beta_cov=out["beta_cov"], sigma=sigma[:, 0] if model.n_groups == 1 else sigma,
        theta=out["theta"], m2_log_likelihood=out["value"], converged=out["converged"], iterations=out["iterations"],
        n_obs=observed.sum(axis=(1, 2)), notes=tuple(notes),
        inference=inferences[0][1] if len(inferences) == 1 else ChunkedInference(beta_cov=out["beta_cov"],
                                                                               chunks=tuple(inferences)),
        covariance_structure=covariance, reml=reml, df_method=df_method, vcov=vcov,
    )


@dataclass(frozen=True)
class ChunkedInference(CoefficientInference):
    """The inference of a batch fitted in chunks of trials: each chunk's own, not copied into one.

    ``beta_cov`` (T, p, p) holds every trial; ``chunks`` the first trial and the inference
    of each chunk (Satterthwaite's as :class:`RecomputedSatterthwaite`, without its ``Q`` matrices;
    Kenward-Roger's keeps its ``P`` matrices, ``q p^2`` numbers a trial).

    Examples
    --------
    >>> one = ResidualDF(beta_cov=np.ones((2, 1, 1)), residual_df=np.array([10, 11]))
    >>> two = ResidualDF(beta_cov=np.ones((1, 1, 1)), residual_df=np.array([12]))
    >>> ChunkedInference(beta_cov=np.ones((3, 1, 1)), chunks=((0, one), (2, two))).df([[1.0]]).tolist()
    [[10.0], [11.0], [12.0]]
    """

    chunks: tuple[tuple[int, CoefficientInference], ...]

    def df(self, contrasts: ArrayLike) -> FloatArray:
        c = np.atleast_2d(np.asarray(contrasts, dtype=float))
        parts = []
        for start, inference in self.chunks:
            size = len(inference.beta_cov)
            parts.append(inference.df(c if c.ndim == 2 else c[start:start + size]))
        return np.concatenate(parts)

    def scaled(self, factor: ArrayLike) -> ChunkedInference:
        factor = np.broadcast_to(np.asarray(factor, dtype=float), (len(self.beta_cov),))
        return ChunkedInference(
            beta_cov=self.beta_cov * (factor**2)[:, None, None],
            chunks=tuple((start, inference.scaled(factor[start:start + len(inference.beta_cov)]))
                         for start, inference in self.chunks))


@dataclass(frozen=True)
class ChunkData:
    """What a chunk of a batch was fitted to, and its optimum: enough to evaluate the likelihood there again.

    ``y`` (T, N, V) and the design's pieces ``u`` as :meth:`PatternStats.from_arrays` takes them (with
    ``group``, ``times`` and ``weights``); ``theta`` (T, q) the point of the scaled problem where the fit's
    Hessian and ``Q`` matrices were computed (``MMRMFit.hessian_theta``), ``scale`` (T,) the response's scale
    and ``fitted`` (T,) where an optimum was reached.
    """

    y: FloatArray
    u: FloatArray
    pieces: VisitPieces
    group: NDArray[np.intp] | None
    n_groups: int
    times: FloatArray | None
    weights: FloatArray | None
    model: CovarianceModel
    theta: FloatArray | None = None
    scale: FloatArray | None = None
    fitted: BoolArray | None = None

    def q_matrices(self) -> FloatArray:
        """Satterthwaite's ``Q_j = X'V^-1 V_j V^-1 X`` of the scaled problem at the optimum (T, q, p, p), NaN
        where no optimum was reached: the evaluation of the fit, computed again."""
        assert self.theta is not None and self.scale is not None and self.fitted is not None
        stats = PatternStats.from_arrays(self.y, self.u, self.pieces, group=self.group, n_groups=self.n_groups,
                                         times=self.times, weights=self.weights).scaled(self.scale)
        rows = np.flatnonzero(self.fitted)
        q = np.full((len(self.y), self.model.n_params, stats.p, stats.p), np.nan)
        if rows.size:
            q[rows] = q_matrices(stats.take(rows), self.model, self.theta[rows])
        return q


@dataclass(frozen=True)
class RecomputedSatterthwaite(CoefficientInference):
    """Satterthwaite's inference of a chunk of a batch that keeps no ``Q`` matrices (``q p^2`` numbers a trial):
    :meth:`df` evaluates the chunk's likelihood at its optimum again for them (:meth:`ChunkData.q_matrices`).

    ``beta_cov`` and ``theta_cov`` are the response's; ``Q`` of the response is ``Q`` of the scaled problem
    divided by ``q_scale`` (the squared scale).

    Examples
    --------
    >>> rng = np.random.default_rng(2)
    >>> x = np.zeros((40, 4, 8)); arm = np.repeat([0, 1], 20)
    >>> x[np.arange(40)[:, None], np.arange(4)[None], arm[:, None] * 4 + np.arange(4)[None]] = 1.0
    >>> y = rng.normal(size=(4, 40, 4)) + rng.normal(size=(4, 40, 1))
    >>> c = [[0, 0, 0, -1, 0, 0, 0, 1]]
    >>> chunked, whole = fit_mmrm_batch(y, x, chunk_size=2), fit_mmrm_batch(y, x)
    >>> bool(np.allclose(chunked.df(c), whole.df(c), rtol=1e-12, atol=0))
    True
    """

    theta_cov: FloatArray
    q_scale: FloatArray
    data: ChunkData

    def satterthwaite(self) -> Satterthwaite:
        """The inference with its ``Q`` matrices (computed now)."""
        q = self.data.q_matrices() / self.q_scale[:, None, None, None]
        return Satterthwaite(beta_cov=self.beta_cov, q=q, theta_cov=self.theta_cov)

    def df(self, contrasts: ArrayLike) -> FloatArray:
        return self.satterthwaite().df(contrasts)

    def scaled(self, factor: ArrayLike) -> RecomputedSatterthwaite:
        square = np.broadcast_to(np.asarray(factor, dtype=float), self.q_scale.shape) ** 2
        return replace(self, beta_cov=self.beta_cov * square[:, None, None], q_scale=self.q_scale * square)
