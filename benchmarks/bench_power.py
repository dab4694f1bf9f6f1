"""power_mct with 6 contrasts and 6 alternatives (DoseFinding's powMCT example), against R."""

from __future__ import annotations

from _timing import report, time_python, time_r
from dosefinding import Candidates, optimal_contrasts, power_mct

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
    for abseps in (1e-3, 1e-5):
        ours = time_python(
            lambda: power_mct(contrasts, candidates, n=50, sigma=1, alpha=0.05, abseps=abseps), repeat=5
        )
        r_time = time_r(R_SETUP.format(abseps=abseps), R_CALL, repeat=3)
        report(f"power_mct 6 contrasts x 6 alternatives, abseps {abseps:g}", ours, r_time)


if __name__ == "__main__":
    main()
