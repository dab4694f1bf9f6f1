"""Tables built from results: counts, the MCP step, published versus virtual."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dosefinding.errors import InputError
from dosefinding.report import comparison_table, counts_table, mcpmod_table

from .conftest import mcpmod_result


def test_counts_table_of_soc_and_pt_rows_with_a_total_column() -> None:
    index = pd.MultiIndex.from_tuples([("ANY EVENT", ""), ("Infections", ""), ("Infections", "Nasopharyngitis")],
                                      names=["AEBODSYS", "AEDECOD"])
    counts = pd.DataFrame({"Placebo": [41, 28, 0], "300 mg": [44, 23, 5], "Total": [85, 51, 5]}, index=index)
    table = counts_table(counts, pd.Series({"Placebo": 49, "300 mg": 47, "Total": 96}), id="table-3", title="AEs")
    assert [c.label for c in table.columns] == ["Placebo (N=49)", "300 mg (N=47)", "Total (N=96)"]
    assert [(r.label, r.level, r.cells) for r in table.rows] == [
        ("ANY EVENT", 0, ("41 (83.7)", "44 (93.6)", "85 (88.5)")),
        ("Infections", 0, ("28 (57.1)", "23 (48.9)", "51 (53.1)")),
        ("Nasopharyngitis", 1, ("0", "5 (10.6)", "5 (5.2)")),
    ]
    assert table.rows[2].values == ({"n": 0, "percent": 0.0}, {"n": 5, "percent": 500 / 47},
                                    {"n": 5, "percent": 500 / 96})


def test_counts_table_checks_its_input() -> None:
    counts = pd.DataFrame({"Placebo": [50]}, index=["Any"])
    with pytest.raises(InputError, match=r"larger than the denominator in arm\(s\) \['Placebo'\]"):
        counts_table(counts, {"Placebo": 49}, id="t", title="t")
    with pytest.raises(InputError, match=r"no N for arm\(s\) \['Placebo'\]"):
        counts_table(counts, {"Active": 49}, id="t", title="t")
    with pytest.raises(InputError, match="whole numbers"):
        counts_table(counts - 0.5, {"Placebo": 60}, id="t", title="t")


def test_mcpmod_table_holds_the_test_per_shape() -> None:
    result = mcpmod_result()
    table = mcpmod_table(result, id="table-2b", title="MCP step", footnotes=["Five candidate shapes."])
    mct = result.mct
    assert [r.label for r in table.rows] == list(mct.t_statistics.index)
    for row in table.rows:
        t, p = float(mct.t_statistics[row.label]), float(mct.p_values[row.label])
        assert row.values == (t, p, bool(p < 0.025))
        assert row.cells[0] == f"{t:.3f}" and float(row.cells[1]) == pytest.approx(p, abs=5e-4)
    assert table.footnotes[0].startswith("One-sided test at alpha = 0.025, 180 degrees of freedom; critical value ")
    assert table.footnotes[0].endswith(f"Selected shape: {result.selection.selected} (AIC).")
    assert table.footnotes[1] == "Five candidate shapes."


def test_comparison_table_differences_and_decimals() -> None:
    frame = pd.DataFrame({"Published": [-1.92, 61.0, np.nan], "Virtual trial": [-1.714, 58.26, 0.31]},
                         index=["ESSDAI difference", "Responders (%)", "Flow (mL/min)"])
    table = comparison_table(frame, id="table-4", title="Published vs virtual",
                             digits={"ESSDAI difference": 2, "Responders (%)": 1, "Flow (mL/min)": 2})
    assert [r.cells for r in table.rows] == [("-1.92", "-1.71", "0.21"), ("61.0", "58.3", "-2.7"),
                                             ("NE", "0.31", "NE")]
    assert table.rows[0].values[2] == pytest.approx(0.206, abs=1e-12)
    assert table.rows[2].values == (None, 0.31, None)
    with pytest.raises(InputError, match="need 3 numbers of decimals"):
        comparison_table(frame, id="t", title="t", digits=[1, 2])
    with pytest.raises(InputError, match=r"no number of decimals for row\(s\) \['Flow \(mL/min\)'\]"):
        comparison_table(frame, id="t", title="t", digits={"ESSDAI difference": 2, "Responders (%)": 1})
    with pytest.raises(InputError, match="missing column 'Published'"):
        comparison_table(frame.drop(columns="Published"), id="t", title="t")
