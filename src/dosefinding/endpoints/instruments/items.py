"""Item-level input of questionnaires and clinical indices: one column per item, values checked.

Every instrument module reads its items through :func:`item_matrix`, so an invalid
level names the item (column), the value and the row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from dosefinding.errors import InputError

__all__ = ["as_frame", "item_matrix", "mean_of_answered", "numbered_items", "recode_items"]


def _shown(value: object) -> str:
    return repr(value.item() if isinstance(value, np.generic) else value)


def as_frame(data: pd.DataFrame | Mapping[str, object], name: str = "data") -> pd.DataFrame:
    """A DataFrame of item columns; a mapping of scalars is one row.

    Examples
    --------
    >>> as_frame({"dryness": 5, "fatigue": 6}).shape
    (1, 2)
    """
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, Mapping):
        values = dict(data)
        if all(np.ndim(v) == 0 for v in values.values()):
            return pd.DataFrame([values])
        return pd.DataFrame(values)
    raise InputError(f"{name}: must be a DataFrame or a mapping item -> values, got {type(data).__name__}")


def item_matrix(
    data: pd.DataFrame,
    items: Mapping[str, str],
    *,
    allowed: Mapping[str, Sequence[float]] | None = None,
    bounds: tuple[float, float] | None = None,
    allow_missing: bool,
    instrument: str,
) -> NDArray[np.float64]:
    """The items as a float matrix (rows x items), missing values NaN.

    Parameters
    ----------
    data
        One row per assessment.
    items
        Item name -> column of ``data`` holding it (in the order of the matrix columns).
    allowed
        Item name -> allowed values (levels); or ``None`` with ``bounds``.
    bounds
        Closed interval every value must lie in (for continuous scales such as a VAS).
    allow_missing
        Whether NaN/None are allowed (otherwise :class:`InputError`).
    instrument
        Name used in the error messages.

    Examples
    --------
    >>> frame = pd.DataFrame({"a": [0, 2], "b": [1, None]})
    >>> item_matrix(frame, {"a": "a", "b": "b"}, allowed={"a": [0, 1, 2], "b": [0, 1]},
    ...             allow_missing=True, instrument="X").tolist()
    [[0.0, 1.0], [2.0, nan]]
    """
    missing_columns = [column for column in items.values() if column not in data.columns]
    if missing_columns:
        raise InputError(f"{instrument}: missing item column(s) {missing_columns}")
    out = np.empty((len(data), len(items)))
    for j, (item, column) in enumerate(items.items()):
        raw = data[column]
        values = pd.to_numeric(raw, errors="coerce").to_numpy(float)
        absent = pd.isna(raw).to_numpy() | (raw.astype(object) == "").to_numpy()
        unreadable = np.isnan(values) & ~absent
        if unreadable.any():
            row = int(np.flatnonzero(unreadable)[0])
            raise InputError(
                f"{instrument}: {item} ({column!r}) has non-numeric value {_shown(raw.iloc[row])} in row {row}"
            )
        if absent.any() and not allow_missing:
            row = int(np.flatnonzero(absent)[0])
            raise InputError(f"{instrument}: {item} ({column!r}) is missing in row {row}")
        present = ~np.isnan(values)
        if allowed is not None:
            levels = np.asarray(allowed[item], dtype=float)
            bad = present & ~np.isin(values, levels)
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                raise InputError(
                    f"{instrument}: {item} ({column!r}) = {_shown(raw.iloc[row])} in row {row} is not an allowed "
                    f"level {[int(v) if v == int(v) else v for v in levels]}"
                )
        if bounds is not None:
            low, high = bounds
            bad = present & ((values < low) | (values > high) | ~np.isfinite(values))
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                raise InputError(
                    f"{instrument}: {item} ({column!r}) = {_shown(raw.iloc[row])} in row {row} is outside [{low:g}, {high:g}]"
                )
        out[:, j] = values
    return out


def numbered_items(
    data: pd.DataFrame | Mapping[str, object],
    levels: Mapping[int, int],
    *,
    prefix: str,
    columns: Mapping[int, str] | None,
    instrument: str,
) -> tuple[pd.DataFrame, NDArray[np.float64]]:
    """Numbered questionnaire items with precoded responses ``1 .. levels[k]``, missing allowed.

    Item ``k`` is read from column ``f"{prefix}{k}"`` unless ``columns`` maps ``k`` to
    another column; errors name the item as ``item k``. ``columns`` may name any item
    ``1 .. max(levels)``, including items that are not read.

    Examples
    --------
    >>> frame, matrix = numbered_items({"Q1": 2, "X": None}, {1: 5, 2: 3}, prefix="Q",
    ...                                columns={2: "X"}, instrument="X")
    >>> matrix.tolist()
    [[2.0, nan]]
    """
    frame = as_frame(data)
    columns = dict(columns or {})
    unknown = sorted(set(columns) - set(range(1, max(levels) + 1)), key=str)
    if unknown:
        raise InputError(f"columns: unknown {instrument} item number(s) {unknown}; items are 1-{max(levels)}")
    names = {f"item {k}": columns.get(k, f"{prefix}{k}") for k in levels}
    allowed = {f"item {k}": tuple(range(1, n + 1)) for k, n in levels.items()}
    return frame, item_matrix(frame, names, allowed=allowed, allow_missing=True, instrument=instrument)


def recode_items(responses: NDArray[np.float64], keys: Sequence[Sequence[float]]) -> NDArray[np.float64]:
    """Recode precoded responses ``1, 2, ...`` of each column by its key; NaN stays NaN.

    ``keys[j][r - 1]`` is the value of response ``r`` in column ``j``; responses must be
    valid levels (as checked by :func:`item_matrix`).

    Examples
    --------
    >>> recode_items(np.array([[1.0, 3.0], [2.0, np.nan]]), [(0, 100), (5, 4, 3)]).tolist()
    [[0.0, 3.0], [100.0, nan]]
    """
    width = max(len(key) for key in keys)
    table = np.full((len(keys), width + 1), np.nan)
    for j, key in enumerate(keys):
        table[j, 1 : len(key) + 1] = key
    index = np.where(np.isnan(responses), 0, responses).astype(int)
    return table[np.arange(len(keys)), index]


def mean_of_answered(block: NDArray[np.float64], min_answered: int) -> NDArray[np.float64]:
    """Row means over the answered (non-NaN) items; NaN where fewer than ``min_answered``.

    Examples
    --------
    >>> mean_of_answered(np.array([[1.0, np.nan, 3.0], [np.nan, np.nan, 4.0]]), 2).tolist()
    [2.0, nan]
    """
    answered = np.sum(~np.isnan(block), axis=1)
    total = np.nansum(block, axis=1)
    return np.where(answered >= max(min_answered, 1), total / np.maximum(answered, 1), np.nan)
