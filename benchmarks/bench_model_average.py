"""Bootstrap model averaging, ours against R: 1000 draws, 3 shapes.

R DoseFinding 1.0-3 lacks maFitMod; what maFitMod does is one fitMod call per draw and
shape (plus a gAIC each), so R's time is that loop over the same draws (ours, passed to
R). Two designs: glycobrom (emax, sigEmax, exponential) and the A2201-like
placebo-adjusted one (emax, exponential, linear) of tests/fixtures/r/model_average_reference.R.

Two comparisons in the same run: fitMod with its default control (what users run) and
with a tight one (nlminb and optimize tolerances 1e-15 and 1e-12); each line says how far
R's smallest gAIC per draw is above ours (largest over the draws).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from _timing import report_accuracy, time_python, time_r_values
from dosefinding.mod import model_average

FIXTURE = Path(__file__).parents[1] / "tests" / "fixtures" / "r" / "model_average_reference.json"
R_SHAPES = {"sigEmax": "sigemax"}
N_DRAWS = 1000
CONTROLS = {"R defaults": "NULL", "equal accuracy (R's tight control)": "tight"}


def r_loop(design: dict, draws: np.ndarray, control: str) -> tuple[str, str]:
    """R setup and expression: fitMod of every model on each draw, the smallest gAIC of each draw."""
    doses = ", ".join(repr(float(d)) for d in design["doses"])
    s = ", ".join(repr(float(v)) for row in design["S"] for v in row)
    sims = ", ".join(repr(float(v)) for v in draws.ravel())
    models = ", ".join(f'"{m}"' for m in design["models"])
    n = len(design["doses"])
    setup = f"""
dose <- c({doses}); S <- matrix(c({s}), {n}, {n}, byrow = TRUE); models <- c({models})
sims <- matrix(c({sims}), {draws.shape[0]}, {n}, byrow = TRUE); bnds <- defBnds(max(dose))
tight <- list(nlminbcontrol = list(rel.tol = 1e-15, x.tol = 1e-15, eval.max = 2000, iter.max = 2000),
              optimizetol = 1e-12)
one <- function(y) {{
  fits <- lapply(models, function(m) fitMod(dose, y, model = m, S = S, type = "general", control = {control},
                                            placAdj = {"TRUE" if design["placAdj"] else "FALSE"}, bnds = bnds[[m]]))
  min(sapply(fits, gAIC))
}}
values <- function(result) result
"""
    return setup, "sapply(seq_len(nrow(sims)), function(i) one(sims[i, ]))"


def main() -> None:
    fixture = json.loads(FIXTURE.read_text())
    for design in fixture["designs"]:
        shapes = [R_SHAPES.get(m, m) for m in design["models"]]
        draws = np.random.default_rng(1).multivariate_normal(design["estimates"], np.array(design["S"]), N_DRAWS)

        def ours(design: dict = design, shapes: list[str] = shapes, draws: np.ndarray = draws) -> object:
            return model_average(
                shapes,
                doses=design["doses"],
                estimates=design["estimates"],
                cov=np.array(design["S"]),
                placebo_adjusted=design["placAdj"],
                draws=draws,
            )

        ours_time = time_python(ours, repeat=5)
        # gAIC as R's: the generalised RSS plus 2 x the number of parameters, without e0 when placebo-adjusted.
        smallest = ours().gaic.min(axis=1).to_numpy()
        print(f"model_average {design['name']} ({', '.join(shapes)}), {N_DRAWS} draws")
        for label, control in CONTROLS.items():
            r = time_r_values(*r_loop(design, draws, control), repeat=1)
            distance = "" if r is None else (
                f"R's smallest gAIC per draw above ours by up to {np.max(np.array(r[1]) - smallest):.1e}")
            report_accuracy(label, ours_time, None if r is None else r[0], distance)


if __name__ == "__main__":
    main()
