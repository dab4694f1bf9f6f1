"""Shapes: formulas, gradients, bounds and candidate sets."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dosefinding import Candidates, InputError, default_bounds, get_shape
from dosefinding.shapes.library import SHAPE_NAMES

DOSES = np.array([0.0, 5.0, 50.0, 150.0, 300.0])
PARAMETERS = {
    "linear": ([0.5, -0.01], None),
    "linlog": ([0.5, -0.7], 3.0),
    "quadratic": ([0.5, -0.03, 6e-5], None),
    "emax": ([0.5, -4.0, 25.0], None),
    "sigemax": ([0.5, -4.0, 60.0, 2.5], None),
    "exponential": ([0.5, -1.2, 180.0], None),
    "logistic": ([0.5, -4.0, 100.0, 30.0], None),
    "betamod": ([0.5, -4.0, 0.8, 1.7], 360.0),
    "linint": ([0.5, 0.1, -1.0, -2.0, -3.0], DOSES),
}


@pytest.mark.parametrize("name", SHAPE_NAMES)
def test_gradient_equals_central_differences(name: str) -> None:
    params, constant = PARAMETERS[name]
    shape = get_shape(name)
    analytic = shape.gradient(DOSES, params, constant)
    numeric = np.empty_like(analytic)
    for j, value in enumerate(params):
        step = 1e-6 * max(abs(value), 1.0)
        up, down = np.array(params, float), np.array(params, float)
        up[j] += step
        down[j] -= step
        numeric[:, j] = (shape.response(DOSES, up, constant) - shape.response(DOSES, down, constant)) / (2 * step)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", SHAPE_NAMES)
def test_response_is_basis_times_linear_parameters(name: str) -> None:
    params, constant = PARAMETERS[name]
    shape = get_shape(name)
    linear, nonlinear = shape.split(params)
    batched = shape.basis(DOSES, np.array([nonlinear, nonlinear]), constant)
    if shape.nonlinear_parameters:
        assert batched.shape == (2, DOSES.size, linear.size)
    np.testing.assert_allclose(shape.basis(DOSES, nonlinear, constant) @ linear, shape.response(DOSES, params, constant))


def test_closed_forms_at_known_points() -> None:
    assert get_shape("emax").response([25.0], [1.0, 2.0, 25.0])[0] == pytest.approx(2.0)
    assert get_shape("sigemax").response([60.0], [0.0, 1.0, 60.0, 3.0])[0] == pytest.approx(0.5)
    assert get_shape("logistic").response([100.0], [0.0, 2.0, 100.0, 10.0])[0] == pytest.approx(1.0)
    # betamod reaches e0 + emax at its mode scal * delta1 / (delta1 + delta2)
    mode = 360.0 * 0.8 / 2.5
    assert get_shape("betamod").response([mode], [0.0, 3.0, 0.8, 1.7], 360.0)[0] == pytest.approx(3.0)
    assert get_shape("linint").response([2.5], [0.0, 1.0, 2.0], [0.0, 5.0, 10.0])[0] == pytest.approx(0.5)


def test_default_bounds_follow_dosefinding() -> None:
    np.testing.assert_allclose(default_bounds("sigEmax", 300.0), [[0.3, 450.0], [0.5, 10.0]])
    np.testing.assert_allclose(default_bounds("logistic", 100.0), [[0.1, 150.0], [1.0, 50.0]])
    assert default_bounds("linear", 100.0) is None


def test_unknown_shape_is_named() -> None:
    with pytest.raises(InputError, match="'emx' does not exist"):
        get_shape("emx")


def test_linint_refuses_doses_outside_its_nodes() -> None:
    with pytest.raises(InputError, match="linint interpolates between 0 and 300"):
        get_shape("linint").response([400.0], [0, 1, 2, 3, 4], DOSES)


@pytest.mark.parametrize(
    ("doses", "message"),
    [
        ([5, 50, 300], "must include placebo"),
        ([0, 50, 5, 300], "sorted in increasing order"),
        ([0, 5, 5, 300], "duplicate dose 5"),
        ([0, -5, 300], "non-negative"),
        ([0, np.nan, 300], "finite"),
    ],
)
def test_candidates_check_doses(doses: list[float], message: str) -> None:
    with pytest.raises(InputError, match=message):
        Candidates(doses, {"linear": None})


@pytest.mark.parametrize(
    ("shapes", "message"),
    [
        ({"emax": -10}, "must be positive"),
        ({"sigemax": (50, 0)}, "must be positive"),
        ({"quadratic": 0.001}, "must be negative"),
        ({"linear": 5}, "takes no guesstimate"),
        ({"emax": None}, "needs a guesstimate"),
        ({"sigemax": [50, 2, 3]}, "needs 2 value"),
        ({"linint": [0.5, 1.0]}, "needs 3 value"),
        ({"logit": 3}, "does not exist"),
    ],
)
def test_candidates_check_guesstimates(shapes: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        Candidates([0, 5, 50, 300], shapes)


def test_direction_contradicting_max_effect_is_refused() -> None:
    with pytest.raises(InputError, match="contradicts the sign of max_effect"):
        Candidates([0, 5, 50, 300], {"linear": None}, max_effect=2.0, direction="decreasing")


def test_several_guesstimates_get_numbered_labels() -> None:
    cands = Candidates([0, 5, 50, 300], {"emax": [5, 50], "sigemax": [(50, 2), (100, 4)], "linear": None})
    assert cands.labels == ("emax1", "emax2", "sigemax1", "sigemax2", "linear")


@settings(max_examples=60, deadline=None)
@given(
    ed50=st.floats(1.0, 400.0),
    h=st.floats(0.6, 8.0),
    placebo=st.floats(-5.0, 5.0),
    effect=st.floats(0.1, 10.0) | st.floats(-10.0, -0.1),
)
def test_candidates_hit_placebo_and_max_effect(ed50: float, h: float, placebo: float, effect: float) -> None:
    cands = Candidates(
        [0, 5, 50, 300],
        {"linear": None, "linlog": None, "emax": ed50, "sigemax": (ed50, h), "exponential": ed50,
         "logistic": (ed50, 30.0), "linint": [0.2, 0.7, 1.0]},
        placebo_effect=placebo,
        max_effect=effect,
    )
    matrix = cands.response_matrix()
    np.testing.assert_allclose(matrix.loc[0.0], placebo, atol=1e-9 * max(1, abs(placebo)))
    np.testing.assert_allclose(matrix.loc[300.0] - matrix.loc[0.0], effect, rtol=1e-9)


def test_quadratic_and_betamod_effect_is_at_vertex_and_mode() -> None:
    cands = Candidates([0, 5, 50, 300], {"quadratic": -0.002, "betamod": (1.0, 1.0)}, max_effect=2.0, scal=400.0)
    quad, beta = cands.models
    vertex = 1 / (2 * 0.002)
    assert quad.response([vertex])[0] == pytest.approx(2.0)
    assert beta.response([200.0])[0] == pytest.approx(2.0)
