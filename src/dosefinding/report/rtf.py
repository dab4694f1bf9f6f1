"""A :class:`~dosefinding.report.table.Table` as an RTF file, the format of tables in a clinical study report.

Written here rather than with rtflite (the DESIGN's optional extra): rtflite 2.6 pulls in
polars, pydantic, narwhals and pillow for what is, for one table layout, a hundred lines
of RTF 1.9 text. The file is plain ASCII: ``\\``, ``{`` and ``}`` are escaped, any other
character outside ASCII is written as ``\\uN?`` (UTF-16 code units, so characters beyond
the Basic Multilingual Plane become surrogate pairs), and line breaks as ``\\line``.

Layout: landscape letter page with one-inch margins, Times New Roman 9 pt, the title
(and subtitle, synthetic-data label) centred in the page header, so that they repeat on
every page as the column header does (``\\trhdr``), spanners over the columns they
cover, rules above and below the header and below the last row, footnotes under the table.
Word repeats the ``\\trhdr`` rows on each page; LibreOffice 7.4 does not (it drops them on
import and writes none on export), so there the title repeats and the column header does not.
"""

from __future__ import annotations

import re
from pathlib import Path

from dosefinding.report.table import SYNTHETIC_LABEL, Table

__all__ = ["rtf_escape", "table_rtf", "write_rtf"]

_PAGE_WIDTH = 15840  # twips: 11 inches, landscape letter
_PAGE_HEIGHT = 12240
_MARGIN = 1440
_TEXT_WIDTH = _PAGE_WIDTH - 2 * _MARGIN
_INDENT = 240  # twips per indentation level of the stub
_GAP = 108  # half the space between cells

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


def _widths(table: Table) -> list[int]:
    """Column widths in twips: stub and columns in proportion to their longest text, filling the page."""
    stub = max([len(r.label) + 2 * r.level for r in table.rows] + [len(table.stub_header), 8])
    cols = [max([len(c.label)] + [len(r.cells[j]) for r in table.rows] + [6]) for j, c in enumerate(table.columns)]
    chars = [min(stub, 60)] + [min(c, 40) for c in cols]
    total = sum(chars)
    widths = [int(_TEXT_WIDTH * c / total) for c in chars]
    widths[0] += _TEXT_WIDTH - sum(widths)
    return widths


def _row(cells: list[tuple[str, int, str]], *, header: bool, top: bool = False, bottom: bool = False) -> str:
    """One table row; each cell is (RTF text, right edge in twips, paragraph alignment)."""
    borders = ("\\clbrdrt\\brdrs\\brdrw10" if top else "") + ("\\clbrdrb\\brdrs\\brdrw10" if bottom else "")
    head = f"\\trowd\\trgaph{_GAP}\\trleft0" + ("\\trhdr" if header else "") + "\\trkeep"
    head += "".join(f"{borders}\\clvertalb\\cellx{edge}" for _, edge, _ in cells)
    body = " ".join(f"\\pard\\intbl\\{align} {text}\\cell" for text, _, align in cells)
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
    cells = ["\\pard\\intbl\\ql \\cell"] + [f"\\pard\\intbl\\qc {rtf_escape(name)}\\cell" for name, _ in runs]
    return "".join(parts) + "\n" + " ".join(cells) + "\\row\n"


def table_rtf(table: Table) -> str:
    """The RTF document of ``table``.

    Examples
    --------
    >>> import pandas as pd
    >>> t = Table.from_frame(pd.DataFrame({"Placebo": ["49"]}, index=["Randomised"]), id="t", title="Patients")
    >>> text = table_rtf(t)
    >>> text.startswith("{\\\\rtf1\\\\ansi"), "Randomised\\\\cell" in text, text.rstrip().endswith("}")
    (True, True, True)
    """
    widths = _widths(table)
    edges = [sum(widths[: j + 1]) for j in range(len(widths))]
    out = [
        "{\\rtf1\\ansi\\ansicpg1252\\uc1\\deff0\n",
        "{\\fonttbl{\\f0\\froman\\fcharset0 Times New Roman;}{\\f1\\fmodern\\fcharset0 Courier New;}}\n",
        (f"\\paperw{_PAGE_WIDTH}\\paperh{_PAGE_HEIGHT}\\margl{_MARGIN}\\margr{_MARGIN}\\margt{_MARGIN}"
         f"\\margb{_MARGIN}\\landscape\\widowctrl\n"),
        "\\f0\\fs18\n",
        "{\\header\\pard\\qc\\f0\\fs18\\b " + rtf_escape(table.title) + "\\b0\\par\n",
    ]
    if table.subtitle:
        out.append(f"\\pard\\qc {rtf_escape(table.subtitle)}\\par\n")
    if table.synthetic:
        out.append(f"\\pard\\qc\\i {rtf_escape(SYNTHETIC_LABEL)}\\i0\\par\n")
    out.append("\\pard\\par}\n")
    if table.spanners:
        out.append(_spanner_row(table, edges))
    header = [(rtf_escape(table.stub_header), edges[0], "ql")]
    header += [(rtf_escape(c.label), edges[j + 1], "qc") for j, c in enumerate(table.columns)]
    out.append(_row(header, header=True, top=not table.spanners, bottom=True))
    for i, row in enumerate(table.rows):
        label = rtf_escape(row.label)
        if row.heading or (row.level == 0 and row.group is not None):
            label = f"\\b {label}\\b0"
        stub = (f"\\li{_INDENT * row.level} {label}" if row.level else label, edges[0], "ql")
        cells = [stub] + [(rtf_escape(c), edges[j + 1], "qc") for j, c in enumerate(row.cells)]
        out.append(_row(cells, header=False, bottom=i == len(table.rows) - 1))
    out.append("\\pard\\sb60\\par\n")
    out += [f"\\pard\\ql\\fs16 {rtf_escape(note)}\\par\n" for note in table.footnotes]
    out.append("}\n")
    return "".join(out)


def write_rtf(table: Table, path: str | Path) -> Path:
    """Write ``table`` as an RTF file at ``path`` (ASCII text); returns the path.

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> t = Table.from_frame(pd.DataFrame({"Placebo": ["49"]}, index=["Randomised"]), id="t", title="Patients")
    >>> write_rtf(t, Path(tempfile.mkdtemp()) / "t.rtf").read_text().count("\\\\row")
    2
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(table_rtf(table), encoding="ascii", newline="\n")
    return path
