"""Analysis of each imputed data set: ANCOVA at each visit, or the MMRM, batched over the data sets.

``"ancova"`` (rbmi's ``ancova``): at each visit, least squares of the outcome on arm and the
baseline covariates; LS means are the predictions at the mean covariates of the data set
(the average over its subjects of their predictions in each arm), with the residual degrees
of freedom ``n - arms - covariates``. ``"mmrm"``: :func:`dosefinding.mmrm.fit_mmrm_batch`
with the imputation model's design (arm by visit, covariates by visit, unstructured
covariance); LS means the same way, Satterthwaite degrees of freedom.

Each analysis gives, per data set, the LS mean of every arm at every visit with their
covariance, and the difference of every arm from the control arm.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from dosefinding.errors import InputError
from dosefinding.imputation.impute import ImputedData
from dosefinding.mmrm import fit_mmrm_batch
from dosefinding.summary import Summary, SummaryDisplay, short_repr

__all__ = ["MIAnalysis", "analyse"]

FloatArray = NDArray[np.float64]
_CHUNK = 64


@dataclass(frozen=True)
class MIAnalysis(SummaryDisplay):
    """The analysis of D imputed data sets (V visits, A arms, K = V (2A - 1) parameters).

    Attributes
    ----------
    estimates, variances, df
        Per data set and parameter (D, K): estimate, its variance and complete-data degrees
        of freedom.
    parameters
        The K parameters: columns ``visit``, ``parameter`` (``"lsm_<arm>"`` or
        ``"trt_<arm>"``, arm minus control), ``arm``.
    lsmeans, lsmeans_cov
        LS means (D, V, A) and their covariance at each visit (D, V, A, A).
    model, control
        ``"ancova"`` or ``"mmrm"``, and the control arm.
    imputed
        The imputed data analysed.
    """

    estimates: FloatArray
    variances: FloatArray
    df: FloatArray
    parameters: pd.DataFrame
    lsmeans: FloatArray
    lsmeans_cov: FloatArray
    model: str
    control: str
    imputed: ImputedData

    def to_frame(self) -> pd.DataFrame:
        """One row per data set and parameter: imputation, visit, parameter, estimate, se, df."""
        d, k = self.estimates.shape
        frame = pd.concat([self.parameters] * d, ignore_index=True)
        frame.insert(0, "imputation", np.repeat(np.arange(d), k))
        frame["estimate"] = self.estimates.ravel()
        frame["se"] = np.sqrt(self.variances.ravel())
        frame["df"] = self.df.ravel()
        return frame

    def __repr__(self) -> str:
        return short_repr(self, imputations=self.estimates.shape[0], model=self.model, control=self.control,
                          parameters=self.estimates.shape[1])

    def summary(self) -> Summary:
        """The model and the first data set's estimates."""
        title = f"{self.model.upper()} of {self.estimates.shape[0]} imputed data sets; control arm {self.control}"
        return Summary([title], frame=self.to_frame().head(self.estimates.shape[1]))


def _parameters(visits: pd.Index, arms: pd.Index, control: int) -> tuple[pd.DataFrame, FloatArray]:
    """Labels and the map (K, V, A) from the LS means to the parameters."""
    labels, maps = [], []
    v_count, a_count = len(visits), len(arms)
    for v, visit in enumerate(visits):
        for a, arm in enumerate(arms):
            row = np.zeros((v_count, a_count))
            row[v, a] = 1.0
            labels.append((visit, f"lsm_{arm}", arm))
            maps.append(row)
        for a, arm in enumerate(arms):
            if a == control:
                continue
            row = np.zeros((v_count, a_count))
            row[v, a], row[v, control] = 1.0, -1.0
            labels.append((visit, f"trt_{arm}", arm))
            maps.append(row)
    return pd.DataFrame(labels, columns=["visit", "parameter", "arm"]), np.array(maps)


def _ancova(imputed: ImputedData, maps: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    data = imputed.data
    rows = imputed.rows
    keep = (rows >= 0).astype(float)
    safe = np.where(rows >= 0, rows, 0)
    a_count = len(data.arms)
    z0 = np.concatenate([np.eye(a_count)[data.arm], data.covariates], axis=1)
    z = z0[safe] * keep[:, :, None]  # (D, N, q)
    y = np.where(rows[:, :, None] >= 0, imputed.y, 0.0)  # (D, N, V)
    gram = np.swapaxes(z, 1, 2) @ z
    inverse = np.linalg.inv(gram)
    coef = inverse @ (np.swapaxes(z, 1, 2) @ y)  # (D, q, V)
    resid = (y - z @ coef) * keep[:, :, None]
    n = keep.sum(axis=1)
    df = n - z0.shape[1]
    if np.any(df <= 0):
        raise InputError(f"data: too few subjects for the ANCOVA ({int(n.min())} subjects, {z0.shape[1]} coefficients)")
    sigma2 = (resid**2).sum(axis=1) / df[:, None]  # (D, V)
    mean_cov = (z[:, :, a_count:]).sum(axis=1) / n[:, None]
    lmat = np.concatenate([np.broadcast_to(np.eye(a_count), (len(n), a_count, a_count)),
                           np.repeat(mean_cov[:, None, :], a_count, axis=1)], axis=2)  # (D, A, q)
    lsm = np.swapaxes(lmat @ coef, 1, 2)  # (D, V, A)
    base = lmat @ inverse @ np.swapaxes(lmat, 1, 2)  # (D, A, A)
    cov = sigma2[:, :, None, None] * base[:, None]
    return lsm, cov, np.repeat(df[:, None], len(maps), axis=1)


def _mmrm(imputed: ImputedData, maps: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    data = imputed.data
    rows = imputed.rows
    d_count = rows.shape[0]
    v_count, a_count = len(data.visits), len(data.arms)
    in_place = bool(np.all((rows < 0) | (rows == np.arange(rows.shape[1]))))
    lsm = np.empty((d_count, v_count, a_count))
    cov = np.empty((d_count, v_count, a_count, a_count))
    df = np.empty((d_count, len(maps)))
    for start in range(0, d_count, _CHUNK):
        part = slice(start, start + _CHUNK)
        chunk_rows = rows[part]
        safe = np.where(chunk_rows >= 0, chunk_rows, 0)
        x = data.x if in_place else data.x[safe]
        fit = fit_mmrm_batch(imputed.y[part], x, covariance="us")
        if not fit.converged.all():
            raise InputError(f"model: the MMRM does not converge on imputed data set "
                             f"{start + int(np.flatnonzero(~fit.converged)[0])}")
        keep = (chunk_rows >= 0).astype(float)
        mean_cov = (data.covariates[safe] * keep[:, :, None]).sum(axis=1) / keep.sum(axis=1)[:, None]
        c_count = data.covariates.shape[1]
        lmat = np.zeros((len(chunk_rows), v_count, a_count, fit.beta.shape[1]))
        for v in range(v_count):
            for a in range(a_count):
                lmat[:, v, a, a * v_count + v] = 1.0
                lmat[:, v, a, a_count * v_count + np.arange(c_count) * v_count + v] = mean_cov
        flat = lmat.reshape(len(chunk_rows), v_count * a_count, -1)
        est, est_cov = fit.contrast(flat)
        lsm[part] = est.reshape(-1, v_count, a_count)
        blocks = est_cov.reshape(-1, v_count, a_count, v_count, a_count)
        cov[part] = np.einsum("dvavb->dvab", blocks)
        df[part] = fit.df(np.einsum("kw,dwp->dkp", maps.reshape(len(maps), -1), flat))
    return lsm, cov, df


def analyse(imputed: ImputedData, *, model: Literal["ancova", "mmrm"] = "ancova",
            control: object | None = None) -> MIAnalysis:
    """Analyse every imputed data set: LS means per arm and visit and each arm minus the control arm.

    Parameters
    ----------
    imputed
        From :func:`~dosefinding.imputation.impute`.
    model
        ``"ancova"`` at each visit on arm and the covariates, or ``"mmrm"``.
    control
        The control arm (default: the reference arm of the other arms when they share one,
        else the first arm).

    Examples
    --------
    >>> from dosefinding.datasets import antidepressant_data
    >>> from dosefinding.imputation import imputation_data, impute, mmrm_draws
    >>> d = imputation_data(antidepressant_data(), subject="PATIENT", visit="VISIT", outcome="CHANGE", arm="THERAPY",
    ...                     covariates=["BASVAL"])
    >>> result = analyse(impute(mmrm_draws(d, method="approx_bayes", n_samples=3)), control="PLACEBO")
    >>> result.parameters.query("visit == '7'")["parameter"].tolist()
    ['lsm_DRUG', 'lsm_PLACEBO', 'trt_DRUG']
    """
    data = imputed.data
    if model not in ("ancova", "mmrm"):
        raise InputError(f"model: must be 'ancova' or 'mmrm', got {model!r}")
    if control is None:
        others = {int(r) for a, r in enumerate(data.reference) if r != a}
        control_code = others.pop() if len(others) == 1 else 0
    elif str(control) in data.arms:
        control_code = data.arms.get_loc(str(control))
    else:
        raise InputError(f"control: arm {control!r} does not exist (arms {data.arms.tolist()})")
    parameters, maps = _parameters(data.visits, data.arms, control_code)
    lsm, cov, df = _ancova(imputed, maps) if model == "ancova" else _mmrm(imputed, maps)
    flat = lsm.reshape(len(lsm), -1)
    estimates = flat @ maps.reshape(len(maps), -1).T
    v_idx = np.array([data.visits.get_loc(v) for v in parameters["visit"]])
    variances = np.einsum("kab,dkab->dk", maps[np.arange(len(maps)), v_idx][:, :, None] *
                          maps[np.arange(len(maps)), v_idx][:, None, :], cov[:, v_idx])
    return MIAnalysis(estimates=estimates, variances=variances, df=df, parameters=parameters, lsmeans=lsm,
                      lsmeans_cov=cov, model=model, control=str(data.arms[control_code]), imputed=imputed)
