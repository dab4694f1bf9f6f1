"""One dose-response fit, ours against R's fitMod: emax on biom (raw data), sigEmax on glycobrom (estimates).

Two comparisons in the same run: R's fitMod with its default control (what users run) and
with a tight one (nlminb and optimize tolerances at 1e-15 and 1e-12); each line says how
far R's (generalised) residual sum of squares is above ours, relative: the accuracy R
reached (the parameters of these flat optima are determined only to about the square root
of the objective's rounding, 1e-8 relative, on either side).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from _timing import report_accuracy, time_python, time_r_values
from dosefinding.mod import fit_dose_response

FIXTURE = Path(__file__).parents[1] / "tests" / "fixtures" / "r" / "fit_reference.json"
R_SETUP = """
data(biom); data(glycobrom); S <- diag(glycobrom$sdev^2)
values <- function(fit) if (is.null(fit$RSS)) fit$gRSS else fit$RSS
tight <- list(nlminbcontrol = list(rel.tol = 1e-15, x.tol = 1e-15, eval.max = 2000, iter.max = 2000),
              optimizetol = 1e-12)
"""
R_EMAX = 'fitMod(dose, resp, data = biom, model = "emax", bnds = defBnds(1)$emax{control})'
R_SIGEMAX = (
    'fitMod(dose, fev1, data = glycobrom, model = "sigEmax", S = S, type = "general", '
    "bnds = defBnds(100)$sigEmax{control})"
)
CONTROLS = {"R defaults": "", "equal accuracy (R's tight control)": ", control = tight"}


def compare(name: str, ours_time: float, ours: float, r_call: str) -> None:
    print(name)
    for label, control in CONTROLS.items():
        r = time_r_values(R_SETUP, r_call.format(control=control), repeat=50)
        if r is None:
            report_accuracy(label, ours_time, None, "")
            continue
        above = (r[1][0] - ours) / ours
        report_accuracy(label, ours_time, r[0], f"R's objective above ours by {above:.1e} (relative)")


def main() -> None:
    fixture = json.loads(FIXTURE.read_text())
    biom = pd.DataFrame(fixture["datasets"]["biom"])
    glycobrom = fixture["estimates"]["glycobrom"]
    cov = np.array(glycobrom["S"])

    def emax() -> object:
        return fit_dose_response("emax", data=biom, dose="dose", response="resp")

    def sigemax() -> object:
        return fit_dose_response("sigemax", doses=glycobrom["doses"], estimates=glycobrom["estimates"], cov=cov)

    compare("fit emax, biom raw data (100 patients)", time_python(emax, repeat=50),
            emax().objective, R_EMAX)
    compare("fit sigemax, glycobrom estimates (5 doses)", time_python(sigemax, repeat=50),
            sigemax().objective, R_SIGEMAX)


if __name__ == "__main__":
    main()
