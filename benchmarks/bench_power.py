"""power_mct with 6 contrasts and 6 alternatives (DoseFinding's powMCT example), against R's powMCT.

Two comparisons in one run:

1. Defaults, what users run. Ours: powers to 1e-3 (three standard errors), the critical
   value to 1e-4. R: ``powMCT(...)`` with ``mvtnorm.control()`` (maxpts 30000, abseps 1e-3
   on each power and on the probability at the critical value, which leaves the critical
   value off by up to 1e-2). Both are compared with R's powers at maxpts 2e6 and abseps
   1e-5 (tests/fixtures/r/mcp_reference.json, case powmct_6x6_one.sided).
2. Equal accuracy: powers to 1e-4, R's critical value at abseps 1e-4 (ours at 1e-4 on the
   critical value itself, stricter).

Ours is timed cold (first call for this correlation: the critical value's geometry and
the radial tables computed) and warm (the geometry cached for the correlation); the six
powers are computed anew in every call.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np

from _timing import report_warm_cold, time_python, time_r
from dosefinding import Candidates, optimal_contrasts, power_mct
from dosefinding.mcp.max_t import clear_caches

FIXTURE = Path(__file__).parents[1] / "tests" / "fixtures" / "r" / "mcp_reference.json"
R_SETUP = """
doses <- c(0, 10, 25, 50, 100, 150)
mods <- Mods(linear = NULL, emax = 25, logistic = c(50, 10.88111), exponential = 85,
             betaMod = rbind(c(0.33, 2.31), c(1.39, 1.39)), doses = doses, maxEff = 0.4,
             addArgs = list(scal = 200))
cm <- optContr(mods, w = 1)$contMat
ctrl <- {control}
"""
R_CALL = "powMCT(cm, altModels = mods, n = 50, alpha = 0.05, sigma = 1, control = ctrl)"
R_VALUES = """
suppressPackageStartupMessages({library(DoseFinding); library(jsonlite)})
%s
cat(toJSON(lapply(1:10, function(seed) { set.seed(seed); as.numeric(%s) }), digits = NA))
"""


def r_default_error(reference: np.ndarray) -> float | None:
    """Largest error of R's default powers over ten seeds."""
    if shutil.which("Rscript") is None:
        return None
    code = R_VALUES % (R_SETUP.format(control="mvtnorm.control()"), R_CALL)
    runs = json.loads(subprocess.run(["Rscript", "-e", code], capture_output=True, text=True, check=True).stdout)
    return max(float(np.max(np.abs(np.array(run) - reference))) for run in runs)


def main() -> None:
    candidates = Candidates(
        [0, 10, 25, 50, 100, 150],
        {"linear": None, "emax": 25, "logistic": (50, 10.88111), "exponential": 85,
         "betamod": [(0.33, 2.31), (1.39, 1.39)]},
        max_effect=0.4,
        scal=200,
    )
    contrasts = optimal_contrasts(candidates)
    reference = np.array(next(c for c in json.loads(FIXTURE.read_text())["power"]
                              if c["name"] == "powmct_6x6_one.sided")["power"])

    def ours(**accuracy: float):  # type: ignore[no-untyped-def]
        return power_mct(contrasts, candidates, n=50, sigma=1, alpha=0.05, **accuracy)

    print("power_mct, 6 contrasts x 6 alternatives (rank 5)")
    error = float(np.max(np.abs(ours().to_numpy() - reference)))
    print(f"  ours, defaults: powers off R's high-precision ones by at most {error:.1e}")
    r_error = r_default_error(reference)
    if r_error is not None:
        print(f"  R, defaults (10 seeds): powers off by up to {r_error:.1e}")
    cold, warm = time_python(ours, repeat=5, before=clear_caches), time_python(ours, repeat=11)
    r_default = time_r(R_SETUP.format(control="mvtnorm.control()"), R_CALL, repeat=7)
    report_warm_cold("1. defaults", warm, cold, "R powMCT, mvtnorm.control()", r_default)
    equal_warm = time_python(lambda: ours(abseps=1e-4), repeat=5)
    equal_cold = time_python(lambda: ours(abseps=1e-4), repeat=3, before=clear_caches)
    r_equal = time_r(R_SETUP.format(control="mvtnorm.control(maxpts = 2e6, abseps = 1e-4)"), R_CALL, repeat=3)
    report_warm_cold("2. equal accuracy (powers to 1e-4)", equal_warm, equal_cold,
                     "R powMCT, maxpts 2e6, abseps 1e-4", r_equal)


if __name__ == "__main__":
    main()
