"""Shared checks of the Mod-step tests against R DoseFinding (fixture: ../fixtures/r/mcpmod_reference.R)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from dosefinding.mod import DoseEstimate

R_UNIROOT_TOLERANCE = np.finfo(float).eps ** 0.25


def check_dose_estimate(ours: DoseEstimate, entry: dict[str, Any], model: str, rtol: float) -> None:
    """Our TD / ED against one of R's (``entry``: ``value``, ``kind`` and for betaMod ``precise``).

    NA in R is NaN with a note here; discrete doses agree exactly; betaMod's continuous
    ones are compared with R's root at tol = 1e-14 (R's default uniroot root must be
    within uniroot's tolerance, .Machine$double.eps^0.25, of ours); others at ``rtol``.
    """
    expected = entry["value"]
    if expected is None:
        assert np.isnan(ours.dose) and ours.note, (ours, entry)
        return
    if entry["kind"] == "discrete":
        assert ours.dose == expected, (ours, entry)
        return
    if model == "betaMod":
        np.testing.assert_allclose(ours.dose, entry["precise"], rtol=rtol)
        assert abs(ours.dose - expected) <= R_UNIROOT_TOLERANCE
        return
    np.testing.assert_allclose(ours.dose, expected, rtol=rtol)


@pytest.fixture(scope="session")
def check_against_r() -> Callable[[DoseEstimate, dict[str, Any], str, float], None]:
    return check_dose_estimate
