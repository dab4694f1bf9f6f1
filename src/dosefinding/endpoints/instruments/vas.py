"""Visual analogue scales in millimetres: physician's and patient's global assessments (PhGA, PaGA).

A 100 mm VAS is recorded as the distance from the left anchor, 0 to 100 mm.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from dosefinding.endpoints.instruments.items import item_matrix

__all__ = ["vas_mm"]


def vas_mm(
    values: pd.Series | Sequence[float],
    name: str = "VAS",
    *,
    allow_missing: bool = True,
) -> pd.Series:
    """VAS readings checked to lie in 0-100 mm, as floats (missing kept as NaN by default).

    Parameters
    ----------
    values
        The readings, e.g. PhGA or PaGA.
    name
        Name of the scale, used in errors and as the name of the result.
    allow_missing
        Whether missing readings are allowed.

    Examples
    --------
    >>> vas_mm([0, 42.5, 100], "PhGA").tolist()
    [0.0, 42.5, 100.0]
    """
    series = pd.Series(values, name=name) if not isinstance(values, pd.Series) else values.rename(name)
    matrix = item_matrix(
        series.to_frame(), {name: name}, bounds=(0.0, 100.0), allow_missing=allow_missing, instrument=name
    )
    return pd.Series(matrix[:, 0].astype(np.float64), index=series.index, name=name)
