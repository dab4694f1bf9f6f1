"""The study spec: a TOML description of a parallel-group dose-finding trial, checked and frozen.

A spec says what a virtual trial looks like (arms, doses, visits, baseline distributions,
mean changes over time, correlation, dropout, adverse events, biomarkers and drug levels)
so that :func:`dosefinding.study.simulate_trial` can generate ADaM datasets from it. Every
problem found while reading it raises :class:`~dosefinding.errors.InputError` naming the
key path at fault, e.g. ``arms[2].dose: missing``.

The tables are the pydantic models of :mod:`dosefinding.study.trial_schema`, checked by the
validator of both specs (:mod:`dosefinding.study.validation`); their JSON Schema, every key
described, is :func:`dosefinding.study.schema.spec_json_schema` (``dosefinding schema trial``).

Tables of a spec (all keys are described in ``presets/a2201.toml``):

``[trial]``
    ``name``, ``studyid``, ``seed``, ``synthetic`` (must be true for simulated data),
    ``visits`` (weeks after the first dose, strictly increasing), ``visit_days`` (days per
    week, default 7), ``dosing_interval`` (weeks), ``description``, ``source``.
``[[arms]]``
    ``name``, ``dose`` and either ``n`` in every arm, or ``ratio`` in every arm with
    ``[trial] total``.
``[stratification]``
    ``endpoint`` whose baseline is cut at ``cut`` (``>= cut`` is the upper stratum),
    ``variable`` (ADSL name, default ``STRAT1R``), ``labels`` (lower, upper).
``[demographics]``
    ``age``, ``weight`` (``{mean, sd, lower, upper}``), ``female`` (probability), ``race``
    (shares by CDISC race term), ``countries``, ``sites``, ``enrolment`` (first, last date).
``[endpoints.<PARAMCD>]`` and ``[biomarkers.<PARAMCD>]``
    ``label``, ``unit``, ``scale`` (``identity`` or ``log``), ``decimals``, ``limits``,
    ``visits`` (a subset of the schedule to report), ``baseline`` (``distribution``
    normal, gamma or lognormal, with ``mean``, ``sd``, ``lower``, ``upper``),
    ``change`` (``placebo`` mean change per visit, ``effect`` over placebo at full onset as
    ``values`` per arm or a ``shape`` with ``parameters``, ``onset`` fraction per visit; or
    ``means`` per arm name and visit), ``sd`` (number or per visit), ``correlation``
    (``{structure = "ar1" | "cs" | "independent", rho}`` or ``{matrix}``),
    ``baseline_slope`` (regression to the mean), optional ``classes`` (a latent responder
    class: ``probability`` per arm as ``values`` or ``shape``, and its ``shift`` per visit).
    "Per visit" always means per visit of ``trial.visits``: the model runs over the whole
    schedule, and ``visits`` only chooses the visits that reach the dataset.
``[pk]``
    trough drug levels from an accumulation model: ``paramcd``, ``label``, ``unit``,
    ``trough_per_mg`` (trough after one dose of 1 mg), ``exponent`` (dose power),
    ``half_life`` (days), ``between_cv``, ``within_cv``, ``visits``, ``decimals``, ``lloq``
    (lower limit of quantification: a level below it, placebo's included, is recorded as
    ``AVAL = 0`` with ``BLQFL = "Y"``).
``[characteristics.<NAME>]``
    a baseline characteristic of ADSL (``NAME`` its column): ``label``; a number drawn
    from ``baseline`` (as an endpoint's) rounded to ``decimals``; or a Y/N flag, ``Y`` with
    ``probability``, or when the baseline of ``biomarker`` is at least ``cut``.
``[screening]``
    candidates screened with a study's eligibility rules until every arm is randomised:
    ``rules`` (a randomisation preset, e.g. ``"a2201"``, whose ``[[rule]]`` tables are the
    rules of :mod:`dosefinding.randomization.eligibility`, or a TOML file of them),
    ``ineligible`` (probability that a candidate fails the rules), ``reasons`` (shares of
    the rule a screen failure fails, by rule id), ``failing`` (by rule id: a failing value,
    or ``[low, high]`` drawn uniformly, whole numbers when both are integers), ``fields``
    (by rule field: the ADSL column holding a randomised subject's screening value),
    ``other`` (probability that an eligible candidate leaves before randomisation) with
    ``other_reason`` and ``other_term``.
``[dropout]``
    ``rate`` per visit interval (number or per arm), ``endpoint`` and ``slope`` (log-odds
    per unit of the last observed change: missing at random), ``reasons`` (shares),
    ``terms`` (by reason, the verbatim terms drawn with equal probability; default the reason).
``[discontinuation]``
    Discontinuation of treatment, an intercurrent event: ``rates`` (reason, the ``DCTREAS``,
    to its probability per visit interval, number or per arm), ``endpoint`` and ``slope`` (as
    ``[dropout]``), ``follow_up`` (probability of attending the remaining visits off
    treatment; the others leave the study at once), ``washout`` (weeks after the last dose
    over which the arm's mean effect over placebo fades linearly; 0: at once), ``terms``.
``[rescue]``
    Rescue medication, an intercurrent event: ``rate`` per visit interval (number or per arm),
    ``endpoint`` and ``slope``, ``shift`` (PARAMCD to the change of its values from the first
    visit after the rescue on, model scale).
``[safety]`` and ``[[adverse_events]]``
    ``within_soc_correlation``, default ``severity`` shares, ``serious`` and ``related``
    probabilities; each adverse event has ``soc``, ``pt``, ``rates`` per arm and may
    override the defaults. The last event of a subject who stopped treatment for an adverse
    event (ADSL ``DCTREAS``, from ``[dropout]`` or ``[discontinuation]``) has
    ``AEACN = "DRUG WITHDRAWN"``.
``[analysis]``
    kept as given for the analysis pipeline; ``endpoint`` and ``visit``, when present,
    must name an endpoint and a visit of the spec; ``alpha`` (in (0, 1)) and
    ``alternative`` (``one-sided`` or ``two-sided``) are the MCP step's level, the
    default of :func:`~dosefinding.study.simulate_power`, as are ``candidates`` (shape to
    guesstimates, ``true`` for none, checked at the arms' doses) and their ``max_effect``.

Examples
--------
>>> spec = parse_spec('''
... [trial]
... name = "tiny"
... seed = 1
... visits = [4, 8]
... [[arms]]
... name = "Placebo"
... dose = 0
... n = 10
... [[arms]]
... name = "High"
... dose = 100
... n = 10
... [endpoints.SCORE]
... baseline = {distribution = "normal", mean = 20, sd = 4}
... change = {placebo = [-1, -2], effect = {shape = "linear", parameters = [0, -0.03]}}
... sd = 3
... ''')
>>> spec.arm_names, spec.endpoint("SCORE").means.tolist()
(('Placebo', 'High'), [[-1.0, -2.0], [-4.0, -5.0]])
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from os import PathLike
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from dosefinding.errors import InputError
from dosefinding.files import read_text_file
from dosefinding.randomization.eligibility import A2201_PRESET, A2201_RULES, EligibilityRules
from dosefinding.shapes.library import get_shape
from dosefinding.study.trial_schema import (
    SEVERITIES,
    AdverseEventTable,
    AnalysisTable,
    ArmTable,
    BaselineTable,
    ChangeTable,
    CharacteristicTable,
    ClassesTable,
    CorrelationTable,
    DemographicsTable,
    DiscontinuationTable,
    DoseResponseTable,
    DropoutTable,
    EndpointTable,
    PKTable,
    RangeTable,
    RescueTable,
    SafetyTable,
    ScreeningTable,
    StratificationTable,
    TrialDocument,
    TrialTable,
)
from dosefinding.study.validation import Numbers, check_value, library_problem, read_toml, validate

__all__ = [
    "AdverseEvent",
    "Arm",
    "Baseline",
    "Characteristic",
    "Demographics",
    "Discontinuation",
    "Dropout",
    "Endpoint",
    "PKModel",
    "Rescue",
    "ResponseClasses",
    "Safety",
    "Screening",
    "Stratification",
    "TrialSpec",
    "as_trial_spec",
    "eligibility_rules",
    "load_spec",
    "parse_spec",
    "preset_path",
]

FloatArray = NDArray[np.float64]
_PRESETS = Path(__file__).parent / "presets"


# --------------------------------------------------------------------------- the parts


@dataclass(frozen=True)
class Arm:
    """One arm: its name (TRT01P), dose (TRT01PN) and number randomised."""

    name: str
    dose: float
    n: int


@dataclass(frozen=True)
class Stratification:
    """A randomisation stratum cut from an endpoint's baseline: ``>= cut`` is the upper stratum."""

    endpoint: str
    cut: float
    variable: str = "STRAT1R"
    labels: tuple[str, str] = ("", "")


@dataclass(frozen=True)
class Demographics:
    """Distributions of age, sex, race, weight, and the sites and enrolment window."""

    age: tuple[float, float, float, float] = (50.0, 12.0, 18.0, 75.0)
    weight: tuple[float, float, float, float] = (72.0, 14.0, 40.0, 150.0)
    female: float = 0.5
    race: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({"WHITE": 1.0}))
    countries: tuple[str, ...] = ("USA",)
    sites: int = 1
    enrolment: tuple[_dt.date, _dt.date] = (_dt.date(2020, 1, 1), _dt.date(2020, 12, 31))


@dataclass(frozen=True)
class Baseline:
    """Baseline distribution: ``normal`` (truncated to ``[lower, upper]``), ``gamma`` (``lower`` + a gamma
    variable, with the given overall ``mean`` and ``sd``) or ``lognormal`` (``mean`` and ``sd`` of the variable)."""

    distribution: Literal["normal", "gamma", "lognormal"]
    mean: float
    sd: float
    lower: float | None = None
    upper: float | None = None


@dataclass(frozen=True)
class Characteristic:
    """A baseline characteristic of ADSL: a number drawn from ``baseline`` (rounded to ``decimals``), or a Y/N
    flag, ``Y`` with ``probability`` or when the baseline of ``biomarker`` is at least ``cut``."""

    name: str
    label: str
    baseline: Baseline | None = None
    decimals: int | None = None
    probability: float | None = None
    biomarker: str | None = None
    cut: float | None = None

    @property
    def is_flag(self) -> bool:
        """Whether the characteristic is a Y/N flag."""
        return self.baseline is None


@dataclass(frozen=True)
class Screening:
    """Screening of candidates with a study's eligibility rules (see the module docstring, ``[screening]``).

    A candidate fails the rules with probability ``ineligible``, then exactly the rule drawn from
    ``reasons`` (with a value from ``failing``); an eligible candidate leaves before randomisation
    with probability ``other``. Candidates are screened until every arm is randomised.
    """

    rules: EligibilityRules
    ineligible: float
    reasons: Mapping[str, float]
    failing: Mapping[str, Any]
    fields: Mapping[str, str]
    other: float = 0.0
    other_reason: str = "WITHDRAWAL BY SUBJECT"
    other_term: str = "Withdrawal of consent before randomisation"


@dataclass(frozen=True)
class ResponseClasses:
    """A latent class of subjects whose change is shifted by ``shift`` (per visit); its probability per arm.

    Members may have their own residual ``sd`` (per visit) and ``baseline_slope``; by default the endpoint's.
    """

    probability: tuple[float, ...]
    shift: tuple[float, ...]
    sd: tuple[float, ...] | None = None
    baseline_slope: float | None = None


@dataclass(frozen=True, eq=False)
class Endpoint:
    """One repeatedly measured parameter (a PARAMCD of the efficacy or biomarker BDS).

    The model for subject ``i`` in arm ``a`` at visit ``t``, on the ``scale`` (``log``:
    of the value), is ``value = base + means[a, t] + baseline_slope * (base - E base)
    + class_i * shift[t] + e_it`` with ``e_i ~ N(0, diag(sd) R diag(sd))``; then rounded
    to ``decimals`` and clipped to ``limits``.
    """

    paramcd: str
    label: str
    unit: str
    dataset: Literal["ADEFF", "ADBM"]
    scale: Literal["identity", "log"]
    visits: tuple[int, ...]
    baseline: Baseline
    means: FloatArray = field(repr=False)
    sd: tuple[float, ...]
    correlation: FloatArray = field(repr=False)
    baseline_slope: float = 0.0
    decimals: int | None = None
    limits: tuple[float, float] | None = None
    classes: ResponseClasses | None = None

    def covariance(self) -> FloatArray:
        """Covariance matrix of the residuals over the schedule's visits (on the model scale)."""
        s = np.asarray(self.sd)
        return self.correlation * np.outer(s, s)

    def true_mean_change(self) -> FloatArray:
        """Mean change from baseline by arm and visit on the model scale, before rounding and clipping.

        On the log scale this is the mean log ratio to baseline.
        """
        m = np.array(self.means, dtype=float)
        if self.classes is not None:
            m = m + np.outer(self.classes.probability, self.classes.shift)
        return m

    def covariance_of_class(self) -> FloatArray:
        """Residual covariance of the latent class's members (the endpoint's when the class has no ``sd``)."""
        if self.classes is None or self.classes.sd is None:
            return self.covariance()
        s = np.asarray(self.classes.sd)
        return self.correlation * np.outer(s, s)


@dataclass(frozen=True)
class PKModel:
    """Trough drug levels: ``trough_per_mg * dose**exponent * (1 - r**k) / (1 - r)`` after ``k`` doses,
    ``r = 2**(-interval / half_life)``, with log-normal between- and within-subject variation."""

    paramcd: str
    label: str
    unit: str
    trough_per_mg: float
    exponent: float
    half_life: float
    between_cv: float
    within_cv: float
    visits: tuple[int, ...]
    decimals: int | None = None
    lloq: float = 0.0


@dataclass(frozen=True)
class Dropout:
    """Monotone dropout: hazard per visit interval ``expit(logit(rate[a]) + slope * last observed change)``."""

    rate: tuple[float, ...]
    endpoint: str | None
    slope: float
    reasons: Mapping[str, float]
    terms: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Discontinuation:
    """Discontinuation of treatment (an intercurrent event): hazard per visit interval ``expit(logit(rate[a]) +
    slope * last observed change)`` with ``rate[a]`` the arm's sum over reasons, the reason drawn in proportion to
    them; ``follow_up`` the probability of attending the remaining visits off treatment, over which the arm's mean
    effect over placebo fades linearly in ``washout`` weeks after the last dose."""

    rates: Mapping[str, tuple[float, ...]]
    endpoint: str | None = None
    slope: float = 0.0
    follow_up: float = 1.0
    washout: float = 0.0
    terms: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def rate(self) -> tuple[float, ...]:
        """Probability of stopping treatment per visit interval, by arm (the sum over reasons)."""
        return tuple(float(r) for r in np.sum(list(self.rates.values()), axis=0))


@dataclass(frozen=True)
class Rescue:
    """Rescue medication (an intercurrent event): hazard per visit interval ``expit(logit(rate[a]) + slope * last
    observed change)``; ``shift`` by PARAMCD, added to the values (model scale) from the first visit after it."""

    rate: tuple[float, ...]
    endpoint: str | None = None
    slope: float = 0.0
    shift: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class AdverseEvent:
    """One preferred term with its system organ class and the incidence per arm."""

    soc: str
    pt: str
    rates: tuple[float, ...]
    severity: tuple[float, float, float]
    serious: float
    related: float


@dataclass(frozen=True)
class Safety:
    """Defaults for the adverse events and the latent correlation of events within a SOC.

    ``soc_correlation`` overrides ``within_soc_correlation`` for the SOCs it names.
    """

    def correlation(self, soc: str) -> float:
        """The latent correlation of events within ``soc``."""
        return float(self.soc_correlation.get(soc, self.within_soc_correlation))

    within_soc_correlation: float = 0.0
    soc_correlation: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    severity: tuple[float, float, float] = (0.7, 0.25, 0.05)
    serious: float = 0.02
    related: float = 0.3


@dataclass(frozen=True)
class TrialSpec:
    """A checked study spec; build it with :func:`load_spec` or :func:`parse_spec`."""

    name: str
    studyid: str
    seed: int
    synthetic: bool
    arms: tuple[Arm, ...]
    visits: tuple[int, ...]
    endpoints: tuple[Endpoint, ...]
    biomarkers: tuple[Endpoint, ...] = ()
    stratification: Stratification | None = None
    demographics: Demographics = field(default_factory=Demographics)
    pk: PKModel | None = None
    dropout: Dropout | None = None
    safety: Safety = field(default_factory=Safety)
    discontinuation: Discontinuation | None = None
    rescue: Rescue | None = None
    adverse_events: tuple[AdverseEvent, ...] = ()
    dosing_interval: int = 4
    visit_days: int = 7
    description: str = ""
    source: str = ""
    analysis: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    characteristics: tuple[Characteristic, ...] = ()
    screening: Screening | None = None

    @property
    def arm_names(self) -> tuple[str, ...]:
        """The arm names in spec order."""
        return tuple(a.name for a in self.arms)

    @property
    def doses(self) -> FloatArray:
        """The arm doses in spec order."""
        return np.array([a.dose for a in self.arms], dtype=float)

    @property
    def sizes(self) -> NDArray[np.int64]:
        """Numbers randomised per arm."""
        return np.array([a.n for a in self.arms], dtype=np.int64)

    def endpoint(self, paramcd: str) -> Endpoint:
        """The endpoint or biomarker ``paramcd``; an unknown one is an :class:`InputError` listing the known."""
        for e in self.endpoints + self.biomarkers:
            if e.paramcd == paramcd:
                return e
        known = ", ".join(e.paramcd for e in self.endpoints + self.biomarkers)
        raise InputError(f"endpoint {paramcd!r}: not in the spec (endpoints: {known})")


# --------------------------------------------------------------------------- parsing


def _per(value: float | tuple[float, ...], n: int, key: str, what: str) -> tuple[float, ...]:
    """A number repeated ``n`` times, or a list that must have ``n`` entries (one per ``what``)."""
    if not isinstance(value, tuple):
        return (value,) * n
    if len(value) != n:
        raise InputError(f"{key}: needs {n} values (one per {what}), got {len(value)}")
    return value


def _parse_arms(trial: TrialTable, tables: tuple[ArmTable, ...]) -> tuple[Arm, ...]:
    with_n = [t.n is not None for t in tables]
    if all(with_n):
        if trial.total is not None:
            raise InputError("trial.total: unknown key (every arm gives n)")
        for i, t in enumerate(tables):
            if t.ratio is not None:
                raise InputError(f"arms[{i}].ratio: unknown key (every arm gives n)")
        sizes = [int(t.n) for t in tables if t.n is not None]
    elif not any(with_n):
        if trial.total is None:
            raise InputError("arms[0].n: missing (give n in every arm, or ratio in every arm with trial.total)")
        if trial.total < len(tables):
            raise InputError(f"trial.total: must be at least {len(tables)}, got {trial.total}")
        for i, t in enumerate(tables):
            if t.ratio is None:
                raise InputError(f"arms[{i}].ratio: missing")
        ratios = np.array([t.ratio for t in tables], dtype=float)
        exact = trial.total * ratios / ratios.sum()
        sizes_arr = np.floor(exact).astype(int)
        # largest remainders first, ties to the earlier arm
        order = np.argsort(-(exact - sizes_arr), kind="stable")
        sizes_arr[order[: trial.total - int(sizes_arr.sum())]] += 1
        sizes = sizes_arr.tolist()
    else:
        missing = with_n.index(False)
        raise InputError(f"arms[{missing}].n: missing (give n in every arm, or ratio in every arm with trial.total)")
    arms = tuple(Arm(name=t.name, dose=t.dose, n=int(n)) for t, n in zip(tables, sizes, strict=True))
    names = [a.name for a in arms]
    for i, name in enumerate(names):
        if names.index(name) != i:
            raise InputError(f"arms[{i}].name: duplicate arm name {name!r}")
    doses = [a.dose for a in arms]
    if doses != sorted(doses) or len(set(doses)) != len(doses):
        raise InputError(f"arms: doses must be distinct and increasing in arm order, got {doses}")
    return arms


def _visit_subset(weeks: tuple[int, ...] | None, schedule: tuple[int, ...], key: str) -> tuple[int, ...]:
    if weeks is None:
        return schedule
    for i, v in enumerate(weeks):
        if v not in schedule:
            raise InputError(f"{key}[{i}]: week {v!r} is not a visit of the schedule (trial.visits = {list(schedule)})")
    return tuple(sorted(set(weeks)))


def _dose_response(table: DoseResponseTable, key: str, arms: tuple[Arm, ...], *, relative: bool) -> tuple[float, ...]:
    """Per-arm values given as ``values`` (one per arm) or as a ``shape`` with ``parameters`` at the arm doses."""
    if table.values is not None:
        return _per(table.values, len(arms), f"{key}.values", "arm")
    assert table.shape is not None and table.parameters is not None  # checked by DoseResponseTable
    try:
        shape = get_shape(table.shape)
    except InputError as exc:
        raise InputError(f"{key}.shape: {exc}") from None
    constant = table.constant
    expected = shape.parameter_names(constant if shape.name == "linint" else None)
    parameters = _per(table.parameters, len(expected), f"{key}.parameters", "parameter")
    if constant is not None and shape.constant is None:
        raise InputError(f"{key}.constant: shape {shape.name!r} takes no constant")
    doses = np.array([a.dose for a in arms])
    try:
        response = shape.response(doses, parameters, constant)
        if relative:
            response = response - shape.response(np.zeros(1), parameters, constant)[0]
    except InputError as exc:
        raise InputError(f"{key}: {exc}") from None
    return tuple(float(v) for v in response)


def _baseline(table: BaselineTable) -> Baseline:
    return Baseline(distribution=table.distribution, mean=table.mean, sd=table.sd, lower=table.lower,
                    upper=table.upper)


def _correlation(table: CorrelationTable, key: str, n: int) -> FloatArray:
    if table.matrix is not None:
        if len(table.matrix) != n:
            raise InputError(f"{key}.matrix: must be {n} rows (one per visit of trial.visits)")
        r = np.array([_per(row, n, f"{key}.matrix[{i}]", "entry") for i, row in enumerate(table.matrix)])
    else:
        rho = 0.0 if table.rho is None else table.rho
        idx = np.arange(n)
        lag = np.abs(idx[:, None] - idx[None, :])
        r = rho**lag if table.structure == "ar1" else np.where(lag == 0, 1.0, rho)
    if not np.allclose(r, r.T) or not np.allclose(np.diag(r), 1.0):
        raise InputError(f"{key}: must be symmetric with unit diagonal")
    smallest = float(np.linalg.eigvalsh(r)[0])
    if smallest <= 1e-10:
        raise InputError(f"{key}: must be positive definite, smallest eigenvalue {smallest:.3g}")
    return np.asarray(r, dtype=float)


def _means(change: ChangeTable, key: str, arms: tuple[Arm, ...], n_visits: int) -> FloatArray:
    names = [a.name for a in arms]
    if change.means is not None:
        for name in change.means:
            if name not in names:
                raise InputError(f"{key}.means.{name}: not an arm of the spec (arms: {', '.join(names)})")
        for name in names:
            if name not in change.means:
                raise InputError(f"{key}.means.{name}: missing")
        return np.array([_per(change.means[a], n_visits, f"{key}.means.{a}", "visit") for a in names])
    placebo = np.array(_per(change.placebo, n_visits, f"{key}.placebo", "visit"))
    onset = np.array(_per(change.onset, n_visits, f"{key}.onset", "visit"))
    effect = np.zeros(len(arms)) if change.effect is None else np.array(
        _dose_response(change.effect, f"{key}.effect", arms, relative=True))
    return placebo[None, :] + np.outer(effect, onset)


def _classes(table: ClassesTable, key: str, arms: tuple[Arm, ...], n_visits: int) -> ResponseClasses:
    probability = _dose_response(table.probability, f"{key}.probability", arms, relative=False)
    for i, p in enumerate(probability):
        if not 0.0 <= p <= 1.0:
            raise InputError(f"{key}.probability: probability for arm {arms[i].name!r} is {p:g}, not in [0, 1]")
    return ResponseClasses(
        probability=probability, shift=_per(table.shift, n_visits, f"{key}.shift", "visit"),
        sd=None if table.sd is None else _per(table.sd, n_visits, f"{key}.sd", "visit"),
        baseline_slope=table.baseline_slope)


def _endpoint(paramcd: str, t: EndpointTable, group: str, arms: tuple[Arm, ...],
              schedule: tuple[int, ...]) -> Endpoint:
    key = f"{group}.{paramcd}"
    n_visits = len(schedule)
    visits = _visit_subset(t.visits, schedule, f"{key}.visits")
    return Endpoint(
        paramcd=paramcd,
        label=t.label or paramcd,
        unit=t.unit,
        dataset="ADEFF" if group == "endpoints" else "ADBM",
        scale=t.scale,
        visits=visits,
        baseline=_baseline(t.baseline),
        means=_means(t.change, f"{key}.change", arms, n_visits),
        sd=_per(t.sd, n_visits, f"{key}.sd", "visit"),
        correlation=_correlation(t.correlation, f"{key}.correlation", n_visits),
        baseline_slope=t.baseline_slope,
        decimals=t.decimals,
        limits=None if t.limits is None else (t.limits[0], t.limits[1]),
        classes=None if t.classes is None else _classes(t.classes, f"{key}.classes", arms, n_visits),
    )


def _group(tables: Mapping[str, EndpointTable], group: str, arms: tuple[Arm, ...],
           schedule: tuple[int, ...]) -> tuple[Endpoint, ...]:
    if group == "endpoints" and not tables:
        raise InputError("endpoints: need at least one [endpoints.<PARAMCD>] table")
    return tuple(_endpoint(paramcd, t, group, arms, schedule) for paramcd, t in tables.items())


def _range4(table: RangeTable | None, key: str,
            default: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    if table is None:
        return default
    lower = default[2] if table.lower is None else table.lower
    upper = default[3] if table.upper is None else table.upper
    if not lower < table.mean < upper:
        raise InputError(f"{key}: need lower < mean < upper, got {lower:g}, {table.mean:g}, {upper:g}")
    return (table.mean, table.sd, lower, upper)


def _demographics(table: DemographicsTable | None) -> Demographics:
    d = Demographics()
    if table is None:
        return d
    if table.sites is not None and table.sites < len(table.countries):
        raise InputError(f"demographics.sites: must be at least {len(table.countries)}, got {table.sites}")
    return Demographics(
        age=_range4(table.age, "demographics.age", d.age),
        weight=_range4(table.weight, "demographics.weight", d.weight),
        female=table.female,
        race=d.race if table.race is None else table.race,
        countries=table.countries,
        sites=max(d.sites, len(table.countries)) if table.sites is None else table.sites,
        enrolment=d.enrolment if table.enrolment is None else table.enrolment,
    )


def _pk(t: PKTable | None, schedule: tuple[int, ...]) -> PKModel | None:
    if t is None:
        return None
    return PKModel(paramcd=t.paramcd, label=t.label, unit=t.unit, trough_per_mg=t.trough_per_mg, exponent=t.exponent,
                   half_life=t.half_life, between_cv=t.between_cv, within_cv=t.within_cv,
                   visits=_visit_subset(t.visits, schedule, "pk.visits"), decimals=t.decimals, lloq=t.lloq)


def _unknown(key: str, what: str, name: str, known: Iterable[str]) -> InputError:
    return InputError(f"{key}: unknown {what} {name!r} ({what}s: {', '.join(known)})")


def _known(key: str, what: str, name: str | None, known: list[str]) -> None:
    """Raise :func:`_unknown` when ``name`` is given and not one of ``known``."""
    if name is not None and name not in known:
        raise _unknown(key, what, name, known)


def _dropout(t: DropoutTable | None, arms: tuple[Arm, ...], endpoints: tuple[Endpoint, ...]) -> Dropout | None:
    if t is None:
        return None
    _known("dropout.endpoint", "endpoint", t.endpoint, [e.paramcd for e in endpoints])
    reasons = MappingProxyType({"WITHDRAWAL BY SUBJECT": 1.0}) if t.reasons is None else t.reasons
    for reason in t.terms:
        if reason not in reasons:
            raise InputError(f"dropout.terms.{reason}: not a reason of dropout.reasons ({', '.join(reasons)})")
    return Dropout(rate=_per(t.rate, len(arms), "dropout.rate", "arm"), endpoint=t.endpoint, slope=t.slope,
                   reasons=reasons, terms=MappingProxyType(dict(t.terms)))


def _discontinuation(t: DiscontinuationTable | None, arms: tuple[Arm, ...],
                     endpoints: tuple[Endpoint, ...]) -> Discontinuation | None:
    if t is None:
        return None
    _known("discontinuation.endpoint", "endpoint", t.endpoint, [e.paramcd for e in endpoints])
    for reason in t.terms:
        if reason not in t.rates:
            raise InputError(f"discontinuation.terms.{reason}: not a reason of discontinuation.rates "
                             f"({', '.join(t.rates)})")
    rates = {reason: _per(r, len(arms), f"discontinuation.rates.{reason}", "arm") for reason, r in t.rates.items()}
    if any(r >= 1.0 for r in np.sum(list(rates.values()), axis=0)):
        raise InputError("discontinuation.rates: the rates of an arm must add up to less than 1")
    return Discontinuation(rates=MappingProxyType(rates), endpoint=t.endpoint, slope=t.slope, follow_up=t.follow_up,
                           washout=t.washout, terms=MappingProxyType(dict(t.terms)))


def _rescue(t: RescueTable | None, arms: tuple[Arm, ...], endpoints: tuple[Endpoint, ...]) -> Rescue | None:
    if t is None:
        return None
    names = [e.paramcd for e in endpoints]
    _known("rescue.endpoint", "endpoint", t.endpoint, names)
    for paramcd in t.shift:
        _known(f"rescue.shift.{paramcd}", "endpoint or biomarker", paramcd, names)
    return Rescue(rate=_per(t.rate, len(arms), "rescue.rate", "arm"), endpoint=t.endpoint, slope=t.slope,
                  shift=MappingProxyType(dict(t.shift)))


def _severity(shares: Mapping[str, float] | None, default: tuple[float, float, float]) -> tuple[float, float, float]:
    if shares is None:
        return default
    mild, moderate, severe = (float(shares.get(s, 0.0)) for s in SEVERITIES)
    return mild, moderate, severe


def _safety(t: SafetyTable | None, tables: tuple[AdverseEventTable, ...],
            arms: tuple[Arm, ...]) -> tuple[Safety, tuple[AdverseEvent, ...]]:
    safety = Safety()
    if t is not None:
        safety = Safety(within_soc_correlation=t.within_soc_correlation,
                        soc_correlation=MappingProxyType({k.upper(): v for k, v in t.soc_correlation.items()}),
                        severity=_severity(t.severity, safety.severity), serious=t.serious, related=t.related)
    events = []
    seen: set[tuple[str, str]] = set()
    for i, e in enumerate(tables):
        event = AdverseEvent(
            soc=e.soc.upper(), pt=e.pt.upper(), rates=_per(e.rates, len(arms), f"adverse_events[{i}].rates", "arm"),
            severity=_severity(e.severity, safety.severity),
            serious=safety.serious if e.serious is None else e.serious,
            related=safety.related if e.related is None else e.related,
        )
        if (event.soc, event.pt) in seen:
            raise InputError(f"adverse_events[{i}].pt: {event.pt!r} is listed twice under {event.soc!r}")
        seen.add((event.soc, event.pt))
        events.append(event)
    for soc in safety.soc_correlation:
        if soc not in {e.soc for e in events}:
            raise InputError(f"safety.soc_correlation.{soc}: no adverse event has this SOC")
    return safety, tuple(events)


def _characteristics(tables: Mapping[str, CharacteristicTable],
                     biomarkers: tuple[Endpoint, ...]) -> tuple[Characteristic, ...]:
    out = []
    known = [b.paramcd for b in biomarkers]
    for name, t in tables.items():
        if t.biomarker is not None and t.biomarker not in known:
            raise _unknown(f"characteristics.{name}.biomarker", "biomarker", t.biomarker, known)
        out.append(Characteristic(name, t.label, baseline=None if t.baseline is None else _baseline(t.baseline),
                                  decimals=t.decimals, probability=t.probability, biomarker=t.biomarker, cut=t.cut))
    return tuple(out)


def eligibility_rules(name: str) -> EligibilityRules:
    """The eligibility rules of a randomisation preset (``"a2201"``: :data:`~dosefinding.randomization.A2201_RULES`
    itself) or of a TOML file of ``[[rule]]`` tables.

    Examples
    --------
    >>> from dosefinding.randomization import A2201_RULES
    >>> eligibility_rules("a2201") is A2201_RULES
    True
    """
    preset = _PRESETS / "randomisation" / f"{name.lower()}.toml"
    path = preset if preset.is_file() else Path(name)
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in (_PRESETS / "randomisation").glob("*.toml")))
        raise InputError(f"screening.rules: {name!r} is neither a randomisation preset ({known}) nor a file")
    if path.resolve() == A2201_PRESET:
        return A2201_RULES
    return EligibilityRules.from_toml(path)


def _adsl_columns(demographics_columns: tuple[str, ...], endpoints: tuple[Endpoint, ...],
                  characteristics: tuple[Characteristic, ...]) -> dict[str, str]:
    """The ADSL columns a screening field may name, with their kind (number or flag)."""
    columns = dict.fromkeys(demographics_columns, "number")
    columns.update({f"{e.paramcd[:6]}BL": "number" for e in endpoints})
    columns.update({c.name: "flag" if c.is_flag else "number" for c in characteristics})
    return columns


def _failing_value(value: object, key: str, rule: Any) -> Any:
    if isinstance(value, list):
        low, high = check_value(Numbers(length=2, what="bounds"), value, key)
        if high < low:
            raise InputError(f"{key}: need [low, high] with low <= high, got {value}")
        whole = all(isinstance(v, int) for v in value)
        bounds = (int(low), int(high)) if whole else (low, high)
        if rule.passes(list(bounds)).any():
            raise InputError(f"{key}: {list(bounds)} must fail rule {rule.id} ({rule.text})")
        return bounds
    if rule.passes([value])[0]:
        raise InputError(f"{key}: {value!r} must fail rule {rule.id} ({rule.text})")
    return value


def _screening(t: ScreeningTable | None, endpoints: tuple[Endpoint, ...],
               characteristics: tuple[Characteristic, ...]) -> Screening | None:
    if t is None:
        return None
    rules = eligibility_rules(t.rules)
    by_id = {r.id: r for r in rules.rules}
    for what, ids in (("reasons", t.reasons), ("failing", t.failing)):
        for rule_id in ids:
            if rule_id not in by_id:
                raise InputError(f"screening.{what}.{rule_id}: no rule {rule_id!r} in the eligibility rules "
                                 f"(rules: {', '.join(by_id)})")
    failing = {rule_id: _failing_value(value, f"screening.failing.{rule_id}", by_id[rule_id])
               for rule_id, value in t.failing.items()}
    for rule_id, share in t.reasons.items():
        if share > 0 and rule_id not in failing:
            raise InputError(f"screening.failing.{rule_id}: missing (the value of a candidate failing rule {rule_id})")
    columns = _adsl_columns(("AGE", "WEIGHTBL"), endpoints, characteristics)
    for name in t.fields:
        if name not in rules.fields:
            raise InputError(f"screening.fields.{name}: unknown key (expected {', '.join(sorted(rules.fields))})")
    fields = {}
    for name in rules.fields:
        if name not in t.fields:
            raise InputError(f"screening.fields.{name}: missing")
        column = t.fields[name]
        if column not in columns:
            raise InputError(f"screening.fields.{name}: {column!r} is not an ADSL column of the spec "
                             f"({', '.join(columns)})")
        fields[name] = column
    return Screening(rules=rules, ineligible=t.ineligible, reasons=t.reasons, failing=MappingProxyType(failing),
                     fields=MappingProxyType(fields), other=t.other, other_reason=t.other_reason,
                     other_term=t.other_term)


def _stratification(t: StratificationTable | None, endpoints: tuple[Endpoint, ...]) -> Stratification | None:
    if t is None:
        return None
    names = [e.paramcd for e in endpoints]
    if t.endpoint not in names:
        raise _unknown("stratification.endpoint", "endpoint", t.endpoint, names)
    labels = t.labels or (f"{t.endpoint} < {t.cut:g}", f"{t.endpoint} >= {t.cut:g}")
    return Stratification(endpoint=t.endpoint, cut=t.cut, variable=t.variable, labels=labels)


def _analysis(t: AnalysisTable | None, given: Mapping[str, Any], endpoints: tuple[Endpoint, ...],
              schedule: tuple[int, ...], arms: tuple[Arm, ...]) -> Mapping[str, Any]:
    if t is None:
        return MappingProxyType({})
    names = [e.paramcd for e in endpoints]
    if t.endpoint is not None and t.endpoint not in names:
        raise _unknown("analysis.endpoint", "endpoint", t.endpoint, names)
    if t.visit is not None and t.visit not in schedule:
        raise InputError(f"analysis.visit: week {t.visit!r} is not a visit of the schedule ({list(schedule)})")
    analysis = dict(given)
    shapes = t.candidates
    if shapes is not None:
        from dosefinding.shapes.candidates import Candidates

        for shape in shapes:
            _library(partial(get_shape, shape), f"analysis.candidates.{shape}")
        _library(partial(Candidates, [a.dose for a in arms], shapes, max_effect=t.max_effect), "analysis")
        analysis["candidates"] = MappingProxyType(dict(shapes))
    return MappingProxyType(analysis)


def _library(call: Callable[[], Any], key: str) -> None:
    """``call()``, its :class:`InputError` naming the key path of the spec (``key``, or a key below it)."""
    try:
        call()
    except InputError as exc:
        problem, where = library_problem(str(exc), key, "candidates")
        raise InputError(f"{where}: {problem}") from None


def parse_spec(text: str, *, source: str = "") -> TrialSpec:
    """Check a study spec given as TOML text and return it frozen.

    The tables are checked against :class:`~dosefinding.study.trial_schema.TrialDocument`
    (its JSON Schema: :func:`dosefinding.study.schema.spec_json_schema`), then what needs
    several tables (lists per arm or per visit, endpoints and visits named elsewhere).

    Parameters
    ----------
    text
        The TOML document (see the module docstring for its tables).
    source
        Where the text came from, kept in :attr:`TrialSpec.source` when the spec gives none.

    Returns
    -------
    TrialSpec

    Raises
    ------
    InputError
        Naming the key path at fault: ``arms[2].dose: missing``,
        ``endpoints.ESSDAI.visits[0]: week 6 is not a visit of the schedule ...``.

    Examples
    --------
    >>> parse_spec('[trial]\\nname = "x"\\nvisits = [4]\\n[[arms]]\\nname = "P"\\n[[arms]]\\nname = "D"\\ndose = 1')
    Traceback (most recent call last):
    ...
    dosefinding.errors.InputError: arms[0].dose: missing
    """
    data = read_toml(text)
    doc = validate(TrialDocument, data)
    trial = doc.trial
    visits = trial.visits
    arms = _parse_arms(trial, doc.arms)
    endpoints = _group(doc.endpoints, "endpoints", arms, visits)
    biomarkers = _group(doc.biomarkers, "biomarkers", arms, visits)
    clash = {e.paramcd for e in endpoints} & {b.paramcd for b in biomarkers}
    if clash:
        raise InputError(f"biomarkers.{min(clash)}: the PARAMCD is also an endpoint")
    pk = _pk(doc.pk, visits)
    if pk is not None and pk.paramcd in {e.paramcd for e in endpoints + biomarkers}:
        raise InputError(f"pk.paramcd: {pk.paramcd!r} is also an endpoint or biomarker")
    safety, events = _safety(doc.safety, doc.adverse_events, arms)
    characteristics = _characteristics(doc.characteristics, biomarkers)
    spec = TrialSpec(
        name=trial.name,
        studyid=trial.studyid or trial.name.upper() + ("-SYNTHETIC" if trial.synthetic else ""),
        seed=trial.seed,
        synthetic=trial.synthetic,
        arms=arms,
        visits=visits,
        endpoints=endpoints,
        biomarkers=biomarkers,
        stratification=_stratification(doc.stratification, endpoints),
        demographics=_demographics(doc.demographics),
        pk=pk,
        dropout=_dropout(doc.dropout, arms, endpoints),
        discontinuation=_discontinuation(doc.discontinuation, arms, endpoints),
        rescue=_rescue(doc.rescue, arms, endpoints + biomarkers),
        safety=safety,
        adverse_events=events,
        dosing_interval=trial.dosing_interval,
        visit_days=trial.visit_days,
        description=trial.description,
        source=source if trial.source is None else trial.source,
        analysis=_analysis(doc.analysis, data.get("analysis", {}), endpoints, visits, arms),
        characteristics=characteristics,
        screening=_screening(doc.screening, endpoints, characteristics),
    )
    if not spec.synthetic:
        raise InputError("trial.synthetic: a virtual trial is synthetic data; set synthetic = true")
    return spec


def preset_path(name: str, kind: Literal["trial", "design"] = "trial") -> Path:
    """Path of the packaged preset ``name`` (e.g. ``"a2201"``): a trial spec, or (``kind="design"``) a design spec.

    Examples
    --------
    >>> preset_path("a2201").name
    'a2201.toml'
    >>> preset_path("a2201", "design").parent.name
    'design'
    """
    folder = _PRESETS / "design" if kind == "design" else _PRESETS
    path = folder / f"{name.lower()}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in folder.glob("*.toml")))
        raise InputError(f"preset {name!r}: no such preset (presets: {known})")
    return path


def load_spec(spec: str | PathLike[str]) -> TrialSpec:
    """Read a study spec from a TOML file, or a packaged preset by name.

    Examples
    --------
    >>> load_spec("a2201").arm_names
    ('Placebo', 'VAY736 5 mg', 'VAY736 50 mg', 'VAY736 300 mg')
    """
    path = Path(spec)
    if not path.suffix and not path.exists():
        path = preset_path(str(spec))
    return parse_spec(read_text_file(path, "spec"), source=str(path))


def as_trial_spec(spec: TrialSpec | str | PathLike[str]) -> TrialSpec:
    """``spec`` itself, or the spec read from a TOML file or preset name by :func:`load_spec`.

    Examples
    --------
    >>> as_trial_spec("a2201").name == as_trial_spec(load_spec("a2201")).name
    True
    """
    if isinstance(spec, TrialSpec):
        return spec
    if isinstance(spec, (str, PathLike)):
        return load_spec(spec)
    raise InputError(f"spec: must be a TrialSpec, a preset name or a TOML path, got {type(spec).__name__}")
