"""plan_mod against DoseFinding 1.4's planMod: simulation of 5,000 trials per true curve, in the same run.

Design: A2201 (doses 0, 5, 50, 300 mg; 49/47/47/47 patients; SD 5.6), the five candidates of
tests/fixtures/r/plan_mod_reference.R (-3.5 at 300 mg) as true curves, the emax shape fitted:
25,000 fits. R: ``planMod("emax", ..., simulation = TRUE, nSim = 5000)`` with its defaults
(fitMod's default control), timed once (it takes minutes). Ours: its defaults, on the same
trials as R (R's rmvnorm draws regenerated after the same seed and passed as ``trials``), so
that the metrics are compared as well (the accuracy line), and on our own draws.

DoseFinding 1.4 is needed (a private library, see the fixture script); the benchmark says so
when it is missing.

Run: ``PYTHONPATH=src python benchmarks/bench_plan_mod.py`` (several minutes, mostly R).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from _timing import report_accuracy, time_python
from dosefinding import Candidates, plan_mod

R_LIBRARY = "/work/Rlib14"
N_TRIALS = 5000
METRICS = {"dRMSE": "rmse_doses", "Pow(maxDose)": "power_max_dose", "P(EDp)": "p_ed"}
R_CODE = """
.libPaths(c("{library}", .libPaths()))
suppressPackageStartupMessages({{library(DoseFinding); library(jsonlite)}})
stopifnot(packageVersion("DoseFinding") >= "1.4")
doses <- c(0, 5, 50, 300)
mods <- Mods(linear = NULL, emax = c(10, 100), sigEmax = c(50, 3), exponential = 150, doses = doses, maxEff = -3.5)
n <- c(49, 47, 47, 47)
set.seed(1)
seconds <- system.time(pm <- suppressMessages(planMod("emax", mods, n = n, sigma = 5.6, doses = doses,
  asyApprox = FALSE, simulation = TRUE, nSim = {n_trials}, showSimProgress = FALSE)))[["elapsed"]]
S <- attr(pm, "S"); mu <- getResp(mods, doses)
set.seed(1)
draws <- lapply(seq_len(ncol(mu)), function(i) mvtnorm::rmvnorm({n_trials}, mean = mu[, i], sigma = S))
writeLines(toJSON(list(seconds = seconds, sim = unname(pm$sim[, 1:3]), draws = draws), digits = NA, auto_unbox = TRUE), "{out}")
"""


def run_r(n_trials: int) -> dict | None:
    """R's seconds, its metrics (curve x dRMSE, Pow(maxDose), P(EDp)) and its trials; None without R 1.4."""
    if shutil.which("Rscript") is None or not Path(R_LIBRARY, "DoseFinding").exists():
        return None
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "r.json"
        script = Path(folder) / "bench.R"
        script.write_text(R_CODE.format(library=R_LIBRARY, n_trials=n_trials, out=out))
        subprocess.run(["Rscript", str(script)], capture_output=True, text=True, check=True)
        return json.loads(out.read_text())


def main() -> None:
    cands = Candidates([0, 5, 50, 300], {"linear": None, "emax": [10, 100], "sigemax": (50, 3), "exponential": 150},
                       max_effect=-3.5)
    options = {"n": [49, 47, 47, 47], "sigma": 5.6, "asymptotic": False, "simulation": True}
    print(f"plan_mod A2201, emax fitted, {N_TRIALS} trials x {len(cands.labels)} true curves")
    own = time_python(lambda: plan_mod("emax", cands, **options, n_trials=N_TRIALS, seed=1), repeat=3)
    r = run_r(N_TRIALS)
    if r is None:
        report_accuracy("R defaults", own, None, "")
        return
    trials = np.array(r["draws"])
    on_r_trials = time_python(lambda: plan_mod("emax", cands, **options, trials=trials), repeat=3)
    ours = plan_mod("emax", cands, **options, trials=trials).simulation
    assert ours is not None
    difference = np.abs(ours[list(METRICS.values())].to_numpy() - np.array(r["sim"])).max()
    report_accuracy("R defaults, R's trials", on_r_trials, r["seconds"],
                    f"largest difference of dRMSE, Pow(maxDose), P(EDp) over the curves {difference:.1e}")
    report_accuracy("R defaults, our own draws", own, r["seconds"], "(a different random stream)")


if __name__ == "__main__":
    main()
