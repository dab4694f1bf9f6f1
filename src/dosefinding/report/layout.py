"""Report layouts: a TOML file (data, not code) placing the numbers of a StudyResults into tables and figures.

A layout has a ``[layout]`` table (``name``, ``description``, optional ``template``: a
Jinja2 template of the HTML document, relative to the layout file; default the packaged
``report.html.j2``, which a template may extend, overriding its blocks ``head`` and
``footer``), number formats ``[format]`` (``decimals``, ``p_decimals``,
``percent_decimals``) and ``[[section]]`` entries (``id``, ``title``), each with
``[[section.item]]`` entries, in order:

* a table: ``table`` (the kind: ``populations``, ``disposition``, ``baseline``,
  ``efficacy``, ``lsmeans``, ``mcp``, ``mod``, ``model_average``, ``responders``,
  ``categories``, ``ae``, ``exposure``, ``published``, ``sensitivity``; see
  :mod:`dosefinding.report.layout_tables`), ``id``, ``caption``, optional ``subtitle``,
  ``footnotes``, ``decimals``, ``p_decimals``, ``percent_decimals`` and the kind's own keys
  (``endpoints``, ``endpoint``, ``visit``, ``category``; ``percent_sign`` of ``ae``;
  ``style`` of ``baseline``: ``full`` or ``paper``; ``decimals`` of ``efficacy`` and
  ``exposure`` may be a table by endpoint or parameter, ``{ESSDAI = 2, PHGA = 1}``;
  ``items = "a2201"`` of ``published``: every number of the A2201 paper, :mod:`dosefinding.study.published`);
* a figure panel: ``panel`` (``flow``, ``over_time``, ``dose_response``, ``responders``,
  ``categories``, ``dose_summary``, ``dose_estimates``, ``tipping_point``; see
  :mod:`dosefinding.report.layout_figures`), ``id``, ``caption``, ``letter`` (drawn bold
  in the top-left corner) and the kind's keys (``endpoint``, ``responder``, ``category``,
  ``parameter``, ``visit``, ``adjusted``, ``ylabel``).

``for_each = "endpoints"`` (or ``"biomarkers"``) repeats an item for every analysed
endpoint; ``"sensitivity"`` for every endpoint whose estimand has sensitivity analyses and
``"tipping_point"`` for every one with a tipping point (none: the item is left out); its
``id`` and ``caption`` may use ``{name}`` and ``{label}``. Captions may use
the fields a panel offers (``{label}``, ``{visit}``, ``{name}``) and ``{letter}``.

Built-in layouts: ``a2201-paper`` (the A2201 paper's Tables 1-4 and Figures 1-3) and
``csr`` (the CDISC pilot's clinical study report shells, Tables 14-1.01 to 14-5.01);
``layouts/*.toml`` beside this module. Every problem raises
:class:`~dosefinding.errors.InputError` naming the layout and the key at fault.

Examples
--------
>>> layout = parse_layout('''
... [layout]
... name = "tiny"
... [[section]]
... id = "efficacy"
... title = "Efficacy"
... [[section.item]]
... table = "efficacy"
... id = "table-1"
... caption = "Table 1. Differences to placebo"
... ''')
>>> layout.name, layout.sections[0].items[0]["table"]
('tiny', 'efficacy')
>>> parse_layout('[layout]\\nname = "x"\\n[[section]]\\nid = "s"\\ntitle = "S"\\n[[section.item]]\\nid = "t"')
Traceback (most recent call last):
...
dosefinding.errors.InputError: layout x: section[0].item[0]: give table = KIND or panel = KIND
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dosefinding.errors import InputError
from dosefinding.files import read_text_file
from dosefinding.progress import step
from dosefinding.report.html import Report
from dosefinding.report.layout_figures import panel
from dosefinding.report.layout_tables import table

if TYPE_CHECKING:
    from dosefinding.study.analysis import StudyResults

__all__ = ["BUILT_IN_LAYOUTS", "FOR_EACH", "Layout", "LayoutSection", "load_layout", "parse_layout", "render_report"]

BUILT_IN_LAYOUTS = ("a2201-paper", "csr")
_ITEM_KEYS = {"table", "panel", "id", "caption", "subtitle", "footnotes", "decimals", "p_decimals", "percent_decimals",
              "endpoints", "endpoint", "visit", "category", "responder", "parameter", "adjusted", "ylabel", "letter",
              "title", "for_each", "items", "percent_sign", "style"}
FOR_EACH = ("endpoints", "biomarkers", "sensitivity", "tipping_point")
"""What ``for_each`` repeats an item for: every analysed endpoint, every biomarker, every endpoint with
sensitivity analyses, every endpoint with a tipping-point analysis (none: the item is left out)."""
_FORMAT_KEYS = {"decimals", "p_decimals", "percent_decimals"}


@dataclass(frozen=True)
class LayoutSection:
    """A section of the report: its id, heading and items (tables and figure panels) in order."""

    id: str
    title: str
    items: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class Layout:
    """A checked report layout (see the module docstring)."""

    name: str
    description: str
    sections: tuple[LayoutSection, ...]
    formats: Mapping[str, int] = field(default_factory=dict)
    template: Path | None = None
    source: str = ""


def _fail(name: str, message: str) -> InputError:
    return InputError(f"layout {name}: {message}")


def _item(name: str, value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(name, f"{where}: must be a table ([[section.item]])")
    unknown = sorted(set(value) - _ITEM_KEYS)
    if unknown:
        raise _fail(name, f"{where}.{unknown[0]}: unknown key (keys: {', '.join(sorted(_ITEM_KEYS))})")
    if ("table" in value) == ("panel" in value):
        raise _fail(name, f"{where}: give table = KIND or panel = KIND")
    for key in ("id", "caption"):
        if not isinstance(value.get(key), str) or not value[key].strip():
            raise _fail(name, f"{where}.{key}: missing (a non-empty string)")
    if value.get("for_each", "endpoints") not in FOR_EACH:
        raise _fail(name, f"{where}.for_each: must be one of {', '.join(FOR_EACH)}, got {value['for_each']!r}")
    return dict(value)


def parse_layout(text: str, *, base: str | PathLike[str] | None = None, source: str = "") -> Layout:
    """Check a layout given as TOML text (``base``: the directory its template path is relative to)."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"layout {source or 'text'}: not valid TOML ({exc})") from None
    head = document.get("layout")
    if not isinstance(head, dict) or not isinstance(head.get("name"), str):
        raise InputError(f"layout {source or 'text'}: needs [layout] with name = \"...\"")
    name = head["name"]
    unknown = sorted(set(document) - {"layout", "format", "section"})
    if unknown:
        raise _fail(name, f"{unknown[0]}: unknown table (tables: layout, format, section)")
    formats = document.get("format", {})
    if set(formats) - _FORMAT_KEYS or not all(isinstance(v, int) and 0 <= v <= 6 for v in formats.values()):
        raise _fail(name, f"format: keys {', '.join(sorted(_FORMAT_KEYS))}, each a whole number 0 to 6")
    sections = []
    for i, s in enumerate(document.get("section", [])):
        if not isinstance(s, dict) or not isinstance(s.get("id"), str) or not isinstance(s.get("title"), str):
            raise _fail(name, f"section[{i}]: needs id and title")
        items = tuple(_item(name, v, f"section[{i}].item[{j}]") for j, v in enumerate(s.get("item", [])))
        sections.append(LayoutSection(id=s["id"], title=s["title"], items=items))
    if not sections:
        raise _fail(name, "section: no [[section]]: the report would be empty")
    template = None
    if "template" in head:
        template = Path(base or ".") / str(head["template"])
        read_text_file(template, f"layout {name}: layout.template")  # there, a file and UTF-8 text
    return Layout(name=name, description=str(head.get("description", "")), sections=tuple(sections),
                  formats=dict(formats), template=template, source=source)


def load_layout(layout: str | PathLike[str] | Layout) -> Layout:
    """A built-in layout by name (``"a2201-paper"``, ``"csr"``) or a layout TOML file.

    Examples
    --------
    >>> load_layout("csr").name, load_layout("a2201-paper").sections[0].items[0]["id"]
    ('csr', 'figure-1')
    """
    if isinstance(layout, Layout):
        return layout
    text = str(layout)
    if text in BUILT_IN_LAYOUTS:
        body = resources.files("dosefinding.report").joinpath("layouts", f"{text}.toml").read_text(encoding="utf-8")
        return parse_layout(body, source=text)
    path = Path(layout)
    if not path.is_file():
        raise InputError(f"layout: {text!r} is neither a built-in layout ({', '.join(BUILT_IN_LAYOUTS)}) "
                         "nor a layout TOML file")
    return parse_layout(read_text_file(path, "layout"), base=path.parent, source=str(path))


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "x"


class _Fields(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _expand(results: StudyResults, item: Mapping[str, Any]) -> list[dict[str, Any]]:
    if "for_each" not in item:
        return [dict(item)]
    kind = item["for_each"]
    group = results.biomarkers if kind == "biomarkers" else results.endpoints
    if kind == "sensitivity":
        group = {n: f for n, f in group.items() if n in results.sensitivity}
    elif kind == "tipping_point":
        group = {n: f for n, f in group.items() if n in results.sensitivity and results.sensitivity[n].tipping}
    out = []
    for name, fit in group.items():
        fields = _Fields(name=name, slug=_slug(name), label=fit.spec.label)
        out.append({**item, "endpoint": name, "id": item["id"].format_map(fields),
                    "caption": item["caption"].format_map(fields)})
    return out


def render_report(results: StudyResults, layout: Layout | str | PathLike[str]) -> Report:
    """Place the numbers of ``results`` into the tables and figures of ``layout``: the report document.

    Raises :class:`InputError` naming the layout entry at fault (an endpoint not analysed,
    a panel without data, a table kind the spec has no analysis for).
    """
    layout = load_layout(layout)
    spec = results.spec
    report = Report(title=spec.title, study=spec.name, synthetic=spec.synthetic, subtitle=spec.subtitle,
                    populations=results.populations, template=layout.template).with_frames(results.frames())
    if results.mcpmod is not None:
        from dosefinding.report.results_json import mcpmod_results

        report = report.with_mcpmod(mcpmod_results(results.mcpmod))
    for section in layout.sections:
        report = report.section(section.title, id=section.id)
        for raw in section.items:
            for item in _expand(results, raw):
                where = f"layout {layout.name}: {item['id']}"
                if "table" in item:
                    report = report.table(table(results, item, layout.formats, where))
                    continue
                step(f"drawing {item['id']}")
                figure, data, fields = panel(results, item, where)
                caption = item["caption"].format_map(_Fields(**fields, letter=str(item.get("letter") or "")))
                report = report.figure(figure, id=item["id"], caption=caption, data=data)
    return report
