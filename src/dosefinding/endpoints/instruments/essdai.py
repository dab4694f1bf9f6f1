"""EULAR Sjögren's Syndrome Disease Activity Index (ESSDAI) and ClinESSDAI.

ESSDAI (Seror et al., Ann Rheum Dis 2010;69:1103-9; user guide Seror et al., RMD Open
2015;1:e000022): 12 organ domains, each rated at an activity level (0 = no, 1 = low,
2 = moderate, 3 = high; not every domain has every level); score = sum of
``weight * level``, range 0-123.

===============  ======  =============
domain           weight  levels
===============  ======  =============
constitutional   3       0, 1, 2
lymphadenopathy  4       0, 1, 2, 3
glandular        2       0, 1, 2
articular        2       0, 1, 2, 3
cutaneous        3       0, 1, 2, 3
pulmonary        5       0, 1, 2, 3
renal            5       0, 1, 2, 3
muscular         6       0, 1, 2, 3
pns              5       0, 1, 2, 3
cns              5       0, 2, 3
haematological   2       0, 1, 2, 3
biological       1       0, 1, 2
===============  ======  =============

Activity categories (Seror et al., "Defining disease activity states and clinically
meaningful improvement in primary Sjögren's syndrome ...", Ann Rheum Dis 2016;75:382-9):
low < 5, moderate 5-13, high >= 14.

ClinESSDAI (Seror et al., Ann Rheum Dis 2016;75:1945-50): the 11 clinical domains
(without biological) with re-estimated weights constitutional 4, lymphadenopathy 4,
glandular 2, articular 3, cutaneous 3, pulmonary 6, renal 6, muscular 7, PNS 5, CNS 5,
haematological 2 (range 0-135); its activity cut-offs are the same, 5 and 14.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

import numpy as np
import pandas as pd

from dosefinding.endpoints.categories import categorize
from dosefinding.endpoints.instruments.items import as_frame, item_matrix
from dosefinding.errors import InputError

__all__ = [
    "A2201_ELIGIBILITY_DOMAINS",
    "CLINESSDAI_WEIGHTS",
    "ESSDAI_DOMAINS",
    "ESSDAI_LEVELS",
    "ESSDAI_WEIGHTS",
    "clinessdai",
    "essdai",
    "essdai_category",
    "essdai_domain_scores",
]

ESSDAI_WEIGHTS: Mapping[str, int] = MappingProxyType(
    {
        "constitutional": 3,
        "lymphadenopathy": 4,
        "glandular": 2,
        "articular": 2,
        "cutaneous": 3,
        "pulmonary": 5,
        "renal": 5,
        "muscular": 6,
        "pns": 5,
        "cns": 5,
        "haematological": 2,
        "biological": 1,
    }
)
"""Domain weights of the ESSDAI (Seror 2010, Table 3)."""

ESSDAI_LEVELS: Mapping[str, tuple[int, ...]] = MappingProxyType(
    {
        "constitutional": (0, 1, 2),
        "lymphadenopathy": (0, 1, 2, 3),
        "glandular": (0, 1, 2),
        "articular": (0, 1, 2, 3),
        "cutaneous": (0, 1, 2, 3),
        "pulmonary": (0, 1, 2, 3),
        "renal": (0, 1, 2, 3),
        "muscular": (0, 1, 2, 3),
        "pns": (0, 1, 2, 3),
        "cns": (0, 2, 3),
        "haematological": (0, 1, 2, 3),
        "biological": (0, 1, 2),
    }
)
"""Activity levels each domain allows (CNS has no low level)."""

ESSDAI_DOMAINS: tuple[str, ...] = tuple(ESSDAI_WEIGHTS)

CLINESSDAI_WEIGHTS: Mapping[str, int] = MappingProxyType(
    {
        "constitutional": 4,
        "lymphadenopathy": 4,
        "glandular": 2,
        "articular": 3,
        "cutaneous": 3,
        "pulmonary": 6,
        "renal": 6,
        "muscular": 7,
        "pns": 5,
        "cns": 5,
        "haematological": 2,
    }
)
"""Domain weights of the ClinESSDAI (Seror et al., Ann Rheum Dis 2016;75:1945-50), without
the biological domain; taken from a secondary table of the paper's weights (the primary
table was not available to check, see the test's docstring)."""

A2201_ELIGIBILITY_DOMAINS: tuple[str, ...] = (
    "biological",
    "haematological",
    "articular",
    "cutaneous",
    "glandular",
    "lymphadenopathy",
    "constitutional",
)
"""The 7 domains whose ESSDAI sum defined eligibility (>= 6) in study A2201."""

CATEGORY_CUTOFFS = (5.0, 14.0)
CATEGORIES = ("low", "moderate", "high")


def _levels(
    data: pd.DataFrame | Mapping[str, object],
    domains: Sequence[str],
    columns: Mapping[str, str] | None,
    allow_missing: bool,
    instrument: str,
) -> tuple[pd.DataFrame, np.ndarray]:
    frame = as_frame(data, "data")
    columns = dict(columns or {})
    unknown = sorted(set(columns) - set(ESSDAI_DOMAINS))
    if unknown:
        raise InputError(f"columns: unknown ESSDAI domain(s) {unknown}; domains are {list(ESSDAI_DOMAINS)}")
    items = {d: columns.get(d, d) for d in domains}
    allowed = {d: ESSDAI_LEVELS[d] for d in domains}
    matrix = item_matrix(frame, items, allowed=allowed, allow_missing=allow_missing, instrument=instrument)
    return frame, matrix


def essdai_domain_scores(
    data: pd.DataFrame | Mapping[str, object],
    *,
    domains: Sequence[str] = ESSDAI_DOMAINS,
    columns: Mapping[str, str] | None = None,
    allow_missing: bool = False,
) -> pd.DataFrame:
    """Weighted domain scores ``weight * level``, one column per domain.

    Parameters
    ----------
    data
        One row per assessment, one column per domain holding its activity level
        (named as in :data:`ESSDAI_DOMAINS` unless ``columns`` maps them).
    domains
        Domains to score.
    columns
        Domain -> column name, for data named otherwise.
    allow_missing
        Missing levels give NaN instead of an :class:`InputError`.

    Examples
    --------
    >>> essdai_domain_scores({"articular": 2, "cns": 3}, domains=["articular", "cns"]).iloc[0].tolist()
    [4.0, 15.0]
    """
    unknown = [d for d in domains if d not in ESSDAI_WEIGHTS]
    if unknown:
        raise InputError(f"domains: unknown ESSDAI domain(s) {unknown}; domains are {list(ESSDAI_DOMAINS)}")
    frame, matrix = _levels(data, domains, columns, allow_missing, "ESSDAI")
    weights = np.array([ESSDAI_WEIGHTS[d] for d in domains], dtype=float)
    return pd.DataFrame(matrix * weights, index=frame.index, columns=list(domains))


def essdai(
    data: pd.DataFrame | Mapping[str, object],
    *,
    domains: Sequence[str] = ESSDAI_DOMAINS,
    columns: Mapping[str, str] | None = None,
    allow_missing: bool = False,
) -> pd.Series:
    """ESSDAI total: sum over ``domains`` of ``weight * level`` (0-123 over all 12).

    ``domains`` gives a subtotal, e.g. :data:`A2201_ELIGIBILITY_DOMAINS`. With
    ``allow_missing=True`` a row with any missing domain scores NaN.

    Examples
    --------
    Seror 2010 weights: arthralgia with morning stiffness (articular low, 1 x 2), major
    parotid swelling (glandular moderate, 2 x 2) and hypergammaglobulinaemia > 20 g/L
    (biological moderate, 2 x 1):

    >>> levels = dict.fromkeys(ESSDAI_DOMAINS, 0) | {"articular": 1, "glandular": 2, "biological": 2}
    >>> essdai(levels).tolist()
    [8.0]
    >>> essdai(levels, domains=A2201_ELIGIBILITY_DOMAINS).tolist()
    [8.0]
    """
    scores = essdai_domain_scores(data, domains=domains, columns=columns, allow_missing=allow_missing)
    return pd.Series(scores.to_numpy().sum(axis=1), index=scores.index, name="ESSDAI")


def clinessdai(
    data: pd.DataFrame | Mapping[str, object],
    *,
    columns: Mapping[str, str] | None = None,
    allow_missing: bool = False,
) -> pd.Series:
    """ClinESSDAI: the 11 clinical domains with the ClinESSDAI weights (0-135).

    Examples
    --------
    >>> levels = dict.fromkeys(CLINESSDAI_WEIGHTS, 0) | {"articular": 1, "glandular": 2}
    >>> clinessdai(levels).tolist()
    [7.0]
    """
    domains = tuple(CLINESSDAI_WEIGHTS)
    frame, matrix = _levels(data, domains, columns, allow_missing, "ClinESSDAI")
    weights = np.array([CLINESSDAI_WEIGHTS[d] for d in domains], dtype=float)
    return pd.Series(matrix @ weights, index=frame.index, name="ClinESSDAI")


def essdai_category(score: pd.Series | Sequence[float] | float) -> pd.Categorical:
    """Activity category of ESSDAI (or ClinESSDAI) scores: low < 5 <= moderate < 14 <= high.

    Missing scores stay missing; negative or non-finite scores are an :class:`InputError`.

    Examples
    --------
    >>> list(essdai_category([0, 4, 5, 13, 14]))
    ['low', 'low', 'moderate', 'moderate', 'high']
    """
    values = np.atleast_1d(np.asarray(score, dtype=float))
    bad = ~np.isnan(values) & ((values < 0) | ~np.isfinite(values))
    if bad.any():
        raise InputError(f"score: ESSDAI must be a non-negative finite number, got {values[bad][0]!r}")
    categories = categorize(
        values, cut_points=CATEGORY_CUTOFFS, labels=CATEGORIES, cut_belongs_to="upper", name="score"
    )
    return categories.remove_categories(categories.categories[len(CATEGORIES) :])
