"""10,000 simulated A2201 trials, each analysed as the real one (MMRM us + MCP-Mod, 5 models), 2 workers.

Target (issue 6): at most 60 s with 2 workers. For comparison, R's per-trial analysis of
A2201 trials simulated from the same spec (nlme::gls with corSymm + varIdent, the week-24 LS
means, DoseFinding::MCPMod with the same five models, gAIC selection and TD) is timed on
``--r-trials`` of them and extrapolated to the whole run, twice: with R's defaults (gls's
nlminb, MCPMod's mvtnorm.control()) and at equal accuracy (gls with optim's BFGS and
tolerances 1e-12, mvtnorm at abseps 1e-5: our MMRM optimum and adjusted p-values).

``--trials``, ``--jobs`` and ``--chunk-size`` change the run.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from dosefinding.study import load_spec, simulate_endpoint_matrix, simulate_power

TARGET_SECONDS = 60.0
SETTINGS = {
    "R defaults": ("", "mvtnorm.control()"),
    "equal accuracy": ((", control = glsControl(opt = 'optim', optimMethod = 'BFGS', tolerance = 1e-12, "
                        "msTol = 1e-14, maxIter = 1000, msMaxIter = 1000)"),
                       "mvtnorm.control(maxpts = 2e6, abseps = 1e-5)"),
}


def r_seconds_per_trial(n_trials: int, seed: int) -> dict[str, float] | None:
    """Seconds per trial of R's gls + MCPMod on ``n_trials`` simulated A2201 trials, per setting; None without R."""
    if shutil.which("Rscript") is None:
        return None
    spec = load_spec("a2201")
    endpoint = spec.endpoints[0]
    matrix = simulate_endpoint_matrix(spec, endpoint.paramcd, n_trials=n_trials, seed=seed)
    truth = endpoint.true_mean_change()[:, -1]
    effect = float(truth[-1] - truth[0])
    arms, visits = list(spec.arm_names), [f"Week {v}" for v in spec.visits]
    frames = []
    for t in range(n_trials):
        change = matrix.values[t] - matrix.base[t][:, None]
        n, k = change.shape
        frames.append(pd.DataFrame({
            "TRIAL": t, "USUBJID": np.repeat(np.arange(n), k), "ARM": np.array(arms)[np.repeat(matrix.arm, k)],
            "AVISIT": np.tile(visits, n), "VISIT_INDEX": np.tile(np.arange(1, k + 1), n),
            "BASE": np.repeat(matrix.base[t], k), "CHG": change.ravel(),
        }).dropna(subset=["CHG"]))
    doses = ", ".join(f"{d:g}" for d in spec.doses)
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trials.csv"
        pd.concat(frames).to_csv(path, index=False)
        for label, (gls_control, mvt_control) in SETTINGS.items():
            code = f"""
suppressPackageStartupMessages({{library(nlme); library(DoseFinding)}})
d <- read.csv("{path.as_posix()}")
d$ARM <- factor(d$ARM, levels = c({", ".join(repr(a) for a in arms)}))
d$AVISIT <- factor(d$AVISIT, levels = c({", ".join(repr(v) for v in visits)}))
doses <- c({doses})
# simulate_power's default candidates (dosefinding.study.power.default_candidates) at the top dose 300 mg.
models <- Mods(linear = NULL, emax = c(10, 100), sigEmax = c(50, 3), exponential = 150,
               doses = doses, maxEff = {effect:.6f})
analyse <- function(trial) {{
  fit <- gls(CHG ~ 0 + ARM:AVISIT + BASE:AVISIT, data = trial, method = "REML",
             correlation = corSymm(form = ~ VISIT_INDEX | USUBJID), weights = varIdent(form = ~ 1 | AVISIT)
             {gls_control})
  b <- coef(fit)
  L <- matrix(0, length(doses), length(b))
  for (a in seq_along(doses)) {{
    L[a, match(paste0("ARM", levels(trial$ARM)[a], ":AVISIT{visits[-1]}"), names(b))] <- 1
    L[a, match("AVISIT{visits[-1]}:BASE", names(b))] <- mean(trial$BASE)
  }}
  MCPMod(doses, as.vector(L %*% b), models = models, S = L %*% vcov(fit) %*% t(L), type = "general",
         selModel = "AIC", Delta = {abs(effect) / 2:.6f}, alpha = 0.025, mvtcontrol = {mvt_control})
}}
trials <- split(d, d$TRIAL)
elapsed <- system.time(for (trial in trials) analyse(trial))[["elapsed"]]
cat(elapsed / length(trials), "\\n")
"""
            result = subprocess.run(["Rscript", "-e", code], capture_output=True, text=True, check=True)
            out[label] = float(result.stdout.strip().splitlines()[-1])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--chunk-size", type=int, default=250)
    parser.add_argument("--r-trials", type=int, default=20)
    args = parser.parse_args()
    start = time.perf_counter()
    result = simulate_power("a2201", n_sims=args.trials, seed=2201, jobs=args.jobs, chunk_size=args.chunk_size,
                            progress=True)
    ours = time.perf_counter() - start
    print(result.summary())
    verdict = "meets" if ours <= TARGET_SECONDS else "misses"
    print(f"\nsimulate_power, {args.trials} A2201 trials (MMRM us REML, 6 visits, MCP-Mod 5 models), "
          f"{args.jobs} workers: {ours:.1f} s ({verdict} the {TARGET_SECONDS:.0f} s target; "
          f"{ours / args.trials * 1e3:.2f} ms per trial)")
    r_times = r_seconds_per_trial(args.r_trials, 2201)
    if r_times is None:
        print("R gls + MCPMod per trial: R not available (no Rscript)")
        return
    for label, r_time in r_times.items():
        total = r_time * args.trials
        print(f"R gls + DoseFinding::MCPMod, {label} (timed on {args.r_trials} trials, one core): "
              f"{r_time * 1e3:.0f} ms a trial; x {args.trials} = {total:.0f} s on one core, "
              f"{total / args.jobs:.0f} s on {args.jobs}; R / ours = {total / args.jobs / ours:.0f}x at equal cores")


if __name__ == "__main__":
    main()
