"""FACIT-Fatigue (Functional Assessment of Chronic Illness Therapy - Fatigue, version 4).

Scoring as the FACIT-Fatigue scoring guidelines (FACIT.org; Webster, Cella & Yost,
Health Qual Life Outcomes 2003;1:79): 13 items answered 0 ("not at all") to 4 ("very
much"); all items except An5 ("I have energy") and An7 ("I am able to do my usual
activities") are reverse-scored (``4 - response``); the score is the sum of the item
scores times 13 over the number of items answered, computed when more than half the
items (at least 7) are answered. Range 0-52; higher is less fatigue.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from dosefinding.endpoints.instruments.items import as_frame, item_matrix

__all__ = ["FACIT_FATIGUE_ITEMS", "FACIT_FATIGUE_POSITIVE", "facit_fatigue"]

FACIT_FATIGUE_ITEMS: tuple[str, ...] = (
    "HI7",
    "HI12",
    "An1",
    "An2",
    "An3",
    "An4",
    "An5",
    "An7",
    "An8",
    "An12",
    "An14",
    "An15",
    "An16",
)
FACIT_FATIGUE_POSITIVE: tuple[str, ...] = ("An5", "An7")
"""The two positively worded items, scored as answered; all others are reversed."""

MIN_ANSWERED = 7


def facit_fatigue(
    data: pd.DataFrame | Mapping[str, object],
    *,
    columns: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """FACIT-Fatigue score (0-52) and the number of items answered.

    Parameters
    ----------
    data
        One row per assessment, one column per item (``HI7``, ``HI12``, ``An1``, ...,
        ``An16``; see :data:`FACIT_FATIGUE_ITEMS`), responses 0-4 or missing.
    columns
        Item -> column name.

    Returns
    -------
    pandas.DataFrame
        ``score``: prorated score, NaN when fewer than 7 items are answered (the scoring
        rule leaves it missing); ``answered``: number of items answered.

    Examples
    --------
    All 13 items answered "somewhat" (2): every item scores 2, total 26.

    >>> facit_fatigue(dict.fromkeys(FACIT_FATIGUE_ITEMS, 2))["score"].tolist()
    [26.0]
    """
    frame = as_frame(data)
    columns = dict(columns or {})
    items = {item: columns.get(item, item) for item in FACIT_FATIGUE_ITEMS}
    allowed = dict.fromkeys(FACIT_FATIGUE_ITEMS, (0, 1, 2, 3, 4))
    matrix = item_matrix(frame, items, allowed=allowed, allow_missing=True, instrument="FACIT-Fatigue")
    reverse = np.array([item not in FACIT_FATIGUE_POSITIVE for item in FACIT_FATIGUE_ITEMS])
    scored = np.where(reverse, 4.0 - matrix, matrix)
    answered = np.sum(~np.isnan(matrix), axis=1)
    total = np.nansum(scored, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(answered >= MIN_ANSWERED, total * len(FACIT_FATIGUE_ITEMS) / answered, np.nan)
    return pd.DataFrame({"score": score, "answered": answered}, index=frame.index)
