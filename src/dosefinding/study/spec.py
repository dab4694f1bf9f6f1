"""The study spec: a TOML description of a parallel-group dose-finding trial, checked and frozen.

A spec says what a virtual trial looks like (arms, doses, visits, baseline distributions,
mean changes over time, correlation, dropout, adverse events, biomarkers and drug levels)
so that :func:`dosefinding.study.simulate_trial` can generate ADaM datasets from it. Every
problem found while reading it raises :class:`~dosefinding.errors.InputError` naming the
key path at fault, e.g. ``arms[2].dose: missing``.

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
``[safety]`` and ``[[adverse_events]]``
    ``within_soc_correlation``, default ``severity`` shares, ``serious`` and ``related``
    probabilities; each adverse event has ``soc``, ``pt``, ``rates`` per arm and may
    override the defaults. The event of a subject who left for an adverse event (a reason
    of ``[dropout]``) is the one with ``AEACN = "DRUG WITHDRAWN"``.
``[analysis]``
    kept as given for the analysis pipeline; ``endpoint`` and ``visit``, when present,
    must name an endpoint and a visit of the spec; ``alpha`` (in (0, 1)) and
    ``alternative`` (``one-sided`` or ``two-sided``) are the MCP step's level, the
    default of :func:`~dosefinding.study.simulate_power`.

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
import itertools
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
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
from dosefinding.study.toml_table import MISSING, TomlTable, toml_number, toml_numbers

__all__ = [
    "AdverseEvent",
    "Arm",
    "Baseline",
    "Characteristic",
    "Demographics",
    "Dropout",
    "Endpoint",
    "PKModel",
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
_SEVERITIES = ("MILD", "MODERATE", "SEVERE")


# --------------------------------------------------------------------------- reading


def _shares(value: object, key: str) -> MappingProxyType[str, float]:
    table = TomlTable(value, key)
    shares = {name: table.number(name, lower=0.0) for name in list(table.data)}
    total = sum(shares.values())
    if not shares or abs(total - 1.0) > 1e-6:
        raise InputError(f"{key}: shares must add up to 1, got {total:g}")
    return MappingProxyType(shares)


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


def _parse_arms(trial: TomlTable, value: object) -> tuple[Arm, ...]:
    if not isinstance(value, list) or len(value) < 2:
        raise InputError("arms: need at least two [[arms]] tables")
    tables = [TomlTable(v, f"arms[{i}]") for i, v in enumerate(value)]
    names_doses = [(t.text("name"), t.number("dose", lower=0.0)) for t in tables]
    with_n = [t.has("n") for t in tables]
    if all(with_n):
        sizes = [t.integer("n", lower=1) for t in tables]
    elif not any(with_n):
        if not trial.has("total"):
            raise InputError("arms[0].n: missing (give n in every arm, or ratio in every arm with trial.total)")
        total = trial.integer("total", lower=len(tables))
        ratios = np.array([t.number("ratio", lower=0.0, strict=True) for t in tables])
        exact = total * ratios / ratios.sum()
        sizes_arr = np.floor(exact).astype(int)
        # largest remainders first, ties to the earlier arm
        order = np.argsort(-(exact - sizes_arr), kind="stable")
        sizes_arr[order[: total - int(sizes_arr.sum())]] += 1
        sizes = sizes_arr.tolist()
    else:
        missing = with_n.index(False)
        raise InputError(f"arms[{missing}].n: missing (give n in every arm, or ratio in every arm with trial.total)")
    arms = []
    for t, (name, dose), n in zip(tables, names_doses, sizes, strict=True):
        arms.append(Arm(name=name, dose=dose, n=int(n)))
        t.done()
    names = [a.name for a in arms]
    for i, name in enumerate(names):
        if names.index(name) != i:
            raise InputError(f"arms[{i}].name: duplicate arm name {name!r}")
    doses = [a.dose for a in arms]
    if doses != sorted(doses) or len(set(doses)) != len(doses):
        raise InputError(f"arms: doses must be distinct and increasing in arm order, got {doses}")
    return tuple(arms)


def _parse_visits(trial: TomlTable) -> tuple[int, ...]:
    value = trial.raw("visits")
    key = trial.key("visits")
    if not isinstance(value, list) or not value:
        raise InputError(f"{key}: must be a non-empty list of weeks, got {value!r}")
    for i, v in enumerate(value):
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise InputError(f"{key}[{i}]: must be a positive whole week, got {v!r}")
    if any(b <= a for a, b in itertools.pairwise(value)):
        raise InputError(f"{key}: weeks must be strictly increasing, got {value}")
    return tuple(value)


def _visit_subset(table: TomlTable, schedule: tuple[int, ...], name: str = "visits") -> tuple[int, ...]:
    value = table.raw(name, None)
    if value is None:
        return schedule
    key = table.key(name)
    if not isinstance(value, list) or not value:
        raise InputError(f"{key}: must be a non-empty list of weeks, got {value!r}")
    for i, v in enumerate(value):
        if v not in schedule:
            raise InputError(f"{key}[{i}]: week {v!r} is not a visit of the schedule (trial.visits = {list(schedule)})")
    return tuple(sorted(set(value)))


def _dose_response(table: TomlTable, arms: tuple[Arm, ...], *, relative: bool) -> tuple[float, ...]:
    """Per-arm values given as ``values`` (one per arm) or as a ``shape`` with ``parameters`` at the arm doses."""
    if table.has("values"):
        values = table.numbers("values", length=len(arms), what="arms")
        table.done()
        return values
    name = table.text("shape")
    try:
        shape = get_shape(name)
    except InputError as exc:
        raise InputError(f"{table.key('shape')}: {exc}") from None
    constant = table.raw("constant", None)
    expected = shape.parameter_names(constant if shape.name == "linint" else None)
    parameters = table.numbers("parameters", length=len(expected), what="parameters")
    if constant is not None and shape.constant is None:
        raise InputError(f"{table.key('constant')}: shape {shape.name!r} takes no constant")
    doses = np.array([a.dose for a in arms])
    try:
        response = shape.response(doses, parameters, constant)
        if relative:
            response = response - shape.response(np.zeros(1), parameters, constant)[0]
    except InputError as exc:
        raise InputError(f"{table.path}: {exc}") from None
    table.done()
    return tuple(float(v) for v in response)


def _parse_baseline(table: TomlTable) -> Baseline:
    dist = table.text("distribution", choices=("normal", "gamma", "lognormal"))
    mean = table.number("mean")
    sd = table.number("sd", lower=0.0, strict=True)
    lower = table.number("lower", None) if table.has("lower") else None
    upper = table.number("upper", None) if table.has("upper") else None
    if lower is not None and upper is not None and upper <= lower:
        raise InputError(f"{table.key('upper')}: must exceed lower ({lower:g}), got {upper:g}")
    if dist == "gamma" and upper is not None:
        raise InputError(f"{table.key('upper')}: a gamma baseline has no upper bound (use limits)")
    if dist == "gamma" and mean <= (lower or 0.0):
        raise InputError(f"{table.key('mean')}: a gamma baseline needs mean > lower, got {mean:g}")
    if dist == "lognormal" and mean <= 0:
        raise InputError(f"{table.key('mean')}: a lognormal baseline needs mean > 0, got {mean:g}")
    if dist == "lognormal" and (lower is not None or upper is not None):
        raise InputError(f"{table.path}: a lognormal baseline takes no lower/upper (use limits)")
    table.done()
    return Baseline(distribution=dist, mean=mean, sd=sd, lower=lower, upper=upper)  # type: ignore[arg-type]


def _parse_correlation(value: object, key: str, n: int) -> FloatArray:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = {"structure": "ar1", "rho": value}
    table = TomlTable(value, key)
    if table.has("matrix"):
        rows = table.raw("matrix")
        if not isinstance(rows, list) or len(rows) != n:
            raise InputError(f"{key}.matrix: must be {n} rows (one per visit of trial.visits)")
        r = np.array([toml_numbers(row, f"{key}.matrix[{i}]", length=n) for i, row in enumerate(rows)])
    else:
        structure = table.text("structure", choices=("ar1", "cs", "independent"))
        rho = 0.0 if structure == "independent" else table.number("rho", lower=-1.0, upper=1.0)
        idx = np.arange(n)
        lag = np.abs(idx[:, None] - idx[None, :])
        r = rho**lag if structure == "ar1" else np.where(lag == 0, 1.0, rho)
    table.done()
    if not np.allclose(r, r.T) or not np.allclose(np.diag(r), 1.0):
        raise InputError(f"{key}: must be symmetric with unit diagonal")
    smallest = float(np.linalg.eigvalsh(r)[0])
    if smallest <= 1e-10:
        raise InputError(f"{key}: must be positive definite, smallest eigenvalue {smallest:.3g}")
    return np.asarray(r, dtype=float)


def _parse_endpoint(paramcd: str, value: object, group: str, arms: tuple[Arm, ...],
                    schedule: tuple[int, ...]) -> Endpoint:
    t = TomlTable(value, f"{group}.{paramcd}")
    n_visits = len(schedule)
    scale = t.text("scale", "identity", choices=("identity", "log"))
    visits = _visit_subset(t, schedule)
    baseline_table = t.table("baseline")
    assert baseline_table is not None
    baseline = _parse_baseline(baseline_table)
    if scale == "log" and baseline.distribution != "lognormal":
        raise InputError(f"{t.key('baseline.distribution')}: a log-scale endpoint needs a lognormal baseline")
    change = t.table("change")
    assert change is not None
    if change.has("means"):
        table = change.table("means")
        assert table is not None
        for name in table.data:
            if name not in [a.name for a in arms]:
                raise InputError(f"{table.key(name)}: not an arm of the spec (arms: {', '.join(a.name for a in arms)})")
        means = np.array([table.numbers(a.name, length=n_visits, what="visits") for a in arms])
        table.done()
    else:
        placebo = np.array(change.per_visit("placebo", n_visits, 0.0))
        onset = np.array(change.per_visit("onset", n_visits, 1.0, lower=0.0))
        effect_table = change.table("effect", None)
        effect = np.zeros(len(arms)) if effect_table is None else np.array(
            _dose_response(effect_table, arms, relative=True)
        )
        means = placebo[None, :] + np.outer(effect, onset)
    change.done()
    sd = t.per_visit("sd", n_visits, lower=0.0, strict=True)
    correlation = _parse_correlation(t.raw("correlation", {"structure": "independent"}), t.key("correlation"), n_visits)
    classes = None
    classes_table = t.table("classes", None)
    if classes_table is not None:
        prob_table = classes_table.table("probability")
        assert prob_table is not None
        probability = _dose_response(prob_table, arms, relative=False)
        for i, p in enumerate(probability):
            if not 0.0 <= p <= 1.0:
                raise InputError(f"{prob_table.path}: probability for arm {arms[i].name!r} is {p:g}, not in [0, 1]")
        shift = classes_table.per_visit("shift", n_visits)
        class_sd = classes_table.per_visit("sd", n_visits, lower=0.0, strict=True) if classes_table.has("sd") else None
        class_slope = classes_table.number("baseline_slope") if classes_table.has("baseline_slope") else None
        classes_table.done()
        classes = ResponseClasses(probability=probability, shift=shift, sd=class_sd, baseline_slope=class_slope)
    limits = None
    if t.has("limits"):
        lo, hi = t.numbers("limits", length=2, what="bounds")
        if hi <= lo:
            raise InputError(f"{t.key('limits')}: upper limit must exceed lower, got [{lo:g}, {hi:g}]")
        limits = (lo, hi)
    decimals = t.integer("decimals", None, lower=0) if t.has("decimals") else None
    endpoint = Endpoint(
        paramcd=paramcd,
        label=t.text("label", paramcd),
        unit=t.note("unit"),
        dataset="ADEFF" if group == "endpoints" else "ADBM",
        scale=scale,  # type: ignore[arg-type]
        visits=visits,
        baseline=baseline,
        means=means,
        sd=sd,
        correlation=correlation,
        baseline_slope=t.number("baseline_slope", 0.0),
        decimals=decimals,
        limits=limits,
        classes=classes,
    )
    t.done()
    return endpoint


def _parse_group(root: TomlTable, group: str, arms: tuple[Arm, ...], schedule: tuple[int, ...]) -> tuple[Endpoint, ...]:
    table = root.table(group, {} if group == "biomarkers" else MISSING)
    assert table is not None
    if group == "endpoints" and not table.data:
        raise InputError("endpoints: need at least one [endpoints.<PARAMCD>] table")
    out = []
    for paramcd in table.data:
        if not paramcd.isidentifier() or len(paramcd) > 8:
            raise InputError(f"{group}.{paramcd}: a PARAMCD is at most 8 letters, digits or underscores")
        out.append(_parse_endpoint(paramcd, table.raw(paramcd), group, arms, schedule))
    return tuple(out)


def _range4(table: TomlTable, name: str, default: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    sub = table.table(name, None)
    if sub is None:
        return default
    mean, sd = sub.number("mean"), sub.number("sd", lower=0.0, strict=True)
    lower, upper = sub.number("lower", default[2]), sub.number("upper", default[3])
    if not lower < mean < upper:
        raise InputError(f"{sub.path}: need lower < mean < upper, got {lower:g}, {mean:g}, {upper:g}")
    sub.done()
    return (mean, sd, lower, upper)


def _date(value: object, key: str) -> _dt.date:
    if isinstance(value, _dt.datetime):
        return value.date()
    if isinstance(value, _dt.date):
        return value
    try:
        return _dt.date.fromisoformat(str(value))
    except ValueError:
        raise InputError(f"{key}: must be a date (YYYY-MM-DD), got {value!r}") from None


def _parse_demographics(root: TomlTable) -> Demographics:
    table = root.table("demographics", None)
    if table is None:
        return Demographics()
    d = Demographics()
    enrolment = d.enrolment
    if table.has("enrolment"):
        value = table.raw("enrolment")
        if not isinstance(value, list) or len(value) != 2:
            raise InputError("demographics.enrolment: must be [first date, last date]")
        enrolment = (_date(value[0], "demographics.enrolment[0]"), _date(value[1], "demographics.enrolment[1]"))
        if enrolment[1] < enrolment[0]:
            raise InputError("demographics.enrolment: last date is before the first")
    countries = table.raw("countries", list(d.countries))
    if not isinstance(countries, list) or not countries or not all(isinstance(c, str) for c in countries):
        raise InputError(f"demographics.countries: must be a non-empty list of country codes, got {countries!r}")
    out = Demographics(
        age=_range4(table, "age", d.age),
        weight=_range4(table, "weight", d.weight),
        female=table.number("female", d.female, lower=0.0, upper=1.0),
        race=_shares(table.raw("race"), "demographics.race") if table.has("race") else d.race,
        countries=tuple(countries),
        sites=table.integer("sites", max(d.sites, len(countries)), lower=len(countries)),
        enrolment=enrolment,
    )
    table.done()
    return out


def _parse_pk(root: TomlTable, schedule: tuple[int, ...]) -> PKModel | None:
    t = root.table("pk", None)
    if t is None:
        return None
    pk = PKModel(
        paramcd=t.text("paramcd", "DRUGTRGH"),
        label=t.text("label", "Drug trough concentration"),
        unit=t.note("unit"),
        trough_per_mg=t.number("trough_per_mg", lower=0.0, strict=True),
        exponent=t.number("exponent", 1.0, lower=0.0, strict=True),
        half_life=t.number("half_life", lower=0.0, strict=True),
        between_cv=t.number("between_cv", 0.3, lower=0.0),
        within_cv=t.number("within_cv", 0.2, lower=0.0),
        visits=_visit_subset(t, schedule),
        decimals=t.integer("decimals", None, lower=0) if t.has("decimals") else None,
        lloq=t.number("lloq", 0.0, lower=0.0),
    )
    t.done()
    return pk


def _parse_dropout(root: TomlTable, arms: tuple[Arm, ...], endpoints: tuple[Endpoint, ...]) -> Dropout | None:
    t = root.table("dropout", None)
    if t is None:
        return None
    value = t.raw("rate")
    if isinstance(value, list):
        rate = toml_numbers(value, "dropout.rate", length=len(arms), lower=0.0, upper=0.999, what="arms")
    else:
        rate = (toml_number(value, "dropout.rate", lower=0.0, upper=0.999),) * len(arms)
    endpoint = t.text("endpoint") if t.has("endpoint") else None
    if endpoint is not None and endpoint not in [e.paramcd for e in endpoints]:
        raise InputError(
            f"dropout.endpoint: unknown endpoint {endpoint!r} (endpoints: {', '.join(e.paramcd for e in endpoints)})"
        )
    slope = t.number("slope", 0.0)
    if slope != 0.0 and endpoint is None:
        raise InputError("dropout.endpoint: missing (the slope needs the endpoint whose last value it uses)")
    reasons = _shares(t.raw("reasons"), "dropout.reasons") if t.has("reasons") else MappingProxyType(
        {"WITHDRAWAL BY SUBJECT": 1.0}
    )
    terms: dict[str, tuple[str, ...]] = {}
    table = t.table("terms", None)
    if table is not None:
        for reason in list(table.data):
            if reason not in reasons:
                raise InputError(f"{table.key(reason)}: not a reason of dropout.reasons ({', '.join(reasons)})")
            value = table.raw(reason)
            if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
                raise InputError(f"{table.key(reason)}: must be a non-empty list of terms, got {value!r}")
            terms[reason] = tuple(value)
        table.done()
    t.done()
    return Dropout(rate=rate, endpoint=endpoint, slope=slope, reasons=reasons, terms=MappingProxyType(terms))


def _severity(t: TomlTable, default: tuple[float, float, float]) -> tuple[float, float, float]:
    if not t.has("severity"):
        return default
    shares = _shares(t.raw("severity"), t.key("severity"))
    for name in shares:
        if name not in _SEVERITIES:
            raise InputError(f"{t.key('severity')}.{name}: unknown severity (expected {', '.join(_SEVERITIES)})")
    return tuple(float(shares.get(s, 0.0)) for s in _SEVERITIES)  # type: ignore[return-value]


def _soc_correlation(t: TomlTable) -> MappingProxyType[str, float]:
    table = t.table("soc_correlation", None)
    if table is None:
        return MappingProxyType({})
    out = {name.upper(): table.number(name, lower=0.0, upper=0.99) for name in list(table.data)}
    table.done()
    return MappingProxyType(out)


def _parse_safety(root: TomlTable, arms: tuple[Arm, ...]) -> tuple[Safety, tuple[AdverseEvent, ...]]:
    t = root.table("safety", None)
    safety = Safety()
    if t is not None:
        safety = Safety(
            within_soc_correlation=t.number("within_soc_correlation", 0.0, lower=0.0, upper=0.99),
            soc_correlation=_soc_correlation(t),
            severity=_severity(t, safety.severity),
            serious=t.number("serious", safety.serious, lower=0.0, upper=1.0),
            related=t.number("related", safety.related, lower=0.0, upper=1.0),
        )
        t.done()
    value = root.raw("adverse_events", [])
    if not isinstance(value, list):
        raise InputError("adverse_events: must be an array of [[adverse_events]] tables")
    events = []
    seen: set[tuple[str, str]] = set()
    for i, item in enumerate(value):
        e = TomlTable(item, f"adverse_events[{i}]")
        event = AdverseEvent(
            soc=e.text("soc").upper(),
            pt=e.text("pt").upper(),
            rates=e.numbers("rates", length=len(arms), lower=0.0, upper=0.999, what="arms"),
            severity=_severity(e, safety.severity),
            serious=e.number("serious", safety.serious, lower=0.0, upper=1.0),
            related=e.number("related", safety.related, lower=0.0, upper=1.0),
        )
        e.done()
        if (event.soc, event.pt) in seen:
            raise InputError(f"adverse_events[{i}].pt: {event.pt!r} is listed twice under {event.soc!r}")
        seen.add((event.soc, event.pt))
        events.append(event)
    for soc in safety.soc_correlation:
        if soc not in {e.soc for e in events}:
            raise InputError(f"safety.soc_correlation.{soc}: no adverse event has this SOC")
    return safety, tuple(events)


def _parse_characteristics(root: TomlTable, biomarkers: tuple[Endpoint, ...]) -> tuple[Characteristic, ...]:
    table = root.table("characteristics", None)
    if table is None:
        return ()
    out = []
    for name in list(table.data):
        if not name.isidentifier() or name != name.upper() or len(name) > 8:
            raise InputError(f"characteristics.{name}: an ADSL name is at most 8 upper-case letters, digits or _")
        t = table.table(name)
        assert t is not None
        label = t.text("label")
        kinds = [k for k in ("baseline", "probability", "biomarker") if t.has(k)]
        if len(kinds) != 1:
            raise InputError(f"{t.path}: give one of baseline, probability or biomarker (with cut), got {kinds}")
        if kinds == ["baseline"]:
            sub = t.table("baseline")
            assert sub is not None
            item = Characteristic(name, label, baseline=_parse_baseline(sub),
                                  decimals=t.integer("decimals", None, lower=0) if t.has("decimals") else None)
        elif kinds == ["probability"]:
            item = Characteristic(name, label, probability=t.number("probability", lower=0.0, upper=1.0))
        else:
            biomarker = t.text("biomarker")
            if biomarker not in [b.paramcd for b in biomarkers]:
                raise InputError(f"{t.key('biomarker')}: unknown biomarker {biomarker!r} "
                                 f"(biomarkers: {', '.join(b.paramcd for b in biomarkers)})")
            item = Characteristic(name, label, biomarker=biomarker, cut=t.number("cut"))
        t.done()
        out.append(item)
    table.done()
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
        low, high = toml_numbers(value, key, length=2, what="bounds")
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


def _parse_screening(root: TomlTable, endpoints: tuple[Endpoint, ...],
                     characteristics: tuple[Characteristic, ...]) -> Screening | None:
    t = root.table("screening", None)
    if t is None:
        return None
    rules = eligibility_rules(t.text("rules"))
    by_id = {r.id: r for r in rules.rules}
    ineligible = t.number("ineligible", lower=0.0, upper=1.0)
    other = t.number("other", 0.0, lower=0.0, upper=1.0)
    if ineligible + other >= 1:
        raise InputError(f"screening.other: ineligible + other must be below 1, got {ineligible + other:g}")
    reasons = _shares(t.raw("reasons"), "screening.reasons")
    for rule_id in reasons:
        if rule_id not in by_id:
            raise InputError(f"screening.reasons.{rule_id}: no rule {rule_id!r} in the eligibility rules "
                             f"(rules: {', '.join(by_id)})")
    failing_table = t.table("failing")
    assert failing_table is not None
    failing = {}
    for rule_id in list(failing_table.data):
        if rule_id not in by_id:
            raise InputError(f"screening.failing.{rule_id}: no rule {rule_id!r} in the eligibility rules "
                             f"(rules: {', '.join(by_id)})")
        failing[rule_id] = _failing_value(failing_table.raw(rule_id), failing_table.key(rule_id), by_id[rule_id])
    failing_table.done()
    for rule_id, share in reasons.items():
        if share > 0 and rule_id not in failing:
            raise InputError(f"screening.failing.{rule_id}: missing (the value of a candidate failing rule {rule_id})")
    fields_table = t.table("fields")
    assert fields_table is not None
    columns = _adsl_columns(("AGE", "WEIGHTBL"), endpoints, characteristics)
    fields = {}
    for name in rules.fields:
        column = fields_table.text(name)
        if column not in columns:
            raise InputError(f"screening.fields.{name}: {column!r} is not an ADSL column of the spec "
                             f"({', '.join(columns)})")
        fields[name] = column
    fields_table.done()
    out = Screening(rules=rules, ineligible=ineligible, reasons=reasons, failing=MappingProxyType(failing),
                    fields=MappingProxyType(fields), other=other,
                    other_reason=t.text("other_reason", Screening.other_reason),
                    other_term=t.text("other_term", Screening.other_term))
    t.done()
    return out


def _parse_stratification(root: TomlTable, endpoints: tuple[Endpoint, ...]) -> Stratification | None:
    t = root.table("stratification", None)
    if t is None:
        return None
    endpoint = t.text("endpoint")
    if endpoint not in [e.paramcd for e in endpoints]:
        raise InputError(
            f"stratification.endpoint: unknown endpoint {endpoint!r} "
            f"(endpoints: {', '.join(e.paramcd for e in endpoints)})"
        )
    cut = t.number("cut")
    labels = t.raw("labels", [f"{endpoint} < {cut:g}", f"{endpoint} >= {cut:g}"])
    if not isinstance(labels, list) or len(labels) != 2 or not all(isinstance(s, str) for s in labels):
        raise InputError("stratification.labels: must be two strings (lower stratum, upper stratum)")
    variable = t.text("variable", "STRAT1R")
    out = Stratification(endpoint=endpoint, cut=cut, variable=variable, labels=(labels[0], labels[1]))
    t.done()
    return out


def _parse_analysis(root: TomlTable, spec_endpoints: tuple[Endpoint, ...], schedule: tuple[int, ...]) -> Mapping[str, Any]:
    t = root.table("analysis", None)
    if t is None:
        return MappingProxyType({})
    names = [e.paramcd for e in spec_endpoints]
    if "endpoint" in t.data and t.data["endpoint"] not in names:
        raise InputError(f"analysis.endpoint: unknown endpoint {t.data['endpoint']!r} (endpoints: {', '.join(names)})")
    if "visit" in t.data and t.data["visit"] not in schedule:
        raise InputError(f"analysis.visit: week {t.data['visit']!r} is not a visit of the schedule ({list(schedule)})")
    if "alpha" in t.data:
        t.number("alpha", lower=0.0, upper=1.0, strict=True)
        if t.data["alpha"] >= 1:
            raise InputError(f"analysis.alpha: must be below 1, got {t.data['alpha']!r}")
    if "alternative" in t.data:
        t.text("alternative", choices=("one-sided", "two-sided"))
    return MappingProxyType(dict(t.data))


def parse_spec(text: str, *, source: str = "") -> TrialSpec:
    """Check a study spec given as TOML text and return it frozen.

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
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"spec: not valid TOML ({exc})") from None
    root = TomlTable(data, "")
    trial = root.table("trial")
    assert trial is not None
    name = trial.text("name")
    visits = _parse_visits(trial)
    arms = _parse_arms(trial, root.raw("arms"))
    endpoints = _parse_group(root, "endpoints", arms, visits)
    biomarkers = _parse_group(root, "biomarkers", arms, visits)
    clash = {e.paramcd for e in endpoints} & {b.paramcd for b in biomarkers}
    if clash:
        raise InputError(f"biomarkers.{min(clash)}: the PARAMCD is also an endpoint")
    pk = _parse_pk(root, visits)
    if pk is not None and pk.paramcd in {e.paramcd for e in endpoints + biomarkers}:
        raise InputError(f"pk.paramcd: {pk.paramcd!r} is also an endpoint or biomarker")
    safety, events = _parse_safety(root, arms)
    characteristics = _parse_characteristics(root, biomarkers)
    synthetic = trial.flag("synthetic", True)
    spec = TrialSpec(
        name=name,
        studyid=trial.text("studyid", name.upper() + ("-SYNTHETIC" if synthetic else "")),
        seed=trial.integer("seed", 0, lower=0),
        synthetic=synthetic,
        arms=arms,
        visits=visits,
        endpoints=endpoints,
        biomarkers=biomarkers,
        stratification=_parse_stratification(root, endpoints),
        demographics=_parse_demographics(root),
        pk=pk,
        dropout=_parse_dropout(root, arms, endpoints),
        safety=safety,
        adverse_events=events,
        dosing_interval=trial.integer("dosing_interval", 4, lower=1),
        visit_days=trial.integer("visit_days", 7, lower=1),
        description=trial.note("description"),
        source=trial.note("source", source),
        analysis=_parse_analysis(root, endpoints, visits),
        characteristics=characteristics,
        screening=_parse_screening(root, endpoints, characteristics),
    )
    if not spec.synthetic:
        raise InputError("trial.synthetic: a virtual trial is synthetic data; set synthetic = true")
    trial.done()
    root.done()
    return spec


def preset_path(name: str) -> Path:
    """Path of the packaged preset ``name`` (e.g. ``"a2201"``).

    Examples
    --------
    >>> preset_path("a2201").name
    'a2201.toml'
    """
    path = _PRESETS / f"{name.lower()}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in _PRESETS.glob("*.toml")))
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
