"""HTML: a :class:`~dosefinding.report.table.Table` as an HTML table, and the :class:`Report` document.

The document and the table markup are Jinja2 templates (``templates/report.html.j2``,
``templates/table.html.j2``; a layout may bring its own document template). The report is
one self-contained HTML file: the style sheet is inline, every figure is
an image in a base64 data URI, and nothing refers to a URL outside the file, so it opens
the same from a disk, a mail attachment or an archive. Every table and figure carries a
stable id (``<table class="df-table" id="table-1">``, ``<figure class="df-figure"
id="figure-2a">``) for links and for tests. All text is HTML-escaped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import pandas as pd
from markupsafe import Markup

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


@cache
def _environment(folder: str | None = None) -> jinja2.Environment:
    """Jinja2 with HTML autoescaping: the packaged templates, or those of ``folder`` first."""
    packaged = jinja2.PackageLoader("dosefinding.report", "templates")
    loader = packaged if folder is None else jinja2.ChoiceLoader([jinja2.FileSystemLoader(folder), packaged])
    return jinja2.Environment(loader=loader, autoescape=True, trim_blocks=True, lstrip_blocks=True,
                              keep_trailing_newline=False, undefined=jinja2.StrictUndefined)


def table_html(table: Table) -> str:
    """``table`` as an HTML ``<table class="df-table" id=...>``: caption, one- or two-level header, body, notes.

    The markup is the template ``templates/table.html.j2``.

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
    header1: list[tuple[str, int]] = []  # (spanner, width) or (column label, 0) for a column without a spanner
    header2: list[str] = []
    if table.spanners:
        for column in table.columns:
            if column.spanner is None:
                header1.append((column.label, 0))
                continue
            header2.append(column.label)
            if header1 and header1[-1][1] and header1[-1][0] == column.spanner:
                header1[-1] = (column.spanner, header1[-1][1] + 1)
            else:
                header1.append((column.spanner, 1))
    rows = [{"kind": "df-heading" if row.heading else ("df-group" if row.level == 0 and row.group is not None
                                                        else "df-row"),
             "level": row.level, "indent": f"{0.8 + 1.5 * row.level:.1f}" if row.level else "", "label": row.label,
             "cells": row.cells} for row in table.rows]
    return _environment().get_template("table.html.j2").render(
        table=table, header1=header1, header2=header2, rows=rows, synthetic_label=SYNTHETIC_LABEL).rstrip("\n")


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
    frames
        The tidy frames of the analysis for ``results.json`` (name to records), or ``None``.
    template
        A Jinja2 template of the document (a layout's own); ``None``: the packaged
        ``templates/report.html.j2``.

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
    frames: Mapping[str, Any] | None = None
    template: Path | None = None

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

    def with_frames(self, frames: Mapping[str, pd.DataFrame]) -> Report:
        """A copy holding tidy frames (name to DataFrame) for ``results.json``, as lists of records."""
        return replace(self, frames={str(name): _frame_data(frame) for name, frame in frames.items()})

    @property
    def tables(self) -> tuple[Table, ...]:
        """The tables, in order."""
        return tuple(b for b in self.blocks if isinstance(b, Table))

    @property
    def figures(self) -> tuple[FigureBlock, ...]:
        """The figures, in order."""
        return tuple(b for b in self.blocks if isinstance(b, FigureBlock))

    def to_html(self) -> str:
        """The whole document as one self-contained HTML string (the Jinja2 template ``report.html.j2``)."""
        from dosefinding import __version__

        blocks: list[dict[str, Any]] = []
        contents: list[dict[str, Any]] = []
        for block in self.blocks:
            if isinstance(block, Section):
                blocks.append({"kind": "section", "id": block.id, "title": block.title})
                contents.append({"section": True, "id": block.id, "text": block.title})
            elif isinstance(block, Paragraph):
                blocks.append({"kind": "paragraph", "text": block.text})
            elif isinstance(block, Table):
                blocks.append({"kind": "table", "html": Markup(table_html(block))})
                contents.append({"section": False, "id": block.id, "text": block.title})
            else:
                data = block.svg if block.embed_format == "svg" else block.png
                blocks.append({"kind": "figure", "id": block.id, "caption": block.caption,
                               "image": Markup(image_html(data, block.embed_format, block.caption))})
                contents.append({"section": False, "id": block.id, "text": block.caption})
        folder = None if self.template is None else str(self.template.parent)
        name = "report.html.j2" if self.template is None else self.template.name
        return _environment(folder).get_template(name).render(
            title=self.title, subtitle=self.subtitle, synthetic=self.synthetic, synthetic_label=SYNTHETIC_LABEL,
            css=Markup(_CSS), contents=contents, blocks=blocks, study=self.study, version=__version__) + "\n"

    def write_html(self, path: str | Path) -> Path:
        """Write :meth:`to_html` to ``path`` (UTF-8); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_html(), encoding="utf-8")
        return path

    def write(self, directory: str | Path, *, program: str | None = None,
              run_time: datetime | None = None) -> ReportFiles:
        """Write the report to ``directory``: ``report.html``, ``results.json`` (validated against the schema),
        ``tables/<id>.rtf`` and ``figures/<id>.png`` / ``.svg``.

        ``program`` and ``run_time`` go into the footer of every RTF table (as
        :func:`~dosefinding.report.rtf.write_rtf` prints them): the program that made the
        report (default ``dosefinding <version>``) and one run time for all tables (default:
        now, UTC).

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
        run_time = datetime.now(UTC) if run_time is None else run_time
        rtf = {t.id: write_rtf(t, directory / "tables" / f"{t.id}.rtf", program=program, run_time=run_time)
               for t in self.tables}
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

