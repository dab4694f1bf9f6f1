"""Which interval and test reproduce A2201's responder difference: 28% (95% CI 8.2% to 46.4%, p = 0.002)?

The paper (SAS 9.4) reports ESSDAI responders at week 24 as 61% on placebo (n = 49) and 89%
on 300 mg (n = 47), "Clopper-Pearson method" per arm, and a difference of 28% (95% CI 8.2%
to 46.4%, p = 0.002). This script enumerates the responder counts consistent with the rounded
percentages (and, for robustness, with arm sizes a few patients either side) and, for each, the
usual two-sample intervals for a difference of proportions and the usual tests, and prints the
ones nearest to the published digits. It is independent of the package (formulas written out
here from the papers), so it also serves as a check of ``dosefinding.endpoints``.

Run: ``python examples/responder_interval_search.py`` (about 1 minute: the exact unconditional
intervals maximise over the nuisance parameter on a grid). Its output is committed beside it as
``examples/responder_interval_search.txt``.

Intervals (arm minus placebo, 95%):

* ``wald`` / ``wald_cc``: Wald, without and with the continuity correction ``(1/n1 + 1/n2)/2``;
* ``newcombe`` / ``newcombe_cc``: hybrid score, Newcombe (1998) methods 10 and 11 (Wilson limits
  without and with continuity correction);
* ``agresti_caffo``: Wald after adding one responder and one non-responder to each arm;
* ``hauck_anderson``: Wald with the ``n - 1`` variance and the ``1/(2 min(n))`` correction;
* ``miettinen_nurminen`` / ``farrington_manning``: score intervals with the restricted MLE
  variance, with and without the ``N/(N-1)`` factor;
* ``mover_clopper_pearson``: Newcombe's square-and-add with the Clopper-Pearson limits of
  each arm; ``mover_jeffreys`` the same with Jeffreys limits; ``clopper_pearson_extremes``:
  ``[L1 - U2, U1 - L2]``, the difference of the per-arm exact limits;
* ``chan_zhang``: exact unconditional, inverting two one-sided tests of the score statistic,
  2.5% each, the nuisance maximised (SAS ``RISKDIFF(CL=EXACT)``, ``METHOD=SCORE``);
  ``santner_snell``: the same with the raw difference as the statistic (``METHOD=NOSCORE``);
  ``agresti_min``: the exact unconditional interval inverting one two-sided score test.

Tests (two-sided p): Pearson chi-square, Yates-corrected chi-square, Fisher exact (R's
two-sided, and twice the one-sided), Barnard's and Boschloo's exact unconditional tests,
the exact unconditional test of the raw difference (Santner-Snell's statistic at
``delta = 0``, two-sided), the CMH test without strata (Pearson's times ``(N-1)/N``), logistic regression Wald and
likelihood-ratio tests of the arm effect. A logistic model or CMH test with the
randomisation stratum (ESSDAI >= 10) cannot be reproduced: the paper gives no counts per
stratum.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy import optimize, stats

PUBLISHED = {"lower": 8.2, "upper": 46.4, "p": 0.002}
Z = float(stats.norm.isf(0.025))
NUISANCE_GRID = np.linspace(0.0, 1.0, 2001)


def wilson(x: int, n: int, cc: bool = False) -> tuple[float, float]:
    p, q = x / n, 1 - x / n
    if not cc:
        centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
        half = Z * np.sqrt(p * q / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
        return centre - half, centre + half
    denominator = 2 * (n + Z * Z)  # Newcombe (1998a), method 4
    lower = (2 * n * p + Z * Z - 1 - Z * np.sqrt(Z * Z - 2 - 1 / n + 4 * p * (n * q + 1))) / denominator
    upper = (2 * n * p + Z * Z + 1 + Z * np.sqrt(Z * Z + 2 - 1 / n + 4 * p * (n * q - 1))) / denominator
    return (0.0 if x == 0 else lower), (1.0 if x == n else upper)


def clopper_pearson(x: int, n: int) -> tuple[float, float]:
    lower = stats.beta.ppf(0.025, x, n - x + 1) if x > 0 else 0.0
    upper = stats.beta.isf(0.025, x + 1, n - x) if x < n else 1.0
    return float(lower), float(upper)


def jeffreys(x: int, n: int) -> tuple[float, float]:
    lower = stats.beta.ppf(0.025, x + 0.5, n - x + 0.5) if x > 0 else 0.0
    upper = stats.beta.isf(0.025, x + 0.5, n - x + 0.5) if x < n else 1.0
    return float(lower), float(upper)


def mover(x1: int, n1: int, x2: int, n2: int, limits) -> tuple[float, float]:
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = limits(x1, n1)
    l2, u2 = limits(x2, n2)
    d = p1 - p2
    return d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def restricted_mle(x1, n1, x2, n2, delta):
    """Maximum likelihood (p1, p2) under p1 - p2 = delta (Farrington & Manning 1990, eq. 3); broadcasts."""
    p1, p2 = np.asarray(x1) / n1, np.asarray(x2) / n2
    theta = n2 / n1
    a = 1.0 + theta
    b = -(1.0 + theta + p1 + theta * p2 + delta * (theta + 2.0))
    c = delta * delta + delta * (2.0 * p1 + theta + 1.0) + p1 + theta * p2
    d = -p1 * delta * (1.0 + delta)
    v = b**3 / (27.0 * a**3) - b * c / (6.0 * a * a) + d / (2.0 * a)
    u = np.sign(v) * np.sqrt(np.maximum(b * b / (9.0 * a * a) - c / (3.0 * a), 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(u != 0, v / u**3, 0.0)
    w = (np.pi + np.arccos(np.clip(ratio, -1.0, 1.0))) / 3.0
    r1 = np.clip(2.0 * u * np.cos(w) - b / (3.0 * a), 0.0, 1.0)
    return r1, np.clip(r1 - delta, 0.0, 1.0)


def score_z(x1, n1, x2, n2, delta, factor: bool):
    """(p1 - p2 - delta) / sqrt(V(delta)) with the restricted MLE variance (times N/(N-1) if ``factor``)."""
    r1, r2 = restricted_mle(x1, n1, x2, n2, delta)
    variance = r1 * (1 - r1) / n1 + r2 * (1 - r2) / n2
    if factor:
        variance = variance * (n1 + n2) / (n1 + n2 - 1)
    numerator = np.asarray(x1) / n1 - np.asarray(x2) / n2 - delta
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(numerator == 0, 0.0, numerator / np.sqrt(variance))


def score_interval(x1: int, n1: int, x2: int, n2: int, factor: bool) -> tuple[float, float]:
    d = x1 / n1 - x2 / n2
    lower = optimize.brentq(lambda t: float(score_z(x1, n1, x2, n2, t, factor)) - Z, -0.999999, d)
    upper = optimize.brentq(lambda t: float(score_z(x1, n1, x2, n2, t, factor)) + Z, d, 0.999999)
    return lower, upper


def exact_tails(x1: int, n1: int, x2: int, n2: int, delta: float, statistic: str) -> tuple[float, float, float]:
    """Largest probabilities over the nuisance p2 of T >= T_obs, T <= T_obs and |T| >= |T_obs| at ``delta``."""
    k1, k2 = np.meshgrid(np.arange(n1 + 1), np.arange(n2 + 1), indexing="ij")
    if statistic == "score":
        t = score_z(k1, n1, k2, n2, delta, factor=False)
        t_obs = float(score_z(x1, n1, x2, n2, delta, factor=False))
    else:
        t = k1 / n1 - k2 / n2
        t_obs = x1 / n1 - x2 / n2
    eps = 1e-9 * max(1.0, abs(t_obs))
    p2 = NUISANCE_GRID[(NUISANCE_GRID >= max(0.0, -delta)) & (NUISANCE_GRID <= min(1.0, 1.0 - delta))]
    p1 = np.clip(p2 + delta, 0.0, 1.0)
    f1 = stats.binom.pmf(np.arange(n1 + 1)[:, None], n1, p1[None, :])  # (n1+1, grid)
    f2 = stats.binom.pmf(np.arange(n2 + 1)[:, None], n2, p2[None, :])
    def tail(mask: np.ndarray) -> float:
        return float(np.max(np.einsum("ig,ij,jg->g", f1, mask.astype(float), f2)))
    return tail(t >= t_obs - eps), tail(t <= t_obs + eps), tail(np.abs(t) >= abs(t_obs) - eps)


def exact_interval(x1: int, n1: int, x2: int, n2: int, statistic: str, two_sided: bool) -> tuple[float, float]:
    """Exact unconditional limits: the deltas where the largest tail probability crosses the level."""
    d = x1 / n1 - x2 / n2
    if two_sided:
        def lower_f(t): return exact_tails(x1, n1, x2, n2, t, statistic)[2] - 0.05
        upper_f = lower_f
    else:
        def lower_f(t): return exact_tails(x1, n1, x2, n2, t, statistic)[0] - 0.025
        def upper_f(t): return exact_tails(x1, n1, x2, n2, t, statistic)[1] - 0.025
    lower = optimize.brentq(lower_f, -0.99, d - 1e-6, xtol=1e-5)
    upper = optimize.brentq(upper_f, d + 1e-6, 0.99, xtol=1e-5)
    return lower, upper


def intervals(x1: int, n1: int, x2: int, n2: int, exact: bool) -> dict[str, tuple[float, float]]:
    """Every interval for p1 - p2 (arm 1 minus arm 2)."""
    p1, p2 = x1 / n1, x2 / n2
    d = p1 - p2
    se = np.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    cc = (1 / n1 + 1 / n2) / 2
    a1, a2 = (x1 + 1) / (n1 + 2), (x2 + 1) / (n2 + 2)
    se_ac = np.sqrt(a1 * (1 - a1) / (n1 + 2) + a2 * (1 - a2) / (n2 + 2))
    se_ha = np.sqrt(p1 * (1 - p1) / (n1 - 1) + p2 * (1 - p2) / (n2 - 1))
    cc_ha = 1 / (2 * min(n1, n2))
    cp1, cp2 = clopper_pearson(x1, n1), clopper_pearson(x2, n2)
    out = {
        "wald": (d - Z * se, d + Z * se),
        "wald_cc": (d - Z * se - cc, d + Z * se + cc),
        "newcombe": mover(x1, n1, x2, n2, wilson),
        "newcombe_cc": mover(x1, n1, x2, n2, lambda x, n: wilson(x, n, cc=True)),
        "agresti_caffo": (a1 - a2 - Z * se_ac, a1 - a2 + Z * se_ac),
        "hauck_anderson": (d - Z * se_ha - cc_ha, d + Z * se_ha + cc_ha),
        "miettinen_nurminen": score_interval(x1, n1, x2, n2, factor=True),
        "farrington_manning": score_interval(x1, n1, x2, n2, factor=False),
        "mover_clopper_pearson": mover(x1, n1, x2, n2, clopper_pearson),
        "mover_jeffreys": mover(x1, n1, x2, n2, jeffreys),
        "clopper_pearson_extremes": (cp1[0] - cp2[1], cp1[1] - cp2[0]),
    }
    if exact:
        out["chan_zhang"] = exact_interval(x1, n1, x2, n2, "score", two_sided=False)
        out["santner_snell"] = exact_interval(x1, n1, x2, n2, "difference", two_sided=False)
        out["agresti_min"] = exact_interval(x1, n1, x2, n2, "score", two_sided=True)
    return {k: (100 * lo, 100 * hi) for k, (lo, hi) in out.items()}


def logistic_tests(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float]:
    """Wald and likelihood-ratio p-values of the arm effect in a logistic regression (closed form for 2 x 2)."""
    log_or = np.log(x1 / (n1 - x1)) - np.log(x2 / (n2 - x2))
    se = np.sqrt(1 / x1 + 1 / (n1 - x1) + 1 / x2 + 1 / (n2 - x2))
    wald = 2 * stats.norm.sf(abs(log_or) / se)
    observed = np.array([x1, n1 - x1, x2, n2 - x2], dtype=float)
    pooled = (x1 + x2) / (n1 + n2)
    expected = np.array([n1 * pooled, n1 * (1 - pooled), n2 * pooled, n2 * (1 - pooled)])
    g2 = 2 * np.sum(observed * np.log(observed / expected))
    return float(wald), float(stats.chi2.sf(g2, 1))


def tests(x1: int, n1: int, x2: int, n2: int, exact: bool) -> dict[str, float]:
    table = np.array([[x1, n1 - x1], [x2, n2 - x2]])
    pearson = stats.chi2_contingency(table, correction=False)
    total = n1 + n2
    out = {
        "pearson_chisq": float(pearson.pvalue),
        "yates_chisq": float(stats.chi2_contingency(table, correction=True).pvalue),
        "fisher_two_sided": float(stats.fisher_exact(table).pvalue),
        "fisher_one_sided_doubled": min(1.0, 2 * float(min(stats.fisher_exact(table, "greater").pvalue,
                                                        stats.fisher_exact(table, "less").pvalue))),
        "cmh_no_strata": float(stats.chi2.sf(pearson.statistic * (total - 1) / total, 1)),
    }
    out["logistic_wald"], out["logistic_lr"] = logistic_tests(x1, n1, x2, n2)
    if exact:
        out["barnard"] = float(stats.barnard_exact(table, n=64).pvalue)
        out["boschloo"] = float(stats.boschloo_exact(table, n=64).pvalue)
        out["exact_unconditional_difference"] = min(1.0, exact_tails(x1, n1, x2, n2, 0.0, "difference")[2])
    return out


def candidates() -> list[tuple[int, int, int, int]]:
    """(x1, n1, x2, n2) of 300 mg and placebo: the published n first, then n a few either side, rounding to 89% and 61%."""
    found = []
    for n1, n2 in itertools.product(range(44, 51), range(46, 53)):
        for x1, x2 in itertools.product(range(n1 + 1), range(n2 + 1)):
            if round(100 * x1 / n1) == 89 and round(100 * x2 / n2) == 61:
                found.append((x1, n1, x2, n2))
    return sorted(found, key=lambda c: (abs(c[1] - 47) + abs(c[3] - 49), c))


def main() -> None:
    rows = []
    for x1, n1, x2, n2 in candidates():
        published_n = (n1, n2) == (47, 49)
        for name, (lo, hi) in intervals(x1, n1, x2, n2, exact=published_n).items():
            rows.append({"counts": f"{x1}/{n1} vs {x2}/{n2}", "kind": "interval", "method": name,
                         "lower": lo, "upper": hi, "distance": max(abs(lo - 8.2), abs(hi - 46.4))})
        for name, p in tests(x1, n1, x2, n2, exact=published_n).items():
            rows.append({"counts": f"{x1}/{n1} vs {x2}/{n2}", "kind": "test", "method": name, "p": p,
                         "distance": abs(p - 0.002) / 0.0005})
    frame = pd.DataFrame(rows)
    pd.set_option("display.width", 160)
    pd.set_option("display.max_rows", 500)
    published = frame[frame["counts"] == "42/47 vs 30/49"]
    print("Published: 89% (n = 47) vs 61% (n = 49), difference 28%, 95% CI 8.2% to 46.4%, p = 0.002")
    print("\nAt the published n (42/47 vs 30/49, the only counts rounding to 89% and 61%):")
    print(published[published["kind"] == "interval"][["method", "lower", "upper"]].round(2).to_string(index=False))
    print(published[published["kind"] == "test"][["method", "p"]].round(5).to_string(index=False))
    print("\nIntervals nearest to 8.2 to 46.4 over all counts with n1 in 44..50, n2 in 46..52 "
          "(distance: larger of the two limit errors, percentage points):")
    near = frame[frame["kind"] == "interval"].nsmallest(15, "distance")
    print(near[["counts", "method", "lower", "upper", "distance"]].round(2).to_string(index=False))
    match = frame[(frame["kind"] == "interval") & (frame["lower"].round(1) == 8.2) & (frame["upper"].round(1) == 46.4)]
    print("\nIntervals that round to 8.2 and 46.4:", "none" if match.empty else "")
    if not match.empty:
        print(match[["counts", "method", "lower", "upper"]].round(3).to_string(index=False))
    p_match = published[(published["kind"] == "test") & (published["p"].round(3) == 0.002)]
    print("\nTests at the published n that round to p = 0.002:",
          ", ".join(f"{m} ({p:.5f})" for m, p in zip(p_match["method"], p_match["p"], strict=True)) or "none")


if __name__ == "__main__":
    main()
