"""The antidepressant trial laid out as in rbmi's vignettes: the ICE at the first missing visit, 3618 excepted."""

from __future__ import annotations

import pandas as pd
import pytest

from dosefinding.datasets import antidepressant_data
from dosefinding.imputation import ImputationData, imputation_data


def antidepressant(strategy: str = "JR") -> ImputationData:
    data = antidepressant_data()
    wide = data.pivot(index="PATIENT", columns="VISIT", values="CHANGE").reindex(columns=["4", "5", "6", "7"])
    first = wide.isna().idxmax(axis=1)[wide.isna().any(axis=1)].drop("3618")  # 3618: intermittent, MAR
    ice = pd.DataFrame({"subject": first.index, "visit": first.to_numpy(), "strategy": strategy})
    return imputation_data(data, subject="PATIENT", visit="VISIT", outcome="CHANGE", arm="THERAPY",
                           covariates=["BASVAL"], ice=ice, references={"DRUG": "PLACEBO"})


@pytest.fixture(scope="session")
def jr() -> ImputationData:
    return antidepressant("JR")
