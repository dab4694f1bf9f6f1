"""derive_bds: ADaM BDS rows from ESSDAI item-level data, checked against hand-computed rows.

ESSDAI weights from Seror et al., Ann Rheum Dis 2010;69:1103-9; responder = decrease of at
least 3 points (A2201 exploratory endpoint); categories low < 5, moderate 5-13, high >= 14
(Seror et al., Ann Rheum Dis 2016;75:382-9). Values exactly (integer weights).
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
import pytest

from dosefinding.endpoints.bds import derive_bds
from dosefinding.endpoints.instruments import ESSDAI_DOMAINS, essdai
from dosefinding.errors import InputError

ZERO = dict.fromkeys(ESSDAI_DOMAINS, 0)


def _visits() -> pd.DataFrame:
    rows = [
        # subject 1: glandular moderate (4) + articular moderate (4) + biological moderate (2)
        # + constitutional low (3) = 13 at baseline; articular low (2) + biological moderate (2) = 4 at week 24
        {"USUBJID": "1", "TRT01P": "300 mg", "AVISIT": "Baseline", "AVISITN": 0}
        | ZERO
        | {"glandular": 2, "articular": 2, "biological": 2, "constitutional": 1},
        {"USUBJID": "1", "TRT01P": "300 mg", "AVISIT": "Week 24", "AVISITN": 24}
        | ZERO
        | {"articular": 1, "biological": 2},
        # subject 2: muscular low (6) + lymphadenopathy moderate (8) = 14 at baseline; week 24 renal unknown
        {"USUBJID": "2", "TRT01P": "Placebo", "AVISIT": "Week 24", "AVISITN": 24}
        | ZERO
        | {"muscular": 1, "renal": None},
        {"USUBJID": "2", "TRT01P": "Placebo", "AVISIT": "Baseline", "AVISITN": 0}
        | ZERO
        | {"muscular": 1, "lymphadenopathy": 2},
        # subject 3: no baseline; CNS moderate (10) + haematological low (2) = 12 at week 12
        {"USUBJID": "3", "TRT01P": "Placebo", "AVISIT": "Week 12", "AVISITN": 12}
        | ZERO
        | {"cns": 2, "haematological": 1},
    ]
    return pd.DataFrame(rows)


def test_derive_bds_essdai_hand_computed():
    bds = derive_bds(
        _visits(),
        partial(essdai, allow_missing=True),
        paramcd="ESSDAI",
        param="ESSDAI total score",
        keep=["TRT01P"],
        crit1=("<=", -3),
        cut_points=[5, 14],
        labels=["low", "moderate", "high"],
    )
    assert bds["USUBJID"].tolist() == ["1", "1", "2", "2", "3"]
    assert bds["AVISIT"].tolist() == ["Baseline", "Week 24", "Baseline", "Week 24", "Week 12"]
    np.testing.assert_array_equal(bds["AVAL"], [13, 4, 14, np.nan, 12])
    np.testing.assert_array_equal(bds["BASE"], [13, 13, 14, 14, np.nan])
    np.testing.assert_array_equal(bds["CHG"], [np.nan, -9, np.nan, np.nan, np.nan])
    assert bds["ABLFL"].tolist() == ["Y", "", "Y", "", ""]
    assert bds["CRIT1FL"].tolist() == ["", "Y", "", "", ""]
    assert bds["CRIT1"].iloc[0] == "CHG <= -3"
    assert bds["AVALCAT1"].tolist() == ["moderate", "low", "high", "", "moderate"]
    assert set(bds["PARAMCD"]) == {"ESSDAI"} and set(bds["PARAM"]) == {"ESSDAI total score"}
    assert bds["TRT01P"].tolist() == ["300 mg", "300 mg", "Placebo", "Placebo", "Placebo"]


def test_derive_bds_non_responder_and_increase_criterion():
    data = _visits().iloc[:2].copy()
    data.loc[1, "articular"] = 3  # week 24: 6 + 2 = 8, CHG = -5
    decrease = derive_bds(data, essdai, paramcd="ESSDAI", crit1=("<=", -6))
    assert decrease["CHG"].tolist()[1] == -5 and decrease["CRIT1FL"].tolist() == ["", "N"]
    increase = derive_bds(data, essdai, paramcd="ESSDAI", crit1=(">", -6))
    assert increase["CRIT1FL"].tolist() == ["", "Y"]


def test_derive_bds_bad_input():
    data = _visits()
    with pytest.raises(InputError, match="more than one row"):
        derive_bds(pd.concat([data, data.iloc[:1]]), partial(essdai, allow_missing=True), paramcd="ESSDAI")
    with pytest.raises(InputError, match="renal"):
        derive_bds(data, essdai, paramcd="ESSDAI")
    with pytest.raises(InputError, match="paramcd"):
        derive_bds(data, partial(essdai, allow_missing=True), paramcd="ESSDAITOTAL")
    with pytest.raises(InputError, match="crit1"):
        derive_bds(data, partial(essdai, allow_missing=True), paramcd="ESSDAI", crit1=("=<", -3))
    with pytest.raises(InputError, match="missing column"):
        derive_bds(data.drop(columns="AVISITN"), partial(essdai, allow_missing=True), paramcd="ESSDAI")
