"""Unstructured MMRM on fev_data with the Satterthwaite table, ours against R's nlme::gls (corSymm + varIdent).

Target (issue 4): at least 10x faster than gls and at most 50 ms. gls fits the same model
(same -2 Res Log Likelihood, see tests/mmrm/test_gls_reference.py) with its default
optimiser and no degrees of freedom.

It also times the unstructured fit on R mmrm's bcva_data (1000 subjects, 10 visits, a copy
in tests/fixtures/fev; target 2 s) against gls on the same data (one gls run; ``--no-r-bcva``
skips it, as it takes minutes).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from _timing import report, time_python, time_r
from dosefinding import mmrm

FIXTURES = Path(__file__).parents[1] / "tests" / "fixtures" / "fev"
DATA = FIXTURES / "fev_data.csv"
BCVA = FIXTURES / "bcva_data.csv"
BCVA_FORMULA = "BCVA_CHG ~ BCVA_BL + RACE + ARMCD * AVISIT"
FORMULA = "FEV1 ~ RACE + SEX + ARMCD * AVISIT"
R_SETUP = f"""
suppressPackageStartupMessages(library(nlme))
fev <- read.csv("{DATA.as_posix()}")
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
    "correlation = corSymm(form = ~ VISIT_INDEX | USUBJID), weights = varIdent(form = ~ 1 | AVISIT))"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-r-bcva", action="store_true", help="do not time gls on bcva_data")
    args = parser.parse_args()
    fev = pd.read_csv(DATA)
    ours = time_python(
        lambda: mmrm(FORMULA, fev, subject="USUBJID", visit="AVISIT", covariance="us").table, repeat=30
    )
    report("mmrm us + Satterthwaite table, fev_data (197 subjects, 4 visits)", ours, time_r(R_SETUP, R_CALL, repeat=5))
    kr = time_python(lambda: mmrm(FORMULA, fev, subject="USUBJID", visit="AVISIT", df_method="kenward_roger").table, 30)
    print(f"mmrm us + Kenward-Roger table, fev_data: ours {kr * 1e3:.2f} ms")

    bcva = pd.read_csv(BCVA)
    bcva["AVISIT"] = pd.Categorical(bcva["AVISIT"], categories=sorted(bcva["AVISIT"].unique()))
    ours = time_python(lambda: mmrm(BCVA_FORMULA, bcva, subject="USUBJID", visit="AVISIT").table, repeat=3)
    r_time = None if args.no_r_bcva else time_r(R_BCVA_SETUP, R_BCVA_CALL, repeat=1)
    report("mmrm us + Satterthwaite table, bcva_data (1000 subjects, 10 visits; target 2 s)", ours, r_time)


if __name__ == "__main__":
    main()
