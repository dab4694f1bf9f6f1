"""``results.json``: every number of a report, machine-readable, and its JSON Schema.

The schema is ``results.schema.json`` beside this module (JSON Schema 2020-12).
:func:`validate_results` checks a document against it with the ``jsonschema`` package
and then checks what a schema cannot say (each row has one cell and one value per
column; ids are unique), and raises :class:`~dosefinding.errors.InputError` listing
every problem with its place in the document.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dosefinding.errors import InputError
from dosefinding.report.table import json_value

if TYPE_CHECKING:
    from dosefinding.mod.mcpmod import MCPModResult
    from dosefinding.report.html import Report

__all__ = ["SCHEMA_VERSION", "load_schema", "mcpmod_results", "results_document", "validate_results"]

SCHEMA_VERSION = 1
_MAX_LISTED = 10


@cache
def _schema_text() -> str:
    return resources.files("dosefinding.report").joinpath("results.schema.json").read_text(encoding="utf-8")


def load_schema() -> dict[str, Any]:
    """The JSON Schema of ``results.json`` (a fresh copy).

    Examples
    --------
    >>> load_schema()["properties"]["schema_version"]
    {'const': 1}
    """
    return json.loads(_schema_text())


def _number(x: Any) -> float | None:
    value = json_value(x)
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _dose_key(dose: Any) -> str:
    return f"{float(dose):g}"


def mcpmod_results(result: MCPModResult) -> dict[str, Any]:
    """The numbers of an :class:`~dosefinding.mod.MCPModResult` for ``results.json``.

    The MCP step (t statistic, adjusted p-value, significance and contrast of each
    candidate model, critical value, degrees of freedom: ``null`` when infinite), the
    model selection, the fits' parameters and AIC / gAIC, the target doses, and the
    placebo-adjusted estimates with 95% confidence intervals.

    Examples
    --------
    >>> import numpy as np
    >>> from dosefinding import Candidates
    >>> from dosefinding.mod import mcpmod
    >>> cands = Candidates([0, 5, 50, 300], {"linear": None, "emax": 30}, max_effect=-3.5)
    >>> res = mcpmod(cands, doses=[0, 5, 50, 300], estimates=[-2.8, -3.3, -4.2, -5.6], cov=np.eye(4) * 0.5,
    ...              df=180)
    >>> numbers = mcpmod_results(res)
    >>> sorted(numbers["models"]), numbers["selection"]["selected"], round(numbers["models"]["linear"]["p_value"], 4)
    (['emax', 'linear'], 'linear', 0.0041)
    """
    mct = result.mct
    p_values = mct.p_values
    significant = mct.significant
    models = {
        str(name): {
            "t_statistic": float(mct.t_statistics[name]),
            "p_value": None if p_values is None else float(p_values[name]),
            "significant": bool(significant[name]),
            "contrast": {_dose_key(d): float(c) for d, c in mct.contrasts[name].items()},
        }
        for name in mct.t_statistics.index
    }
    selection = None
    if result.selection is not None:
        s = result.selection
        selection = {
            "method": s.method,
            "criterion": s.criterion,
            "selected": s.selected,
            "criteria": {str(k): _number(v) for k, v in s.criteria.items()},
            "weights": None if s.weights is None else {str(k): float(v) for k, v in s.weights.items()},
        }
    fits = {
        str(shape): {
            "parameters": {str(k): _number(v) for k, v in fit.parameters.items()},
            "aic": _number(fit.aic),
            "gaic": _number(fit.gaic),
            "converged": bool(fit.converged),
        }
        for shape, fit in result.fits.items()
    }
    target = {str(shape): {str(k): _number(v) for k, v in row.items()}
              for shape, row in result.target_doses.iterrows()} if len(result.target_doses) else {}
    estimates = result.effect_estimates(0.95)
    return {
        "alpha": float(mct.alpha),
        "alternative": mct.alternative,
        "df": None if math.isinf(mct.df) else float(mct.df),
        "critical_value": _number(mct.critical_value),
        "models": models,
        "selection": selection,
        "fits": fits,
        "target_doses": target,
        "effect_estimates": [{"dose": float(d), **{k: float(row[k]) for k in ("estimate", "se", "lower", "upper")}}
                             for d, row in estimates.iterrows()],
        "notes": [str(n) for n in result.notes],
    }


def results_document(report: Report) -> dict[str, Any]:
    """The ``results.json`` document of ``report``: study, populations, tables cell by cell, MCP-Mod, the tidy
    frames of the analysis (when laid out from a StudyResults), figures.

    Examples
    --------
    >>> import pandas as pd
    >>> from dosefinding.report import Report, Table
    >>> table = Table.from_frame(pd.DataFrame({"n": [49]}, index=["Placebo"]), id="table-1", title="Patients",
    ...                          digits=0)
    >>> doc = results_document(Report(title="A2201", study="A2201").table(table))
    >>> doc["tables"]["table-1"]["rows"][0]["values"], doc["tables"]["table-1"]["files"]
    ([49], ['tables/table-1.rtf'])
    """
    from dosefinding import __version__

    tables = {}
    for table in report.tables:
        entry = table.to_dict()
        entry["files"] = [f"tables/{table.id}.rtf"]
        tables[table.id] = entry
    figures = [{"id": f.id, "caption": f.caption, "files": [f"figures/{f.id}.png", f"figures/{f.id}.svg"],
                "data": f.data} for f in report.figures]
    return {
        "schema_version": SCHEMA_VERSION,
        "study": str(report.study),
        "title": str(report.title),
        "subtitle": str(report.subtitle),
        "synthetic": bool(report.synthetic),
        "generated_by": {"package": "dosefinding", "version": __version__},
        "populations": json_value(report.populations),
        "tables": tables,
        "mcpmod": None if report.mcpmod is None else json_value(report.mcpmod),
        "frames": None if report.frames is None else json_value(report.frames),
        "figures": figures,
    }


def _place(path: Any) -> str:
    out = "results"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _consistency(document: Mapping[str, Any]) -> list[str]:
    problems = []
    for table_id, table in document["tables"].items():
        width = len(table["columns"])
        for i, row in enumerate(table["rows"]):
            for key in ("cells", "values"):
                if len(row[key]) != width:
                    problems.append(f"results.tables.{table_id}.rows[{i}].{key}: has {len(row[key])} entries, "
                                    f"the table has {width} columns")
        if document["synthetic"] and not table["synthetic"]:
            problems.append(f"results.tables.{table_id}.synthetic: false in a report of synthetic data")
    ids = [f["id"] for f in document["figures"]]
    repeated = sorted({i for i in ids if ids.count(i) > 1} | (set(ids) & set(document["tables"])))
    if repeated:
        problems.append(f"results.figures: id(s) {repeated} used more than once")
    return problems


def validate_results(document: Mapping[str, Any] | str | Path) -> None:
    """Check a ``results.json`` document (a mapping, or the path of the file) against the schema.

    Raises :class:`~dosefinding.errors.InputError` naming every place that fails (the
    first ten) and why; returns ``None`` when the document is valid. The check is made
    by the ``jsonschema`` package (a dependency of dosefinding).

    Examples
    --------
    >>> from dosefinding.report import Report
    >>> document = results_document(Report(title="A2201", study="A2201"))
    >>> validate_results(document)
    >>> validate_results({**document, "synthetic": "no"})
    Traceback (most recent call last):
    ...
    dosefinding.errors.InputError: results.json is not valid (1 problem):
      results.synthetic: 'no' is not of type 'boolean'
    """
    import jsonschema
    from jsonschema.exceptions import best_match

    if isinstance(document, (str, Path)):
        try:
            document = json.loads(Path(document).read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(f"results.json: {document} is not JSON ({exc})") from None
    validator = jsonschema.Draft202012Validator(load_schema())
    # an error under oneOf / anyOf says only "not valid under any of the given schemas": report the sub-error
    # of the branch that came closest instead
    errors = [best_match([e]) if e.context else e for e in validator.iter_errors(document)]
    errors.sort(key=lambda e: (list(map(str, e.absolute_path)), e.message))
    problems = []
    seen = set()
    for error in errors:
        place = _place(error.absolute_path)
        if place in seen and error.validator != "required":
            continue
        seen.add(place)
        problems.append(f"{place}: {error.message}")
    if not problems:
        assert isinstance(document, Mapping)  # valid against the schema, which wants an object
        problems = _consistency(document)
    if problems:
        listed = "\n".join(f"  {p}" for p in problems[:_MAX_LISTED])
        more = f"\n  ... and {len(problems) - _MAX_LISTED} more" if len(problems) > _MAX_LISTED else ""
        s = "" if len(problems) == 1 else "s"
        raise InputError(f"results.json is not valid ({len(problems)} problem{s}):\n{listed}{more}")
