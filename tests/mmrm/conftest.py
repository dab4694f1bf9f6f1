"""Shared data of the MMRM tests: fev_data (R mmrm 0.3.18, from dosefinding.datasets; its file
src/dosefinding/datasets/data/mmrm/fev_data.csv is the one the R scripts read) and SAS numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from dosefinding.datasets import fev_data

DATA = Path(__file__).parents[1] / "fixtures" / "fev"  # sas_reference.json


def load_fev() -> pd.DataFrame:
    """fev_data with R's factor levels (SEX: Male, Female), so coefficients are named as in R and SAS."""
    return fev_data()


@pytest.fixture(scope="session")
def fev() -> pd.DataFrame:
    return load_fev()


@pytest.fixture(scope="session")
def sas() -> dict:
    return json.loads((DATA / "sas_reference.json").read_text())
