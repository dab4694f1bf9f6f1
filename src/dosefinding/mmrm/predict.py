"""Predictions of an MMRM: fitted means, and the missing visits given a subject's observed ones.

For the rows of a data frame (one row per subject and visit, the model's covariates
non-missing) the fitted mean is ``x' b`` with standard error ``sqrt(x' C x)``, ``C`` the
covariance of the coefficients of the fit (model-based, empirical or Kenward-Roger as
fitted). With ``conditional=True`` a row whose response is missing gets the conditional
mean given the same subject's observed rows ``o`` in the same data frame (the visits
missing at random), as R mmrm's ``predict(conditional = TRUE)``:

    mu_m = x_m' b + S_mo S_oo^-1 (y_o - X_o b) = z_m' b + K_m y_o,
    K_m = S_mo S_oo^-1,  z_m = x_m - X_o' K_m',

with ``S`` the fitted covariance over the visits. Its standard error ``se`` is
``sqrt(z_m' C z_m)`` (the estimation of ``b``, as mmrm's confidence intervals) and its
prediction standard error ``prediction_se`` is ``sqrt(z_m' C z_m + S_mm - K_m S_om)``: the
conditional variance of the visit plus the variance of the fixed part (the exact variance of
``y_m - mu_m`` for known covariance parameters; as mmrm, the uncertainty of the covariance
parameters is not included). Rows with an observed response keep it, with both standard
errors 0 (mmrm); subjects with no observed row get the fitted mean. With
``conditional=False`` the prediction is the fitted mean and ``prediction_se`` adds the
visit's variance ``S_jj``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from formulaic import Formula
from formulaic.errors import FormulaicError
from numpy.typing import NDArray

from dosefinding.errors import InputError
from dosefinding.mmrm.checks import check_one_row_per_visit
from dosefinding.mmrm.grid import factor_levels

if TYPE_CHECKING:
    from dosefinding.mmrm.fit import MMRMResult

__all__ = ["predict"]

FloatArray = NDArray[np.float64]
COLUMNS = ("observed", "fitted", "fitted_se", "prediction", "se", "prediction_se")


def _design(fit: MMRMResult, data: pd.DataFrame) -> FloatArray:
    """Design rows (the fit's kept columns) of ``data``, or InputError."""
    frame = fit._data
    variables = list(frame.covariates)
    for name in variables:
        missing = data[name].isna().to_numpy()
        if missing.any():
            raise InputError(f"data: column {name!r} is missing in row {data.index[np.argmax(missing)]!r}; "
                             "predictions need every covariate of the model")
    for name, levels in factor_levels(frame).items():
        unknown = ~data[name].isin(levels).to_numpy()
        if unknown.any():
            raise InputError(f"data: column {name!r} has level {data[name].to_numpy()[unknown][0]!r}, not a level "
                             f"of the fit ({levels}); the model's design cannot be built")
    try:
        matrix = frame.spec.get_model_matrix(data[variables], output="numpy", na_action="raise")
    except (FormulaicError, ValueError, TypeError) as exc:
        raise InputError(f"data: cannot build the model's design for these rows ({exc})") from None
    kept = [frame.all_columns.index(c) for c in frame.columns]
    x = np.asarray(matrix, dtype=float)[:, kept]
    if not np.isfinite(x).all():
        raise InputError("data: the model's design has non-finite values for these rows")
    return x


def predict(fit: MMRMResult, data: pd.DataFrame, *, conditional: bool = False) -> pd.DataFrame:
    """Fitted means and (``conditional``) conditional predictions of the rows of ``data``.

    Parameters
    ----------
    fit
        An :class:`~dosefinding.mmrm.fit.MMRMResult` without ``group``, ``time`` or ``weights``.
    data
        One row per subject and visit with the fit's subject, visit and covariate columns;
        with ``conditional`` also the response (missing where the visit is to be predicted).
    conditional
        Condition each missing visit on the subject's observed rows in ``data``.

    Returns
    -------
    pandas.DataFrame
        Indexed as ``data``: ``observed`` (response present), ``fitted`` (``x' b``),
        ``fitted_se``, ``prediction``, ``se`` and ``prediction_se`` (see the module text).

    Examples
    --------
    >>> import pandas as pd
    >>> from dosefinding.datasets import fev_data
    >>> from dosefinding.mmrm import mmrm
    >>> fit = mmrm("FEV1 ~ ARMCD * AVISIT", fev_data(), subject="USUBJID", visit="AVISIT")
    >>> new = pd.DataFrame({"USUBJID": "new", "AVISIT": ["VIS1", "VIS2"], "ARMCD": "TRT", "FEV1": [50.0, None]})
    >>> out = predict(fit, new, conditional=True)
    >>> bool(out.loc[1, "prediction"] > out.loc[1, "fitted"]), float(out.loc[0, "se"])
    (True, 0.0)
    """
    frame = fit._data
    if frame.group is not None or frame.time is not None or frame.weights is not None:
        raise InputError("fit: predict is not implemented for fits with group=, time= or weights=")
    if not isinstance(data, pd.DataFrame):
        raise InputError(f"data: must be a pandas DataFrame, got {type(data).__name__}")
    subject, visit = str(frame.subjects.name), str(frame.visits.name)
    response = str(next(iter(Formula(fit.formula).lhs.required_variables)))
    needed = [subject, visit, *frame.covariates] + ([response] if conditional else [])
    absent = [name for name in dict.fromkeys(needed) if name not in data.columns]
    if absent:
        raise InputError(f"data: {absent} are not columns of data")
    for name in (subject, visit):
        missing = data[name].isna().to_numpy()
        if missing.any():
            raise InputError(f"data: column {name!r} is missing in row {data.index[np.argmax(missing)]!r}")
    check_one_row_per_visit(data, subject, visit)
    visit_codes = frame.visits.get_indexer(data[visit])
    if (visit_codes < 0).any():
        unknown = data[visit].to_numpy()[visit_codes < 0][0]
        raise InputError(f"data: visit {unknown!r} ({visit}) is not a visit of the fit ({list(frame.visits)})")
    x = _design(fit, data)
    beta = fit.coefficients.to_numpy()
    beta_cov = fit.coefficient_cov.to_numpy()
    sigma = fit.covariance.to_numpy()
    fitted = x @ beta
    fitted_var = np.einsum("np,pq,nq->n", x, beta_cov, x)
    y = np.full(len(data), np.nan)
    if response in data.columns:
        if not pd.api.types.is_numeric_dtype(data[response]) or pd.api.types.is_bool_dtype(data[response]):
            raise InputError(f"data: response {response!r} must be numeric, got dtype {data[response].dtype}")
        y = data[response].to_numpy(dtype=float)
        if np.isinf(y).any():
            raise InputError(f"data: response {response!r} must be finite, got infinity")
    observed = ~np.isnan(y)
    out = pd.DataFrame(
        {"observed": observed, "fitted": fitted, "fitted_se": np.sqrt(fitted_var), "prediction": fitted,
         "se": np.sqrt(fitted_var), "prediction_se": np.sqrt(fitted_var + np.diag(sigma)[visit_codes])},
        index=data.index,
    )
    if not conditional:
        return out

    subject_codes, _ = pd.factorize(data[subject])
    n_subjects, k, p = int(subject_codes.max()) + 1, len(frame.visits), x.shape[1]
    # Wide arrays (subject, visit): residuals and design rows at the observed visits, zero elsewhere.
    residual = np.zeros((n_subjects, k))
    residual[subject_codes[observed], visit_codes[observed]] = (y - fitted)[observed]
    x_observed = np.zeros((n_subjects, k, p))
    x_observed[subject_codes[observed], visit_codes[observed]] = x[observed]
    mask = np.zeros((n_subjects, k), dtype=bool)
    mask[subject_codes[observed], visit_codes[observed]] = True
    patterns, pattern_of = np.unique(mask, axis=0, return_inverse=True)
    pattern_of = pattern_of.reshape(-1)
    gain = np.zeros((len(patterns), k, k))  # K over all visits, zero columns at unobserved ones
    for h, pattern in enumerate(patterns):
        if pattern.any():
            gain[h][:, pattern] = np.linalg.solve(sigma[np.ix_(pattern, pattern)], sigma[pattern]).T
    conditional_var = np.diag(sigma)[None, :] - np.einsum("hjo,oj->hj", gain, sigma)

    rows = np.flatnonzero(~observed)
    subjects_m, visits_m = subject_codes[rows], visit_codes[rows]
    gain_m = gain[pattern_of[subjects_m], visits_m]  # (m, k)
    z = x[rows] - np.einsum("mo,mop->mp", gain_m, x_observed[subjects_m])
    conf_var = np.einsum("mp,pq,mq->m", z, beta_cov, z)
    prediction = fitted.copy()
    prediction[rows] += np.einsum("mo,mo->m", gain_m, residual[subjects_m])
    prediction[observed] = y[observed]
    se = np.zeros(len(data))
    se[rows] = np.sqrt(conf_var)
    prediction_se = np.zeros(len(data))
    prediction_se[rows] = np.sqrt(conf_var + conditional_var[pattern_of[subjects_m], visits_m])
    out["prediction"], out["se"], out["prediction_se"] = prediction, se, prediction_se
    return out
