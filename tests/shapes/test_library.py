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


@pytest.mark.parametrize(
    ("shapes", "message"),
    [
        # exp(300 / 0.001) overflows: the curve cannot be scaled to the effect.
        ({"exponential": 1e-3}, r"shapes\['exponential'\]: the guesstimate 0\.001 .* from 0 at dose 0 to inf at dose 300"),
        # Just past the overflow of expm1 (300 / delta = 709.9 > 709.78).
        ({"exponential": 300 / 709.9}, r"shapes\['exponential'\]: the guesstimate 0\.422595 .* to inf at dose 300"),
        # ed50 above the doses and a huge h: the curve is 0 (underflow) at every dose.
        ({"sigemax": (400, 5000)}, r"shapes\['sigemax'\]: the guesstimate \(400, 5000\) .* from 0 at dose 0 to 0 at"),
        ({"logistic": (400, 1e-3)}, r"shapes\['logistic'\]: the guesstimate \(400, 0\.001\)"),
        # The vertex 5e299 squared overflows.
        ({"quadratic": -1e-300}, r"shapes\['quadratic'\]: the guesstimate -1e-300 .* effect at dose 5e\+299"),
    ],
)
def test_guesstimates_that_floating_point_cannot_compute_are_refused(shapes: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        Candidates([0, 5, 50, 300], shapes, max_effect=-3.5)


@pytest.mark.parametrize(
    "shapes",
    [
        {"exponential": 0.5},  # 300 / 0.5 = 600: exp(600) is finite, e1 is about 1e-261
        {"exponential": 300 / 709.7},  # e1 about 2e-308, the smallest normal numbers
        {"sigemax": (50, 5000)},  # a step at 50 (the limits 0 and 1 are exact)
        {"logistic": (50, 1e-3)},
        {"betamod": (500, 500)},  # a spike at the mode
    ],
)
def test_extreme_but_computable_guesstimates_hit_placebo_and_max_effect(shapes: dict[str, object]) -> None:
    cands = Candidates([0, 5, 50, 300], shapes, placebo_effect=1.0, max_effect=-3.5)
    means = cands.response_matrix().iloc[:, 0].to_numpy()
    assert np.all(np.isfinite(means))
    reference = 300.0 if "betamod" not in shapes else 360.0 * 0.5
    at = cands.models[0].response([0.0, reference])
    np.testing.assert_allclose(at, [1.0, -2.5], rtol=1e-12)


def test_guesstimate_of_a_tiny_exponential_delta_is_refused_by_the_candidates() -> None:
    from dosefinding import guesstimate

    delta = guesstimate("exponential", 299.9, 1e-200, max_dose=300)["delta"]
    with pytest.raises(InputError, match=r"shapes\['exponential'\]: the guesstimate"):
        Candidates([0, 5, 50, 300], {"exponential": delta})


def test_logistic_gradient_is_finite_where_its_exponential_overflows() -> None:
    # (ed50 - dose) / delta = 5e4 at dose 0: exp overflows, the curve is 0 and so is its gradient.
    gradient = get_shape("logistic").gradient([0.0, 50.0, 300.0], [0.0, 1.0, 50.0, 1e-3])
    np.testing.assert_array_equal(gradient[[0, 2], 2:], 0.0)
    np.testing.assert_allclose(gradient[1], [1.0, 0.5, -250.0, 0.0])
