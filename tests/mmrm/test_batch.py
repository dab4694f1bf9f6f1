"""fit_mmrm_batch(): the engine of mmrm() on many trials at once (dosefinding.mmrm.engine).

There is one implementation: mmrm() is the batch of one. What is tested here is what the batch adds: a batch
of T trials gives the T single fits (to 1e-12 relative: the same iterations, with sums over the patterns in a
different order; measured 1e-13), for every covariance structure and option (groups, weights, per-subject
times, df methods, the sandwich); a trial does not depend on the trials it is batched with (bitwise); a trial
that cannot be fitted (a visit without observation, a singular Sigma) says so and leaves the others bitwise
unchanged. The batch is also checked against R nlme::gls directly (test_matches_nlme_gls_fixture).

The data: simulated A2201-like trials (placebo, 5, 50, 300 mg x 47 subjects, 6 visits Week 4 .. Week 24,
baseline ESSDAI-like covariate BASE, 20-40% of the subjects dropping out after a random visit, monotone).
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
N_PER_ARM = 47


def simulate(n_trials: int, seed: int, *, monotone: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``y`` (T, 188, 6) with NaN after dropout (or missing at random visits), ``arm`` (188,), ``base`` (T, 188)."""
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


SAME = 1e-12


def assert_same(fit: BatchMMRMResult, t: int, reference: object, names: list[str]) -> None:
    """Trial ``t`` of the batch is the single fit ``reference`` (1e-12 relative: the same engine)."""
    assert list(reference.coefficients.index) == names  # type: ignore[attr-defined]
    assert reference.converged and fit.converged[t]  # type: ignore[attr-defined]
    assert fit.m2_log_likelihood[t] == pytest.approx(reference.m2_log_likelihood, rel=SAME)  # type: ignore[attr-defined]
    beta = reference.coefficients.to_numpy()  # type: ignore[attr-defined]
    np.testing.assert_allclose(fit.beta[t], beta, rtol=SAME, atol=SAME * np.abs(beta).max())
    cov = reference.coefficient_cov.to_numpy()  # type: ignore[attr-defined]
    np.testing.assert_allclose(fit.beta_cov[t], cov, rtol=SAME, atol=SAME * np.abs(cov).max())
    np.testing.assert_allclose(fit.df(np.eye(len(beta)))[t], reference.table["df"], rtol=SAME)  # type: ignore[attr-defined]
    np.testing.assert_allclose(fit.theta[t], reference.theta, rtol=SAME, atol=SAME)  # type: ignore[attr-defined]


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
    # contrasts per trial (T, m, p), as the docstring allows (failed with a numpy einsum error before): row by row
    per_trial = np.stack([contrasts, 2.0 * contrasts])
    estimate_t, cov_t = fit.contrast(per_trial)
    np.testing.assert_allclose(estimate_t, [estimate[0], 2.0 * estimate[1]], rtol=1e-12)
    np.testing.assert_allclose(cov_t, [cov[0], 4.0 * cov[1]], rtol=1e-12)


@pytest.mark.parametrize("covariance", ["us", "cs", "csh", "ar1", "ar1h", "toep", "toeph", "ad", "adh"])
def test_a_batch_is_its_single_fits(trials: tuple[np.ndarray, np.ndarray, np.ndarray], covariance: str) -> None:
    """Cell means per trial (x (T, N, V, p)): each trial of the batch is mmrm() on that trial, 1e-12."""
    y, arm, base = trials
    fit = fit_mmrm_batch(y[:3], cell_means_x(arm, base[:3]), covariance=covariance)
    _, names = design(CELL_MEANS, arm, base[0])
    for t in range(3):
        reference = mmrm(CELL_MEANS, long_frame(y[t], arm, base[t]), subject="USUBJID", visit="AVISIT",
                         covariance=covariance)
        assert_same(fit, t, reference, names)
    assert np.all(fit.n_obs == (~np.isnan(y[:3])).sum(axis=(1, 2)))


@pytest.mark.parametrize("formula", [TREATMENT, TREATMENT + " + TV", TREATMENT + " + TV3"])
@pytest.mark.parametrize("reml", [True, False])
def test_shared_designs_and_missing_at_random(formula: str, reml: bool) -> None:
    """One x for every trial; columns spanning visits (intercept, BASE, ARM), pieces that differ between visits
    (TV), a different number of pieces per visit (TV3); non-monotone missingness; REML and ML."""
    y, arm, base = simulate(3, 7, monotone=False)
    x, names = design(formula, arm, base[0])
    fit = fit_mmrm_batch(y, x, reml=reml)
    for t in range(len(y)):
        reference = mmrm(formula, long_frame(y[t], arm, base[0]), subject="USUBJID", visit="AVISIT", reml=reml)
        assert_same(fit, t, reference, names)


def _options_frame(y: np.ndarray, arm: np.ndarray, base: np.ndarray) -> pd.DataFrame:
    frame = long_frame(y, arm, base)
    n, k = y.shape
    rng = np.random.default_rng(3)
    frame["W"] = rng.uniform(0.5, 2.0, size=n * k)
    frame["GROUP"] = np.repeat(np.where(arm == 0, "pbo", "active"), k)
    frame["DAY"] = np.tile(28.0 * np.arange(1, k + 1), n) + rng.integers(-3, 4, size=n * k)
    return frame


@pytest.mark.parametrize("option", ["group", "weights", "times", "empirical", "between_within", "kenward_roger",
                                    "kenward_roger_linear"])
def test_every_option_is_the_single_fit(trials: tuple[np.ndarray, np.ndarray, np.ndarray], option: str) -> None:
    """Groups, weights, per-subject times (sp_exp), the sandwich and every df method: each trial as mmrm(), 1e-12."""
    y, arm, base = trials
    y, base = y[:2], base[:2]
    x = cell_means_x(arm, base)
    frames = [_options_frame(y[t], arm, base[t]) for t in range(2)]
    n, k = y.shape[1:]
    batch_kwargs: dict = {}
    single_kwargs: dict = {}
    if option == "group":
        batch_kwargs["group"] = (arm == 0).astype(int)  # codes in the order of mmrm()'s levels: active, pbo
        single_kwargs["group"] = "GROUP"
        batch_kwargs["covariance"] = single_kwargs["covariance"] = "ar1h"
    elif option == "weights":
        batch_kwargs["weights"] = np.stack([f["W"].to_numpy().reshape(n, k) for f in frames])
        single_kwargs["weights"] = "W"
    elif option == "times":
        batch_kwargs["times"] = np.stack([f["DAY"].to_numpy().reshape(n, k) for f in frames])
        single_kwargs["time"] = "DAY"
        batch_kwargs["covariance"] = single_kwargs["covariance"] = "sp_exp"
    elif option == "empirical":
        batch_kwargs = single_kwargs = {"vcov": "empirical", "df_method": "residual"}
    else:
        batch_kwargs = single_kwargs = {"df_method": option}
    fit = fit_mmrm_batch(y, x, **batch_kwargs)
    _, names = design(CELL_MEANS, arm, base[0])
    for t in range(2):
        reference = mmrm(CELL_MEANS, frames[t], subject="USUBJID", visit="AVISIT", **single_kwargs)
        assert_same(fit, t, reference, names)


def test_lsmeans_of_a_batch_are_those_of_its_fits(trials: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    """lsmeans_batch with each trial's baseline mean: MMRMResult.lsmeans of each trial (every column), 1e-12."""
    from dosefinding.mmrm.data import prepare_data
    from dosefinding.mmrm.lsmeans import lsmeans_batch

    y, arm, base = trials
    y, base = y[:3], base[:3]
    fit = fit_mmrm_batch(y, cell_means_x(arm, base))
    template = prepare_data(CELL_MEANS, long_frame(y[0], arm, base[0]), subject="USUBJID", visit="AVISIT")
    observed = ~np.isnan(y)
    means = (base[:, :, None] * observed).sum(axis=(1, 2)) / observed.sum(axis=(1, 2))
    ls = lsmeans_batch(template, fit.beta, fit.inference, specs="ARM", by="AVISIT", covariate_means={"BASE": means})
    for t in range(3):
        reference = mmrm(CELL_MEANS, long_frame(y[t], arm, base[t]), subject="USUBJID", visit="AVISIT").lsmeans(
            "ARM", by="AVISIT")
        ours = ls.member(t)
        for table in ("estimates", "differences"):
            got, want = getattr(ours, table), getattr(reference, table)
            pd.testing.assert_index_equal(got.index, want.index)
            # Per column, relative to its largest entry (an interval bound can be near zero).
            for column in want.columns:
                np.testing.assert_allclose(got[column], want[column], rtol=0,
                                           atol=SAME * np.abs(want[column]).max(), err_msg=f"{table} {column}")


def test_trials_are_independent_of_the_batch(trials: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    """A trial's fit does not depend on the other trials of its chunk or their order: bitwise the same numbers."""
    y, arm, base = trials
    x = cell_means_x(arm, base)
    together = fit_mmrm_batch(y, x, chunk_size=5)
    apart = fit_mmrm_batch(y, x, chunk_size=2)
    order = np.array([4, 2, 0, 3, 1])
    shuffled = fit_mmrm_batch(y[order], x[order])
    for other, index in ((apart, np.arange(5)), (shuffled, order)):
        assert np.array_equal(together.beta[index], other.beta)
        assert np.array_equal(together.beta_cov[index], other.beta_cov)
        assert np.array_equal(together.m2_log_likelihood[index], other.m2_log_likelihood)
        assert np.array_equal(together.iterations[index], other.iterations)
        assert np.array_equal(together.df(np.eye(30))[index], other.df(np.eye(30)))


@pytest.mark.parametrize("option", ["us", "group", "weights", "times", "failure"])
def test_chunks_keep_no_q_matrices_and_give_the_unchunked_df(trials: tuple[np.ndarray, np.ndarray, np.ndarray],
                                                             option: str) -> None:
    """Issue 13 (memory): a batch of several chunks keeps no Satterthwaite Q matrices (q p^2 numbers a trial,
    1.5 GB for 10,000 A2201 trials) but recomputes each chunk's when df are asked for. The df of every
    coefficient and of per-trial contrasts, also after scaling, equal those of the batch fitted as one chunk to 1e-12
    relative (measured: bitwise), with groups, weights, per-subject times and a trial that is not fitted."""
    y, arm, base = trials
    x = cell_means_x(arm, base)
    frames = [_options_frame(y[t], arm, base[t]) for t in range(len(y))]
    n, k = y.shape[1:]
    kwargs: dict = {}
    if option == "group":
        kwargs = {"group": (arm == 0).astype(int), "covariance": "ar1h"}
    elif option == "weights":
        kwargs = {"weights": np.stack([f["W"].to_numpy().reshape(n, k) for f in frames])}
    elif option == "times":
        kwargs = {"times": np.stack([f["DAY"].to_numpy().reshape(n, k) for f in frames]), "covariance": "sp_exp"}
    elif option == "failure":
        y = y.copy()
        y[1, arm == 3, 5] = np.nan  # a cell without observation: not fitted
    whole = fit_mmrm_batch(y, x, **kwargs)
    chunked = fit_mmrm_batch(y, x, chunk_size=2, **kwargs)
    assert np.array_equal(whole.beta_cov, chunked.beta_cov, equal_nan=True)
    parts = [inference for _, inference in chunked.inference.chunks]  # type: ignore[attr-defined]
    assert all(not hasattr(inference, "q") for inference in parts)
    per_trial = np.random.default_rng(4).normal(size=(len(y), 3, 30))
    for contrasts in (np.eye(30), per_trial):
        np.testing.assert_allclose(chunked.df(contrasts), whole.df(contrasts), rtol=1e-12, atol=0)
    if option == "failure":
        assert not chunked.converged[1] and np.all(np.isnan(chunked.df(np.eye(30))[1]))
    scaled_whole, scaled_chunked = whole.inference.scaled(3.0), chunked.inference.scaled(3.0)
    np.testing.assert_allclose(scaled_chunked.df(np.eye(30)), scaled_whole.df(np.eye(30)), rtol=1e-12)
    np.testing.assert_allclose(scaled_chunked.beta_cov, 9 * whole.beta_cov, rtol=1e-15)


def test_failures_are_flagged_not_hidden(trials: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    """A singular Sigma (visit 2 a copy of visit 1), a cell with no observation, and a visit that no subject has.

    All three come back converged=False with a note saying why (NaN estimates where no optimum was reached); the
    other trials are bitwise those fitted alone.
    """
    y, arm, base = trials
    y = y[:4].copy()
    x = cell_means_x(arm, base[:4])
    y[1, :, 1] = y[1, :, 0]
    y[1, np.isnan(y[1, :, 0]), 1] = np.nan
    y[2, arm == 3, 5] = np.nan
    y[3, :, 4] = np.nan
    fit = fit_mmrm_batch(y, x, max_iter=30)
    assert fit.converged.tolist() == [True, False, False, False]
    assert fit.notes[0] == "" and "not converged" in fit.notes[1]
    assert np.all(np.isnan(fit.beta[2])) and np.isnan(fit.m2_log_likelihood[2])
    assert "Week 20 are never observed" not in fit.notes[3] and "never observed" in fit.notes[3]
    alone = fit_mmrm_batch(y[:1], x[:1])
    assert np.array_equal(fit.beta[0], alone.beta[0]) and np.array_equal(fit.beta_cov[0], alone.beta_cov[0])
    assert "Converged: 1 of 4" in str(fit.summary())


def test_subjects_without_any_visit_take_no_part(trials: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    """A subject with every visit missing changes nothing (bitwise), as a subject left out of mmrm()'s data."""
    y, arm, base = trials
    x = cell_means_x(arm, base[:1])
    empty = y[:1].copy()
    empty[0, 17] = np.nan
    keep = np.arange(len(arm)) != 17
    with_row, without = fit_mmrm_batch(empty, x), fit_mmrm_batch(empty[:, keep], x[:, keep])
    np.testing.assert_allclose(with_row.beta, without.beta, rtol=SAME)
    assert with_row.n_obs[0] == without.n_obs[0]


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
    with pytest.raises(InputError, match="covariance: unknown structure 'banded'"):
        fit_mmrm_batch(y, x, covariance="banded")
    with pytest.raises(InputError, match="covariance: 'sp_exp' is spatial and needs times="):
        fit_mmrm_batch(y, x, covariance="sp_exp")
    with pytest.raises(InputError, match="times: only spatial"):
        fit_mmrm_batch(y, x, times=np.ones(y.shape[1:]))
    with pytest.raises(InputError, match="df_method: must be one of"):
        fit_mmrm_batch(y, x, df_method="kr")
    with pytest.raises(InputError, match="needs SAS's parametrisation of 'ad'"):
        fit_mmrm_batch(y, x, covariance="ad", df_method="kenward_roger")
    with pytest.raises(InputError, match="derived for REML"):
        fit_mmrm_batch(y, x, reml=False, df_method="kenward_roger_linear")
    with pytest.raises(InputError, match="'satterthwaite' is not available with vcov='empirical'"):
        fit_mmrm_batch(y, x, vcov="empirical")
    with pytest.raises(InputError, match="group: codes must be 0..H-1"):
        fit_mmrm_batch(y, x, group=np.full(y.shape[1], 2))
    with pytest.raises(InputError, match="weights: must be positive"):
        fit_mmrm_batch(y, x, weights=-np.ones(y.shape[1:]))
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
    with pytest.raises(InputError, match="max_iter"):
        fit_mmrm_batch(y, x, max_iter=0)
    with pytest.raises(InputError, match="chunk_size"):
        fit_mmrm_batch(y, x, chunk_size=0)
