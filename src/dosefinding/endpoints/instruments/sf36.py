"""SF-36 Health Survey version 1 scale scores (0-100), the scoring of Ware et al. (1993).

Ware JE, Snow KK, Kosinski M, Gandek B, "SF-36 Health Survey: Manual and Interpretation
Guide" (1993), the scoring on which the 1990 US norms of the PCS and MCS rest
(:func:`~dosefinding.endpoints.instruments.sf36_summary.sf36_summary`). Same 36 items and
scales as RAND-36 (:data:`~dosefinding.endpoints.instruments.rand36.RAND36_SCALES`), but:

- each precoded response is given a final item value (table below; high = favourable),
  the raw scale score is the sum of the final values and the 0-100 score is
  ``(raw - lowest) / (highest - lowest) * 100``;
- bodily pain: item 21 is recalibrated 6.0, 5.4, 4.2, 3.1, 2.2, 1.0; item 22 scores 6, 4,
  3, 2, 1 if item 21 is 1, and 5, 4, 3, 2, 1 if item 21 is 2-6; with item 21 missing,
  item 22 scores 6, 4.75, 3.5, 2.25, 1;
- general health: item 1 is recalibrated 5.0, 4.4, 3.4, 2.0, 1.0; items 34 and 36 are
  reversed, 33 and 35 are not;
- missing items: a scale is scored when half or more of its items are answered, each
  missing item taking the mean of the answered ones (the same as scaling the mean of the
  answered final values); otherwise the scale is missing.

With every item answered PF, RP, VT, SF, RE and MH equal their RAND-36 scores; BP and GH
differ.

=======================  ==========================================
items                    final values of responses 1, 2, ...
=======================  ==========================================
3-12 (PF)                1, 2, 3
13-16 (RP), 17-19 (RE)   1, 2
21 (BP)                  6.0, 5.4, 4.2, 3.1, 2.2, 1.0
22 (BP)                  see above (depends on item 21)
1 (GH)                   5.0, 4.4, 3.4, 2.0, 1.0
33, 35 (GH)              1, 2, 3, 4, 5
34, 36 (GH)              5, 4, 3, 2, 1
23, 27 (VT)              6, 5, 4, 3, 2, 1
29, 31 (VT)              1, 2, 3, 4, 5, 6
20 (SF)                  5, 4, 3, 2, 1
32 (SF)                  1, 2, 3, 4, 5
24, 25, 28 (MH)          1, 2, 3, 4, 5, 6
26, 30 (MH)              6, 5, 4, 3, 2, 1
=======================  ==========================================
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
import pandas as pd

from dosefinding.endpoints.instruments.items import mean_of_answered, numbered_items, recode_items
from dosefinding.endpoints.instruments.rand36 import RAND36_SCALES

__all__ = ["SF36_RECODE", "SF36_SCALE_RANGE", "sf36_scales"]

_UP3, _UP5, _UP6 = (1, 2, 3), (1, 2, 3, 4, 5), (1, 2, 3, 4, 5, 6)
_KEYS: tuple[tuple[tuple[int, ...], tuple[float, ...]], ...] = (
    (tuple(range(3, 13)), _UP3),
    (tuple(range(13, 20)), (1, 2)),
    ((21,), (6.0, 5.4, 4.2, 3.1, 2.2, 1.0)),
    ((1,), (5.0, 4.4, 3.4, 2.0, 1.0)),
    ((33, 35, 32), _UP5),
    ((34, 36, 20), _UP5[::-1]),
    ((29, 31, 24, 25, 28), _UP6),
    ((23, 27, 26, 30), _UP6[::-1]),
)
SF36_RECODE: Mapping[int, tuple[float, ...]] = MappingProxyType(
    {item: tuple(float(v) for v in values) for items, values in _KEYS for item in items}
)
"""Item number -> final item value of each response 1, 2, ... (all scale items but 22,
whose values depend on item 21)."""

_ITEM22_WITH_21 = (5.0, 4.0, 3.0, 2.0, 1.0)
_ITEM22_WITHOUT_21 = (6.0, 4.75, 3.5, 2.25, 1.0)

SF36_SCALE_RANGE: Mapping[str, tuple[float, float]] = MappingProxyType(
    {"PF": (1.0, 3.0), "RP": (1.0, 2.0), "BP": (1.0, 6.0), "GH": (1.0, 5.0),
     "VT": (1.0, 6.0), "SF": (1.0, 5.0), "RE": (1.0, 2.0), "MH": (1.0, 6.0)}
)  # fmt: skip
"""Scale -> lowest and highest final item value (raw range = number of items x these)."""

_LEVELS: Mapping[int, int] = dict(sorted(({k: len(v) for k, v in SF36_RECODE.items()} | {22: 5}).items()))


def sf36_scales(
    data: pd.DataFrame | Mapping[str, object],
    *,
    prefix: str = "Q",
    columns: Mapping[int, str] | None = None,
) -> pd.DataFrame:
    """The eight SF-36 v1 scale scores (0-100, Ware 1993 scoring) from the 36 item responses.

    Parameters
    ----------
    data
        One row per questionnaire; item ``k`` (numbered 1-36 as printed on the SF-36 v1
        and RAND-36 forms) in column ``f"{prefix}{k}"`` unless ``columns`` maps item
        numbers to columns. The 35 scale items (all but item 2, health transition) must
        be columns; missing responses (NaN) are allowed.
    prefix
        Column name prefix of the items.
    columns
        Item number -> column name, overriding ``prefix``.

    Returns
    -------
    pandas.DataFrame
        Columns ``PF, RP, BP, GH, VT, SF, RE, MH``; a scale with fewer than half of its
        items answered is NaN.

    Examples
    --------
    Pain "very mild" (item 21 = 2 -> 5.4) interfering "a little bit" (item 22 = 2 -> 4):
    BP = (5.4 + 4 - 2) / 10 x 100 = 74, where RAND-36 gives (80 + 75) / 2 = 77.5.

    >>> items = {f"Q{k}": 1 for k in range(1, 37)} | {"Q21": 2, "Q22": 2}
    >>> round(float(sf36_scales(items)["BP"].iloc[0]), 10)
    74.0
    """
    frame, responses = numbered_items(data, _LEVELS, prefix=prefix, columns=columns, instrument="SF-36")
    position = {k: j for j, k in enumerate(_LEVELS)}
    final = recode_items(responses, [SF36_RECODE.get(k, _ITEM22_WITHOUT_21) for k in _LEVELS])
    item21, item22 = responses[:, position[21]], responses[:, position[22]]
    with_21 = recode_items(item22[:, None], [_ITEM22_WITH_21])[:, 0]
    with_21 = np.where((item21 == 1) & (item22 == 1), 6.0, with_21)
    final[:, position[22]] = np.where(np.isnan(item21), final[:, position[22]], with_21)
    scales = {}
    for scale, items in RAND36_SCALES.items():
        low, high = SF36_SCALE_RANGE[scale]
        mean = mean_of_answered(final[:, [position[k] for k in items]], min_answered=(len(items) + 1) // 2)
        scales[scale] = (mean - low) / (high - low) * 100.0
    return pd.DataFrame(scales, index=frame.index)
