"""The rows an analysis spec analyses: datasets read and checked, populations, arms, visits and BDS rows.

Every check raises :class:`~dosefinding.errors.InputError` naming the spec key and the
column at fault; subjects of a BDS dataset missing from ADSL give one
:class:`~dosefinding.errors.DoseFindingWarning` with their count.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence

import pandas as pd

from dosefinding.adam import flag_values, read_adam
from dosefinding.errors import DoseFindingWarning, InputError
from dosefinding.progress import step
from dosefinding.study.analysis_spec import AnalysisSpec, EndpointSpec

__all__ = ["arm_factor", "endpoint_data", "flag", "load_data", "need_columns", "parameter_rows", "read_flag",
           "select_visits", "subjects", "visit_labels"]


def need_columns(frame: pd.DataFrame, columns: Sequence[str], dataset: str, key: str) -> None:
    """Raise :class:`InputError` naming ``key`` and the columns of ``columns`` missing from ``frame``."""
    missing = [c for c in dict.fromkeys(columns) if c not in frame.columns]
    if missing:
        raise InputError(f"{key}: column(s) {', '.join(missing)} not found in {dataset}")


def flag(frame: pd.DataFrame, column: str) -> pd.Series:
    """ADSL population flag ``column`` as booleans (:func:`dosefinding.adam.flag_values`: ``"Y"``, ``"y"``, 1,
    true; a value that is not a flag is an InputError).

    Examples
    --------
    >>> flag(pd.DataFrame({"F": ["Y", " y", "N", None]}), "F").tolist()
    [True, True, False, False]
    """
    return pd.Series(flag_values(frame[column], "populations", f"{column} of adsl"), index=frame.index)


def read_flag(frame: pd.DataFrame, column: str, dataset: str, key: str) -> pd.Series:
    """A flag column as booleans (:func:`dosefinding.adam.flag_values`), a value that is not a flag an
    :class:`InputError` naming ``key``, the column and the value.

    Examples
    --------
    >>> read_flag(pd.DataFrame({"F": ["Y", "y", 1, True, "N", "", None, 0, False]}), "F", "adeff", "f").tolist()
    [True, True, True, True, False, False, False, False, False]
    >>> read_flag(pd.DataFrame({"F": ["Y", "Yes"]}), "F", "adeff", "events[0].flag")
    Traceback (most recent call last):
    ...
    dosefinding.errors.InputError: events[0].flag: 'Yes' in F of adeff is not a flag (Y/N, 1/0 or true/false)
    """
    return pd.Series(flag_values(frame[column], key, f"{column} of {dataset}"), index=frame.index)


def _read(name: str, path: object) -> pd.DataFrame:
    step(f"reading data.{name} ({path})")
    try:
        frame = read_adam(path)  # type: ignore[arg-type]  # the spec's path: read_adam says if it is not one
    except InputError as exc:
        raise InputError(f"data.{name}: {exc}") from None
    except pd.errors.EmptyDataError:
        raise InputError(f"data.{name}: {str(path)!r} is empty (no header, no rows)") from None
    if frame.empty:
        raise InputError(f"data.{name}: {str(path)!r} has no rows")
    return frame


def load_data(spec: AnalysisSpec) -> dict[str, pd.DataFrame]:
    """The datasets of ``spec`` (``read_adam``), ADSL checked for the subject, arm and population columns.

    Raises :class:`InputError` naming the spec key and column at fault: an empty file, a
    missing column, an arm of the data without a dose in ``arms.doses``, an arm of
    ``arms.doses`` not in the data. Warns (:class:`DoseFindingWarning`) with the count of
    subjects of a BDS dataset (one with ``PARAMCD``) that ADSL does not have.
    """
    data = {name: _read(name, path) for name, path in spec.data.items()}
    adsl = data["adsl"]
    need_columns(adsl, [spec.subject], "adsl", "study.subject")
    need_columns(adsl, [spec.arms.variable], "adsl", "arms.variable")
    for population, column in spec.populations.items():
        need_columns(adsl, [column], "adsl", f"populations.{population}")
    randomised = adsl[flag(adsl, spec.populations["randomised"])]
    if randomised.empty:
        raise InputError(f"populations.randomised: no subject of adsl has {spec.populations['randomised']} = 'Y'")
    present = list(pd.unique(randomised[spec.arms.variable].astype(str)))
    no_dose = [a for a in present if a not in spec.arms.doses]
    if no_dose:
        raise InputError(f"arms.doses: no dose for arm(s) {no_dose} of {spec.arms.variable} in adsl")
    absent = [a for a in spec.arms.names if a not in present]
    if absent:
        raise InputError(f"arms.doses: arm(s) {absent} not found in {spec.arms.variable} of adsl "
                         f"(randomised arms: {present})")
    known = set(adsl[spec.subject].astype(str))
    for name, frame in data.items():
        if name == "adsl" or "PARAMCD" not in frame.columns or spec.subject not in frame.columns:
            continue
        extra = set(frame[spec.subject].astype(str)) - known
        if extra:
            warnings.warn(f"data.{name}: {len(extra)} subject(s) of {spec.subject} not in adsl; their rows are "
                          "not analysed", DoseFindingWarning, stacklevel=2)
    data["adsl"] = adsl.assign(**{spec.arms.variable: adsl[spec.arms.variable].astype(str)})
    return data


def arm_factor(values: pd.Series, spec: AnalysisSpec) -> pd.Categorical:
    """The arms as a categorical in the order of ``arms.doses``."""
    return pd.Categorical(values.astype(str), categories=list(spec.arms.names))


def subjects(spec: AnalysisSpec, data: Mapping[str, pd.DataFrame], population: str,
             extra: Sequence[str] = ()) -> pd.DataFrame:
    """Randomised subjects of ``population``: subject, arm (categorical) and the ADSL columns ``extra``."""
    adsl = data["adsl"]
    chosen = adsl[flag(adsl, spec.populations[population]) & flag(adsl, spec.populations["randomised"])]
    out = chosen[[spec.subject, spec.arms.variable, *extra]].copy()
    out[spec.arms.variable] = arm_factor(out[spec.arms.variable], spec)
    return out


def visit_labels(frame: pd.DataFrame, visit: str, label: str) -> dict[float, str]:
    """Visit number to its label, in visit order."""
    pairs = frame[[visit, label]].dropna().drop_duplicates(visit).sort_values(visit)
    return {float(v): str(lab) for v, lab in zip(pairs[visit], pairs[label], strict=True)}


def select_visits(available: list[float], wanted: tuple[float, ...] | None, key: str, column: str,
                  dataset: str) -> list[float]:
    """``wanted`` (all post-baseline visits when ``None``), each checked to be in ``available``."""
    if wanted is None:
        return [v for v in available if v != 0]
    missing = [v for v in wanted if v not in available]
    if missing:
        raise InputError(f"{key}: visit(s) {[f'{v:g}' for v in missing]} not found in {column} of {dataset} "
                         f"(visits: {[f'{v:g}' for v in available]})")
    return list(wanted)


def parameter_rows(frame: pd.DataFrame, paramcd: str, dataset: str, key: str) -> pd.DataFrame:
    """The rows of ``paramcd``; an :class:`InputError` listing the PARAMCDs there are if none."""
    need_columns(frame, ["PARAMCD"], dataset, key)
    rows = frame[frame["PARAMCD"].astype(str) == paramcd]
    if rows.empty:
        known = sorted(frame["PARAMCD"].dropna().astype(str).unique())
        raise InputError(f"{key}: {paramcd!r} not found in PARAMCD of {dataset} (values: {', '.join(known)})")
    return rows


def _terms(covariates: tuple[str, ...]) -> list[str]:
    return [name for term in covariates for name in re.split(r"[:*]", term) if name]


def endpoint_data(spec: AnalysisSpec, data: Mapping[str, pd.DataFrame], e: EndpointSpec,
                  key: str) -> tuple[pd.DataFrame, dict[float, str]]:
    """The rows of endpoint ``e`` analysed: its PARAMCD, filters, population and visits, with ADSL's arm.

    The arm is a categorical in the order of ``arms.doses``, the visit label
    (``visit_label``) a categorical in visit order. An ``ancova`` endpoint keeps its
    primary visit only. Returns the rows and the label of each analysed visit.
    """
    bds = parameter_rows(data[e.dataset], e.paramcd, e.dataset, f"{key}.paramcd")
    need_columns(bds, [spec.subject], e.dataset, "study.subject")
    for name in ("visit", "visit_label", "response"):
        need_columns(bds, [getattr(e, name)], e.dataset, f"{key}.{name}")
    for kind, filters in (("where", e.where), ("exclude", e.exclude)):
        need_columns(bds, list(filters), e.dataset, f"{key}.{kind}")
    for column, values in e.where.items():
        bds = bds[bds[column].isin(values)]
    for column, values in e.exclude.items():
        bds = bds[~bds[column].isin(values)]
    adsl = data["adsl"]
    from_adsl = [c for c in _terms(e.covariates) if c not in bds.columns]
    missing = [c for c in from_adsl if c not in adsl.columns]
    if missing:
        raise InputError(f"{key}.covariates: column(s) {', '.join(missing)} not found in {e.dataset} or adsl")
    chosen_subjects = subjects(spec, data, e.population, from_adsl)
    bds = bds.drop(columns=[spec.arms.variable], errors="ignore").merge(chosen_subjects, on=spec.subject, how="inner")
    bds[e.visit] = pd.to_numeric(bds[e.visit], errors="coerce").astype(float)
    labels = visit_labels(bds, e.visit, e.visit_label)
    if e.primary_visit not in labels:
        raise InputError(f"{key}.primary_visit: visit {e.primary_visit:g} not found in {e.visit} of {e.dataset} "
                         f"(visits: {[f'{v:g}' for v in labels]})")
    wanted = (e.primary_visit,) if e.model == "ancova" else e.visits
    visits = select_visits(list(labels), wanted, f"{key}.visits", e.visit, e.dataset)
    bds = bds[bds[e.visit].isin(visits)].copy()
    for column in e.factors:
        bds[column] = pd.Categorical(bds[column].astype(str))
    chosen = {v: labels[v] for v in visits}
    bds[e.visit_label] = pd.Categorical(bds[e.visit].map(chosen), categories=list(chosen.values()))
    return bds, chosen
