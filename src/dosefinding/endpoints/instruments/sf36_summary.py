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

The coefficients belong to the SF-36 v1 scale scoring; applied to RAND-36 scales
(:func:`~dosefinding.endpoints.instruments.rand36.rand36_scales`) they are an
approximation for BP and GH, whose RAND scoring differs slightly.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
import pandas as pd

from dosefinding.endpoints.instruments.items import item_matrix

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


def sf36_summary(scales: pd.DataFrame) -> pd.DataFrame:
    """PCS and MCS (T-scores) from the eight scale scores, 1990 US norms.

    Parameters
    ----------
    scales
        Columns ``PF, RP, BP, GH, VT, SF, RE, MH`` (0-100), e.g. from
        :func:`~dosefinding.endpoints.instruments.rand36.rand36_scales`. A row with a
        missing scale gets missing summaries.

    Examples
    --------
    A respondent at the 1990 US mean on every scale scores 50 on both summaries:

    >>> means = pd.DataFrame({s: [v[0]] for s, v in SF36_US1990.items()})
    >>> sf36_summary(means).round(10).iloc[0].tolist()
    [50.0, 50.0]
    """
    names = {s: s for s in SF36_US1990}
    matrix = item_matrix(scales, names, bounds=(0.0, 100.0), allow_missing=True, instrument="SF-36 scales")
    coef = np.array(list(SF36_US1990.values()))
    z = (matrix - coef[:, 0]) / coef[:, 1]
    return pd.DataFrame({"PCS": 50.0 + 10.0 * z @ coef[:, 2], "MCS": 50.0 + 10.0 * z @ coef[:, 3]}, index=scales.index)
