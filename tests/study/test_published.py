"""study.published on hand-made frames: SE derivations, lookups (one row, sum, rank), bounds, and errors that
name the item and its selector."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from dosefinding.errors import InputError
from dosefinding.study.published import (
    PublishedItem,
    load_published,
    published_frame,
    published_table,
    virtual_value,
)

FRAMES = {
    "ae": pd.DataFrame({"soc": ["", "", "", ""], "term": ["Severe TEAE"] * 4,
                        "arm": ["Placebo", "5 mg", "50 mg", "300 mg"], "n": [1, 2, 0, 3],
                        "percent": [2.0, 4.3, 0.0, 6.4]}),
    "mcp": pd.DataFrame({"shape": ["linear", "emax", "exponential"], "p_value": [0.011, 0.096, 0.013]}),
}


def item(**kw: object) -> PublishedItem:
    base = {"label": "x", "section": "S", "kind": "count", "frame": "ae", "where": {"arm": "5 mg"}, "column": "n",
            "value": 2.0}
    return PublishedItem(**{**base, **kw})  # type: ignore[arg-type]


def test_published_se_by_kind() -> None:
    assert item(kind="difference", value=28, lower=8.2, upper=46.4).published_se() == (
        pytest.approx(38.2 / (2 * 1.959963984540054), rel=1e-15), "SE from the 95% CI")
    assert item(kind="percent", value=89, n=47).published_se()[0] == pytest.approx(
        100 * math.sqrt(0.89 * 0.11 / 47), rel=1e-15)
    assert item(kind="count", value=5, n=141).published_se()[0] == pytest.approx(
        math.sqrt(5 * 136 / 141), rel=1e-15)
    assert item(kind="count", value=0, n=49).published_se() == (None, ("published 0 of n = 49: the SE derived "
                                                                "from it is 0"))
    assert item(kind="p_value", value=0.092).published_se() == (None, "a p-value has no standard error")
    assert item(kind="mean", value=48).published_se() == (None, "the text gives no SD for this mean")
    assert item(kind="p_value", value=None, bounds=(0, 0.025)).published_se() == (None, ("published as a range "
                                                                                  "(< 0.025)"))
    assert item(kind="count", value=4, note="fixed by design").published_se() == (None, "fixed by design")


def test_lookups_one_row_sum_and_rank() -> None:
    assert virtual_value(item(), FRAMES)[0] == 2.0
    summed = item(where={"term": "Severe TEAE", "arm": ["5 mg", "50 mg", "300 mg"]}, aggregate="sum")
    assert virtual_value(summed, FRAMES)[0] == 5.0
    ranked = [virtual_value(item(frame="mcp", where={}, column="p_value", kind="p_value", rank=k), FRAMES)[0]
              for k in (1, 2, 3)]
    assert ranked == [0.011, 0.013, 0.096]


def test_an_adverse_event_nobody_had_is_its_absent_value() -> None:
    """The data list only the terms someone had: an item with ``absent = 0`` reads 0 when no row matches; the
    rows that match still win."""
    nobody = item(kind="percent", where={"term": "LYMPHOCYTE COUNT DECREASED", "arm": "Placebo"}, column="percent",
                  value=0.0, absent=0.0)
    assert virtual_value(nobody, FRAMES) == (0.0, None)
    assert virtual_value(item(absent=0.0), FRAMES)[0] == 2.0


def test_lookup_errors_name_the_item_and_selector() -> None:
    with pytest.raises(InputError, match=r"published item 'x' \(ae where \{'arm': 'Total'\}\): no row matches"):
        virtual_value(item(where={"arm": "Total"}), FRAMES)
    with pytest.raises(InputError, match=r"published item 'x' \(ae where \{'soc': ''\}\): 4 rows match; expected one"):
        virtual_value(item(where={"soc": ""}), FRAMES)
    with pytest.raises(InputError, match=r"no frame 'lsmeans' in the results"):
        virtual_value(item(frame="lsmeans"), FRAMES)
    with pytest.raises(InputError, match=r"no column 'estimate'"):
        virtual_value(item(column="estimate"), FRAMES)
    with pytest.raises(InputError, match=r"selector: no column 'visit'"):
        virtual_value(item(where={"visit": 24}), FRAMES)
    with pytest.raises(InputError, match=r"rank 4 of 3 matching rows"):
        virtual_value(item(frame="mcp", where={}, column="p_value", rank=4), FRAMES)


def test_frame_and_table_cells() -> None:
    items = [item(label="Severe, 5 mg", kind="count", value=4, n=47, digits=0),
             item(label="Severe, ianalumab", value=None, bounds=(4, 6), where={"arm": ["5 mg", "50 mg", "300 mg"]},
                  aggregate="sum", digits=0)]
    frame = published_frame(items, FRAMES)
    se = math.sqrt(4 * 43 / 47)
    assert frame.loc[0, "distance"] == pytest.approx((2 - 4) / se, rel=1e-15)
    assert bool(frame.loc[1, "within"]) is True
    table = published_table(items, FRAMES, id="table-4")
    assert [(r.label, r.cells) for r in table.rows] == [
        ("S", ("", "", "", "", "")),
        ("Severe, 5 mg", ("4", "2", "1.91", "-1.05", "binomial SE of a count of n = 47")),
        ("Severe, ianalumab", ("4 to 6", "5", "n/a", "within", "published as a range (4 to 6)")),
    ]


def test_toml_errors_name_the_key(tmp_path: Path) -> None:
    file = tmp_path / "p.toml"
    good = ('label = "a"\nsection = "S"\nkind = "count"\nframe = "ae"\nwhere = {arm = "5 mg"}\ncolumn = "n"\n')
    file.write_text("[[published]]\n" + good + "value = 1\nbounds = [0, 2]\n")
    with pytest.raises(InputError, match=r"published\[0\]: give either value or bounds"):
        load_published(file)
    file.write_text("[[published]]\n" + good + "value = 1\nlowr = 0\n")
    with pytest.raises(InputError, match=r"published\[0\].lowr: unknown key"):
        load_published(file)
    file.write_text("[[published]]\n" + good + "value = 1\n[[published]]\n" + good + "value = 2\n")
    with pytest.raises(InputError, match=r"label\(s\) \['a'\] used more than once"):
        load_published(file)
    file.write_text("[[published]]\n" + good.replace('"count"', '"ratio"') + "value = 1\n")
    with pytest.raises(InputError, match=r"published\[0\].kind: must be one of"):
        load_published(file)
