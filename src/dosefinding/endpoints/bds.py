"""Derivation of ADaM BDS rows (PARAMCD, AVISIT, AVAL, BASE, CHG, CRIT1FL, AVALCAT1) from
item-level data scored by an instrument.

One output row per input row (subject and visit). ``BASE`` is the subject's value at the
baseline visit (``ABLFL == "Y"``); ``CHG = AVAL - BASE`` on post-baseline rows (null on
the baseline row and when either value is missing); ``CRIT1FL`` flags the responder
criterion on ``CHG`` (``"Y"``/``"N"``, null where ``CHG`` is missing); ``AVALCAT1`` is
the category of ``AVAL``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from dosefinding.endpoints.categories import Side, categorize
from dosefinding.errors import InputError

__all__ = ["derive_bds"]

_OPERATORS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
    ">": operator.gt,
}


def derive_bds(
    data: pd.DataFrame,
    score: Callable[[pd.DataFrame], pd.Series],
    *,
    paramcd: str,
    param: str | None = None,
    subject: str = "USUBJID",
    visit: str = "AVISIT",
    visit_number: str | None = "AVISITN",
    baseline: object = "Baseline",
    keep: Sequence[str] = (),
    crit1: tuple[str, float] | None = None,
    cut_points: Sequence[float] | None = None,
    labels: Sequence[str] | None = None,
    cut_belongs_to: Side | Sequence[Side] = "upper",
) -> pd.DataFrame:
    """ADaM BDS rows of one parameter from item-level data.

    Parameters
    ----------
    data
        One row per subject and visit with the item columns ``score`` needs.
    score
        Scores the rows: a function of ``data`` returning a Series on its index, e.g.
        :func:`~dosefinding.endpoints.instruments.essdai.essdai` or
        ``lambda d: facit_fatigue(d)["score"]``.
    paramcd, param
        ``PARAMCD`` and ``PARAM`` (default ``paramcd``) of the rows.
    subject, visit, visit_number
        Columns of the subject, the analysis visit and its number (``None``: no number;
        rows are then kept in input order within a subject).
    baseline
        The ``visit`` value of the baseline visit.
    keep
        Further columns of ``data`` to carry over (e.g. ``TRT01P``, strata).
    crit1
        Responder criterion on ``CHG`` as (operator, value), e.g. ``("<=", -3)`` for a
        decrease of at least 3 points; gives ``CRIT1`` (its text) and ``CRIT1FL``.
    cut_points, labels, cut_belongs_to
        Categories of ``AVAL`` for ``AVALCAT1``, as
        :func:`~dosefinding.endpoints.categories.categorize` (missing ``AVAL`` gives a
        null ``AVALCAT1``).

    Returns
    -------
    pandas.DataFrame
        ``subject``, ``keep``, ``PARAMCD``, ``PARAM``, ``visit``, ``visit_number``,
        ``ABLFL``, ``AVAL``, ``BASE``, ``CHG`` and, when asked, ``CRIT1``, ``CRIT1FL``,
        ``AVALCAT1``; sorted by subject and visit number.

    Examples
    --------
    >>> data = pd.DataFrame({"USUBJID": ["1", "1"], "AVISIT": ["Baseline", "Week 24"],
    ...                      "AVISITN": [0, 24], "dryness": [8, 4], "fatigue": [6, 5], "pain": [7, 3]})
    >>> from dosefinding.endpoints.instruments.esspri import esspri
    >>> bds = derive_bds(data, esspri, paramcd="ESSPRI", crit1=("<=", -1))
    >>> bds["AVAL"].tolist(), bds["BASE"].tolist(), bds["CHG"].tolist()
    ([7.0, 4.0], [7.0, 7.0], [nan, -3.0])
    >>> bds["CRIT1FL"].tolist(), bds["CRIT1"].iloc[0]
    (['', 'Y'], 'CHG <= -1')
    """
    if not isinstance(data, pd.DataFrame):
        raise InputError(f"data: must be a pandas DataFrame, got {type(data).__name__}")
    needed = [subject, visit, *([visit_number] if visit_number else []), *keep]
    missing = [c for c in needed if c not in data.columns]
    if missing:
        raise InputError(f"data: missing column(s) {missing}")
    if not isinstance(paramcd, str) or not paramcd or len(paramcd) > 8:
        raise InputError(f"paramcd: must be a non-empty string of at most 8 characters (ADaM), got {paramcd!r}")
    keys = [subject, visit]
    duplicated = data.duplicated(keys)
    if duplicated.any():
        row = data.loc[duplicated, keys].iloc[0].tolist()
        raise InputError(f"data: more than one row for {subject}, {visit} = {row}")

    aval = pd.Series(score(data), copy=True)
    if not aval.index.equals(data.index):
        raise InputError("score: must return a Series on the index of data")
    aval = pd.to_numeric(aval, errors="coerce").to_numpy(float)

    out = data[[subject, *keep]].copy()
    out["PARAMCD"] = paramcd
    out["PARAM"] = param if param is not None else paramcd
    out[visit] = data[visit]
    if visit_number:
        out[visit_number] = data[visit_number]
    is_base = (data[visit] == baseline).to_numpy()
    out["ABLFL"] = np.where(is_base, "Y", "")
    out["AVAL"] = aval
    base_by_subject = pd.Series(aval[is_base], index=data.loc[is_base, subject].to_numpy())
    out["BASE"] = data[subject].map(base_by_subject).to_numpy(float)
    chg = np.where(is_base, np.nan, out["AVAL"].to_numpy() - out["BASE"].to_numpy())
    out["CHG"] = chg

    if crit1 is not None:
        op, value = crit1
        if op not in _OPERATORS:
            raise InputError(f"crit1: operator must be one of {list(_OPERATORS)}, got {op!r}")
        if not np.isfinite(value):
            raise InputError(f"crit1: threshold must be finite, got {value!r}")
        met = _OPERATORS[op](np.nan_to_num(chg), value)
        out["CRIT1"] = f"CHG {op} {value:g}"
        out["CRIT1FL"] = np.where(np.isnan(chg), "", np.where(met, "Y", "N"))

    if cut_points is not None:
        if labels is None:
            raise InputError("labels: needed with cut_points")
        categories = categorize(aval, cut_points=cut_points, labels=labels, cut_belongs_to=cut_belongs_to, name="AVAL")
        out["AVALCAT1"] = np.where(np.isnan(aval), "", np.asarray(categories.astype(str)))
    elif labels is not None:
        raise InputError("cut_points: needed with labels")

    order = [subject, visit_number] if visit_number else [subject]
    return out.sort_values(order, kind="stable").reset_index(drop=True)
