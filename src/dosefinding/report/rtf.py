"""A :class:`~dosefinding.report.table.Table` as an RTF file, laid out as a clinical study report's table.

Written here rather than with rtflite (the DESIGN's optional extra): rtflite 2.6 pulls in
polars, pydantic, narwhals and pillow for what is, for one table layout, a few hundred lines
of RTF 1.9 text. The file is plain ASCII: ``\\``, ``{`` and ``}`` are escaped, any other
character outside ASCII is written as ``\\uN?`` (UTF-16 code units, so characters beyond
the Basic Multilingual Plane become surrogate pairs), and line breaks as ``\\line``.

Page: US Letter landscape (11 x 8.5 in), one-inch left and right margins; the top and bottom
margins are sized to hold the page header and footer, which start half an inch from the edge.
Times New Roman 9 pt on an exact 11 pt line (footnotes and footer 8 pt on 10 pt), so that the
height of every line is known in advance.

On every page: the page header with "Page x of y" (RTF ``PAGE`` and ``NUMPAGES`` fields) at the
right, then the title, subtitle and synthetic-data label centred; the table's header rows
(spanners over the columns they cover, then the column labels, marked ``\\trhdr``); a rule
under the last row of the page; the footer with the program that made the table (e.g.
``dosefinding 0.1.0 analyze a2201_analysis.toml``) at the left and the run date and time at the
right. The footnotes follow the last row, on the last page.

The table is paginated here, not left to the word processor: LibreOffice (7.4) ignores
``\\trhdr``, so a table left to flow would lose its column header after the first page there. Rows
are laid onto pages by their estimated height (lines from a greedy word wrap at a conservative
average character width); each page's rows form their own table, preceded by its header rows
and a page break; a row is never split (``\\trkeep``), a group label is never left alone at the
foot of a page, and the last page keeps room for the footnotes. Word, which honours ``\\trhdr``,
would still repeat the header if a page overflowed.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dosefinding.errors import InputError
from dosefinding.report.table import SYNTHETIC_LABEL, Row, Table

__all__ = ["LETTER_LANDSCAPE", "PageLayout", "page_rows", "rtf_escape", "table_rtf", "write_rtf"]

_INDENT = 240  # twips per indentation level of the stub
_GAP = 108  # half the space between cells
_LINE = 220  # exact line height of the body, twips (11 pt for 9 pt type)
_SMALL_LINE = 200  # footnotes and footer: 10 pt lines for 8 pt type
_CHAR = 100  # average width of a 9 pt Times character, generously (Times averages about 80)
_BOLD_CHAR = 110
_SMALL_CHAR = 90
_ROW_RULES = 20  # the rules' share of a row's height
_BREAK = 20  # the 1 pt paragraph that carries a page break between two pages' tables
_EDGE = 720  # the page header and footer start half an inch from the paper's edge
_CLEARANCE = 180  # between the page header (footer) and the body
_CELL = f"\\pard\\intbl\\sl-{_LINE}\\slmult0\\f0\\fs18"  # a cell's paragraph: 9 pt on the exact line


@dataclass(frozen=True)
class PageLayout:
    """Paper size and side margins, in twips (1/1440 inch)."""

    width: int
    height: int
    margin: int
    landscape: bool

    @property
    def text_width(self) -> int:
        """Width between the side margins."""
        return self.width - 2 * self.margin


LETTER_LANDSCAPE = PageLayout(width=15840, height=12240, margin=1440, landscape=True)
"""US Letter landscape with one-inch side margins: the page of every RTF table."""

_SPECIAL = str.maketrans({"\\": "\\\\", "{": "\\{", "}": "\\}", "\t": "\\tab ", "\n": "\\line ", "\r": ""})
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _unicode(match: re.Match[str]) -> str:
    units = match.group(0).encode("utf-16-le")
    codes = [int.from_bytes(units[i:i + 2], "little") for i in range(0, len(units), 2)]
    return "".join(f"\\u{c - 65536 if c > 32767 else c}?" for c in codes)


def rtf_escape(text: str) -> str:
    """``text`` as RTF: control characters escaped, non-ASCII as ``\\uN?`` (signed 16-bit units).

    Examples
    --------
    >>> rtf_escape("Sj\\u00f6gren {n} \\\\ 5\\u2009mg")
    'Sj\\\\u246?gren \\\\{n\\\\} \\\\\\\\ 5\\\\u8201?mg'
    >>> rtf_escape("\\U0001F600")
    '\\\\u-10179?\\\\u-8704?'
    """
    return _NON_ASCII.sub(_unicode, str(text).translate(_SPECIAL))


def _lines(text: str, width: int, char: int) -> int:
    """Lines that ``text`` takes in ``width`` twips, wrapped greedily at words of ``char``-twip characters."""
    per_line = max(1, width // char)
    return sum(max(1, len(textwrap.wrap(part, per_line))) for part in str(text).split("\n"))


def _widths(table: Table, text_width: int) -> list[int]:
    """Column widths in twips: stub and columns in proportion to their longest text, filling the page."""
    stub = max([len(r.label) + 2 * r.level for r in table.rows] + [len(table.stub_header), 8])
    cols = [max([len(c.label)] + [len(r.cells[j]) for r in table.rows] + [6]) for j, c in enumerate(table.columns)]
    chars = [min(stub, 60)] + [min(c, 40) for c in cols]
    total = sum(chars)
    widths = [int(text_width * c / total) for c in chars]
    widths[0] += text_width - sum(widths)
    return widths


def _is_group_label(row: Row) -> bool:
    return row.heading or (row.level == 0 and row.group is not None)


def _row_height(row: Row, widths: list[int]) -> int:
    char = _BOLD_CHAR if _is_group_label(row) else _CHAR
    lines = [_lines(row.label, widths[0] - 2 * _GAP - _INDENT * row.level, char)]
    lines += [_lines(cell, w - 2 * _GAP, _CHAR) for cell, w in zip(row.cells, widths[1:], strict=True)]
    return _LINE * max(lines) + _ROW_RULES


def _header_height(table: Table, widths: list[int]) -> int:
    """Height of the table's header rows: the spanner row (if any) and the column labels."""
    height = 0
    if table.spanners:
        height += _LINE * max(_lines(c.spanner or "", sum(widths[1:]), _CHAR) for c in table.columns) + _ROW_RULES
    labels = [_lines(table.stub_header, widths[0] - 2 * _GAP, _CHAR)]
    labels += [_lines(c.label, w - 2 * _GAP, _CHAR) for c, w in zip(table.columns, widths[1:], strict=True)]
    return height + _LINE * max(labels) + _ROW_RULES


def _page_header_lines(table: Table, text_width: int) -> int:
    """Lines of the page header: "Page x of y", title, subtitle, synthetic label and a blank line."""
    lines = 1 + _lines(table.title, text_width, _BOLD_CHAR) + 1
    if table.subtitle:
        lines += _lines(table.subtitle, text_width, _CHAR)
    if table.synthetic:
        lines += _lines(SYNTHETIC_LABEL, text_width, _CHAR)
    return lines


def _footnote_height(table: Table, text_width: int) -> int:
    if not table.footnotes:
        return 0
    return _LINE + sum(_SMALL_LINE * _lines(note, text_width, _SMALL_CHAR) for note in table.footnotes)


def _margins(table: Table, footer: str, layout: PageLayout) -> tuple[int, int]:
    """Top and bottom margins that hold the page header and the footer."""
    top = _EDGE + _LINE * _page_header_lines(table, layout.text_width) + _CLEARANCE
    bottom = _EDGE + _SMALL_LINE * _lines(footer, layout.text_width, _SMALL_CHAR) + _CLEARANCE
    return top, bottom


def page_rows(table: Table, *, footer: str = "", layout: PageLayout = LETTER_LANDSCAPE) -> list[list[int]]:
    """The indices of ``table.rows`` on each page (one empty page for a table without rows).

    ``footer`` is the footer's text, whose length sets the bottom margin.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"n": [str(i) for i in range(100)]}, index=[f"row {i}" for i in range(100)])
    >>> pages = page_rows(Table.from_frame(frame, id="t", title="Long"))
    >>> len(pages), sum(len(p) for p in pages), pages[1][0] == pages[0][-1] + 1
    (3, 100, True)
    """
    widths = _widths(table, layout.text_width)
    top, bottom = _margins(table, footer, layout)
    room = layout.height - top - bottom - _header_height(table, widths) - _BREAK - _LINE
    heights = [_row_height(row, widths) for row in table.rows]
    pages: list[list[int]] = [[]]
    used = 0
    for i, height in enumerate(heights):
        if pages[-1] and used + height > room:
            carried = []
            if len(pages[-1]) > 1 and _is_group_label(table.rows[pages[-1][-1]]):
                carried = [pages[-1].pop()]
            pages.append(carried)
            used = sum(heights[j] for j in carried)
        pages[-1].append(i)
        used += height
    notes = _footnote_height(table, layout.text_width)
    if len(pages[-1]) > 1 and used + notes > room:
        moved = 2 if len(pages[-1]) > 2 and _is_group_label(table.rows[pages[-1][-2]]) else 1
        pages.append(pages[-1][-moved:])
        del pages[-2][-moved:]
    return pages


def _row(cells: list[tuple[str, int, str]], *, header: bool, top: bool = False, bottom: bool = False) -> str:
    """One table row; each cell is (RTF text, right edge in twips, paragraph alignment)."""
    borders = ("\\clbrdrt\\brdrs\\brdrw10" if top else "") + ("\\clbrdrb\\brdrs\\brdrw10" if bottom else "")
    head = f"\\trowd\\trgaph{_GAP}\\trleft0" + ("\\trhdr" if header else "") + "\\trkeep"
    head += "".join(f"{borders}\\clvertalb\\cellx{edge}" for _, edge, _ in cells)
    body = " ".join(f"{_CELL}\\{align} {text}\\cell" for text, _, align in cells)
    return f"{head}\n{body}\\row\n"


def _spanner_row(table: Table, edges: list[int]) -> str:
    """The first header row: each run of columns under one spanner as one cell, a rule under it."""
    runs: list[tuple[str, int]] = []
    for j, column in enumerate(table.columns):
        name = column.spanner or ""
        if runs and runs[-1][0] == name and name:
            runs[-1] = (name, edges[j + 1])
        else:
            runs.append((name, edges[j + 1]))
    parts = [f"\\trowd\\trgaph{_GAP}\\trleft0\\trhdr\\trkeep\\clbrdrt\\brdrs\\brdrw10\\cellx{edges[0]}"]
    for name, edge in runs:
        rule = "\\clbrdrb\\brdrs\\brdrw10" if name else ""
        parts.append(f"\\clbrdrt\\brdrs\\brdrw10{rule}\\clvertalb\\cellx{edge}")
    cells = [f"{_CELL}\\ql \\cell"] + [f"{_CELL}\\qc {rtf_escape(name)}\\cell" for name, _ in runs]
    return "".join(parts) + "\n" + " ".join(cells) + "\\row\n"


def _header_rows(table: Table, edges: list[int]) -> str:
    header = [(rtf_escape(table.stub_header), edges[0], "ql")]
    header += [(rtf_escape(c.label), edges[j + 1], "qc") for j, c in enumerate(table.columns)]
    spanners = _spanner_row(table, edges) if table.spanners else ""
    return spanners + _row(header, header=True, top=not table.spanners, bottom=True)


def _body_row(row: Row, edges: list[int], *, bottom: bool) -> str:
    label = rtf_escape(row.label)
    if _is_group_label(row):
        label = f"\\b {label}\\b0"
    stub = (f"\\li{_INDENT * row.level} {label}" if row.level else label, edges[0], "ql")
    cells = [stub] + [(rtf_escape(c), edges[j + 1], "qc") for j, c in enumerate(row.cells)]
    return _row(cells, header=False, bottom=bottom)


def _field(instruction: str, shown: int) -> str:
    return f"{{\\field{{\\*\\fldinst {instruction} }}{{\\fldrslt {shown}}}}}"


def _run_time(run_time: datetime | None) -> str:
    if run_time is None:
        run_time = datetime.now(UTC)
    if not isinstance(run_time, datetime):
        raise InputError(f"run_time: must be a datetime, got {type(run_time).__name__}")
    zone = run_time.tzname()
    return run_time.strftime("%Y-%m-%d %H:%M") + (f" {zone}" if zone else "")


def _program(program: str | None) -> str:
    if program is None:
        from dosefinding import __version__

        return f"dosefinding {__version__}"
    if not isinstance(program, str) or not program.strip():
        raise InputError(f"program: must be a non-empty string, got {program!r}")
    return program


def table_rtf(
    table: Table, *, program: str | None = None, run_time: datetime | None = None,
    layout: PageLayout = LETTER_LANDSCAPE,
) -> str:
    """The RTF document of ``table``, paginated (see the module's description).

    Parameters
    ----------
    table
        The table.
    program
        What made the table, printed at the left of the footer, e.g.
        ``"dosefinding 0.1.0 analyze a2201_analysis.toml"`` (default ``"dosefinding <version>"``).
    run_time
        When, printed at the right of the footer as ``YYYY-MM-DD HH:MM`` and the time zone's
        name (default: now, in UTC). Pass a fixed time for reproducible files.
    layout
        Paper and side margins (default :data:`LETTER_LANDSCAPE`).

    Examples
    --------
    >>> import pandas as pd
    >>> t = Table.from_frame(pd.DataFrame({"Placebo": ["49"]}, index=["Randomised"]), id="t", title="Patients")
    >>> text = table_rtf(t, program="dosefinding 0.1.0 analyze a2201.toml",
    ...                  run_time=datetime(2026, 12, 7, 21, 0, tzinfo=UTC))
    >>> text.startswith("{\\\\rtf1\\\\ansi"), "Randomised\\\\cell" in text, "NUMPAGES" in text
    (True, True, True)
    >>> "dosefinding 0.1.0 analyze a2201.toml\\\\tab 2026-12-07 21:00 UTC" in text
    True
    """
    footer = f"{_program(program)}\t{_run_time(run_time)}"
    widths = _widths(table, layout.text_width)
    edges = [sum(widths[: j + 1]) for j in range(len(widths))]
    pages = page_rows(table, footer=footer, layout=layout)
    top, bottom = _margins(table, footer, layout)
    small = f"\\fs16\\sl-{_SMALL_LINE}\\slmult0"
    out = [
        "{\\rtf1\\ansi\\ansicpg1252\\uc1\\deff0\n",
        "{\\fonttbl{\\f0\\froman\\fcharset0 Times New Roman;}{\\f1\\fmodern\\fcharset0 Courier New;}}\n",
        (f"\\paperw{layout.width}\\paperh{layout.height}\\margl{layout.margin}\\margr{layout.margin}"
         f"\\margt{top}\\margb{bottom}\\headery{_EDGE}\\footery{_EDGE}"
         + ("\\landscape" if layout.landscape else "") + "\\widowctrl\n"),
        "\\sectd" + (f"\\lndscpsxn\\pgwsxn{layout.width}\\pghsxn{layout.height}" if layout.landscape else "") + "\n",
        "\\f0\\fs18\n",
        (f"{{\\header\\pard\\qr\\f0\\fs18\\sl-{_LINE}\\slmult0 Page {_field('PAGE', 1)} of "
         f"{_field('NUMPAGES', len(pages))}\\par\n"),
        f"\\pard\\qc\\sl-{_LINE}\\slmult0\\b {rtf_escape(table.title)}\\b0\\par\n",
    ]
    if table.subtitle:
        out.append(f"\\pard\\qc\\sl-{_LINE}\\slmult0 {rtf_escape(table.subtitle)}\\par\n")
    if table.synthetic:
        out.append(f"\\pard\\qc\\sl-{_LINE}\\slmult0\\i {rtf_escape(SYNTHETIC_LABEL)}\\i0\\par\n")
    out.append(f"\\pard\\sl-{_LINE}\\slmult0\\par}}\n")
    out.append(f"{{\\footer\\pard\\ql\\f0{small}\\tqr\\tx{layout.text_width} {rtf_escape(footer)}\\par}}\n")
    for number, rows in enumerate(pages):
        if number:
            out.append("\\pard\\plain\\f0\\fs2\\sl-20\\slmult0\\page\\par\n")
        out.append(_header_rows(table, edges))
        out += [_body_row(table.rows[i], edges, bottom=k == len(rows) - 1) for k, i in enumerate(rows)]
    out.append(f"\\pard\\plain\\f0\\fs18\\sl-{_LINE}\\slmult0\\par\n")
    out += [f"\\pard\\ql\\f0{small} {rtf_escape(note)}\\par\n" for note in table.footnotes]
    out.append("}\n")
    return "".join(out)


def write_rtf(
    table: Table, path: str | Path, *, program: str | None = None, run_time: datetime | None = None,
    layout: PageLayout = LETTER_LANDSCAPE,
) -> Path:
    """Write ``table`` as an RTF file at ``path`` (ASCII text; arguments as :func:`table_rtf`); returns the path.

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> t = Table.from_frame(pd.DataFrame({"Placebo": ["49"]}, index=["Randomised"]), id="t", title="Patients")
    >>> write_rtf(t, Path(tempfile.mkdtemp()) / "t.rtf").read_text().count("\\\\row")
    2
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(table_rtf(table, program=program, run_time=run_time, layout=layout), encoding="ascii",
                    newline="\n")
    return path
