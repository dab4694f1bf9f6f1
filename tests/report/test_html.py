"""HTML tables and the self-contained report document."""

from __future__ import annotations

import base64
import dataclasses
import json
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from dosefinding.errors import InputError
from dosefinding.report import SYNTHETIC_LABEL, Report, Table, table_html


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text, of an HTML document."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, Any]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(text: str) -> Elements:
    parser = Elements()
    parser.feed(text)
    parser.close()
    return parser


def test_text_is_escaped() -> None:
    evil = '<script>alert("x")</script> & \'q\''
    frame = pd.DataFrame({evil: [evil]}, index=[evil])
    table = Table.from_frame(frame, id="t", title=evil, subtitle=evil, stub_header=evil, footnotes=[evil])
    out = table_html(table)
    assert "<script>" not in out
    parsed = parse(out)
    assert "script" not in [tag for tag, _ in parsed.tags]
    assert "".join(parsed.text).count(evil) == 7  # title, subtitle, stub header, column, row label, cell, note


def test_two_level_header_spans_and_row_groups() -> None:
    columns = pd.MultiIndex.from_tuples([("5 mg", "n"), ("5 mg", "%"), ("300 mg", "n"), ("300 mg", "%")])
    index = pd.MultiIndex.from_tuples([("Blood", "Leukopenia"), ("Blood", "Neutropenia")])
    frame = pd.DataFrame([["3", "6.4", "6", "12.8"], ["3", "6.4", "4", "8.5"]], index=index, columns=columns)
    out = table_html(Table.from_frame(frame, id="table-3", title="AEs", stub_header="PT"))
    tags = parse(out).tags
    spanners = [a for t, a in tags if t == "th" and a.get("class") == "df-spanner"]
    assert [s["colspan"] for s in spanners] == ["2", "2"]
    assert ("th", {"class": "df-stub-head", "scope": "col", "rowspan": "2"}) in tags
    rows = [a["class"] for t, a in tags if t == "tr" and "class" in a]
    assert rows == ["df-heading df-level-0", "df-row df-level-1", "df-row df-level-1"]


def test_mixed_header_with_and_without_spanner() -> None:
    columns = pd.MultiIndex.from_tuples([("", "Total"), ("Active", "5 mg"), ("Active", "300 mg")])
    frame = pd.DataFrame([["1", "2", "3"]], columns=columns, index=["x"])
    table = Table.from_frame(frame, id="t", title="T")
    assert table.columns[0].spanner is None
    out = table_html(table)
    first, second = (row.split("</tr>")[0] for row in out.split("<tr>")[1:3])
    assert '<th rowspan="2" scope="col">Total</th>' in first and 'colspan="2"' in first
    assert second.count("<th") == 2


def test_report_is_one_self_contained_file(report: Report, tmp_path: Path) -> None:
    files = report.write(tmp_path)
    text = files.html.read_text(encoding="utf-8")
    parsed = parse(text)
    tags = parsed.tags
    assert not [t for t, _ in tags if t in ("script", "link", "iframe", "object")]
    sources = [a["src"] for t, a in tags if t == "img"]
    assert len(sources) == len(report.figures) and all(s.startswith("data:image/") for s in sources)
    assert not [a for _, a in tags for k, v in a.items() if k in ("href", "src") and v and "://" in v]
    ids = [a["id"] for _, a in tags if "id" in a]
    assert len(ids) == len(set(ids))
    tables = [a["id"] for t, a in tags if t == "table" and a.get("class") == "df-table"]
    figures = [a["id"] for t, a in tags if t == "figure" and a.get("class") == "df-figure"]
    assert tables == ["table-1", "table-2", "table-2b", "table-3", "table-4"]
    assert figures == ["figure-1", "figure-2a", "figure-2b", "figure-2c", "figure-2d", "figure-2e", "figure-3a"]
    assert SYNTHETIC_LABEL in "".join(parsed.text)
    for source in sources:
        mime, data = source[len("data:"):].split(";base64,")
        raw = base64.b64decode(data)
        if mime == "image/svg+xml":
            assert ET.fromstring(raw).tag == "{http://www.w3.org/2000/svg}svg"
        else:
            assert mime == "image/png" and raw.startswith(b"\x89PNG\r\n\x1a\n")


def test_report_writes_figures_and_results(report: Report, tmp_path: Path) -> None:
    files = report.write(tmp_path)
    for block in report.figures:
        png, svg = files.figures[block.id]
        assert png.read_bytes() == block.png and png.read_bytes().startswith(b"\x89PNG")
        assert ET.fromstring(svg.read_bytes()).tag.endswith("svg")
    document = json.loads(files.results.read_text())
    assert list(document["tables"]) == [t.id for t in report.tables]
    assert (tmp_path / "report.html").exists() and (tmp_path / "results.json").exists()


def test_report_blocks_are_immutable_and_ids_unique() -> None:
    table = Table.from_frame(pd.DataFrame({"A": ["1"]}, index=["x"]), id="table-1", title="T")
    base = Report(title="R", study="S")
    one = base.table(table)
    assert base.blocks == () and len(one.blocks) == 1
    with pytest.raises(InputError, match=r"\['table-1'\] used more than once"):
        one.table(table)
    with pytest.raises(InputError, match="study"):
        Report(title="R", study=" ")
    with pytest.raises(InputError, match="table: must be"):
        base.table("not a table")  # type: ignore[arg-type]
    assert one.section("Efficacy").blocks[-1].id == "section-1"
    with pytest.raises(InputError, match="reserved"):
        base.section("Contents", id="contents")
    synthetic = Report(title="R", study="S", synthetic=True).table(table)
    assert synthetic.tables[0].synthetic and not table.synthetic


def test_contents_link_every_section_table_and_figure(report: Report) -> None:
    tags = parse(report.to_html()).tags
    links = [a["href"] for t, a in tags if t == "a"]
    targets = [b.id for b in report.blocks if hasattr(b, "id")]
    assert links == [f"#{i}" for i in targets]
    ids = {a["id"] for _, a in tags if "id" in a}
    assert {link[1:] for link in links} <= ids


def test_synthetic_reports_say_so_on_every_table_and_figure(report: Report) -> None:
    text = report.to_html()
    assert text.count(SYNTHETIC_LABEL) == 1 + len(report.tables)
    assert text.count("(synthetic data)</span></figcaption>") == len(report.figures)
    real = dataclasses.replace(report, synthetic=False,
                               blocks=tuple(dataclasses.replace(b, synthetic=False) if isinstance(b, Table) else b
                                            for b in report.blocks))
    assert SYNTHETIC_LABEL not in real.to_html() and "(synthetic data)" not in real.to_html()


def test_figure_data_from_frames_and_mappings_without_touching_them() -> None:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(2, 2))
    figure.subplots().plot([0, 1])
    frame = pd.DataFrame({"estimate": [1.0, float("nan")]})
    curve = pd.DataFrame({"estimate": [0.0, 1.0]}, index=pd.Index([0.0, 300.0], name="dose"))
    report = Report(title="R", study="S").figure(figure, id="figure-1", caption="c",
                                                 data={"points": frame, "curve": curve, "n": 2})
    assert report.figures[0].data == {"points": [{"estimate": 1.0}, {"estimate": None}],
                                      "curve": [{"dose": 0.0, "estimate": 0.0}, {"dose": 300.0, "estimate": 1.0}],
                                      "n": 2}
    assert list(frame.columns) == ["estimate"] and curve.index.name == "dose"
    with pytest.raises(InputError, match="data: must be DataFrames"):
        Report(title="R", study="S").figure(figure, id="figure-1", caption="c", data=object())  # type: ignore[arg-type]


def test_braces_and_markup_in_every_header_place() -> None:
    columns = pd.MultiIndex.from_tuples([("", "{n}"), ("{arm} <1>", "{stat}"), ("{arm} <1>", "%")])
    frame = pd.DataFrame([["1", "2", "3"]], columns=columns, index=["{row}"])
    out = table_html(Table.from_frame(frame, id="t", title="{title}", stub_header="{stub} <b>"))
    text = "".join(parse(out).text)
    for part in ("{title}", "{stub} <b>", "{n}", "{arm} <1>", "{stat}", "{row}"):
        assert part in text
    assert "<b>" not in out
