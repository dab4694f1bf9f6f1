"""Model selection and AIC weights against R DoseFinding 1.0-3 ``MCPMod`` (fixture: mcpmod_reference.R).

Tolerances: AIC / gAIC of our fits 1e-6 relative (as test_fit_reference.py); t statistics
1e-8 absolute (closed form on both sides, as test_mct_reference.py); AIC weights 1e-6
relative on our fits and 1e-12 relative from R's own criteria (closed form); the selected
model identical.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from dosefinding import InputError, aic_weights, fit_dose_response, select_model
from dosefinding.mod import DoseResponseFit

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "r" / "mcpmod_reference.json").read_text())
CASES = {case["name"]: case for case in FIXTURE["mcpmod"] if case["doseType"] == "TD"}
R_SHAPES = {"sigEmax": "sigemax", "betaMod": "betamod", "linInt": "linint"}
RESPONSE = {"biom": "resp", "ibs_gender": "resp", "a2201": "chg"}

CRITERIA = 1e-6
T_STATISTICS = 1e-8
WEIGHTS = 1e-6
WEIGHTS_CLOSED_FORM = 1e-12


def our_shape(r_name: str) -> str:
    return R_SHAPES.get(r_name, r_name)


@functools.cache
def our_fits(data: str) -> dict[str, DoseResponseFit]:
    """Fits of every shape that MCPMod fitted to ``data``, with the candidates' off and scal."""
    case = next(c for c in CASES.values() if c["data"] == data)
    spec = case["spec"]
    max_dose = max(spec["doses"])
    options = {"off": spec["off"] or 0.01 * max_dose, "scal": 1.2 * max_dose}
    fits = {}
    for r_name in case["mods"]:
        shape = our_shape(r_name)
        if data in RESPONSE:
            fits[shape] = fit_dose_response(
                shape, data=pd.DataFrame(FIXTURE["datasets"][data]), dose="dose", response=RESPONSE[data],
                covariates="gender" if data == "ibs_gender" else None, **options,
            )
        else:
            est = FIXTURE["estimates"][data]
            fits[shape] = fit_dose_response(shape, doses=est["doses"], estimates=est["estimates"],
                                            cov=np.array(est["S"]), placebo_adjusted=data == "ibs_placadj", **options)
    return fits


def r_max_t(case: dict[str, Any]) -> pd.Series:
    """The largest t statistic of each shape's significant contrasts, from R's MCTtest."""
    t = pd.Series(case["tStat"], index=[our_shape(name.rstrip("0123456789")) for name in case["contrasts"]])
    significant = np.array(case["pVals"]) < 0.025
    return t[significant].groupby(level=0, sort=False).max()


@pytest.mark.parametrize("name", list(CASES))
def test_selection_matches_r(name: str) -> None:
    case = CASES[name]
    fits = our_fits(case["data"])
    selection = select_model(fits, case["selModel"], t_statistics=r_max_t(case))
    assert list(selection.criteria.index) == [our_shape(m) for m in case["mods"]]
    if case["selModel"] == "maxT":
        np.testing.assert_allclose(selection.criteria, case["modcrit"], rtol=0, atol=T_STATISTICS)
    else:
        assert selection.criterion == ("AIC" if case["data"] in RESPONSE else "gAIC")
        np.testing.assert_allclose(selection.criteria, case["modcrit"], rtol=CRITERIA)
    if case["selModel"] == "aveAIC":
        assert selection.selected is None
        assert selection.weights is not None
        np.testing.assert_allclose(selection.weights, case["selMod"], rtol=WEIGHTS)
    else:
        assert selection.selected == our_shape(case["selMod"])
        assert selection.weights is None


@pytest.mark.parametrize("name", [name for name, case in CASES.items() if case["selModel"] == "aveAIC"])
def test_aic_weights_of_r_criteria(name: str) -> None:
    case = CASES[name]
    weights = aic_weights(pd.Series(case["modcrit"], index=case["mods"]))
    np.testing.assert_allclose(weights, case["selMod"], rtol=WEIGHTS_CLOSED_FORM)
    assert list(weights.index) == case["mods"]


def test_max_t_can_differ_from_aic() -> None:
    fits = our_fits("biom")
    by_aic = select_model(fits, "AIC")
    t = pd.Series(1.0, index=list(fits))
    t["quadratic"] = 4.0
    by_t = select_model(fits, "maxT", t_statistics=t)
    assert (by_aic.selected, by_t.selected) == ("emax", "quadratic")
    assert "Selected model (maxT): quadratic" in str(by_t.summary())


def test_ties_go_to_the_first_shape() -> None:
    assert select_model({}, "maxT", t_statistics={"linear": 2.0, "emax": 2.0}).selected == "linear"
    assert aic_weights([3.0, 3.0, 3.0]).tolist() == pytest.approx([1 / 3] * 3)


def test_weights_do_not_underflow() -> None:
    weights = aic_weights(pd.Series({"a": 5000.0, "b": 5002.0}))
    np.testing.assert_allclose(weights, [1 / (1 + np.exp(-1)), np.exp(-1) / (1 + np.exp(-1))], rtol=1e-14)


def test_summary_lists_weights() -> None:
    text = str(select_model(our_fits("glycobrom"), "aveAIC").summary())
    assert "gAIC" in text and "weight" in text and "Selected" not in text


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "BIC"}, "method: must be 'AIC', 'maxT' or 'aveAIC'"),
        ({"method": "maxT"}, "t_statistics: needed"),
        ({"method": "maxT", "t_statistics": {"linear": 1.0}}, r"no t statistic for the fitted shape\(s\) \['linlog', 'emax'"),
        ({"method": "maxT", "t_statistics": {"linear": np.nan, "emax": 1.0, "quadratic": 1.0, "linlog": 1.0,
                                             "sigemax": 1.0, "betamod": 1.0}}, "t_statistics: need finite"),
    ],
)
def test_bad_input(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        select_model(our_fits("biom"), **kwargs)


def test_empty_or_mixed_fits_are_refused() -> None:
    with pytest.raises(InputError, match="fits: need at least one fit"):
        select_model({}, "AIC")
    mixed = {"emax": our_fits("biom")["emax"], "linear": our_fits("glycobrom")["linear"]}
    with pytest.raises(InputError, match="fits: all fits must be to raw data"):
        select_model(mixed, "aveAIC")
