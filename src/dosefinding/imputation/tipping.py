"""Tipping-point analysis: the delta adjustment at which the conclusion of the primary analysis changes.

The missing outcomes are imputed once (any method of :func:`~dosefinding.imputation.mmrm_draws`
and any strategy); for each ``delta`` of a grid, ``delta`` is added to every imputed outcome of
the subjects in the shifted arms (by default the arms with another arm as reference: the
active arms), the imputed data sets are analysed and pooled. Two conclusions are followed
along the grid: the primary contrast (an arm minus the control arm at a visit: significant
when its p-value is below ``alpha``) and, when candidate models are given, the MCP-Mod
multiple contrast test on the pooled LS means of all arms at the visit
(:func:`dosefinding.mcp.mct_test` with their pooled covariance). The tipping point is where
the p-value crosses its level, by linear interpolation between the two grid points around
the first change of conclusion.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from dosefinding.errors import InputError
from dosefinding.imputation.analysis import analyse
from dosefinding.imputation.draws import ParameterDraws
from dosefinding.imputation.impute import impute
from dosefinding.imputation.pooling import pool, pooled_lsmeans
from dosefinding.mcp import mct_test
from dosefinding.shapes import Candidates
from dosefinding.summary import Summary, SummaryDisplay, short_repr
from dosefinding.validation import as_probability

__all__ = ["TippingPoint", "tipping_point"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class TippingPoint(SummaryDisplay):
    """The conclusions along a grid of deltas and where they change.

    Attributes
    ----------
    curve
        One row per delta: ``estimate``, ``lower``, ``upper``, ``p_value``, ``significant`` of
        the primary contrast; with candidates also ``mcp_p_value`` (the smallest adjusted
        p-value of the multiple contrast test) and ``mcp_significant``.
    tipping_delta
        The delta at which the primary contrast's p-value crosses ``alpha`` (NaN when its
        conclusion does not change on the grid).
    mcp_tipping_delta
        The same for the MCP-Mod test (NaN without candidates or without a change).
    parameter, visit, alpha, mcp_alpha, shifted_arms
        What was followed.
    """

    curve: pd.DataFrame
    tipping_delta: float
    mcp_tipping_delta: float
    parameter: str
    visit: str
    alpha: float
    mcp_alpha: float | None
    shifted_arms: tuple[str, ...]

    def to_frame(self) -> pd.DataFrame:
        """The curve."""
        return self.curve.copy()

    def __repr__(self) -> str:
        return short_repr(self, parameter=self.parameter, visit=self.visit, tipping_delta=round(self.tipping_delta, 4),
                          mcp_tipping_delta=round(self.mcp_tipping_delta, 4), deltas=len(self.curve))

    def summary(self) -> Summary:
        """The tipping deltas and the curve."""
        lines = [(f"Tipping point of {self.parameter} at visit {self.visit}: delta added to the imputed outcomes of "
                  f"{', '.join(self.shifted_arms)}"),
                 f"Primary contrast (p < {self.alpha:g}): conclusion changes at delta {_text(self.tipping_delta)}"]
        if self.mcp_alpha is not None:
            lines.append(f"MCP-Mod on pooled LS means (adjusted p < {self.mcp_alpha:g}): conclusion changes at delta "
                         f"{_text(self.mcp_tipping_delta)}")
        return Summary(lines, frame=self.curve)


def _text(value: float) -> str:
    return "not on the grid" if np.isnan(value) else f"{value:.4g}"


def _crossing(deltas: FloatArray, p_values: FloatArray, level: float) -> float:
    """Where the conclusion at the delta nearest 0 first changes, on the side where that is nearer 0."""
    significant = p_values < level
    start = int(np.argmin(np.abs(deltas)))
    found = []
    for step in (1, -1):
        k = start
        while 0 <= k + step < len(deltas) and significant[k + step] == significant[start]:
            k += step
        if 0 <= k + step < len(deltas):
            d0, d1, p0, p1 = deltas[k], deltas[k + step], p_values[k], p_values[k + step]
            found.append(float(d0 + (level - p0) * (d1 - d0) / (p1 - p0)) if p1 != p0 else float(d1))
    return min(found, key=abs) if found else float("nan")


def tipping_point(
    draws: ParameterDraws,
    deltas: ArrayLike,
    *,
    visit: object | None = None,
    arm: object | None = None,
    control: object | None = None,
    shifted_arms: list[object] | None = None,
    model: Literal["ancova", "mmrm"] = "ancova",
    alpha: float = 0.05,
    candidates: Candidates | None = None,
    doses: Mapping[object, float] | None = None,
    mcp_alpha: float = 0.025,
    seed: int | np.random.Generator = 0,
) -> TippingPoint:
    """Follow the primary conclusion, and MCP-Mod's, over a grid of delta adjustments.

    Parameters
    ----------
    draws
        Parameter draws (:func:`~dosefinding.imputation.mmrm_draws`) under the primary
        imputation strategy (often MAR).
    deltas
        The grid, in the outcome's units, in increasing order; it should contain 0.
    visit
        The visit of the conclusion (default the last).
    arm, control
        The primary contrast is ``arm`` minus ``control`` (defaults: the control of
        :func:`~dosefinding.imputation.analyse`; the only other arm, else required).
    shifted_arms
        Arms whose imputed outcomes are shifted (default: every arm that has another arm as
        its reference; every arm but the control when no references were given).
    model
        ``"ancova"`` or ``"mmrm"`` analysis of each imputed data set.
    alpha
        Two-sided level of the primary contrast.
    candidates, doses, mcp_alpha
        Candidate models and the dose of each arm (``{"PLACEBO": 0, ...}``) for the multiple
        contrast test on the pooled LS means at ``visit``, at level ``mcp_alpha``
        (one-sided, in the candidates' direction).
    seed
        Random numbers of the imputation.

    Examples
    --------
    >>> from dosefinding.datasets import antidepressant_data
    >>> from dosefinding.imputation import imputation_data, mmrm_draws
    >>> d = imputation_data(antidepressant_data(), subject="PATIENT", visit="VISIT", outcome="CHANGE", arm="THERAPY",
    ...                     covariates=["BASVAL"])
    >>> tp = tipping_point(mmrm_draws(d), np.linspace(0, 8, 17), arm="DRUG", control="PLACEBO",
    ...                    shifted_arms=["DRUG"])
    >>> bool(tp.curve["significant"].iloc[0]), 0 < tp.tipping_delta < 8
    (True, True)
    """
    data = draws.data
    grid = np.asarray(deltas, dtype=float)
    if grid.ndim != 1 or len(grid) < 2 or not np.all(np.isfinite(grid)) or np.any(np.diff(grid) <= 0):
        raise InputError(f"deltas: need at least two finite values in increasing order, got {deltas!r}")
    level = as_probability(alpha, "alpha")
    visit_label = str(data.visits[-1] if visit is None else visit)
    if visit_label not in data.visits:
        raise InputError(f"visit: {visit!r} is not a visit of the data (visits {data.visits.tolist()})")
    for name, value in [("arm", arm), ("control", control)]:
        if value is not None and str(value) not in data.arms:
            raise InputError(f"{name}: arm {value!r} does not exist (arms {data.arms.tolist()})")
    imputed = impute(draws, seed=seed)
    base = analyse(imputed, model=model, control=control)
    others = [a for a in data.arms if a != base.control]
    if arm is None and len(others) != 1:
        raise InputError(f"arm: name the arm of the primary contrast (one of {others})")
    target = str(arm) if arm is not None else others[0]
    if target == base.control:
        raise InputError(f"arm: {arm!r} is the control arm")
    if shifted_arms is None:
        codes = [a for a, r in enumerate(data.reference) if r != a] or \
            [a for a in range(len(data.arms)) if data.arms[a] != base.control]
    else:
        for value in shifted_arms:
            if str(value) not in data.arms:
                raise InputError(f"shifted_arms: arm {value!r} does not exist (arms {data.arms.tolist()})")
        codes = [data.arms.get_loc(str(value)) for value in shifted_arms]
    shifted = np.isin(data.arm, codes)
    safe = np.where(imputed.rows >= 0, imputed.rows, 0)
    mask = imputed.imputed & shifted[safe][:, :, None]
    dose_values = None
    if candidates is not None:
        if doses is None or {str(k) for k in doses} != set(data.arms):
            raise InputError(f"doses: give the dose of every arm {data.arms.tolist()} for the MCP-Mod test")
        dose_values = np.array([float(doses[next(k for k in doses if str(k) == a)]) for a in data.arms])
        as_probability(mcp_alpha, "mcp_alpha")
    rows = []
    for delta in grid:
        analysis = analyse(replace(imputed, y=imputed.y + delta * mask), model=model, control=base.control)
        result = pool(analysis, confidence_level=1 - level).estimate(f"trt_{target}", visit_label)
        row = {"delta": delta, "estimate": result["estimate"], "lower": result["lower"], "upper": result["upper"],
               "p_value": result["p_value"], "significant": bool(result["p_value"] < level)}
        if candidates is not None and dose_values is not None:
            est, cov, df = pooled_lsmeans(analysis, visit_label)
            order = np.argsort(dose_values)
            test = mct_test(candidates, doses=dose_values[order], estimates=est[order], cov=cov[np.ix_(order, order)],
                            df=None if np.isinf(df) else df, alpha=mcp_alpha, critical_value=False)
            p_values = test.p_values
            row["mcp_p_value"] = float(p_values.min()) if p_values is not None else float("nan")
            row["mcp_significant"] = bool(row["mcp_p_value"] < mcp_alpha)
        rows.append(row)
    curve = pd.DataFrame(rows)
    mcp_delta = _crossing(grid, curve["mcp_p_value"].to_numpy(), mcp_alpha) if candidates is not None else float("nan")
    return TippingPoint(curve=curve, tipping_delta=_crossing(grid, curve["p_value"].to_numpy(), level),
                        mcp_tipping_delta=mcp_delta, parameter=f"trt_{target}", visit=visit_label, alpha=level,
                        mcp_alpha=mcp_alpha if candidates is not None else None,
                        shifted_arms=tuple(str(data.arms[c]) for c in codes))
