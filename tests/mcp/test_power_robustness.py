"""Power of the multiple contrast test at the edges: extreme noncentrality and extreme scales.

References: power 1 where the noncentrality is 1.3e10 (R DoseFinding 1.4's ``powMCT`` gives 1 for
the same call); A2201's power (five shapes, 45 per arm, sigma 5.6), which must not change when
effect and sigma are multiplied by the same factor, because power depends only on their ratio.
"""

from __future__ import annotations

import numpy as np
import pytest

from dosefinding import Candidates, InputError, optimal_contrasts, power_mct, sample_size_mct

DOSES = [0, 5, 50, 300]
A2201_SHAPES = {"linear": None, "emax": [10, 100], "sigemax": (50, 3), "exponential": 150}


def _a2201(scale: float = 1.0) -> Candidates:
    return Candidates(DOSES, A2201_SHAPES, max_effect=-3.5 * scale)


@pytest.mark.parametrize("alternative", ["one-sided", "two-sided"])
def test_power_is_one_at_an_extreme_noncentrality(alternative: str) -> None:
    """The quadratic shape with delta -100 has responses up to 1.3e10 (noncentrality 1.3e10):
    scipy's noncentral t returned NaN there. Power is 1 within the mvt accuracy (1e-3)."""
    cands = Candidates(DOSES, {"quadratic": -100}, max_effect=-3.5)
    power = power_mct(optimal_contrasts(cands), cands, n=45, sigma=5.6, alternative=alternative)
    assert power["quadratic"] == pytest.approx(1.0, abs=1e-3)
    with_others = Candidates(DOSES, {"quadratic": -100, **A2201_SHAPES}, max_effect=-3.5)
    power = power_mct(optimal_contrasts(with_others), with_others, n=45, sigma=5.6, alternative=alternative)
    assert np.all(np.isfinite(power)) and power["quadratic"] == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("scale", [1e-300, 1e-150, 1e150, 1e300])
def test_power_depends_on_effect_and_sigma_only_through_their_ratio(scale: float) -> None:
    """Power at effects and sigma both multiplied by ``scale`` equals A2201's: the same quasi-Monte
    Carlo points give the same numbers up to rounding (1e-12); the contrasts too."""
    base = _a2201()
    expected = power_mct(optimal_contrasts(base), base, n=45, sigma=5.6)
    scaled = _a2201(scale)
    contrasts = optimal_contrasts(scaled)
    np.testing.assert_allclose(contrasts.matrix, optimal_contrasts(base).matrix, atol=1e-12)
    np.testing.assert_allclose(power_mct(contrasts, scaled, n=45, sigma=5.6 * scale), expected, atol=1e-12)
    cov = np.eye(4) * (5.6 * np.sqrt(scale)) ** 2 / 45  # cov's entries are sigma^2 / n: scale their root
    root_scaled = _a2201(np.sqrt(scale))
    np.testing.assert_allclose(power_mct(contrasts, root_scaled, cov=cov, df=176), expected, atol=1e-12)
    assert sample_size_mct(contrasts, scaled, sigma=5.6 * scale, power=0.8).n.tolist() == [34] * 4


def test_unrepresentable_ratio_names_the_argument() -> None:
    with pytest.raises(InputError, match="sigma: the effects are 3.5e\\+300"):
        power_mct(optimal_contrasts(_a2201()), _a2201(1e300), n=45, sigma=1e-300)
    with pytest.raises(InputError, match="sigma: must be positive and finite"):
        power_mct(optimal_contrasts(_a2201()), _a2201(), n=45, sigma=np.inf)


def test_a_zero_contrast_is_refused() -> None:
    with pytest.raises(InputError, match="contrasts: contrast 'contrast2' is zero"):
        power_mct(np.array([[-1.0, 0.0], [0.0, 0.0], [0.0, 0.0], [1.0, 0.0]]), _a2201(), n=45, sigma=5.6)
