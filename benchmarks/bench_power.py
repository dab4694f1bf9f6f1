"""power_mct with 6 contrasts and 6 alternatives (DoseFinding's powMCT example), against R."""

from __future__ import annotations

import numpy as np

from _timing import report, time_python, time_r
from dosefinding import Candidates, MaxTDistribution, optimal_contrasts, power_mct
from dosefinding.mcp.contrasts import contrast_correlation

R_SETUP = """
doses <- c(0, 10, 25, 50, 100, 150)
mods <- Mods(linear = NULL, emax = 25, logistic = c(50, 10.88111), exponential = 85,
             betaMod = rbind(c(0.33, 2.31), c(1.39, 1.39)), doses = doses, maxEff = 0.4,
             addArgs = list(scal = 200))
cm <- optContr(mods, w = 1)$contMat
ctrl <- mvtnorm.control(maxpts = 2e6, abseps = {abseps})
"""
R_CALL = "powMCT(cm, altModels = mods, n = 50, alpha = 0.05, sigma = 1, control = ctrl)"


def main() -> None:
    candidates = Candidates(
        [0, 10, 25, 50, 100, 150],
        {"linear": None, "emax": 25, "logistic": (50, 10.88111), "exponential": 85,
         "betamod": [(0.33, 2.31), (1.39, 1.39)]},
        max_effect=0.4,
        scal=200,
    )
    contrasts = optimal_contrasts(candidates)
    # R's abseps bounds the probability at the critical value; ours bounds the critical
    # value itself: the same accuracy is abseps over the density of the maximum there.
    corr = contrast_correlation(contrasts.contrasts.to_numpy(), np.eye(6) / 50)
    maximum = MaxTDistribution(corr, df=6 * 50 - 6)
    q = maximum.quantile(0.95)
    step = 1e-3
    density = (maximum.cdf(q + step).value - maximum.cdf(q - step).value) / (2 * step)
    for abseps in (1e-3, 1e-5):
        ours = time_python(
            lambda abseps=abseps: power_mct(
                contrasts, candidates, n=50, sigma=1, alpha=0.05, abseps=abseps, critical_value_tol=abseps / density
            ),
            repeat=5,
        )
        r_time = time_r(R_SETUP.format(abseps=abseps), R_CALL, repeat=3)
        report(f"power_mct 6 contrasts x 6 alternatives, abseps {abseps:g}", ours, r_time)


if __name__ == "__main__":
    main()
