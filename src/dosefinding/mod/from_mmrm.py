"""From an MMRM fit to MCP-Mod at one visit: the dose-group estimates and their covariance.

The first stage of the A2201 analysis is an MMRM of the change from baseline; the MCP and
Mod steps then take the LS means of the arms at the primary visit (Week 24) with their
covariance, as R DoseFinding's ``MCTtest(dose, resp, S = vcov, type = "general")``.
:func:`mmrm_estimates` returns them in the estimates form of
:func:`~dosefinding.mcp.mct_test` and :func:`~dosefinding.mod.mcpmod`, so both take it
unpacked::

    estimates = mmrm_estimates(fit, arm="ARM", visit="Week 24", doses={"Placebo": 0, ...})
    mct_test(candidates, **estimates)
    mcpmod(candidates, **estimates, delta=1.0)

It lives in ``mod`` (which sits above ``mcp``) rather than in ``mmrm``, which stands alone;
it uses only the fit's public :meth:`~dosefinding.mmrm.MMRMResult.lsmeans`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from dosefinding.errors import InputError
from dosefinding.summary import Summary, SummaryDisplay, SummaryTable, short_repr
from dosefinding.validation import as_doses

if TYPE_CHECKING:
    from dosefinding.mmrm import MMRMResult

__all__ = ["MMRMEstimates", "mmrm_estimates"]

_KEYS = ("doses", "estimates", "cov", "df", "placebo_adjusted")


@dataclass(frozen=True)
class MMRMEstimates(SummaryDisplay, Mapping[str, Any]):
    """Dose-group estimates of an MMRM at one visit, unpackable into ``mct_test`` / ``mcpmod``.

    As a mapping it holds exactly the keyword arguments of the estimates form:
    ``doses, estimates, cov, df, placebo_adjusted``.

    Attributes
    ----------
    doses
        Dose of each estimate, increasing (without placebo when ``placebo_adjusted``).
    estimates
        LS means (or differences against placebo), labelled by arm.
    cov
        Their covariance, labelled by arm.
    df
        Degrees of freedom for the test (``inf``: normal, DoseFinding's default).
    placebo_adjusted
        Whether the estimates are differences against placebo.
    visit
        The visit of the estimates (``None`` for a fit without a visit factor in ``by``).
    lsmeans
        The rows of the LS means (or differences) table used: ``estimate, se, df, ...``.
    """

    doses: NDArray[np.float64]
    estimates: pd.Series
    cov: pd.DataFrame
    df: float
    placebo_adjusted: bool
    visit: object
    lsmeans: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        """One row per dose: ``estimate`` and ``se``."""
        return pd.DataFrame({"estimate": self.estimates.to_numpy(), "se": np.sqrt(np.diag(self.cov.to_numpy()))},
                            index=pd.Index(self.doses, name="dose"))

    def __repr__(self) -> str:
        return short_repr(self, doses=self.doses.tolist(), estimates=[round(float(v), 4) for v in self.estimates],
                          df=self.df, placebo_adjusted=self.placebo_adjusted, visit=self.visit)

    def summary(self) -> Summary:
        """The estimates by dose with their standard errors, and the degrees of freedom."""
        kind = "differences to placebo" if self.placebo_adjusted else "LS means"
        visit = "" if self.visit is None else f" at {self.visit}"
        return Summary([f"MMRM estimates{visit}: {kind} by dose (df = {self.df:g})",
                        SummaryTable(self.to_frame().round(4))], frame=self.to_frame())

    def __getitem__(self, key: str) -> Any:
        if key not in _KEYS:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(_KEYS)

    def __len__(self) -> int:
        return len(_KEYS)


def _check_doses(doses: Mapping[Any, float], levels: list[object], arm: str) -> dict[object, float]:
    if not isinstance(doses, Mapping):
        raise InputError(f"doses: must map each level of {arm!r} to its dose, got {type(doses).__name__}")
    missing = [level for level in levels if level not in doses]
    extra = [level for level in doses if level not in levels]
    if missing or extra:
        raise InputError(f"doses: must give the dose of each level of {arm!r} ({levels}); "
                         f"missing {missing}, not levels {extra}")
    return {level: doses[level] for level in levels}


def mmrm_estimates(
    fit: MMRMResult,
    *,
    arm: str,
    doses: Mapping[Any, float],
    visit: object = None,
    placebo_adjusted: bool = False,
    df: float | str | None = None,
    weights: str = "equal",
) -> MMRMEstimates:
    """LS means of the arms at one visit (or their differences against placebo) with their covariance.

    Parameters
    ----------
    fit
        An MMRM (:func:`~dosefinding.mmrm.mmrm`) with the factor ``arm``.
    arm
        The treatment factor of the model.
    doses
        The dose of every level of ``arm``; exactly one is 0 (placebo).
    visit
        The level of the fit's visit factor (``by``) at which to take the LS means; ``None``
        when the model has no visit factor (a single-visit ANCOVA).
    placebo_adjusted
        Differences against the placebo arm instead of the LS means (DoseFinding's
        ``placAdj = TRUE``; the doses then exclude 0).
    df
        Degrees of freedom of the multiple contrast test: ``None`` (normal, as DoseFinding's
        type ``"general"`` default), a number, or ``"min"``: the smallest df of the LS means
        (or differences) used, by the fit's ``df_method``.
    weights
        Weights of the other factors in the LS means (see :meth:`MMRMResult.lsmeans`).

    Returns
    -------
    MMRMEstimates

    Examples
    --------
    The CDISC pilot's ADAS-Cog(11) change from baseline at week 24 (placebo, 54 and 81 mg):

    >>> from dosefinding import Candidates, mct_test, mmrm
    >>> from dosefinding.datasets import cdisc_pilot
    >>> adas = cdisc_pilot()["adqsadas"]
    >>> observed = (adas["PARAMCD"] == "ACTOT") & (adas["ANL01FL"] == "Y") & adas["DTYPE"].isna()
    >>> adas = adas[observed & (adas["EFFFL"] == "Y") & (adas["AVISITN"] > 0)].astype({"TRTPN": str})
    >>> fit = mmrm("CHG ~ TRTPN * AVISIT + BASE", adas, subject="USUBJID", visit="AVISIT")
    >>> est = mmrm_estimates(fit, arm="TRTPN", visit="Week 24", doses={"0": 0, "54": 54, "81": 81})
    >>> sorted(est), est.estimates.index.tolist()
    (['cov', 'df', 'doses', 'estimates', 'placebo_adjusted'], ['0', '54', '81'])
    >>> cands = Candidates([0, 54, 81], {"linear": None, "emax": 20}, max_effect=2.0)
    >>> mct_test(cands, **est).t_statistics.index.tolist()
    ['linear', 'emax']
    """
    if not hasattr(fit, "lsmeans") or not hasattr(fit, "_data"):
        raise InputError(f"fit: must be an MMRMResult (from mmrm()), got {type(fit).__name__}")
    if not isinstance(placebo_adjusted, bool):
        raise InputError(f"placebo_adjusted: must be True or False, got {placebo_adjusted!r}")
    visit_name = str(fit._data.visits.name)
    by = None if visit is None else visit_name
    if arm not in fit._data.covariates:
        raise InputError(f"arm: {arm!r} is not a variable of the model ({list(fit._data.covariates)})")
    if by is not None and by not in fit._data.covariates:
        raise InputError(f"visit: the model has no term in {visit_name!r}; use visit=None")
    levels = fit.lsmeans(arm, weights=weights).estimates.index.tolist()
    dose_of = _check_doses(doses, levels, arm)
    ordered = sorted(levels, key=lambda level: dose_of[level])
    dose_values = as_doses([dose_of[level] for level in ordered], "doses")
    placebo = ordered[0]
    ls = fit.lsmeans(arm, by=by, reference=placebo, weights=weights)
    if by is not None:
        visits = ls.estimates.index.get_level_values(0)
        if visit not in set(visits):
            raise InputError(f"visit: {visit!r} is not a level of {visit_name!r} ({list(dict.fromkeys(visits))})")
        index = [(visit, level) for level in ordered]
    else:
        index = ordered
    cov = ls.cov.loc[index, index].to_numpy()
    table = ls.estimates.loc[index]
    estimate = table["estimate"].to_numpy()
    labels = ordered
    if placebo_adjusted:
        contrast = np.hstack([-np.ones((len(ordered) - 1, 1)), np.eye(len(ordered) - 1)])
        estimate, cov = contrast @ estimate, contrast @ cov @ contrast.T
        table = ls.differences.loc[index[1:]]
        labels, dose_values = ordered[1:], dose_values[1:]
    if np.isnan(estimate).any():
        raise InputError(f"fit: an LS mean of {arm!r} at {visit!r} is not estimable")
    if df is None:
        df_value = np.inf
    elif isinstance(df, str):
        if df != "min":
            raise InputError(f"df: must be None, a number or 'min', got {df!r}")
        df_value = float(table["df"].min())
    else:
        df_value = float(df)
        if not df_value > 0:
            raise InputError(f"df: must be positive, got {df!r}")
    names = pd.Index(labels, name=arm)
    return MMRMEstimates(
        doses=dose_values,
        estimates=pd.Series(estimate, index=names, name="estimate"),
        cov=pd.DataFrame(cov, index=names, columns=names),
        df=df_value,
        placebo_adjusted=placebo_adjusted,
        visit=visit,
        lsmeans=table,
    )
