"""mct_test on DoseFinding's biom data (6 contrasts, p-values and critical value) against R's MCTtest.

Two comparisons in one run:

1. Defaults, what users run. Ours: p-values and critical value to 1e-4 (their stated error
   bounds). R: ``MCTtest(..., critV = TRUE)`` with ``mvtnorm.control()`` (DoseFinding 1.0-3:
   maxpts 30000, abseps 1e-3). Both are timed and both are compared with high-precision
   references: the critical value of tests/fixtures/r/mcp_critical_values.json (pmvt at
   2.5e7 points) and the p-values of mcp_reference.json (pmvt at 2e6 points, abseps 1e-5).
2. Equal accuracy: R at maxpts 2e6 and abseps 1e-5 (a probability error of 1e-5 is about
   1.7e-4 on the critical value, where the density of the maximum is 0.059), against our
   defaults (already below 1e-4) and ours asked for 1e-6.

Ours is timed cold (first call for this correlation: the geometry and the radial tables
computed) and warm (a repeated call reuses the geometry cached for the correlation and the
critical value found on it); "warm, new alpha" asks each call for another critical value on
the cached geometry (the root search is then paid).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd

from _timing import report_warm_cold, time_python, time_r
from dosefinding import Candidates, mct_test
from dosefinding.mcp.max_t import clear_caches

FIXTURES = Path(__file__).parents[1] / "tests" / "fixtures" / "r"
REFERENCE = json.loads((FIXTURES / "mcp_reference.json").read_text())
CRITICAL = json.loads((FIXTURES / "mcp_critical_values.json").read_text())["cases"]["biom_one.sided"]
R_SETUP = """
data(biom)
models <- Mods(linear = NULL, linlog = NULL, emax = c(0.05, 0.2), exponential = 0.3,
               quadratic = -0.85, doses = c(0, 0.05, 0.2, 0.6, 1), addArgs = list(off = 1))
ctrl <- {control}
"""
R_CALL = "MCTtest(dose, resp, biom, models = models, critV = TRUE, mvtcontrol = ctrl)"
# MCTtest's own default computes the p-values only (critV = NULL).
R_P_VALUES = "MCTtest(dose, resp, biom, models = models, mvtcontrol = ctrl)"
R_DEFAULT = "mvtnorm.control()"
R_EQUAL = "mvtnorm.control(maxpts = 2e6, abseps = 1e-5)"
R_VALUES = """
suppressPackageStartupMessages({library(DoseFinding); library(jsonlite)})
%s
out <- lapply(1:10, function(seed) { set.seed(seed); test <- %s
  list(crit = as.numeric(test$critVal), p = as.numeric(attr(test$tStat, "pVal"))) })
cat(toJSON(out, digits = NA))
"""


def r_default_errors(p_reference: np.ndarray) -> tuple[float, float] | None:
    """Largest errors of R's defaults over ten seeds: critical value, p-values."""
    if shutil.which("Rscript") is None:
        return None
    code = R_VALUES % (R_SETUP.format(control=R_DEFAULT), R_CALL)
    runs = json.loads(subprocess.run(["Rscript", "-e", code], capture_output=True, text=True, check=True).stdout)
    crit = max(abs(run["crit"][0] - CRITICAL["critical_value"]) for run in runs)
    p = max(float(np.max(np.abs(np.array(run["p"]) - p_reference))) for run in runs)
    return crit, p


def main() -> None:
    biom = pd.DataFrame(REFERENCE["datasets"]["biom"])
    candidates = Candidates(
        [0, 0.05, 0.2, 0.6, 1],
        {"linear": None, "linlog": None, "emax": [0.05, 0.2], "exponential": 0.3, "quadratic": -0.85},
        off=1,
    )
    case = next(c for c in REFERENCE["mct"] if c["name"] == "biom_one.sided")
    p_reference = np.array(case["result"]["pVals"])

    def ours(**accuracy: float):  # type: ignore[no-untyped-def]
        return mct_test(candidates, data=biom, dose="dose", response="resp", **accuracy)

    result = ours()
    print("mct_test on biom, 6 contrasts, p-values and critical value")
    print(f"  ours, defaults: critical value {result.critical_value:.6f} (error bound {result.critical_value_error:.1e},"
          f" off the 2.5e7-point reference by {abs(result.critical_value - CRITICAL['critical_value']):.1e});"
          f" p-values off the reference by at most {np.max(np.abs(result.p_values.to_numpy() - p_reference)):.1e}"
          f" (bounds up to {result.p_value_errors.max():.1e}; the reference's own error is 1e-5)")
    r_errors = r_default_errors(p_reference)
    if r_errors is not None:
        print(f"  R, defaults (10 seeds): critical value off by up to {r_errors[0]:.1e}, p-values by up to "
              f"{r_errors[1]:.1e}")
    cold, warm = time_python(ours, repeat=7, before=clear_caches), time_python(ours, repeat=21)
    r_default = time_r(R_SETUP.format(control=R_DEFAULT), R_CALL, repeat=11)
    report_warm_cold("1. defaults, p-values and critical value", warm, cold, "R MCTtest, mvtnorm.control()",
                     r_default)
    alphas = iter(0.025 + 1e-9 * np.arange(1, 100))
    new_alpha = time_python(lambda: ours(alpha=next(alphas)), repeat=21)
    print(f"     warm, new alpha each call (critical value searched on the cached geometry): {new_alpha * 1e3:.2f} ms")
    p_only = time_python(lambda: ours(critical_value=False), repeat=21)
    p_only_cold = time_python(lambda: ours(critical_value=False), repeat=7, before=clear_caches)
    r_p_only = time_r(R_SETUP.format(control=R_DEFAULT), R_P_VALUES, repeat=11)
    report_warm_cold("   defaults, p-values only", p_only, p_only_cold, "R MCTtest's own default (critV = NULL)",
                     r_p_only)
    tight = time_python(lambda: ours(abseps=1e-6, critical_value_tol=1e-5), repeat=5)
    tight_cold = time_python(lambda: ours(abseps=1e-6, critical_value_tol=1e-5), repeat=5, before=clear_caches)
    r_equal = time_r(R_SETUP.format(control=R_EQUAL), R_CALL, repeat=1)
    report_warm_cold("2. equal accuracy (critical value to about 1e-4): ours at our defaults", warm, cold,
                     "R MCTtest, maxpts 2e6, abseps 1e-5", r_equal)
    report_warm_cold("   ours asked for 1e-5 (critical value) and 1e-6 (p-values)", tight, tight_cold,
                     "R MCTtest, maxpts 2e6, abseps 1e-5", r_equal)


if __name__ == "__main__":
    main()
