"""Unstructured MMRM on fev_data with the Satterthwaite table, ours against R's nlme::gls (corSymm + varIdent).

Target (issue 4): at least 10x faster than gls and at most 50 ms. gls fits the same model
(same -2 Res Log Likelihood, see tests/mmrm/test_gls_reference.py) with its default
optimiser and no degrees of freedom.

With ``--bcva PATH`` (R mmrm's bcva_data.csv, 1000 subjects, 10 visits; not in the
repository) it also times the unstructured fit there (target 2 s; ours only).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from _timing import report, time_python, time_r
from dosefinding import mmrm

DATA = Path(__file__).parents[1] / "tests" / "fixtures" / "fev" / "fev_data.csv"
FORMULA = "FEV1 ~ RACE + SEX + ARMCD * AVISIT"
R_SETUP = f"""
suppressPackageStartupMessages(library(nlme))
fev <- read.csv("{DATA.as_posix()}")
fev <- fev[!is.na(fev$FEV1), ]
fev$AVISIT <- factor(fev$AVISIT)
fev$VISIT_INDEX <- as.integer(fev$AVISIT)
"""
R_CALL = (
    "gls(FEV1 ~ RACE + SEX + ARMCD * AVISIT, data = fev, method = 'REML', "
    "correlation = corSymm(form = ~ VISIT_INDEX | USUBJID), weights = varIdent(form = ~ 1 | AVISIT))"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bcva", type=Path, help="path to bcva_data.csv")
    args = parser.parse_args()
    fev = pd.read_csv(DATA)
    ours = time_python(
        lambda: mmrm(FORMULA, fev, subject="USUBJID", visit="AVISIT", covariance="us").table, repeat=30
    )
    report("mmrm us + Satterthwaite table, fev_data (197 subjects, 4 visits)", ours, time_r(R_SETUP, R_CALL, repeat=5))

    if args.bcva is not None:
        bcva = pd.read_csv(args.bcva)
        bcva["AVISIT"] = pd.Categorical(bcva["AVISIT"], categories=sorted(bcva["AVISIT"].unique()))
        ours = time_python(
            lambda: mmrm("BCVA_CHG ~ BCVA_BL + RACE + ARMCD * AVISIT", bcva, subject="USUBJID", visit="AVISIT").table,
            repeat=3,
        )
        print(f"mmrm us + Satterthwaite table, bcva_data (1000 subjects, 10 visits): ours {ours:.2f} s "
              "(target 2 s; gls not timed)")


if __name__ == "__main__":
    main()
