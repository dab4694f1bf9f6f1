"""Table 2 builders on hand-made tidy frames (the ``lsmeans``, ``differences``, ``responders`` and
``responder_tests`` frames of the results): exact cells, decimals per endpoint, errors naming the frame."""

from __future__ import annotations

import pandas as pd
import pytest

from dosefinding.errors import InputError
from dosefinding.report.clinical import efficacy_summary_table, responder_table

ARMS = ["Placebo", "5 mg", "300 mg"]


@pytest.fixture
def lsmeans() -> pd.DataFrame:
    rows = [("ESSDAI", "Placebo", -3.564, 0.79, -5.12, -2.01, 47), ("ESSDAI", "5 mg", -3.221, 0.81, -4.81, -1.63, 45),
            ("ESSDAI", "300 mg", -5.484, 0.80, -7.06, -3.91, 46), ("SFSTIM", "Placebo", -0.005, 0.066, -0.135, 0.125,
                                                                     44),
            ("SFSTIM", "5 mg", 0.031, 0.068, -0.103, 0.165, 43), ("SFSTIM", "300 mg", 0.215, 0.067, 0.083, 0.347, 44)]
    frame = pd.DataFrame(rows, columns=["endpoint", "arm", "estimate", "se", "lower", "upper", "n"])
    other_visit = frame.assign(visit=12.0, estimate=frame["estimate"] / 2)
    return pd.concat([frame.assign(visit=24.0), other_visit], ignore_index=True)


@pytest.fixture
def differences() -> pd.DataFrame:
    rows = [("ESSDAI", "5 mg", 0.343, 1.13, -1.885, 2.571, 0.7617), ("ESSDAI", "300 mg", -1.9215, 1.13, -4.1532,
                                                                      0.3166, 0.0917),
            ("SFSTIM", "5 mg", 0.036, 0.094, -0.149, 0.221, 0.70), ("SFSTIM", "300 mg", 0.2196, 0.094, 0.0124, 0.3812,
                                                                    0.0372)]
    return pd.DataFrame(rows, columns=["endpoint", "arm", "estimate", "se", "lower", "upper", "p_value"]).assign(
        visit=24.0)


def test_efficacy_summary_cells_with_the_papers_decimals(lsmeans: pd.DataFrame, differences: pd.DataFrame) -> None:
    table = efficacy_summary_table(lsmeans, differences, {"ESSDAI": "ESSDAI", "SFSTIM": "Stimulated salivary flow "
                                                          "(mL/min)"}, 24, digits={"ESSDAI": 2})
    assert [c.label for c in table.columns] == ARMS
    assert [("  " * r.level + r.label, r.cells) for r in table.rows] == [
        ("ESSDAI", ("", "", "")),
        ("  n", ("47", "45", "46")),
        ("  LS mean change (95% CI)", ("-3.56 (-5.12, -2.01)", "-3.22 (-4.81, -1.63)", "-5.48 (-7.06, -3.91)")),
        ("  Difference to placebo (95% CI)", ("", "0.34 (-1.89, 2.57)", "-1.92 (-4.15, 0.32)")),
        ("  p-value", ("", "0.762", "0.092")),
        ("Stimulated salivary flow (mL/min)", ("", "", "")),
        ("  n", ("44", "43", "44")),   # SE 0.094: ci_digits gives 2 decimals, as the paper
        ("  LS mean change (95% CI)", ("-0.01 (-0.14, 0.13)", "0.03 (-0.10, 0.17)", "0.22 (0.08, 0.35)")),
        ("  Difference to placebo (95% CI)", ("", "0.04 (-0.15, 0.22)", "0.22 (0.01, 0.38)")),
        ("  p-value", ("", "0.700", "0.037")),
    ]
    diff = next(r for r in table.rows if r.group == "ESSDAI" and r.label.startswith("Difference"))
    assert diff.values[2] == {"estimate": -1.9215, "se": 1.13, "lower": -4.1532, "upper": 0.3166}
    assert diff.values[0] is None
    default = efficacy_summary_table(lsmeans, differences, {"ESSDAI": "ESSDAI"}, 24)
    assert default.rows[3].cells[2] == "-1.9 (-4.2, 0.3)"  # ci_digits(1.13) = 1 without the override


def test_efficacy_summary_errors_name_the_frame(lsmeans: pd.DataFrame, differences: pd.DataFrame) -> None:
    with pytest.raises(InputError, match=r"labels: endpoint 'PHGA' has no LS means at visit 24"):
        efficacy_summary_table(lsmeans, differences, {"PHGA": "PhGA"}, 24)
    with pytest.raises(InputError, match=r"differences \(ESSDAI\): 2 rows match \{'arm': '5 mg'\}"):
        efficacy_summary_table(lsmeans, pd.concat([differences, differences.iloc[:1]]), {"ESSDAI": "ESSDAI"}, 24)
    with pytest.raises(InputError, match=r"differences: missing column\(s\) \['p_value'\]"):
        efficacy_summary_table(lsmeans, differences.drop(columns="p_value"), {"ESSDAI": "ESSDAI"}, 24)
    with pytest.raises(InputError, match=r"every arm but one"):
        efficacy_summary_table(lsmeans, differences[differences["arm"] != "5 mg"], {"ESSDAI": "ESSDAI"}, 24)


@pytest.fixture
def rates() -> pd.DataFrame:
    return pd.DataFrame({"name": "ESSDAI decrease >= 3", "arm": ARMS, "n": [49, 47, 47], "responders": [30, 29, 42],
                         "percent": [100 * 30 / 49, 100 * 29 / 47, 100 * 42 / 47], "lower": [46.24, 46.5, 76.9],
                         "upper": [74.80, 75.5, 96.45]})


@pytest.fixture
def tests_frame() -> pd.DataFrame:
    return pd.DataFrame({"name": "ESSDAI decrease >= 3", "arm": ["5 mg", "300 mg"], "difference": [0.48, 28.14],
                         "lower": [-18.9, 8.2], "upper": [19.8, 46.4], "p_value": [1.0, 0.00211],
                         "method": "Newcombe hybrid score"})


def test_responder_table_cells_and_footnote_naming_both_methods(rates: pd.DataFrame,
                                                                tests_frame: pd.DataFrame) -> None:
    table = responder_table(rates, tests_frame, test="Fisher exact test",
                            names={"ESSDAI decrease >= 3": "ESSDAI responders (decrease >= 3), week 24"})
    assert [("  " * r.level + r.label, r.cells) for r in table.rows] == [
        ("ESSDAI responders (decrease >= 3), week 24", ("", "", "")),
        ("  Responders, n/N (%)", ("30/49 (61.2)", "29/47 (61.7)", "42/47 (89.4)")),
        ("  95% CI", ("46.2, 74.8", "46.5, 75.5", "76.9, 96.5")),
        ("  Difference to placebo, % (95% CI)", ("", "0.5 (-18.9, 19.8)", "28.1 (8.2, 46.4)")),
        ("  p-value", ("", ">0.999", "0.002")),
    ]
    assert table.footnotes == (("Percentages with exact (Clopper-Pearson) 95% confidence intervals; differences to "
                               "placebo in percentage points with Newcombe hybrid score 95% confidence intervals; "
                               "p-values: Fisher exact test."),)


def test_responder_table_refuses_an_unnamed_method(rates: pd.DataFrame, tests_frame: pd.DataFrame) -> None:
    with pytest.raises(InputError, match="difference_method: name the interval method"):
        responder_table(rates, tests_frame.drop(columns="method"))
    mixed = tests_frame.assign(method=["Wald", "Newcombe hybrid score"])
    with pytest.raises(InputError, match="several methods"):
        responder_table(rates, mixed)
    with pytest.raises(InputError, match="names: responder definition 'x' not in responders"):
        responder_table(rates, tests_frame, names=["x"])
