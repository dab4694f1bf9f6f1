"""The figure panels of a report layout: one function per panel kind, numbers from a StudyResults.

Each panel function takes the results and the panel's layout entry and returns the
matplotlib figure with the numbers it shows. Panel kinds: ``flow`` (patient flow),
``over_time`` (LS-mean change by arm and visit), ``dose_response`` (the primary
endpoint's MCP-Mod fit with model averaging), ``responders``, ``categories``,
``dose_summary`` (mean ± SD by dose, ``[exposure]``) and ``dose_estimates`` (LS-mean
change or placebo-adjusted difference ± SE by dose) and ``tipping_point`` (the tipping-point
curve of ``endpoint``'s estimand, default the primary endpoint); the panel's title names the
parameter, its y axis the statistic and the unit.

Each panel draws with one function of :mod:`dosefinding.report.figures` (``over_time``,
``dose_response``, ``responder_bars``, ``category_shares``), ``figures_dose``
(``dose_summary``, ``dose_estimates``) or ``figures_flow`` (``patient_flow``) or ``figures_sensitivity`` (``tipping_curve``), the panel
letter included.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dosefinding.errors import InputError
from dosefinding.report.figures import (
    category_shares,
    dose_response,
    dose_response_data,
    over_time,
    point_range,
    responder_bars,
)
from dosefinding.report.figures_dose import dose_estimates, dose_summary
from dosefinding.report.figures_flow import patient_flow
from dosefinding.report.figures_sensitivity import tipping_curve
from dosefinding.report.layout_tables import need_sensitivity

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from dosefinding.mod import ModelAverage
    from dosefinding.study.analysis import StudyResults

__all__ = ["PANELS", "panel"]


def _empty(frame: pd.DataFrame, where: str, what: str) -> None:
    if frame.empty:
        raise InputError(f"{where}: no data for {what}: the panel would be empty")


def _fit_name(results: StudyResults, entry: Mapping[str, Any], where: str) -> str:
    name = str(entry.get("endpoint", "primary"))
    if name == "primary":
        if results.spec.primary is None:
            raise InputError(f"{where}.endpoint: 'primary' but the spec has no [primary]")
        return results.spec.primary.endpoint
    analysed = [*results.endpoints, *results.biomarkers]
    if name not in analysed:
        raise InputError(f"{where}.endpoint: {name!r} is not analysed (analysed: {', '.join(analysed)})")
    return name


def _axis_label(text: str, unit: str) -> str:
    return f"{text} ({unit})" if unit else text


# --------------------------------------------------------------------------- the figure functions


def draw_dose_response(results: StudyResults, *, title: str, letter: str | None) -> tuple[Figure, Any]:
    """The primary endpoint's dose-response (MCP-Mod fit or, with no shape significant, the estimates)."""
    fitted = results.mcpmod
    assert fitted is not None
    if fitted.selection is None:
        numbers = fitted.effect_estimates().reset_index(names="dose")
        figure = point_range(numbers.assign(arm=numbers["dose"].map(lambda d: f"{d:g} mg")),
                             title=f"{title} (no shape significant)", letter=letter)
        return figure, numbers
    figure = dose_response(fitted, title=title, letter=letter)
    data: dict[str, Any] = dict(dose_response_data(fitted))
    if results.model_average is not None:
        data["model_average"] = _draw_model_average(figure, results.model_average)
    return figure, data


MODEL_AVERAGE_COLOR = "#b35806"
"""The colour of the bootstrap model-averaged curve: its median dashed, its 2.5% and 97.5% quantiles dash-dotted."""


def _draw_model_average(figure: Figure, averaged: ModelAverage) -> pd.DataFrame:
    """The bootstrap model-averaged curve (median, 2.5% and 97.5% quantiles) over the dose-response figure."""
    quantiles = averaged.quantiles
    doses = quantiles.columns.to_numpy(dtype=float)
    axes = figure.axes[0]
    rows = {float(p): quantiles.loc[p].to_numpy(dtype=float) for p in quantiles.index}
    style: dict[str, Any] = {"color": MODEL_AVERAGE_COLOR, "linewidth": 1.2}  # apart from the fitted curve (dotted, thick)
    if 0.5 in rows:
        axes.plot(doses, rows[0.5], linestyle="--", label="Bootstrap model average (median)", **style)
    if 0.025 in rows and 0.975 in rows:
        axes.plot(doses, rows[0.025], linestyle="-.", label="Bootstrap 2.5% and 97.5% quantiles", **style)
        axes.plot(doses, rows[0.975], linestyle="-.", **style)
    axes.legend(frameon=False, fontsize=8)
    return quantiles.T.rename_axis("dose").rename(columns=lambda p: f"q{float(p):g}")


# --------------------------------------------------------------------------- panels


def _flow(results: StudyResults, entry: Mapping[str, Any], where: str) -> tuple[Figure, Any, dict[str, str]]:
    d = results.disposition
    stages = d.stages[[c for c in d.stages.columns if c != "Discontinued"]]
    figure = patient_flow(screened=d.screened, excluded=d.excluded, arms=stages, criteria=d.criteria,
                          discontinued=d.discontinued if len(d.discontinued) else None)
    frames = results.frames()
    return figure, {"disposition": frames["disposition"], "discontinuation": frames["discontinuation"]}, {}


def _over_time(results: StudyResults, entry: Mapping[str, Any], where: str) -> tuple[Figure, Any, dict[str, str]]:
    name = _fit_name(results, entry, where)
    fit = results.fit(name)
    frames = results.frames()
    lsmeans, differences = frames["lsmeans"], frames["differences"]
    frame = lsmeans.loc[lsmeans["endpoint"] == name, ["arm", "visit", "estimate", "lower", "upper"]]
    _empty(frame, where, f"endpoint {name!r}")
    p_values = differences.loc[differences["endpoint"] == name, ["arm", "visit", "p_value"]]
    frame = frame.merge(p_values, on=["arm", "visit"], how="left")
    e = fit.spec
    ylabel = str(entry.get("ylabel", _axis_label("LS mean change from baseline", e.unit) + ", 95% CI"))
    figure = over_time(frame, title=e.label, ylabel=ylabel, letter=entry.get("letter"))
    return figure, frame, {"label": e.label}


def _dose_response(results: StudyResults, entry: Mapping[str, Any], where: str) -> tuple[Figure, Any, dict[str, str]]:
    if results.mcpmod is None or results.spec.primary is None:
        raise InputError(f"{where}: a dose_response panel needs MCP-Mod ([primary] in the spec)")
    fit = results.endpoints[results.spec.primary.endpoint]
    visit = fit.visits[results.spec.primary.visit]
    figure, data = draw_dose_response(results, title=f"{fit.spec.label}, {visit}", letter=entry.get("letter"))
    return figure, data, {"label": fit.spec.label, "visit": visit}


def _definition(results: StudyResults, entry: Mapping[str, Any], where: str, key: str,
                frame: str) -> tuple[str, pd.DataFrame]:
    """The rows of ``frame`` of the responder or category definition that ``entry[key]`` names (default the first)."""
    rows = results.frames()[frame]
    names = list(dict.fromkeys(rows["name"]))
    name = str(entry.get(key, names[0] if names else ""))
    if name not in names:
        raise InputError(f"{where}.{key}: {name!r} is not a {key} definition of the spec ({', '.join(names) or 'none'})")
    return name, rows[rows["name"] == name].drop(columns="name")


def _responders(results: StudyResults, entry: Mapping[str, Any], where: str) -> tuple[Figure, Any, dict[str, str]]:
    name, frame = _definition(results, entry, where, "responder", "responders")
    _, tests = _definition(results, {"responder": name}, where, "responder", "responder_tests")
    frame = frame.merge(tests[["arm", "p_value"]], on="arm", how="left")
    figure = responder_bars(frame, title=str(entry.get("title", name)), letter=entry.get("letter"))
    return figure, frame, {"name": name}


def _categories(results: StudyResults, entry: Mapping[str, Any], where: str) -> tuple[Figure, Any, dict[str, str]]:
    name, frame = _definition(results, entry, where, "category", "categories")
    figure = category_shares(frame, title=str(entry.get("title", name)), letter=entry.get("letter"))
    return figure, frame, {"name": name}


def _dose_summary(results: StudyResults, entry: Mapping[str, Any], where: str) -> tuple[Figure, Any, dict[str, str]]:
    name = str(entry.get("parameter", ""))
    if name not in results.spec.exposure:
        raise InputError(f"{where}.parameter: {name!r} is not in [exposure] of the spec "
                         f"({', '.join(results.spec.exposure) or 'none'})")
    x = results.spec.exposure[name]
    frame = results.exposure[results.exposure["parameter"] == name]
    if "visit" in entry:
        frame = frame[frame["visit"] == float(entry["visit"])]
    _empty(frame, where, f"exposure {name!r}")
    figure = dose_summary(frame, ylabel=_axis_label("Mean ± SD", x.unit), title=x.label,
                          letter=entry.get("letter"))
    return figure, frame, {"label": x.label}


def _dose_estimates(results: StudyResults, entry: Mapping[str, Any], where: str) -> tuple[Figure, Any, dict[str, str]]:
    name = _fit_name(results, entry, where)
    fit = results.fit(name)
    adjusted = bool(entry.get("adjusted", False))
    frames = results.frames()
    frame = frames["differences" if adjusted else "lsmeans"]
    frame = frame[frame["endpoint"] == name]
    visit = float(entry.get("visit", fit.spec.primary_visit))
    frame = frame[frame["visit"] == visit].assign(dose=lambda f: f["arm"].map(dict(results.spec.arms.doses)))
    _empty(frame, where, f"endpoint {name!r} at visit {visit:g}")
    what = "Placebo-adjusted change, LS mean ± SE" if adjusted else "LS mean change ± SE"
    figure = dose_estimates(frame, ylabel=_axis_label(what, fit.spec.unit), title=fit.spec.label,
                            p_value="p_value" if adjusted else None, letter=entry.get("letter"))
    return figure, frame, {"label": fit.spec.label}


def _tipping_point(results: StudyResults, entry: Mapping[str, Any], where: str) -> tuple[Figure, Any, dict[str, str]]:
    name, result = need_sensitivity(results, entry, where)
    if result.tipping is None:
        raise InputError(f"{where}.endpoint: estimand {result.estimand} of {name!r} has no [estimands."
                         f"{result.estimand}.tipping_point]")
    fit = results.fit(name)
    figure = tipping_curve(result.tipping, title=fit.spec.label, letter=entry.get("letter"),
                           xlabel=_axis_label("Delta added to the active arms' imputed values", fit.spec.unit),
                           ylabel=_axis_label(f"{result.tipping.parameter.removeprefix('trt_')} - placebo (CI)",
                                              fit.spec.unit))
    return figure, result.tipping.curve, {"label": fit.spec.label, "visit": result.visit}


PANELS = {"flow": _flow, "over_time": _over_time, "dose_response": _dose_response, "responders": _responders,
          "categories": _categories, "dose_summary": _dose_summary, "dose_estimates": _dose_estimates,
          "tipping_point": _tipping_point}


def panel(results: StudyResults, entry: Mapping[str, Any], where: str) -> tuple[Figure, Any, dict[str, str]]:
    """The figure of one layout entry, the numbers it shows, and the fields its caption may use."""
    kind = str(entry.get("panel", ""))
    if kind not in PANELS:
        raise InputError(f"{where}.panel: {kind!r} is not a panel kind ({', '.join(PANELS)})")
    figure, data, fields = PANELS[kind](results, entry, where)
    if isinstance(data, pd.DataFrame) and not np.all(data.shape):
        raise InputError(f"{where}: the panel has no data")
    return figure, data, fields
