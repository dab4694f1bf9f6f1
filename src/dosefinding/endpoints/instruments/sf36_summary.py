"""SF-36 physical and mental component summaries (PCS, MCS), norm-based.

1990 US general population coefficients (Ware, Kosinski & Keller 1994, "SF-36 Physical
and Mental Health Summary Scales: A User's Manual"): each scale score (0-100) is
standardised with the 1990 US general-population mean and SD, the z-scores are
weighted by the factor score coefficients and summed, and the sum is put on a T-score
metric (mean 50, SD 10 in that population).

=====  ========  ========  ========  ========
scale  mean      SD        PCS       MCS
=====  ========  ========  ========  ========
PF     84.52404  22.89490   0.42402  -0.22999
RP     81.19907  33.79729   0.35119  -0.12329
BP     75.49196  23.55879   0.31754  -0.09731
GH     72.21316  20.16964   0.24954  -0.01571
VT     61.05453  20.86942   0.02877   0.23534
SF     83.59753  22.37642  -0.00753   0.26876
RE     81.29467  33.02717  -0.19206   0.43407
MH     74.84212  18.01189  -0.22069   0.48581
=====  ========  ========  ========  ========

The coefficients belong to the SF-36 v1 scale scoring (Ware 1993,
:func:`~dosefinding.endpoints.instruments.sf36.sf36_scales`), which :func:`sf36_summary`
uses by default; applied to RAND-36 scales (``scoring="rand36"``,
:func:`~dosefinding.endpoints.instruments.rand36.rand36_scales`) they are an
approximation for BP and GH, whose RAND scoring differs.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

import numpy as np
import pandas as pd

from dosefinding.endpoints.instruments.items import as_frame, item_matrix
from dosefinding.endpoints.instruments.rand36 import rand36_scales
from dosefinding.endpoints.instruments.sf36 import sf36_scales
from dosefinding.errors import InputError

__all__ = ["SF36_US1990", "sf36_summary"]

SF36_US1990: Mapping[str, tuple[float, float, float, float]] = MappingProxyType(
    {
        "PF": (84.52404, 22.89490, 0.42402, -0.22999),
        "RP": (81.19907, 33.79729, 0.35119, -0.12329),
        "BP": (75.49196, 23.55879, 0.31754, -0.09731),
        "GH": (72.21316, 20.16964, 0.24954, -0.01571),
        "VT": (61.05453, 20.86942, 0.02877, 0.23534),
        "SF": (83.59753, 22.37642, -0.00753, 0.26876),
        "RE": (81.29467, 33.02717, -0.19206, 0.43407),
        "MH": (74.84212, 18.01189, -0.22069, 0.48581),
    }
)
"""1990 US general population coefficients (Ware, Kosinski & Keller 1994): scale ->
(mean, SD, PCS coefficient, MCS coefficient)."""


def sf36_summary(
    data: pd.DataFrame | Mapping[str, object],
    *,
    scoring: Literal["sf36", "rand36", "scales"] = "sf36",
    prefix: str = "Q",
    columns: Mapping[int, str] | None = None,
) -> pd.DataFrame:
    """PCS and MCS (T-scores, 1990 US norms) from the SF-36 items or from scale scores.

    Parameters
    ----------
    data
        With ``scoring="sf36"`` or ``"rand36"``: the 36 item responses, as for
        :func:`~dosefinding.endpoints.instruments.sf36.sf36_scales`. With
        ``scoring="scales"``: the eight scale scores, columns ``PF, RP, BP, GH, VT, SF,
        RE, MH`` (0-100). A row with a missing scale gets missing summaries.
    scoring
        ``"sf36"`` (default): SF-36 v1 scales (Ware 1993), the scoring the norms belong
        to. ``"rand36"``: RAND-36 scales (:func:`~dosefinding.endpoints.instruments.
        rand36.rand36_scales`), an approximation for BP and GH. ``"scales"``: ``data``
        already holds the scales.
    prefix, columns
        Item columns, as for :func:`~dosefinding.endpoints.instruments.sf36.sf36_scales`
        (ignored with ``scoring="scales"``).

    Returns
    -------
    pandas.DataFrame
        Columns ``PCS`` and ``MCS``.

    Examples
    --------
    A respondent at the 1990 US mean on every scale scores 50 on both summaries:

    >>> means = pd.DataFrame({s: [v[0]] for s, v in SF36_US1990.items()})
    >>> sf36_summary(means, scoring="scales").round(10).iloc[0].tolist()
    [50.0, 50.0]

    Questionnaire 10 of the Mario Negri SAS sample (lbscorer ``sf36sample``), PCS 57.22017,
    MCS 57.77303:

    >>> answers = [3, 2] + [2] + [3] * 9 + [2] * 7 + [1, 1, 1, 2, 5, 6, 2, 2, 6, 6, 2, 5, 5, 5, 1, 5, 1]
    >>> items = {f"Q{k}": [v] for k, v in enumerate(answers, start=1)}
    >>> sf36_summary(items).round(5).iloc[0].tolist()
    [57.22017, 57.77303]
    """
    if scoring == "sf36":
        scales = sf36_scales(data, prefix=prefix, columns=columns)
    elif scoring == "rand36":
        scales = rand36_scales(data, prefix=prefix, columns=columns)
    elif scoring == "scales":
        scales = as_frame(data, "data")
    else:
        raise InputError(f"scoring: must be 'sf36', 'rand36' or 'scales', got {scoring!r}")
    names = {s: s for s in SF36_US1990}
    matrix = item_matrix(scales, names, bounds=(0.0, 100.0), allow_missing=True, instrument="SF-36 scales")
    coef = np.array(list(SF36_US1990.values()))
    z = (matrix - coef[:, 0]) / coef[:, 1]
    return pd.DataFrame({"PCS": 50.0 + 10.0 * z @ coef[:, 2], "MCS": 50.0 + 10.0 * z @ coef[:, 3]}, index=scales.index)
