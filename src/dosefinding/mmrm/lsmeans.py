"""Least-squares means of an MMRM and their differences against a reference level (SAS LSMEANS / DIFF).

The LS mean of a level of ``specs`` (within each level of ``by``) is the model's prediction
averaged over every combination of the levels of the other factors in the model, numeric
covariates at their mean over the used observations. The weights of the combinations are

* ``"equal"``: SAS's default, emmeans' default;
* ``"proportional"``: the observed frequency of each combination of the other factors
  (jointly, pooled over ``specs`` and ``by``), as SAS's ``LSMEANS / OBSMARGINS`` (OM) and
  emmeans' ``weights = "proportional"``. emmeans' ``"outer"`` (the product of each factor's
  own margins) differs when two averaged factors interact in the model, and ``"cells"``
  (frequencies within each level of ``specs``, like SAS's ``BYLEVEL``); neither is SAS's OM
  (nor implemented here).
  SAS counts every row of the input data set with no missing independent variable, also
  rows with a missing response; emmeans counts the rows used in the fit. The default
  ``margins`` (the used rows) is emmeans; pass the input data set as ``margins`` for SAS
  (its ``OM=data-set`` form takes any data set, as here); numeric covariates stay at their
  mean over the used rows. (On an nlme::gls fit with
  ``varIdent`` emmeans weights the counts by nlme's variance weights; SAS and we do not.)
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import reduce

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from dosefinding.errors import InputError
from dosefinding.mmrm.data import MMRMData
from dosefinding.mmrm.grid import estimable, factor_levels, grid_design, is_factor
from dosefinding.mmrm.inference import CoefficientInference

__all__ = ["LSMEANS_WEIGHTS", "LSMeans", "lsmeans"]

FloatArray = NDArray[np.float64]
LSMEANS_WEIGHTS = ("equal", "proportional")


@dataclass(frozen=True)
class LSMeans:
    """LS means of ``specs`` by ``by``, differences against ``reference``, and their covariance.

    Attributes
    ----------
    estimates
        One row per (``by``, ``specs``) level: ``estimate, se, df, t, p, lower, upper``.
    differences
        One row per non-reference level within each ``by`` level: level minus reference,
        with the same columns.
    cov
        Covariance matrix of the LS means, labelled as ``estimates``.
    contrasts
        The rows ``L`` with ``estimate = L beta``, labelled by design column.
    confidence_level
        Level of the two-sided intervals.
    weights
        ``"equal"`` or ``"proportional"`` (observed margins) weights of the other factors.
    """

    specs: str
    by: str | None
    reference: object
    estimates: pd.DataFrame
    differences: pd.DataFrame
    cov: pd.DataFrame
    contrasts: pd.DataFrame
    confidence_level: float
    weights: str = "equal"

    def summary(self) -> str:
        """The two tables, laid out as SAS's "Least Squares Means" and "Differences of Least Squares Means"."""
        return "\n".join([
            f"Least Squares Means ({self.weights} weights of the other factors)",
            self.estimates.round(4).to_string(),
            "",
            f"Differences of Least Squares Means ({self.specs} minus {self.reference!r})",
            self.differences.round(4).to_string(),
        ])


def _table(
    rows: FloatArray,
    beta: FloatArray,
    inference: CoefficientInference,
    confidence_level: float,
    index: pd.Index,
    estimable_rows: NDArray[np.bool_],
) -> pd.DataFrame:
    """Estimate, SE, df, t, p and interval of each row; NaN where the row is not estimable (SAS "Non-est")."""
    rows = np.where(estimable_rows[:, None], rows, np.nan)
    estimate = rows @ beta
    se = np.sqrt(np.einsum("mp,pq,mq->m", rows, inference.beta_cov, rows))
    df = np.full(len(rows), np.nan)
    if estimable_rows.any():
        df[estimable_rows] = inference.df(rows[estimable_rows])
    t = estimate / se
    half = stats.t.ppf(0.5 + confidence_level / 2, df) * se
    return pd.DataFrame(
        {"estimate": estimate, "se": se, "df": df, "t": t, "p": 2 * stats.t.sf(np.abs(t), df),
         "lower": estimate - half, "upper": estimate + half},
        index=index,
    )


def lsmeans(
    data: MMRMData,
    beta: FloatArray,
    inference: CoefficientInference,
    *,
    specs: str,
    by: str | None = None,
    reference: object = None,
    confidence_level: float = 0.95,
    weights: str = "equal",
    margins: pd.DataFrame | None = None,
) -> LSMeans:
    """LS means of ``specs`` (by ``by``) from a fit; see :meth:`MMRMResult.lsmeans`."""
    if weights not in LSMEANS_WEIGHTS:
        raise InputError(f"weights: must be one of {LSMEANS_WEIGHTS}, got {weights!r}")
    if margins is not None and weights != "proportional":
        raise InputError("margins: only used with weights='proportional'")
    variables = list(data.covariates)
    for argument, name in (("specs", specs), ("by", by)):
        if name is None:
            continue
        if name not in variables:
            raise InputError(f"{argument}: {name!r} is not a variable of the model ({variables})")
        if not is_factor(data.frame, name):
            raise InputError(f"{argument}: {name!r} is numeric; LS means need a factor")
    if not 0 < confidence_level < 1:
        raise InputError(f"confidence_level: must be in (0, 1), got {confidence_level!r}")
    levels = factor_levels(data)
    spec_levels = levels[specs]
    reference = spec_levels[0] if reference is None else reference
    if reference not in spec_levels:
        raise InputError(f"reference: {reference!r} is not a level of {specs!r} ({spec_levels})")
    keys = [by, specs] if by is not None else [specs]
    # The grid with the LS-mean variables first, so that averaging over the others is a
    # Kronecker product: identity over (by, specs), a weight row over the other factors.
    ordered = {key: levels.pop(key) for key in keys} | levels
    for name in variables:
        if name not in ordered:
            ordered[name] = [float(data.frame[name].mean())]
    grid = grid_design(data, ordered)
    others = {name: values for name, values in ordered.items() if name not in keys}
    if weights == "proportional":
        other_weights = _observed_margins(data, others, margins)
    else:
        other_weights = reduce(np.kron, [np.full(len(values), 1 / len(values)) for values in others.values()],
                               np.ones(1))
    identity = reduce(np.kron, [np.eye(len(ordered[key])) for key in keys])
    averaging = np.kron(identity, other_weights[None, :])
    rows = averaging @ grid.design
    cells = list(itertools.product(*(ordered[key] for key in keys)))
    index = pd.MultiIndex.from_tuples(cells, names=keys) if by is not None else pd.Index(
        [cell[0] for cell in cells], name=specs
    )
    estimates = _table(rows, beta, inference, confidence_level, index, estimable(averaging, grid))

    position = {cell: i for i, cell in enumerate(cells)}
    compared = [cell for cell in cells if cell[-1] != reference]
    differencing = np.zeros((len(compared), len(cells)))
    for i, cell in enumerate(compared):
        differencing[i, position[cell]] = 1.0
        differencing[i, position[(*cell[:-1], reference)]] = -1.0
    diff_labels = (
        pd.MultiIndex.from_tuples(compared, names=keys) if by is not None else pd.Index(
            [cell[0] for cell in compared], name=specs
        )
    )
    diff_rows = differencing @ rows
    differences = _table(diff_rows, beta, inference, confidence_level, diff_labels,
                         estimable(differencing @ averaging, grid))
    cov = rows @ inference.beta_cov @ rows.T
    return LSMeans(
        specs=specs,
        by=by,
        reference=reference,
        estimates=estimates,
        differences=differences,
        cov=pd.DataFrame(cov, index=index, columns=index),
        contrasts=pd.DataFrame(rows, index=index, columns=list(data.columns)),
        confidence_level=confidence_level,
        weights=weights,
    )


def _observed_margins(data: MMRMData, others: dict[str, list[object]], margins: pd.DataFrame | None) -> FloatArray:
    """Joint relative frequencies of the combinations of ``others`` (grid order, last fastest).

    Counted over ``margins`` rows with no missing right-hand-side variable (SAS OM), or
    over the used rows of the fit when ``margins`` is None (emmeans).
    """
    factors = [name for name in others if is_factor(data.frame, name)]
    if margins is None:
        if data.weights is not None:
            raise InputError("weights: 'proportional' with a weighted fit (SAS uses weighted margins) "
                             "is not implemented; pass margins= or use weights='equal'")
        frame = data.frame
    else:
        if not isinstance(margins, pd.DataFrame):
            raise InputError(f"margins: must be a pandas DataFrame, got {type(margins).__name__}")
        absent = [name for name in data.covariates if name not in margins.columns]
        if absent:
            raise InputError(f"margins: {absent} are not columns of margins")
        frame = margins.loc[margins[list(data.covariates)].notna().all(axis=1)]
        if frame.empty:
            raise InputError(f"margins: no row has all of {list(data.covariates)} non-missing")
    sizes = [len(values) for values in others.values()]
    codes = []
    for name, values in others.items():
        if name not in factors:
            codes.append(np.zeros(len(frame), dtype=np.intp))
            continue
        code = pd.Index(values).get_indexer(frame[name])
        if (code < 0).any():
            unknown = frame[name].to_numpy()[code < 0][0]
            raise InputError(f"margins: column {name!r} has level {unknown!r}, not a level of the fit ({values})")
        codes.append(code.astype(np.intp))
    if not codes:
        return np.ones(1)
    counts = np.bincount(np.ravel_multi_index(codes, sizes), minlength=int(np.prod(sizes))).astype(float)
    return counts / counts.sum()
