"""Imputation of the missing outcomes under MAR and the reference-based assumptions, with a delta adjustment.

Subject ``i``'s outcomes over the visits are normal with covariance ``Sigma`` and a mean set by
its strategy, from its mean in its own arm ``mu_own = X_i beta`` and in its reference arm
``mu_ref = X_i^ref beta`` (same covariates), with ``t`` the first visit affected by its
intercurrent event (Carpenter, Roger and Kenward 2013; rbmi's strategies):

- MAR (and subjects without an event): ``mu_own``;
- JR, jump to reference: ``mu_own`` before ``t``, ``mu_ref`` from ``t`` on;
- CR, copy reference: ``mu_ref`` at every visit;
- CIR, copy increments in reference: ``mu_own`` before ``t``, then
  ``mu_own[t-1] + mu_ref[v] - mu_ref[t-1]`` (``mu_ref`` when ``t`` is the first visit).

With one covariance common to the arms it is ``Sigma`` under every strategy. With one per arm
(``same_covariance=False``) it is the own arm's under MAR, the reference arm's under CR, and
under JR and CIR the own arm's before ``t`` joined to the reference arm's conditional
structure after it (rbmi's ``compute_sigma``, Carpenter, Roger and Kenward 2013). Missing
outcomes are imputed from their normal distribution given the subject's observed outcomes:
its mean (conditional mean imputation) or a random draw (the other methods). A delta
(subject, visit, delta) is then added to the imputed outcomes (observed ones are kept).
Everything is batched over the draws and, within a missingness pattern, over subjects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from dosefinding.errors import InputError
from dosefinding.imputation.data import ImputationData
from dosefinding.imputation.draws import ParameterDraws
from dosefinding.imputation.gibbs import conditional_normal
from dosefinding.summary import Summary, SummaryDisplay, short_repr
from dosefinding.validation import as_generator

__all__ = ["ImputedData", "delta_array", "impute", "strategy_covariance", "strategy_means"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]


@dataclass(frozen=True)
class ImputedData(SummaryDisplay):
    """Imputed data sets (D of them, N rows each, V visits).

    Attributes
    ----------
    y
        Outcomes (D, N, V), observed or imputed; NaN rows are subjects left out of the sample.
    rows
        The subject (index into the data) of each row (D, N), -1 when left out.
    imputed
        Which outcomes were imputed (D, N, V).
    draws
        The parameter draws used.
    """

    y: FloatArray
    rows: IntArray
    imputed: NDArray[np.bool_]
    draws: ParameterDraws

    @property
    def data(self) -> ImputationData:
        """The data the draws were made from."""
        return self.draws.data

    def to_frame(self) -> pd.DataFrame:
        """The imputed data sets in long form: imputation, subject, visit, outcome, imputed."""
        d, n, v = self.y.shape
        keep = np.repeat(self.rows >= 0, v, axis=1).ravel()
        subjects = np.asarray(self.data.subjects)[np.where(self.rows >= 0, self.rows, 0)]
        frame = pd.DataFrame({
            "imputation": np.repeat(np.arange(d), n * v),
            "subject": np.repeat(subjects, v, axis=1).ravel(),
            "visit": np.tile(np.asarray(self.data.visits), d * n),
            "outcome": self.y.ravel(),
            "imputed": self.imputed.ravel(),
        })
        return frame[keep].reset_index(drop=True)

    def __repr__(self) -> str:
        return short_repr(self, imputations=self.y.shape[0], subjects=self.y.shape[1], visits=self.y.shape[2],
                          method=self.draws.method)

    def summary(self) -> Summary:
        """The number of data sets and the fraction imputed per visit in the first."""
        first = self.imputed[0][self.rows[0] >= 0]
        share = ", ".join(f"{v} {100 * f:.0f}%" for v, f in zip(self.data.visits, first.mean(axis=0), strict=True))
        return Summary([f"{self.y.shape[0]} imputed data sets ({self.draws.method})",
                        f"Imputed per visit (first data set): {share}"], frame=self.to_frame().head(0))


def strategy_means(mu_own: FloatArray, mu_ref: FloatArray, ice_visit: IntArray, strategy: IntArray) -> FloatArray:
    """The mean (..., N, V) of each subject's outcomes under its strategy (codes of ``STRATEGIES``).

    Examples
    --------
    >>> own, ref = np.array([[1.0, 2.0, 3.0]] * 4), np.array([[0.0, 0.5, 1.0]] * 4)
    >>> strategy_means(own, ref, np.array([1, 1, 1, 1]), np.array([0, 1, 2, 3])).tolist()
    [[1.0, 2.0, 3.0], [1.0, 0.5, 1.0], [0.0, 0.5, 1.0], [1.0, 1.5, 2.0]]
    """
    v = mu_own.shape[-1]
    after = np.arange(v) >= ice_visit[..., None]
    last = np.clip(ice_visit - 1, 0, v - 1)[..., None]
    own_last = np.take_along_axis(mu_own, np.broadcast_to(last, mu_own.shape[:-1] + (1,)), axis=-1)
    ref_last = np.take_along_axis(mu_ref, np.broadcast_to(last, mu_ref.shape[:-1] + (1,)), axis=-1)
    cir = np.where((ice_visit == 0)[..., None], mu_ref, own_last + mu_ref - ref_last)
    code = strategy[..., None]
    return np.select([code == 2, (code == 1) & after, (code == 3) & after], [mu_ref, mu_ref, cir], mu_own)


def strategy_covariance(own: FloatArray, reference: FloatArray, ice_visit: int, strategy: int) -> FloatArray:
    """The covariance (..., V, V) of a subject's outcomes under its strategy, from its arm's and its reference arm's.

    Examples
    --------
    >>> own, ref = np.array([[1.0, 0.5], [0.5, 2.0]]), np.array([[2.0, 1.0], [1.0, 3.0]])
    >>> strategy_covariance(own, ref, 1, 1).tolist()  # JR from the second visit
    [[1.0, 0.5], [0.5, 2.75]]
    """
    v = own.shape[-1]
    if strategy == 0 or ice_visit >= v:
        return own
    if strategy == 2 or ice_visit == 0:
        return reference
    before, after = np.arange(ice_visit), np.arange(ice_visit, v)
    t11 = own[..., before[:, None], before]
    r11_inv_t11 = np.linalg.solve(reference[..., before[:, None], before], t11)
    r21 = reference[..., after[:, None], before]
    s21 = r21 @ r11_inv_t11
    r11_inv_r12 = np.linalg.solve(reference[..., before[:, None], before], np.swapaxes(r21, -1, -2))
    s22 = reference[..., after[:, None], after] - r21 @ np.linalg.solve(
        reference[..., before[:, None], before], reference[..., before[:, None], before] - t11) @ r11_inv_r12
    out = np.empty(np.broadcast_shapes(own.shape, reference.shape))
    out[..., before[:, None], before] = t11
    out[..., after[:, None], before] = s21
    out[..., before[:, None], after] = np.swapaxes(s21, -1, -2)
    out[..., after[:, None], after] = s22
    return out


def delta_array(deltas: pd.DataFrame | None, data: ImputationData) -> FloatArray:
    """The deltas as a (N, V) array from a frame with columns subject, visit, delta (zero elsewhere).

    Examples
    --------
    >>> from dosefinding.datasets import antidepressant_data
    >>> from dosefinding.imputation import imputation_data
    >>> d = imputation_data(antidepressant_data(), subject="PATIENT", visit="VISIT", outcome="CHANGE", arm="THERAPY")
    >>> delta_array(pd.DataFrame({"subject": ["1503"], "visit": ["7"], "delta": [2.0]}), d)[0].tolist()
    [0.0, 0.0, 0.0, 2.0]
    """
    out = np.zeros(data.y.shape)
    if deltas is None:
        return out
    if not isinstance(deltas, pd.DataFrame) or not {"subject", "visit", "delta"} <= set(deltas.columns):
        raise InputError("deltas: must be a data frame with columns subject, visit and delta")
    rows = data.subjects.get_indexer(deltas["subject"].astype(str))
    cols = data.visits.get_indexer(deltas["visit"].astype(str))
    for label, row in zip(deltas["subject"], rows, strict=True):
        if row < 0:
            raise InputError(f"deltas: subject {label!r} is not in the data")
    for label, col in zip(deltas["visit"], cols, strict=True):
        if col < 0:
            raise InputError(f"deltas: visit {label!r} is not a visit of the data (visits {data.visits.tolist()})")
    values = pd.to_numeric(deltas["delta"], errors="coerce").to_numpy(dtype=float)
    if not np.all(np.isfinite(values)):
        raise InputError("deltas: column delta must be finite numbers")
    np.add.at(out, (rows, cols), values)
    return out


def impute(draws: ParameterDraws, *, deltas: pd.DataFrame | None = None,
           seed: int | np.random.Generator = 0) -> ImputedData:
    """Impute the missing outcomes with each parameter draw.

    Conditional mean draws impute each sample's own data set by the conditional mean; BMLMI
    draws impute each bootstrap sample's own data set by a random draw from the conditional
    distribution; the others impute the original data set by a random draw.

    Parameters
    ----------
    draws
        From :func:`~dosefinding.imputation.mmrm_draws`.
    deltas
        Frame with columns subject, visit, delta: added to the imputed outcome of that subject
        at that visit (MNAR delta adjustment); None for none.
    seed
        Random numbers of the random imputations.

    Examples
    --------
    >>> from dosefinding.datasets import antidepressant_data
    >>> from dosefinding.imputation import imputation_data, mmrm_draws
    >>> d = imputation_data(antidepressant_data(), subject="PATIENT", visit="VISIT", outcome="CHANGE", arm="THERAPY",
    ...                     covariates=["BASVAL"])
    >>> imputed = impute(mmrm_draws(d, method="approx_bayes", n_samples=5))
    >>> imputed.y.shape, bool(np.isnan(imputed.y).any())
    ((5, 172, 4), False)
    """
    data = draws.data
    delta = delta_array(deltas, data)
    d = len(draws.beta)
    n = data.y.shape[0]
    rows = draws.rows if draws.rows is not None else np.broadcast_to(np.arange(n, dtype=np.intp), (d, n))
    safe = np.where(rows >= 0, rows, 0)
    pick = np.arange(d)[:, None]
    mu_own = np.einsum("nvp,dp->dnv", data.x, draws.beta)[pick, safe]
    mu_ref = np.einsum("nvp,dp->dnv", data.x_reference, draws.beta)[pick, safe]
    mu = strategy_means(mu_own, mu_ref, data.ice_visit[safe], data.strategy[safe])
    y = data.y[safe]
    missing = np.isnan(y) & (rows >= 0)[:, :, None]
    out = np.where(rows[:, :, None] >= 0, y, np.nan)
    random = draws.method != "condmean"
    rng = as_generator(seed)
    keys, index = np.unique(np.isnan(data.y), axis=0, return_inverse=True)
    pattern = index.ravel()
    if draws.by_arm:  # the covariance depends on the arm, the reference arm, the strategy and the event's visit
        groups = np.stack([pattern, data.arm, data.strategy, data.ice_visit], axis=1)
    else:
        groups = pattern[:, None]
    kinds, kind_of = np.unique(groups, axis=0, return_inverse=True)
    kind = kind_of.ravel()[safe]
    for k, group in enumerate(kinds):
        key = keys[group[0]]
        if not key.any():
            continue
        sample, row = np.nonzero((kind == k) & (rows >= 0))
        if not len(sample):
            continue
        if draws.by_arm:
            arm, strategy, ice = int(group[1]), int(group[2]), int(group[3])
            sigma = strategy_covariance(draws.sigma[:, arm], draws.sigma[:, data.reference[arm]], ice, strategy)
        else:
            sigma = draws.sigma
        a, cond = conditional_normal(sigma, ~key)
        o, m = np.flatnonzero(~key), np.flatnonzero(key)
        value = mu[sample, row][:, m] + np.einsum("kmo,ko->km", a[sample], y[sample, row][:, o] - mu[sample, row][:, o])
        if random:
            chol = np.linalg.cholesky(cond)
            value += np.einsum("kmj,kj->km", chol[sample], rng.standard_normal((len(sample), len(m))))
        out[sample[:, None], row[:, None], m] = value
    out = out + np.where(missing, delta[safe], 0.0)
    return ImputedData(y=out, rows=np.array(rows), imputed=missing, draws=draws)
