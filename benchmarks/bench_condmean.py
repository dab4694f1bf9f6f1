"""1,000 bootstrap conditional-mean imputations (jump to reference) of an A2201-sized trial, with the ANCOVA and pooling.

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
    args = parser.parse_args()
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
