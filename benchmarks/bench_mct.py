"""mct_test with p-values and critical value on DoseFinding's biom data, against R's MCTtest."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from _timing import report, time_python, time_r
from dosefinding import Candidates, mct_test

FIXTURE = Path(__file__).parents[1] / "tests" / "fixtures" / "r" / "mcp_reference.json"
CRITICAL = FIXTURE.with_name("mcp_critical_values.json")
R_SETUP = """
data(biom)
models <- Mods(linear = NULL, linlog = NULL, emax = c(0.05, 0.2), exponential = 0.3,
               quadratic = -0.85, doses = c(0, 0.05, 0.2, 0.6, 1), addArgs = list(off = 1))
ctrl <- mvtnorm.control(maxpts = 2e6, abseps = {abseps})
"""
R_CALL = "MCTtest(dose, resp, biom, models = models, critV = TRUE, mvtcontrol = ctrl)"


def main() -> None:
    biom = pd.DataFrame(json.loads(FIXTURE.read_text())["datasets"]["biom"])
    candidates = Candidates(
        [0, 0.05, 0.2, 0.6, 1],
        {"linear": None, "linlog": None, "emax": [0.05, 0.2], "exponential": 0.3, "quadratic": -0.85},
        off=1,
    )
    # R's abseps bounds the probability at the critical value; ours bounds the critical
    # value itself: the same accuracy is abseps over the density of the maximum there.
    density = json.loads(CRITICAL.read_text())["cases"]["biom_one.sided"]["density"]
    for abseps in (1e-3, 1e-5):
        ours = time_python(
            lambda abseps=abseps: mct_test(
                candidates, data=biom, dose="dose", response="resp", abseps=abseps, critical_value_tol=abseps / density
            ),
            repeat=5,
        )
        r_time = time_r(R_SETUP.format(abseps=abseps), R_CALL, repeat=3)
        report(f"mct_test biom, 6 contrasts, p-values + critical value, abseps {abseps:g}", ours, r_time)


if __name__ == "__main__":
    main()
