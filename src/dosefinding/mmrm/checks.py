"""Checks of the input data shared by the fit and the predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dosefinding.errors import InputError

__all__ = ["check_one_row_per_visit"]


def check_one_row_per_visit(data: pd.DataFrame, subject: str, visit: str) -> None:
    """:class:`InputError` naming the first subject with more than one row at a visit (rows missing either are ignored).

    Examples
    --------
    >>> check_one_row_per_visit(pd.DataFrame({"id": ["p1", "p1"], "v": ["a", "b"]}), "id", "v")
    >>> check_one_row_per_visit(pd.DataFrame({"id": ["p1", "p1"], "v": ["a", "a"]}), "id", "v")
    Traceback (most recent call last):
    ...
    dosefinding.errors.InputError: data: subject 'p1' (id) has more than one row at visit 'a' (v); need one row per ...
    """
    subject_codes, visit_codes = pd.factorize(data[subject])[0], pd.factorize(data[visit])[0]
    key = subject_codes.astype(np.int64) * (int(visit_codes.max()) + 2) + visit_codes
    key = key[(subject_codes >= 0) & (visit_codes >= 0)]
    if np.unique(key).size < key.size:
        keys = data[[subject, visit]].dropna()
        first = keys[keys.duplicated(keep=False)].iloc[0]
        raise InputError(
            f"data: subject {first[subject]!r} ({subject}) has more than one row at visit "
            f"{first[visit]!r} ({visit}); need one row per subject and visit"
        )
