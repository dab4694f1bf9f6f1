"""Optimal contrasts: defining properties, beyond the R comparison."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dosefinding import Candidates, InputError, optimal_contrasts

DOSES = [0, 5, 50, 150, 300]


def candidates(ed50: float, h: float, effect: float) -> Candidates:
    return Candidates(
        DOSES,
        {"linear": None, "emax": ed50, "sigemax": (ed50, h), "exponential": ed50, "quadratic": -0.002},
        max_effect=effect,
    )


weights = st.lists(st.floats(5.0, 100.0), min_size=5, max_size=5)


@settings(max_examples=50, deadline=None)
@given(ed50=st.floats(2.0, 400.0), h=st.floats(0.7, 6.0), effect=st.sampled_from([-3.5, 2.0]), w=weights)
def test_contrasts_sum_to_zero_and_have_unit_length(ed50: float, h: float, effect: float, w: list[float]) -> None:
    oc = optimal_contrasts(candidates(ed50, h, effect), weights=w)
    c = oc.contrasts.to_numpy()
    np.testing.assert_allclose(c.sum(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(c, axis=0), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.diag(oc.correlation), 1.0, rtol=1e-12)


@settings(max_examples=30, deadline=None)
@given(ed50=st.floats(2.0, 400.0), w=weights, seed=st.integers(0, 2**31))
def test_optimal_contrast_beats_any_other_contrast(ed50: float, w: list[float], seed: int) -> None:
    """The optimal contrast maximises the noncentrality c'mu / sqrt(c'Sc) over contrasts."""
    cands = Candidates(DOSES, {"emax": ed50})
    s = np.diag(1 / np.array(w))
    mu = cands.response_matrix().to_numpy()[:, 0]
    best = optimal_contrasts(cands, weights=w).contrasts.to_numpy()[:, 0]

    def noncentrality(c: np.ndarray) -> float:
        return float(c @ mu / np.sqrt(c @ s @ c))

    rng = np.random.default_rng(seed)
    others = rng.normal(size=(200, len(DOSES)))
    others -= others.mean(axis=1, keepdims=True)
    assert noncentrality(best) >= max(noncentrality(c) for c in others) - 1e-12


@settings(max_examples=30, deadline=None)
@given(ed50=st.floats(2.0, 400.0), h=st.floats(0.7, 6.0), w=weights, effect=st.sampled_from([-3.5, 2.0]))
def test_constrained_contrasts_have_the_sign_of_the_effect(ed50: float, h: float, w: list[float], effect: float) -> None:
    oc = optimal_contrasts(candidates(ed50, h, effect), weights=w, constrained=True)
    c = oc.contrasts.to_numpy()
    assert np.all(np.sign(effect) * c[1:] >= 0)
    np.testing.assert_allclose(c.sum(axis=0), 0.0, atol=1e-12)


def test_sign_constraint_zeroes_negative_active_weights() -> None:
    cands = Candidates(DOSES, {"linear": None})
    unconstrained = optimal_contrasts(cands).contrasts.to_numpy()[:, 0]
    constrained = optimal_contrasts(cands, constrained=True).contrasts.to_numpy()[:, 0]
    assert unconstrained[1] < 0  # the linear contrast weighs the lowest active dose negatively
    assert constrained[1] == 0.0
    assert np.all(constrained[1:] >= 0)


def test_placebo_adjusted_contrasts_are_unit_vectors_without_placebo() -> None:
    oc = optimal_contrasts(candidates(25.0, 2.0, 1.0), placebo_adjusted=True)
    assert list(oc.contrasts.index) == [5.0, 50.0, 150.0, 300.0]
    np.testing.assert_allclose(np.linalg.norm(oc.contrasts.to_numpy(), axis=0), 1.0)


def test_weights_and_cov_exclude_each_other() -> None:
    with pytest.raises(InputError, match="weights, cov: give one"):
        optimal_contrasts(candidates(25.0, 2.0, 1.0), weights=[1] * 5, cov=np.eye(5))


@pytest.mark.parametrize(
    ("cov", "message"),
    [
        (np.ones((5, 5)), "positive definite"),
        (np.triu(np.ones((5, 5))) + 4 * np.eye(5), "symmetric"),
        (np.eye(4), "must be 5 x 5"),
    ],
)
def test_bad_covariance_is_refused(cov: np.ndarray, message: str) -> None:
    with pytest.raises(InputError, match=message):
        optimal_contrasts(candidates(25.0, 2.0, 1.0), cov=cov)
