"""The levels of a grouping column (arms, strata) in the order tables show them."""

from __future__ import annotations

import pandas as pd

from dosefinding.errors import InputError

__all__ = ["column_levels"]


def column_levels(column: pd.Series, given: list[object] | None, name: str) -> list[object]:
    """The levels of ``column``: ``given`` (each checked to be present), else the categories of a
    categorical column that are present, else the values present, sorted.

    Missing values are not a level. An absent ``given`` level is an :class:`InputError` naming ``name``.

    Examples
    --------
    >>> column_levels(pd.Series(["B", "A", None, "B"]), None, "ARM")
    ['A', 'B']
    >>> column_levels(pd.Series(["B", "A"]), ["B", "A"], "ARM")
    ['B', 'A']
    """
    present = list(pd.unique(column.dropna()))
    if given is not None:
        unknown = [a for a in given if a not in present]
        if unknown:
            raise InputError(f"{name}: value(s) {unknown} not found; values are {present}")
        return list(given)
    if isinstance(column.dtype, pd.CategoricalDtype):
        return [c for c in column.cat.categories if c in present]
    return sorted(present, key=lambda v: (str(type(v)), v))
