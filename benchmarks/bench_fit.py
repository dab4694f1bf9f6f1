"""One dose-response fit, ours against R's fitMod: emax on biom (raw data), sigEmax on glycobrom (estimates)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from _timing import report, time_python, time_r
from dosefinding.mod import fit_dose_response

FIXTURE = Path(__file__).parents[1] / "tests" / "fixtures" / "r" / "fit_reference.json"
R_SETUP = "data(biom); data(glycobrom); S <- diag(glycobrom$sdev^2)"
R_EMAX = 'fitMod(dose, resp, data = biom, model = "emax", bnds = defBnds(1)$emax)'
R_SIGEMAX = (
    'fitMod(dose, fev1, data = glycobrom, model = "sigEmax", S = S, type = "general", '
    "bnds = defBnds(100)$sigEmax)"
)


def main() -> None:
    fixture = json.loads(FIXTURE.read_text())
    biom = pd.DataFrame(fixture["datasets"]["biom"])
    glycobrom = fixture["estimates"]["glycobrom"]
    cov = np.array(glycobrom["S"])

    ours = time_python(lambda: fit_dose_response("emax", data=biom, dose="dose", response="resp"), repeat=50)
    report("fit emax, biom raw data (100 patients)", ours, time_r(R_SETUP, R_EMAX, repeat=50))

    ours = time_python(
        lambda: fit_dose_response(
            "sigemax", doses=glycobrom["doses"], estimates=glycobrom["estimates"], cov=cov
        ),
        repeat=50,
    )
    report("fit sigemax, glycobrom estimates (5 doses)", ours, time_r(R_SETUP, R_SIGEMAX, repeat=50))


if __name__ == "__main__":
    main()
