"""model_average against R (fixture: tests/fixtures/r/model_average_reference.R) and against our single fit.

R DoseFinding 1.0-3 lacks maFitMod; the fixture does what maFitMod does, one fitMod per
draw and model on 1000 draws saved in the JSON, for glycobrom (emax, sigEmax,
exponential) and an A2201-like placebo-adjusted design (emax, exponential, linear).

On R's draws, per draw and shape (tolerances relative, per quantity):
- gAIC: ours is never above R's by more than 1e-12 (rounding of the fixture), and within
  1e-6 of it except where R's nlminb stops short of the optimum (ours lower; counted);
- parameters: 1e-5 where neither fit is within 1e-6 of a bound of the box, except on
  flat or stopped-short sigEmax fits (GLYCOBROM_SIGEMAX_DIFFERENT, measured below);
- selected shape: identical on every draw (no near-ties occurred; a near tie would be
  gAICs within 1e-6 relative, where R's optimiser precision decides);
- the selected curve at the prediction doses: 1e-5 relative to the curve's range;
- curve quantiles (R's type 7): 1e-5 relative to the curve's range; frequencies: exact.

With our own draws (a different random stream), in distribution: frequencies within 4
binomial standard errors of R's, ``sqrt(p (1 - p) (1/n_ours + 1/n_R))`` with the pooled
``p``; and for each of R's curve quantiles ``q_p`` the fraction of our curves below it
within 4 standard errors of ``p``, ``sqrt(p (1 - p) (1/n_ours + 1/n_R))`` (R's sample
quantile and our empirical distribution function each add binomial noise).

Against our single fit (the same search, batched): for draws of each design, every
shape's parameters to 1e-6 relative and gAIC to 1e-8 relative of
``fit_dose_response(estimates=draw)``.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dosefinding import InputError, ModelAverage, fit_dose_response, model_average

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "r" / "model_average_reference.json").read_text())
DESIGNS = {design["name"]: design for design in FIXTURE["designs"]}
R_SHAPES = {"sigEmax": "sigemax"}

GAIC = 1e-6
NO_WORSE = 1e-12
PARAMETERS = 1e-5
ON_BOUND = 1e-6
CURVES = 1e-5
SINGLE_PARAMETERS = 1e-6
SINGLE_GAIC = 1e-8
MONTE_CARLO_SE = 4.0
OUR_DRAWS = 2000

# Where our gAIC is more than GAIC below R's: R's nlminb stopped short (measured: at most
# 6.1e-8 relative, so none beyond GAIC at present).
R_STOPPED_SHORT_GAIC = {"glycobrom": 0, "a2201": 0}
# sigEmax fits on glycobrom draws whose parameters differ from R's by more than 1e-5:
#   draw 654: flat optimum, same gRSS (3.82953908775 both); ed50 55.8975 (R) vs 55.8981;
#   draw 776: R stopped short: gRSS 0.465903496 (R) vs 0.465902977 (ours), ed50 34.97 vs 34.81.
GLYCOBROM_SIGEMAX_DIFFERENT = {654, 776}


def shapes_of(design: dict[str, Any]) -> list[str]:
    return [R_SHAPES.get(m, m) for m in design["models"]]


def inputs(design: dict[str, Any]) -> dict[str, Any]:
    return {
        "doses": design["doses"],
        "estimates": design["estimates"],
        "cov": np.array(design["S"]),
        "placebo_adjusted": design["placAdj"],
        "predict_doses": design["pred_doses"],
    }


@functools.cache
def on_r_draws(name: str) -> ModelAverage:
    design = DESIGNS[name]
    return model_average(shapes_of(design), draws=np.array(design["draws"]), **inputs(design))


@functools.cache
def on_our_draws(name: str) -> ModelAverage:
    design = DESIGNS[name]
    return model_average(shapes_of(design), n_draws=OUR_DRAWS, seed=20240601, **inputs(design))


def curve_scale(design: dict[str, Any]) -> float:
    pred = np.array(design["pred"])
    return float(pred.max() - pred.min())


@pytest.mark.parametrize("name", DESIGNS)
def test_gaic_per_draw_as_r(name: str) -> None:
    design, ours = DESIGNS[name], on_r_draws(name)
    r_gaic = np.array(design["gaic"])
    relative = (ours.gaic.to_numpy() - r_gaic) / np.abs(r_gaic)
    assert relative.max() <= NO_WORSE
    assert int(np.sum(relative < -GAIC)) == R_STOPPED_SHORT_GAIC[name]
    assert ours.converged.to_numpy().all()


@pytest.mark.parametrize("name", DESIGNS)
def test_parameters_per_draw_as_r(name: str) -> None:
    design, ours = DESIGNS[name], on_r_draws(name)
    for model, shape in zip(design["models"], shapes_of(design)):
        expected = np.atleast_2d(np.array(design["coefs"][model], dtype=float))
        if expected.shape[0] == 1 and expected.shape[1] == len(design["draws"]):
            expected = expected.T
        got = ours.parameters[shape].to_numpy()
        keep = np.ones(got.shape[0], dtype=bool)
        bounds = design["bnds"][design["models"].index(model)]
        if bounds is not None:
            box = np.array(bounds, dtype=float)
            lower, upper = box[:, 0], box[:, 1]
            reach = ON_BOUND * (upper - lower)
            nonlinear = slice(got.shape[1] - box.shape[0], got.shape[1])
            for values in (got[:, nonlinear], expected[:, nonlinear]):
                keep &= np.all((np.abs(values - lower) > reach) & (np.abs(values - upper) > reach), axis=1)
        relative = np.max(np.abs(got - expected) / np.abs(expected), axis=1)
        different = set(np.flatnonzero(keep & (relative > PARAMETERS)).tolist())
        allowed = GLYCOBROM_SIGEMAX_DIFFERENT if (name, shape) == ("glycobrom", "sigemax") else set()
        assert different == allowed, (shape, sorted(different))


@pytest.mark.parametrize("name", DESIGNS)
def test_selection_and_curves_per_draw_as_r(name: str) -> None:
    design, ours = DESIGNS[name], on_r_draws(name)
    expected = [R_SHAPES.get(m, m) for m in design["selected"]]
    assert ours.selected.tolist() == expected
    np.testing.assert_allclose(ours.curves.to_numpy(), np.array(design["pred"]), rtol=0, atol=CURVES * curve_scale(design))


@pytest.mark.parametrize("name", DESIGNS)
def test_quantiles_and_frequencies_as_r(name: str) -> None:
    design, ours = DESIGNS[name], on_r_draws(name)
    np.testing.assert_array_equal(ours.quantiles.index.to_numpy(), design["probs"])
    np.testing.assert_allclose(
        ours.quantiles.to_numpy(), np.array(design["quantiles"]), rtol=0, atol=CURVES * curve_scale(design)
    )
    r_frequencies = [design["frequencies"][m] for m in design["models"]]
    np.testing.assert_array_equal(ours.frequencies.to_numpy(), r_frequencies)


@pytest.mark.parametrize("name", DESIGNS)
def test_frequencies_in_distribution(name: str) -> None:
    design, ours = DESIGNS[name], on_our_draws(name)
    n_r, n_ours = len(design["draws"]), OUR_DRAWS
    for model, shape in zip(design["models"], shapes_of(design)):
        p_r, p_ours = design["frequencies"][model], ours.frequencies[shape]
        pooled = (p_r * n_r + p_ours * n_ours) / (n_r + n_ours)
        se = np.sqrt(pooled * (1 - pooled) * (1 / n_r + 1 / n_ours))
        assert abs(p_ours - p_r) <= MONTE_CARLO_SE * se, (shape, p_ours, p_r, se)


@pytest.mark.parametrize("name", DESIGNS)
def test_curve_quantiles_in_distribution(name: str) -> None:
    design, ours = DESIGNS[name], on_our_draws(name)
    curves = ours.curves.to_numpy()
    r_quantiles = np.array(design["quantiles"])
    n_r = len(design["draws"])
    for i, p in enumerate(design["probs"]):
        se = np.sqrt(p * (1 - p) * (1 / n_r + 1 / OUR_DRAWS))
        for j in range(curves.shape[1]):
            if np.ptp(curves[:, j]) == 0:  # the effect at placebo: 0 on every draw
                continue
            below = float(np.mean(curves[:, j] <= r_quantiles[i, j]))
            assert abs(below - p) <= MONTE_CARLO_SE * se, (p, design["pred_doses"][j], below)


@pytest.mark.parametrize("name", DESIGNS)
def test_batched_fits_equal_single_fits(name: str) -> None:
    design, ours = DESIGNS[name], on_our_draws(name)
    for draw in range(0, OUR_DRAWS, 97):
        for shape in shapes_of(design):
            single = fit_dose_response(
                shape,
                doses=design["doses"],
                estimates=ours.draws.iloc[draw].to_numpy(),
                cov=np.array(design["S"]),
                placebo_adjusted=design["placAdj"],
            )
            np.testing.assert_allclose(
                ours.parameters[shape].iloc[draw].to_numpy(), single.parameters.to_numpy(), rtol=SINGLE_PARAMETERS
            )
            np.testing.assert_allclose(ours.gaic[shape].iloc[draw], single.gaic, rtol=SINGLE_GAIC)


def test_target_doses_are_the_selected_fits() -> None:
    design = DESIGNS["a2201"]
    ours = model_average(shapes_of(design), n_draws=300, delta=-1.0, seed=3, **inputs(design))
    assert ours.target_doses is not None and ours.target_dose_quantiles is not None
    for draw in range(0, 300, 37):
        shape = ours.selected.iloc[draw]
        fit = fit_dose_response(
            shape, doses=design["doses"], estimates=ours.draws.iloc[draw].to_numpy(), cov=np.array(design["S"]),
            placebo_adjusted=True,
        )
        np.testing.assert_allclose(ours.target_doses.iloc[draw], fit.target_dose(-1.0).dose, rtol=1e-8)
    reached = ours.target_doses.dropna()
    np.testing.assert_allclose(ours.target_dose_quantiles.to_numpy(), np.quantile(reached, ours.quantiles.index))
    assert "Target dose (continuous, delta = -1)" in str(ours.summary())


def test_seeded_and_predict() -> None:
    design = DESIGNS["glycobrom"]
    first = model_average(["emax", "linear"], n_draws=200, seed=5, **inputs(design))
    again = model_average(["emax", "linear"], n_draws=200, seed=np.random.default_rng(5), **inputs(design))
    np.testing.assert_array_equal(first.draws.to_numpy(), again.draws.to_numpy())
    np.testing.assert_array_equal(first.quantiles.to_numpy(), again.quantiles.to_numpy())
    table = first.predict(design["pred_doses"])
    np.testing.assert_allclose(table.to_numpy(), first.quantiles.to_numpy(), rtol=1e-14)
    effect = first.predict([0.0, 100.0], kind="effect", probs=[0.5])
    assert effect.iloc[0, 0] == 0.0
    summary = str(first.summary())
    assert "Models selected by gAIC on bootstrap samples (n_draws = 200)" in summary
    assert "Quantiles of the mean response by dose" in summary


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"shapes": []}, "shapes: give at least one shape"),
        ({"shapes": ["emax", "emax"]}, "shapes: each shape only once"),
        ({"shapes": ["hill"]}, "shape 'hill' does not exist"),
        ({"bounds": {"sigemax": [[1, 2], [1, 2]]}}, r"bounds: given for \['sigemax'\]"),
        ({"bounds": {"emax": [200.0, 10.0]}}, "bounds: ed50 needs finite 0 < lower < upper"),
        ({"n_draws": 0}, "n_draws: must be a positive integer"),
        ({"n_draws": 10, "draws": np.zeros((10, 5))}, "n_draws: give n_draws or draws, not both"),
        ({"draws": np.zeros((10, 4))}, r"draws: need shape \(n_draws, 5\)"),
        ({"kind": "mean"}, "kind: must be 'full' or 'effect'"),
        ({"probs": [0.5, 1.0]}, r"probs: must be in \(0, 1\), got 1.0"),
        ({"delta": 0.0}, "delta: must be a finite non-zero"),
        ({"dose_kind": "nearest"}, "dose_kind: must be 'continuous' or 'discrete'"),
        ({"predict_doses": [-1.0]}, "predict_doses: must be finite non-negative"),
        ({"estimates": [1.0, 2.0]}, "estimates: must have length 5"),
        ({"seed": "x"}, "seed: must be an int or numpy Generator"),
    ],
)
def test_input_errors(arguments: dict[str, Any], message: str) -> None:
    design = DESIGNS["glycobrom"]
    call: dict[str, Any] = {"shapes": ["emax", "linear"], **inputs(design), "n_draws": None}
    call.update(arguments)
    if call["n_draws"] is None and "draws" not in arguments:
        call["n_draws"] = 20
    with pytest.raises(InputError, match=message):
        model_average(**call)
