"""fit_mmrm_batch() against mmrm() fitted trial by trial (itself checked against SAS and R, see test_sas_reference.py,
test_gls_reference.py and test_a2201_reference.py).

The data: simulated A2201-like trials (placebo, 5, 50, 300 mg x 47 subjects, 6 visits Week 4 .. Week 24,
baseline ESSDAI-like covariate BASE, 20-40% of the subjects dropping out after a random visit, monotone), each
fitted by mmrm() with the cell-means formula ``CHG ~ 0 + ARM:AVISIT + BASE:AVISIT`` (the batch fit gets the same
design as an array). Tolerances, relative (measured maxima in brackets over us/cs/ar1, REML/ML, the
treatment-coded formula and non-monotone missingness):

- -2 (Res) Log Likelihood: 1e-8 [4.4e-16];
- coefficients: 1e-6 of max(|beta|, 1) [1.4e-8: mmrm() stops once its Newton decrement is below 1e-12 of
  -2LL, at 1e-17 on some trials; the batch fit's last exact Newton step takes it to 1e-23 .. 1e-29, see
  test_batch_optimum_is_mmrm_optimum];
- covariance of the coefficients and Sigma: 1e-5 of their largest entry [2.7e-8 and 2.9e-8].

Both fits have the same model, likelihood and parametrisation, so agreement is to the optimisers' precision, not
to an approximation. test_matches_nlme_gls_fixture checks the batch fit against R nlme::gls directly, on the
A2201-like data of tests/fixtures/r/mmrm_a2201_reference.R.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dosefinding import mmrm
from dosefinding.errors import InputError
from dosefinding.mmrm.batch import BatchMMRMResult, fit_mmrm_batch

ARMS = ["Placebo", "5 mg", "50 mg", "300 mg"]
VISITS = [f"Week {4 * (a + 1)}" for a in range(6)]
CELL_MEANS = "CHG ~ 0 + ARM:AVISIT + BASE:AVISIT"
TREATMENT = "CHG ~ BASE + ARM * AVISIT"
LOGLIK = 1e-8
BETA = 1e-6
COV = 1e-5
N_PER_ARM = 47


def simulate(n_trials: int, seed: int, *, monotone: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``y`` (T, 188, 6) with NaN after dropout, ``arm`` (188,), ``base`` (T, 188)."""
    rng = np.random.default_rng(seed)
    n, k = 4 * N_PER_ARM, len(VISITS)
    arm = np.repeat(np.arange(4), N_PER_ARM)
    base = rng.normal(13.5, 4.0, size=(n_trials, n))
    sd = np.linspace(3.0, 4.5, k)
    corr = 0.5 + 0.4 * 0.7 ** np.abs(np.subtract.outer(np.arange(k), np.arange(k)))
    np.fill_diagonal(corr, 1.0)
    effect = np.array([0.0, -0.5, -1.5, -2.0])[arm][:, None] * np.linspace(0.3, 1.0, k)[None]
    mean = -1.0 - 0.2 * (base[:, :, None] - 13.5) + effect[None]
    y = mean + rng.multivariate_normal(np.zeros(k), corr * np.outer(sd, sd), size=(n_trials, n))
    rate = rng.uniform(0.2, 0.4, size=(n_trials, 1))
    if monotone:
        last = np.where(rng.random((n_trials, n)) < rate, rng.integers(1, k, size=(n_trials, n)), k)
        y[np.arange(k)[None, None, :] >= last[:, :, None]] = np.nan
    else:
        missing = rng.random(y.shape) < rate[:, :, None] / 2
        missing[:, :, 0] = False
        y[missing] = np.nan
    return y, arm, base


def long_frame(y: np.ndarray, arm: np.ndarray, base: np.ndarray) -> pd.DataFrame:
    """One trial as the long data mmrm() reads (rows with CHG missing are kept; mmrm drops them).

    ``TV`` is a covariate that changes from visit to visit, ``TV3`` the same at the first three visits only.
    """
    n, k = y.shape
    tv = np.random.default_rng(11).normal(size=n * k)
    return pd.DataFrame({
        "TV": tv,
        "TV3": tv * (np.tile(np.arange(k), n) < 3),
        "USUBJID": np.repeat(np.arange(n), k),
        "ARM": pd.Categorical(np.array(ARMS)[np.repeat(arm, k)], categories=ARMS),
        "AVISIT": pd.Categorical(np.tile(VISITS, n), categories=VISITS),
        "BASE": np.repeat(base, k),
        "CHG": y.ravel(),
    })


def design(formula: str, arm: np.ndarray, base: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """The design of ``formula`` (N, V, p) for every subject and visit, built as mmrm() builds it (formulaic)."""
    from formulaic import model_matrix

    frame = long_frame(np.zeros((len(arm), len(VISITS))), arm, base)
    matrix = model_matrix(formula.split("~")[1], frame)
    return matrix.to_numpy().reshape(len(arm), len(VISITS), -1), list(matrix.columns)


def cell_means_x(arm: np.ndarray, base: np.ndarray) -> np.ndarray:
    """The cell-means design (T, N, 6, 30) directly in numpy: formulaic's column order, arm fastest within visit."""
    t_count, n = base.shape
    x = np.zeros((t_count, n, 6, 30))
    visit = np.arange(6)
    x[:, np.arange(n)[:, None], visit[None], visit[None] * 4 + arm[:, None]] = 1.0
    x[:, :, visit, 24 + visit] = base[:, :, None]
    return x


def assert_matches(fit: BatchMMRMResult, t: int, reference: object, names: list[str]) -> None:
    assert list(reference.coefficients.index) == names  # type: ignore[attr-defined]
    assert reference.converged and fit.converged[t]  # type: ignore[attr-defined]
    ref_ll = reference.m2_log_likelihood  # type: ignore[attr-defined]
    assert abs(fit.m2_log_likelihood[t] / ref_ll - 1) < LOGLIK
    beta = reference.coefficients.to_numpy()  # type: ignore[attr-defined]
    assert np.max(np.abs(fit.beta[t] - beta) / np.maximum(np.abs(beta), 1.0)) < BETA
    cov = reference.coefficient_cov.to_numpy()  # type: ignore[attr-defined]
    assert np.max(np.abs(fit.beta_cov[t] - cov)) < COV * np.max(np.abs(cov))
    sigma = reference.covariance.to_numpy()  # type: ignore[attr-defined]
    assert np.max(np.abs(fit.sigma[t] - sigma)) < COV * np.max(np.abs(sigma))


@pytest.fixture(scope="module")
def trials() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return simulate(5, 20261202)


def test_simulated_design(trials: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    y, arm, base = trials
    assert y.shape == (5, 188, 6)
    dropped = np.isnan(y[:, :, -1]).mean(axis=1)
    assert np.all((dropped > 0.1) & (dropped < 0.5))
    observed = ~np.isnan(y)
    assert np.all(observed[:, :, :-1] >= observed[:, :, 1:])  # monotone
    x, _ = design(CELL_MEANS, arm, base[0])
    assert np.array_equal(x, cell_means_x(arm, base[:1])[0])


@pytest.mark.parametrize("reml", [True, False])
def test_unstructured_matches_mmrm(trials: tuple[np.ndarray, np.ndarray, np.ndarray], reml: bool) -> None:
    y, arm, base = trials
    x = cell_means_x(arm, base)
    fit = fit_mmrm_batch(y, x, reml=reml)
    _, names = design(CELL_MEANS, arm, base[0])
    for t in range(len(y)):
        reference = mmrm(CELL_MEANS, long_frame(y[t], arm, base[t]), subject="USUBJID", visit="AVISIT", reml=reml)
        assert_matches(fit, t, reference, names)
    assert np.all(fit.n_obs == (~np.isnan(y)).sum(axis=(1, 2)))


R_FIXTURE = Path(__file__).parents[1] / "fixtures" / "r" / "mmrm_a2201_reference.json"


@pytest.mark.parametrize("name", ["us_REML", "us_ML", "ar1_REML", "ar1_ML", "cs_REML", "cs_ML"])
def test_matches_nlme_gls_fixture(name: str) -> None:
    """Against R nlme::gls directly (tests/fixtures/r/mmrm_a2201_reference.R: 180 subjects, 6 visits, ~20% dropout).

    Model CHG ~ BASE + STRATUM + ARM * AVISIT as one trial of a batch; the tolerances of
    test_a2201_reference.py (gls is the reference, its optimiser the limit): log likelihood 1e-6 [4.2e-13],
    coefficients, SEs and Sigma 1e-4 relative [1.6e-6, 2.1e-6, 4.2e-6; unstructured, the flattest likelihood].
    nlme scales the ML covariance of the coefficients by N / (N - p); undone here.
    """
    from formulaic import model_matrix

    fixture = json.loads(R_FIXTURE.read_text())
    case = next(c for c in fixture["fits"] if c["name"] == name)
    data = pd.DataFrame(fixture["data"])
    data["CHG"] = pd.to_numeric(data["CHG"])
    data["ARM"] = pd.Categorical(data["ARM"], categories=fixture["arms"])
    data["AVISIT"] = pd.Categorical(data["AVISIT"], categories=fixture["visits"])
    data["STRATUM"] = pd.Categorical(data["STRATUM"], categories=fixture["strata"])
    data = data.sort_values(["USUBJID", "AVISIT"]).reset_index(drop=True)
    n, k = data["USUBJID"].nunique(), len(fixture["visits"])
    assert len(data) == n * k
    matrix = model_matrix("BASE + STRATUM + ARM * AVISIT", data)
    names = ["(Intercept)" if c == "Intercept" else c.replace("[T.", "").replace("]", "") for c in matrix.columns]
    assert names == list(case["coefficients"])
    x = matrix.to_numpy().reshape(n, k, -1)
    y = data["CHG"].to_numpy().reshape(1, n, k)
    reml = case["method"] == "REML"
    fit = fit_mmrm_batch(y, x, covariance=case["covariance"], reml=reml)
    assert fit.converged[0]
    assert -fit.m2_log_likelihood[0] / 2 == pytest.approx(case["logLik"], rel=1e-6)
    np.testing.assert_allclose(fit.beta[0], list(case["coefficients"].values()), rtol=1e-4)
    p = x.shape[-1]
    scale = 1.0 if reml else np.sqrt(fit.n_obs[0] / (fit.n_obs[0] - p))
    np.testing.assert_allclose(np.sqrt(np.diag(fit.beta_cov[0])) * scale, list(case["se"].values()), rtol=1e-4)
    np.testing.assert_allclose(fit.sigma[0], case["sigma"], rtol=1e-4)


def test_batch_optimum_is_mmrm_optimum(trials: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    """At the batch fit's theta, mmrm()'s own objective (likelihood.evaluate) is stationary to rounding.

    Relative Newton decrement below 1e-18 (measured 1e-23 .. 1e-29); -2LL 1e-12 relative and beta 1e-10 of
    max(|beta|, 1) against that evaluation (the same numbers by another code path).
    """
    from dosefinding.mmrm.data import covariance_model, pattern_stats, prepare_data
    from dosefinding.mmrm.likelihood import evaluate

    y, arm, base = trials
    fit = fit_mmrm_batch(y[:3], cell_means_x(arm, base[:3]))
    for t in range(3):
        prepared = prepare_data(CELL_MEANS, long_frame(y[t], arm, base[t]), subject="USUBJID", visit="AVISIT")
        structure = covariance_model("us", prepared)
        e = evaluate(pattern_stats(prepared, structure), structure, fit.theta[t], reml=True, order=2)
        assert e.gradient is not None and e.hessian is not None
        assert e.gradient @ np.linalg.solve(e.hessian, e.gradient) / abs(e.value) < 1e-18
        assert abs(e.value / fit.m2_log_likelihood[t] - 1) < 1e-12
        assert np.max(np.abs(e.beta - fit.beta[t]) / np.maximum(np.abs(e.beta), 1.0)) < 1e-10


def test_treatment_coding_and_shared_design(trials: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    """Columns spanning several visits (intercept, BASE, ARM) go through the visit-piece basis; one x for all trials."""
    y, arm, base = trials
    x, names = design(TREATMENT, arm, base[0])
    fit = fit_mmrm_batch(y, x)
    for t in range(len(y)):
        reference = mmrm(TREATMENT, long_frame(y[t], arm, base[0]), subject="USUBJID", visit="AVISIT")
        assert_matches(fit, t, reference, names)


@pytest.mark.parametrize("formula", [TREATMENT + " + TV", TREATMENT + " + TV3"])
def test_visit_varying_covariates(trials: tuple[np.ndarray, np.ndarray, np.ndarray], formula: str) -> None:
    """Pieces that differ between visits (TV), and a different number of pieces per visit (TV3)."""
    y, arm, base = trials
    x, names = design(formula, arm, base[0])
    fit = fit_mmrm_batch(y[:3], x)
    for t in range(3):
        reference = mmrm(formula, long_frame(y[t], arm, base[0]), subject="USUBJID", visit="AVISIT")
        assert_matches(fit, t, reference, names)


def test_non_monotone_missingness() -> None:
    y, arm, base = simulate(3, 7, monotone=False)
    x = cell_means_x(arm, base)
    fit = fit_mmrm_batch(y, x)
    _, names = design(CELL_MEANS, arm, base[0])
    for t in range(len(y)):
        reference = mmrm(CELL_MEANS, long_frame(y[t], arm, base[t]), subject="USUBJID", visit="AVISIT")
        assert_matches(fit, t, reference, names)


@pytest.mark.parametrize("covariance", ["cs", "ar1"])
def test_structured_matches_mmrm(trials: tuple[np.ndarray, np.ndarray, np.ndarray], covariance: str) -> None:
    y, arm, base = trials
    fit = fit_mmrm_batch(y[:3], cell_means_x(arm, base[:3]), covariance=covariance)
    _, names = design(CELL_MEANS, arm, base[0])
    for t in range(3):
        reference = mmrm(CELL_MEANS, long_frame(y[t], arm, base[t]), subject="USUBJID", visit="AVISIT",
                         covariance=covariance)
        assert_matches(fit, t, reference, names)
        np.testing.assert_allclose(fit.theta[t], reference.theta, rtol=1e-5, atol=1e-6)


def test_contrast_gives_lsmean_differences(trials: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    """Placebo differences at Week 24 from contrast(), against mmrm()'s LS mean differences (estimate, SE 1e-6)."""
    y, arm, base = trials
    fit = fit_mmrm_batch(y[:2], cell_means_x(arm, base[:2]))
    contrasts = np.zeros((3, 30))
    contrasts[np.arange(3), 20 + np.arange(1, 4)] = 1.0
    contrasts[:, 20] = -1.0
    estimate, cov = fit.contrast(contrasts)
    assert estimate.shape == (2, 3) and cov.shape == (2, 3, 3)
    for t in range(2):
        reference = mmrm(CELL_MEANS, long_frame(y[t], arm, base[t]), subject="USUBJID", visit="AVISIT")
        diffs = reference.lsmeans("ARM", by="AVISIT").differences.loc["Week 24"]
        np.testing.assert_allclose(estimate[t], diffs["estimate"].to_numpy(), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(np.sqrt(np.diag(cov[t])), diffs["se"].to_numpy(), rtol=1e-6)
    with pytest.raises(InputError, match="contrasts"):
        fit.contrast(np.ones((1, 29)))


def test_trials_are_independent_of_the_batch(trials: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    """A trial's fit does not depend on the other trials in its chunk (same numbers to rounding)."""
    y, arm, base = trials
    x = cell_means_x(arm, base)
    together = fit_mmrm_batch(y, x, chunk_size=5)
    apart = fit_mmrm_batch(y, x, chunk_size=2)
    np.testing.assert_allclose(together.beta, apart.beta, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(together.m2_log_likelihood, apart.m2_log_likelihood, rtol=1e-14)
    assert np.array_equal(together.iterations, apart.iterations)


def test_failures_are_flagged_not_hidden(trials: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    """A singular Sigma (visit 2 a copy of visit 1: REML runs to the boundary) and a cell with no observation.

    Both come back converged=False (the second with NaN estimates); the other trials are unaffected.
    """
    y, arm, base = trials
    y = y[:3].copy()
    x = cell_means_x(arm, base[:3])
    y[1, :, 1] = y[1, :, 0]
    y[1, np.isnan(y[1, :, 0]), 1] = np.nan
    y[2, arm == 3, 5] = np.nan
    fit = fit_mmrm_batch(y, x, max_iter=30)
    assert fit.converged.tolist() == [True, False, False]
    # The singular trial ran towards the boundary (until max_iter or a failed line search) and says so.
    assert fit.iterations[1] <= 30
    eigenvalues = np.linalg.eigvalsh(fit.sigma[1])
    assert eigenvalues[0] < 1e-6 * eigenvalues[-1]
    assert np.all(np.isnan(fit.beta[2])) and np.isnan(fit.m2_log_likelihood[2])
    alone = fit_mmrm_batch(y[:1], x[:1])
    np.testing.assert_allclose(fit.beta[0], alone.beta[0], rtol=1e-12, atol=1e-12)
    assert "Converged: 1 of 3" in fit.summary()


def test_input_errors(trials: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    y, arm, base = trials
    x = cell_means_x(arm, base)
    with pytest.raises(InputError, match="x: shape"):
        fit_mmrm_batch(y, x[:, :-1])
    with pytest.raises(InputError, match="x: shape"):
        fit_mmrm_batch(y, x[:2])
    with pytest.raises(InputError, match="y: must have shape"):
        fit_mmrm_batch(y[0], x[0])
    with pytest.raises(InputError, match="x: must have shape"):
        fit_mmrm_batch(y, x[0, 0])
    empty = y.copy()
    empty[3, 17] = np.nan
    with pytest.raises(InputError, match="subject 17 of trial 3"):
        fit_mmrm_batch(empty, x)
    with pytest.raises(InputError, match="fewer than the 30 columns"):
        fit_mmrm_batch(y[:, :20], x[:, :20])
    with pytest.raises(InputError, match="covariance"):
        fit_mmrm_batch(y, x, covariance="toep")
    bad = x.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(InputError, match="x: must be finite"):
        fit_mmrm_batch(y, bad)
    inf = y.copy()
    inf[0, 0, 0] = np.inf
    with pytest.raises(InputError, match="y: must be finite"):
        fit_mmrm_batch(inf, x)
    aliased = np.concatenate([x, x[..., :1]], axis=-1)
    with pytest.raises(InputError, match="linearly dependent"):
        fit_mmrm_batch(y, aliased)
    with pytest.raises(InputError, match="at most 40 visits"):
        fit_mmrm_batch(np.zeros((1, 50, 41)), np.ones((50, 41, 1)))
    with pytest.raises(InputError, match="max_iter"):
        fit_mmrm_batch(y, x, max_iter=0)
    with pytest.raises(InputError, match="chunk_size"):
        fit_mmrm_batch(y, x, chunk_size=0)
