"""RAND 36-Item Health Survey 1.0 scale scores (0-100).

Scoring rules of RAND (Hays, Sherbourne & Mazel, Health Econ 1993;2:217-27; "RAND
36-Item Health Survey 1.0 scoring instructions", rand.org): each precoded response is
recoded to 0-100 (high = favourable) by the key below, then each scale is the mean of
its answered items (a scale with no item answered is missing). Item 2 (health change)
belongs to no scale.

========================  ================================================
items                     recoding of responses 1, 2, ...
========================  ================================================
1, 2, 20, 22, 34, 36      100, 75, 50, 25, 0
3-12                      0, 50, 100
13-19                     0, 100
21, 23, 26, 27, 30        100, 80, 60, 40, 20, 0
24, 25, 28, 29, 31        0, 20, 40, 60, 80, 100
32, 33, 35                0, 25, 50, 75, 100
========================  ================================================

Scales (SF-36 abbreviations): PF physical functioning (3-12), RP role limitations due
to physical health (13-16), RE role limitations due to emotional problems (17-19), VT
energy/fatigue (23, 27, 29, 31), MH emotional well-being (24, 25, 26, 28, 30), SF social
functioning (20, 32), BP pain (21, 22), GH general health (1, 33-36).

RAND's scoring of BP and GH differs from the SF-36 v1 scoring of the same items (Ware
1993; :func:`~dosefinding.endpoints.instruments.sf36.sf36_scales`), and RAND scores a scale
from any one answered item where SF-36 v1 asks for half of them; the other six scales
agree when every item is answered.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import pandas as pd

from dosefinding.endpoints.instruments.items import mean_of_answered, numbered_items, recode_items

__all__ = ["RAND36_RECODE", "RAND36_SCALES", "rand36_scales"]

_KEYS = (
    ((1, 2, 20, 22, 34, 36), (100, 75, 50, 25, 0)),
    (tuple(range(3, 13)), (0, 50, 100)),
    (tuple(range(13, 20)), (0, 100)),
    ((21, 23, 26, 27, 30), (100, 80, 60, 40, 20, 0)),
    ((24, 25, 28, 29, 31), (0, 20, 40, 60, 80, 100)),
    ((32, 33, 35), (0, 25, 50, 75, 100)),
)
RAND36_RECODE: Mapping[int, tuple[int, ...]] = MappingProxyType(
    {item: values for items, values in _KEYS for item in items}
)
"""Item number -> recoded value of each response 1, 2, ..."""

RAND36_SCALES: Mapping[str, tuple[int, ...]] = MappingProxyType(
    {
        "PF": tuple(range(3, 13)),
        "RP": (13, 14, 15, 16),
        "BP": (21, 22),
        "GH": (1, 33, 34, 35, 36),
        "VT": (23, 27, 29, 31),
        "SF": (20, 32),
        "RE": (17, 18, 19),
        "MH": (24, 25, 26, 28, 30),
    }
)
"""Scale -> its items, in the order of the SF-36 summary scores (the same items as the SF-36
v1 scales of :func:`~dosefinding.endpoints.instruments.sf36.sf36_scales`)."""

_LEVELS: Mapping[int, int] = {k: len(RAND36_RECODE[k]) for k in sorted({k for v in RAND36_SCALES.values() for k in v})}


def rand36_scales(
    data: pd.DataFrame | Mapping[str, object],
    *,
    prefix: str = "Q",
    columns: Mapping[int, str] | None = None,
) -> pd.DataFrame:
    """The eight RAND-36 scale scores (0-100) from the 36 precoded item responses.

    Parameters
    ----------
    data
        One row per questionnaire; item ``k`` in column ``f"{prefix}{k}"`` (``Q1`` ...
        ``Q36``) unless ``columns`` maps item numbers to columns. The 35 scale items
        (all but item 2) must be present as columns; missing responses (NaN) are allowed.
    prefix
        Column name prefix of the items.
    columns
        Item number -> column name, overriding ``prefix``.

    Returns
    -------
    pandas.DataFrame
        Columns ``PF, RP, BP, GH, VT, SF, RE, MH``.

    Examples
    --------
    RAND's example: energy/fatigue items 23, 27, 29 answered 4, 3, 3 and item 31 left
    blank score 40, 60, 40, so VT = 140 / 3 = 46.7.

    >>> items = {f"Q{k}": 1 for k in range(1, 37)} | {"Q23": 4, "Q27": 3, "Q29": 3, "Q31": None}
    >>> round(float(rand36_scales(items)["VT"].iloc[0]), 1)
    46.7
    """
    frame, responses = numbered_items(data, _LEVELS, prefix=prefix, columns=columns, instrument="RAND-36")
    recoded = recode_items(responses, [RAND36_RECODE[k] for k in _LEVELS])
    position = {k: j for j, k in enumerate(_LEVELS)}
    scales = {
        scale: mean_of_answered(recoded[:, [position[k] for k in items]], min_answered=1)
        for scale, items in RAND36_SCALES.items()
    }
    return pd.DataFrame(scales, index=frame.index)
