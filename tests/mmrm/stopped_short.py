"""Bounded checks where the reference (SAS, R) stopped short of the optimum.

A comparison the reference cannot pass at its usual tolerance, because SAS or R stopped
before the optimum, is checked two ways so that it still fails on a regression:

- our value equals the value pinned in tests/fixtures/pinned/stopped_short.json (written by
  tests/fixtures/pinned/stopped_short.py) to ``PINNED`` relative: our own convergence;
- our distance from the reference is at most ``FACTOR`` times the measured difference
  written in the reason (``"... (1.2e-04 relative)"``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

PINNED_FILE = Path(__file__).parents[1] / "fixtures" / "pinned" / "stopped_short.json"
# Our optimisers stop at a relative Newton decrement near machine precision; the values are
# reproducible far beyond this.
PINNED = 1e-8
# The measured differences in the reasons are rounded to two digits: twice that is the bound.
FACTOR = 2.0
_MEASURED = re.compile(r"([0-9.]+e[-+]?[0-9]+) relative\)?\s*$")


def measured(reason: str) -> float:
    """The relative difference a reason states at its end, e.g. ``"26.77 vs 26.7673 (1.0e-04 relative)"``."""
    found = _MEASURED.search(reason)
    assert found, f"no measured relative difference in {reason!r}"
    return float(found.group(1))


def pinned() -> dict[str, float]:
    return json.loads(PINNED_FILE.read_text()) if PINNED_FILE.exists() else {}


def check(key: str, ours: float, reference: float, reason: str) -> None:
    """Our value is the pinned one, and no further from ``reference`` than ``FACTOR`` x the difference ``reason``
    states."""
    check_relative(key, ours, reference, measured(reason))


def check_relative(key: str, ours: float, reference: float, relative: float) -> None:
    """Our value is the pinned one, and no further from ``reference`` than ``FACTOR`` x ``relative``."""
    values = pinned()
    assert key in values, f"{key} not pinned: run tests/fixtures/pinned/pin_stopped_short.py"
    assert abs(ours - values[key]) <= PINNED * abs(values[key]), (key, ours, values[key])
    bound = FACTOR * relative
    assert abs(ours - reference) <= bound * abs(reference), (key, ours, reference, bound)
