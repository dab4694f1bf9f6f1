"""HTML: a :class:`~dosefinding.report.table.Table` as an HTML table, and the :class:`Report` document.

The report is one self-contained HTML file: the style sheet is inline, every figure is
an image in a base64 data URI, and nothing refers to a URL outside the file, so it opens
the same from a disk, a mail attachment or an archive. Every table and figure carries a
stable id (``<table class="df-table" id="table-1">``, ``<figure class="df-figure"
id="figure-2a">``) for links and for tests. All text is HTML-escaped.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from dosefinding.errors import InputError
from dosefinding.report.figures import FigureFormat, figure_bytes, image_html
from dosefinding.report.table import SYNTHETIC_LABEL, JSONValue, Table, check_id, json_value

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["FigureBlock", "Paragraph", "Report", "ReportFiles", "Section", "table_html"]

_CSS = """
body { font-family: "Helvetica Neue", Arial, "Liberation Sans", sans-serif; color: #111; margin: 2em auto;
       max-width: 1100px; padding: 0 1.5em; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { font-size: 1.25em; margin-top: 2em;
     border-bottom: 1px solid #999; padding-bottom: 0.2em; }
p.df-subtitle { color: #444; margin-top: 0; }
.df-synthetic { display: inline-block; background: #fff3cd; border: 1px solid #c9a227; color: #5c4500;
                font-weight: bold; padding: 0.2em 0.6em; margin: 0.3em 0; font-size: 0.9em; }
table.df-table { border-collapse: collapse; margin: 1em 0 2em 0; font-size: 0.9em;
                 font-variant-numeric: tabular-nums; }
table.df-table caption { caption-side: top; text-align: left; font-weight: bold; padding-bottom: 0.4em; }
table.df-table caption .df-caption-sub { display: block; font-weight: normal; color: #444; }
table.df-table thead tr:first-child th { border-top: 2px solid #111; }
table.df-table thead tr:last-child th { border-bottom: 1px solid #111; }
table.df-table th, table.df-table td { padding: 0.25em 0.8em; vertical-align: bottom; }
table.df-table thead th { text-align: center; font-weight: bold; }
table.df-table thead th.df-stub-head { text-align: left; }
table.df-table th.df-spanner { border-bottom: 1px solid #111; }
table.df-table tbody th { text-align: left; font-weight: normal; white-space: nowrap; }
table.df-table tbody tr.df-heading th, table.df-table tbody tr.df-group th { font-weight: bold; }
table.df-table tbody td { text-align: center; white-space: nowrap; }
table.df-table tbody tr:last-child th, table.df-table tbody tr:last-child td { border-bottom: 2px solid #111; }
table.df-table tfoot td { font-size: 0.85em; color: #333; text-align: left; padding-top: 0.4em; }
figure.df-figure { margin: 1em 0 2em 0; }
figure.df-figure img { max-width: 100%; height: auto; }
figure.df-figure figcaption { font-size: 0.9em; color: #333; margin-top: 0.3em; }
nav.df-contents ul { list-style: none; padding-left: 0; columns: 2; font-size: 0.9em; }
nav.df-contents li { margin: 0.1em 0; } nav.df-contents li.df-toc-section { font-weight: bold; margin-top: 0.4em; }
nav.df-contents a { color: inherit; text-decoration: underline dotted; }
.df-synthetic-tag { color: #5c4500; font-style: italic; }
footer { margin-top: 3em; font-size: 0.8em; color: #666; border-top: 1px solid #ccc; padding-top: 0.5em; }
"""


_RESERVED_IDS = {"contents", "synthetic-label"}


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def table_html(table: Table) -> str:
    """``table`` as an HTML ``<table class="df-table" id=...>``: caption, one- or two-level header, body, notes.

    Examples
    --------
    >>> frame = pd.DataFrame({"Placebo": ["49"]}, index=["Randomised <all>"])
    >>> print(table_html(Table.from_frame(frame, id="table-0", title="Patients & flow")))
    <table class="df-table" id="table-0">
    <caption>Patients &amp; flow</caption>
    <thead>
    <tr><th class="df-stub-head" scope="col"></th><th scope="col">Placebo</th></tr>
    </thead>
    <tbody>
    <tr class="df-row df-level-0"><th scope="row">Randomised &lt;all&gt;</th><td>49</td></tr>
    </tbody>
    </table>
    """
    out = [f'<table class="df-table" id="{table.id}">']
    caption = _esc(table.title)
    if table.subtitle:
        caption += f'<span class="df-caption-sub">{_esc(table.subtitle)}</span>'
    if table.synthetic:
        caption += f'<span class="df-caption-sub df-synthetic">{_esc(SYNTHETIC_LABEL)}</span>'
    out.append(f"<caption>{caption}</caption>")
    out.append("<thead>")
    stub = _esc(table.stub_header)
    if table.spanners:
        runs: list[tuple[Any, list[str]]] = []  # (spanner or column without one, labels below)
        for column in table.columns:
            if runs and column.spanner is not None and runs[-1][0] == column.spanner:
                runs[-1][1].append(column.label)
            else:
                runs.append((column.spanner if column.spanner is not None else column, [column.label]))
        top = [f'<th class="df-stub-head" scope="col" rowspan="2">{stub}</th>']
        for head, labels in runs:
            if isinstance(head, str):
                top.append(f'<th class="df-spanner" colspan="{len(labels)}" scope="colgroup">{_esc(head)}</th>')
            else:  # a column without a spanner spans both header rows
                top.append(f'<th rowspan="2" scope="col">{_esc(head.label)}</th>')
        out.append("<tr>" + "".join(top) + "</tr>")
        out.append("<tr>" + "".join(f'<th scope="col">{_esc(c.label)}</th>' for c in table.columns
                                    if c.spanner is not None) + "</tr>")
    else:
        out.append(f'<tr><th class="df-stub-head" scope="col">{stub}</th>'
                   + "".join(f'<th scope="col">{_esc(c.label)}</th>' for c in table.columns) + "</tr>")
    out.append("</thead>")
    out.append("<tbody>")
    for row in table.rows:
        kind = "df-heading" if row.heading else ("df-group" if row.level == 0 and row.group is not None else "df-row")
        indent = f' style="padding-left: {0.8 + 1.5 * row.level:.1f}em"' if row.level else ""
        cells = "".join(f"<td>{_esc(c)}</td>" for c in row.cells)
        out.append(f'<tr class="{kind} df-level-{row.level}"><th scope="row"{indent}>{_esc(row.label)}</th>'
                   f"{cells}</tr>")
    out.append("</tbody>")
    if table.footnotes:
        notes = "<br>".join(_esc(n) for n in table.footnotes)
        out.append(f'<tfoot><tr><td colspan="{len(table.columns) + 1}">{notes}</td></tr></tfoot>')
    out.append("</table>")
    return "\n".join(out)


@dataclass(frozen=True)
class Section:
    """A section heading."""

    title: str
    id: str


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of text."""

    text: str


@dataclass(frozen=True)
class FigureBlock:
    """A figure as rendered once: PNG and SVG bytes, caption, and the numbers it shows (for ``results.json``)."""

    id: str
    caption: str
    png: bytes
    svg: bytes
    data: JSONValue
    embed_format: FigureFormat = "svg"


Block = Section | Paragraph | Table | FigureBlock


@dataclass(frozen=True)
class ReportFiles:
    """What :meth:`Report.write` wrote: the HTML, ``results.json``, one RTF per table, PNG and SVG per figure."""

    html: Path
    results: Path
    rtf: Mapping[str, Path]
    figures: Mapping[str, tuple[Path, Path]]


def _frame_data(data: Any) -> JSONValue:
    """The numbers behind a figure in a JSON-able form: a DataFrame as a list of records (index included),
    a mapping entry by entry (so ``{"estimates": frame, "curve": frame}`` works)."""
    if data is None:
        return None
    if isinstance(data, pd.Series):
        data = data.to_frame()
    if isinstance(data, pd.DataFrame):
        frame = data.reset_index() if not isinstance(data.index, pd.RangeIndex) else data.copy()
        frame.columns = [" ".join(map(str, c)) if isinstance(c, tuple) else str(c) for c in frame.columns]
        return json_value(frame.to_dict(orient="records"))
    if isinstance(data, Mapping):
        return {str(k): _frame_data(v) for k, v in data.items()}
    try:
        return json_value(data)
    except InputError:
        raise InputError(f"data: must be DataFrames, Series, mappings or numbers, got {type(data).__name__}") from None


@dataclass(frozen=True)
class Report:
    """A report document, built up immutably: each method returns a new report with one more block.

    Attributes
    ----------
    title
        Title of the document.
    study
        Study identifier (e.g. ``"A2201"``).
    synthetic
        Data are simulated: the document and ``results.json`` say so on top.
    subtitle
        A line under the title (data source, data cut).
    populations
        Analysis populations: name to ``{"description": ..., "n": {arm: count}}``.
    blocks
        Sections, paragraphs, tables and figures, in order.
    mcpmod
        The MCP-Mod numbers for ``results.json`` (see
        :func:`~dosefinding.report.results_json.mcpmod_results`), or ``None``.

    Examples
    --------
    >>> table = Table.from_frame(pd.DataFrame({"Placebo": ["49"]}, index=["Randomised"]), id="table-1",
    ...                          title="Table 1. Patients")
    >>> report = Report(title="A2201", study="A2201").section("Baseline").table(table)
    >>> '<table class="df-table" id="table-1">' in report.to_html()
    True
    """

    title: str
    study: str
    synthetic: bool = False
    subtitle: str = ""
    populations: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    blocks: tuple[Block, ...] = ()
    mcpmod: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if not str(self.study).strip():
            raise InputError("study: must be a non-empty study identifier")
        ids = [b.id for b in self.blocks if not isinstance(b, Paragraph)]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise InputError(f"id: {repeated} used more than once in the report")
        reserved = sorted(set(ids) & _RESERVED_IDS)
        if reserved:
            raise InputError(f"id: {reserved} is reserved for the report's own elements")

    def _add(self, block: Block) -> Report:
        return replace(self, blocks=self.blocks + (block,))

    def section(self, title: str, id: str | None = None) -> Report:
        """A new section headed ``title`` (id: ``section-<n>`` unless given)."""
        n = sum(isinstance(b, Section) for b in self.blocks) + 1
        return self._add(Section(title=str(title), id=check_id(id or f"section-{n}", "id")))

    def paragraph(self, text: str) -> Report:
        """A paragraph of text."""
        return self._add(Paragraph(text=str(text)))

    def table(self, table: Table) -> Report:
        """A table (its own id)."""
        if not isinstance(table, Table):
            raise InputError(f"table: must be a dosefinding.report.Table, got {type(table).__name__}")
        return self._add(replace(table, synthetic=table.synthetic or self.synthetic))

    def figure(
        self,
        figure: Figure,
        *,
        id: str,
        caption: str,
        data: pd.DataFrame | pd.Series | Mapping[str, Any] | None = None,
        embed_format: FigureFormat = "svg",
    ) -> Report:
        """A figure, rendered now (PNG and SVG) with the numbers it shows (``data``, for ``results.json``)."""
        check_id(id, "id")
        if embed_format not in ("png", "svg"):
            raise InputError(f"embed_format: must be 'png' or 'svg', got {embed_format!r}")
        return self._add(FigureBlock(id=id, caption=str(caption), png=figure_bytes(figure, "png"),
                                     svg=figure_bytes(figure, "svg"), data=_frame_data(data),
                                     embed_format=embed_format))

    def with_mcpmod(self, results: Mapping[str, Any]) -> Report:
        """A copy holding the MCP-Mod numbers for ``results.json``."""
        return replace(self, mcpmod=dict(results))

    @property
    def tables(self) -> tuple[Table, ...]:
        """The tables, in order."""
        return tuple(b for b in self.blocks if isinstance(b, Table))

    @property
    def figures(self) -> tuple[FigureBlock, ...]:
        """The figures, in order."""
        return tuple(b for b in self.blocks if isinstance(b, FigureBlock))

    def to_html(self) -> str:
        """The whole document as one self-contained HTML string."""
        from dosefinding import __version__

        body = [f"<h1>{_esc(self.title)}</h1>"]
        if self.subtitle:
            body.append(f'<p class="df-subtitle">{_esc(self.subtitle)}</p>')
        if self.synthetic:
            body.append(f'<p class="df-synthetic" id="synthetic-label">{_esc(SYNTHETIC_LABEL)}</p>')
        body.append(self._contents())
        for block in self.blocks:
            if isinstance(block, Section):
                body.append(f'<h2 id="{block.id}">{_esc(block.title)}</h2>')
            elif isinstance(block, Paragraph):
                body.append(f"<p>{_esc(block.text)}</p>")
            elif isinstance(block, Table):
                body.append(table_html(block))
            else:
                data = block.svg if block.embed_format == "svg" else block.png
                tag = ' <span class="df-synthetic-tag">(synthetic data)</span>' if self.synthetic else ""
                body.append(f'<figure class="df-figure" id="{block.id}">\n'
                            f"{image_html(data, block.embed_format, block.caption)}\n"
                            f"<figcaption>{_esc(block.caption)}{tag}</figcaption>\n</figure>")
        body.append(f"<footer>Study {_esc(self.study)}. Generated by dosefinding {_esc(__version__)}."
                    "</footer>")
        return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                f"<title>{_esc(self.title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
                + "\n".join(body) + "\n</body>\n</html>\n")

    def _contents(self) -> str:
        """The list of sections, tables and figures, each a link to its id within the page."""
        items = []
        for block in self.blocks:
            if isinstance(block, Section):
                items.append(f'<li class="df-toc-section"><a href="#{block.id}">{_esc(block.title)}</a></li>')
            elif isinstance(block, Table):
                items.append(f'<li><a href="#{block.id}">{_esc(block.title)}</a></li>')
            elif isinstance(block, FigureBlock):
                items.append(f'<li><a href="#{block.id}">{_esc(block.caption)}</a></li>')
        if not items:
            return ""
        return '<nav class="df-contents" id="contents"><h2>Contents</h2>\n<ul>\n' + "\n".join(items) + "\n</ul></nav>"

    def write_html(self, path: str | Path) -> Path:
        """Write :meth:`to_html` to ``path`` (UTF-8); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_html(), encoding="utf-8")
        return path

    def write(self, directory: str | Path) -> ReportFiles:
        """Write the report to ``directory``: ``report.html``, ``results.json`` (validated against the schema),
        ``tables/<id>.rtf`` and ``figures/<id>.png`` / ``.svg``.

        Examples
        --------
        >>> import tempfile
        >>> from matplotlib.figure import Figure
        >>> figure = Figure(figsize=(3, 2)); _ = figure.subplots().plot([0, 1])
        >>> report = Report(title="A2201", study="A2201", synthetic=True).figure(figure, id="figure-1", caption="Line")
        >>> files = report.write(tempfile.mkdtemp())
        >>> files.html.name, files.results.name, [p.name for p in files.figures["figure-1"]]
        ('report.html', 'results.json', ['figure-1.png', 'figure-1.svg'])
        """
        from dosefinding.report.results_json import results_document, validate_results
        from dosefinding.report.rtf import write_rtf

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        document = results_document(self)
        validate_results(document)
        rtf = {t.id: write_rtf(t, directory / "tables" / f"{t.id}.rtf") for t in self.tables}
        figures: dict[str, tuple[Path, Path]] = {}
        for block in self.figures:
            png, svg = directory / "figures" / f"{block.id}.png", directory / "figures" / f"{block.id}.svg"
            png.parent.mkdir(parents=True, exist_ok=True)
            png.write_bytes(block.png)
            svg.write_bytes(block.svg)
            figures[block.id] = (png, svg)
        results = directory / "results.json"
        results.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        return ReportFiles(html=self.write_html(directory / "report.html"), results=results, rtf=rtf,
                           figures=figures)

