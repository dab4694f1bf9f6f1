"""bayes_mct_test and mixture_posterior against R DoseFinding 1.4's bMCTtest and mvpostmix.

Fixture: tests/fixtures/r/bayes_reference.R (priors built as RBesT's normMix matrices, without RBesT).
The posterior and the posterior probabilities are closed forms on both sides: compared to 1e-9
(relative, plus 1e-12 absolute for probabilities near 1). The threshold Phi(q) depends on the
max-T quantile q: R's qmvt stops at ptol 1e-3, so R's default threshold (abseps 1e-3, randomised) is
compared to 2e-4 and its tight one (abseps 1e-7) to 5e-5 (measured: 4e-5 and 2e-5 off); the fixture's
uniroot on pmvnorm (abseps 1e-9) to 3e-7 (measured: 1.0e-7 and 4e-8; ours is accurate to about 1e-7).
"""

import json
from pathlib import Path

import numpy as np
import pytest

from dosefinding import Candidates
from dosefinding.bayes import bayes_mct_test, mixture_posterior, normal_mixture
from dosefinding.bayes.posterior import update_mixture
from dosefinding.datasets import biom

REF = json.loads((Path(__file__).parents[1] / "fixtures" / "r" / "bayes_reference.json").read_text())
CLOSED_FORM = {"rtol": 1e-9, "atol": 1e-12}


def _components(values):
    """R writes a list of component vectors or matrices as a JSON object Comp1, Comp2, ..."""
    return np.array(list(values.values()) if isinstance(values, dict) else values)


def _priors(case):
    return [normal_mixture(p["w"], p["m"], p["s"]) for p in case["prior"]]


def _biom():
    case = REF["bmct"]["biom"]
    cands = Candidates([0, 0.05, 0.2, 0.6, 1], {"emax": 0.05, "linear": None, "logistic": [0.5, 0.1],
                                                 "linint": [0, 1, 1, 1]})
    return case, cands


def _a2201():
    case = REF["bmct"]["a2201"]
    cands = Candidates([0, 5, 50, 300], {"linear": None, "emax": [10, 100], "sigemax": [50, 3], "exponential": 150},
                       max_effect=-3.5)
    return case, cands


def test_reference_is_doseFinding_14():
    assert REF["DoseFinding"].startswith("1.4")


@pytest.mark.parametrize("form", ["raw", "estimates"])
def test_biom_matches_r(form):
    case, cands = _biom()
    args = ({"data": biom(), "dose": "dose", "response": "resp"} if form == "raw"
            else {"doses": case["doses"], "estimates": case["estimates"], "cov": case["cov"]})
    res = bayes_mct_test(cands, _priors(case), **args)
    np.testing.assert_allclose(res.contrasts.to_numpy(), np.array(case["contrasts"]), **CLOSED_FORM)
    np.testing.assert_allclose(res.posterior.weights, case["posterior"]["weights"], **CLOSED_FORM)
    np.testing.assert_allclose(res.posterior.means, _components(case["posterior"]["means"]), **CLOSED_FORM)
    np.testing.assert_allclose(res.posterior.covs, _components(case["posterior"]["covs"]), **CLOSED_FORM)
    np.testing.assert_allclose(res.t_statistics.to_numpy(), np.array(case["t_statistics"]), **CLOSED_FORM)
    np.testing.assert_allclose(res.posterior_probabilities, case["posterior_probabilities"], **CLOSED_FORM)
    assert res.critical_value == pytest.approx(case["critical_value_exact"], abs=3e-7)
    assert res.critical_value == pytest.approx(case["critical_value_tight"], abs=5e-5)
    assert res.critical_value == pytest.approx(case["critical_value"], abs=2e-4)


def test_biom_given_threshold_matches_r():
    case, cands = _biom()
    res = bayes_mct_test(cands, _priors(case), data=biom(), dose="dose", response="resp", critical_value=0.99)
    np.testing.assert_allclose(res.posterior_probabilities, case["posterior_probabilities_given"], **CLOSED_FORM)
    assert res.critical_value == case["critical_value_given"] == 0.99
    assert not res.critical_value_from_alpha
    assert res.significant.tolist() == [True, True, True, True]  # 0.99999, 0.99897, 0.99789, 0.99989 > 0.99


def test_a2201_matches_r():
    case, cands = _a2201()
    res = bayes_mct_test(cands, _priors(case), doses=case["doses"], estimates=case["estimates"], cov=case["cov"],
                         alpha=case["alpha"])
    assert res.posterior_probabilities.index.tolist() == ["linear", "emax1", "emax2", "sigemax", "exponential"]
    np.testing.assert_allclose(res.contrasts.to_numpy(), np.array(case["contrasts"]), **CLOSED_FORM)
    np.testing.assert_allclose(res.posterior.weights, case["posterior"]["weights"], **CLOSED_FORM)
    np.testing.assert_allclose(res.t_statistics.to_numpy(), np.array(case["t_statistics"]), **CLOSED_FORM)
    np.testing.assert_allclose(res.posterior_probabilities, case["posterior_probabilities"], **CLOSED_FORM)
    assert res.critical_value == pytest.approx(case["critical_value_exact"], abs=3e-7)
    assert res.critical_value == pytest.approx(case["critical_value_tight"], abs=5e-5)
    assert res.critical_value == pytest.approx(case["critical_value"], abs=2e-4)


def test_mvpostmix_full_covariance_prior_matches_r():
    case = REF["mvpostmix"]
    w, m, v = update_mixture(np.array(case["prior_weights"]), np.array(case["prior_means"]),
                             np.array(case["prior_covs"]), np.array(case["estimates"]), np.array(case["cov"]))
    np.testing.assert_allclose(w, case["posterior"]["weights"], **CLOSED_FORM)
    np.testing.assert_allclose(m, _components(case["posterior"]["means"]), **CLOSED_FORM)
    np.testing.assert_allclose(v, _components(case["posterior"]["covs"]), **CLOSED_FORM)


def test_posterior_mixture_marginals_are_those_of_the_components():
    case, _ = _a2201()
    post = mixture_posterior(_priors(case), doses=case["doses"], estimates=case["estimates"], cov=case["cov"])
    means = _components(case["posterior"]["means"])
    expected_mean = np.asarray(case["posterior"]["weights"]) @ means
    np.testing.assert_allclose(post.mean.to_numpy(), expected_mean, **CLOSED_FORM)
    marginal = post.marginal(300)
    assert marginal.mean() == pytest.approx(expected_mean[-1], rel=1e-12)
    assert marginal.sd() == pytest.approx(post.sd[300.0], rel=1e-12)
