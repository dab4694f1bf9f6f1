"""Adverse-event tables: incidence by system organ class and preferred term, overall summary,
maximum severity or grade, events of special interest; Fisher exact tests against a reference arm.

Counts are subjects, not events: a subject with several events in a system organ class
(SOC) or preferred term (PT) counts once there. Denominators are the subjects of the
safety population per arm (see :func:`dosefinding.endpoints.safety.safety_set`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dosefinding.endpoints.differences import fisher_test
from dosefinding.endpoints.safety import TOTAL, SafetySet, count_subjects, safety_set
from dosefinding.errors import InputError
from dosefinding.summary import Summary, SummaryDisplay, SummaryTable, short_repr

__all__ = [
    "ANY_EVENT",
    "DEATHS",
    "VARIABLE_NAMES",
    "AETable",
    "ae_by_severity",
    "ae_incidence",
    "ae_overview",
    "ae_special_interest",
    "fisher_p_values",
]

ANY_EVENT = "ANY EVENT"
"""SOC label of the first row of the SOC/PT tables: subjects with at least one event."""

DEATHS = "Deaths"
"""Row of :func:`ae_overview` counting the patients who died (only when ADSL records deaths, ``DTHFL``)."""

SEVERITY_LEVELS = ("MILD", "MODERATE", "SEVERE")
GRADE_LEVELS = ("1", "2", "3", "4", "5")
NOT_RELATED = ("NONE", "NOT RELATED")


@dataclass(frozen=True)
class AETable(SummaryDisplay):
    """A table of subject counts by arm.

    Attributes
    ----------
    title
        What is counted.
    counts
        Subjects with the event per row; one column per arm and ``Total``.
    denominators
        Subjects per arm and in total (``N``).
    p_values
        Two-sided Fisher exact p-values of each arm against ``reference`` (one column per
        other arm), or ``None``.
    reference
        The reference arm of the tests, or ``None``.
    notes
        Conventions used on these data (e.g. where discontinuations came from).
    """

    title: str
    counts: pd.DataFrame
    denominators: pd.Series
    p_values: pd.DataFrame | None = None
    reference: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def percent(self) -> pd.DataFrame:
        """``100 * counts / N`` per arm."""
        return 100.0 * self.counts / self.denominators.reindex(self.counts.columns).to_numpy()

    def to_frame(self, digits: int = 1) -> pd.DataFrame:
        """The table as printed: ``"n (%)"`` per arm, then the p-values."""
        pct = self.percent.round(digits)
        cells = {
            f"{col} (N={self.denominators[col]})": [
                f"{n} ({p:.{digits}f})" for n, p in zip(self.counts[col], pct[col], strict=True)
            ]
            for col in self.counts.columns
        }
        frame = pd.DataFrame(cells, index=self.counts.index)
        if self.p_values is not None:
            for col in self.p_values.columns:
                frame[f"p {col} vs {self.reference}"] = self.p_values[col].map(
                    lambda p: "<0.0001" if p < 0.0001 else f"{p:.4f}"
                )
        return frame

    def __repr__(self) -> str:
        return short_repr(self, title=self.title, rows=len(self.counts), arms=list(self.counts.columns),
                          N=self.denominators.tolist(), reference=self.reference)

    def summary(self, digits: int = 1) -> Summary:
        """The table as a clinical-study-report text table, SOC rows with their PTs indented."""
        frame = self.to_frame(digits)
        index = frame.index
        if isinstance(index, pd.MultiIndex):
            head = [tuple(str(k) for k in key[:2]) for key in index]
            labels = []
            for i, parts in enumerate(head):
                depth = 1 if parts[1] != "" else 0
                repeat = i > 0 and head[i - 1] == parts
                labels.append("" if repeat else "  " * depth + parts[depth])
            extra = {name: index.get_level_values(name) for name in index.names[2:]}
            frame = pd.concat([pd.DataFrame(extra, index=frame.index), frame], axis=1)
            frame.index = pd.Index(labels)
        lines: list[str | SummaryTable] = [self.title, "n (%) of subjects", SummaryTable(frame)]
        lines.extend(f"Note: {note}" for note in self.notes)
        return Summary(lines, frame=self.to_frame(digits))


def fisher_p_values(counts: pd.DataFrame, denominators: pd.Series, reference: str) -> pd.DataFrame:
    """Two-sided Fisher exact p-value of every arm against ``reference``, row by row.

    The 2x2 table of a row is (with event, without event) x (arm, reference); the test is
    :func:`dosefinding.endpoints.differences.fisher_test` (as R's ``fisher.test``).

    Examples
    --------
    >>> counts = pd.DataFrame({"A": [1], "B": [6]})
    >>> fisher_p_values(counts, pd.Series({"A": 10, "B": 10}), "A").round(4).to_dict("list")
    {'B': [0.0573]}
    """
    if reference not in counts.columns:
        raise InputError(f"reference: {reference!r} is not an arm; arms are {list(counts.columns)}")
    others = [c for c in counts.columns if c not in (reference, TOTAL)]
    n_ref = counts[reference].to_numpy(int)
    out = {
        arm: fisher_test(counts[arm].to_numpy(int), int(denominators[arm]), n_ref, int(denominators[reference])).p_value
        for arm in others
    }
    return pd.DataFrame(out, index=counts.index, columns=others, dtype=float)


def _label(teae: str | None) -> str:
    return "TEAE" if teae is not None else "AE"


VARIABLE_NAMES = {"AEBODSYS": "system organ class", "AESOC": "system organ class", "AEDECOD": "preferred term",
                  "AETERM": "reported term", "AEHLT": "high-level term", "AEHLGT": "high-level group term",
                  "AESEV": "severity", "AETOXGR": "CTC grade"}
"""How the titles of the tables name the ADAE variables they count by."""


def _name(variable: str) -> str:
    return VARIABLE_NAMES.get(variable.upper(), variable)


def _text(values: pd.Series) -> pd.Series:
    return values.astype("string").str.strip().str.upper()


def _coded(events: pd.DataFrame, column: str) -> pd.Series:
    if column not in events.columns:
        raise InputError(f"adae: missing column {column!r}")
    values = events[column].astype("string").str.strip()
    blank = values.isna() | values.eq("")
    if blank.any():
        subjects = events["USUBJID"][blank]
        first = subjects.iloc[0]
        raise InputError(
            f"adae: {column} is blank for subject {first!r} ({int((subjects == first).sum())} of their events; "
            f"{int(blank.sum())} events of {subjects.nunique()} subjects in all); code or fill it before tabulating"
        )
    return values


def soc_pt_rows(data: SafetySet, soc: str, term: str) -> tuple[pd.DataFrame, pd.MultiIndex]:
    """The events of ``data`` with their coded SOC and PT (columns ``_SOC``, ``_PT``, stripped),
    and the rows of a SOC/PT table in display order.

    The rows are (:data:`ANY_EVENT`, ``""``), then each SOC as (SOC, ``""``) followed by its
    PTs, SOCs and PTs in decreasing order of the total subject count, then by name. A blank
    ``soc`` or ``term`` is an :class:`InputError` naming the subject.

    Examples
    --------
    >>> adsl = pd.DataFrame({"USUBJID": ["a", "b"], "TRT01A": ["P", "D"], "SAFFL": ["Y", "Y"]})
    >>> adae = pd.DataFrame({"USUBJID": ["a", "b"], "TRTEMFL": ["Y", "Y"], "AEBODSYS": ["SKIN", "SKIN"],
    ...                      "AEDECOD": ["RASH", "ITCH"]})
    >>> events, rows = soc_pt_rows(safety_set(adae, adsl, arms=["P", "D"]), "AEBODSYS", "AEDECOD")
    >>> rows.tolist()
    [('ANY EVENT', ''), ('SKIN', ''), ('SKIN', 'ITCH'), ('SKIN', 'RASH')]
    """
    events = data.events.assign(_SOC=_coded(data.events, soc), _PT=_coded(data.events, term))
    soc_counts = count_subjects(events, ["_SOC"], data.arms)
    pt_counts = count_subjects(events, ["_SOC", "_PT"], data.arms)
    soc_order = sorted(soc_counts.index, key=lambda s: (-soc_counts.at[s, TOTAL], s))
    rows: list[tuple[str, str]] = [(ANY_EVENT, "")]
    pt_total = pt_counts[TOTAL]
    for s in soc_order:
        rows.append((s, ""))
        terms = pt_total.loc[s]
        rows.extend((s, t) for t in sorted(terms.index, key=lambda t: (-terms[t], t)))
    return events, pd.MultiIndex.from_tuples(rows, names=[soc, term])


def soc_pt_counts(events: pd.DataFrame, data: SafetySet, rows: pd.MultiIndex) -> pd.DataFrame:
    """Subjects with an event on each of the ``rows`` of a SOC/PT table, per arm and in total.

    ``events`` and ``rows`` are those of :func:`soc_pt_rows`.

    Examples
    --------
    >>> adsl = pd.DataFrame({"USUBJID": ["a", "b"], "TRT01A": ["P", "D"], "SAFFL": ["Y", "Y"]})
    >>> adae = pd.DataFrame({"USUBJID": ["a", "b"], "TRTEMFL": ["Y", "Y"], "AEBODSYS": ["SKIN", "SKIN"],
    ...                      "AEDECOD": ["RASH", "ITCH"]})
    >>> data = safety_set(adae, adsl, arms=["P", "D"])
    >>> events, rows = soc_pt_rows(data, "AEBODSYS", "AEDECOD")
    >>> soc_pt_counts(events, data, rows)["Total"].tolist()
    [2, 2, 1, 1]
    """
    keys = ["_SOC", "_PT"]
    counts = pd.concat(
        [
            count_subjects(events.assign(_SOC=ANY_EVENT, _PT=""), keys, data.arms),
            count_subjects(events.assign(_PT=""), keys, data.arms),
            count_subjects(events, keys, data.arms),
        ]
    )
    return counts.reindex(pd.MultiIndex.from_tuples(list(rows))).fillna(0).astype(int).set_axis(rows)


def _finish(
    title: str,
    counts: pd.DataFrame,
    data: SafetySet,
    reference: str | None,
    notes: Sequence[str] = (),
) -> AETable:
    denominators = data.denominators
    p_values = None
    if reference is not None:
        if reference not in data.arms:
            raise InputError(f"reference: {reference!r} is not an arm; arms are {list(data.arms)}")
        p_values = fisher_p_values(counts, denominators, reference)
    return AETable(
        title=title,
        counts=counts,
        denominators=denominators,
        p_values=p_values,
        reference=reference,
        notes=tuple(notes),
    )


def ae_incidence(
    adae: pd.DataFrame,
    adsl: pd.DataFrame,
    *,
    soc: str = "AEBODSYS",
    term: str = "AEDECOD",
    reference: str | None = None,
    arm: str = "TRT01A",
    population: str = "SAFFL",
    teae: str | None = "TRTEMFL",
    arms: Sequence[str] | None = None,
) -> AETable:
    """Subjects with treatment-emergent adverse events by system organ class and preferred term.

    Parameters
    ----------
    adae, adsl
        ADaM ADAE and ADSL.
    soc, term
        ADAE variables of the system organ class and the preferred term.
    reference
        Arm to test every other arm against (Fisher exact, two-sided), or ``None``.
    arm, population, teae, arms
        See :func:`dosefinding.endpoints.safety.safety_set`: arm by treatment received
        (``TRT01A``), safety population (``SAFFL``), treatment-emergent flag (``TRTEMFL``).

    Returns
    -------
    AETable
        Rows indexed by (``soc``, ``term``): first (``"ANY EVENT"``, ``""``), then each SOC
        as (SOC, ``""``) followed by its PTs, SOCs and PTs in decreasing order of the
        total count, ties alphabetically.

    Examples
    --------
    >>> adsl = pd.DataFrame({"USUBJID": list("abcd"), "TRT01A": ["P", "P", "D", "D"],
    ...                      "SAFFL": ["Y"] * 4})
    >>> adae = pd.DataFrame({"USUBJID": ["a", "c", "c", "d"], "TRTEMFL": ["Y"] * 4,
    ...                      "AEBODSYS": ["SKIN", "SKIN", "SKIN", "CARDIAC"],
    ...                      "AEDECOD": ["RASH", "RASH", "PRURITUS", "ANGINA"]})
    >>> t = ae_incidence(adae, adsl, arms=["P", "D"])
    >>> t.counts.loc[("SKIN", "")].tolist()
    [1, 1, 2]
    >>> t.counts.index[1:3].tolist()
    [('SKIN', ''), ('SKIN', 'RASH')]
    """
    data = safety_set(adae, adsl, arm=arm, population=population, teae=teae, arms=arms)
    events, rows = soc_pt_rows(data, soc, term)
    counts = soc_pt_counts(events, data, rows)
    label = _label(teae)
    return _finish(f"Subjects with {label} by {_name(soc)} and {_name(term)}", counts, data, reference)


def ae_by_severity(
    adae: pd.DataFrame,
    adsl: pd.DataFrame,
    *,
    by: str = "AESEV",
    levels: Sequence[str] | None = None,
    soc: str = "AEBODSYS",
    term: str = "AEDECOD",
    arm: str = "TRT01A",
    population: str = "SAFFL",
    teae: str | None = "TRTEMFL",
    arms: Sequence[str] | None = None,
) -> AETable:
    """Subjects by their maximum severity (or CTC grade) per SOC and PT.

    A subject counts once per SOC and once per PT, at the most severe level of their
    events there, so the levels of a row add up to its count in :func:`ae_incidence`.

    Parameters
    ----------
    by
        ``AESEV`` (levels ``MILD < MODERATE < SEVERE``) or ``AETOXGR`` (``1 < ... < 5``),
        or any ADAE variable with ``levels`` given.
    levels
        The values of ``by`` from least to most severe; values outside them raise
        :class:`InputError` (missing ones too: impute them first, e.g. as the worst).

    Returns
    -------
    AETable
        Rows indexed by (``soc``, ``term``, ``by``): the rows of :func:`ae_incidence`,
        each split into ``levels``.

    Examples
    --------
    >>> adsl = pd.DataFrame({"USUBJID": ["a", "b"], "TRT01A": ["P", "D"], "SAFFL": ["Y", "Y"]})
    >>> adae = pd.DataFrame({"USUBJID": ["a", "a", "b"], "TRTEMFL": ["Y"] * 3,
    ...                      "AEBODSYS": ["SKIN"] * 3, "AEDECOD": ["RASH"] * 3,
    ...                      "AESEV": ["MILD", "SEVERE", "MODERATE"]})
    >>> t = ae_by_severity(adae, adsl, arms=["P", "D"])
    >>> t.counts.loc[("SKIN", "RASH")].to_dict("list")
    {'P': [0, 0, 1], 'D': [0, 1, 0], 'Total': [0, 1, 1]}
    """
    if levels is None:
        if by == "AESEV":
            levels = SEVERITY_LEVELS
        elif by == "AETOXGR":
            levels = GRADE_LEVELS
        else:
            raise InputError(f"levels: must be given for by={by!r} (least to most severe)")
    level_list = [str(v).strip().upper() for v in levels]
    if len(set(level_list)) != len(level_list) or not level_list:
        raise InputError(f"levels: must be distinct and non-empty, got {list(levels)}")
    data = safety_set(adae, adsl, arm=arm, population=population, teae=teae, arms=arms)
    if by not in data.events.columns:
        raise InputError(f"adae: missing column {by!r}")
    events, rows = soc_pt_rows(data, soc, term)
    raw = events[by]
    if pd.api.types.is_float_dtype(raw) and np.all(np.isnan(raw) | (raw == np.round(raw))):
        raw = raw.astype("Int64")
    values = _text(raw)
    rank = values.map({v: i for i, v in enumerate(level_list)})
    bad = rank.isna()
    if bad.any():
        raise InputError(
            f"adae: {by} value {events[by][bad].iloc[0]!r} (subject {events['USUBJID'][bad].iloc[0]!r}) "
            f"not in levels {level_list}"
        )
    events = events.assign(_RANK=rank.astype(int))
    counts = []
    for keys in (["_SOC_ANY", "_PT_ANY"], ["_SOC", "_PT_SOC"], ["_SOC", "_PT"]):
        ev = events.assign(_SOC_ANY=ANY_EVENT, _PT_ANY="", _PT_SOC="")
        worst = ev.groupby([*keys, "USUBJID"], sort=False)["_RANK"].transform("max")
        top = ev.loc[ev["_RANK"] == worst].rename(columns=dict(zip(keys, ["_S", "_P"], strict=True)))
        counts.append(count_subjects(top, ["_S", "_P", "_RANK"], data.arms))
    long = pd.concat(counts)
    full = pd.MultiIndex.from_tuples([(s, t, r) for s, t in rows for r in range(len(level_list))])
    table = long.reindex(full).fillna(0).astype(int)
    table.index = pd.MultiIndex.from_tuples([(s, t, level_list[r]) for s, t, r in full], names=[soc, term, by])
    label = _label(teae)
    return _finish(f"Subjects with {label} by {_name(soc)}, {_name(term)} and maximum {_name(by)}", table, data,
                   None)


def ae_special_interest(
    adae: pd.DataFrame,
    adsl: pd.DataFrame,
    terms: Sequence[str] | Mapping[str, Sequence[str]],
    *,
    term: str = "AEDECOD",
    reference: str | None = None,
    arm: str = "TRT01A",
    population: str = "SAFFL",
    teae: str | None = "TRTEMFL",
    arms: Sequence[str] | None = None,
) -> AETable:
    """Subjects with adverse events of special interest.

    Parameters
    ----------
    terms
        Either preferred terms (one row each) or a mapping from the name of an event of
        special interest to its preferred terms (one row per name: subjects with any of
        them). Matching ignores case and surrounding blanks.
    term
        ADAE variable the terms are matched against.

    Returns
    -------
    AETable
        One row per term or name, in the order given. Terms absent from the data give
        zero counts and are listed in ``notes``.

    Examples
    --------
    >>> adsl = pd.DataFrame({"USUBJID": ["a", "b"], "TRT01A": ["P", "D"], "SAFFL": ["Y", "Y"]})
    >>> adae = pd.DataFrame({"USUBJID": ["a", "b", "b"], "TRTEMFL": ["Y"] * 3,
    ...                      "AEDECOD": ["ERYTHEMA", "PRURITUS", "ERYTHEMA"]})
    >>> t = ae_special_interest(adae, adsl, {"Skin reactions": ["Erythema", "Pruritus"]},
    ...                         arms=["P", "D"])
    >>> t.counts.loc["Skin reactions"].tolist()
    [1, 1, 2]
    """
    if isinstance(terms, str):
        raise InputError("terms: must be a list of preferred terms or a mapping name -> terms, got a string")
    if isinstance(terms, Mapping):
        groups = {str(name): [str(t) for t in pts] for name, pts in terms.items()}
        for name, pts in groups.items():
            if isinstance(terms[name], str) or not pts:
                raise InputError(f"terms: {name!r} must map to a non-empty list of preferred terms")
    else:
        groups = {str(t): [str(t)] for t in terms}
    if not groups:
        raise InputError("terms: empty")
    data = safety_set(adae, adsl, arm=arm, population=population, teae=teae, arms=arms)
    if term not in data.events.columns:
        raise InputError(f"adae: missing column {term!r}")
    values = _text(data.events[term])
    observed = set(values.dropna())
    pieces = []
    missing: list[str] = []
    for name, pts in groups.items():
        wanted = {p.strip().upper() for p in pts}
        missing.extend(p for p in pts if p.strip().upper() not in observed)
        selected = data.events.loc[values.isin(wanted).fillna(False).to_numpy(bool)]
        pieces.append(selected.assign(_ROW=name))
    events = pd.concat(pieces, ignore_index=True)
    counts = count_subjects(events, ["_ROW"], data.arms).reindex(list(groups)).fillna(0).astype(int)
    counts.index.name = "event of special interest"
    notes = [f"No {_label(teae)} in the population with the {_name(term)}(s) {', '.join(missing)}."] if missing else []
    return _finish(f"Subjects with {_label(teae)} of special interest", counts, data, reference, notes)


def ae_overview(
    adae: pd.DataFrame,
    adsl: pd.DataFrame,
    *,
    reference: str | None = None,
    discontinuation: str = "auto",
    not_related: Sequence[str] = NOT_RELATED,
    arm: str = "TRT01A",
    population: str = "SAFFL",
    teae: str | None = "TRTEMFL",
    arms: Sequence[str] | None = None,
) -> AETable:
    """Overall summary of adverse events: any, serious, severe, related, leading to
    discontinuation, fatal, deaths.

    Rows (subjects with at least one such event):

    - any event;
    - serious: ``AESER == "Y"``;
    - severe: ``AESEV == "SEVERE"``; and CTC grade >= 3 when ADAE has ``AETOXGR``
      (data graded by CTC only, without ``AESEV``, get the grade row alone);
    - related: ``AEREL`` not in ``not_related``; a missing relationship counts as
      related (the conservative convention; the count of such events is in ``notes``);
    - leading to discontinuation: ``discontinuation="AEACN"`` takes events with
      ``AEACN == "DRUG WITHDRAWN"``; ``"DSRAEFL"`` takes subjects with ADSL
      ``DSRAEFL == "Y"`` (discontinued because of an adverse event, subject level);
      ``"auto"`` uses AEACN when any event has it filled, else DSRAEFL (stated in ``notes``);
    - with fatal outcome: ``AEOUT == "FATAL"``;
    - deaths: ADSL ``DTHFL == "Y"`` or an event with fatal outcome (all deaths in the
      population, not only treatment-emergent ones); without ``DTHFL`` deaths are not
      recorded in the data: no row, and ``notes`` says so.

    Row labels are words (``"Severe TEAE"``), the notes sentences for the reader of the
    table: both go into a report as they are.

    Examples
    --------
    >>> adsl = pd.DataFrame({"USUBJID": ["a", "b"], "TRT01A": ["P", "D"], "SAFFL": ["Y", "Y"],
    ...                      "DTHFL": ["", "Y"]})
    >>> adae = pd.DataFrame({"USUBJID": ["a", "b"], "TRTEMFL": ["Y", "Y"], "AESER": ["N", "Y"],
    ...                      "AESEV": ["MILD", "SEVERE"], "AEREL": ["NONE", "PROBABLE"],
    ...                      "AEACN": ["DOSE NOT CHANGED", "DRUG WITHDRAWN"],
    ...                      "AEOUT": ["RECOVERED/RESOLVED", "FATAL"]})
    >>> ae_overview(adae, adsl, arms=["P", "D"]).counts["D"].tolist()
    [1, 1, 1, 1, 1, 1, 1]
    """
    if discontinuation not in ("auto", "AEACN", "DSRAEFL"):
        raise InputError(f"discontinuation: must be 'auto', 'AEACN' or 'DSRAEFL', got {discontinuation!r}")
    data = safety_set(adae, adsl, arm=arm, population=population, teae=teae, arms=arms)
    events = data.events
    label = _label(teae)
    notes: list[str] = []

    def column(name: str) -> pd.Series:
        if name not in events.columns:
            raise InputError(f"adae: missing column {name!r}")
        return _text(events[name])

    selections: dict[str, pd.Series] = {f"Any {label}": pd.Series(True, index=events.index)}
    selections[f"Serious {label}"] = column("AESER").eq("Y")
    if "AESEV" in events.columns or "AETOXGR" not in events.columns:
        selections[f"Severe {label}"] = column("AESEV").eq("SEVERE")
    if "AETOXGR" in events.columns:
        grade = pd.to_numeric(events["AETOXGR"], errors="coerce")
        selections[f"{label} of CTC grade >= 3"] = grade.ge(3)
    relationship = column("AEREL")
    unknown = relationship.isna() | relationship.eq("")
    if unknown.any():
        notes.append(f"Relationship to study treatment missing for {int(unknown.sum())} events: counted as related.")
    excluded = {v.strip().upper() for v in not_related}
    selections[f"Related {label}"] = ~relationship.isin(excluded).fillna(False)

    subject_level: dict[str, pd.Series] = {}
    source = discontinuation
    if source == "auto":
        acn = _text(events["AEACN"]) if "AEACN" in adae.columns else None
        source = "AEACN" if acn is not None and (acn.fillna("") != "").any() else "DSRAEFL"
        if source == "DSRAEFL":
            notes.append(
                "Adverse events leading to discontinuation: patients who discontinued because of an adverse event "
                "(the action taken with study treatment is not recorded for the events)."
            )
    discontinued = f"{label} leading to discontinuation"
    if source == "AEACN":
        selections[discontinued] = column("AEACN").eq("DRUG WITHDRAWN")
    else:
        if "DSRAEFL" not in data.subjects.columns:
            raise InputError("adsl: missing column 'DSRAEFL' (needed for discontinuation='DSRAEFL')")
        subject_level[discontinued] = _text(data.subjects["DSRAEFL"]).eq("Y")
    fatal = column("AEOUT").eq("FATAL").fillna(False).to_numpy(bool)

    pieces = [events.loc[mask.fillna(False).to_numpy(bool)].assign(_ROW=name) for name, mask in selections.items()]
    subjects = data.subjects
    for name, mask in subject_level.items():
        pieces.append(subjects.loc[mask.fillna(False).to_numpy(bool), ["USUBJID", "ARM"]].assign(_ROW=name))
    fatal_label = f"{label} with fatal outcome"
    pieces.append(events.loc[fatal].assign(_ROW=fatal_label))
    order = [*selections, *subject_level, fatal_label]
    if "DTHFL" in subjects.columns:
        died = _text(subjects["DTHFL"]).eq("Y").fillna(False)
        died = died | subjects["USUBJID"].isin(set(events.loc[fatal, "USUBJID"]))
        pieces.append(subjects.loc[died.to_numpy(bool), ["USUBJID", "ARM"]].assign(_ROW=DEATHS))
        order.append(DEATHS)
    else:
        notes.append("Deaths: not recorded in the data (no death flag).")
    counts = count_subjects(pd.concat(pieces, ignore_index=True), ["_ROW"], data.arms)
    counts = counts.reindex(order).fillna(0).astype(int)
    counts.index.name = "category"
    return _finish(f"Overview of {label}", counts, data, reference, notes)
