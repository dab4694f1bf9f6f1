"""EULAR Sjögren's Syndrome Patient Reported Index (ESSPRI).

Seror et al., Ann Rheum Dis 2011;70:968-72: the mean of three 0-10 numerical rating
scales, dryness, fatigue and pain (limb pain); range 0-10. Unsatisfactory symptom state:
ESSPRI >= 5 (Seror et al., Ann Rheum Dis 2016;75:382-9).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from dosefinding.endpoints.instruments.items import as_frame, item_matrix

__all__ = ["ESSPRI_ITEMS", "esspri"]

ESSPRI_ITEMS: tuple[str, ...] = ("dryness", "fatigue", "pain")


def esspri(
    data: pd.DataFrame | Mapping[str, object],
    *,
    columns: Mapping[str, str] | None = None,
    allow_missing: bool = False,
) -> pd.Series:
    """ESSPRI: mean of the dryness, fatigue and pain ratings (each 0-10).

    Parameters
    ----------
    data
        One row per assessment with columns ``dryness``, ``fatigue``, ``pain`` (or as
        mapped by ``columns``).
    columns
        Item -> column name.
    allow_missing
        A row with a missing rating scores NaN instead of raising :class:`InputError`
        (the ESSPRI is not defined from fewer than the three ratings).

    Examples
    --------
    >>> esspri({"dryness": 7, "fatigue": 5, "pain": 3}).tolist()
    [5.0]
    """
    frame = as_frame(data)
    columns = dict(columns or {})
    items = {item: columns.get(item, item) for item in ESSPRI_ITEMS}
    matrix = item_matrix(frame, items, bounds=(0.0, 10.0), allow_missing=allow_missing, instrument="ESSPRI")
    return pd.Series(np.mean(matrix, axis=1), index=frame.index, name="ESSPRI")
