"""The safety analysis set: ADSL subjects in the safety population with their arm and exposure,
and their (treatment-emergent) adverse events from ADAE.

Every adverse-event table in :mod:`dosefinding.endpoints.adverse_events` and
:mod:`dosefinding.endpoints.exposure` starts from :func:`safety_set`, so all share one
definition of the denominators: the subjects of ADSL with ``population == "Y"``
(``SAFFL`` by default), by treatment received (``TRT01A`` by default).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dosefinding.adam import flag_values
from dosefinding.errors import InputError
from dosefinding.summary import short_repr

__all__ = ["TOTAL", "SafetySet", "as_days", "count_subjects", "safety_set"]

TOTAL = "Total"
"""Label of the all-arms column of the safety tables."""


@dataclass(frozen=True)
class SafetySet:
    """Subjects of the safety population and their adverse events.

    Attributes
    ----------
    subjects
        One row per subject: the ADSL columns plus ``ARM`` and, when ADSL has ``TRTSDT``
        and ``TRTEDT``, ``EXPOSURE_DAYS`` (``TRTEDT - TRTSDT + 1``); dates as days since
        1960-01-01 (see :func:`as_days`).
    events
        The adverse events of those subjects (treatment-emergent ones only unless
        ``teae=None``), all ADAE columns plus ``ARM`` from ADSL.
    arms
        Arm labels in table order.
    arm
        The ADSL variable the arms come from.
    population, teae
        The flag variables used.
    """

    subjects: pd.DataFrame
    events: pd.DataFrame
    arms: tuple[str, ...]
    arm: str
    population: str
    teae: str | None

    def __repr__(self) -> str:
        return short_repr(self, population=self.population, subjects=len(self.subjects), events=len(self.events),
                          arms=list(self.arms), teae=self.teae)

    @property
    def denominators(self) -> pd.Series:
        """Number of subjects per arm and in total (the ``N`` of every table)."""
        counts = self.subjects["ARM"].value_counts().reindex(list(self.arms), fill_value=0)
        counts[TOTAL] = len(self.subjects)
        counts.name = "N"
        return counts.astype(int)


def _require(frame: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"{name}: missing column(s) {missing}")


def as_days(values: pd.Series, name: str) -> np.ndarray:
    """Dates as days since 1960-01-01 (the SAS date origin); SAS numeric dates pass through.

    Datetime columns and ISO 8601 strings (CSV, Parquet exports) are converted; missing
    values stay NaN; anything else unreadable is an :class:`InputError` naming ``name``.

    Examples
    --------
    >>> as_days(pd.Series(["1960-01-02", None]), "TRTSDT").tolist()
    [1.0, nan]
    """
    if pd.api.types.is_numeric_dtype(values):
        return values.to_numpy(float)
    if pd.api.types.is_datetime64_any_dtype(values):
        stamps = values
    else:
        text = values.astype("string").str.strip().replace("", pd.NA)
        stamps = pd.to_datetime(text, errors="coerce", format="ISO8601")
        bad = stamps.isna() & text.notna()
        if bad.any():
            raise InputError(f"{name}: not a date: {text[bad].iloc[0]!r}")
    days = (stamps - pd.Timestamp("1960-01-01")) / pd.Timedelta(days=1)
    return days.to_numpy(float, na_value=np.nan)


def count_subjects(events: pd.DataFrame, keys: Sequence[str], arms: Sequence[str]) -> pd.DataFrame:
    """Number of distinct ``USUBJID`` per combination of ``keys`` and arm, with a ``Total`` column.

    Each subject counts once per combination, however many events it has there.

    Examples
    --------
    >>> ev = pd.DataFrame({"USUBJID": ["1", "1", "2"], "ARM": ["A", "A", "B"],
    ...                    "AEDECOD": ["X", "X", "X"]})
    >>> count_subjects(ev, ["AEDECOD"], ["A", "B"]).loc["X"].tolist()
    [1, 1, 2]
    """
    unique = events.drop_duplicates([*keys, "USUBJID"])
    counts = unique.groupby([*keys, "ARM"], sort=False, observed=True).size().unstack("ARM")
    counts = counts.reindex(columns=list(arms)).fillna(0).astype(int)
    counts.columns.name = None
    counts[TOTAL] = counts.sum(axis=1)
    return counts


def safety_set(
    adae: pd.DataFrame,
    adsl: pd.DataFrame,
    *,
    arm: str = "TRT01A",
    population: str = "SAFFL",
    teae: str | None = "TRTEMFL",
    arms: Sequence[str] | None = None,
) -> SafetySet:
    """Join ADAE to the safety population of ADSL.

    Parameters
    ----------
    adae
        ADaM ADAE, one row per adverse event, with ``USUBJID``.
    adsl
        ADaM ADSL, one row per subject, with ``USUBJID``, ``arm`` and ``population``.
    arm
        ADSL variable giving the arm: ``TRT01A`` (treatment received, the default for
        safety) or e.g. ``TRT01P``. The arm of an event is always taken from ADSL.
    population
        ADSL flag defining the population (``"Y"`` = included).
    teae
        ADAE flag of treatment-emergent events (``"Y"`` = kept); ``None`` keeps all events.
    arms
        Arm labels in the order of the table columns. Default: ordered by the numeric
        companion variable (``TRT01AN`` for ``TRT01A``) if ADSL has it, else alphabetically.

    Returns
    -------
    SafetySet

    Examples
    --------
    >>> adsl = pd.DataFrame({"USUBJID": ["1", "2", "3"], "TRT01A": ["Placebo", "Drug", "Drug"],
    ...                      "SAFFL": ["Y", "Y", "N"]})
    >>> adae = pd.DataFrame({"USUBJID": ["1", "2", "3"], "TRTEMFL": ["Y", "Y", "Y"]})
    >>> s = safety_set(adae, adsl, arms=["Placebo", "Drug"])
    >>> s.denominators.to_dict()
    {'Placebo': 1, 'Drug': 1, 'Total': 2}
    >>> len(s.events)
    2
    """
    if not isinstance(adae, pd.DataFrame):
        raise InputError(f"adae: must be a pandas DataFrame, got {type(adae).__name__}")
    if not isinstance(adsl, pd.DataFrame):
        raise InputError(f"adsl: must be a pandas DataFrame, got {type(adsl).__name__}")
    _require(adsl, ["USUBJID", arm, population], "adsl")
    _require(adae, ["USUBJID"] + ([teae] if teae is not None else []), "adae")
    if "ARM" in adae.columns and arm != "ARM":
        adae = adae.drop(columns="ARM")
    duplicated = adsl["USUBJID"][adsl["USUBJID"].duplicated()]
    if len(duplicated):
        raise InputError(f"adsl: USUBJID must be unique, {duplicated.iloc[0]!r} is repeated")
    unknown = ~adae["USUBJID"].isin(adsl["USUBJID"])
    if unknown.any():
        raise InputError(
            f"adae: USUBJID {adae['USUBJID'][unknown].iloc[0]!r} (and {int(unknown.sum()) - 1} more rows) not in adsl"
        )

    included = adsl.loc[flag_values(adsl[population], "population", f"{population} of adsl")]
    if included.empty:
        raise InputError(f"adsl: no subject has {population} == 'Y'")
    arm_values = included[arm].astype("string").str.strip()
    if arm_values.isna().any() or arm_values.eq("").any():
        bad = included["USUBJID"][arm_values.isna() | arm_values.eq("")].iloc[0]
        raise InputError(f"adsl: {arm} is missing for subject {bad!r} of the {population} population")
    subjects = included.drop(columns=["ARM"], errors="ignore").reset_index(drop=True)
    subjects.insert(1, "ARM", arm_values.to_numpy(str))

    present = list(dict.fromkeys(subjects["ARM"]))
    if arms is None:
        order_by = f"{arm}N"
        if order_by in included.columns and pd.api.types.is_numeric_dtype(included[order_by]):
            first = pd.Series(included[order_by].to_numpy(), index=subjects["ARM"]).groupby(level=0).min()
            arm_order = tuple(first.sort_values(kind="stable").index)
        else:
            arm_order = tuple(sorted(present))
    else:
        arm_order = tuple(str(a) for a in arms)
        if len(set(arm_order)) != len(arm_order):
            raise InputError(f"arms: duplicate labels in {list(arm_order)}")
        extra = sorted(set(present) - set(arm_order))
        if extra:
            raise InputError(f"arms: {arm} value(s) {extra} of the {population} population not in {list(arm_order)}")
    if TOTAL in arm_order:
        raise InputError(f"arms: {TOTAL!r} is reserved for the all-arms column")

    if "TRTSDT" in included.columns and "TRTEDT" in included.columns:
        subjects["TRTSDT"] = as_days(included["TRTSDT"], "adsl.TRTSDT")
        subjects["TRTEDT"] = as_days(included["TRTEDT"], "adsl.TRTEDT")
        subjects["EXPOSURE_DAYS"] = subjects["TRTEDT"] - subjects["TRTSDT"] + 1.0

    events = adae.loc[adae["USUBJID"].isin(subjects["USUBJID"])]
    if teae is not None:
        events = events.loc[flag_values(events[teae], "teae", f"{teae} of adae")]
    events = events.merge(subjects[["USUBJID", "ARM"]], on="USUBJID", how="left", validate="many_to_one")
    return SafetySet(
        subjects=subjects,
        events=events.reset_index(drop=True),
        arms=arm_order,
        arm=arm,
        population=population,
        teae=teae,
    )
