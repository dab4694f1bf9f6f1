"""RTF tables: read back with an RTF reader written from the specification (tests/report/rtf_reader.py)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

import dosefinding
from dosefinding.errors import InputError
from dosefinding.report import SYNTHETIC_LABEL, Report, Table, rtf_escape, table_rtf, write_rtf
from dosefinding.report.rtf import page_rows

from . import libreoffice
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
    assert parsed.header_rows == [True, True, False, False, False, False]
    spanners, header, *body = parsed.rows
    assert spanners == ["", "5 mg", "300 mg"]
    assert header == ["SOC \\ PT", "n (%)", "p-value", "n (%)", "p-value"]
    assert body == [["Infections {all}", "25 (53.2)", "0.710", "23 (48.9)", "0.450"],
                    [NASTY, "1 (2.1)", "<0.001", "0", ""],
                    ["Blood", "", "", "", ""],
                    ["Leukopenia", "3 (6.4)", "0.092", "6 (12.8)", ">0.999"]]
    text = [p for p in parsed.paragraphs if p]
    assert text[:4] == ["Page 1 of 1", "Table 3. Adverse events \u2014 safety set", "Safety set", SYNTHETIC_LABEL]
    assert text[-2:] == ["n (%) of patients.", NASTY]
    # title in the page header, column header repeated on each page, landscape, rules, rows kept whole
    assert {"header", "footer", "trhdr", "trkeep", "landscape", "cellx", "clbrdrb", "field"} <= parsed.control_words


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
        body = [row for row, header in zip(parsed.rows, parsed.header_rows, strict=True) if not header]
        assert [r[1:] for r in body] == [list(r.cells) for r in table.rows]
        assert [r[0] for r in body] == [r.label for r in table.rows]


def test_reader_rejects_broken_rtf() -> None:
    with pytest.raises(ValueError, match="unbalanced"):
        parse_rtf("{\\rtf1 {text}")


RUN_TIME = datetime(2026, 12, 7, 21, 30, tzinfo=UTC)
PROGRAM = "dosefinding 0.1.0 analyze a2201_analysis.toml"


def long_table(n: int = 150) -> Table:
    """``n`` adverse-event-like rows under two-level headers, in groups of 8 (a group label, then 7 terms), some
    labels long enough to wrap, footnotes: a table that runs over several pages."""
    columns = pd.MultiIndex.from_tuples([("Placebo", "n (%)"), ("Placebo", "95% CI"), ("300 mg", "n (%)"),
                                         ("300 mg", "95% CI")])
    long = " with a name long enough to wrap onto a second line of the stub column when printed" * 2
    index = pd.MultiIndex.from_tuples([(f"Organ class {i // 8:02d}", "" if i % 8 == 0 else
                                        f"Term {i:03d}" + (long if i % 13 == 5 else "")) for i in range(n)])
    frame = pd.DataFrame([[f"{i} ({i / 10:.1f})", f"(0.{i % 10}, 1.0)", f"{i + 1}", "(2.0, 3.0)"] for i in range(n)],
                         index=index, columns=columns)
    return Table.from_frame(frame, id="table-ae", title="Table 3. Adverse events by system organ class",
                            subtitle="Safety set", stub_header="System organ class / term",
                            footnotes=["n (%): patients with at least one event.", "CI: Clopper-Pearson."],
                            synthetic=True)


def test_footer_names_program_and_run_time_and_output_is_reproducible() -> None:
    table = long_table(3)
    text = table_rtf(table, program=PROGRAM, run_time=RUN_TIME)
    assert text == table_rtf(table, program=PROGRAM, run_time=RUN_TIME)
    paragraphs = [p for p in parse_rtf(text).paragraphs if p]
    assert f"{PROGRAM}\t2026-12-07 21:30 UTC" in paragraphs
    default = [p for p in parse_rtf(table_rtf(table, run_time=datetime(2026, 1, 2, 3, 4))).paragraphs if p]
    assert f"dosefinding {dosefinding.__version__}\t2026-01-02 03:04" in default  # naive time: no zone printed
    with pytest.raises(InputError, match="^program: must be a non-empty string"):
        table_rtf(table, program=" ")
    with pytest.raises(InputError, match="^run_time: must be a datetime, got str"):
        table_rtf(table, run_time="2026-12-07")  # type: ignore[arg-type]


def test_long_table_is_paginated_with_header_rows_on_every_page() -> None:
    table = long_table()
    pages = page_rows(table, footer=f"{PROGRAM}\t2026-12-07 21:30 UTC")
    assert len(pages) > 1 and [i for page in pages for i in page] == list(range(len(table.rows)))
    parsed = parse_rtf(table_rtf(table, program=PROGRAM, run_time=RUN_TIME))
    flags = parsed.header_rows
    starts = [k for k in range(len(flags)) if flags[k] and (k == 0 or not flags[k - 1])]
    assert len(starts) == len(pages)  # a spanner row and a column-label row open every page
    assert all(flags[k] and flags[k + 1] and not flags[k + 2] for k in starts)
    body = [row for row, header in zip(parsed.rows, flags, strict=True) if not header]
    assert [r[0] for r in body] == [r.label for r in table.rows]
    for page in pages[:-1]:  # a group label is never the last row of a page
        last = table.rows[page[-1]]
        assert not (last.level == 0 and last.group is not None)
    assert f"NUMPAGES }}{{\\fldrslt {len(pages)}}}" in table_rtf(table, program=PROGRAM, run_time=RUN_TIME)


def test_long_table_renders_in_libreoffice(tmp_path: Path) -> None:
    """LibreOffice converts the RTF to PDF: the pages are the ones planned, each with "Page i of N", the title,
    the header rows and the footer; every row on one page, in order; the footnotes under the table."""
    table = long_table()
    rtf = write_rtf(table, tmp_path / "table-ae.rtf", program=PROGRAM, run_time=RUN_TIME)
    started = time.perf_counter()
    pages = libreoffice.pdf_pages(libreoffice.rtf_to_pdf(rtf, tmp_path))
    seconds = time.perf_counter() - started
    planned = page_rows(table, footer=f"{PROGRAM}\t2026-12-07 21:30 UTC")
    assert len(pages) == len(planned) > 1, f"{len(pages)} pages rendered, {len(planned)} planned"
    for number, (text, rows) in enumerate(zip(pages, planned, strict=True), start=1):
        lines = [" ".join(line.split()) for line in text.splitlines() if line.strip()]
        assert lines[0] == f"Page {number} of {len(pages)}"
        assert lines[1:4] == [table.title, "Safety set", SYNTHETIC_LABEL]
        assert lines[4] == "Placebo 300 mg" and lines[5] == "System organ class / term n (%) 95% CI n (%) 95% CI"
        assert lines[-1] == f"{PROGRAM} 2026-12-07 21:30 UTC"
        # every planned row on this page and no other: its label and, on its last line, its cells
        assert re.findall(r"Organ class \d\d|Term \d\d\d", "\n".join(lines[6:])) == \
            [" ".join(table.rows[i].label.split()[:3 if table.rows[i].level == 0 else 2]) for i in rows]
        assert all(any(line.endswith(" ".join(table.rows[i].cells)) for line in lines) for i in rows)
        notes_here = [note in lines for note in table.footnotes]
        assert all(notes_here) if number == len(pages) else not any(notes_here)
    assert seconds < 60, f"conversion took {seconds:.1f} s"
