"""Bootstrap model averaging, ours against R: 1000 draws, 3 shapes.

R DoseFinding 1.0-3 lacks maFitMod; what maFitMod does is one fitMod call per draw and
shape (plus a gAIC each), so R's time is that loop over the same kind of draws. Two
designs: glycobrom (emax, sigEmax, exponential) and the A2201-like placebo-adjusted one
(emax, exponential, linear) of tests/fixtures/r/model_average_reference.R.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from _timing import report, time_python, time_r
from dosefinding.mod import model_average

FIXTURE = Path(__file__).parents[1] / "tests" / "fixtures" / "r" / "model_average_reference.json"
R_SHAPES = {"sigEmax": "sigemax"}
N_DRAWS = 1000


def r_loop(design: dict) -> tuple[str, str]:
    """R setup and expression: fitMod of every model on each of N_DRAWS draws, the smallest gAIC kept."""
    doses = ", ".join(repr(float(d)) for d in design["doses"])
    estimates = ", ".join(repr(float(e)) for e in design["estimates"])
    s = ", ".join(repr(float(v)) for row in design["S"] for v in row)
    models = ", ".join(f'"{m}"' for m in design["models"])
    n = len(design["doses"])
    setup = f"""
dose <- c({doses}); S <- matrix(c({s}), {n}, {n}, byrow = TRUE); models <- c({models})
set.seed(1); sims <- mvtnorm::rmvnorm({N_DRAWS}, c({estimates}), S); bnds <- defBnds(max(dose))
one <- function(y) {{
  fits <- lapply(models, function(m) fitMod(dose, y, model = m, S = S, type = "general",
                                            placAdj = {"TRUE" if design["placAdj"] else "FALSE"}, bnds = bnds[[m]]))
  models[which.min(sapply(fits, gAIC))]
}}
"""
    return setup, "for (i in 1:nrow(sims)) one(sims[i, ])"


def main() -> None:
    fixture = json.loads(FIXTURE.read_text())
    for design in fixture["designs"]:
        shapes = [R_SHAPES.get(m, m) for m in design["models"]]

        def ours(design: dict = design, shapes: list[str] = shapes) -> object:
            return model_average(
                shapes,
                doses=design["doses"],
                estimates=design["estimates"],
                cov=np.array(design["S"]),
                placebo_adjusted=design["placAdj"],
                n_draws=N_DRAWS,
                seed=1,
            )

        setup, expression = r_loop(design)
        report(
            f"model_average {design['name']} ({', '.join(shapes)}), {N_DRAWS} draws",
            time_python(ours, repeat=5),
            time_r(setup, expression, repeat=1),
        )


if __name__ == "__main__":
    main()
