"""The analysis data of an estimand: intercurrent events read from ADaM data, each subject's first event and its
strategy applied to the values after it, and the ``ice`` frame of multiple imputation.

An estimand of the analysis spec (``[estimands.<NAME>]``, ICH E9(R1)) lists its intercurrent
events, each read from an ADSL date (``date``, with an ADSL ``where`` filter: e.g. ``TRTEDT``
of the subjects with ``EOTSTT = "DISCONTINUED"``) or from a record flag (``flag``, ``"Y"`` on
the records on or after the event, e.g. ``RESCFL``). The *first visit affected* of a date
event is the analysed visit after the subject's last record (``ADT``) dated on or before the
event (the first analysed visit when there is none); that of a flag event the first analysed
visit at or after the first flagged record. A subject with two events is governed by the first
(the one with the earlier first visit affected; on a tie the one listed first): its strategy
applies to every visit from that one on, whatever the later events are.

The strategies, at the visits from the first affected on:

- treatment policy: the values as observed (missing ones stay missing);
- hypothetical: values set missing (the outcome had the event not occurred is estimated from
  the values before it);
- composite: values set to the event's ``value``, a number or ``"worst"`` (the worst value
  observed at that visit, by the estimand's ``better``), at every visit, observed or not;
- while on treatment: values set missing (the outcome up to the event).

:func:`estimand_data` returns every subject of the estimand's population at every analysed
visit (a missing visit is a row with a missing response), the events found, and the frames
of multiple imputation (:mod:`dosefinding.imputation`): :meth:`EstimandData.ice` (subject,
first visit affected, strategy ``"MAR"``, ``"JR"``, ``"CR"`` or ``"CIR"``; composite events
leave nothing to impute and have no row), :meth:`EstimandData.deltas` (subject, visit, delta
of a delta-adjusted sensitivity analysis) and :meth:`EstimandData.references`.

Flags are read by :func:`~dosefinding.study.analysis_data.read_flag`: ``"Y"``, ``"y"``, 1 and
true mark a record, ``"N"``, ``"n"``, ``""``, 0, false and missing do not; any other value is an
:class:`~dosefinding.errors.InputError` naming the column and the value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from dosefinding.errors import InputError
from dosefinding.study.analysis_data import endpoint_data, need_columns, parameter_rows, read_flag, subjects
from dosefinding.study.analysis_spec import AnalysisSpec, EndpointSpec, EstimandSpec, IntercurrentEvent
from dosefinding.summary import Summary, SummaryDisplay, SummaryTable, short_repr

__all__ = ["IMPUTATION_CODES", "EstimandData", "estimand_data"]

IMPUTATION_CODES: Mapping[str, str] = {"MAR": "MAR", "J2R": "JR", "CR": "CR", "CIR": "CIR"}
"""The spec's imputation names to the strategy codes of the ``ice`` frame (rbmi's)."""
_VALUES = ("AVAL", "CHG", "PCHG")
_RANDOMISATION = ("RANDDT", "TRTSDT")


@dataclass(frozen=True)
class EstimandData(SummaryDisplay):
    """The analysis data of one estimand.

    Attributes
    ----------
    estimand
        The estimand of the spec.
    endpoint
        Its endpoint (with the estimand's population).
    data
        Every subject of the population at every analysed visit, the strategies applied: the
        endpoint's columns and ``ICE`` (the governing event at its first visit affected and
        after, else ``""``), ``STRATEGY`` (its strategy there), ``OBSERVED`` (the response
        as recorded, before any strategy) and ``RECORD`` (the row is a record of the dataset;
        false for a visit the subject missed).
    events
        One row per subject and event: subject, ``arm``, ``event``, ``strategy``, ``visit``
        (the label of the first visit affected; missing when the event follows the last
        analysed visit), ``first`` (the event that governs the subject).
    visits
        Analysed visit to its label.
    """

    estimand: EstimandSpec
    endpoint: EndpointSpec = field(repr=False)
    subject: str
    arm: str
    data: pd.DataFrame = field(repr=False)
    events: pd.DataFrame = field(repr=False)
    visits: Mapping[float, str] = field(repr=False)

    def __repr__(self) -> str:
        governing = self.events[self.events["first"]]
        return short_repr(self, estimand=self.estimand.name, endpoint=self.endpoint.name,
                          subjects=int(self.data[self.subject].nunique()), with_event=len(governing))

    def _sensitivity(self, name: str | None) -> str | None:
        if name is None:
            return None
        methods = {s.name: s for s in self.estimand.sensitivity}
        if name not in methods:
            raise InputError(f"sensitivity: {name!r} is not a sensitivity analysis of estimand "
                             f"{self.estimand.name!r} ({', '.join(methods) or 'none'})")
        return methods[name].method

    def ice(self, sensitivity: str | None = None) -> pd.DataFrame:
        """The ``ice`` frame of multiple imputation: ``subject``, ``visit`` (label of the first visit affected) and
        ``strategy`` (``"MAR"``, ``"JR"``, ``"CR"``, ``"CIR"``), one row per subject with an event.

        The strategy is the governing event's ``imputation``; a sensitivity analysis (its NAME) of method MAR,
        J2R, CR or CIR imputes every event so (method ``delta`` keeps the events' own). Composite events and
        events after the last analysed visit have no row (nothing to impute).
        """
        method = self._sensitivity(sensitivity)
        first = self.events[self.events["first"] & self.events["visit"].notna()]
        events = {e.name: e for e in self.estimand.events}
        first = first[[events[name].strategy != "composite" for name in first["event"]]]
        codes = [IMPUTATION_CODES[method if method is not None and method != "delta"
                                  else str(events[name].imputation)] for name in first["event"]]
        return pd.DataFrame({"subject": first[self.subject].to_numpy(), "visit": first["visit"].astype(str).to_numpy(),
                             "strategy": pd.Series(codes, dtype=object).to_numpy()})

    def deltas(self, sensitivity: str) -> pd.DataFrame:
        """``subject``, ``visit`` (label), ``delta``: the sensitivity analysis' delta at each visit missing in the
        data after the subject's first visit affected, for subjects of the analysis' ``arms`` (visits the spec
        gives no delta for have none)."""
        self._sensitivity(sensitivity)
        analysis = next(s for s in self.estimand.sensitivity if s.name == sensitivity)
        given = analysis.deltas
        ice = self.ice(sensitivity)
        e = self.endpoint
        missing = self.data[self.data[e.response].isna() & self.data[e.visit].isin(list(given))
                            & self.data[self.arm].isin(list(analysis.arms))]
        order = {label: i for i, label in enumerate(self.visits.values())}
        start = dict(zip(ice["subject"], ice["visit"].map(order), strict=True))
        after = [start.get(s, np.inf) <= order[str(v)]
                 for s, v in zip(missing[self.subject], missing[e.visit_label], strict=True)]
        rows = missing[np.asarray(after, dtype=bool)]
        return pd.DataFrame({"subject": rows[self.subject].to_numpy(), "visit": rows[e.visit_label].astype(str).to_numpy(),
                             "delta": rows[e.visit].map(given).to_numpy(dtype=float)}).reset_index(drop=True)

    def references(self, sensitivity: str | None = None) -> dict[str, str]:
        """Each arm's reference arm for J2R, CR and CIR: the sensitivity analysis' ``reference`` (default placebo),
        or placebo for the primary imputation."""
        method = self._sensitivity(sensitivity)
        reference = None
        if method is not None:
            reference = next(s for s in self.estimand.sensitivity if s.name == sensitivity).reference
        arms = list(self.data[self.arm].cat.categories)
        return dict.fromkeys(arms, reference or arms[0])

    def to_frame(self) -> pd.DataFrame:
        """The events, one row per subject and event (:attr:`events`)."""
        return self.events.copy()

    def summary(self) -> Summary:
        """Subjects by arm with each event, governed by each strategy, and the values each strategy changed."""
        arms = list(self.data[self.arm].cat.categories)
        rows: dict[str, pd.Series] = {"Subjects": self.data.groupby(self.arm, observed=False)[self.subject].nunique()}
        for event in self.estimand.events:
            chosen = self.events[self.events["event"] == event.name]
            rows[f"{event.name}: subjects"] = chosen.groupby("arm", observed=False).size()
            rows[f"{event.name}: first event ({event.strategy.replace('_', ' ')})"] = (
                chosen[chosen["first"]].groupby("arm", observed=False).size())
        d = self.data
        changed = d["STRATEGY"].isin(["hypothetical", "while_on_treatment"]) & d["OBSERVED"].notna()
        rows["Values set missing"] = d[changed].groupby(self.arm, observed=False).size()
        rows["Values set (composite)"] = d[d["STRATEGY"] == "composite"].groupby(self.arm, observed=False).size()
        table = pd.DataFrame(rows).T.reindex(columns=arms).fillna(0).astype(int)
        e = self.estimand
        return Summary([f"Estimand {e.name}: {e.variable}; population {e.population}; {e.summary_measure}",
                        "A subject with two events is governed by the first.", "", SummaryTable(table)])


def _dates(frame: pd.DataFrame, column: str, dataset: str, key: str) -> pd.Series:
    values = frame[column]
    parsed = pd.to_datetime(values, errors="coerce")
    bad = values.notna() & values.astype(str).str.strip().ne("") & parsed.isna()
    if bad.any():
        raise InputError(f"{key}: {values[bad].iloc[0]!r} in {column} of {dataset} is not a date")
    return parsed


def _date_event(spec: AnalysisSpec, data: Mapping[str, pd.DataFrame], event: IntercurrentEvent, key: str,
                grid: pd.DataFrame, visits: list[float], e: EndpointSpec) -> pd.Series:
    """First analysed visit affected (its index) per subject of ADSL with the event."""
    adsl = data["adsl"]
    need_columns(adsl, [event.date, *event.where], "adsl", f"{key}.date")  # type: ignore[list-item]
    rows = adsl
    for column, allowed in event.where.items():
        rows = rows[rows[column].isin(allowed)]
    date = _dates(rows, event.date, "adsl", f"{key}.date")  # type: ignore[arg-type]
    rows, date = rows[date.notna()], date[date.notna()]
    for column in _RANDOMISATION:
        if column in rows.columns:
            start = _dates(rows, column, "adsl", f"{key}.date")
            early = date < start
            if early.any():
                who = rows.loc[early, spec.subject].iloc[0]
                raise InputError(f"{key}.date: {event.date} of subject {who!r} ({date[early].iloc[0]:%Y-%m-%d}) is "
                                 f"before randomisation ({column} {start[early].iloc[0]:%Y-%m-%d})")
            break
    when = pd.Series(date.to_numpy(), index=rows[spec.subject].astype(str).to_numpy())
    when = when[~when.index.duplicated()]
    records = grid[grid["RECORD"] & grid[spec.subject].isin(when.index)]
    if len(records):
        need_columns(records, ["ADT"], e.dataset, f"{key}.date (the record dates placing the event at a visit)")
        adt = _dates(records, "ADT", e.dataset, f"{key}.date")
        index = records[e.visit].map({v: i for i, v in enumerate(visits)})
        before = adt.to_numpy() <= when.reindex(records[spec.subject]).to_numpy()
        last = index[before].groupby(records.loc[before, spec.subject]).max()
    else:
        last = pd.Series(dtype=float)
    return (last.reindex(when.index).fillna(-1) + 1).astype(int)


def _flag_event(spec: AnalysisSpec, data: Mapping[str, pd.DataFrame], event: IntercurrentEvent, key: str,
                visits: list[float], e: EndpointSpec) -> pd.Series:
    """First analysed visit affected (its index; ``len(visits)`` after the last) per subject flagged."""
    name = event.dataset or e.dataset
    frame = data[name]
    if "PARAMCD" in frame.columns and name == e.dataset:
        frame = parameter_rows(frame, e.paramcd, name, f"endpoints.{e.name}.paramcd")
    need_columns(frame, [spec.subject, e.visit, event.flag], name, f"{key}.flag")  # type: ignore[list-item]
    flagged = frame[read_flag(frame, event.flag, name, f"{key}.flag")]  # type: ignore[arg-type]
    ids = flagged[spec.subject].astype(str)
    unknown = sorted(set(ids) - set(data["adsl"][spec.subject].astype(str)))
    if unknown:
        raise InputError(f"{key}.flag: subject(s) {unknown[:5]} with {event.flag} set in {name} are not in adsl")
    visit = pd.to_numeric(flagged[e.visit], errors="coerce")
    baseline = (visit <= 0) | (read_flag(flagged, "ABLFL", name, f"{key}.flag") if "ABLFL" in flagged.columns
                               else False)
    if baseline.any():
        raise InputError(f"{key}.flag: {event.flag} is set on the baseline record of subject {ids[baseline].iloc[0]!r} "
                         f"in {name}; an intercurrent event follows randomisation (flag the records after it)")
    first = visit.groupby(ids).min()
    return pd.Series(np.searchsorted(np.asarray(visits), first.to_numpy(), side="left"), index=first.index)


def _grid(spec: AnalysisSpec, data: Mapping[str, pd.DataFrame], e: EndpointSpec, key: str
          ) -> tuple[pd.DataFrame, dict[float, str]]:
    """The endpoint's rows, then a row for every visit each subject of the population missed."""
    rows, visits = endpoint_data(spec, data, e, key)
    rows = rows.assign(RECORD=True)
    every = parameter_rows(data[e.dataset], e.paramcd, e.dataset, f"{key}.paramcd")
    from_adsl = [c for c in data["adsl"].columns if c in rows.columns and c not in every.columns]
    population = subjects(spec, data, e.population, [c for c in from_adsl if c != spec.arms.variable])
    cells = pd.MultiIndex.from_product([population[spec.subject], list(visits)], names=[spec.subject, e.visit])
    present = pd.MultiIndex.from_frame(rows[[spec.subject, e.visit]])
    missed = cells.difference(present, sort=False).to_frame(index=False)
    if missed.empty:
        return rows, visits
    constant = [c for c in rows.columns if c not in (e.visit, e.visit_label, e.response, "RECORD", *_VALUES)
                and c in every.columns and (every.groupby(spec.subject)[c].nunique(dropna=False) <= 1).all()]
    first = every.drop_duplicates(spec.subject).set_index(spec.subject)[[c for c in constant if c != spec.subject]]
    missed = missed.merge(population, on=spec.subject, how="left").merge(
        first.drop(columns=[spec.arms.variable], errors="ignore"), left_on=spec.subject, right_index=True, how="left")
    missed[e.visit_label] = pd.Categorical(missed[e.visit].map(visits), categories=list(visits.values()))
    missed = missed.assign(RECORD=False, **{e.response: np.nan})
    out = pd.concat([rows, missed], ignore_index=True)
    out[spec.arms.variable] = pd.Categorical(out[spec.arms.variable].astype(str), categories=list(spec.arms.names))
    out[e.visit_label] = pd.Categorical(out[e.visit_label].astype(str), categories=list(visits.values()))
    return out, visits


def _set_values(frame: pd.DataFrame, where: pd.Series, response: str, value: pd.Series | float) -> None:
    """Set ``response`` (missing or ``value``) where ``where``, and AVAL, CHG, PCHG consistently with it."""
    frame.loc[where, response] = value
    for column in _VALUES:
        if column in frame.columns and column != response:
            frame.loc[where, column] = np.nan
    if "BASE" in frame.columns:
        if response == "CHG" and "AVAL" in frame.columns:
            frame.loc[where, "AVAL"] = frame.loc[where, "BASE"] + frame.loc[where, "CHG"]
        if response == "AVAL" and "CHG" in frame.columns:
            frame.loc[where, "CHG"] = frame.loc[where, "AVAL"] - frame.loc[where, "BASE"]


def estimand_data(spec: AnalysisSpec, data: Mapping[str, pd.DataFrame], name: str) -> EstimandData:
    """The analysis data of estimand ``name`` of ``spec`` on ADaM ``data`` (as :func:`~dosefinding.study.analysis_data.
    load_data` reads them): the strategies applied, the events, and the frames of multiple imputation.

    Parameters
    ----------
    spec
        An analysis spec with ``[estimands.<name>]``.
    data
        Dataset name to frame.
    name
        NAME of the estimand.

    Returns
    -------
    EstimandData

    Raises
    ------
    InputError
        Naming the spec key and column: a missing column, a date before randomisation, a flag
        on a subject not in ADSL or on a baseline record, a flag value that is not a flag, a
        delta for a visit that is not analysed.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from dosefinding.study import simulate_trial
    >>> from dosefinding.study.analysis_data import load_data
    >>> from dosefinding.study.pipeline import a2201_analysis_text
    >>> from dosefinding.study.analysis_spec import parse_analysis_spec
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = simulate_trial("a2201").write(Path(tmp) / "adam")
    ...     spec = parse_analysis_spec(a2201_analysis_text(), base=tmp)
    ...     result = estimand_data(spec, load_data(spec), "ESSDAI-primary")
    >>> result.ice().columns.tolist()
    ['subject', 'visit', 'strategy']
    >>> sorted(set(result.ice()["strategy"]))
    ['JR', 'MAR']
    """
    if name not in spec.estimands:
        raise InputError(f"estimand: {name!r} is not an estimand of the spec ({', '.join(spec.estimands) or 'none'})")
    estimand = spec.estimands[name]
    key = f"estimands.{name}"
    group = "endpoints" if estimand.endpoint in spec.endpoints else "biomarkers"
    e = replace({**spec.biomarkers, **spec.endpoints}[estimand.endpoint], population=estimand.population)
    grid, labels = _grid(spec, data, e, f"{group}.{e.name}")
    grid[spec.subject] = grid[spec.subject].astype(str)
    visits = list(labels)
    for i, s in enumerate(estimand.sensitivity):
        unknown = [v for v in s.deltas if v not in labels]
        if unknown:
            raise InputError(f"{key}.sensitivity[{i}].deltas: visit {unknown[0]:g} does not exist (analysed visits "
                             f"of {e.visit} in {e.dataset}: {[f'{v:g}' for v in visits]})")
    population = set(grid[spec.subject].astype(str))
    found = []
    for order, event in enumerate(estimand.events):
        where = f"{key}.events[{order}]"
        first = (_date_event(spec, data, event, where, grid, visits, e) if event.date is not None
                 else _flag_event(spec, data, event, where, visits, e))
        first = first[first.index.isin(population)]
        found.append(pd.DataFrame({spec.subject: first.index, "event": event.name, "strategy": event.strategy,
                                   "_INDEX": first.to_numpy(dtype=int), "_ORDER": order}))
    columns = [spec.subject, "event", "strategy", "_INDEX", "_ORDER"]
    events = pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=columns)
    events = events.sort_values([spec.subject, "_INDEX", "_ORDER"], kind="stable").reset_index(drop=True)
    events["first"] = ~events[spec.subject].duplicated()

    data_out = grid.copy()
    data_out["OBSERVED"] = data_out[e.response]
    governing = events[events["first"]].set_index(spec.subject)
    index = data_out[e.visit].map({v: i for i, v in enumerate(visits)})
    start = data_out[spec.subject].map(governing["_INDEX"])
    after = (index >= start).fillna(False).astype(bool)
    data_out["ICE"] = np.where(after, data_out[spec.subject].map(governing["event"]), "")
    data_out["STRATEGY"] = np.where(after, data_out[spec.subject].map(governing["strategy"]), "")
    _set_values(data_out, data_out["STRATEGY"].isin(["hypothetical", "while_on_treatment"]), e.response, np.nan)
    for ev in estimand.events:
        chosen = after & (data_out["ICE"] == ev.name) & (ev.strategy == "composite")
        if not chosen.any():
            continue
        if ev.value == "worst":
            observed = grid.groupby(e.visit)[e.response].agg("max" if estimand.better == "lower" else "min")
            _set_values(data_out, chosen, e.response, data_out.loc[chosen, e.visit].map(observed))
        else:
            _set_values(data_out, chosen, e.response, float(ev.value))  # type: ignore[arg-type]

    arm = subjects(spec, data, e.population).assign(**{spec.subject: lambda f: f[spec.subject].astype(str)})
    events = events.merge(arm.rename(columns={spec.arms.variable: "arm"}), on=spec.subject, how="left")
    label_list = list(labels.values())
    events["visit"] = [label_list[i] if i < len(label_list) else None for i in events["_INDEX"]]
    events = events[[spec.subject, "arm", "event", "strategy", "visit", "first"]]
    return EstimandData(estimand=estimand, endpoint=e, subject=spec.subject, arm=spec.arms.variable,
                        data=data_out, events=events, visits=labels)
