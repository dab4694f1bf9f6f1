"""Normal-mixture priors, their conjugate posterior against numerical integration, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from dosefinding import Candidates
from dosefinding.bayes import bayes_mct_test, mixture_posterior, normal_mixture
from dosefinding.datasets import biom
from dosefinding.errors import InputError


def test_one_dose_posterior_matches_numerical_integration():
    """Posterior mean, SD and P(mu > 0) of one mean under a robust prior, against quad of prior x likelihood
    (tolerance 1e-8 relative: quad's own accuracy)."""
    prior = normal_mixture([0.8, 0.2], [0.4, 0.4], [0.1, 10.0])
    y, se = 1.1, 0.3
    post = mixture_posterior([prior, prior], doses=[0, 1], estimates=[y, 0.0], cov=np.diag([se**2, 1.0]))

    def density(mu: float) -> float:
        return float(np.exp(prior.logpdf(mu))) * stats.norm.pdf(y, mu, se)

    kw = {"epsabs": 0, "epsrel": 1e-12, "limit": 200, "points": [0.4, 1.1]}
    total = integrate.quad(density, -60, 60, **kw)[0]
    mean = integrate.quad(lambda m: m * density(m), -60, 60, **kw)[0] / total
    second = integrate.quad(lambda m: m * m * density(m), -60, 60, **kw)[0] / total
    above = integrate.quad(density, 0, 60, **kw)[0] / total
    marginal = post.marginal(0)
    assert marginal.mean() == pytest.approx(mean, rel=1e-8)
    assert marginal.sd() == pytest.approx(np.sqrt(second - mean**2), rel=1e-8)
    survival = float(marginal.weights @ stats.norm.sf(0, marginal.means, marginal.sds))
    assert survival == pytest.approx(above, rel=1e-8)


def test_bayes_mct_does_not_depend_on_row_order_or_response_scale():
    cands = Candidates([0, 0.05, 0.2, 0.6, 1], {"emax": 0.05, "linear": None})
    vague = [normal_mixture([1.0], [0.0], [10.0])] * 5
    data = biom()
    a = bayes_mct_test(cands, vague, data=data, dose="dose", response="resp")
    b = bayes_mct_test(cands, vague, data=data.sample(frac=1, random_state=3), dose="dose", response="resp")
    np.testing.assert_allclose(a.posterior_probabilities, b.posterior_probabilities, rtol=1e-12)
    scaled = data.assign(resp=data["resp"] * 1000)
    c = bayes_mct_test(cands, [normal_mixture([1.0], [0.0], [10_000.0])] * 5, data=scaled, dose="dose",
                       response="resp")
    np.testing.assert_allclose(a.posterior_probabilities, c.posterior_probabilities, rtol=1e-9)


def test_vague_priors_give_the_frequentist_decision():
    """With very vague priors the posterior probability of contrast c is Phi(t_c): the test is MCTtest's."""
    from dosefinding import mct_test

    cands = Candidates([0, 0.05, 0.2, 0.6, 1], {"emax": 0.05, "linear": None})
    vague = [normal_mixture([1.0], [0.0], [1e6])] * 5
    data = biom()
    bayes = bayes_mct_test(cands, vague, data=data, dose="dose", response="resp")
    freq = mct_test(cands, data=data, dose="dose", response="resp", df=None)
    z = stats.norm.ppf(bayes.posterior_probabilities.to_numpy())
    np.testing.assert_allclose(z, freq.t_statistics.to_numpy(), rtol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"weights": [1.2, -0.2], "means": [0, 0], "sds": [1, 10]}, "weights: must be non-negative, got -0.2"),
        ({"weights": [0.5, 0.4], "means": [0, 0], "sds": [1, 10]}, "weights: must sum to 1, got 0.9"),
        ({"weights": [1.0], "means": [0], "sds": [0]}, "sds: must be positive, got 0 at component 1"),
        ({"weights": [0.5, 0.5], "means": [0], "sds": [1, 1]}, "means: must have length 2, got 1"),
    ],
)
def test_bad_mixture_is_one_clear_error(kwargs, message):
    with pytest.raises(InputError, match=message):
        normal_mixture(**kwargs)


def test_bad_priors_and_threshold_are_clear_errors():
    cands = Candidates([0, 0.05, 0.2, 0.6, 1], {"emax": 0.05})
    vague = normal_mixture([1.0], [0.0], [10.0])
    args = {"data": biom(), "dose": "dose", "response": "resp"}
    with pytest.raises(InputError, match=r"priors: need one prior per dose \(5\), got 4"):
        bayes_mct_test(cands, [vague] * 4, **args)
    with pytest.raises(InputError, match="priors: entry 2 is a tuple, not a NormalMixture"):
        bayes_mct_test(cands, [vague, (1, 0, 10), vague, vague, vague], **args)
    with pytest.raises(InputError, match="critical_value: must be in"):
        bayes_mct_test(cands, [vague] * 5, critical_value=1.5, **args)
    with pytest.raises(InputError, match="weight: the vague component's weight must be in"):
        vague.robust(-0.1, 0, 100)
