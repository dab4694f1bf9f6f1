"""mcpmod against R DoseFinding 1.0-3 ``MCPMod`` (fixture: tests/fixtures/r/mcpmod_reference.R).

Every data set of the fixture (biom; IBScovars with gender; placebo-adjusted IBScovars
estimates; glycobrom; the A2201-like decreasing trial) with selection by AIC / gAIC, maximum
t and AIC weights, TD for R's Delta (signed here) and ED for p = 0.5.

Tolerances (per quantity, as the issue): the significant and fitted shapes and the
selected model identical; AIC / gAIC 1e-6 relative; maximum t statistics 1e-8 absolute
(closed form); AIC weights 1e-6 relative; target doses 1e-4 relative, discrete ones
exactly, betaMod's against R's root at tol = 1e-14 (see test_target_doses.py).
"""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from dosefinding import Candidates, InputError, MCPModResult, mcpmod
from dosefinding.mod import DoseEstimate

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "r" / "mcpmod_reference.json").read_text())
CASES = {case["name"]: case for case in FIXTURE["mcpmod"]}
R_SHAPES = {"sigEmax": "sigemax", "betaMod": "betamod", "linInt": "linint"}
RESPONSE = {"biom": "resp", "ibs_gender": "resp", "a2201": "chg"}

Check = Callable[[DoseEstimate, dict[str, Any], str, float], None]
CRITERIA = 1e-6
T_STATISTICS = 1e-8
WEIGHTS = 1e-6
TARGET_DOSES = 1e-4


def our_shape(r_name: str) -> str:
    return R_SHAPES.get(r_name, r_name)


def candidates(spec: dict[str, Any]) -> Candidates:
    shapes = {our_shape(name): value for name, value in spec["shapes"].items()}
    return Candidates(spec["doses"], shapes, max_effect=spec["maxEff"], direction=spec["direction"], off=spec["off"])


def signed_delta(data: str) -> float:
    settings = FIXTURE["settings"][data]
    return settings["mcp_Delta"] * (1 if settings["direction"] == "increasing" else -1)


def input_of(data: str) -> dict[str, Any]:
    if data in RESPONSE:
        return {"data": pd.DataFrame(FIXTURE["datasets"][data]), "dose": "dose", "response": RESPONSE[data],
                "covariates": "gender" if data == "ibs_gender" else None}
    est = FIXTURE["estimates"][data]
    return {"doses": est["doses"], "estimates": est["estimates"], "cov": np.array(est["S"]),
            "placebo_adjusted": data == "ibs_placadj"}


@functools.cache
def ours(data: str, selection: str, dose_kind: str = "continuous") -> MCPModResult:
    spec = next(case["spec"] for case in CASES.values() if case["data"] == data)
    return mcpmod(candidates(spec), **input_of(data), selection=selection,  # type: ignore[arg-type]
                  delta=signed_delta(data), p=0.5, dose_kind=dose_kind)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", [name for name, case in CASES.items() if case["doseType"] == "TD"])
def test_fits_and_selection_match_r(name: str) -> None:
    case = CASES[name]
    result = ours(case["data"], case["selModel"])
    assert list(result.fits) == [our_shape(m) for m in case["mods"]]
    assert result.selection is not None
    if case["selModel"] == "maxT":
        np.testing.assert_allclose(result.selection.criteria, case["modcrit"], rtol=0, atol=T_STATISTICS)
    else:
        np.testing.assert_allclose(result.selection.criteria, case["modcrit"], rtol=CRITERIA)
    if case["selModel"] == "aveAIC":
        assert result.selection.selected is None and result.selected_fit is None
        np.testing.assert_allclose(result.selection.weights, case["selMod"], rtol=WEIGHTS)
    else:
        assert result.selection.selected == our_shape(case["selMod"])
        assert result.selected_fit is result.fits[result.selection.selected]


@pytest.mark.parametrize("name", list(CASES))
def test_dose_estimates_match_r(name: str, check_against_r: Check) -> None:
    case = CASES[name]
    result = ours(case["data"], case["selModel"])
    column = case["doseType"]
    for (shape, fit), value, precise in zip(result.fits.items(), case["doseEst"], case["doseEst_precise"]):
        if column == "TD":
            estimate = fit.target_dose(signed_delta(case["data"]), direction=FIXTURE["settings"][case["data"]]["direction"])
        else:
            estimate = fit.effective_dose(0.5)
        entry = {"value": value, "precise": precise, "kind": "continuous"}
        check_against_r(estimate, entry, "betaMod" if shape == "betamod" else shape, TARGET_DOSES)
        np.testing.assert_equal(result.target_doses.loc[shape, column], estimate.dose)


@pytest.mark.parametrize("name", [name for name, case in CASES.items() if case["selModel"] == "AIC" and case["doseType"] == "TD"])
def test_target_doses_of_the_fits_match_r(name: str, check_against_r: Check) -> None:
    """TD (also in the opposite direction) and ED of every fitted model, both kinds."""
    case = CASES[name]
    result = ours(case["data"], "AIC")
    for fit, r_fit in zip(result.fits.values(), case["fits"]):
        for entry in r_fit["TD"]:
            delta = entry["Delta"] * (1 if entry["direction"] == "increasing" else -1)
            check_against_r(fit.target_dose(delta, dose_kind=entry["kind"]), entry, r_fit["model"], TARGET_DOSES)
        for entry in r_fit["ED"]:
            check_against_r(fit.effective_dose(entry["p"], dose_kind=entry["kind"]), entry, r_fit["model"], TARGET_DOSES)


def test_discrete_target_doses() -> None:
    result = ours("a2201", "AIC", "discrete")
    case = CASES["a2201_AIC_TD"]
    for shape, r_fit in zip(result.fits, case["fits"]):
        expected = next(e for e in r_fit["TD"] if e["kind"] == "discrete" and e["direction"] == "decreasing")
        assert result.target_doses.loc[shape, "TD"] == expected["value"]
        ed = next(e for e in r_fit["ED"] if e["kind"] == "discrete" and e["p"] == 0.55)
        assert result.fits[shape].effective_dose(0.55, dose_kind="discrete").dose == ed["value"]
    assert "Estimated TD (discrete), delta = -2" in str(result.summary())


def test_summary_reads_like_r() -> None:
    text = str(ours("a2201", "AIC").summary())
    for part in ("MCPMod", "Multiple Contrast Test", "Estimated Dose Response Models:", "linear model",
                 "Selected model (AIC): linear", "Estimated TD (continuous), delta = -2",
                 "Estimated ED (continuous), p = 0.5"):
        assert part in text
    averaged = str(ours("biom", "aveAIC").summary())
    assert "weight" in averaged and "Selected model" not in averaged
    assert "linear: TD beyond the largest dose 4 (extrapolated)" in str(ours("ibs_gender", "AIC").summary())


def test_effect_estimates_are_differences_to_placebo() -> None:
    biom = pd.DataFrame(FIXTURE["datasets"]["biom"])
    table = ours("biom", "AIC").effect_estimates()
    means = biom.groupby("dose")["resp"].mean()
    np.testing.assert_allclose(table["estimate"], (means - means[0.0]).iloc[1:], rtol=1e-12)
    residual_sd = np.sqrt(((biom["resp"] - biom.groupby("dose")["resp"].transform("mean")) ** 2).sum() / (100 - 5))
    np.testing.assert_allclose(table["se"], residual_sd * np.sqrt(2 / 20), rtol=1e-10)
    assert (table["lower"] < table["estimate"]).all() and (table["estimate"] < table["upper"]).all()
    adjusted = ours("ibs_placadj", "AIC").effect_estimates()
    np.testing.assert_allclose(adjusted["estimate"], FIXTURE["estimates"]["ibs_placadj"]["estimates"], rtol=1e-12)


def test_predict_selected_and_averaged() -> None:
    selected = ours("a2201", "AIC")
    doses = [0.0, 50.0, 300.0]
    assert selected.selected_fit is not None
    pd.testing.assert_frame_equal(selected.predict(doses), selected.selected_fit.predict(doses, kind="effect", se=True))
    averaged = ours("a2201", "aveAIC")
    table = averaged.predict(doses)
    assert averaged.selection is not None and averaged.selection.weights is not None
    curves = np.column_stack([fit.predict(doses, kind="effect")["estimate"] for fit in averaged.fits.values()])
    np.testing.assert_allclose(table["estimate"], curves @ averaged.selection.weights.to_numpy(), rtol=1e-12)
    assert table["estimate"].iloc[0] == 0.0
    assert (table["lower"].iloc[1:] < table["estimate"].iloc[1:]).all()


@pytest.mark.parametrize("selection", ["AIC", "aveAIC"])
def test_plot_draws_curve_band_and_estimates(selection: str) -> None:
    result = ours("a2201", selection)
    figure = result.plot()
    assert isinstance(figure, Figure)
    (axes,) = figure.axes
    line = axes.get_lines()[0]
    np.testing.assert_allclose(line.get_ydata(), result.predict(line.get_xdata())["estimate"])
    assert [t.get_text() for t in axes.get_legend().get_texts()] == [
        "95% confidence band",
        f"Fitted curve ({'linear' if selection == 'AIC' else 'AIC-weighted average'})",
        "Estimate with 95% CI",
    ]
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    assert buffer.getvalue().startswith(b"\x89PNG")


def test_plot_on_given_axes() -> None:
    figure = Figure()
    axes = figure.subplots()
    assert ours("glycobrom", "AIC").plot(ax=axes, confidence_level=0.9) is figure
    assert axes.get_legend().get_texts()[0].get_text() == "90% confidence band"


def test_nothing_significant() -> None:
    rng = np.random.default_rng(3)
    dose = np.repeat([0.0, 5.0, 50.0, 300.0], 20)
    flat = pd.DataFrame({"dose": dose, "chg": rng.normal(0.0, 5.0, dose.size)})
    cands = Candidates([0, 5, 50, 300], {"linear": None, "emax": 30}, max_effect=-3)
    result = mcpmod(cands, data=flat, dose="dose", response="chg", delta=-2)
    assert not result.mct.significant.any()
    assert result.fits == {} and result.selection is None and result.target_doses.empty
    assert list(result.target_doses.columns) == ["TD"]
    assert "No candidate model is significant at alpha = 0.025." in str(result.summary())
    with pytest.raises(InputError, match="no candidate shape is significant"):
        result.plot()
    with pytest.raises(InputError, match="no candidate shape is significant"):
        result.predict([0, 10])


def test_user_bounds_reach_the_fits() -> None:
    spec = CASES["a2201_AIC_TD"]["spec"]
    result = mcpmod(candidates(spec), **input_of("a2201"), bounds={"emax": [1.0, 100.0], "sigEmax": [[1, 100], [1, 5]]})
    np.testing.assert_array_equal(result.fits["emax"].bounds.to_numpy(), [[1.0, 100.0]])
    np.testing.assert_array_equal(result.fits["sigemax"].bounds.to_numpy(), [[1, 100], [1, 5]])


A2201 = CASES["a2201_AIC_TD"]["spec"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"delta": 0.0}, "delta: must be a finite non-zero"),
        ({"delta": 2.0}, "delta: the target effect over placebo of a decreasing curve must be negative, got 2"),
        ({"p": 1.5}, r"p: must be in \(0, 1\)"),
        ({"selection": "BIC"}, "selection: must be 'AIC', 'maxT' or 'aveAIC'"),
        ({"dose_kind": "exact"}, "dose_kind: must be 'continuous' or 'discrete'"),
        ({"bounds": {"hill": [1, 2]}}, "bounds: shape 'hill' does not exist"),
        ({"bounds": [1, 2]}, "bounds: must map shape names"),
        ({"df": 10.0}, "data: give raw data, or doses, estimates, cov and df, not both"),
        ({"estimates": [1.0, 2.0]}, "data: give raw data, or doses, estimates, cov and df, not both"),
        ({"placebo_adjusted": True}, "placebo_adjusted: only for estimates"),
        ({"response": None}, "dose, response: name the dose and response columns"),
        ({"bounds": {"emax": [1e4, 2e4]}}, r"bounds: emax bounds \(10000, 20000\) for ed50 exclude the candidate"),
    ],
)
def test_bad_input_raw(kwargs: dict[str, Any], message: str) -> None:
    arguments = {**input_of("a2201"), **kwargs}
    with pytest.raises(InputError, match=message):
        mcpmod(candidates(A2201), **arguments)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"covariates": "gender"}, "covariates: only with raw data"),
        ({"cov": None}, "doses, estimates, cov: all three are needed"),
    ],
)
def test_bad_input_estimates(kwargs: dict[str, Any], message: str) -> None:
    spec = CASES["glycobrom_AIC_TD"]["spec"]
    with pytest.raises(InputError, match=message):
        mcpmod(candidates(spec), **{**input_of("glycobrom"), **kwargs})
