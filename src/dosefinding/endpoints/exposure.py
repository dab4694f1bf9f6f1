"""Exposure-adjusted incidence rates (EAIR) of adverse events per 100 patient-years.

EAIR of an event = subjects with the event / total exposure time of the arm, in years.
Exposure per subject is ``TRTEDT - TRTSDT + 1`` days (ADSL); a year is 365.25 days.
Two conventions for the time a subject contributes:

- ``time="first_event"`` (the standard EAIR, default): a subject with the event
  contributes the time up to and including the day of its first onset (``ASTDT``),
  ``min(ASTDT, TRTEDT) - TRTSDT + 1`` days; a subject without it, the whole exposure.
  Onsets before ``TRTSDT`` count as day 1; onsets after ``TRTEDT`` (treatment-emergent
  events of the follow-up window) at the end of exposure; events with missing ``ASTDT``
  are ignored for the time at risk (a subject with no dated event in a row keeps the
  whole exposure there; their number is in ``notes``).
- ``time="treatment"``: every subject contributes the whole exposure (the "exposure-
  adjusted" rate of some sponsors; it understates the rate of frequent events).

Intervals are exact Poisson (Garwood) intervals for the number of subjects with events
given the exposure, as R's ``poisson.test``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from dosefinding.endpoints.adverse_events import ANY_EVENT, soc_pt_counts, soc_pt_rows
from dosefinding.endpoints.safety import TOTAL, as_days, safety_set
from dosefinding.errors import InputError
from dosefinding.summary import Summary, SummaryDisplay, SummaryTable, short_repr
from dosefinding.validation import as_probability

__all__ = ["DAYS_PER_YEAR", "ExposureAdjustedRates", "exposure_adjusted_rates"]

DAYS_PER_YEAR = 365.25


@dataclass(frozen=True)
class ExposureAdjustedRates(SummaryDisplay):
    """Exposure-adjusted incidence rates per SOC and PT, by arm.

    Attributes
    ----------
    subjects
        Subjects with the event (rows as :func:`~dosefinding.endpoints.ae_incidence`).
    years
        Exposure in years that the rate divides by, same shape.
    rates
        ``per * subjects / years``.
    lower, upper
        Exact Poisson confidence limits of the rates.
    per
        Rates are per ``per`` patient-years (100).
    time
        ``"first_event"`` or ``"treatment"`` (see the module docstring).
    confidence_level
        Level of the intervals.
    notes
        Data conventions applied.
    """

    subjects: pd.DataFrame
    years: pd.DataFrame
    rates: pd.DataFrame
    lower: pd.DataFrame
    upper: pd.DataFrame
    per: float
    time: str
    confidence_level: float
    notes: tuple[str, ...] = field(default=())

    def to_frame(self) -> pd.DataFrame:
        """Long form, one row per (row of :attr:`subjects`, arm): ``subjects``, ``years``, ``rate``, ``lower``, ``upper``."""
        parts = {"subjects": self.subjects, "years": self.years, "rate": self.rates, "lower": self.lower,
                 "upper": self.upper}
        return pd.DataFrame({name: frame.rename_axis(columns="arm").stack() for name, frame in parts.items()})

    def __repr__(self) -> str:
        return short_repr(self, rows=len(self.subjects), arms=list(self.subjects.columns), per=self.per,
                          time=self.time, confidence_level=self.confidence_level)

    def summary(self, digits: int = 2) -> Summary:
        """Per arm: subjects with event, patient-years and rate (CI) per 100 PY, SOC/PT indented."""
        labels = [("  " + t) if t != "" else s for s, t in self.subjects.index]
        cells = {}
        for arm in self.subjects.columns:
            cells[f"{arm} n"] = self.subjects[arm].to_numpy()
            cells[f"{arm} PY"] = self.years[arm].round(2).to_numpy()
            cells[f"{arm} rate (CI)"] = [
                f"{r:.{digits}f} ({lo:.{digits}f}, {up:.{digits}f})"
                for r, lo, up in zip(self.rates[arm], self.lower[arm], self.upper[arm], strict=True)
            ]
        frame = pd.DataFrame(cells, index=labels)
        time = "time to first event" if self.time == "first_event" else "whole treatment exposure"
        lines: list[str | SummaryTable] = [
            (
                f"Exposure-adjusted incidence rate per {self.per:g} patient-years ({time}; "
                f"{100 * self.confidence_level:g}% exact Poisson CI)"
            ),
            SummaryTable(frame),
        ]
        lines.extend(f"Note: {note}" for note in self.notes)
        return Summary(lines, frame=self.to_frame())


def exposure_adjusted_rates(
    adae: pd.DataFrame,
    adsl: pd.DataFrame,
    *,
    time: str = "first_event",
    per: float = 100.0,
    confidence_level: float = 0.95,
    soc: str = "AEBODSYS",
    term: str = "AEDECOD",
    onset: str = "ASTDT",
    arm: str = "TRT01A",
    population: str = "SAFFL",
    teae: str | None = "TRTEMFL",
    arms: Sequence[str] | None = None,
) -> ExposureAdjustedRates:
    """Exposure-adjusted incidence rates of adverse events by SOC and PT.

    Parameters
    ----------
    adae, adsl
        ADaM ADAE (with ``onset`` for ``time="first_event"``) and ADSL (with ``TRTSDT``,
        ``TRTEDT``).
    time
        ``"first_event"`` (exposure up to the first event, the standard EAIR) or
        ``"treatment"`` (whole exposure); see the module docstring.
    per
        Patient-years the rate is expressed per.
    confidence_level
        Level of the exact Poisson intervals.
    soc, term, onset
        ADAE variables of the SOC, the PT and the onset date.
    arm, population, teae, arms
        See :func:`dosefinding.endpoints.safety.safety_set`.

    Examples
    --------
    >>> adsl = pd.DataFrame({"USUBJID": ["a", "b"], "TRT01A": ["D", "D"], "SAFFL": ["Y", "Y"],
    ...                      "TRTSDT": [0.0, 0.0], "TRTEDT": [364.25, 364.25]})
    >>> adae = pd.DataFrame({"USUBJID": ["a"], "TRTEMFL": ["Y"], "AEBODSYS": ["SKIN"],
    ...                      "AEDECOD": ["RASH"], "ASTDT": [181.625]})
    >>> r = exposure_adjusted_rates(adae, adsl)
    >>> float(r.years.loc[("SKIN", "RASH"), "D"]), float(r.rates.loc[("SKIN", "RASH"), "D"])
    (1.5, 66.66666666666667)
    """
    if time not in ("first_event", "treatment"):
        raise InputError(f"time: must be 'first_event' or 'treatment', got {time!r}")
    if not np.isfinite(per) or per <= 0:
        raise InputError(f"per: must be positive, got {per!r}")
    level = as_probability(confidence_level, "confidence_level")
    data = safety_set(adae, adsl, arm=arm, population=population, teae=teae, arms=arms)
    if "EXPOSURE_DAYS" not in data.subjects.columns:
        raise InputError("adsl: missing column 'TRTSDT' or 'TRTEDT' (needed for the exposure)")
    subjects = data.subjects
    days = subjects["EXPOSURE_DAYS"].to_numpy(float)
    bad = ~np.isfinite(days) | (days <= 0)
    if bad.any():
        raise InputError(
            f"adsl: TRTSDT/TRTEDT missing or TRTEDT before TRTSDT for subject "
            f"{subjects['USUBJID'][bad].iloc[0]!r} ({int(bad.sum())} subjects)"
        )
    events, rows = soc_pt_rows(data, soc, term)
    counts = soc_pt_counts(events, data, rows)

    arm_days = pd.Series(days, index=subjects["ARM"]).groupby(level=0).sum().reindex(list(data.arms), fill_value=0.0)
    arm_days[TOTAL] = days.sum()
    exposure_days = pd.DataFrame(np.tile(arm_days.to_numpy(), (len(rows), 1)), index=rows, columns=counts.columns)
    notes: list[str] = []
    if time == "first_event":
        if onset not in events.columns:
            raise InputError(f"adae: missing column {onset!r} (needed for time='first_event')")
        start = pd.Series(subjects["TRTSDT"].to_numpy(float), index=subjects["USUBJID"])
        end = pd.Series(subjects["TRTEDT"].to_numpy(float), index=subjects["USUBJID"])
        first_day = as_days(events[onset], f"adae.{onset}")
        missing = np.isnan(first_day)
        if missing.any():
            notes.append(f"{int(missing.sum())} events without {onset}: their subjects keep the whole exposure")
        s0 = start.reindex(events["USUBJID"]).to_numpy()
        s1 = end.reindex(events["USUBJID"]).to_numpy()
        at_risk = np.clip(np.where(missing, s1, first_day), s0, s1) - s0 + 1.0
        # Time after a subject's first event: whole exposure minus time to the first event;
        # the earliest onset gives the largest, and events without onset give 0.
        events = events.assign(_LOST=(s1 - s0 + 1.0) - at_risk)
        lost = []
        for frame in (events.assign(_SOC=ANY_EVENT, _PT=""), events.assign(_PT=""), events):
            per_subject = frame.groupby(["_SOC", "_PT", "USUBJID"], sort=False).agg(
                _LOST=("_LOST", "max"), ARM=("ARM", "first")
            )
            by_arm = per_subject.groupby(["_SOC", "_PT", "ARM"], sort=False)["_LOST"].sum().unstack("ARM")
            by_arm = by_arm.reindex(columns=list(data.arms)).fillna(0.0)
            by_arm[TOTAL] = by_arm.sum(axis=1)
            lost.append(by_arm)
        lost_days = pd.concat(lost).reindex(pd.MultiIndex.from_tuples(list(rows))).fillna(0.0)
        exposure_days = exposure_days - lost_days.set_axis(rows).to_numpy()
    years = exposure_days / DAYS_PER_YEAR
    n = counts.to_numpy(float)
    t = years.to_numpy(float)
    alpha = 1.0 - level
    lower = np.where(n > 0, stats.chi2.ppf(alpha / 2, 2 * n) / 2, 0.0) / t * per
    upper = stats.chi2.ppf(1 - alpha / 2, 2 * n + 2) / 2 / t * per
    return ExposureAdjustedRates(
        subjects=counts,
        years=years,
        rates=pd.DataFrame(per * n / t, index=rows, columns=counts.columns),
        lower=pd.DataFrame(lower, index=rows, columns=counts.columns),
        upper=pd.DataFrame(upper, index=rows, columns=counts.columns),
        per=float(per),
        time=time,
        confidence_level=level,
        notes=tuple(notes),
    )
