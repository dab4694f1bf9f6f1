"""Shared data of the MMRM tests: fev_data (from R mmrm 0.3.18, a copy of ../shared/data/fev) and SAS numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

DATA = Path(__file__).parents[1] / "fixtures" / "fev"


def load_fev() -> pd.DataFrame:
    """fev_data with R's factor levels (SEX: Male, Female), so coefficients are named as in R and SAS."""
    fev = pd.read_csv(DATA / "fev_data.csv")
    fev["SEX"] = pd.Categorical(fev["SEX"], categories=["Male", "Female"])
    return fev


@pytest.fixture(scope="session")
def fev() -> pd.DataFrame:
    return load_fev()


@pytest.fixture(scope="session")
def sas() -> dict:
    return json.loads((DATA / "sas_reference.json").read_text())
