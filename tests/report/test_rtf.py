"""RTF tables: read back with an RTF reader written from the specification (tests/report/rtf_reader.py)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from dosefinding.report import SYNTHETIC_LABEL, Report, Table, rtf_escape, table_rtf, write_rtf

from .rtf_reader import parse_rtf

NASTY = "Sj\u00f6gren {syndrome} \\ 5\u2009mg \u2264 10 \u00b5g/L \U0001F600"


def test_escape_of_control_characters_and_non_ascii() -> None:
    assert rtf_escape("{a}\\b") == "\\{a\\}\\\\b"
    assert rtf_escape("\u00e9") == "\\u233?"
    assert rtf_escape("\u2264") == "\\u8804?"
    assert rtf_escape("\uffe0") == "\\u-32?"  # above 32767: the signed 16-bit value
    assert rtf_escape("\U0001F600") == "\\u-10179?\\u-8704?"  # a surrogate pair
    assert rtf_escape("a\nb\tc") == "a\\line b\\tab c"
    assert rtf_escape(NASTY).isascii()


def test_cells_header_title_and_notes_read_back(tmp_path: Path) -> None:
    columns = pd.MultiIndex.from_tuples([("5 mg", "n (%)"), ("5 mg", "p-value"), ("300 mg", "n (%)"),
                                         ("300 mg", "p-value")])
    index = pd.MultiIndex.from_tuples([("Infections {all}", ""), ("Infections {all}", NASTY), ("Blood", "Leukopenia")])
    frame = pd.DataFrame([["25 (53.2)", "0.710", "23 (48.9)", "0.450"], ["1 (2.1)", "<0.001", "0", ""],
                          ["3 (6.4)", "0.092", "6 (12.8)", ">0.999"]], index=index, columns=columns)
    table = Table.from_frame(frame, id="table-3", title="Table 3. Adverse events \u2014 safety set",
                             subtitle="Safety set", stub_header="SOC \\ PT", footnotes=["n (%) of patients.", NASTY],
                             synthetic=True)
    path = write_rtf(table, tmp_path / "t.rtf")
    raw = path.read_bytes()
    assert raw.isascii() and raw.startswith(b"{\\rtf1\\ansi") and raw.count(b"{") - raw.count(b"\\{") == \
        raw.count(b"}") - raw.count(b"\\}")
    parsed = parse_rtf(raw.decode("ascii"))
    spanners, header, *body = parsed.rows
    assert spanners == ["", "5 mg", "300 mg"]
    assert header == ["SOC \\ PT", "n (%)", "p-value", "n (%)", "p-value"]
    assert body == [["Infections {all}", "25 (53.2)", "0.710", "23 (48.9)", "0.450"],
                    [NASTY, "1 (2.1)", "<0.001", "0", ""],
                    ["Blood", "", "", "", ""],
                    ["Leukopenia", "3 (6.4)", "0.092", "6 (12.8)", ">0.999"]]
    text = [p for p in parsed.paragraphs if p]
    assert text[:3] == ["Table 3. Adverse events \u2014 safety set", "Safety set", SYNTHETIC_LABEL]
    assert text[-2:] == ["n (%) of patients.", NASTY]
    # title in the page header, column header repeated on each page, landscape, rules
    assert {"header", "trhdr", "landscape", "cellx", "clbrdrb"} <= parsed.control_words


def test_column_edges_increase_and_fill_the_text_width() -> None:
    table = Table.from_frame(pd.DataFrame({"A": ["1"], "B long header": ["2"]}, index=["row"]), id="t", title="T")
    text = table_rtf(table)
    first_row = text[text.index("\\trowd"):]
    first_row = first_row[:first_row.index("\n")]
    edges = [int(part.split("\\")[0]) for part in first_row.split("\\cellx")[1:]]
    assert edges == sorted(edges) and len(edges) == 3
    assert edges[-1] == 15840 - 2 * 1440  # landscape letter, one-inch margins


def test_report_writes_one_rtf_per_table(report: Report, tmp_path: Path) -> None:
    files = report.write(tmp_path)
    assert sorted(files.rtf) == sorted(t.id for t in report.tables)
    for table in report.tables:
        parsed = parse_rtf(files.rtf[table.id].read_text(encoding="ascii"))
        body = parsed.rows[-len(table.rows):]
        assert [r[1:] for r in body] == [list(r.cells) for r in table.rows]
        assert [r[0] for r in body] == [r.label for r in table.rows]


def test_reader_rejects_broken_rtf() -> None:
    with pytest.raises(ValueError, match="unbalanced"):
        parse_rtf("{\\rtf1 {text}")
