"""optimal_design against R DoseFinding 1.4's optDesign, in the same run: the D&TD-optimal design.

* A2201, seven doses: the five candidates of presets/analysis/a2201.toml (linear, emax 10 and 100,
  sigemax (50, 3), exponential 150, -3.5 at 300 mg) on 0, 5, 25, 50, 100, 200, 300 mg, equal model
  probabilities, target effect 2 points (decreasing).
* DoseFinding's example: its five models (linear, emax 25, exponential 85, linlog, logistic) on six
  doses, target effect 0.2.

R runs optDesign with its defaults (the solnp optimizer), DoseFinding 1.4 from the private library
/work/Rlib14 (see tests/fixtures/r/optimal_design_reference.R for how to build it). Ours runs with
its defaults. Both answers are printed with their distance: ours converges tighter, so the same
accuracy favours R. The machine may be busy: run it several times and look at the spread. Besides the
medians (ours over 20 calls, R's over 5 blocks of 5 calls), the shortest mean of a block of 5 calls for
both: on a shared machine a call that another process interrupts is slower, and the shortest block is
the least disturbed.
"""

from __future__ import annotations

import numpy as np

from _timing import report_accuracy, time_python, time_r_values
from dosefinding import Candidates, design_criterion, optimal_design

R_LIBRARY = 'DoseFinding, lib.loc = "/work/Rlib14"'
CASES = {
    "A2201, 5 models, 7 doses": {
        "candidates": lambda: Candidates([0, 5, 25, 50, 100, 200, 300], {"linear": None, "emax": [10, 100],
                                                                          "sigemax": (50, 3), "exponential": 150},
                                         max_effect=-3.5),
        "delta": -2.0,
        "r_setup": """
mods <- Mods(linear = NULL, emax = c(10, 100), sigEmax = c(50, 3), exponential = 150,
             doses = c(0, 5, 25, 50, 100, 200, 300), maxEff = -3.5)
values <- function(des) c(des$design, des$crit)
""",
        "r_call": 'optDesign(mods, rep(0.2, 5), designCrit = "Dopt&TD", Delta = 2)',
    },
    "DoseFinding example, 5 models, 6 doses": {
        "candidates": lambda: Candidates([0, 10, 25, 50, 100, 150], {"linear": None, "emax": 25, "exponential": 85,
                                                                     "linlog": None, "logistic": (50, 10.8811)},
                                         max_effect=0.4, off=1),
        "delta": 0.2,
        "r_setup": """
mods <- Mods(linear = NULL, emax = 25, exponential = 85, linlog = NULL, logistic = c(50, 10.8811),
             doses = c(0, 10, 25, 50, 100, 150), addArgs = list(off = 1), placEff = 0, maxEff = 0.4)
values <- function(des) c(des$design, des$crit)
""",
        "r_call": 'optDesign(mods, rep(0.2, 5), designCrit = "Dopt&TD", Delta = 0.2)',
    },
}


def main() -> None:
    for name, case in CASES.items():
        candidates = case["candidates"]()

        def ours(candidates: Candidates = candidates, delta: float = case["delta"]) -> object:
            return optimal_design(candidates, criterion="D&TD", delta=delta)

        design = ours()
        ours_time = time_python(ours, repeat=20)
        ours_best = time_python(ours, repeat=5, block=5, statistic="min")
        r = time_r_values(case["r_setup"], case["r_call"], repeat=5, libraries=R_LIBRARY)
        r_best = time_r_values(case["r_setup"], case["r_call"], repeat=5, libraries=R_LIBRARY, statistic="min")
        print(f"optimal_design D&TD, {name}: weights {np.round(design.weights, 5).tolist()}, "
              f"criterion {design.value:.10f}")
        if r is None:
            report_accuracy("defaults", ours_time, None, "")
            continue
        r_time, r_values = r
        r_weights, r_criterion = np.array(r_values[:-1]), r_values[-1]
        at_r = design_criterion(r_weights, candidates, criterion="D&TD", delta=case["delta"])
        report_accuracy("defaults", ours_time, r_time,
                        f"max |weight difference| {np.max(np.abs(r_weights - design.weights)):.1e}, R's criterion "
                        f"{r_criterion:.10f} (ours at R's design {at_r:.10f}, ours lower by {at_r - design.value:.1e})")
        if r_best is not None:
            report_accuracy("defaults, shortest times", ours_best, r_best[0], "the same answers")


if __name__ == "__main__":
    main()
