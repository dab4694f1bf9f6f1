"""Spatial exponential covariance on several coordinates (SAS TYPE=SP(EXP)(VISITN VISITN2)).

``mmrm(..., covariance="sp_exp", time=["VISITN", "VISITN2"])``: the distance between two
visits is the Euclidean distance between their coordinate vectors (R mmrm's
``sp_exp(VISITN, VISITN2 | USUBJID)``). VISITN2 differs on every row of fev_data, so
every subject has its own distances.

References (tests/fixtures/sas/sp_exp_coordinates_sas.json, every number the string
printed by its source, with the repository, path and commit):

- SAS PROC MIXED, ``FEV1 ~ 1``, SP(EXP)(VISITN VISITN2), ML and REML
  (openpharma/mmrm design/SAS/sas_sp_exp2_ml.txt and sas_sp_exp2_reml.txt, quoted by
  R mmrm's tests/testthat/test-tmb.R "... ML(2-dimension)" / "REML(2-dimension)").
  Tolerances: -2 (Res) Log Likelihood 1e-6 relative (measured: ours lower than SAS's by
  5.43e-6 ML and 6.98e-6 REML, 1.4e-9 and 1.8e-9 relative); the intercept and its SE
  round to SAS's printed digits (42.2203 / 0.4742 ML, 42.2202 / 0.4754 REML: ours
  42.220258 / 0.474204 and 42.220165 / 0.475422).
- SAS stopped short of the optimum on this flat likelihood: its printed covariance
  parameters are its last iterate, not the optimum. Evaluating our likelihood at SAS's
  printed SP(EXP) and Residual reproduces SAS's -2LL to 1e-9 relative (measured 2.2e-10
  ML, 2.9e-10 REML) and SAS's intercept, SE and PT1 correlation to the printed digits,
  while our optimum is 5.4e-6 (ML) and 7.0e-6 (REML) lower. At our optimum the
  covariance parameters therefore miss SAS's printed digits; they are compared at
  1e-3 relative (R mmrm's own tolerance for these numbers in test-tmb.R). Measured,
  ours vs SAS: ML SP(EXP) 1.234320 vs 1.2339 (3.4e-4), Residual 87.65159 vs 87.6472
  (5.0e-5), PT1 correlation 0.137617 vs 0.1375 (8.5e-4); REML SP(EXP) 1.242277 vs
  1.2418 (3.8e-4), Residual 87.89208 vs 87.8870 (5.8e-5), PT1 correlation 0.139376 vs
  0.1393 (5.5e-4).
- The empirical (sandwich) covariance of ``FEV1 ~ ARMCD`` with SP(EXP)(VISITN VISITN2),
  REML, as SAS (R mmrm tests/testthat/test-empirical.R "empirical covariance are the
  same with SAS result for sp_exp"): 1e-4 relative per entry, as R mmrm (measured at
  most 6.4e-7).

Other checks: a list of one column is exactly the column name (bitwise equal results);
a constant second coordinate gives the one-time fit to 1e-10 relative (the distances
are the same: sqrt(x^2 + 0) = |x|), also through SAS's parametrisation (Kenward-Roger);
our -2LL equals a subject-by-subject computation with numpy's norms to 1e-10 relative;
distances are symmetric, zero on the diagonal and numpy's norm of the differences to
1e-14 relative.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dosefinding import InputError, mmrm
from dosefinding.mmrm.covariance import SpatialExponential, get_structure, spatial_distances
from dosefinding.mmrm.data import covariance_model, pattern_stats, prepare_data
from dosefinding.mmrm.likelihood import evaluate
from dosefinding.mmrm.sas_scale import SasCovariance

from .conftest import load_fev
from .references_extra import same_printed

FIXTURE = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "sas" / "sp_exp_coordinates_sas.json").read_text(),
    parse_float=str,
)
CASES = {case["name"]: case for case in FIXTURE["cases"]}
COORDINATES = ["VISITN", "VISITN2"]
KWARGS = {"subject": "USUBJID", "visit": "AVISIT", "covariance": "sp_exp"}
LOGLIK = 1e-6  # relative, against SAS's -2 (Res) Log Likelihood
AT_PRINTED_LOGLIK = 1e-9  # relative, our -2LL at SAS's printed parameters vs SAS's
STOPPED_SHORT = 1e-3  # relative, covariance parameters at our optimum vs SAS's last iterate
EMPIRICAL = 1e-4  # relative, as R mmrm's test
SAME_DISTANCES = 1e-10  # relative, a constant second coordinate vs one time
DENSE = 1e-10  # relative, against the subject-by-subject -2LL
DISTANCES = 1e-14  # relative, against numpy's norm


def _printed(case: dict, key: str) -> str:
    return case["numbers"][key]["printed"]


def _fit(case: dict):
    return mmrm(case["formula"], load_fev(), time=case["time"], reml=case["reml"], **KWARGS)


def _pt1_distance() -> float:
    fev = load_fev()
    rows = fev.loc[(fev["USUBJID"] == "PT1") & fev["FEV1"].notna(), COORDINATES].to_numpy(dtype=float)
    assert rows.shape == (2, 2)  # SAS's "Estimated R Correlation Matrix for USUBJID PT1" is 2 x 2
    return float(np.linalg.norm(rows[0] - rows[1]))


def test_fixture_names_its_sources() -> None:
    for case in CASES.values():
        for number in case["numbers"].values():
            assert number["source"]["repository"] == "openpharma/mmrm"
            assert len(number["source"]["commit"]) == 40
    assert len(FIXTURE["empirical"]["source"]["commit"]) == 40


# 1. One coordinate in a list is the column name ------------------------------------------


@pytest.mark.parametrize("time", ["VISITN", "JTIME"])
@pytest.mark.parametrize("as_list", [["VISITN"], ("VISITN",)], ids=["list", "tuple"])
def test_one_coordinate_is_the_column(time: str, as_list: list[str] | tuple[str, ...]) -> None:
    """``time=[c]`` is exactly ``time=c``: the same arrays and bitwise the same fit."""
    fev = load_fev()
    fev["JTIME"] = fev["VISITN"] + fev["VISITN2"] / 10  # differs between subjects
    listed = [time] if isinstance(as_list, list) else (time,)
    data_name = prepare_data("FEV1 ~ ARMCD", fev, subject="USUBJID", visit="AVISIT", time=time)
    data_list = prepare_data("FEV1 ~ ARMCD", fev, subject="USUBJID", visit="AVISIT", time=listed)
    assert data_list.time is not None and data_name.time is not None
    assert data_list.time.shape == (len(data_list.y),)
    np.testing.assert_array_equal(data_list.time, data_name.time)
    by_name = mmrm("FEV1 ~ ARMCD", fev, time=time, **KWARGS)
    by_list = mmrm("FEV1 ~ ARMCD", fev, time=listed, **KWARGS)
    assert by_list.m2_log_likelihood == by_name.m2_log_likelihood
    np.testing.assert_array_equal(by_list.theta, by_name.theta)
    pd.testing.assert_frame_equal(by_list.table, by_name.table, check_exact=True)
    np.testing.assert_array_equal(np.asarray(by_list.coefficient_cov), np.asarray(by_name.coefficient_cov))
    np.testing.assert_array_equal(np.asarray(by_list.covariance), np.asarray(by_name.covariance))


def test_constant_second_coordinate_is_one_time() -> None:
    """Coordinates (VISITN, 0) have the distances of VISITN: the same fit, also in SAS's parameters (KR)."""
    fev = load_fev().assign(ZERO=0.0)
    for df_method in ("satterthwaite", "kenward_roger"):
        one = mmrm("FEV1 ~ ARMCD", fev, time="VISITN", df_method=df_method, **KWARGS)
        two = mmrm("FEV1 ~ ARMCD", fev, time=["VISITN", "ZERO"], df_method=df_method, **KWARGS)
        assert two.m2_log_likelihood == pytest.approx(one.m2_log_likelihood, rel=SAME_DISTANCES)
        np.testing.assert_allclose(two.table.to_numpy(dtype=float), one.table.to_numpy(dtype=float),
                                   rtol=SAME_DISTANCES)
        np.testing.assert_allclose(np.asarray(two.covariance), np.asarray(one.covariance), rtol=SAME_DISTANCES)


# 2. SAS PROC MIXED, FEV1 ~ 1, SP(EXP)(VISITN VISITN2) ----------------------------------------


@pytest.mark.parametrize("name", list(CASES))
def test_likelihood_and_intercept_match_sas(name: str) -> None:
    """-2 (Res) LL to 1e-6 relative and never above SAS's; intercept and SE to SAS's printed digits."""
    case = CASES[name]
    fit = _fit(case)
    assert fit.converged
    sas = float(_printed(case, "m2_log_likelihood"))
    assert abs(fit.m2_log_likelihood - sas) <= LOGLIK * sas
    assert fit.m2_log_likelihood <= sas  # SAS stopped short (measured 5.4e-6 / 7.0e-6 above ours)
    assert same_printed(float(fit.table.loc["Intercept", "estimate"]), _printed(case, "intercept"))
    assert same_printed(float(fit.table.loc["Intercept", "se"]), _printed(case, "intercept_se"))


@pytest.mark.parametrize("name", list(CASES))
def test_covariance_parameters_near_sas_last_iterate(name: str) -> None:
    """SP(EXP) (the range r of exp(-d / r)), Residual and PT1's correlation at 1e-3 relative (SAS stopped short)."""
    case = CASES[name]
    fit = _fit(case)
    params = fit.covariance_parameters
    for key in ("SP(EXP)", "Residual"):
        assert float(params[key]) == pytest.approx(float(_printed(case, key)), rel=STOPPED_SHORT)
    correlation = np.exp(-_pt1_distance() / float(params["SP(EXP)"]))
    assert correlation == pytest.approx(float(_printed(case, "pt1_correlation")), rel=STOPPED_SHORT)


@pytest.mark.parametrize("name", list(CASES))
def test_at_sas_printed_parameters_we_reproduce_sas(name: str) -> None:
    """At SAS's printed SP(EXP) and Residual: SAS's -2LL (1e-9 relative), intercept, SE and correlation (printed digits).

    So SAS's printed parameters are its last iterate, 5.4e-6 (ML) / 7.0e-6 (REML) above our optimum.
    """
    case = CASES[name]
    data = prepare_data(case["formula"], load_fev(), subject="USUBJID", visit="AVISIT", time=case["time"])
    model = covariance_model("sp_exp", data)
    range_, residual = float(_printed(case, "SP(EXP)")), float(_printed(case, "Residual"))
    at = evaluate(pattern_stats(data, model), model, np.log([residual, range_]), reml=case["reml"], order=0)
    sas = float(_printed(case, "m2_log_likelihood"))
    assert abs(at.value - sas) <= AT_PRINTED_LOGLIK * sas
    assert same_printed(float(at.beta[0]), _printed(case, "intercept"))
    assert same_printed(float(np.sqrt(at.beta_cov[0, 0])), _printed(case, "intercept_se"))
    assert same_printed(float(np.exp(-_pt1_distance() / range_)), _printed(case, "pt1_correlation"))
    assert _fit(case).m2_log_likelihood < at.value


# 3. Empirical covariance, as SAS (quoted by R mmrm) ---------------------------------------------


def test_empirical_covariance_matches_sas() -> None:
    """beta_vcov of FEV1 ~ ARMCD, SP(EXP)(VISITN VISITN2), EMPIRICAL, REML: 1e-4 relative (measured 6.4e-7)."""
    reference = FIXTURE["empirical"]
    expected = np.array([float(v) for v in reference["beta_vcov_column_major"]]).reshape(2, 2, order="F")
    fit = mmrm("FEV1 ~ ARMCD", load_fev(), subject="USUBJID", visit="AVISIT", covariance="sp_exp",
               time=["VISITN", "VISITN2"], vcov="empirical", df_method="residual")
    assert list(fit.coefficients.index) == ["Intercept", "ARMCD[T.TRT]"]
    np.testing.assert_allclose(np.asarray(fit.coefficient_cov, dtype=float), expected,
                               rtol=float(reference["tolerance"]), atol=0)
    assert float(reference["tolerance"]) == EMPIRICAL


# The likelihood against a subject-by-subject computation --------------------------------------


@pytest.mark.parametrize("reml", [False, True])
def test_likelihood_is_the_subject_by_subject_one(reml: bool) -> None:
    """Our -2LL with coordinates against a dense one from numpy's norms, at a non-optimal theta: 1e-10 relative."""
    fev = load_fev()
    data = prepare_data("FEV1 ~ ARMCD + AVISIT", fev, subject="USUBJID", visit="AVISIT", time=COORDINATES)
    assert data.time is not None and data.time.shape == (len(data.y), 2) and data.has_coordinates
    model = covariance_model("sp_exp", data)
    theta = np.array([np.log(80.0), np.log(0.7)])
    ours = evaluate(pattern_stats(data, model), model, theta, reml=reml, order=0).value
    s, r = np.exp(theta)
    xtvx, xtvy, log_det, blocks = 0.0, 0.0, 0.0, []
    for i in range(len(data.subjects)):
        rows = np.flatnonzero(data.subject == i)
        positions = data.time[rows]
        distance = np.linalg.norm(positions[:, None, :] - positions[None, :, :], axis=-1)
        v_inv = np.linalg.inv(s * np.exp(-distance / r))
        xtvx = xtvx + data.x[rows].T @ v_inv @ data.x[rows]
        xtvy = xtvy + data.x[rows].T @ v_inv @ data.y[rows]
        log_det += np.linalg.slogdet(s * np.exp(-distance / r))[1]
        blocks.append((rows, v_inv))
    beta = np.linalg.solve(xtvx, xtvy)
    quad = sum(float(res @ w @ res) for rows, w in blocks for res in [data.y[rows] - data.x[rows] @ beta])
    n, p = len(data.y), data.x.shape[1]
    dense = n * np.log(2 * np.pi) + log_det + quad
    if reml:
        dense += np.linalg.slogdet(xtvx)[1] - p * np.log(2 * np.pi)
    assert ours == pytest.approx(dense, rel=DENSE)


def test_reported_matrix_is_at_the_mean_positions() -> None:
    fev = load_fev()
    fit = mmrm("FEV1 ~ 1", fev, time=COORDINATES, **KWARGS)
    means = fev.loc[fev["FEV1"].notna()].groupby("AVISIT")[COORDINATES].mean().to_numpy()
    distance = np.linalg.norm(means[:, None, :] - means[None, :, :], axis=-1)
    params = fit.covariance_parameters
    expected = float(params["Residual"]) * np.exp(-distance / float(params["SP(EXP)"]))
    np.testing.assert_allclose(np.asarray(fit.covariance, dtype=float), expected, rtol=1e-12)
    data = prepare_data("FEV1 ~ 1", fev, subject="USUBJID", visit="AVISIT", time=COORDINATES)
    structure = covariance_model("sp_exp", data).structure
    assert isinstance(structure, SpatialExponential) and structure.has_coordinates
    np.testing.assert_allclose(np.asarray(structure.times), means, rtol=1e-14)


# 4. Bad input -----------------------------------------------------------------------------------


def test_coordinate_input_errors() -> None:
    fev = load_fev()
    with pytest.raises(InputError, match="time: column 'AVISIT' must be numeric"):
        mmrm("FEV1 ~ 1", fev, time=["VISITN", "AVISIT"], **KWARGS)
    with pytest.raises(InputError, match="time: 'NOPE' is not a column of data"):
        mmrm("FEV1 ~ 1", fev, time=["VISITN", "NOPE"], **KWARGS)
    infinite = fev.assign(C2=np.where(fev.index == 1, np.inf, fev["VISITN2"]))
    with pytest.raises(InputError, match="time: column 'C2' must be finite"):
        mmrm("FEV1 ~ 1", infinite, time=["VISITN", "C2"], **KWARGS)
    with pytest.raises(InputError, match=r"time: only spatial covariance structures use times \(time=\['VISITN', "
                                         r"'VISITN2'\]\), not 'ar1'"):
        mmrm("FEV1 ~ 1", fev, subject="USUBJID", visit="AVISIT", covariance="ar1", time=COORDINATES)
    with pytest.raises(InputError, match="time: the list of coordinate columns is empty"):
        mmrm("FEV1 ~ 1", fev, time=[], **KWARGS)
    with pytest.raises(InputError, match="repeat a column"):
        mmrm("FEV1 ~ 1", fev, time=["VISITN", "VISITN"], **KWARGS)
    with pytest.raises(InputError, match="time: must be a column name or a list of column names"):
        mmrm("FEV1 ~ 1", fev, time=["VISITN", 2], **KWARGS)  # type: ignore[list-item]
    with pytest.raises(InputError, match="sp_exp.*needs time="):
        mmrm("FEV1 ~ 1", fev, subject="USUBJID", visit="AVISIT", covariance="sp_exp")


def test_tied_positions_name_the_subject_and_columns() -> None:
    """Two used rows of a subject at the same position (all coordinates equal) are refused, naming both."""
    fev = load_fev()
    tied = fev.assign(C1=np.where(fev["AVISIT"] == "VIS2", 1.0, fev["VISITN"]), C2=0.0)
    first = tied.loc[tied["FEV1"].notna() & tied["AVISIT"].isin(["VIS1", "VIS2"])]
    subject = first["USUBJID"][first.duplicated("USUBJID", keep=False)].iloc[0]
    pattern = (rf"time: subject '{subject}' \(USUBJID\) has more than one used row at position "
               r"\(C1=1\.0, C2=0\.0\) of the coordinates \['C1', 'C2'\]; spatial covariance needs distinct positions")
    with pytest.raises(InputError, match=pattern):
        mmrm("FEV1 ~ 1", tied, time=["C1", "C2"], **KWARGS)
    # The same value of one coordinate at two visits is a distinct position when another coordinate differs.
    fit = mmrm("FEV1 ~ 1", tied.assign(C2=tied["VISITN2"]), time=["C1", "C2"], **KWARGS)
    assert fit.converged


def test_structure_positions() -> None:
    structure = get_structure("sp_exp", 3, times=[[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]])
    assert isinstance(structure, SpatialExponential) and structure.has_coordinates
    assert structure.times == ((0.0, 0.0), (3.0, 4.0), (6.0, 8.0))
    np.testing.assert_array_equal(structure.distances(), [[0.0, 5.0, 10.0], [5.0, 0.0, 5.0], [10.0, 5.0, 0.0]])
    one = get_structure("sp_exp", 3, times=(0.0, 5.0, 10.0))
    assert isinstance(one, SpatialExponential) and not one.has_coordinates
    theta = np.array([np.log(2.0), np.log(3.0)])
    for got, want in zip(structure.evaluate(theta), one.evaluate(theta), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-15)
    # evaluate_at: (n, k, d) with coordinates, the structure's own positions give evaluate.
    at = structure.evaluate_at(theta, np.asarray(structure.times)[None].repeat(2, axis=0))
    for got, want in zip(at, structure.evaluate(theta), strict=True):
        np.testing.assert_array_equal(got, np.broadcast_to(want, got.shape))
    # SAS's parametrisation (r, Residual) uses the same distances.
    sas = SasCovariance(3, structure)
    np.testing.assert_allclose(sas.matrix(np.array([3.0, 2.0])), structure.matrix(theta), rtol=1e-15)
    sas_at = sas.evaluate_at(np.array([3.0, 2.0]), np.asarray(structure.times)[None])[0][0]
    np.testing.assert_allclose(sas_at, structure.matrix(theta), rtol=1e-15)
    with pytest.raises(InputError, match="times: need one time per visit"):
        get_structure("sp_exp", 3, times=((0.0, 0.0), (1.0, 1.0)))
    with pytest.raises(InputError, match="not spatial and takes no times"):
        get_structure("ar1", 2, times=((0.0, 0.0), (1.0, 1.0)))


# 5. Distances -----------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(4, 2), (5, 4, 3), (2, 3, 4, 1), (6, 4, 5)])
def test_distances_are_euclidean(shape: tuple[int, ...]) -> None:
    """Symmetric, zero on the diagonal, numpy's norm of the differences (1e-14 relative)."""
    positions = np.random.default_rng(len(shape) * 10 + shape[-1]).normal(size=shape) * 3.0
    distance = spatial_distances(positions, coordinates=True)
    k = shape[-2]
    assert distance.shape == (*shape[:-1], k)
    np.testing.assert_array_equal(distance, np.swapaxes(distance, -1, -2))
    np.testing.assert_array_equal(np.diagonal(distance, axis1=-2, axis2=-1), 0.0)
    expected = np.linalg.norm(positions[..., :, None, :] - positions[..., None, :, :], axis=-1)
    np.testing.assert_allclose(distance, expected, rtol=DISTANCES, atol=0)
    off_diagonal = np.broadcast_to(~np.eye(k, dtype=bool), distance.shape)
    assert np.all(distance[off_diagonal] > 0)


def test_distances_without_coordinate_axis_are_unchanged() -> None:
    """Times (..., k) keep |t_a - t_b|; one coordinate (..., k, 1) gives the same distances."""
    times = np.random.default_rng(3).normal(size=(7, 4))
    expected = np.abs(times[..., :, None] - times[..., None, :])
    np.testing.assert_array_equal(spatial_distances(times), expected)
    np.testing.assert_array_equal(spatial_distances(times[0]), expected[0])
    np.testing.assert_array_equal(spatial_distances(times[..., None], coordinates=True), expected)
    with pytest.raises(InputError, match="coordinates need a shape"):
        spatial_distances(np.zeros(3), coordinates=True)
