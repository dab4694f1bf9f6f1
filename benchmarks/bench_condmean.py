"""rbmi's own profiling workload, and 1,000 bootstrap conditional-mean imputations of an A2201-sized trial.

Part 1, rbmi's workload (``--part rbmi``). The only rbmi timing found is in rbmi's repository,
misc/misc-profiling.R (added in commit 4cd132e8, "reworked impute internals", 2021-11-29, by
its author; unchanged in substance at 5961fa07, 2026-03-05; machine not stated: unknown).
It simulates 500 subjects with rbmi's test helper ``get_sim_data`` (tests/testthat/helper-misc.R):
two arms A/B at random, age ~ N(0, 1), sex M/F at random, 5 visits with residuals
N(0, as_vcov(sd = c(2, 1, 0.7, 3, 0.1), cor = c(0.5, 0.3, 0.2, 0.1, 0.2, 0.3, 0.5, 0.6, 0.1,
0.3))), mean 5 + 3 age + 3 [sex F] + 8 [arm B]; each outcome missing with probability 0.4;
the first missing visit of a subject is an intercurrent event handled by jump to reference
(reference B for both arms); imputation model ``age + sex + visit * group``; ANCOVA per visit
on group, age and sex. Its comments read "# 84 seconds", "# 3 seconds", "# 1.5 seconds", each
just above a ``profvis`` block, between the calls: ``draws(method_bmlmi(B = 30, D = 10))``,
[84] ``draws(method_approxbayes(n_samples = 100))``, [3] ``impute``, [1.5] ``analyse``. A figure
labels the block below it: with rbmi's glmmTMB fits of that time, 84 s for 101 fits (one on
the data for starting values, 100 bootstrap) is 0.83 s a fit, whereas 3 s would be 0.03 s a
fit and 84 s for BMLMI's 31 fits 2.7 s a fit, 90x the other; impute and analyse then act on
the approximate Bayes draws (the BMLMI draws are overwritten), and the BMLMI call has no figure.
Ours: the same data recipe with numpy's generator (so not R's numbers), the same calls. Our
imputation model enters age and sex by visit (20 coefficients; rbmi's formula has 12).

Part 2 (``--part a2201``): 1,000 bootstrap conditional-mean imputations (jump to reference) of
an A2201-sized trial, with the ANCOVA and pooling.

Trial: 4 arms x 47 subjects, 6 visits (weeks 4 to 24, A2201's schedule), baseline by visit, 20-40%
monotone dropout, each dropout an intercurrent event handled by jump to reference (placebo), as
simulated by bench_mmrm_batch.py. Work timed: ``mmrm_draws(method="condmean",
resampling="bootstrap", n_samples=1000)`` (1,001 REML fits of the unstructured MMRM),
``impute``, ``analyse`` (ANCOVA at every visit) and ``pool``, one process, and with 2 joblib
workers.

rbmi (R) cannot be installed here (no CRAN) and no published rbmi timing of this work was
found (its vignettes, JOSS paper, statistical specifications and issues give none), so the
comparison in the same run is the same work in R written the direct way: ``nlme::gls`` REML
fits of bootstrap samples, conditional mean imputation and ``lm`` per visit, timed on a few
samples and scaled to 1,001 fits. rbmi fits with the mmrm package, which mmrm's own comparison
vignette (FEV data; shown on the PSI AIMS CAMIS page r-sas_mmrm) times at about a twelfth of
gls: divide the R figure by about 12 for an estimate of rbmi.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from _timing import time_r
from bench_mmrm_batch import ARMS, VISITS, long_frame, simulate
from dosefinding.imputation import analyse, imputation_data, impute, mmrm_draws, pool

R_SAMPLES = 5
RBMI_FIGURES = {"draws(method_approxbayes(n_samples = 100))": 84.0, "impute": 3.0, "analyse": 1.5}
RBMI_FITS = 101  # approximate Bayes at rbmi 4cd132e8: one fit on the data (starting values), 100 bootstrap fits
RBMI_SD = (2, 1, 0.7, 3, 0.1)
RBMI_COR = (0.5, 0.3, 0.2, 0.1, 0.2, 0.3, 0.5, 0.6, 0.1, 0.3)


def rbmi_vcov(sd: tuple[float, ...], cor: tuple[float, ...]) -> np.ndarray:
    """rbmi's ``as_vcov``: ``cor`` fills the upper triangle column by column (R's ``x[upper.tri(x)] <- cor``)."""
    v = len(sd)
    corr = np.eye(v)
    upper = [(i, j) for j in range(v) for i in range(j)]
    for (i, j), c in zip(upper, cor, strict=True):
        corr[i, j] = corr[j, i] = c
    return np.outer(sd, sd) * corr  # positive definite: R's nearPD leaves it unchanged


def rbmi_sim_data(n: int = 500, seed: int = 1512) -> tuple[pd.DataFrame, pd.DataFrame]:
    """misc-profiling.R's data: ``get_sim_data(500, sigma, trt = 8)``, 40% of outcomes missing, JR at the first."""
    rng = np.random.default_rng(seed)
    sigma = rbmi_vcov(RBMI_SD, RBMI_COR)
    v = len(RBMI_SD)
    age = rng.normal(size=n)
    group = rng.choice(["A", "B"], size=n)
    sex = rng.choice(["M", "F"], size=n)
    y = rng.multivariate_normal(np.zeros(v), sigma, size=n) + (5 + 3 * age + 3 * (sex == "F") + 8 * (group == "B"))[
        :, None]
    y[rng.random(y.shape) < 0.4] = np.nan
    visits = [f"visit_{k + 1}" for k in range(v)]
    frame = pd.DataFrame({"id": np.repeat(np.arange(1, n + 1).astype(str), v), "visit": np.tile(visits, n),
                          "outcome": y.ravel(), "group": np.repeat(group, v), "age": np.repeat(age, v),
                          "sex": np.repeat(sex, v)})
    first = frame[frame["outcome"].isna()].groupby("id", sort=False)["visit"].first()
    ice = pd.DataFrame({"subject": first.index, "visit": first.to_numpy(), "strategy": "JR"})
    return frame, ice


def rbmi_workload(repeat: int) -> None:
    """misc-profiling.R's calls, timed step by step against its figures."""
    frame, ice = rbmi_sim_data()
    data = imputation_data(frame, subject="id", visit="visit", outcome="outcome", arm="group",
                           covariates=["age", "sex"], ice=ice, references={"A": "B", "B": "B"},
                           visit_order=sorted(frame["visit"].unique()), arm_order=["A", "B"])
    steps: dict[str, list[float]] = {name: [] for name in
                                     ("draws(method_bmlmi(B = 30, D = 10))", *RBMI_FIGURES, "pool", "bmlmi impute",
                                      "bmlmi analyse", "bmlmi pool")}
    mmrm_draws(data, method="approx_bayes", n_samples=2, seed=0)  # warm-up (imports)
    for run_index in range(repeat):
        clock = time.perf_counter()
        bmlmi = mmrm_draws(data, method="bmlmi", n_samples=30, imputations_per_sample=10, seed=run_index)
        steps["draws(method_bmlmi(B = 30, D = 10))"].append(time.perf_counter() - clock)
        clock = time.perf_counter()
        draws = mmrm_draws(data, method="approx_bayes", n_samples=100, seed=run_index)
        steps["draws(method_approxbayes(n_samples = 100))"].append(time.perf_counter() - clock)
        for prefix, chosen in (("", draws), ("bmlmi ", bmlmi)):
            clock = time.perf_counter()
            imputed = impute(chosen, seed=run_index)
            steps[f"{prefix}impute"].append(time.perf_counter() - clock)
            clock = time.perf_counter()
            analysed = analyse(imputed, control="A")
            steps[f"{prefix}analyse"].append(time.perf_counter() - clock)
            clock = time.perf_counter()
            pooled = pool(analysed, confidence_level=0.99)
            steps[f"{prefix}pool"].append(time.perf_counter() - clock)
            row = pooled.estimate("trt_B", "visit_5")
            print(f"  run {run_index + 1}, {chosen.method}: B - A at visit_5 {row['estimate']:.3f} "
                  f"(SE {row['se']:.3f}; simulated effect 8 before JR)")
    print(f"rbmi's misc/misc-profiling.R workload (500 subjects, 5 visits, 40% missing, JR), ours over {repeat} runs "
          "vs the figure in rbmi's file (commit 4cd132e8, 2021, machine unknown):")
    for name, times in steps.items():
        figure = RBMI_FIGURES.get(name)
        theirs = f"rbmi {figure:g} s, ratio {figure / np.median(times):.0f}x" if figure else "rbmi: no figure"
        print(f"  {name}: median {np.median(times):.3f} s (range {min(times):.3f} to {max(times):.3f}); {theirs}")
    per_fit = RBMI_FIGURES["draws(method_approxbayes(n_samples = 100))"] / RBMI_FITS
    print(f"  rbmi per REML fit (500 subjects): {per_fit:.2f} s, so 1,001 fits (1,000 bootstrap samples + the data) "
          f"scale to {per_fit * 1001:.0f} s")


def trial() -> tuple[pd.DataFrame, pd.DataFrame]:
    y, _, arm, base = simulate(1, 2026)
    frame = long_frame(y[0], arm, base[0]).astype({"AVISIT": str, "ARM": str, "USUBJID": str})
    observed = frame.dropna(subset=["CHG"])
    first_missing = frame[frame["CHG"].isna()].groupby("USUBJID", sort=False)["AVISIT"].first()
    ice = pd.DataFrame({"subject": first_missing.index, "visit": first_missing.to_numpy(), "strategy": "JR"})
    return observed, ice


def run(observed: pd.DataFrame, ice: pd.DataFrame, n_samples: int, n_jobs: int) -> float:
    data = imputation_data(observed, subject="USUBJID", visit="AVISIT", outcome="CHG", arm="ARM",
                           covariates=["BASE"], ice=ice, references={a: "Placebo" for a in ARMS},
                           visit_order=VISITS, arm_order=ARMS)
    draws = mmrm_draws(data, method="condmean", resampling="bootstrap", n_samples=n_samples, seed=1, n_jobs=n_jobs)
    result = pool(analyse(impute(draws), control="Placebo"))
    return float(result.estimate("trt_300 mg", "Week 24")["estimate"])


R_SETUP = """
suppressPackageStartupMessages(library(nlme))
d <- read.csv("{path}")
d$ARM <- factor(d$ARM, levels = c({arms}))
d$AVISIT <- factor(d$AVISIT, levels = c({visits}))
d$VISIT_INDEX <- as.integer(d$AVISIT)
subjects <- unique(d$USUBJID)
rows_of <- split(seq_len(nrow(d)), d$USUBJID)[as.character(subjects)]
one_sample <- function() {{
  picked <- unlist(lapply(split(subjects, d$ARM[match(subjects, d$USUBJID)]), function(s) sample(s, replace = TRUE)))
  index <- rows_of[as.character(picked)]
  b <- d[unlist(index), ]
  b$USUBJID <- rep(seq_along(picked), lengths(index))
  fit <- gls(CHG ~ 0 + ARM:AVISIT + BASE:AVISIT, data = b, method = "REML",
             correlation = corSymm(form = ~ VISIT_INDEX | USUBJID), weights = varIdent(form = ~ 1 | AVISIT))
  sigma <- unclass(getVarCov(fit, individual = names(which(table(b$USUBJID) == 6))[1]))
  beta <- coef(fit)
  k <- nlevels(b$AVISIT)
  out <- matrix(NA_real_, length(picked), k)
  for (i in seq_along(picked)) {{
    rows <- b[b$USUBJID == i, ]
    own <- sapply(levels(b$AVISIT), function(v) beta[paste0("ARM", rows$ARM[1], ":AVISIT", v)] +
                  rows$BASE[1] * beta[paste0("AVISIT", v, ":BASE")])
    ref <- sapply(levels(b$AVISIT), function(v) beta[paste0("ARMPlacebo:AVISIT", v)] +
                  rows$BASE[1] * beta[paste0("AVISIT", v, ":BASE")])
    o <- seq_len(k) %in% rows$VISIT_INDEX
    y <- rep(NA_real_, k); y[rows$VISIT_INDEX] <- rows$CHG
    mu <- ifelse(o, own, ref)
    if (!all(o)) y[!o] <- mu[!o] + sigma[!o, o, drop = FALSE] %*% solve(sigma[o, o], y[o] - mu[o])
    out[i, ] <- y
  }}
  arm <- d$ARM[match(picked, d$USUBJID)]
  base <- d$BASE[match(picked, d$USUBJID)]
  sapply(seq_len(k), function(v) coef(lm(out[, v] ~ arm + base))[4])
}}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--part", choices=["rbmi", "a2201", "all"], default="all")
    parser.add_argument("--no-r", action="store_true", help="skip the nlme::gls comparison of part 2")
    args = parser.parse_args()
    if args.part in ("rbmi", "all"):
        rbmi_workload(args.repeat)
    if args.part == "rbmi":
        return
    observed, ice = trial()
    run(observed, ice, 10, 1)  # warm-up (imports)
    medians = {}
    for jobs in (1, 2):
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            estimate = run(observed, ice, args.samples, jobs)
            times.append(time.perf_counter() - start)
        medians[jobs] = float(np.median(times))
        print(f"ours, {args.samples} bootstrap condmean imputations (JR), {jobs} worker(s): "
              f"median {np.median(times):.2f} s, range {min(times):.2f} to {max(times):.2f} s over {args.repeat} runs "
              f"(300 mg - placebo at week 24: {estimate:.4f})")
    rbmi_scaled = RBMI_FIGURES["draws(method_approxbayes(n_samples = 100))"] / RBMI_FITS * (args.samples + 1)
    print(f"rbmi's figure scaled per fit (84 s / 101 fits of 500 subjects, misc/misc-profiling.R) to {args.samples + 1} "
          f"fits: {rbmi_scaled:.0f} s, {rbmi_scaled / min(medians.values()):.0f}x our faster median")
    if args.no_r:
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trial.csv"
        observed.to_csv(path, index=False)
        setup = R_SETUP.format(path=path.as_posix(), arms=", ".join(repr(a) for a in ARMS),
                               visits=", ".join(repr(v) for v in VISITS))
        seconds = time_r(setup, f"replicate({R_SAMPLES}, one_sample())", repeat=1)
        if seconds is None:
            print("R: not available (no Rscript)")
            return
        scaled = seconds / R_SAMPLES * (args.samples + 1)
        print(f"R, nlme::gls + conditional mean + lm, {R_SAMPLES} samples: {seconds:.1f} s; "
              f"scaled to {args.samples + 1} fits: {scaled:.0f} s ({scaled / min(medians.values()):.0f}x our faster median)")


if __name__ == "__main__":
    main()
