"""Kenward-Roger inference (SAS ddfm=kr and ddfm=kr(linear)) against SAS PROC MIXED, and its exact cases.

SAS references (model ``FEV1 ~ ARMCD``, REML, the LS-mean difference TRT - PBO, which is
the ARMCD coefficient): tests/fixtures/fev/sas_reference.json "kenward_roger_ARMCD_model"
(us, ar1, cs) and tests/fixtures/sas/kenward_roger_fev.json (toep, toeph, ar1h, csh, adh =
ANTE(1), sp_exp = SP(EXP)(VISITN VISITN2), coordinates that differ between subjects; the
source of every number is in the file).

Tolerances per quantity:
- where SAS converged tightly (its -2 Res Log Likelihood within 1e-8 of our minimum: ar1,
  cs, toeph), estimate and both standard errors 1e-6 relative (measured at most 7.7e-7,
  ar1's SE) and df 1e-5 relative (measured at most 4.0e-6, toeph);
- elsewhere a 1e-6 comparison fails (``SAS_STOPPED_SHORT``, the measured numbers; each quantity
  is pinned to 1e-8 and bounded by twice its measured deviation from SAS): SAS stopped
  short of the optimum (us: its -2LL is 7.6e-6 above ours, toep: 6.9e-7; csh, ar1h and
  adh: SAS's -2LL is not stored), or, for sp_exp, SAS's -2LL equals ours to its printed 8
  decimals but the likelihood is so flat that within that rounding the SEs range over
  +-3.2e-6. Instead SAS's value must lie in the range that our quantity takes over the
  parameters whose -2LL is no worse than SAS's, ``|ours - SAS| <= sqrt(2 delta g' H^-1 g)``
  (``g`` its gradient in the variance parameters, ``H`` the Hessian of -2LL, ``delta``
  SAS's excess -2LL plus half a unit of its 8th printed decimal; where SAS's -2LL is not
  stored, the largest excess SAS's convergence criterion CONVH = 1e-8 allows,
  ``0.5e-8 |-2LL|``). Measured deviations are at most 0.81 of that half-width (toep's df);
- the second-derivative term, ``se_kr - se_kr_linear``: 1e-3 relative to SAS's (measured
  at most 4.7e-4, csh, where SAS stopped short; 3.3e-7 for ar1);
- structures linear in SAS's parameters (us, cs, toep): kr equals kr(linear) exactly, as
  in SAS's output;
- the algebra (also with weights, a matrix per group, subject-specific spatial positions,
  and the multi-d F test) against a dense, one-subject-at-a-time computation with
  finite-difference derivatives: 1e-7 relative;
- the exact case: balanced complete data with CS reproduce the split-plot ANOVA F tests
  and their df to 1e-8 relative.
"""

from __future__ import annotations

import functools
import json

import numpy as np
import pandas as pd
import pytest

from dosefinding import InputError
from dosefinding.mmrm import mmrm
from dosefinding.mmrm.covariance import CovarianceModel, get_structure
from dosefinding.mmrm.data import covariance_model, pattern_stats, prepare_data
from dosefinding.mmrm.kenward_roger import kenward_roger
from dosefinding.mmrm.likelihood import PatternStats, evaluate
from dosefinding.mmrm.sas_scale import sas_parameter_derivatives

from . import stopped_short
from .conftest import DATA, load_fev

TIGHT_ESTIMATE = 1e-6
TIGHT_DF = 1e-5
TIGHT_LOGLIK = 1e-8
SECOND_ORDER_EFFECT = 1e-3
DENSE = 1e-7
FINITE_DIFFERENCES = 1e-7
SAS_CONVH = 1e-8
EXACT = 1e-9
SAS_STEP = 1e-5
SAS_PRINTED_M2LL = 5e-9
TREATMENT = "ARMCD[T.TRT]"


def _references() -> dict[str, dict]:
    shared = json.loads((DATA / "sas_reference.json").read_text())["kenward_roger_ARMCD_model"]["values"]
    refs = {
        name: {"estimate": v[0], "se_kr": v[1], "se_kr_linear": v[2], "df": v[3], "m2_res_loglik": v[4],
               "estimate_printed_digits": False}
        for name, v in shared.items()
    }
    extra = json.loads((DATA.parent / "sas" / "kenward_roger_fev.json").read_text())["values"]
    return refs | extra


REFS = _references()
TIGHT = ("ar1", "cs", "toeph")
# Measured relative deviations at our optimum (estimate, se_kr, se_kr_linear, df).
SAS_STOPPED_SHORT = {
    "us": "6.4e-6, 8.6e-5, 8.6e-5, 2.7e-4 (SAS's -2LL 7.6e-6 above ours)",
    "toep": "3.6e-6, 3.6e-5, 3.6e-5, 8.5e-5 (SAS's -2LL 6.9e-7 above ours)",
    "csh": "-, 1.2e-4, 1.2e-4, 3.7e-4",
    "ar1h": "5.9e-6, 8.6e-6, 8.6e-6, 7.5e-5",
    "adh": "-, 1.1e-4, 1.1e-4, 4.0e-4",
    "sp_exp": "1.5e-8, 2.3e-6, 2.3e-6, 8.3e-6 (SAS's -2LL equals ours to its 8 printed decimals; within "
              "that rounding SE and df range over +-3.2e-6 and +-1.7e-3, which SAS's values lie in)",
}


@functools.cache
def _fit(covariance: str, df_method: str, formula: str = "FEV1 ~ ARMCD", weights: str | None = None,
         optimizer: str = "newton", group: str | None = None, time: tuple[str, ...] | None = None):
    if covariance == "sp_exp" and time is None:
        time = ("VISITN",)
    return mmrm(formula, load_fev(), subject="USUBJID", visit="AVISIT", covariance=covariance, df_method=df_method,
                weights=weights, optimizer=optimizer, group=group, time=None if time is None else list(time))


def _time(covariance: str) -> tuple[str, ...] | None:
    """The positions of a SAS reference's SP(EXP) (coordinates VISITN, VISITN2), else the default."""
    time = REFS.get(covariance, {}).get("time")
    return None if time is None else tuple(time)


def kenward_roger_values(covariance: str, optimizer: str = "newton") -> dict[str, float]:
    kr = _fit(covariance, "kenward_roger", optimizer=optimizer, time=_time(covariance))
    linear = _fit(covariance, "kenward_roger_linear", optimizer=optimizer, time=_time(covariance))
    return {"estimate": kr.table.loc[TREATMENT, "estimate"], "se_kr": kr.table.loc[TREATMENT, "se"],
            "se_kr_linear": linear.table.loc[TREATMENT, "se"], "df": kr.table.loc[TREATMENT, "df"],
            "df_linear": linear.table.loc[TREATMENT, "df"], "m2_res_loglik": kr.m2_log_likelihood}


def _relative(ours: float, theirs: float) -> float:
    return abs(ours - theirs) / abs(theirs)


# Our quantity, SAS's, and its place in SAS_STOPPED_SHORT's measured deviations (df_linear is SAS's df).
STOPPED_SHORT_QUANTITIES = [("estimate", "estimate", 0), ("se_kr", "se_kr", 1), ("se_kr_linear", "se_kr_linear", 2),
                            ("df", "df", 3), ("df_linear", "df", 3)]


def stopped_short_deviations(covariance: str) -> list[tuple[str, str, float]]:
    """(ours, SAS's, measured relative deviation) of ``SAS_STOPPED_SHORT[covariance]`` ("-": not compared)."""
    measured = SAS_STOPPED_SHORT[covariance].split(" (")[0].split(", ")
    return [(q, ref, float(measured[i])) for q, ref, i in STOPPED_SHORT_QUANTITIES if measured[i] != "-"]


@pytest.mark.parametrize("covariance", list(SAS_STOPPED_SHORT))
def test_stopped_short_cases_pinned_and_bounded(covariance: str) -> None:
    """Where SAS stopped short (``SAS_STOPPED_SHORT``): -2LL as in the 1e-6 test; each other quantity our pinned
    value (1e-8), no further from SAS than twice the measured deviation (tests/mmrm/stopped_short.py)."""
    ref, ours = REFS[covariance], kenward_roger_values(covariance)
    if ref["m2_res_loglik"] is not None:
        assert abs(ours["m2_res_loglik"] - ref["m2_res_loglik"]) <= TIGHT_LOGLIK * abs(ref["m2_res_loglik"])
    for quantity, sas, relative in stopped_short_deviations(covariance):
        stopped_short.check_relative(f"kenward_roger/{covariance}/{quantity}", ours[quantity], ref[sas], relative)


@pytest.mark.parametrize("covariance", [name for name in REFS if name not in SAS_STOPPED_SHORT])
def test_matches_sas_to_1e6(covariance: str) -> None:
    ref, ours = REFS[covariance], kenward_roger_values(covariance)
    if ref["m2_res_loglik"] is not None:
        assert abs(ours["m2_res_loglik"] - ref["m2_res_loglik"]) <= TIGHT_LOGLIK * abs(ref["m2_res_loglik"])
    if ref["estimate"] is not None:
        if ref["estimate_printed_digits"]:
            assert round(ours["estimate"], 4) == ref["estimate"]
        else:
            assert _relative(ours["estimate"], ref["estimate"]) <= TIGHT_ESTIMATE
    assert _relative(ours["se_kr"], ref["se_kr"]) <= TIGHT_ESTIMATE
    assert _relative(ours["se_kr_linear"], ref["se_kr_linear"]) <= TIGHT_ESTIMATE
    assert _relative(ours["df"], ref["df"]) <= TIGHT_DF
    assert _relative(ours["df_linear"], ref["df"]) <= TIGHT_DF


def test_tightly_converged_cases_are_the_ones_listed() -> None:
    """The premise of the 1e-6 comparisons: SAS's -2LL within 1e-8 of ours (ar1, cs, toeph)."""
    for covariance in TIGHT:
        assert abs(REFS[covariance]["m2_res_loglik"] - kenward_roger_values(covariance)["m2_res_loglik"]) <= 1e-8


def _quantities(stats: PatternStats, model: CovarianceModel, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(estimate, se_kr, se_kr_linear, df) of the ARMCD coefficient at ``theta``, and the Hessian of -2LL there."""
    evaluation = evaluate(stats, model, theta, reml=True, order=2)
    full = kenward_roger(stats, model, theta, evaluation, linear=False)
    linear = kenward_roger(stats, model, theta, evaluation, linear=True)
    values = [evaluation.beta[1], np.sqrt(full.beta_cov[1, 1]), np.sqrt(linear.beta_cov[1, 1]),
              full.df(np.array([[0.0, 1.0]]))[0]]
    assert evaluation.hessian is not None
    return np.array(values), evaluation.hessian


@pytest.mark.parametrize("covariance", list(REFS))
def test_sas_value_within_the_range_of_parameters_no_worse_than_sas(covariance: str) -> None:
    ref = REFS[covariance]
    time = _time(covariance)
    fit = _fit(covariance, "kenward_roger", time=time)
    data = prepare_data("FEV1 ~ ARMCD", load_fev(), subject="USUBJID", visit="AVISIT",
                        time=None if time is None else list(time))
    model = covariance_model(covariance, data)
    stats = pattern_stats(data, model)
    theta = fit.theta
    values, hessian = _quantities(stats, model, theta)
    steps = SAS_STEP * np.eye(theta.size)
    gradient = np.array([(_quantities(stats, model, theta + s)[0] - _quantities(stats, model, theta - s)[0])
                         / (2 * SAS_STEP) for s in steps])
    if ref["m2_res_loglik"] is not None:
        assert ref["m2_res_loglik"] - fit.m2_log_likelihood >= -TIGHT_LOGLIK * abs(ref["m2_res_loglik"])
        # SAS's -2LL is known to its 8 printed decimals.
        excess = ref["m2_res_loglik"] - fit.m2_log_likelihood + SAS_PRINTED_M2LL
    else:
        excess = 0.5 * SAS_CONVH * fit.m2_log_likelihood
    half_width = np.sqrt(2 * max(excess, 0.0) * np.einsum("jm,jk,km->m", gradient, np.linalg.inv(hessian), gradient))
    sas = [ref["estimate"], ref["se_kr"], ref["se_kr_linear"], ref["df"]]
    for name, ours, theirs, half in zip(["estimate", "se_kr", "se_kr_linear", "df"], values, sas, half_width,
                                        strict=True):
        if theirs is None or (name == "estimate" and ref["estimate_printed_digits"]):
            continue
        # The tightly converged cases pass on the 1e-6 test; here they must be inside a band near zero width.
        tolerance = max(half, TIGHT_ESTIMATE * abs(theirs))
        assert abs(ours - theirs) <= tolerance, f"{name}: {ours} vs SAS {theirs}, half-width {half}"


@pytest.mark.parametrize("covariance", ["ar1", "csh", "ar1h", "toeph", "adh", "sp_exp"])
def test_second_derivative_term_matches_sas(covariance: str) -> None:
    ref, ours = REFS[covariance], kenward_roger_values(covariance)
    sas_effect = ref["se_kr"] - ref["se_kr_linear"]
    assert _relative(ours["se_kr"] - ours["se_kr_linear"], sas_effect) <= SECOND_ORDER_EFFECT


@pytest.mark.parametrize("covariance", ["us", "cs", "toep"])
def test_linear_structures_have_no_second_derivative_term(covariance: str) -> None:
    assert REFS[covariance]["se_kr"] == REFS[covariance]["se_kr_linear"]
    full, linear = _fit(covariance, "kenward_roger"), _fit(covariance, "kenward_roger_linear")
    np.testing.assert_array_equal(full.coefficient_cov.to_numpy(), linear.coefficient_cov.to_numpy())


def test_one_contrast_df_is_satterthwaite_of_the_unadjusted_variance() -> None:
    """For one contrast A_1 = A_2 = a'Wa, so m = 2 / a'Wa, Satterthwaite's df (Kenward and Roger 1997, sect. 4)."""
    formula = "FEV1 ~ RACE + SEX + ARMCD * AVISIT"
    kr, satterthwaite = _fit("toeph", "kenward_roger", formula), _fit("toeph", "satterthwaite", formula)
    np.testing.assert_allclose(kr.table["df"], satterthwaite.table["df"], rtol=EXACT)
    assert np.all(np.diag(kr.coefficient_cov) != np.diag(satterthwaite.coefficient_cov))


# --- the algebra, one subject at a time ------------------------------------------------------------------


def _sigma_from_sas(covariance: str, phi: np.ndarray, k: int = 4, distance: np.ndarray | None = None) -> np.ndarray:
    """Sigma from SAS's parameters, written from SAS's definitions of the structures.

    ``distance`` (k, k): between the visits' positions, for sp_exp (default VISITN = 1, ..., k).
    """
    lag = np.abs(np.subtract.outer(np.arange(k), np.arange(k)))
    if covariance == "ar1":
        return phi[1] * phi[0] ** lag
    if covariance == "sp_exp":
        return phi[1] * np.exp(-(lag if distance is None else distance) / phi[0])
    if covariance == "us":  # UN(1,1), UN(2,1), UN(2,2), ...
        rows, cols = np.tril_indices(k)
        sigma = np.zeros((k, k))
        sigma[rows, cols] = sigma[cols, rows] = phi
        return sigma
    sd = np.sqrt(phi[:k])
    if covariance == "csh":
        corr = np.where(lag == 0, 1.0, phi[k])
    elif covariance == "ar1h":
        corr = phi[k] ** lag
    elif covariance == "adh":
        links = np.concatenate([[1.0], np.cumprod(phi[k:])])
        corr = links[np.maximum.outer(np.arange(k), np.arange(k))] / links[np.minimum.outer(np.arange(k), np.arange(k))]
    else:
        corr = np.concatenate([[1.0], phi[k:]])[lag]
    return np.outer(sd, sd) * corr


def _numeric_derivatives(
    covariance: str, phi: np.ndarray, k: int = 4, distance: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    q = phi.size
    step = 1e-4 * np.maximum(np.abs(phi), 0.1)

    def at(shift: np.ndarray) -> np.ndarray:
        return _sigma_from_sas(covariance, phi + shift, k, distance)

    eye = np.eye(q) * step
    first = np.stack([(at(eye[m]) - at(-eye[m])) / (2 * step[m]) for m in range(q)])
    second = np.stack([
        np.stack([(at(eye[m] + eye[n]) - at(eye[m] - eye[n]) - at(-eye[m] + eye[n]) + at(-eye[m] - eye[n]))
                  / (4 * step[m] * step[n]) for n in range(q)])
        for m in range(q)
    ])
    return first, second


@pytest.mark.parametrize("covariance", ["ar1", "csh", "ar1h", "toeph", "adh", "sp_exp"])
def test_sas_parameter_derivatives_match_finite_differences(covariance: str) -> None:
    fit = _fit(covariance, "kenward_roger")
    sigma = fit.covariance.to_numpy()
    phi = np.array(list(fit.covariance_parameters.values))
    if covariance == "ar1":
        phi = np.array([fit.covariance_parameters["AR(1)"], fit.covariance_parameters["Residual"]])
    np.testing.assert_allclose(_sigma_from_sas(covariance, phi), sigma, rtol=1e-12)
    first, second = sas_parameter_derivatives(get_structure(covariance, sigma.shape[0]), sigma)
    numeric_first, numeric_second = _numeric_derivatives(covariance, phi)
    assert np.max(np.abs(first - numeric_first)) <= FINITE_DIFFERENCES * np.max(np.abs(first))
    assert np.max(np.abs(second - numeric_second)) <= 1e-5 * np.max(np.abs(second))


def _dense_adjusted(
    covariance: str, formula: str, linear: bool, weights: str | None = None, group: str | None = None,
    time: str | list[str] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Phi_A, Phi, P_h and W in SAS's parameters, from each subject's own matrices (Kenward and Roger's eq. 2).

    With ``weights``, subject ``i``'s covariance is ``G_i^-1/2 Sigma G_i^-1/2`` (SAS's WEIGHT statement); with
    ``group``, each group has its own SAS parameters; with ``time`` (sp_exp), subject ``i``'s matrix is at its own
    positions (Euclidean distances between the coordinates).
    """
    if covariance == "sp_exp" and time is None:
        time = ("VISITN",)
    fit = _fit(covariance, "kenward_roger", formula, weights, group=group, time=time)
    data = prepare_data(formula, load_fev(), subject="USUBJID", visit="AVISIT", weights=weights, group=group,
                        time=None if time is None else list(time))
    row_weights = np.ones(len(data.y)) if data.weights is None else data.weights
    model = covariance_model(covariance, data)
    stats = pattern_stats(data, model)
    theta = fit.theta
    evaluation = evaluate(stats, model, theta, reml=True, order=2)
    assert evaluation.hessian is not None

    def sas_phi(t: np.ndarray) -> np.ndarray:
        return np.array(list(model.sas_parameters(t).values()))

    phi_hat = sas_phi(theta)
    h = 1e-6
    jacobian = np.stack([(sas_phi(theta + h * e) - sas_phi(theta - h * e)) / (2 * h) for e in np.eye(theta.size)],
                        axis=1)
    w = jacobian @ (2 * np.linalg.inv(evaluation.hessian)) @ jacobian.T
    q, p = phi_hat.size, data.x.shape[1]
    q_group = q // model.n_groups
    xtvx = np.zeros((p, p))
    p_mats, q_mats, r_mats = np.zeros((q, p, p)), np.zeros((q, q, p, p)), np.zeros((q, q, p, p))
    positions = None if data.time is None else np.asarray(data.time, dtype=float)
    for i in range(len(data.subjects)):
        rows = data.subject == i
        visits, x = data.visit[rows], data.x[rows]
        g = 0 if data.group is None else int(data.group[i])
        params = slice(g * q_group, (g + 1) * q_group)
        distance = None
        if covariance == "sp_exp":
            full = np.zeros((4,) + positions.shape[1:])
            full[visits] = positions[rows]
            distance = np.sqrt(((full[:, None] - full[None, :]).reshape(4, 4, -1) ** 2).sum(axis=-1))
        sigma = _sigma_from_sas(covariance, phi_hat[params], distance=distance)
        first_g, second_g = _numeric_derivatives(covariance, phi_hat[params], distance=distance)
        first, second = np.zeros((q, 4, 4)), np.zeros((q, q, 4, 4))
        first[params], second[params, params] = first_g, second_g
        scale = np.outer(row_weights[rows], row_weights[rows]) ** -0.5
        v_inv = np.linalg.inv(sigma[np.ix_(visits, visits)] * scale)
        d = first[:, visits][:, :, visits] * scale
        e = second[:, :, visits][:, :, :, visits] * scale
        xtvx += x.T @ v_inv @ x
        for a in range(q):
            p_mats[a] -= x.T @ v_inv @ d[a] @ v_inv @ x
            for b in range(q):
                q_mats[a, b] += x.T @ v_inv @ d[a] @ v_inv @ d[b] @ v_inv @ x
                r_mats[a, b] += x.T @ v_inv @ e[a, b] @ v_inv @ x
    phi = np.linalg.inv(xtvx)
    middle = np.zeros((p, p))
    for a in range(q):
        for b in range(q):
            middle += w[a, b] * (q_mats[a, b] - p_mats[a] @ phi @ p_mats[b] - (0.0 if linear else 0.25) * r_mats[a, b])
    return phi + 2 * phi @ middle @ phi, phi, p_mats, w


@pytest.mark.parametrize(("covariance", "weights", "group", "time"), [
    ("ar1", None, None, None), ("csh", None, None, None), ("adh", None, None, None), ("sp_exp", None, None, None),
    ("ar1", "WEIGHT", None, None), ("csh", None, "ARMCD", None), ("us", None, "ARMCD", None),
    ("sp_exp", None, "ARMCD", None), ("sp_exp", None, None, ("VISITN", "VISITN2")),
    ("sp_exp", "WEIGHT", "SEX", ("VISITN", "VISITN2")),
])
@pytest.mark.parametrize("linear", [False, True])
def test_adjusted_covariance_matches_dense_computation(
    covariance: str, weights: str | None, group: str | None, time: tuple[str, ...] | None, linear: bool
) -> None:
    """Also with a matrix per group and with subject-specific positions (VISITN2 differs between subjects)."""
    formula = "FEV1 ~ ARMCD * AVISIT"
    adjusted, _, _, _ = _dense_adjusted(covariance, formula, linear, weights, group, time)
    fit = _fit(covariance, "kenward_roger_linear" if linear else "kenward_roger", formula, weights, group=group,
               time=time)
    ours = fit.coefficient_cov.to_numpy()
    assert np.max(np.abs(ours - adjusted)) <= DENSE * np.max(np.abs(adjusted))


def test_f_test_matches_dense_kenward_roger_formulas() -> None:
    """A_1, A_2 with M = L'(L Phi L')^-1 L as Kenward and Roger write them, and their lambda and m."""
    formula = "FEV1 ~ ARMCD * AVISIT"
    adjusted, phi, p_mats, w = _dense_adjusted("csh", formula, linear=False)
    fit = _fit("csh", "kenward_roger", formula)
    hypothesis = np.zeros((3, 8))
    hypothesis[np.arange(3), [5, 6, 7]] = 1.0  # the ARMCD:AVISIT coefficients
    test = fit._inference.f_test(fit.coefficients.to_numpy(), hypothesis)
    m_mat = hypothesis.T @ np.linalg.inv(hypothesis @ phi @ hypothesis.T) @ hypothesis
    terms = [m_mat @ phi @ p_h @ phi for p_h in p_mats]
    a1 = sum(w[i, j] * np.trace(terms[i]) * np.trace(terms[j]) for i in range(len(terms)) for j in range(len(terms)))
    a2 = sum(w[i, j] * np.trace(terms[i] @ terms[j]) for i in range(len(terms)) for j in range(len(terms)))
    ell = 3
    b = (a1 + 6 * a2) / (2 * ell)
    g = ((ell + 1) * a1 - (ell + 4) * a2) / ((ell + 2) * a2)
    c1, c2, c3 = (g / (3 * ell + 2 * (1 - g)), (ell - g) / (3 * ell + 2 * (1 - g)),
                  (ell + 2 - g) / (3 * ell + 2 * (1 - g)))
    e_star = 1 / (1 - a2 / ell)
    v_star = 2 / ell * (1 + c1 * b) / ((1 - c2 * b) ** 2 * (1 - c3 * b))
    rho = v_star / (2 * e_star**2)
    m = 4 + (ell + 2) / (ell * rho - 1)
    scale = m / (e_star * (m - 2))
    beta = fit.coefficients.to_numpy()
    estimate = hypothesis @ beta
    f = scale * estimate @ np.linalg.solve(hypothesis @ adjusted @ hypothesis.T, estimate) / ell
    assert test.num_df == ell
    assert _relative(test.den_df, m) <= DENSE
    assert _relative(test.scale, scale) <= DENSE
    assert _relative(test.f, f) <= DENSE


# --- exact cases and the interface ---------------------------------------------------------------------


def _split_plot(n: int = 12, k: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    data = pd.DataFrame({"id": np.repeat(np.arange(2 * n), k), "visit": np.tile([f"v{i}" for i in range(k)], 2 * n),
                         "arm": np.repeat(["a", "b"], n * k)})
    data["y"] = 1.5 * np.repeat(rng.normal(size=2 * n), k) + rng.normal(size=2 * n * k) + 0.5 * (data["arm"] == "b")
    return data


def test_balanced_compound_symmetry_gives_the_exact_split_plot_tests() -> None:
    """Complete balanced data, CS: REML is the split-plot ANOVA, whose F tests are exact.

    Between subjects (arm) F has ``(1, S - 2)`` df, within subjects (visit, arm:visit)
    ``(k - 1, (S - 2)(k - 1))``, ``S`` the subjects; Kenward and Roger (1997, sect. 5)
    show that their approximation reproduces such exact F tests (``lambda = 1``, ``m``
    the exact df), here checked against the sums of squares.
    """
    n, k = 12, 4
    data = _split_plot(n, k)
    fit = mmrm("y ~ arm * visit", data, subject="id", visit="visit", covariance="cs", df_method="kenward_roger")
    assert fit.covariance_parameters["CS"] > 0  # interior REML solution = ANOVA estimates
    y = data["y"].to_numpy().reshape(2, n, k)
    grand, arm, subject = y.mean(), y.mean(axis=(1, 2)), y.mean(axis=2)
    visit, cell = y.mean(axis=(0, 1)), y.mean(axis=1)
    between = 2 * (n - 1)
    within = between * (k - 1)
    ms_subjects = k * np.sum((subject - arm[:, None]) ** 2) / between
    ms_error = np.sum((y - subject[:, :, None] - cell[:, None, :] + arm[:, None, None]) ** 2) / within
    exact = pd.DataFrame({
        "num_df": [1, k - 1, k - 1],
        "den_df": [between, within, within],
        "F": [n * k * np.sum((arm - grand) ** 2) / ms_subjects,
              2 * n * np.sum((visit - grand) ** 2) / (k - 1) / ms_error,
              n * np.sum((cell - arm[:, None] - visit[None] + grand) ** 2) / (k - 1) / ms_error],
    }, index=["arm", "visit", "arm:visit"])
    type3 = fit.type3()
    np.testing.assert_array_equal(type3["num_df"], exact["num_df"])
    np.testing.assert_allclose(type3["den_df"], exact["den_df"], rtol=1e-8)
    np.testing.assert_allclose(type3["F"], exact["F"], rtol=1e-8)
    difference = fit.lsmeans("arm").differences
    assert abs(difference["df"].iloc[0] - between) <= 1e-8 * between


def test_lsmeans_and_type3_use_the_adjusted_covariance() -> None:
    formula = "FEV1 ~ ARMCD * AVISIT"
    fit = _fit("ar1", "kenward_roger", formula)
    asymptotic = _fit("ar1", "satterthwaite", formula)
    ls = fit.lsmeans("ARMCD", by="AVISIT")
    rows = ls.contrasts.to_numpy()
    cov = fit.coefficient_cov.to_numpy()
    np.testing.assert_allclose(ls.cov.to_numpy(), rows @ cov @ rows.T, rtol=1e-12)
    np.testing.assert_allclose(ls.estimates["se"], np.sqrt(np.einsum("mp,pq,mq->m", rows, cov, rows)), rtol=1e-12)
    np.testing.assert_allclose(ls.estimates["df"], fit.df(rows), rtol=1e-12)
    assert not np.allclose(ls.estimates["se"], asymptotic.lsmeans("ARMCD", by="AVISIT").estimates["se"], rtol=1e-6)
    assert fit.df_method == "kenward_roger"
    assert "kenward_roger df" in str(fit.summary())


def test_kenward_roger_with_empirical_covariance_is_refused() -> None:
    with pytest.raises(InputError, match="vcov='empirical'"):
        mmrm("FEV1 ~ ARMCD", load_fev(), subject="USUBJID", visit="AVISIT", df_method="kenward_roger",
             vcov="empirical")


def test_kenward_roger_with_ml_is_refused() -> None:
    with pytest.raises(InputError, match="reml=False"):
        mmrm("FEV1 ~ ARMCD", load_fev(), subject="USUBJID", visit="AVISIT", df_method="kenward_roger_linear",
             reml=False)


def test_unknown_df_method_lists_kenward_roger() -> None:
    with pytest.raises(InputError, match="kenward_roger_linear"):
        mmrm("FEV1 ~ ARMCD", load_fev(), subject="USUBJID", visit="AVISIT", df_method="kr")
