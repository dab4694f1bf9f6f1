"""mmrm() against SAS PROC MIXED on fev_data (tests/fixtures/fev/sas_reference.json).

Tolerances per quantity (those of R mmrm's tests/testthat, which the JSON names):
- -2 (Res) Log Likelihood: 1e-6 relative;
- estimates, standard errors, t values and covariance parameters: 1e-4 relative;
- Satterthwaite df: SAS prints integers, ours must round to the same integer; LS means
  and their differences: |df - SAS| < 0.6, as the JSON notes;
- AIC, AICC, BIC: SAS's one printed decimal (|difference| <= 0.05);
- Type 3 F statistics: 1e-3 relative (R mmrm's test-satterthwaite.R), numerator df exact,
  denominator df rounding to SAS's integer;
- empirical (sandwich) covariance of (Intercept, ARMCDTRT): 1e-4 relative (measured at
  most 1.7e-5).
A value SAS prints to few significant digits also passes when ours rounds to it.

SAS stops short of the optimum on these flat likelihoods: its relative Hessian criterion
(CONVH = 1e-8) accepts a point whose -2LL is a few 1e-6 above the minimum. Our optimum
is lower in every such case (``test_our_optimum_is_not_worse_than_sas``), and evaluating
our likelihood at SAS's printed parameters reproduces SAS's -2LL to 4e-7 and SAS's
estimates to the printed digits (``test_at_sas_parameters_*``). The comparisons at our
optimum that miss 1e-4 because of that are listed in ``SAS_STOPPED_SHORT`` with the
measured numbers: our value pinned to 1e-8 and no further from SAS than twice the
measured difference (tests/mmrm/stopped_short.py). At SAS's own stopping point
(``optimizer="sas"``, which reproduces SAS's iteration history) every one of them matches
SAS's printed digits: tests/mmrm/test_sas_iterations.py.
"""

from __future__ import annotations

import dataclasses
import functools
import json

import numpy as np
import pandas as pd
import pytest

from dosefinding.mmrm import mmrm
from dosefinding.mmrm.anova import type3_tests
from dosefinding.mmrm.covariance import get_structure
from dosefinding.mmrm.data import prepare_data
from dosefinding.mmrm.likelihood import PatternStats, evaluate
from dosefinding.mmrm.lsmeans import LSMeans
from dosefinding.mmrm.sas_iterations import SAS_STRUCTURES

from . import stopped_short
from .conftest import DATA, load_fev
from .lazy import Lazy, coefficient, entry, sigma_entry

LOGLIK = 1e-6
ESTIMATE = 1e-4
LSMEANS_DF = 0.6
CRITERION = 0.05
SAS_PARAMETERS_LOGLIK = 1e-9
SAS = json.loads((DATA / "sas_reference.json").read_text())

FULL = "FEV1 ~ RACE + SEX + ARMCD * AVISIT"
SAS_EFFECTS = {"AVISIT*ARMCD": "ARMCD:AVISIT"}
F_STATISTIC = 1e-3
R_NAMES = {
    "(Intercept)": "Intercept",
    "ARMCDTRT": "ARMCD[T.TRT]",
    "AVISITVIS2": "AVISIT[T.VIS2]",
    "AVISITVIS3": "AVISIT[T.VIS3]",
    "AVISITVIS4": "AVISIT[T.VIS4]",
    "ARMCDTRT:AVISITVIS2": "ARMCD[T.TRT]:AVISIT[T.VIS2]",
    "ARMCDTRT:AVISITVIS3": "ARMCD[T.TRT]:AVISIT[T.VIS3]",
    "ARMCDTRT:AVISITVIS4": "ARMCD[T.TRT]:AVISIT[T.VIS4]",
    "RACEBlack or African American": "RACE[T.Black or African American]",
    "RACEWhite": "RACE[T.White]",
    "SEXFemale": "SEX[T.Female]",
}

# Comparisons at our optimum that miss both the relative tolerance and SAS's printed
# digits because SAS stopped short (ours vs SAS). -2LL at our optimum vs SAS's: full model
# 3386.4498712 vs 3386.4498772; intercept-only us REML 3700.9464793 vs 3700.9464857, ML
# 3700.6870678 vs 3700.6870757; cs REML 3917.9818311 vs 3917.9818351, ML 3918.1221421 vs
# 3918.1221454.
SAS_STOPPED_SHORT: dict[str, str] = {
    "full_us_reml/coef/AVISITVIS2/se": "0.801727 vs 0.8016 (1.6e-04 relative)",
    "full_us_reml/coef/ARMCDTRT:AVISITVIS2/estimate": "-0.0420901 vs -0.04231 (5.2e-03 relative)",
    "full_us_reml/coef/ARMCDTRT:AVISITVIS2/se": "1.12933 vs 1.1292 (1.2e-04 relative)",
    "full_us_reml/coef/ARMCDTRT:AVISITVIS3/estimate": "-0.693807 vs -0.6939 (1.3e-04 relative)",
    "full_us_reml/coef/SEXFemale/estimate": "0.326027 vs 0.3262 (5.3e-04 relative)",
    "full_us_reml/cov/cov12": "14.396 vs 14.3982 (1.5e-04 relative)",
    "full_us_reml/cov/cov13": "4.97604 vs 4.9744 (3.3e-04 relative)",
    "full_us_reml/cov/cov14": "13.3779 vs 13.3731 (3.6e-04 relative)",
    "full_us_reml/cov/cov23": "2.78362 vs 2.7851 (5.3e-04 relative)",
    "full_us_reml/cov/cov24": "7.47733 vs 7.479 (2.2e-04 relative)",
    "full_us_reml/cov/cov34": "0.903564 vs 0.9017 (2.1e-03 relative)",
    "full_us_reml/lsmean/VIS3 PBO/se": "0.461763 vs 0.4617 (1.4e-04 relative)",
    "simple_us_reml/t": "122.057 vs 122.07 (1.0e-04 relative)",
    "simple_us_reml/cov/21": "49.891 vs 49.8999 (1.8e-04 relative)",
    "simple_us_reml/cov/31": "2.74294 vs 2.7459 (1.1e-03 relative)",
    "simple_us_reml/cov/42": "-8.52786 vs -8.5335 (6.6e-04 relative)",
    "simple_us_reml/cov/43": "23.0685 vs 23.0555 (5.6e-04 relative)",
    "simple_us_reml/var/VIS3": "27.2734 vs 27.2643 (3.3e-04 relative)",
    "simple_us_reml/var/VIS4": "158.194 vs 158.17 (1.5e-04 relative)",
    "simple_us_ml/cov/21": "49.8019 vs 49.8121 (2.1e-04 relative)",
    "simple_us_ml/cov/31": "2.62049 vs 2.6246 (1.6e-03 relative)",
    "simple_us_ml/cov/32": "4.84042 vs 4.8398 (1.3e-04 relative)",
    "simple_us_ml/cov/42": "-8.65413 vs -8.6607 (7.6e-04 relative)",
    "simple_us_ml/cov/43": "22.9318 vs 22.9163 (6.8e-04 relative)",
    "cs_REML/rho": "0.0679213 vs 0.06783 (1.3e-03 relative)",
    "cs_ML/se": "0.427365 vs 0.4273 (1.5e-04 relative)",
    "cs_ML/rho": "0.0660378 vs 0.06596 (1.2e-03 relative)",
}


@functools.cache
def fev_fit(formula: str, covariance: str = "us", reml: bool = True, vcov: str = "asymptotic",
         optimizer: str = "newton"):
    df_method = "residual" if vcov == "empirical" else "satterthwaite"
    return mmrm(formula, load_fev(), subject="USUBJID", visit="AVISIT", covariance=covariance, reml=reml,
                vcov=vcov, df_method=df_method, optimizer=optimizer)


@functools.cache
def full_type3(optimizer: str = "newton") -> pd.DataFrame:
    """Type 3 tests of the full model."""
    return fev_fit(FULL, optimizer=optimizer).type3()


@functools.cache
def full_lsmeans(optimizer: str = "newton") -> LSMeans:
    """LS means of ARMCD by AVISIT in the full model."""
    return fev_fit(FULL, optimizer=optimizer).lsmeans("ARMCD", by="AVISIT")


def lsmean(ls: LSMeans, label: str, column: str) -> float:
    """One value of the LS mean of ``label`` ("ARM VISIT")."""
    return entry(ls.estimates, tuple(label.split()), column)


def lsmean_difference(ls: LSMeans, visit: str, column: str) -> float:
    """One value of TRT - PBO at ``visit``."""
    return entry(ls.differences, (visit, "TRT"), column)


def correlation_12(fit) -> float:
    """The correlation of the first two visits."""
    sigma = fit.covariance.to_numpy()
    return float(sigma[0, 1] / np.sqrt(sigma[0, 0] * sigma[1, 1]))


def _coefficient_cov(fit, i: int, j: int, sign: float = 1.0) -> float:
    return sign * fit.coefficient_cov.to_numpy()[i, j]


def _relative(ours: float, theirs: float) -> float:
    return abs(ours - theirs) / abs(theirs)


def same_printed(ours: float, theirs: float) -> bool:
    """Whether ``ours`` rounds to SAS's printed value (for values printed to few significant digits)."""
    decimals = len(repr(theirs).partition(".")[2])
    return abs(ours - theirs) <= 0.5 * 10.0**-decimals * (1 + 1e-9)


def sas_cases(sas: dict, optimizer: str = "newton") -> list[tuple[str, Lazy, float, str]]:
    """Every (id, ours, SAS, kind) comparison of the implemented parts, at our optimum; ``ours()`` fits.

    With ``optimizer="sas"``, those of the structures SAS's iterations are implemented for, at SAS's stopping point.
    """

    def fitted(structure: str) -> bool:
        return optimizer == "newton" or structure in SAS_STRUCTURES

    cases: list[tuple[str, Lazy, float, str]] = []
    full_sas = sas["full_us_reml"]
    full = functools.partial(fev_fit, FULL, optimizer=optimizer)
    cases.append(("full_us_reml/m2LL", Lazy(full, getattr, "m2_log_likelihood"), full_sas["m2_res_loglik"], "loglik"))
    cases += [
        ("full_us_reml/AIC", Lazy(full, getattr, "aic"), full_sas["AIC"], "criterion"),
        ("full_us_reml/AICC", Lazy(full, getattr, "aicc"), full_sas["AICC"], "criterion"),
        ("full_us_reml/BIC", Lazy(full, getattr, "bic"), full_sas["BIC_SAS_200subj"], "criterion"),
    ]
    for r_name, (estimate, se, df) in full_sas["coef"].items():
        term = R_NAMES[r_name]
        cases += [
            (f"full_us_reml/coef/{r_name}/estimate", Lazy(full, coefficient, term, "estimate"), estimate, "estimate"),
            (f"full_us_reml/coef/{r_name}/se", Lazy(full, coefficient, term, "se"), se, "estimate"),
            (f"full_us_reml/coef/{r_name}/df", Lazy(full, coefficient, term, "df"), df, "df"),
        ]
    cov_sas = full_sas["cov_natural_order_VIS1_VIS4"]
    for i, value in enumerate(cov_sas["var"]):
        cases.append((f"full_us_reml/cov/var{i + 1}", Lazy(full, sigma_entry, i, i), value, "estimate"))
    for key in ("cov12", "cov13", "cov14", "cov23", "cov24", "cov34"):
        i, j = int(key[3]) - 1, int(key[4]) - 1
        cases.append((f"full_us_reml/cov/{key}", Lazy(full, sigma_entry, i, j), cov_sas[key], "estimate"))
    type3 = functools.partial(full_type3, optimizer)
    for effect, (num_df, den_df, f) in full_sas["type3_F"].items():
        term = SAS_EFFECTS.get(effect, effect)
        cases += [
            (f"full_us_reml/type3/{effect}/num_df", Lazy(type3, entry, term, "num_df"), num_df, "exact"),
            (f"full_us_reml/type3/{effect}/den_df", Lazy(type3, entry, term, "den_df"), den_df, "df"),
            (f"full_us_reml/type3/{effect}/F", Lazy(type3, entry, term, "F"), f, "F"),
        ]
    ls = functools.partial(full_lsmeans, optimizer)
    for label, (estimate, se, df) in full_sas["lsmeans_ARMCD_by_AVISIT"].items():
        cases += [
            (f"full_us_reml/lsmean/{label}/estimate", Lazy(ls, lsmean, label, "estimate"), estimate, "estimate"),
            (f"full_us_reml/lsmean/{label}/se", Lazy(ls, lsmean, label, "se"), se, "estimate"),
            (f"full_us_reml/lsmean/{label}/df", Lazy(ls, lsmean, label, "df"), df, "lsmeans_df"),
        ]
    for visit, (estimate, se, df) in full_sas["lsmean_diff_TRT_minus_PBO"].items():
        cases += [
            (f"full_us_reml/lsmean_diff/{visit}/estimate", Lazy(ls, lsmean_difference, visit, "estimate"), estimate,
             "estimate"),
            (f"full_us_reml/lsmean_diff/{visit}/se", Lazy(ls, lsmean_difference, visit, "se"), se, "estimate"),
            (f"full_us_reml/lsmean_diff/{visit}/df", Lazy(ls, lsmean_difference, visit, "df"), df, "lsmeans_df"),
        ]

    for method, reml in (("reml", True), ("ml", False)):
        ref = sas["simple_us"][method]
        fit = functools.partial(fev_fit, "FEV1 ~ 1", reml=reml, optimizer=optimizer)
        tag = f"simple_us_{method}"
        cases += [
            (f"{tag}/m2LL", Lazy(fit, getattr, "m2_log_likelihood"), ref["m2LL"], "loglik"),
            (f"{tag}/intercept/estimate", Lazy(fit, coefficient, "Intercept", "estimate"), ref["intercept"][0],
             "estimate"),
            (f"{tag}/intercept/se", Lazy(fit, coefficient, "Intercept", "se"), ref["intercept"][1], "estimate"),
            (f"{tag}/intercept/df", Lazy(fit, coefficient, "Intercept", "df"), ref["intercept"][2], "df"),
        ]
        if "t" in ref:
            cases.append((f"{tag}/t", Lazy(fit, coefficient, "Intercept", "t"), ref["t"], "estimate"))
        lower = next(value for key, value in ref.items() if key.startswith("cov_lower_tri"))
        for key, value in zip(("21", "31", "41", "32", "42", "43"), lower, strict=True):
            cases.append((f"{tag}/cov/{key}", Lazy(fit, sigma_entry, int(key[0]) - 1, int(key[1]) - 1), value,
                          "estimate"))
        for i, value in enumerate(ref.get("var_VIS1_VIS4", [])):
            cases.append((f"{tag}/var/VIS{i + 1}", Lazy(fit, sigma_entry, i, i), value, "estimate"))

    for key, ref in sas["intercept_only"].items():
        structure, method = key.split("_")
        if not fitted(structure):
            continue
        fit = functools.partial(fev_fit, "FEV1 ~ 1", covariance=structure, reml=method == "REML", optimizer=optimizer)
        cases += [
            (f"{key}/m2LL", Lazy(fit, getattr, "m2_log_likelihood"), ref["deviance"], "loglik"),
            (f"{key}/intercept", Lazy(fit, coefficient, "Intercept", "estimate"), ref["intercept"], "estimate"),
            (f"{key}/se", Lazy(fit, coefficient, "Intercept", "se"), ref["se"], "estimate"),
        ]
        for i, value in enumerate(np.atleast_1d(ref["var"])):
            cases.append((f"{key}/var{i + 1}", Lazy(fit, sigma_entry, i, i), float(value), "estimate"))
        if "rho" in ref:
            cases.append((f"{key}/rho", Lazy(fit, correlation_12), ref["rho"], "estimate"))
        for lag, value in enumerate(ref.get("cov_lag1_2_3", []), start=1):
            cases.append((f"{key}/cov_lag{lag}", Lazy(fit, sigma_entry, 0, lag), value, "estimate"))

    for structure, (a, b) in sas["empirical_vcov_ARMCD_model"]["unweighted_a_b"].items():
        if not fitted(structure):
            continue
        fit = functools.partial(fev_fit, "FEV1 ~ ARMCD", covariance=structure, vcov="empirical", optimizer=optimizer)
        cases += [
            (f"empirical_{structure}/a", Lazy(fit, _coefficient_cov, 0, 0), a, "estimate"),
            (f"empirical_{structure}/-a", Lazy(fit, _coefficient_cov, 0, 1, -1.0), a, "estimate"),
            (f"empirical_{structure}/b", Lazy(fit, _coefficient_cov, 1, 1), b, "estimate"),
        ]

    for structure, (estimate, _, _, df, m2ll) in sas["kenward_roger_ARMCD_model"]["values"].items():
        if not fitted(structure):
            continue
        fit = functools.partial(fev_fit, "FEV1 ~ ARMCD", covariance=structure, optimizer=optimizer)
        cases += [
            (f"armcd_{structure}/m2LL", Lazy(fit, getattr, "m2_log_likelihood"), m2ll, "loglik"),
            (f"armcd_{structure}/estimate", Lazy(fit, coefficient, "ARMCD[T.TRT]", "estimate"), estimate,
             "estimate"),
            # For one contrast SAS's Kenward-Roger df is Satterthwaite's (R mmrm's test-satterthwaite.R).
            (f"armcd_{structure}/df", Lazy(fit, coefficient, "ARMCD[T.TRT]", "df"), round(df), "df"),
        ]
    return cases


def _params(sas: dict) -> list:
    """pytest params (name, ours, SAS, kind, reason): ``reason`` is ``SAS_STOPPED_SHORT``'s text, else ``None``."""
    return [pytest.param(*case, SAS_STOPPED_SHORT.get(case[0]), id=case[0]) for case in sas_cases(sas)]


@pytest.mark.parametrize("name, ours, theirs, kind, reason", _params(SAS))
def test_matches_sas(name: str, ours: Lazy, theirs: float, kind: str, reason: str | None) -> None:
    ours = ours()
    if reason is not None:
        # SAS stopped short of the optimum: our value pinned, its distance from SAS bounded by the measured one.
        stopped_short.check(name, ours, theirs, reason)
    elif kind == "loglik":
        assert _relative(ours, theirs) <= LOGLIK
    elif kind == "estimate":
        assert _relative(ours, theirs) <= ESTIMATE or same_printed(ours, theirs)
    elif kind == "df":
        assert round(ours) == theirs
    elif kind == "lsmeans_df":
        assert abs(ours - theirs) < LSMEANS_DF
    elif kind == "F":
        assert _relative(ours, theirs) <= F_STATISTIC or same_printed(ours, theirs)
    elif kind == "exact":
        assert ours == theirs
    else:
        assert abs(ours - theirs) <= CRITERION


def test_our_optimum_is_not_worse_than_sas() -> None:
    for name, ours, theirs, kind in sas_cases(SAS):
        if kind == "loglik":
            assert ours() <= theirs * (1 + SAS_PARAMETERS_LOGLIK), name


def _at(formula: str, covariance: str, reml: bool, theta: np.ndarray):
    data = prepare_data(formula, load_fev(), subject="USUBJID", visit="AVISIT")
    stats = PatternStats.from_rows(data.x, data.y, subject=data.subject, visit=data.visit, k=4)
    return evaluate(stats, get_structure(covariance, 4), theta, reml=reml, order=1)


def _us_theta(sigma: np.ndarray) -> np.ndarray:
    return get_structure("us", 4).start(sigma)


def _assert_printed(ours: float, theirs: float, name: str) -> None:
    assert same_printed(ours, theirs), f"{name}: {ours} vs SAS {theirs}"


def _full_model_at_sas():
    cov = SAS["full_us_reml"]["cov_natural_order_VIS1_VIS4"]
    sigma = np.diag(cov["var"])
    for key in ("cov12", "cov13", "cov14", "cov23", "cov24", "cov34"):
        i, j = int(key[3]) - 1, int(key[4]) - 1
        sigma[i, j] = sigma[j, i] = cov[key]
    return _at(FULL, "us", True, _us_theta(sigma))


def test_at_sas_parameters_full_model() -> None:
    """At SAS's printed covariance matrix our -2LL, estimates, SEs and LS means are SAS's."""
    ref = SAS["full_us_reml"]
    at = _full_model_at_sas()
    assert _relative(at.value, ref["m2_res_loglik"]) <= SAS_PARAMETERS_LOGLIK
    names = list(fev_fit(FULL).coefficients.index)
    se = np.sqrt(np.diag(at.beta_cov))
    for r_name, (estimate, standard_error, _) in ref["coef"].items():
        position = names.index(R_NAMES[r_name])
        _assert_printed(at.beta[position], estimate, r_name)
        _assert_printed(se[position], standard_error, r_name)
    ls = full_lsmeans()
    rows = ls.contrasts.to_numpy()
    for position, label in enumerate(ls.estimates.index):
        estimate, standard_error, _ = ref["lsmeans_ARMCD_by_AVISIT"][" ".join(label)]
        _assert_printed(rows[position] @ at.beta, estimate, str(label))
        _assert_printed(np.sqrt(rows[position] @ at.beta_cov @ rows[position]), standard_error, str(label))


def test_at_sas_parameters_intercept_only_us() -> None:
    """REML only: the reference lacks SAS's ML variances."""
    ref = SAS["simple_us"]["reml"]
    sigma = np.diag(ref["var_VIS1_VIS4"])
    lower = ref["cov_lower_tri_mmrm_order(21,31,41,32,42,43)"]
    for key, value in zip(("21", "31", "41", "32", "42", "43"), lower, strict=True):
        i, j = int(key[0]) - 1, int(key[1]) - 1
        sigma[i, j] = sigma[j, i] = value
    at = _at("FEV1 ~ 1", "us", True, _us_theta(sigma))
    assert _relative(at.value, ref["m2LL"]) <= SAS_PARAMETERS_LOGLIK
    _assert_printed(at.beta[0], ref["intercept"][0], "intercept")
    _assert_printed(np.sqrt(at.beta_cov[0, 0]), ref["intercept"][1], "se")
    _assert_printed(at.beta[0] / np.sqrt(at.beta_cov[0, 0]), ref["t"], "t")


def test_at_sas_parameters_type3_f_statistics() -> None:
    """The F statistics (not the df, which need the Hessian at an optimum) at SAS's covariance matrix."""
    at = _full_model_at_sas()
    fit = fev_fit(FULL)
    inference = dataclasses.replace(fit._inference, beta_cov=at.beta_cov)
    type3 = type3_tests(fit._data, at.beta, inference)
    for effect, (_, _, f) in SAS["full_us_reml"]["type3_F"].items():
        _assert_printed(type3.loc[SAS_EFFECTS.get(effect, effect), "F"], f, effect)


@pytest.mark.parametrize("key", ["cs_REML", "cs_ML"])
def test_at_sas_parameters_compound_symmetry(key: str) -> None:
    ref = SAS["intercept_only"][key]
    lower = -1 / 3
    fraction = (ref["rho"] - lower) / (1 - lower)
    theta = np.array([np.log(ref["var"]), np.log(fraction / (1 - fraction))])
    at = _at("FEV1 ~ 1", "cs", key.endswith("REML"), theta)
    assert _relative(at.value, ref["deviance"]) <= SAS_PARAMETERS_LOGLIK
    _assert_printed(at.beta[0], ref["intercept"], "intercept")
    _assert_printed(np.sqrt(at.beta_cov[0, 0]), ref["se"], "se")
