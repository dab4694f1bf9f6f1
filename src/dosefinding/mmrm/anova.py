"""Type 3 tests of the fixed effects of an MMRM (SAS's "Type 3 Tests of Fixed Effects").

For a term ``E`` of the formula the hypothesis compares cell means over the reference grid
(every combination of the factor levels): treatment contrasts over the levels of each
factor in ``E``, equal-weight averages over the other factors; a numeric variable in
``E`` contributes its slope (the difference between ``x = 1`` and ``x = 0``), and a
numeric variable not in ``E`` is set to 0. These are SAS's Type 3 hypotheses, also when
a factor interacts with a numeric variable: with ``BASE:AVISIT`` in the model, the test of
``AVISIT`` compares the visits at ``BASE = 0`` and the test of ``BASE`` is that of the
equal-weight average of its slopes over the visits (as SAS, and as a Wald test of the
terms with sum-to-zero coding, e.g. R's ``car::Anova(type = 3)``; centre a covariate to
test the visits at its mean). Models without an intercept or with an interaction but not
its margins (non-hierarchical) are refused.

The F statistic and denominator df come from the fit's inference: with Kenward-Roger
(``df_method="kenward_roger"``) ``F`` is the scaled ``lambda F`` on the adjusted covariance
and ``den_df`` Kenward and Roger's ``m`` (:class:`dosefinding.mmrm.inference.KenwardRoger`).
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from dosefinding.errors import InputError
from dosefinding.mmrm.data import MMRMData
from dosefinding.mmrm.grid import estimable, factor_levels, grid_design, kron_product
from dosefinding.mmrm.inference import CoefficientInference

__all__ = ["type3_tests"]

FloatArray = NDArray[np.float64]


def _terms(data: MMRMData) -> list[tuple[str, set[str]]]:
    """(label, variables) of each term but the intercept."""
    terms = []
    for term, variables in data.spec.term_variables.items():
        names = {v for v in variables if v in data.covariates}
        if names:
            terms.append((str(term), names))
    return terms


def _proper_subsets(names: set[str]) -> list[tuple[str, ...]]:
    """The non-empty proper subsets of a term's variables (its margins)."""
    ordered = sorted(names)
    return [sub for size in range(1, len(ordered)) for sub in itertools.combinations(ordered, size)]


def _marginal(size: int, in_term: bool, numeric: bool) -> FloatArray:
    """The per-variable factor of the Kronecker product that maps grid cells to hypothesis rows."""
    if numeric:
        return np.array([[-1.0, 1.0]]) if in_term else np.array([[1.0, 0.0]])
    if in_term:
        return np.hstack([-np.ones((size - 1, 1)), np.eye(size - 1)])
    return np.full((1, size), 1.0 / size)


def type3_tests(data: MMRMData, beta: FloatArray, inference: CoefficientInference) -> pd.DataFrame:
    """One row per term: ``num_df, den_df, F, p`` (see :meth:`MMRMResult.type3`)."""
    factors = factor_levels(data)
    numeric = [name for name in data.covariates if name not in factors]
    terms = _terms(data)
    if "Intercept" not in data.all_columns:
        raise InputError("type3: the model has no intercept; SAS's Type 3 hypotheses then differ (not implemented)")
    present = {frozenset(names) for _, names in terms}
    for label, names in terms:
        missing = [sorted(sub) for sub in _proper_subsets(names) if frozenset(sub) not in present]
        if missing:
            raise InputError(
                f"type3: term {label!r} without its margins {missing}; only hierarchical models are implemented"
            )
    levels: dict[str, list[object]] = dict(factors)
    for name in numeric:
        levels[name] = [0.0, 1.0]
    grid = grid_design(data, levels)
    rows = {}
    for label, names in terms:
        blocks = [_marginal(len(values), name in names, name in numeric) for name, values in levels.items()]
        mapping = kron_product(blocks)
        hypothesis = mapping @ grid.design
        if not estimable(mapping, grid).all():
            raise InputError(f"type3: the hypothesis of term {label!r} is not estimable (aliased design columns)")
        test = inference.f_test(beta, hypothesis)
        rows[label] = {"num_df": test.num_df, "den_df": test.den_df, "F": test.f, "p": test.p}
    return pd.DataFrame.from_dict(rows, orient="index")
