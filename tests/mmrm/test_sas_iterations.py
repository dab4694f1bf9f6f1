"""``mmrm(optimizer="sas")`` against SAS PROC MIXED's own iterations.

tests/fixtures/sas/iteration_histories.json holds SAS's "Iteration History", "Covariance
Parameter Estimates" and "Solution for Fixed Effects" of the SAS listings on fev_data in
openpharma/mmrm (design/SAS/*; file and commit per listing), copied as printed.
Tolerances, all SAS's printed digits:
- Iteration and Evaluations exactly, the same number of iterations;
- -2 (Res) Log Like and Criterion, printed with 8 decimals: ``|ours - SAS| <= 5e-9``;
- covariance parameters, estimates, standard errors and t values: ours rounds to the
  printed value (half a unit of its last decimal); df: SAS's integer.
At SAS's stopping point every value of tests/fixtures/fev/sas_reference.json is then
reproduced to SAS's printed digits, with no exception (values SAS wrote with 15 digits:
1e-9 relative), and every comparison R mmrm's tests make with SAS passes.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dosefinding.errors import ConvergenceError, InputError
from dosefinding.mmrm import mmrm
from dosefinding.mmrm.covariance import CovarianceModel, get_structure
from dosefinding.mmrm.likelihood import PatternStats, evaluate
from dosefinding.mmrm.sas_iterations import (
    Profiled,
    mivque0,
    profile,
    sas_model,
)
from dosefinding.mmrm.sas_scale import SasCovariance

from .conftest import load_fev
from .lazy import Lazy
from .test_sas_reference import FULL, SAS, fev_fit, same_printed, sas_cases
from .test_sas_testthat import expectations, values_not_in_testthat

LISTINGS = json.loads((Path(__file__).parents[1] / "fixtures" / "sas" / "iteration_histories.json").read_text())
PRINTED_8_DECIMALS = 5e-9 * (1 + 1e-9)
FULL_PRECISION = 1e-9
# Each listing's model as fitted here: formula, mmrm() arguments, and SAS's visit order (its CLASS levels with the
# reference level last), which numbers UN(i,j). SAS's fixed effects are compared where its reference levels are
# ours (AVISIT(ref = 'VIS1'), or no AVISIT effect) and the listing prints them (resid_*: Type 3 tests only).
NATURAL, VIS1_LAST = "VIS1 VIS2 VIS3 VIS4", "VIS2 VIS3 VIS4 VIS1"
LISTING_MODELS: dict[str, tuple[str, str, dict, str | None, bool]] = {
    "us_simple_ml": ("us", "FEV1 ~ 1", {}, VIS1_LAST, True),
    "us_simple_reml": ("us", "FEV1 ~ 1", {}, VIS1_LAST, True),
    "us_ml": ("us", FULL, {}, VIS1_LAST, True),
    "us_reml": ("us", FULL, {}, VIS1_LAST, True),
    "resid_us_reml": ("us", FULL, {}, NATURAL, False),
    "weighted_us_reml": ("us", FULL, {"weights": "WEIGHT"}, NATURAL, False),
    "resid_us_group_reml": ("us", "FEV1 ~ ARMCD", {"group": "ARMCD"}, NATURAL, False),
    "coef_ci_us_ml": ("us", "FEV1 ~ ARMCD + SEX", {}, NATURAL, True),
    "coef_ci_us_reml": ("us", "FEV1 ~ ARMCD + SEX", {}, NATURAL, True),
    "robust_us_reml": ("us", "FEV1 ~ ARMCD", {"vcov": "empirical", "df_method": "between_within"}, NATURAL, True),
    "cs_ml": ("cs", "FEV1 ~ 1", {}, None, True),
    "cs_reml": ("cs", "FEV1 ~ 1", {}, None, True),
    "group_cs_ml": ("cs", "FEV1 ~ 1", {"group": "ARMCD"}, None, True),
    "group_cs_reml": ("cs", "FEV1 ~ 1", {"group": "ARMCD"}, None, True),
}
# Listings of implemented structures not reproduced above, and why.
NOT_REPRODUCED = {
    "us_nonconvergence_ml": "SAS does not converge: test_sas_does_not_converge_where_sas_does_not",
    "us_nonconvergence_reml": "SAS does not converge: test_sas_does_not_converge_where_sas_does_not",
    "resid_us_weighted_reml": "its WEIGHT variable fit_weight is not in fev_data and no stored program makes it",
}


@functools.cache
def _listing_fit(name: str):
    covariance, formula, arguments, _, _ = LISTING_MODELS[name]
    return mmrm(formula, load_fev(), subject="USUBJID", visit="AVISIT", covariance=covariance,
                reml=name.endswith("reml"), optimizer="sas", **arguments)


def _listing_params() -> list:
    return [pytest.param(e, id=e["name"]) for e in LISTINGS["listings"] if e["name"] in LISTING_MODELS]


def test_every_listing_of_an_implemented_structure_is_reproduced() -> None:
    printed = {"Unstructured": "us", "Compound Symmetry": "cs"}
    implemented = {e["name"] for e in LISTINGS["listings"] if e["covariance_structure"] in printed}
    assert implemented <= set(LISTING_MODELS) | set(NOT_REPRODUCED), implemented - set(LISTING_MODELS)
    for e in LISTINGS["listings"]:
        if e["name"] in LISTING_MODELS and e["covariance_structure"] is not None:
            assert printed[e["covariance_structure"]] == LISTING_MODELS[e["name"]][0], e["name"]


@pytest.mark.parametrize("listing", _listing_params())
def test_iteration_history_matches_sas(listing: dict) -> None:
    history = _listing_fit(listing["name"]).iteration_history
    sas = np.array([[np.nan if v is None else v for v in row] for row in listing["iterations"]], dtype=float)
    assert history is not None and history.shape == sas.shape, (history, sas)
    np.testing.assert_array_equal(history.iloc[:, :2].to_numpy(), sas[:, :2])
    assert np.max(np.abs(history.iloc[:, 2].to_numpy() - sas[:, 2])) <= PRINTED_8_DECIMALS
    assert np.max(np.abs(history.iloc[1:, 3].to_numpy() - sas[1:, 3])) <= PRINTED_8_DECIMALS


def _ours_by_sas_name(fit, listing: dict) -> dict[str, float]:
    """Our covariance parameters under SAS's names (SAS's UN indices follow its CLASS level order)."""
    ours = fit.covariance_parameters
    _, _, _, visit_order, _ = LISTING_MODELS[listing["name"]]
    if visit_order is None:
        return {name.replace("=", " "): float(v) for name, v in ours.items()}
    visits = visit_order.split()
    out = {}
    frame = fit.covariance
    for level in ([None] if frame.index.nlevels == 1 else frame.index.get_level_values(0).unique()):
        sigma = frame if level is None else frame.xs(level, level=0)
        suffix = "" if level is None else f" ARMCD {level}"
        for i, a in enumerate(visits):
            for j, b in enumerate(visits[: i + 1]):
                out[f"UN({i + 1},{j + 1}){suffix}"] = float(sigma.loc[a, b])
    return out


@pytest.mark.parametrize("listing", _listing_params())
def test_covariance_parameters_match_sas(listing: dict) -> None:
    ours = _ours_by_sas_name(_listing_fit(listing["name"]), listing)
    assert set(ours) == set(listing["covariance_parameters"])
    for name, value in listing["covariance_parameters"].items():
        assert same_printed(ours[name], value), (name, ours[name], value)


def _coefficient(label: str) -> str | None:
    """Our name of SAS's "Solution for Fixed Effects" row (treatment coding with SAS's reference levels)."""
    effect, _, levels = label.partition(" ")
    if effect == "Intercept":
        return "Intercept"
    if effect == "AVISIT*ARMCD":
        visit, arm = levels.split()
        return f"ARMCD[T.{arm}]:AVISIT[T.{visit}]"
    return f"{effect}[T.{levels}]"


@pytest.mark.parametrize("listing", [p for p in _listing_params() if LISTING_MODELS[p.id][4]])
def test_fixed_effects_match_sas(listing: dict) -> None:
    table = _listing_fit(listing["name"]).table
    compared = 0
    for label, estimate, se, df, t in listing["solution_fixed_effects"]:
        if se is None:  # SAS's reference-level rows, 0 with no standard error
            continue
        row = table.loc[_coefficient(label)]
        assert same_printed(row["estimate"], estimate) and same_printed(row["se"], se), (label, row)
        assert round(row["df"]) == df and same_printed(row["t"], t), (label, row)
        compared += 1
    assert compared == len(table)


def _printed(name: str, ours: float, theirs: float, kind: str) -> bool:
    if kind in ("df", "lsmeans_df") or name.endswith(("/df", "den_df")):
        return round(ours) == theirs
    if kind == "exact" or name.endswith("num_df"):
        return ours == theirs
    if kind == "loglik" or name.endswith("m2LL"):
        return abs(ours - theirs) <= PRINTED_8_DECIMALS
    if len(repr(theirs).replace("-", "").replace(".", "").lstrip("0")) >= 12:
        return abs(ours - theirs) <= FULL_PRECISION * abs(theirs)
    return same_printed(ours, theirs)


def _json_params() -> list:
    cases = [(name, ours, theirs, kind) for name, ours, theirs, kind in sas_cases(SAS, "sas")]
    cases += [(name, ours, theirs, "") for name, ours, theirs in values_not_in_testthat("sas")]
    return [pytest.param(*case, id=case[0]) for case in cases]


@pytest.mark.parametrize("name, ours, theirs, kind", _json_params())
def test_every_reference_value_to_sas_printed_digits(name: str, ours: Lazy, theirs: float, kind: str) -> None:
    ours = ours()
    assert _printed(name, ours, theirs, kind), f"{name}: ours {ours!r} vs SAS {theirs!r}"


def test_json_coverage_at_sas_stopping_point() -> None:
    """Every value of the JSON's us and cs fits is among the comparisons above."""
    names = {case.id for case in _json_params()}
    assert {"full_us_reml/coef/ARMCDTRT:AVISITVIS2/estimate", "simple_us_reml/t", "cs_ML/rho",
            "full_us_reml/cov/cov34", "armcd_cs/m2LL"} <= names
    prefixes = {name.split("/")[0] for name in names}
    assert prefixes == {"full_us_reml", "simple_us_reml", "simple_us_ml", "cs_REML", "cs_ML", "empirical_us",
                        "armcd_us", "armcd_cs"}


@pytest.mark.parametrize("expectation", [pytest.param(e, id=e.name) for e in expectations("sas")])
def test_r_mmrm_expectations_at_sas_stopping_point(expectation) -> None:
    assert expectation.passes(), (expectation.values(), expectation.sas)


def test_sas_stops_short_of_the_optimum_where_the_default_does_not() -> None:
    """On fev_data SAS's full steps end a few 1e-6 above the minimum that the default optimiser reaches."""
    for formula in ("FEV1 ~ 1", FULL):
        sas, default = fev_fit(formula, optimizer="sas"), fev_fit(formula)
        assert 1e-6 < sas.m2_log_likelihood - default.m2_log_likelihood < 1e-4
        assert sas.converged and default.converged


def test_sas_does_not_converge_where_sas_does_not() -> None:
    """fev_data[1:50, ] (13 subjects, 20 fixed effects): SAS's listings end in 'Did not converge' (REML) and 'too many
    likelihood evaluations' (ML); SAS iterates from a MIVQUE0 matrix that is not positive definite, we stop there."""
    for reml in (True, False):
        with pytest.raises(ConvergenceError, match="MIVQUE0 starting values are not a positive definite"):
            mmrm(FULL, load_fev().iloc[:50], subject="USUBJID", visit="AVISIT", reml=reml, optimizer="sas")


def test_bad_optimizer_arguments_name_the_argument() -> None:
    with pytest.raises(InputError, match="optimizer: must be one of"):
        mmrm("FEV1 ~ 1", load_fev(), subject="USUBJID", visit="AVISIT", optimizer="bfgs")
    with pytest.raises(InputError, match="optimizer: 'sas' is implemented for covariance in"):
        mmrm("FEV1 ~ 1", load_fev(), subject="USUBJID", visit="AVISIT", covariance="ar1", optimizer="sas")


def _small_stats(groups: bool, weighted: bool) -> tuple[PatternStats, np.ndarray, np.ndarray, np.ndarray]:
    """Rows of 40 subjects over 3 visits with missing visits; returns the stats and the dense X, y, subject."""
    rng = np.random.default_rng(11)
    subject = np.repeat(np.arange(40), 3)
    visit = np.tile(np.arange(3), 40)
    keep = rng.random(120) > 0.25
    keep[::3] = True
    x = np.column_stack([np.ones(120), rng.normal(size=120), visit == 1])
    y = x @ np.array([1.0, 0.5, -1.0]) + np.repeat(rng.normal(size=40), 3) + rng.normal(size=120)
    weights = rng.uniform(0.5, 2.0, size=120) if weighted else None
    group = (np.arange(40) % 2).astype(np.intp) if groups else None
    stats = PatternStats.from_rows(x[keep], y[keep], subject=subject[keep], visit=visit[keep], k=3, group=group,
                                   weights=None if weights is None else weights[keep])
    root = np.ones(keep.sum()) if weights is None else np.sqrt(weights[keep])
    return stats, x[keep] * root[:, None], y[keep] * root, np.column_stack([subject[keep], visit[keep]])


@pytest.mark.parametrize("structure", ["us", "cs"])
@pytest.mark.parametrize("groups, weighted", [(False, False), (True, False), (False, True)])
@pytest.mark.parametrize("reml", [True, False])
def test_mivque0_is_its_dense_definition(structure: str, groups: bool, weighted: bool, reml: bool) -> None:
    """MIVQUE0 from the pattern sums equals ``sum_l tr(Q V_k Q V_l) phi_l = r' V_k r`` built with dense matrices
    (``Q = I`` in the traces for ML), on the weighted data."""
    stats, x, y, rows = _small_stats(groups, weighted)
    levels = ("0", "1") if groups else ("",)
    model = sas_model(CovarianceModel(get_structure(structure, 3), groups=levels, column="g" if groups else None))
    ours = mivque0(stats, model, reml=reml)
    _, basis, _ = model.structure.evaluate(np.zeros(model.structure.n_params))
    same = rows[:, 0][:, None] == rows[:, 0][None, :]
    group_of_row = rows[:, 0] % 2 if groups else np.zeros(len(rows), dtype=int)
    dense = []
    for h in range(len(levels)):
        in_group = (group_of_row[:, None] == h) & (group_of_row[None, :] == h)
        dense += [b[rows[:, 1]][:, rows[:, 1]] * same * in_group for b in basis]
    q = np.eye(len(y)) - x @ np.linalg.solve(x.T @ x, x.T) if reml else np.eye(len(y))
    r = y - x @ np.linalg.lstsq(x, y, rcond=None)[0]
    a = np.array([[np.trace(q @ vk @ q @ vl) for vl in dense] for vk in dense])
    b = np.array([r @ vk @ r for vk in dense])
    np.testing.assert_allclose(ours, np.linalg.solve(a, b), rtol=1e-10)


@pytest.mark.parametrize("structure", ["cs", "toep"])
def test_profiled_derivatives_match_finite_differences(structure: str) -> None:
    """The profiled objective's gradient and Schur-complement Hessian against central differences (step 1e-4,
    tolerance 1e-5 relative), and its value against the objective minimised over the residual variance."""
    stats, *_ = _small_stats(False, False)
    sas = SasCovariance(3, get_structure(structure, 3))
    model = CovarianceModel(Profiled(3, sas))
    n_star = stats.n_obs - stats.p

    def full(psi: np.ndarray, order: int):
        return evaluate(stats, model, psi, reml=True, order=order)

    profiled = profile(full, n_star)
    gamma = np.full(sas.n_params - 1, 0.3)
    e = profiled(gamma, 2)
    step = 1e-4
    values = [profiled(gamma + step * d, 0).value for d in np.eye(len(gamma))]
    minus = [profiled(gamma - step * d, 0).value for d in np.eye(len(gamma))]
    numeric = (np.array(values) - np.array(minus)) / (2 * step)
    np.testing.assert_allclose(e.gradient, numeric, rtol=1e-5, atol=1e-8)
    numeric_hessian = np.array([
        (profiled(gamma + step * d, 1).gradient - profiled(gamma - step * d, 1).gradient) / (2 * step)
        for d in np.eye(len(gamma))
    ])
    np.testing.assert_allclose(e.hessian, numeric_hessian, rtol=1e-5, atol=1e-8)
    grid = [full(np.append(gamma, s2), 0).value for s2 in np.linspace(0.2, 5.0, 200)]
    assert e.value <= min(grid) + 1e-12


def test_iteration_history_is_in_the_summary_only_for_sas() -> None:
    fit = fev_fit("FEV1 ~ 1", optimizer="sas")
    assert isinstance(fit.iteration_history, pd.DataFrame)
    assert fit.optimizer[-1].startswith("SAS Newton-Raphson from MIVQUE0: 3 iterations")
    assert "Iteration History" in str(fit.summary()) and "3700.94648570" in str(fit.summary())
    assert fev_fit("FEV1 ~ 1").iteration_history is None
    assert "Iteration History" not in str(fev_fit("FEV1 ~ 1").summary())
