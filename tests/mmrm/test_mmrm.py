"""Unit tests of the MMRM: derivatives, pattern batching, special cases, input errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dosefinding import ConvergenceError, InputError, mmrm
from dosefinding.errors import DoseFindingWarning
from dosefinding.mmrm.covariance import get_structure
from dosefinding.mmrm.data import prepare_data
from dosefinding.mmrm.likelihood import Evaluation, PatternStats, evaluate
from dosefinding.mmrm.optimize import minimise

FULL = "FEV1 ~ RACE + SEX + ARMCD * AVISIT + FEV1_BL"
# Central differences of the analytic gradient (step 1e-6) agree to about 1e-8 relative.
FINITE_DIFFERENCES = 1e-6
DENSE = 1e-10
ANCOVA = 1e-8
# The Satterthwaite df uses the Hessian at the optimum found, where the gradient is only
# near zero: measured 129.0000022 for n - p = 129 (1.7e-8 relative).
ANCOVA_DF = 1e-7


def _stats(fev: pd.DataFrame, formula: str = FULL) -> PatternStats:
    data = prepare_data(formula, fev, subject="USUBJID", visit="AVISIT")
    return PatternStats.from_rows(data.x, data.y, subject=data.subject, visit=data.visit, k=len(data.visits))


def _theta(structure_name: str) -> np.ndarray:
    rng = np.random.default_rng(7)
    theta = 0.3 * rng.normal(size=get_structure(structure_name, 4).n_params)
    theta[0] += 3.0
    return theta


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("structure_name", ["us", "cs", "ar1", "toep", "csh", "ar1h", "toeph"])
def test_gradient_and_hessian_match_finite_differences(fev, structure_name: str, reml: bool) -> None:
    stats, structure, theta = _stats(fev), get_structure(structure_name, 4), _theta(structure_name)
    at = evaluate(stats, structure, theta, reml=reml, order=2)
    step = 1e-6
    numeric_gradient, numeric_hessian = [], []
    for j in range(theta.size):
        shift = step * np.eye(theta.size)[j]
        up = evaluate(stats, structure, theta + shift, reml=reml, order=1)
        down = evaluate(stats, structure, theta - shift, reml=reml, order=1)
        numeric_gradient.append((up.value - down.value) / (2 * step))
        numeric_hessian.append((up.gradient - down.gradient) / (2 * step))
    scale_g = np.max(np.abs(numeric_gradient))
    scale_h = np.max(np.abs(numeric_hessian))
    assert np.max(np.abs(at.gradient - numeric_gradient)) <= FINITE_DIFFERENCES * scale_g
    assert np.max(np.abs(at.hessian - np.array(numeric_hessian))) <= FINITE_DIFFERENCES * scale_h


def _dense_objective(fev: pd.DataFrame, structure_name: str, theta: np.ndarray, reml: bool) -> float:
    """-2 log likelihood with the full block-diagonal V, one subject at a time (the slow, obvious way)."""
    data = prepare_data(FULL, fev, subject="USUBJID", visit="AVISIT")
    sigma = get_structure(structure_name, 4).matrix(theta)
    xtvx, xtvy, log_det, blocks = 0.0, 0.0, 0.0, []
    for i in range(len(data.subjects)):
        rows = np.flatnonzero(data.subject == i)
        v = sigma[np.ix_(data.visit[rows], data.visit[rows])]
        v_inv = np.linalg.inv(v)
        xtvx = xtvx + data.x[rows].T @ v_inv @ data.x[rows]
        xtvy = xtvy + data.x[rows].T @ v_inv @ data.y[rows]
        log_det += np.linalg.slogdet(v)[1]
        blocks.append((rows, v_inv))
    beta = np.linalg.solve(xtvx, xtvy)
    quad = sum(float(r @ w @ r) for rows, w in blocks for r in [data.y[rows] - data.x[rows] @ beta])
    n, p = len(data.y), data.x.shape[1]
    if reml:
        return (n - p) * np.log(2 * np.pi) + log_det + np.linalg.slogdet(xtvx)[1] + quad
    return n * np.log(2 * np.pi) + log_det + quad


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("structure_name", ["us", "ar1", "toep"])
def test_pattern_batching_equals_subject_by_subject(fev, structure_name: str, reml: bool) -> None:
    theta = _theta(structure_name)
    batched = evaluate(_stats(fev), get_structure(structure_name, 4), theta, reml=reml, order=0).value
    dense = _dense_objective(fev, structure_name, theta, reml)
    assert abs(batched - dense) <= DENSE * abs(dense)


def test_one_visit_is_the_ancova(fev) -> None:
    """With one visit the MMRM is ordinary least squares: same estimates, SEs, and df = n - p."""
    vis4 = fev[fev["AVISIT"] == "VIS4"]
    fit = mmrm("FEV1 ~ ARMCD + RACE + FEV1_BL", vis4, subject="USUBJID", visit="AVISIT")
    used = vis4.dropna(subset=["FEV1"])
    x = np.column_stack([
        np.ones(len(used)), used["ARMCD"] == "TRT", used["RACE"] == "Black or African American",
        used["RACE"] == "White", used["FEV1_BL"],
    ]).astype(float)
    beta, rss, *_ = np.linalg.lstsq(x, used["FEV1"].to_numpy(), rcond=None)
    n, p = x.shape
    se = np.sqrt(np.diag(np.linalg.inv(x.T @ x)) * rss[0] / (n - p))
    np.testing.assert_allclose(fit.coefficients.to_numpy(), beta, rtol=ANCOVA)
    np.testing.assert_allclose(fit.table["se"].to_numpy(), se, rtol=ANCOVA)
    np.testing.assert_allclose(fit.table["df"].to_numpy(), n - p, rtol=ANCOVA_DF)


def dropout_trial(rng: np.random.Generator, n_per_arm: int = 45, visits: int = 6) -> pd.DataFrame:
    """An A2201-like trial: 4 arms, AR-like correlation, monotone dropout reaching 40% at the last visit."""
    n = 4 * n_per_arm
    sd = np.linspace(4.0, 7.0, visits)
    lag = np.abs(np.subtract.outer(np.arange(visits), np.arange(visits)))
    cov = np.outer(sd, sd) * (0.3 + 0.7 * 0.6**lag)
    arm = np.repeat(["PBO", "D5", "D50", "D300"], n_per_arm)
    effect = np.repeat([0.0, -0.5, -1.5, -2.5], n_per_arm)[:, None] * np.linspace(0.3, 1.0, visits)
    base = rng.normal(13.0, 4.0, n)
    chg = -1.0 + effect + 0.2 * (base[:, None] - 13.0) + rng.multivariate_normal(np.zeros(visits), cov, n)
    # missing from visit j on when u < P(missing at j), increasing to 40% at the last visit
    dropped = rng.uniform(size=(n, 1)) < np.linspace(0.08, 0.4, visits)[None, :]
    data = pd.DataFrame({
        "USUBJID": np.repeat(np.arange(n), visits), "AVISIT": np.tile([f"W{j + 1:02d}" for j in range(visits)], n),
        "ARM": np.repeat(arm, visits), "BASE": np.repeat(base, visits), "CHG": chg.ravel(),
    })
    data.loc[dropped.ravel(), "CHG"] = np.nan
    return data


def test_converges_on_trials_with_heavy_dropout() -> None:
    """Unstructured, 6 visits, monotone dropout: every fit converges on the first run (200 of 200 offline)."""
    rng = np.random.default_rng(2201)
    for _ in range(5):
        data = dropout_trial(rng)
        share_missing = data.loc[data["AVISIT"] == "W06", "CHG"].isna().mean()
        assert 0.25 < share_missing < 0.55
        fit = mmrm("CHG ~ BASE + ARM * AVISIT", data, subject="USUBJID", visit="AVISIT")
        assert fit.converged
        assert len(fit.optimizer) == 1


def test_aliased_column_is_dropped_and_reported(fev) -> None:
    data = fev.assign(BL2=2 * fev["FEV1_BL"])
    with pytest.warns(DoseFindingWarning, match="BL2"):
        fit = mmrm("FEV1 ~ ARMCD + FEV1_BL + BL2", data, subject="USUBJID", visit="AVISIT")
    reference = mmrm("FEV1 ~ ARMCD + FEV1_BL", fev, subject="USUBJID", visit="AVISIT")
    assert fit.aliased == ("BL2",)
    np.testing.assert_allclose(fit.coefficients.to_numpy(), reference.coefficients.to_numpy(), rtol=1e-10)


def test_non_estimable_lsmeans_are_nan(fev) -> None:
    """Without TRT at VIS4 its interaction column is aliased: that LS mean is SAS's "Non-est", the others are not."""
    data = fev[~((fev["ARMCD"] == "TRT") & (fev["AVISIT"] == "VIS4"))]
    with pytest.warns(DoseFindingWarning, match="VIS4"):
        fit = mmrm("FEV1 ~ ARMCD * AVISIT", data, subject="USUBJID", visit="AVISIT")
    assert fit.aliased == ("ARMCD[T.TRT]:AVISIT[T.VIS4]",)
    ls = fit.lsmeans("ARMCD", by="AVISIT")
    assert ls.estimates.loc[("VIS4", "TRT")].isna().all()
    assert ls.differences.loc[("VIS4", "TRT")].isna().all()
    assert ls.estimates.drop(index=[("VIS4", "TRT")]).notna().all().all()
    with pytest.raises(InputError, match="type3: the hypothesis of term 'ARMCD' is not estimable"):
        fit.type3()


def test_lsmeans_differences_and_covariance_agree(fev) -> None:
    ls = mmrm(FULL, fev, subject="USUBJID", visit="AVISIT").lsmeans("ARMCD", by="AVISIT")
    for visit in ["VIS1", "VIS4"]:
        diff = ls.estimates.loc[(visit, "TRT"), "estimate"] - ls.estimates.loc[(visit, "PBO"), "estimate"]
        assert ls.differences.loc[(visit, "TRT"), "estimate"] == pytest.approx(diff, rel=1e-12)
        cov = ls.cov.loc[[(visit, "TRT"), (visit, "PBO")], [(visit, "TRT"), (visit, "PBO")]].to_numpy()
        se = np.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
        assert ls.differences.loc[(visit, "TRT"), "se"] == pytest.approx(se, rel=1e-12)
    assert "Least Squares Means" in str(ls.summary())


def test_residual_df_is_n_minus_p(fev) -> None:
    fit = mmrm(FULL, fev, subject="USUBJID", visit="AVISIT", df_method="residual")
    reference = mmrm(FULL, fev, subject="USUBJID", visit="AVISIT")
    assert (fit.table["df"] == fit.n_obs - len(fit.coefficients)).all()
    np.testing.assert_allclose(fit.table["se"], reference.table["se"], rtol=1e-12)
    assert (fit.type3()["den_df"] == fit.n_obs - len(fit.coefficients)).all()


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        ("FEV1 ~ ARMCD:AVISIT", r"term 'ARMCD:AVISIT' without its margins \[\['ARMCD'\], \['AVISIT'\]\]"),
        ("FEV1 ~ ARMCD * AVISIT - 1", r"the model has no intercept"),
    ],
)
def test_type3_refuses_what_it_does_not_implement(fev, formula: str, message: str) -> None:
    fit = mmrm(formula, fev, subject="USUBJID", visit="AVISIT")
    with pytest.raises(InputError, match=message):
        fit.type3()


def test_summary_reads_like_sas(fev) -> None:
    text = str(mmrm(FULL, fev, subject="USUBJID", visit="AVISIT").summary())
    for heading in ["Covariance Parameter Estimates", "-2 Res Log Likelihood", "Solution for Fixed Effects"]:
        assert heading in text


def test_minimise_raises_with_what_was_tried() -> None:
    def broken(theta: np.ndarray, order: int) -> Evaluation:
        raise np.linalg.LinAlgError("not positive definite")

    with pytest.raises(ConvergenceError, match="trust-exact from start.*l-bfgs-b"):
        minimise(broken, [("start", np.zeros(2))])


def _complete_subjects(data: pd.DataFrame) -> list[str]:
    counts = data.dropna(subset=["FEV1"]).groupby("USUBJID").size()
    return list(counts.index[counts == 4])


def test_minimise_keeps_a_point_that_meets_only_sas_criterion() -> None:
    """A gradient that stays at 1e-5 (relative Newton decrement 1e-10) is SAS-converged, not ours."""

    def flat(theta: np.ndarray, order: int) -> Evaluation:
        return Evaluation(value=1.0, beta=np.zeros(0), beta_cov=np.zeros((0, 0)),
                          gradient=np.full(1, 1e-5), hessian=np.eye(1))

    optimum = minimise(flat, [("start", np.zeros(1))])
    assert not optimum.converged
    assert optimum.attempts[-1].startswith("kept: ")


@pytest.mark.parametrize(
    ("change", "kwargs", "message"),
    [
        (lambda d: pd.concat([d, d.iloc[[1]]]), {}, r"subject 'PT1' \(USUBJID\) has more than one row at visit 'VIS2'"),
        (lambda d: d.assign(FEV1=d["FEV1"].astype(str)), {}, r"response 'FEV1': must be numeric"),
        (lambda d: d.assign(FEV1=d["FEV1"].replace(d["FEV1"].iloc[1], np.inf)), {}, r"response 'FEV1': must be finite"),
        (lambda d: d, {"formula": "FEV1 ~ ARMCD + HEIGHT"}, r"formula: 'HEIGHT' is not a column of data"),
        (
            lambda d: d.assign(AVISIT=pd.Categorical(d["AVISIT"], categories=["VIS1", "VIS2", "VIS3", "VIS4", "VIS5"])),
            {}, r"visit 'AVISIT': level\(s\) \['VIS5'\] have no non-missing observation",
        ),
        (lambda d: d[d["USUBJID"].isin(_complete_subjects(d)[:5])], {}, r"USUBJID: 5 subjects with data, fewer than"),
        (lambda d: d, {"covariance": "banded"}, r"covariance: unknown structure 'banded'"),
        (lambda d: d, {"subject": "PATIENT"}, r"subject: 'PATIENT' is not a column of data"),
        (lambda d: d, {"df_method": "kenward-roger"}, r"df_method: must be one of"),
        (lambda d: d, {"vcov": "robust"}, r"vcov: must be one of"),
        (lambda d: d, {"vcov": "empirical"}, r"df_method: 'satterthwaite' is not available with vcov='empirical'"),
    ],
)
def test_bad_input_raises_input_error_naming_it(fev, change, kwargs, message: str) -> None:
    arguments = {"formula": "FEV1 ~ ARMCD * AVISIT", "subject": "USUBJID", "visit": "AVISIT", **kwargs}
    with pytest.raises(InputError, match=message):
        mmrm(arguments.pop("formula"), change(fev), **arguments)


def test_string_dtype_columns_are_factors(fev) -> None:
    """pandas' "string" dtype (as read_csv(dtype_backend=...) gives) fits and averages as the object column does."""
    strings = fev.astype({"ARMCD": "string", "RACE": "string"})
    ours, theirs = (mmrm("FEV1 ~ RACE + ARMCD * AVISIT", frame, subject="USUBJID", visit="AVISIT")
                    for frame in (fev, strings))
    pd.testing.assert_series_equal(ours.coefficients, theirs.coefficients)
    pd.testing.assert_frame_equal(ours.lsmeans("ARMCD", by="AVISIT").estimates,
                                  theirs.lsmeans("ARMCD", by="AVISIT").estimates)
