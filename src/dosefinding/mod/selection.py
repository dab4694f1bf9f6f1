"""Choosing among fitted dose-response shapes, as R DoseFinding's ``MCPMod``.

Three methods (R's ``selModel``): ``"AIC"`` picks the fit with the smallest AIC (raw
data) or gAIC (estimates); ``"maxT"`` picks the shape whose contrast has the largest t
statistic in the MCP step; ``"aveAIC"`` picks none and weights the fits by
``exp(-AIC / 2)``, normalised (Buckland, Burnham and Augustin 1997).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from dosefinding.errors import InputError
from dosefinding.mod.fit import DoseResponseFit
from dosefinding.summary import Summary, SummaryDisplay, SummaryTable, short_repr
from dosefinding.validation import as_vector

__all__ = ["ModelSelection", "Selection", "aic_weights", "select_model"]

Selection = Literal["AIC", "maxT", "aveAIC"]


@dataclass(frozen=True)
class ModelSelection(SummaryDisplay):
    """The choice among fitted shapes.

    Attributes
    ----------
    method
        ``"AIC"``, ``"maxT"`` or ``"aveAIC"``.
    criterion
        What :attr:`criteria` holds: ``"AIC"`` (raw data), ``"gAIC"`` (estimates) or
        ``"maxT"`` (the largest t statistic of each shape's contrasts).
    criteria
        The criterion by shape, in the order of the fits.
    selected
        The chosen shape (``None`` for ``"aveAIC"``).
    weights
        AIC weights by shape (``"aveAIC"`` only).

    Examples
    --------
    >>> sel = select_model({}, "maxT", t_statistics={"linear": 2.1, "emax": 3.0})
    >>> sel.selected
    'emax'
    """

    method: Selection
    criterion: Literal["AIC", "gAIC", "maxT"]
    criteria: pd.Series
    selected: str | None
    weights: pd.Series | None

    def to_frame(self) -> pd.DataFrame:
        """One row per shape: the criterion, its AIC ``weight`` (``"aveAIC"``) and whether it was ``selected``."""
        frame = pd.DataFrame({self.criterion: self.criteria})
        if self.weights is not None:
            frame["weight"] = self.weights
        frame["selected"] = frame.index == self.selected
        return frame

    def __repr__(self) -> str:
        return short_repr(self, method=self.method, selected=self.selected,
                          criteria={k: round(float(v), 4) for k, v in self.criteria.items()})

    def summary(self) -> Summary:
        """The criteria and the choice, laid out as the end of R's ``print(MCPMod(...))``."""
        table = pd.DataFrame({self.criterion: self.criteria.round(4)})
        if self.weights is not None:
            table["weight"] = self.weights.round(4)
        lines: list[str | SummaryTable] = [SummaryTable(table)]
        if self.selected is not None:
            lines += ["", f"Selected model ({self.method}): {self.selected}"]
        return Summary(lines, frame=self.to_frame())


def select_model(
    fits: Mapping[str, DoseResponseFit],
    method: Selection = "AIC",
    t_statistics: Mapping[str, float] | pd.Series | None = None,
) -> ModelSelection:
    """Choose a shape by AIC / gAIC or maximum t statistic, or weight them by AIC.

    Parameters
    ----------
    fits
        Fits by shape name, all of raw data or all of estimates (for ``"AIC"`` and
        ``"aveAIC"``).
    method
        ``"AIC"`` (the smallest AIC, or gAIC for estimates), ``"maxT"`` (the largest t
        statistic) or ``"aveAIC"`` (AIC weights, see :func:`aic_weights`). Ties go to the
        first shape, as R's ``which.min``.
    t_statistics
        For ``"maxT"``: the largest t statistic of each shape's (significant) contrasts,
        by shape name; these are the criteria, and ``fits`` may be empty.

    Examples
    --------
    >>> import numpy as np
    >>> from dosefinding.mod import fit_dose_response
    >>> est = dict(doses=[0, 1, 2, 4], estimates=[0.0, 0.6, 0.8, 0.9], cov=np.eye(4) * 0.01)
    >>> fits = {s: fit_dose_response(s, **est) for s in ("linear", "emax")}
    >>> select_model(fits, "AIC").selected
    'emax'
    """
    if method not in ("AIC", "maxT", "aveAIC"):
        raise InputError(f"method: must be 'AIC', 'maxT' or 'aveAIC', got {method!r}")
    if method == "maxT":
        if t_statistics is None:
            raise InputError("t_statistics: needed to select by the maximum t statistic")
        criteria = pd.Series(t_statistics, dtype=float, name="maxT")
        missing = [shape for shape in fits if shape not in criteria.index]
        if missing:
            raise InputError(f"t_statistics: no t statistic for the fitted shape(s) {missing}")
        if criteria.empty or not np.all(np.isfinite(criteria.to_numpy())):
            raise InputError(f"t_statistics: need finite values, got {criteria.to_dict()}")
        if len(fits):
            criteria = criteria[list(fits)]
        return ModelSelection(method, "maxT", criteria, str(criteria.index[int(np.argmax(criteria))]), None)
    if not fits:
        raise InputError("fits: need at least one fit to compare")
    fit_types = {fit.fit_type for fit in fits.values()}
    if len(fit_types) > 1:
        raise InputError("fits: all fits must be to raw data (AIC) or all to estimates (gAIC), not a mix")
    criterion: Literal["AIC", "gAIC"] = "AIC" if fit_types == {"normal"} else "gAIC"
    values = [fit.aic if criterion == "AIC" else fit.gaic for fit in fits.values()]
    criteria = pd.Series(values, index=list(fits), dtype=float, name=criterion)
    if method == "aveAIC":
        return ModelSelection(method, criterion, criteria, None, aic_weights(criteria))
    return ModelSelection(method, criterion, criteria, str(criteria.index[int(np.argmin(criteria))]), None)


def aic_weights(criteria: pd.Series | ArrayLike) -> pd.Series:
    """Akaike weights ``exp(-c_i / 2) / sum_j exp(-c_j / 2)`` of AIC or gAIC values ``c``.

    Computed relative to the smallest value (the same weights, without underflow).

    Examples
    --------
    >>> aic_weights(pd.Series({"linear": 10.0, "emax": 10.0})).tolist()
    [0.5, 0.5]
    """
    index = criteria.index if isinstance(criteria, pd.Series) else None
    values = as_vector(criteria, "criteria")
    relative = np.exp(-0.5 * (values - values.min()))
    return pd.Series(relative / relative.sum(), index=index, name="weight")
