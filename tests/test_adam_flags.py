"""ADaM flags are read one way everywhere (dosefinding.adam.flag_values): population flags, the TEAE flag and
estimand event flags. Before, population flags counted only an exact "Y" (a lower-case "y" dropped the subject
from the population without a word) and any other text, such as "Yes", was silently "not flagged"."""

import pandas as pd
import pytest

from dosefinding.endpoints.safety import safety_set
from dosefinding.errors import InputError
from dosefinding.study.analysis_data import flag


def test_a_population_flag_in_lower_case_is_set() -> None:
    adsl = pd.DataFrame({"FASFL": ["Y", "y", " y ", "N", None]})
    assert flag(adsl, "FASFL").tolist() == [True, True, True, False, False]


def test_a_population_flag_that_is_not_a_flag_is_an_error() -> None:
    with pytest.raises(InputError, match=r"populations: 'Yes' in FASFL of adsl is not a flag \(Y/N, 1/0 or "):
        flag(pd.DataFrame({"FASFL": ["Y", "Yes"]}), "FASFL")


def test_the_safety_set_reads_flags_as_the_analysis_does() -> None:
    adsl = pd.DataFrame({"USUBJID": ["1", "2", "3"], "TRT01A": ["Placebo", "Drug", "Drug"], "SAFFL": ["Y", 1, "n"]})
    adae = pd.DataFrame({"USUBJID": ["1", "2", "3"], "TRTEMFL": ["Y", "y", "Y"]})
    s = safety_set(adae, adsl, arms=["Placebo", "Drug"])
    assert s.denominators.to_dict() == {"Placebo": 1, "Drug": 1, "Total": 2} and len(s.events) == 2
    with pytest.raises(InputError, match=r"teae: 'yes' in TRTEMFL of adae is not a flag"):
        safety_set(adae.assign(TRTEMFL=["Y", "yes", "Y"]), adsl, arms=["Placebo", "Drug"])
