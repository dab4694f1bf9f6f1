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

One code for a fit and a batch of fits: :func:`lsmeans_batch` takes the estimates of ``T``
fits of the same model (:func:`~dosefinding.mmrm.fit_mmrm_batch`, e.g. simulated trials)
with the numeric covariates at each fit's own means, and
:meth:`~dosefinding.mmrm.MMRMResult.lsmeans` is its batch of one.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from dosefinding.errors import InputError
from dosefinding.mmrm.data import MMRMData
from dosefinding.mmrm.grid import GridDesign, estimable, factor_levels, grid_design, is_factor, kron_product
from dosefinding.mmrm.inference import CoefficientInference
from dosefinding.summary import Summary, SummaryDisplay, SummaryTable, short_repr

__all__ = ["LSMEANS_WEIGHTS", "BatchLSMeans", "LSMeans", "lsmeans_batch"]

FloatArray = NDArray[np.float64]
LSMEANS_WEIGHTS = ("equal", "proportional")
_COLUMNS = ("estimate", "se", "df", "t", "p", "lower", "upper")


@dataclass(frozen=True)
class LSMeans(SummaryDisplay):
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

    def to_frame(self) -> pd.DataFrame:
        """The LS means (:attr:`estimates`); the differences are :attr:`differences`."""
        return self.estimates.copy()

    def __repr__(self) -> str:
        return short_repr(self, specs=self.specs, by=self.by, reference=self.reference, n=len(self.estimates),
                          confidence_level=self.confidence_level, weights=self.weights)

    def summary(self) -> Summary:
        """The two tables, laid out as SAS's "Least Squares Means" and "Differences of Least Squares Means"."""
        return Summary([
            f"Least Squares Means ({self.weights} weights of the other factors)",
            SummaryTable(self.estimates.round(4)),
            "",
            f"Differences of Least Squares Means ({self.specs} minus {self.reference!r})",
            SummaryTable(self.differences.round(4)),
        ], frame=self.to_frame())


@dataclass(frozen=True)
class BatchLSMeans:
    """LS means of ``T`` fits of one model: arrays with a leading axis over the fits.

    ``index`` labels the LS means (cells of ``by`` and ``specs``) and ``difference_index``
    the differences against ``reference``. ``estimates`` and ``differences`` (T, m, 7) hold
    the columns ``estimate, se, df, t, p, lower, upper`` (NaN where not estimable);
    ``cov`` (T, m, m) is the covariance of the LS means and ``contrasts`` (T, m, p) their
    rows ``L`` over the design columns ``columns``.
    """

    specs: str
    by: str | None
    reference: object
    index: pd.Index
    difference_index: pd.Index
    columns: tuple[str, ...]
    estimates: FloatArray
    differences: FloatArray
    cov: FloatArray
    contrasts: FloatArray
    confidence_level: float
    weights: str = "equal"

    def __repr__(self) -> str:
        return short_repr(self, specs=self.specs, by=self.by, reference=self.reference, n_fits=self.estimates.shape[0],
                          n=len(self.index), confidence_level=self.confidence_level, weights=self.weights)

    def column(self, name: str) -> FloatArray:
        """One column of :attr:`estimates` (T, m): ``"estimate"``, ``"se"``, ``"df"``, ..."""
        return self.estimates[..., _COLUMNS.index(name)]

    def member(self, t: int) -> LSMeans:
        """Fit ``t`` as :class:`LSMeans` tables."""
        return LSMeans(
            specs=self.specs, by=self.by, reference=self.reference,
            estimates=pd.DataFrame(self.estimates[t], index=self.index, columns=list(_COLUMNS)),
            differences=pd.DataFrame(self.differences[t], index=self.difference_index, columns=list(_COLUMNS)),
            cov=pd.DataFrame(self.cov[t], index=self.index, columns=self.index),
            contrasts=pd.DataFrame(self.contrasts[t], index=self.index, columns=list(self.columns)),
            confidence_level=self.confidence_level, weights=self.weights,
        )


def _table(rows: FloatArray, beta: FloatArray, inference: CoefficientInference, confidence_level: float,
           estimable_rows: NDArray[np.bool_]) -> FloatArray:
    """Estimate, SE, df, t, p and interval (T, m, 7) of each row (T, m, p); NaN where not estimable (SAS "Non-est")."""
    rows = np.where(estimable_rows[..., None], rows, np.nan)
    estimate = np.einsum("tmp,tp->tm", rows, beta)
    se = np.sqrt(np.einsum("tmp,tmp->tm", rows @ inference.beta_cov, rows))
    df = np.full(estimate.shape, np.nan)
    if estimable_rows.any():
        with np.errstate(invalid="ignore", divide="ignore"):  # the zero rows of the non-estimable ones give 0/0
            computed = np.broadcast_to(inference.df(np.where(estimable_rows[..., None], rows, 0.0)), estimate.shape)
        df = np.where(estimable_rows, computed, np.nan)
    t = estimate / se
    half = stats.t.ppf(0.5 + confidence_level / 2, df) * se
    return np.stack([estimate, se, df, t, 2 * stats.t.sf(np.abs(t), df), estimate - half, estimate + half], axis=-1)


def _check(data: MMRMData, specs: str, by: str | None, weights: str, margins: pd.DataFrame | None,
           confidence_level: float) -> None:
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


def lsmeans_batch(
    data: MMRMData,
    beta: ArrayLike,
    inference: CoefficientInference,
    *,
    specs: str,
    by: str | None = None,
    reference: object = None,
    confidence_level: float = 0.95,
    weights: str = "equal",
    margins: pd.DataFrame | None = None,
    covariate_means: Mapping[str, ArrayLike] | None = None,
) -> BatchLSMeans:
    """LS means of ``specs`` (by ``by``) of ``T`` fits of the model of ``data``, from their estimates ``beta`` (T, p).

    ``inference`` holds the fits' covariances (T, p, p) and degrees of freedom (one fit's
    for ``T = 1``). ``covariate_means`` gives each numeric covariate's mean over each fit's
    used observations, (T,); a numeric covariate not given takes its mean over ``data``'s
    rows (then the same for every fit). The other options are those of
    :meth:`~dosefinding.mmrm.MMRMResult.lsmeans`;
    ``weights="proportional"`` counts ``data``'s rows (or ``margins``) for every fit.

    Examples
    --------
    LS means of a batch of fits (:func:`~dosefinding.mmrm.fit_mmrm_batch`): fev_data and, as a
    second trial, the same responses plus 1, against :meth:`~dosefinding.mmrm.MMRMResult.lsmeans`:

    >>> import numpy as np
    >>> from dosefinding.datasets import fev_data
    >>> from dosefinding.mmrm import fit_mmrm_batch, mmrm
    >>> from dosefinding.mmrm.data import prepare_data
    >>> data = fev_data()
    >>> model = prepare_data("FEV1 ~ ARMCD * AVISIT", data.fillna({"FEV1": 0.0}), subject="USUBJID", visit="AVISIT")
    >>> x = np.zeros((200, 4, len(model.columns)))
    >>> x[model.subject, model.visit] = model.x
    >>> y = np.full((2, 200, 4), np.nan)
    >>> y[:, model.subject, model.visit] = data["FEV1"].to_numpy()
    >>> fit = fit_mmrm_batch(y + np.array([0.0, 1.0])[:, None, None], x)
    >>> ls = lsmeans_batch(model, fit.beta, fit.inference, specs="ARMCD", by="AVISIT")
    >>> ls.estimates.shape, ls.index[-1]
    ((2, 8, 7), ('VIS4', 'TRT'))
    >>> one = mmrm("FEV1 ~ ARMCD * AVISIT", data, subject="USUBJID", visit="AVISIT").lsmeans("ARMCD", by="AVISIT")
    >>> bool(np.allclose(ls.column("estimate")[0], one.estimates["estimate"], rtol=1e-8))
    True
    >>> bool(np.allclose(ls.column("estimate")[1] - ls.column("estimate")[0], 1.0))
    True
    """
    beta = np.atleast_2d(np.asarray(beta, dtype=float))
    _check(data, specs, by, weights, margins, confidence_level)
    variables = list(data.covariates)
    levels = factor_levels(data)
    spec_levels = levels[specs]
    reference = spec_levels[0] if reference is None else reference
    if reference not in spec_levels:
        raise InputError(f"reference: {reference!r} is not a level of {specs!r} ({spec_levels})")
    keys = [by, specs] if by is not None else [specs]
    # The grid with the LS-mean variables first, so that averaging over the others is a
    # Kronecker product: identity over (by, specs), a weight row over the other factors.
    ordered = {key: levels.pop(key) for key in keys} | levels
    given = dict(covariate_means or {})
    unknown = [name for name in given if name not in variables or is_factor(data.frame, name)]
    if unknown:
        raise InputError(f"covariate_means: {unknown} are not numeric covariates of the model")
    numeric = {}
    for name in variables:
        if name not in ordered:
            ordered[name] = [float(data.frame[name].mean())]
            if name in given:
                numeric[name] = np.broadcast_to(np.asarray(given[name], dtype=float), (len(beta),))
    grid = grid_design(data, ordered, numeric or None)
    if not numeric:
        grid = GridDesign(grid.grid, grid.design[None], grid.aliasing[None], grid.magnitude[None])
    others = {name: values for name, values in ordered.items() if name not in keys}
    if weights == "proportional":
        other_weights = _observed_margins(data, others, margins)
    else:
        other_weights = kron_product([np.ones(1), *(np.full(len(values), 1 / len(values))
                                                    for values in others.values())])
    identity = kron_product([np.eye(len(ordered[key])) for key in keys])
    averaging = kron_product([identity, other_weights[None, :]])
    rows = np.broadcast_to(averaging @ grid.design, (len(beta), averaging.shape[0], grid.design.shape[-1]))
    cells = list(itertools.product(*(ordered[key] for key in keys)))
    index = pd.MultiIndex.from_tuples(cells, names=keys) if by is not None else pd.Index(
        [cell[0] for cell in cells], name=specs
    )
    estimates = _table(rows, beta, inference, confidence_level, estimable(averaging, grid))

    position = {cell: i for i, cell in enumerate(cells)}
    compared = [cell for cell in cells if cell[-1] != reference]
    differencing = np.zeros((len(compared), len(cells)))
    for i, cell in enumerate(compared):
        differencing[i, position[cell]] = 1.0
        differencing[i, position[(*cell[:-1], reference)]] = -1.0
    difference_index = (
        pd.MultiIndex.from_tuples(compared, names=keys) if by is not None else pd.Index(
            [cell[0] for cell in compared], name=specs
        )
    )
    diff_rows = differencing @ rows
    differences = _table(diff_rows, beta, inference, confidence_level, estimable(differencing @ averaging, grid))
    return BatchLSMeans(
        specs=specs, by=by, reference=reference, index=index, difference_index=difference_index,
        columns=tuple(data.columns), estimates=estimates, differences=differences,
        cov=rows @ inference.beta_cov @ rows.transpose(0, 2, 1), contrasts=rows, confidence_level=confidence_level,
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
