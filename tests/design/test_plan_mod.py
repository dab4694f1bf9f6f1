"""plan_mod against DoseFinding 1.4's planMod (fixture: tests/fixtures/r/plan_mod_reference.R).

Designs: DoseFinding's planMod example (six doses to 150, six true curves, 124 patients per
arm, SD 1) fitted with quadratic, emax, sigEmax, exponential and logistic shapes; A2201 (doses
0, 5, 50, 300 mg, five candidates with -3.5 at 300 mg, 49/47/47/47 patients, SD 5.6) fitted
with emax, sigEmax, and emax with linear by gAIC.

Asymptotic (deterministic): dRMSE, Pow(maxDose), P(EDp) to 1e-6 relative (1e-9 absolute for
probabilities in the far tail), NaN where R gives NA (singular Fisher information), where the
best approximation is closed form (the true shape, or a linear fitted shape). Where it is a
nonlinear least-squares search (a nonlinear shape fitted to another curve), R's nlminb stops
at a relative parameter error up to about 4e-6 (sigEmax fitted to emax1: ED50 10.0000362, h
0.9999984 for the exact 10 and 1): there our objective is never above R's (checked) and the
metrics agree to 2e-5 relative. Two documented exceptions, measured below: (a) a quadratic fitted to the linear curve has b2 at
rounding level (R -3e-21, ours -6e-19) and R's calcED root formula cancels, so R's ED is noise
(R 66.08, exact 75; ours 75 from the stable root formula);
(b) A2201, sigEmax fitted to the linear and the exponential curves: R's nlminb stops short
of the least-squares optimum; ours has the smaller objective (checked) and the metrics differ.

The ED's standard deviation: ours uses the exact gradient (implicit differentiation). R's calcEDgrad
is exact for emax and exponential, and for the other shapes numDeriv::grad with a step of 1e-4
absolute for a parameter below 0.018 in size: a quadratic's b2 (about 1e-5 here) moves by ten times
itself. Where R's SD is accurate (every shape but the quadratic; the quadratic under most curves) P(EDp)
is compared with planMod's to 1e-6; where it is not (the quadratic under the exponential curve: R's SD
18.62, P(EDp) 0.903; exact 25.14, 0.784; and under the linear curves, where R's ED is noise too), with
the equal-accuracy reference tests/fixtures/r/plan_mod_ed_gradient.R writes: numDeriv's Richardson
extrapolation on each parameter's natural scale, at planMod's own best parameters and covariance.

Simulation: on R's own simulated trials (saved in the JSON) the selected shape agrees on every
trial, the per-trial ED and TD to 1e-5 relative, dRMSE, Eff-vs-ANOVA and cRMSE to 1e-6
relative, the interval lengths to 1e-6 relative (1e-12 of the largest dose absolute: ours are found
by bisection, so a linear fit's EDs, all exactly p times the largest dose in R, differ in the last bits), and the proportions exactly (the same trials
fall on the same side of every bound). With our own draws (5,000 trials) the metrics agree
with R's 500 trials within 4 combined Monte Carlo standard errors.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dosefinding import Candidates, InputError, plan_mod
from dosefinding.mod.least_squares import estimates_problem
from dosefinding.shapes import get_shape

FIXTURE = Path(__file__).parents[1] / "fixtures" / "r" / "plan_mod_reference.json"
ED_FIXTURE = Path(__file__).parents[1] / "fixtures" / "r" / "plan_mod_ed_gradient.json"
R_SHAPES = {"sigEmax": "sigemax", "betaMod": "betamod"}
METRICS = {"dRMSE": "rmse_doses", "Pow(maxDose)": "power_max_dose", "P(EDp)": "p_ed"}


@cache
def reference() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text())


@cache
def ed_reference() -> dict[tuple[str, str], dict[str, Any]]:
    """The equal-accuracy ED SD and P(EDp) by (case, R's alternative label)."""
    cases = json.loads(ED_FIXTURE.read_text())["cases"]
    return {(name, row["alternative"]): row for name, case in cases.items() for row in case["rows"]}


def r_ed_sd_is_accurate(name: str, r_label: str) -> bool:
    """Whether planMod's own ED (and its SD) agree with the equal-accuracy reference to 1e-6 relative."""
    row = ed_reference().get((name, r_label))
    return row is None or (abs(row["r_ed"] / row["ed"] - 1) < 1e-6 and abs(row["r_ed_sd"] / row["ed_sd"] - 1) < 1e-6)


def example() -> Candidates:
    return Candidates([0, 10, 25, 50, 100, 150], {"linear": None, "emax": 25, "logistic": (50, 10.88111),
                                                   "exponential": 85, "betamod": [(0.33, 2.31), (1.39, 1.39)]},
                      max_effect=0.4, scal=200)


def a2201() -> Candidates:
    return Candidates([0, 5, 50, 300], {"linear": None, "emax": [10, 100], "sigemax": (50, 3), "exponential": 150},
                      max_effect=-3.5)


DESIGNS = {"example": (example, {"n": 124, "sigma": 1.0}, 1.0),
           "a2201": (a2201, {"n": [49, 47, 47, 47], "sigma": 5.6}, -1.0)}  # sign of our delta (R: direction)


def _case(name: str) -> tuple[dict[str, Any], Candidates, dict[str, Any], list[str], float]:
    case = reference()["cases"][name]
    build, design, sign = DESIGNS[case["design"]]
    models = case["model"] if isinstance(case["model"], list) else [case["model"]]
    return case, build(), design, [R_SHAPES.get(m, m) for m in models], sign * case["delta"]


def test_fixture_is_dosefinding_14() -> None:
    assert reference()["dosefinding_version"].startswith("1.4")


ASYMPTOTIC = [name for name, case in reference()["cases"].items() if case["asymptotic"]]
R_STOPS_SHORT = {("a2201_sigemax", "linear"), ("a2201_sigemax", "exponential")}


@pytest.mark.parametrize("name", ASYMPTOTIC)
def test_asymptotic_matches_planmod(name: str) -> None:
    case, cands, design, shapes, _ = _case(name)
    plan = plan_mod(shapes[0], cands, **design)
    ours = plan.asymptotic
    assert ours is not None and plan.best_parameters is not None
    fitted = get_shape(shapes[0])
    k = len(fitted.nonlinear_parameters)
    for i, (label, (r_label, expected)) in enumerate(zip(cands.labels, case["approx"].items())):
        if (name, label) in R_STOPS_SHORT:
            continue
        searched = not fitted.is_linear and cands.models[i].shape != fitted.name
        if searched:
            problem = estimates_problem(fitted, cands.doses, cands.mean_responses()[:, i], plan.cov)
            r_objective = problem.profile(np.array([case["best_parameters"][i][-k:]]))[0]
            our_objective = problem.profile(plan.best_parameters[label][None, -k:])[0]
            assert our_objective <= r_objective + 1e-12, (label, our_objective, r_objective)
        for r_name, column in METRICS.items():
            value, want = ours.loc[label, column], expected[r_name]
            if column == "p_ed" and not r_ed_sd_is_accurate(name, r_label):
                want = ed_reference()[name, r_label]["p_ed"]
            if want is None:
                assert np.isnan(value), (name, label, column, value)
            else:
                np.testing.assert_allclose(value, want, rtol=2e-5 if searched else 1e-6, atol=1e-9,
                                           err_msg=f"{name} {label} {column}")


@pytest.mark.parametrize("name", ["example_quadratic", "a2201_quadratic"])
def test_ed_sd_is_that_of_the_exact_gradient(name: str) -> None:
    """A quadratic fit (linear in its parameters: our best parameters are R's to rounding): ED and its SD
    equal the equal-accuracy R reference to 1e-6 relative under every true curve, where planMod's own SD is
    off by up to 35% (example, exponential curve: 18.62 against 25.14) or, with its ED, noise (linear curves)."""
    cands, design = (example(), DESIGNS["example"][1]) if name.startswith("example") else (a2201(), DESIGNS["a2201"][1])
    ours = plan_mod("quadratic", cands, **design).asymptotic
    assert ours is not None
    rows = [row for (case, _), row in ed_reference().items() if case == name]
    assert len(rows) == len(cands.labels)
    inaccurate = 0
    for label, row in zip(cands.labels, rows):
        np.testing.assert_allclose(ours.loc[label, ["ed", "ed_sd"]].to_numpy(float), [row["ed"], row["ed_sd"]],
                                   rtol=1e-6, err_msg=f"{name} {label}")
        np.testing.assert_allclose(ours.loc[label, "p_ed"], row["p_ed"], rtol=1e-6, atol=1e-9)
        inaccurate += not r_ed_sd_is_accurate(name, row["alternative"])
    assert inaccurate == (2 if name == "example_quadratic" else 1)


def test_where_r_stops_short_ours_fits_better() -> None:
    case, cands, design, shapes, _ = _case("a2201_sigemax")
    plan = plan_mod(shapes[0], cands, **design)
    assert plan.best_parameters is not None
    cov = plan.cov
    for i, label in enumerate(cands.labels):
        if ("a2201_sigemax", label) not in R_STOPS_SHORT:
            continue
        problem = estimates_problem(get_shape("sigemax"), cands.doses, cands.mean_responses()[:, i], cov)
        r_objective = problem.profile(np.array([case["best_parameters"][i][2:]]))[0]
        our_objective = problem.profile(plan.best_parameters[label][None, 2:])[0]
        assert our_objective < r_objective * (1 - 1e-3), (label, our_objective, r_objective)


def test_quadratic_ed_of_a_linear_curve_is_exact_where_r_cancels() -> None:
    """Exception (a): at R's own best quadratic (b2 at rounding level) R's calcED gives 66.08; our
    stable root formula gives the exact 75 of the linear curve (to 1e-9)."""
    case, _, _, _, _ = _case("example_quadratic")
    from dosefinding import curve_effective_dose

    ed = float(curve_effective_dose("quadratic", case["best_parameters"][0], 0.5, doses=[0, 150]))
    assert ed == pytest.approx(75, rel=1e-9)


SIMULATED = [name for name, case in reference()["cases"].items() if case["simulation"]]


@pytest.mark.parametrize("name", SIMULATED)
def test_simulation_on_r_trials_matches_planmod(name: str) -> None:
    case, cands, design, shapes, delta = _case(name)
    plan = plan_mod(shapes, cands, **design, asymptotic=False, simulation=True, trials=case["draws"], delta=delta)
    sim, trials = plan.simulation, plan.trials
    assert sim is not None and trials is not None
    assert plan.n_trials == case["n_sim"]
    for i, (label, (r_label, expected)) in enumerate(zip(cands.labels, case["sim"].items())):
        rows = trials[trials["alternative"] == label]
        assert [R_SHAPES.get(s, s) for s in case["selected"][i]] == rows["shape"].tolist()
        metrics = case["metrics"][r_label]
        np.testing.assert_allclose(rows["ed"], metrics["ed"], rtol=1e-5)
        r_td = np.array([np.nan if v is None else v for v in metrics["td"]], dtype=float)
        np.testing.assert_allclose(rows["td"], r_td, rtol=1e-5)
        np.testing.assert_allclose(sim.loc[label, "rmse_doses"], expected["dRMSE"], rtol=1e-6)
        assert sim.loc[label, "power_max_dose"] == pytest.approx(expected["Pow(maxDose)"], abs=1e-12)
        assert sim.loc[label, "p_ed"] == pytest.approx(expected["P(EDp)"], abs=1e-12)
        assert sim.loc[label, "na_se"] == case["na_se"][r_label]
        for ours, theirs in (("eff_vs_anova", "eff_vs_anova"), ("rmse_curve", "crmse"), ("td_length", "length_td"),
                             ("ed_length", "length_ed")):
            np.testing.assert_allclose(sim.loc[label, ours], metrics[theirs], rtol=1e-6, atol=1e-12 * cands.doses[-1],
                                       err_msg=f"{label} {ours}")
        assert sim.loc[label, "p_no_td"] == pytest.approx(metrics["p_no_td"], abs=1e-12)
        assert sim.loc[label, "p_td_window"] == pytest.approx(metrics["p_td_window"], abs=1e-12)
    if len(shapes) > 1:
        assert plan.selected is not None
        np.testing.assert_allclose(plan.selected.sum(axis=1), 1.0)


def test_own_draws_agree_with_planmod_within_monte_carlo_error() -> None:
    case, cands, design, shapes, delta = _case("a2201_emax")
    n_ours, n_r = 5000, case["n_sim"]
    sim = plan_mod(shapes, cands, **design, simulation=True, asymptotic=False, n_trials=n_ours, seed=11,
                   delta=delta).simulation
    assert sim is not None
    for label, expected in zip(cands.labels, case["sim"].values()):
        se = sim.loc[label, "rmse_doses_se"] * np.sqrt(1 + n_ours / n_r)
        assert abs(sim.loc[label, "rmse_doses"] - expected["dRMSE"]) < 4 * se, label
        for r_name, column in (("Pow(maxDose)", "power_max_dose"), ("P(EDp)", "p_ed")):
            pooled = (sim.loc[label, column] * n_ours + expected[r_name] * n_r) / (n_ours + n_r)
            se = np.sqrt(max(pooled * (1 - pooled), 1 / n_r) * (1 / n_ours + 1 / n_r))
            assert abs(sim.loc[label, column] - expected[r_name]) < 4 * se, (label, column)


def test_results_do_not_depend_on_the_response_scale() -> None:
    cands = a2201()
    scaled = Candidates(cands.doses, {"linear": None, "emax": [10, 100], "sigemax": (50, 3), "exponential": 150},
                        max_effect=-35.0, placebo_effect=7.0)
    one = plan_mod("emax", cands, n=47, sigma=5.6, simulation=True, n_trials=300, seed=3, delta=-2.0)
    ten = plan_mod("emax", scaled, n=47, sigma=56.0, simulation=True, n_trials=300, seed=3, delta=-20.0)
    assert one.asymptotic is not None and ten.asymptotic is not None
    assert one.simulation is not None and ten.simulation is not None
    np.testing.assert_allclose(ten.asymptotic["rmse_doses"], 10 * one.asymptotic["rmse_doses"], rtol=1e-6)
    for column in ("power_max_dose", "p_ed", "ed", "td", "p_td_window"):
        np.testing.assert_allclose(ten.asymptotic[column], one.asymptotic[column], rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(ten.simulation["rmse_doses"], 10 * one.simulation["rmse_doses"], rtol=1e-6)
    for column in ("power_max_dose", "p_ed", "p_td_window", "eff_vs_anova"):
        np.testing.assert_allclose(ten.simulation[column], one.simulation[column], rtol=1e-6, atol=1e-12)


def test_asymptotic_td_precision_is_consistent_with_simulation() -> None:
    """Our TD extension: the delta-method SD of the TD against the spread of 4,000 simulated TDs (A2201, emax
    fitted to the emax curves, 1,000 per arm so that the TD is nearly normal; its tail is heavy at smaller n, so
    the spread is the interquartile range / 1.349, whose Monte Carlo error is about 2% here)."""
    plan = plan_mod("emax", a2201(), n=1000, sigma=5.6, simulation=True, n_trials=4000, seed=5, delta=-2.0)
    assert plan.asymptotic is not None and plan.trials is not None
    for label in ("emax1", "emax2"):
        td = plan.trials.loc[plan.trials["alternative"] == label, "td"]
        assert td.notna().all()
        low, high = np.quantile(td, [0.25, 0.75])
        assert (high - low) / 1.349 == pytest.approx(plan.asymptotic.loc[label, "td_sd"], rel=0.1)
        assert td.median() == pytest.approx(plan.asymptotic.loc[label, "td"], rel=0.02)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"shapes": ["emax", "linear"], "asymptotic": True}, "asymptotic: needs one fitted shape"),
    ({"asymptotic": False}, "asymptotic, simulation"),
    ({"cov": np.eye(4)}, "cov: give cov, or n and sigma"),
    ({"n": None}, "n, sigma: give both"),
    ({"sigma": -1.0}, "sigma: must be positive"),
    ({"n": [47, 47, 47]}, "n"),
    ({"delta": 2.0}, "delta: the target effect over placebo of a decreasing curve must be negative"),
    ({"td_window": (2.0, 0.5)}, "td_window"),
    ({"p_lower": 0.8}, "p_lower, p_upper"),
    ({"shapes": "linint"}, "shapes: plan_mod fits parametric shapes"),
    ({"shapes": ["emax", "emax"], "simulation": True}, "shapes: each shape once"),
    ({"simulation": True, "trials": np.zeros((2, 10, 4))}, "trials: need shape (5, n_trials >= 2, 4)"),
    ({"simulation": True, "n_trials": 1}, "n_trials"),
    ({"alpha": 1.5}, "alpha"),
])
def test_bad_input_is_one_clear_error(kwargs: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"shapes": "emax", "n": 47, "sigma": 5.6} | kwargs
    shapes = arguments.pop("shapes")
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        plan_mod(shapes, a2201(), **arguments)


@pytest.mark.parametrize("shape", ["linear", "linlog", "quadratic", "emax", "sigemax", "exponential", "logistic",
                                   "betamod"])
def test_every_shape_plans_without_warnings(shape: str) -> None:
    """Each parametric shape, asymptotic and simulated, on DoseFinding's example (betamod with its scal 200)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plan = plan_mod(shape, example(), n=124, sigma=1.0, simulation=True, n_trials=50, delta=0.3, seed=2,
                        scal=200)
    assert plan.simulation is not None and plan.asymptotic is not None
    assert np.isfinite(plan.simulation[["rmse_doses", "power_max_dose", "p_ed", "rmse_curve"]].to_numpy()).all()
    assert plan.trials is not None and (plan.trials["shape"] == shape).all()


@pytest.mark.parametrize("name", ["quadratic", "betamod"])
@pytest.mark.parametrize("delta", [0.3, -0.3])
def test_unimodal_eds_and_tds_for_all_trials_at_once_equal_the_single_curve_functions(name: str, delta: float) -> None:
    # Rows drawn around rising, falling, peaked and flat curves: vertex / mode inside and beyond the dose range,
    # TDs inside, beyond the largest dose and never reached.
    from dosefinding import curve_effective_dose, curve_target_dose
    from dosefinding.design.plan_mod import FittedShape

    doses = np.array([0.0, 10, 25, 50, 100, 150])
    rng = np.random.default_rng(3)
    rows = 400
    if name == "quadratic":
        parameters = np.column_stack([rng.normal(0, 1, rows), rng.normal(0, 0.01, rows), rng.normal(0, 5e-5, rows)])
        scal = None
    else:
        parameters = np.column_stack([rng.normal(0, 1, rows), rng.normal(0, 0.6, rows),
                                      rng.uniform(0.05, 4, rows), rng.uniform(0.05, 4, rows)])
        scal = 200.0
    shape = FittedShape.build(name, doses, np.eye(6), None, scal, None)
    ed = shape.effective_doses(parameters, 0.5)
    td = shape.target_doses(parameters, delta)
    expected_ed = [float(curve_effective_dose(name, x, 0.5, doses=doses, constant=scal)) for x in parameters]
    expected_td = [float(curve_target_dose(name, x, delta, doses=doses, constant=scal)) for x in parameters]
    assert np.isnan(td).any() and np.isfinite(td).any()
    resolution = 200 * 2.0**-64  # the bisection's: 2^-64 of the top dose (the betamod's mode is below scal = 200)
    np.testing.assert_allclose(ed, expected_ed, rtol=1e-13, atol=resolution)
    np.testing.assert_allclose(td, expected_td, rtol=1e-13, atol=resolution)


def test_asymptotic_td_sd_of_a_nearly_linear_quadratic() -> None:
    # A quadratic fitted to a linear curve: b2 at rounding level (-2e-19). R's numDeriv-style steps (1e-4) move b2
    # far off the curve; the TD SD was NaN. At b2 = 0 the TD solves b1 x = delta: gradient (0, -TD / b1, -TD^2 / b1)
    # (differentiate b2 x^2 + b1 x = delta), with the covariance (F' S^-1 F)^-1 of F = [1, d, d^2].
    cands = Candidates([0, 5, 50, 300], {"linear": None}, max_effect=-3.5)
    plan = plan_mod("quadratic", cands, n=47, sigma=5.6, delta=-2.0)
    assert plan.best_parameters is not None and plan.asymptotic is not None
    b1 = plan.best_parameters["linear"][1]
    td = -2.0 / b1
    d = np.array([0.0, 5, 50, 300])
    f = np.column_stack([np.ones(4), d, d * d])
    v = np.linalg.inv(f.T @ f * 47 / 5.6**2)
    gradient = np.array([0.0, -td / b1, -td * td / b1])
    np.testing.assert_allclose(plan.asymptotic.loc["linear", "td"], td, rtol=1e-12)
    np.testing.assert_allclose(plan.asymptotic.loc["linear", "td_sd"], np.sqrt(gradient @ v @ gradient), rtol=1e-9)
