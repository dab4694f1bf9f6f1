"""Tests of guesstimate against R DoseFinding's guesst, by plugging back, and on bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from dosefinding.errors import InputError
from dosefinding.shapes import get_shape, guesstimate

FIXTURE = Path(__file__).parents[1] / "fixtures" / "r" / "guesstimate.json"
CASES: list[dict[str, Any]] = json.loads(FIXTURE.read_text())["cases"]

EPS = np.finfo(float).eps
# R's optimize() (exponential) stops when its bracket is within 2 * tol1 of the minimum,
# tol1 = sqrt(eps) * |x| + tol / 3, with the default tol = eps ** 0.25 (Brent_fmin in R).
OPTIMIZE_TOL = EPS**0.25
# R's optim() Nelder-Mead (local logistic and sigEmax) stops when the simplex's objective
# values differ by less than reltol * (|f(start)| + reltol), reltol = sqrt(eps). Near the
# minimum the objective is quadratic in the parameters, so they are resolved only to about
# the square root of that: up to 1.2e-4 relative in these cases.
NELDER_MEAD_RTOL = 5e-4
NELDER_MEAD_RELTOL = np.sqrt(EPS)


def _kwargs(case: dict[str, Any]) -> dict[str, Any]:
    return {
        "less": case["less"],
        "local": case["local"],
        "max_dose": case["Maxd"],
        "dose_max_effect": case["dMax"],
        "scal": case["scal"],
    }


def _ours(case: dict[str, Any]) -> dict[str, float]:
    return guesstimate(case["model"], case["d"], case["p"], **_kwargs(case))


def _uses_nelder_mead(case: dict[str, Any]) -> bool:
    return case["local"] and case["model"] in ("logistic", "sigEmax")


def _fraction(
    shape: str,
    dose: Any,
    params: dict[str, float],
    *,
    max_dose: float | None = None,
    scal: float | None = None,
) -> np.ndarray:
    """Effect at ``dose`` as a fraction of the maximum, from the shape's response formula.

    With ``max_dose`` the maximum is the effect over placebo at ``max_dose`` (the local
    versions and exponential); otherwise the asymptote, the vertex (quadratic) or the
    mode (betamod).
    """
    model = get_shape(shape)
    d = np.atleast_1d(np.asarray(dose, dtype=float))
    if model.name == "quadratic":
        delta = params["delta"]
        return (d + delta * d**2) / (-1.0 / (4.0 * delta))
    theta = np.array([0.0, 1.0, *params.values()])
    if max_dose is None:
        return model.response(d, theta, scal)
    f = model.response(np.concatenate([d, [0.0, max_dose]]), theta)
    return (f[:-2] - f[-2]) / (f[-1] - f[-2])


def _objective(case: dict[str, Any], params: dict[str, float]) -> float:
    """R's criterion for its numerical cases: sum of squared errors of the fractions."""
    fraction = _fraction(case["model"], case["d"], params, max_dose=case["Maxd"])
    return float(np.sum((fraction - np.atleast_1d(case["p"])) ** 2))


def _has_exact_solution(case: dict[str, Any]) -> bool:
    pairs = np.atleast_1d(case["d"]).size
    return pairs == (2 if case["model"] in ("logistic", "sigEmax") else 1)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_matches_r(case: dict[str, Any]) -> None:
    ours = _ours(case)
    expected = case["result"]
    assert list(ours) == list(expected)
    if case["model"] == "exponential":
        for key, value in expected.items():
            if ours[key] > 2 * case["Maxd"]:
                # The root lies beyond R's search interval (0, 2 Maxd); R stops at its end.
                assert value == pytest.approx(2 * case["Maxd"], abs=2 * OPTIMIZE_TOL)
            else:
                tol1 = np.sqrt(EPS) * abs(value) + OPTIMIZE_TOL / 3
                assert ours[key] == pytest.approx(value, rel=0, abs=2 * tol1)
    elif _uses_nelder_mead(case):
        assert ours == pytest.approx(expected, rel=NELDER_MEAD_RTOL)
    else:
        assert ours == pytest.approx(expected, rel=1e-8)


@pytest.mark.parametrize(
    "case",
    [c for c in CASES if c["model"] == "exponential" or _uses_nelder_mead(c)],
    ids=lambda c: c["name"],
)
def test_objective_no_worse_than_r(case: dict[str, Any]) -> None:
    ours = _objective(case, _ours(case))
    theirs = _objective(case, case["result"])
    assert ours <= theirs * (1 + 1e-12) + 1e-30
    if _uses_nelder_mead(case):
        start = guesstimate(case["model"], case["d"], case["p"])
        stop = NELDER_MEAD_RELTOL * (_objective(case, start) + NELDER_MEAD_RELTOL)
        # Nelder-Mead's stopping rule is about its simplex, not the distance to the
        # minimum, so allow R a few times its tolerance (at most 5.4 times here).
        assert theirs - ours <= 10 * stop


@pytest.mark.parametrize(
    "case", [c for c in CASES if _has_exact_solution(c)], ids=lambda c: c["name"]
)
def test_plug_back(case: dict[str, Any]) -> None:
    ours = _ours(case)
    local = case["local"] or case["model"] == "exponential"
    fraction = _fraction(
        case["model"],
        case["d"],
        ours,
        max_dose=case["Maxd"] if local else None,
        scal=case["scal"],
    )
    np.testing.assert_allclose(fraction, case["p"], rtol=0, atol=1e-10)


def test_r_and_python_shape_names_agree() -> None:
    args = ([0.2, 0.6], [0.2, 0.95])
    assert guesstimate("sigEmax", *args) == guesstimate("sigemax", *args)
    beta = {"dose_max_effect": 0.8, "max_dose": 1.0, "scal": 1.2}
    assert guesstimate("betaMod", 0.4, 0.8, **beta) == guesstimate("betamod", 0.4, 0.8, **beta)


def test_less_chooses_the_quadratic_root() -> None:
    below = guesstimate("quadratic", 50, 0.8, less=True)["delta"]
    above = guesstimate("quadratic", 50, 0.8, less=False)["delta"]
    vertex = {"below": -1 / (2 * below), "above": -1 / (2 * above)}
    assert vertex["below"] > 50 > vertex["above"]


BETAMOD = {"dose_max_effect": 100, "max_dose": 200, "scal": 240}


@pytest.mark.parametrize(
    ("shape", "dose", "p", "options", "message"),
    [
        ("emax", 10, 0.0, {}, r"p: .*0 < p <= 1"),
        ("emax", 10, 1.5, {}, r"p: .*0 < p <= 1"),
        ("emax", 0, 0.5, {}, r"dose: must be positive"),
        ("emax", -5, 0.5, {}, r"dose: must be positive"),
        ("emax", [10, 20], 0.5, {}, r"p: must have length 2"),
        ("emax", [], [], {}, r"dose: need at least one pair"),
        ("emax", 10, 1.0, {}, r"ed50 = 0, .*must be positive"),
        ("foo", 10, 0.5, {}, r"shape 'foo' does not exist"),
        ("linear", 10, 0.5, {}, r"shape: no guesstimate for 'linear'"),
        ("emax", 10, 0.5, {"local": True}, r"max_dose: needed by the local emax"),
        ("emax", 10, 0.5, {"local": True, "max_dose": -1}, r"max_dose: must be positive"),
        ("emax", 50, 0.4, {"local": True, "max_dose": 100}, r"p: .*needs p > dose / max_dose"),
        ("emax", 150, 0.9, {"local": True, "max_dose": 100}, r"dose: must be below max_dose"),
        ("exponential", 50, 0.3, {}, r"max_dose: needed by exponential"),
        ("exponential", 50, 0.5, {"max_dose": 100}, r"p: .*needs p < dose / max_dose"),
        ("exponential", 100, 0.5, {"max_dose": 100}, r"dose: must be below max_dose"),
        ("logistic", 50, 0.5, {}, r"dose: .*at least two pairs"),
        ("sigemax", 50, 0.5, {}, r"dose: .*at least two pairs"),
        ("logistic", [50, 50], [0.3, 0.6], {}, r"dose: .*two different doses"),
        ("sigemax", [20, 50], [0.3, 1.0], {}, r"p: must be below 1"),
        ("logistic", [20, 50], [0.6, 0.3], {}, r"p: must increase with dose"),
        ("sigemax", [20, 50], [0.5, 0.5], {}, r"p: must increase with dose"),
        ("logistic", [1, 2], [0.8, 0.9], {}, r"ed50 = -0\.70\d+, .*must be positive"),
        ("logistic", [20, 50], [0.3, 0.6], {"local": True}, r"max_dose: needed by the local"),
        # R's Nelder-Mead stops somewhere along these drifts (sigEmax: "cannot find guesstimates").
        ("sigemax", [1, 99], [0.9, 0.95], {"local": True, "max_dose": 100}, r"p: .*drifts to"),
        ("logistic", [1, 99], [0.9, 0.95], {"local": True, "max_dose": 100}, r"p: .*drifts to"),
        ("betamod", 50, 0.5, {"max_dose": 200, "scal": 240}, r"dose_max_effect: needed"),
        ("betamod", 50, 0.5, {"dose_max_effect": 100, "scal": 240}, r"max_dose: needed"),
        ("betamod", 50, 0.5, {"dose_max_effect": 100, "max_dose": 200}, r"scal: needed"),
        ("betamod", 50, 0.5, {**BETAMOD, "scal": 100}, r"scal: must be larger than dose_max_"),
        (
            "betamod",
            50,
            0.5,
            {**BETAMOD, "dose_max_effect": 210},
            r"dose_max_effect: must not exceed max_dose",
        ),
        ("betamod", 250, 0.5, BETAMOD, r"dose: must be below scal"),
        ("betamod", 100, 0.5, BETAMOD, r"dose: betamod reaches its maximum at dose_max_effect"),
        ("betamod", 50, 1.0, BETAMOD, r"p: betamod reaches p = 1 only at dose_max_effect"),
    ],
)
def test_input_errors(
    shape: str, dose: Any, p: Any, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        guesstimate(shape, dose, p, **options)


fractions = st.floats(0.001, 0.999)
doses = st.floats(0.01, 1000.0)


@given(dose=doses, p=fractions)
def test_emax_reaches_p_at_dose(dose: float, p: float) -> None:
    g = guesstimate("emax", dose, p)
    np.testing.assert_allclose(_fraction("emax", dose, g), p, rtol=0, atol=1e-10)


@given(dose=doses, max_ratio=st.floats(1.01, 100.0), share=st.floats(0.001, 0.999))
def test_local_emax_reaches_p_at_dose(dose: float, max_ratio: float, share: float) -> None:
    max_dose = dose * max_ratio
    p = 1 / max_ratio + share * (1 - 1 / max_ratio)
    assume(1 / max_ratio < p < 1)
    g = guesstimate("emax", dose, p, local=True, max_dose=max_dose)
    fraction = _fraction("emax", dose, g, max_dose=max_dose)
    np.testing.assert_allclose(fraction, p, rtol=0, atol=1e-10)


@given(
    low=doses,
    dose_ratio=st.floats(1.05, 100.0),
    p_low=fractions,
    p_high=fractions,
)
def test_sigemax_reaches_p_at_both_doses(
    low: float, dose_ratio: float, p_low: float, p_high: float
) -> None:
    assume(p_high > p_low + 1e-3)
    dose = [low, low * dose_ratio]
    g = guesstimate("sigemax", dose, [p_low, p_high])
    fraction = _fraction("sigemax", dose, g)
    np.testing.assert_allclose(fraction, [p_low, p_high], rtol=0, atol=1e-10)


@settings(deadline=None)
@given(
    ed50_share=st.floats(0.05, 1.5),
    h=st.floats(0.5, 10.0),
    low_share=st.floats(0.02, 0.9),
    high_share=st.floats(0.05, 0.98),
)
# A steep curve with ed50 beyond the doses, where the linearised start drifts off (found by hypothesis).
@example(ed50_share=1.5, h=8.0, low_share=0.625, high_share=0.9765625)
def test_local_sigemax_recovers_the_curve(
    ed50_share: float, h: float, low_share: float, high_share: float
) -> None:
    max_dose = 100.0
    dose = np.array([low_share, high_share]) * max_dose
    assume(dose[1] > 1.05 * dose[0])
    truth = {"ed50": ed50_share * max_dose, "h": h}
    p = _fraction("sigemax", dose, truth, max_dose=max_dose)
    assume(np.all(p > 1e-4) and np.all(p < 1 - 1e-4) and p[1] - p[0] > 1e-3)
    g = guesstimate("sigemax", dose, p, local=True, max_dose=max_dose)
    fraction = _fraction("sigemax", dose, g, max_dose=max_dose)
    np.testing.assert_allclose(fraction, p, rtol=0, atol=1e-10)
    assert g == pytest.approx(truth, rel=1e-6)
