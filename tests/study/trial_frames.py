"""The long data frame of one simulated trial, as the per-trial reference analyses read it."""

from __future__ import annotations

import numpy as np
import pandas as pd


def long_frame(values: np.ndarray, base: np.ndarray, arm: np.ndarray, arms: list[str], visits: list[int]) -> pd.DataFrame:
    """One row per subject and observed visit: USUBJID, ARM, AVISIT ("Week v"), BASE, CHG."""
    n, k = values.shape
    frame = pd.DataFrame({
        "USUBJID": np.repeat(np.arange(n), k),
        "ARM": pd.Categorical(np.array(arms)[np.repeat(arm, k)], categories=arms),
        "AVISIT": pd.Categorical(np.tile([f"Week {v}" for v in visits], n),
                                 categories=[f"Week {v}" for v in visits]),
        "BASE": np.repeat(base, k),
        "CHG": (values - base[:, None]).ravel(),
    })
    return frame.dropna(subset=["CHG"])
