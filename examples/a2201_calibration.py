"""How the a2201 preset reproduces the published A2201 figures (all data simulated: synthetic).

    python examples/a2201_calibration.py            # population values against the published ones
    python examples/a2201_calibration.py --fit      # refit the ESSDAI class parameters and dropout rate

The population values come from one large simulated trial (20,000 subjects per arm by
default) analysed with plain pandas, the way the calibration test does it. "z" is the
distance from the published figure in units of its standard error (published n per arm).
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import pandas as pd
from scipy import optimize

from dosefinding.study import TrialSpec, load_spec, simulate_endpoint_matrix, simulate_trial

PUBLISHED_N = np.array([49, 47, 47, 47])
RESPONDERS = [0.61, 0.62, 0.72, 0.89]
LOW = [0.35, 0.48, 0.52, 0.61]
HIGH = [0.15, 0.14, 0.10, 0.02]
DIFF, SD = -1.92, 5.6
COMPLETERS = 182 / 190  # of the study: published 178 completed the treatment period; the 4 who stopped for AEs
# attend the remaining visits off treatment (assumed), so 8 of the 12 leave the study ([dropout])
PROFILE_NON = np.array([0.4, 0.6, 0.8, 0.9, 1.0, 1.0])
PROFILE_CLASS = np.array([0.35, 0.6, 0.75, 0.85, 0.95, 1.0])


def large(spec: TrialSpec, n: int) -> TrialSpec:
    return dataclasses.replace(spec, arms=tuple(dataclasses.replace(a, n=n) for a in spec.arms))


def essdai_figures(spec: TrialSpec, n: int, seed: int) -> dict[str, np.ndarray | float]:
    """Responders (NRI), categories among the observed, mean difference, baseline-adjusted SD, completers."""
    m = simulate_endpoint_matrix(large(spec, n), "ESSDAI", seed=seed)
    y, base, arm = m.values[0, :, -1], m.base[0], m.arm
    chg, seen = y - base, ~np.isnan(y)
    out: dict[str, list[float]] = {"responders": [], "low": [], "high": [], "mean": []}
    residuals = []
    for a in range(len(spec.arms)):
        s = arm == a
        out["responders"].append(float(np.mean(seen[s] & (chg[s] <= -3))))
        out["low"].append(float(np.mean(y[s & seen] < 5)))
        out["high"].append(float(np.mean(y[s & seen] > 13)))
        out["mean"].append(float(np.nanmean(chg[s])))
        x = np.c_[np.ones((s & seen).sum()), base[s & seen]]
        c = chg[s & seen]
        residuals.append(c - x @ np.linalg.lstsq(x, c, rcond=None)[0])
    return {
        **{k: np.array(v) for k, v in out.items()},
        "diff": out["mean"][-1] - out["mean"][0],
        "sd": float(np.sqrt(np.mean(np.concatenate(residuals) ** 2))),
        "completers": float(seen.mean()),
        "baseline": float(base.mean()),
        "ge10": float(np.mean(base >= 10)),
    }


def with_parameters(spec: TrialSpec, p: np.ndarray) -> TrialSpec:
    """The preset with the ESSDAI class parameters and dropout rate ``p`` (the order of ``--fit``)."""
    m0, s0, b0, p0, p2, p3, shift, s1, b1, rate = p
    e = spec.endpoint("ESSDAI")
    classes = dataclasses.replace(
        e.classes, probability=(p0, p0, p2, p3), shift=tuple(shift * PROFILE_CLASS), sd=(s1,) * 6, baseline_slope=b1
    )
    means = np.repeat((m0 * PROFILE_NON)[None, :], len(spec.arms), axis=0)
    essdai = dataclasses.replace(e, means=means, sd=(s0,) * 6, baseline_slope=b0, classes=classes)
    endpoints = tuple(essdai if x.paramcd == "ESSDAI" else x for x in spec.endpoints)
    dropout = dataclasses.replace(spec.dropout, rate=(rate,) * len(spec.arms))
    return dataclasses.replace(spec, endpoints=endpoints, dropout=dropout)


def loss(p: np.ndarray, spec: TrialSpec) -> float:
    if not (0 <= p[3] <= p[4] <= p[5] <= 1 and p[1] > 0.1 and p[7] > 0.1 and 0 < p[9] < 0.2):
        return 1e6
    f = essdai_figures(with_parameters(spec, p), 20_000, seed=5)
    total = 0.0
    for key, target in (("responders", RESPONDERS), ("low", LOW), ("high", HIGH)):
        t = np.array(target)
        total += float(np.sum(((f[key] - t) / np.sqrt(t * (1 - t) / PUBLISHED_N)) ** 2))
    total += 4 * ((f["diff"] - DIFF) / 1.14) ** 2  # the primary endpoint counts four times
    total += ((f["sd"] - SD) / 0.3) ** 2 + ((f["completers"] - COMPLETERS) / 0.005) ** 2
    return total


def fit(spec: TrialSpec) -> np.ndarray:
    e = spec.endpoint("ESSDAI")
    start = np.array([e.means[0, -1], e.sd[-1], e.baseline_slope, e.classes.probability[0], e.classes.probability[2],
                      e.classes.probability[3], e.classes.shift[-1], e.classes.sd[-1], e.classes.baseline_slope,
                      spec.dropout.rate[0]])
    result = optimize.minimize(loss, start, args=(spec,), method="Nelder-Mead",
                               options={"maxiter": 600, "xatol": 1e-3, "fatol": 1e-3})
    return result.x


def population_table(spec: TrialSpec, n: int, seed: int) -> pd.DataFrame:
    f = essdai_figures(spec, n, seed)
    rows = []

    def add(name: str, published: float, value: float, se: float) -> None:
        rows.append({"figure": name, "published": published, "population": value, "SE": se,
                     "z": (value - published) / se})

    arms = ["placebo", "5 mg", "50 mg", "300 mg"]
    add("ESSDAI baseline mean", 13.5, f["baseline"], 6.2 / np.sqrt(190))
    add("ESSDAI baseline >= 10", 0.70, f["ge10"], np.sqrt(0.21 / 190))
    add("completed the study, of 190 (178 + 4 followed)", 182, 190 * f["completers"],
        np.sqrt(190 * COMPLETERS * (1 - COMPLETERS)))
    for key, target in (("responders", RESPONDERS), ("low", LOW), ("high", HIGH)):
        for a, name in enumerate(arms):
            t = target[a]
            add(f"ESSDAI {key} {name}", t, float(f[key][a]), np.sqrt(t * (1 - t) / PUBLISHED_N[a]))
    add("ESSDAI 300 mg - placebo", DIFF, float(f["diff"]), SD * np.sqrt(2 / 47))
    add("ESSDAI SD (baseline-adjusted)", SD, float(f["sd"]), SD / np.sqrt(2 * 180))

    sc = spec.screening
    p_fail, p_other = sc.ineligible, (1 - sc.ineligible) * sc.other
    p_rand = 1 - p_fail - p_other
    not_randomised, variance = 190 * (1 - p_rand) / p_rand, 190 * (1 - p_rand) / p_rand**2
    add("screened for 190 randomised", 293, 190 + not_randomised, np.sqrt(variance))
    q = p_fail / (p_fail + p_other)
    add("failed the inclusion criteria", 96, q * not_randomised, np.sqrt(not_randomised * q * (1 - q) + q**2 * variance))

    trial = simulate_trial(large(spec, n // 4), seed=seed)
    adsl = trial.adsl
    for name, published in (("ANAFL", [0.98, 0.87, 0.85, 0.87]), ("RFFL", [0.33, 0.39, 0.40, 0.43]),
                            ("HYPERGFL", [0.53, 0.45, 0.43, 0.49])):
        pooled = float(np.dot(published, PUBLISHED_N) / PUBLISHED_N.sum())
        add(f"{name} (pooled over arms)", pooled, float((adsl[name] == "Y").mean()), np.sqrt(pooled * (1 - pooled) / 190))
    add("time since diagnosis, mean (5-7 years)", 6.0, float(adsl["DIAGDUR"].mean()), 5 / np.sqrt(190))
    treated = float((adsl["EOTSTT"] == "COMPLETED").mean())
    add("completed the treatment period, of 190", 178, 190 * treated, np.sqrt(190 * (178 / 190) * (12 / 190)))
    for a, (arm, published) in enumerate(zip(arms, (0, 2, 2, 0), strict=True)):
        stopped = float((adsl.loc[adsl["TRT01PN"] == spec.doses[a], "DCTREAS"] == "ADVERSE EVENT").mean())
        add(f"stopped treatment for an AE, {arm}", published, PUBLISHED_N[a] * stopped,
            max(np.sqrt(PUBLISHED_N[a] * (2 / 47) * (45 / 47)), 1e-9))
    week = trial.adeff[trial.adeff["AVISITN"] == 24]
    for paramcd, published, sd in (("PHGA", -8.4, 17.7), ("SFSTIM", 0.22, 0.46), ("ESSPRI", 0.0, 1.8),
                                   ("PAGA", 0.0, 22.0), ("FACITF", 0.0, 8.0), ("SF36PCS", 0.0, 7.0),
                                   ("SF36MCS", 0.0, 8.0), ("SFUNSTIM", 0.0, 0.08)):
        means = week[week["PARAMCD"] == paramcd].groupby("TRTPN")["CHG"].mean()
        add(f"{paramcd} 300 mg - placebo", published, means[300.0] - means[0.0], sd * np.sqrt(2 / 47))
    adae, n_arm = trial.adae, trial.adsl.groupby("TRT01AN").size()

    def incidence(rows_: pd.DataFrame) -> pd.Series:
        return rows_.groupby("TRTAN")["USUBJID"].nunique().reindex(n_arm.index, fill_value=0) / n_arm

    checks = {
        "any AE": (adae, [0.84, 0.85, 0.83, 0.94]),
        "injection-site reactions": (adae[adae["AEDECOD"] == "INJECTION SITE REACTION"], [0.04, 0.09, 0.19, 0.53]),
        "injection-related reactions": (adae[adae["AEDECOD"] == "INJECTION RELATED REACTION"],
                                        [0.04, 0.13, 0.11, 0.09]),
        "infections (SOC)": (adae[adae["AEBODSYS"] == "INFECTIONS AND INFESTATIONS"], [0.57, 0.53, 0.47, 0.49]),
        "blood (SOC)": (adae[adae["AEBODSYS"] == "BLOOD AND LYMPHATIC SYSTEM DISORDERS"], [0.10, 0.11, 0.13, 0.15]),
        "injury (SOC)": (adae[adae["AEBODSYS"] == "INJURY, POISONING AND PROCEDURAL COMPLICATIONS"], [0.16] * 4),
        "leukopenia": (adae[adae["AEDECOD"] == "LEUKOPENIA"], [0.04, 0.06, 0.04, 0.13]),
        "neutropenia": (adae[adae["AEDECOD"] == "NEUTROPENIA"], [0.02, 0.06, 0.02, 0.09]),
    }
    for name, (events, target) in checks.items():
        observed = incidence(events).to_numpy()
        for a, arm in enumerate(arms):
            add(f"{name} {arm}", target[a], observed[a], np.sqrt(target[a] * (1 - target[a]) / PUBLISHED_N[a]))
    return pd.DataFrame(rows).set_index("figure")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", action="store_true", help="refit the ESSDAI class parameters and dropout rate")
    parser.add_argument("-n", type=int, default=20_000, help="subjects per arm of the large trial")
    args = parser.parse_args()
    spec = load_spec("a2201")
    if args.fit:
        names = ["non-class mean wk24", "non-class sd", "non-class slope", "P(class) placebo and 5 mg",
                 "P(class) 50 mg", "P(class) 300 mg", "class shift wk24", "class sd", "class slope", "dropout rate"]
        p = fit(spec)
        print(pd.Series(p, index=names).round(4).to_string())
        spec = with_parameters(spec, p)
    with pd.option_context("display.width", 120):
        print(population_table(spec, args.n, seed=1).round(3).to_string())


if __name__ == "__main__":
    main()
