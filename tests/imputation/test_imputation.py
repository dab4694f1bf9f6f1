"""dosefinding.imputation: bad input, invariances, the samplers' distributions, pooling rules and tipping points."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dosefinding import Candidates
from dosefinding.datasets import antidepressant_data
from dosefinding.errors import InputError
from dosefinding.imputation import (
    STRATEGIES,
    analyse,
    barnard_rubin_df,
    imputation_data,
    impute,
    mmrm_draws,
    pool,
    pooled_lsmeans,
    rubin_rules,
    tipping_point,
)
from dosefinding.imputation.gibbs import gibbs_draws
from dosefinding.mcp import mct_test

from .conftest import antidepressant

ARGS = {"subject": "PATIENT", "visit": "VISIT", "outcome": "CHANGE", "arm": "THERAPY", "covariates": ["BASVAL"]}


def _ice(strategy: str = "JR") -> pd.DataFrame:
    return pd.DataFrame({"subject": ["1513", "1804"], "visit": ["5", "7"], "strategy": strategy})


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"references": {"DRUG": "PLACEBOS"}}, "references: reference arm 'PLACEBOS' of arm 'DRUG' does not exist"),
    ({"references": {"DRUGS": "PLACEBO"}}, "references: arm 'DRUGS' does not exist"),
    ({"ice": pd.DataFrame({"subject": ["9999"], "visit": ["5"], "strategy": ["JR"]})},
     "ice: subject '9999' is not in the data"),
    ({"ice": pd.DataFrame({"subject": ["1513"], "visit": ["8"], "strategy": ["JR"]})},
     "ice: visit '8' is not a visit of the data"),
    ({"ice": pd.DataFrame({"subject": ["1513"], "visit": ["5"], "strategy": ["J2R"]})},
     "ice: strategy 'J2R' is not one of"),
    ({"ice": pd.DataFrame({"subject": ["1513", "1513"], "visit": ["5", "6"], "strategy": ["JR", "CR"]})},
     "ice: subject '1513' has more than one intercurrent event"),
    ({"ice": pd.DataFrame({"patient": ["1513"]})}, "ice: must be a data frame with columns subject, visit and strategy"),
    ({"outcome": "HAMD"}, "outcome: column 'HAMD' is not in the data"),
])
def test_bad_input_to_the_layout_is_named(kwargs: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        imputation_data(antidepressant_data(), **{**ARGS, **kwargs})


def test_a_covariate_that_varies_within_a_subject_is_refused() -> None:
    with pytest.raises(InputError, match="covariates: column 'HAMATOTL' varies within subject"):
        imputation_data(antidepressant_data(), **{**ARGS, "covariates": ["HAMATOTL"]})


@pytest.mark.parametrize(("deltas", "message"), [
    (pd.DataFrame({"subject": ["1513"], "visit": ["9"], "delta": [1.0]}), "deltas: visit '9' is not a visit of the data"),
    (pd.DataFrame({"subject": ["0000"], "visit": ["7"], "delta": [1.0]}), "deltas: subject '0000' is not in the data"),
    (pd.DataFrame({"subject": ["1513"], "visit": ["7"], "delta": ["x"]}), "deltas: column delta must be finite"),
])
def test_bad_deltas_are_named(jr, deltas: pd.DataFrame, message: str) -> None:
    with pytest.raises(InputError, match=message):
        impute(mmrm_draws(jr), deltas=deltas)


def test_bad_options_are_named(jr) -> None:
    with pytest.raises(InputError, match="method: must be"):
        mmrm_draws(jr, method="mice")
    with pytest.raises(InputError, match="resampling: must be"):
        mmrm_draws(jr, resampling="bootstrapped")
    with pytest.raises(InputError, match="control: arm 'PLACEBOS' does not exist"):
        analyse(impute(mmrm_draws(jr)), control="PLACEBOS")
    with pytest.raises(InputError, match="model: must be"):
        analyse(impute(mmrm_draws(jr)), model="anova")
    with pytest.raises(InputError, match="deltas: need at least two finite values in increasing order"):
        tipping_point(mmrm_draws(jr), [1.0, 0.0])
    with pytest.raises(InputError, match="visit: '9' is not a visit"):
        tipping_point(mmrm_draws(jr), [0.0, 1.0], visit="9")


def test_results_do_not_depend_on_row_order_or_outcome_scale() -> None:
    data = antidepressant_data()
    first = pool(analyse(impute(mmrm_draws(imputation_data(data, **ARGS, ice=_ice(),
                                                           references={"DRUG": "PLACEBO"}))))).table
    shuffled = data.sample(frac=1.0, random_state=4).assign(CHANGE=lambda f: f["CHANGE"] * 1000.0)
    second = pool(analyse(impute(mmrm_draws(imputation_data(shuffled, **ARGS, ice=_ice(),
                                                            references={"DRUG": "PLACEBO"}))))).table
    np.testing.assert_allclose(second["estimate"], 1000.0 * first["estimate"], rtol=1e-6)
    np.testing.assert_allclose(second["se"], 1000.0 * first["se"], rtol=1e-5)  # jackknife: 172 fits' tolerance


def test_a_delta_is_added_to_imputed_outcomes_only(jr) -> None:
    draws = mmrm_draws(jr)
    deltas = pd.DataFrame({"subject": ["1513", "1513", "1503"], "visit": ["7", "7", "7"], "delta": [1.0, 0.5, 9.0]})
    plain, shifted = impute(draws), impute(draws, deltas=deltas)
    i, j = jr.subjects.get_loc("1513"), jr.subjects.get_loc("1503")
    kept = plain.rows[:, i] >= 0  # the jackknife sample without 1513 has no row for it
    np.testing.assert_allclose(shifted.y[kept, i, 3] - plain.y[kept, i, 3], 1.5)  # missing at 7: shifted, deltas add up
    np.testing.assert_array_equal(shifted.y[:, j], plain.y[:, j])  # 1503 observed at 7: unchanged


def test_the_gibbs_sampler_gives_the_known_posterior_on_complete_data() -> None:
    # complete data, one mean per visit, Jeffreys prior: beta | y is multivariate t centred on the sample means with
    # scale S / (n (n - V)) ... its mean is the sample mean and its covariance S / (n (n - V - 1)) (S = residual SSCP).
    rng = np.random.default_rng(5)
    n, v = 40, 3
    y = rng.multivariate_normal([1.0, 2.0, 3.0], [[1.0, 0.5, 0.2], [0.5, 2.0, 0.4], [0.2, 0.4, 1.5]], size=n)
    x = np.tile(np.eye(v), (n, 1, 1))
    beta, _ = gibbs_draws(y, x, n_samples=20000, burn_in=50, thin=1, chains=8, prior="jeffreys", rng=rng)
    resid = y - y.mean(axis=0)
    posterior_cov = resid.T @ resid / (n * (n - v - 1))
    mc_se = np.sqrt(np.diag(posterior_cov) / 20000 * 5)  # autocorrelation allowance (thin 1)
    np.testing.assert_array_less(np.abs(beta.mean(axis=0) - y.mean(axis=0)), 4 * mc_se)
    sd = np.sqrt(np.diag(posterior_cov))
    # 20,000 autocorrelated draws: variances within 8%, correlations within 0.05
    np.testing.assert_allclose(np.diag(np.cov(beta.T)), np.diag(posterior_cov), rtol=0.08)
    np.testing.assert_allclose(np.corrcoef(beta.T), posterior_cov / np.outer(sd, sd), atol=0.05)


def test_rubins_rules_by_hand() -> None:
    est, var = np.array([1.2, 0.8, 1.1, 0.9]), np.array([0.04, 0.05, 0.045, 0.05])
    pooled, total, df = rubin_rules(est, var, np.full(4, 30.0))
    b, w = est.var(ddof=1), var.mean()
    t = w + (1 + 1 / 4) * b
    lam = (1 + 1 / 4) * b / t
    observed = 31 / 33 * 30 * (1 - lam)
    old = 3 / lam**2
    assert (pooled, total, df) == pytest.approx((1.0, t, old * observed / (old + observed)), rel=1e-12)
    assert float(barnard_rubin_df(np.inf, b, t, 4)) == pytest.approx(old, rel=1e-12)


def test_bootstrap_pooling_and_workers(jr) -> None:
    one = mmrm_draws(jr, method="condmean", resampling="bootstrap", n_samples=40, seed=8)
    two = mmrm_draws(jr, method="condmean", resampling="bootstrap", n_samples=40, seed=8, n_jobs=2)
    np.testing.assert_array_equal(one.rows, two.rows)
    np.testing.assert_allclose(one.beta, two.beta, rtol=1e-12)
    analysis = analyse(impute(one), control="DRUG")
    normal, percentile = pool(analysis), pool(analysis, bootstrap="percentile")
    k = int(np.flatnonzero((analysis.parameters["visit"] == "7") & (analysis.parameters["parameter"] == "trt_PLACEBO"))[0])
    boot = analysis.estimates[1:, k]
    row_n, row_p = normal.table.iloc[k], percentile.table.iloc[k]
    assert row_n["estimate"] == row_p["estimate"] == analysis.estimates[0, k]
    assert row_n["se"] == pytest.approx(boot.std(ddof=1), rel=1e-12)
    assert (row_p["lower"], row_p["upper"]) == pytest.approx(tuple(np.quantile(boot, [0.025, 0.975], method="weibull")))


def test_pooled_lsmeans_are_the_jackknife_covariance(jr) -> None:
    analysis = analyse(impute(mmrm_draws(jr)), control="DRUG")
    est, cov, df = pooled_lsmeans(analysis, "7")
    table = pool(analysis).table.query("visit == '7'").set_index("parameter")
    np.testing.assert_allclose(est, table.loc[["lsm_DRUG", "lsm_PLACEBO"], "estimate"], rtol=1e-12)
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), table.loc[["lsm_DRUG", "lsm_PLACEBO"], "se"], rtol=1e-12)
    assert np.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]) == pytest.approx(table.loc["trt_PLACEBO", "se"], rel=1e-12)
    assert df == np.inf


def test_mmrm_analysis_of_conditional_mean_imputation_under_mar_is_the_mmrm() -> None:
    # MAR, no post-ICE data: the MMRM on the completed data has the same estimates as the MMRM on the observed data.
    data = antidepressant("MAR")
    draws = mmrm_draws(data)
    analysis = analyse(impute(draws), model="mmrm", control="DRUG")
    v = len(data.visits)
    np.testing.assert_allclose(analysis.estimates[0, 2::3], draws.beta[0, v:2 * v] - draws.beta[0, :v], rtol=1e-6)


def test_the_tipping_point_is_where_the_p_value_crosses_alpha() -> None:
    draws = mmrm_draws(antidepressant("MAR"))
    tp = tipping_point(draws, np.linspace(0, 6, 61), arm="DRUG", control="PLACEBO", shifted_arms=["DRUG"])
    curve = tp.curve
    np.testing.assert_allclose(np.diff(curve["estimate"], 2), 0, atol=1e-10)  # ANCOVA: linear in delta
    assert bool(curve["significant"].iloc[0]) and not bool(curve["significant"].iloc[-1])
    # independently: the delta given as a deltas frame to every imputed DRUG outcome, at the tipping delta
    data = draws.data
    rows, cols = np.nonzero(data.missing & (data.arm == data.arms.get_loc("DRUG"))[:, None])
    frame = pd.DataFrame({"subject": data.subjects[rows], "visit": data.visits[cols], "delta": tp.tipping_delta})
    at_tip = pool(analyse(impute(draws, deltas=frame), control="PLACEBO")).estimate("trt_DRUG", "7")
    assert at_tip["p_value"] == pytest.approx(0.05, abs=2e-4)  # linear interpolation on a 0.1 grid


def test_tipping_point_of_mcp_mod_on_pooled_lsmeans() -> None:
    draws = mmrm_draws(antidepressant("MAR"), method="approx_bayes", n_samples=50, seed=1)
    candidates = Candidates([0, 1], {"linear": None}, direction="decreasing")
    tp = tipping_point(draws, np.linspace(0, 8, 9), arm="DRUG", control="PLACEBO", shifted_arms=["DRUG"],
                       candidates=candidates, doses={"PLACEBO": 0, "DRUG": 1})
    assert {"mcp_p_value", "mcp_significant"} <= set(tp.curve.columns)
    assert np.all(np.diff(tp.curve["mcp_p_value"]) > 0) and 0 < tp.mcp_tipping_delta < 8
    # at delta 0: the multiple contrast test on the pooled LS means as mct_test computes it
    analysis = analyse(impute(draws, seed=0), control="PLACEBO")
    est, cov, df = pooled_lsmeans(analysis, "7")
    direct = mct_test(candidates, doses=[0, 1], estimates=est[::-1], cov=cov[::-1, ::-1], df=df, alpha=0.025)
    assert tp.curve["mcp_p_value"].iloc[0] == pytest.approx(float(direct.p_values.min()), rel=1e-9)


def test_outcomes_after_a_reference_based_event_leave_the_fit_but_stay_in_the_analysis() -> None:
    data = antidepressant_data()
    ice = pd.DataFrame({"subject": ["1503"], "visit": ["6"], "strategy": ["JR"]})  # 1503 has all four visits
    with_post = imputation_data(data, **ARGS, ice=ice, references={"DRUG": "PLACEBO"})
    dropped = data[~((data["PATIENT"] == "1503") & data["VISIT"].isin(["6", "7"]))]
    without = imputation_data(dropped, **ARGS, ice=ice, references={"DRUG": "PLACEBO"})
    first, second = mmrm_draws(with_post), mmrm_draws(without)
    np.testing.assert_allclose(first.beta[0], second.beta[0], rtol=1e-10)  # rbmi: post-ICE data not in the fit
    i = with_post.subjects.get_loc("1503")
    imputed = impute(first)
    np.testing.assert_array_equal(imputed.y[0, i], with_post.y[i])  # observed, so kept (not imputed)
    assert not imputed.imputed[0, i].any() and impute(second).imputed[0, i, 2:].all()


def test_with_two_arms_mcp_mod_tips_where_the_contrast_does() -> None:
    # one linear contrast of two arms, normal (jackknife): MCP-Mod's one-sided p is half the contrast's two-sided p at
    # every delta, so at levels 0.025 and 0.05 both conclusions change at the same delta
    draws = mmrm_draws(antidepressant("MAR"))
    tp = tipping_point(draws, np.linspace(0, 8, 17), arm="DRUG", control="PLACEBO", shifted_arms=["DRUG"],
                       candidates=Candidates([0, 1], {"linear": None}, direction="decreasing"),
                       doses={"PLACEBO": 0, "DRUG": 1})
    np.testing.assert_allclose(tp.curve["mcp_p_value"], tp.curve["p_value"] / 2, rtol=1e-6)
    assert tp.mcp_tipping_delta == pytest.approx(tp.tipping_delta, rel=1e-6)


def _rbmi_covariance(own: np.ndarray, ref: np.ndarray, ice: int, strategy: str) -> np.ndarray:
    """rbmi's strategy covariance written out with np.block (R/strategies.R: compute_sigma), one subject at a time."""
    v = len(own)
    if strategy == "MAR" or ice >= v:
        return own
    if strategy == "CR" or ice == 0:
        return ref
    mar = np.arange(v) < ice
    t11 = own[np.ix_(mar, mar)]
    inv_r11 = np.linalg.inv(ref[np.ix_(mar, mar)])
    s21 = ref[np.ix_(~mar, mar)] @ inv_r11 @ t11
    s22 = ref[np.ix_(~mar, ~mar)] - ref[np.ix_(~mar, mar)] @ inv_r11 @ (ref[np.ix_(mar, mar)] - t11) @ inv_r11 \
        @ ref[np.ix_(mar, ~mar)]
    return np.block([[t11, s21.T], [s21, s22]])


@pytest.mark.parametrize("strategy", ["JR", "CR", "CIR"])
def test_a_covariance_per_arm_imputes_as_rbmis_formulas(strategy: str) -> None:
    data = antidepressant(strategy)
    draws = mmrm_draws(data, same_covariance=False)
    assert draws.sigma.shape == (173, 2, 4, 4) and draws.by_arm
    # the fit is mmrm()'s with a covariance per arm (SAS GROUP=): PLACEBO - DRUG at visit 7, 2.780918
    assert draws.beta[0, 7] - draws.beta[0, 3] == pytest.approx(2.780918125, rel=1e-8)
    imputed = impute(draws).y[0]
    beta = draws.beta[0]
    for i in np.flatnonzero(np.isnan(data.y).any(axis=1)):
        arm, ref = data.arm[i], data.reference[data.arm[i]]
        own_mu, ref_mu = data.x[i] @ beta, data.x_reference[i] @ beta
        ice, name = int(data.ice_visit[i]), STRATEGIES[data.strategy[i]]
        mu = {"MAR": own_mu, "CR": ref_mu,
              "JR": np.where(np.arange(4) >= ice, ref_mu, own_mu),
              "CIR": ref_mu if ice == 0 else np.where(np.arange(4) >= ice, own_mu[ice - 1] + ref_mu - ref_mu[ice - 1],
                                                      own_mu)}[name]
        sigma = _rbmi_covariance(draws.sigma[0, arm], draws.sigma[0, ref], ice, name)
        o = ~np.isnan(data.y[i])
        expected = mu[~o] + sigma[np.ix_(~o, o)] @ np.linalg.solve(sigma[np.ix_(o, o)], data.y[i, o] - mu[o])
        np.testing.assert_allclose(imputed[i, ~o], expected, rtol=1e-10, atol=1e-10)


def test_bayesian_mi_with_a_covariance_per_arm_is_its_conditional_mean_estimate_within_monte_carlo_error() -> None:
    # conditional mean imputation is the limit of MI with the REML parameters (Wolbers et al. 2022): the Bayesian
    # MI estimate with a covariance per arm must be within 4 Monte Carlo standard errors of it (plus posterior-vs-REML
    # differences, far smaller here)
    data = antidepressant("JR")
    target = analyse(impute(mmrm_draws(data, same_covariance=False)), control="DRUG").estimates[0, 11]
    analysis = analyse(impute(mmrm_draws(data, method="bayes", n_samples=1000, seed=5, same_covariance=False),
                              seed=5), control="DRUG")
    assert analysis.imputed.draws.sigma.shape == (1000, 2, 4, 4)
    mc_se = np.sqrt(analysis.estimates[:, 11].var(ddof=1) / 1000)
    assert abs(analysis.estimates[:, 11].mean() - target) <= 4 * mc_se
