"""Unstructured MMRM on fev_data with the Satterthwaite table, ours against R's nlme::gls (corSymm + varIdent).

Target (issue 4): at least 10x faster than gls and at most 50 ms. gls fits the same model
(same -2 Res Log Likelihood, see tests/mmrm/test_gls_reference.py) and computes no degrees
of freedom. Two comparisons in the same run: gls with its defaults (what users run), and
gls at equal accuracy (glsControl with optim's BFGS and tolerances 1e-12: gls's default
nlminb stops short on this flat likelihood); each line says how far gls's -2 Res Log
Likelihood is above ours.

It also times the unstructured fit on R mmrm's bcva_data (1000 subjects, 10 visits, shipped as
dosefinding.datasets.bcva_data; target 2 s) against gls on the same data (one gls run; ``--no-r-bcva``
skips it, as it takes minutes).
"""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path

import pandas as pd

from _timing import report, report_accuracy, time_python, time_r, time_r_values
from dosefinding import mmrm

# the files of dosefinding.datasets.fev_data and bcva_data, read as CSV by both sides (R's read.csv, pd.read_csv)
MMRM_DATA = Path(str(resources.files("dosefinding.datasets").joinpath("data", "mmrm")))
DATA = MMRM_DATA / "fev_data.csv"
BCVA = MMRM_DATA / "bcva_data.csv"
BCVA_FORMULA = "BCVA_CHG ~ BCVA_BL + RACE + ARMCD * AVISIT"
FORMULA = "FEV1 ~ RACE + SEX + ARMCD * AVISIT"
R_SETUP = f"""
fev <- read.csv("{DATA.as_posix()}")
values <- function(fit) -2 * as.numeric(logLik(fit))
tight <- glsControl(opt = "optim", optimMethod = "BFGS", tolerance = 1e-12, msTol = 1e-14, maxIter = 1000,
                    msMaxIter = 1000)
fev <- fev[!is.na(fev$FEV1), ]
fev$AVISIT <- factor(fev$AVISIT)
fev$VISIT_INDEX <- as.integer(fev$AVISIT)
"""
R_BCVA_SETUP = f"""
suppressPackageStartupMessages(library(nlme))
bcva <- read.csv("{BCVA.as_posix()}")
bcva <- bcva[!is.na(bcva$BCVA_CHG), ]
bcva$AVISIT <- factor(bcva$AVISIT)
bcva$VISIT_INDEX <- as.integer(bcva$AVISIT)
"""
R_BCVA_CALL = (
    "gls(BCVA_CHG ~ BCVA_BL + RACE + ARMCD * AVISIT, data = bcva, method = 'REML', "
    "correlation = corSymm(form = ~ VISIT_INDEX | USUBJID), weights = varIdent(form = ~ 1 | AVISIT))"
)
R_CALL = (
    "gls(FEV1 ~ RACE + SEX + ARMCD * AVISIT, data = fev, method = 'REML', "
    "correlation = corSymm(form = ~ VISIT_INDEX | USUBJID), weights = varIdent(form = ~ 1 | AVISIT){control})"
)
CONTROLS = {"gls defaults": "", "equal accuracy (gls with tight BFGS)": ", control = tight"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-r-bcva", action="store_true", help="do not time gls on bcva_data")
    args = parser.parse_args()
    fev = pd.read_csv(DATA)
    ours = time_python(
        lambda: mmrm(FORMULA, fev, subject="USUBJID", visit="AVISIT", covariance="us").table, repeat=30
    )
    m2ll = mmrm(FORMULA, fev, subject="USUBJID", visit="AVISIT").m2_log_likelihood
    print("mmrm us + Satterthwaite table, fev_data (197 subjects, 4 visits)")
    for label, control in CONTROLS.items():
        r = time_r_values(R_SETUP, R_CALL.format(control=control), repeat=3, libraries="nlme")
        distance = "" if r is None else f"gls's -2 Res Log Likelihood above ours by {r[1][0] - m2ll:.1e}"
        report_accuracy(label, ours, None if r is None else r[0], distance)
    kr = time_python(lambda: mmrm(FORMULA, fev, subject="USUBJID", visit="AVISIT", df_method="kenward_roger").table, 30)
    print(f"mmrm us + Kenward-Roger table, fev_data: ours {kr * 1e3:.2f} ms")

    bcva = pd.read_csv(BCVA)
    bcva["AVISIT"] = pd.Categorical(bcva["AVISIT"], categories=sorted(bcva["AVISIT"].unique()))
    ours = time_python(lambda: mmrm(BCVA_FORMULA, bcva, subject="USUBJID", visit="AVISIT").table, repeat=3)
    name = "mmrm us + Satterthwaite table, bcva_data (1000 subjects, 10 visits; target 2 s)"
    if args.no_r_bcva:
        print(f"{name}: ours {ours * 1e3:.2f} ms (gls not run: --no-r-bcva)")
    else:
        report(name, ours, time_r(R_BCVA_SETUP, R_BCVA_CALL, repeat=1))


if __name__ == "__main__":
    main()
