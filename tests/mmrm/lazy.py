"""Our side of a parametrised comparison, computed when the test runs rather than when pytest collects it.

A ``pytest.mark.parametrize`` list holds only what is known without fitting: the id, the
reference value, the kind of comparison and, where the reference stopped short, its reason.
Our value is a :class:`Lazy`: a source (a fit, or a table computed from one; ``functools.cache``d, so each is made once
per session) and a reader of the value, e.g. ``Lazy(fit, coefficient, "Intercept", "se")``.
The test calls it. The readers shared by the MMRM reference tests are here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dosefinding.mmrm import MMRMResult


class Lazy:
    """``read(source(), *args)``, computed when called (``source`` cached by the caller)."""

    def __init__(self, source: Callable[[], Any], read: Callable[..., Any], *args: Any) -> None:
        self.source, self.read, self.args = source, read, args

    def __call__(self) -> Any:
        return self.read(self.source(), *self.args)

    def __repr__(self) -> str:
        read = getattr(self.read, "__name__", repr(self.read))
        return f"Lazy({self.source!r}, {read}{''.join(f', {arg!r}' for arg in self.args)})"


def entry(frame: Any, row: Any, column: str) -> Any:
    """``frame.loc[row][column]``: one value of a table, read row first as the printed table."""
    return frame.loc[row][column]


def coefficient(fit: MMRMResult, term: str, column: str) -> float:
    """One value of SAS's "Solution for Fixed Effects": ``column`` (``estimate, se, df, t``) of ``term``."""
    return float(entry(fit.table, term, column))


def sigma_entry(fit: MMRMResult, i: int, j: int) -> float:
    """``Sigma[i, j]`` over the visits."""
    return float(fit.covariance.to_numpy()[i, j])
