"""The analysis spec: a TOML description of what :func:`dosefinding.study.analyze` runs on ADaM data.

Every problem found while reading it raises :class:`~dosefinding.errors.InputError`
naming the key path at fault (``primary.endpoint: unknown endpoint 'ESSDAY'``); problems
found later against the data (a column, a visit or an arm missing) are reported by the
pipeline naming the key and the column. Paths of data files are relative to the spec
file. ``examples/a2201_analysis.toml`` and ``examples/cdiscpilot01_analysis.toml`` show
every table.
The tables are the pydantic models of :mod:`dosefinding.study.analysis_schema`, checked by
the validator of both specs (:mod:`dosefinding.study.validation`); their JSON Schema is
:func:`dosefinding.study.schema.spec_json_schema` (``dosefinding schema analysis``).

Tables of an analysis spec:

``[study]``
    ``name``, ``title``, ``synthetic`` (the data are simulated; default false),
    ``subject`` (default ``USUBJID``), ``subtitle``.
``[data]``
    Dataset name to file (``adsl`` required; ``.xpt``, ``.csv`` or ``.parquet``).
``[populations]``
    ``randomised``, ``full_analysis``, ``safety`` and optionally ``completed``: each an
    ADSL flag variable (``== "Y"``), e.g. ``RANDFL``, ``FASFL``, ``SAFFL``.
``[arms]``
    ``variable`` (ADSL, e.g. ``TRT01P``), ``doses`` (arm to dose, in display order;
    exactly one dose 0, placebo).
``[baseline]``
    ``variables`` (ADSL column to label), ``categorical`` (columns summarised by level),
    ``population`` (default ``randomised``).
``[endpoints.<NAME>]``
    ``dataset``, ``paramcd`` (default NAME), ``label``, ``response`` (default ``CHG``),
    ``visit`` (numeric visit variable, default ``AVISITN``), ``visit_label`` (default
    ``AVISIT``), ``visits`` (analysed visits, default all but the baseline visit 0),
    ``primary_visit``, ``covariates`` (model terms, e.g. ``["BASE", "STRAT1R"]``),
    ``factors`` (numeric columns of the covariates to treat as categorical, e.g. site codes),
    ``covariance`` (default ``us``), ``df_method`` (default ``satterthwaite``),
    ``population`` (default ``full_analysis``), ``where`` (column to allowed values) and
    ``exclude`` (column to excluded values) row filters, ``model`` (``mmrm``, default, or
    ``ancova``: the primary visit alone, ``response ~ arm + covariates``), ``unit``,
    ``required`` (default true; false: a PARAMCD absent from the data is skipped with a
    warning instead of an error).
``[primary]``
    ``endpoint``, ``visit`` (default the endpoint's primary visit), ``candidates``
    (shape to guesstimates as :class:`~dosefinding.shapes.Candidates` takes them; ``true``
    for shapes without any), ``alpha``, ``direction``, ``selection`` (``AIC``, ``maxT``,
    ``aveAIC``), ``delta`` (target effect, signed), ``df`` (``"min"`` or ``"normal"``),
    ``model_average_draws`` (0: no bagging), ``seed``.
``[[responders]]``
    ``name``, ``endpoint``, ``visit``, and either ``criterion`` (``"CHG <= -3"``) or
    ``flag`` (an ADaM flag such as ``CRIT1FL``); ``missing`` (``non_responder`` or
    ``exclude``); ``interval``, the interval of the difference to placebo (a key of
    :data:`~dosefinding.endpoints.differences.UNSTRATIFIED_METHODS`, default ``newcombe``;
    ``santner_snell``, the exact unconditional interval, reproduces A2201's published 8.2
    to 46.4); ``test``, the test of its p-value (``fisher``, default, or ``chisq``).
``[[categories]]``
    ``name``, ``endpoint``, ``value`` (default ``AVAL``), ``visit``, ``cut_points``,
    ``labels``, ``cut_belongs_to`` (``upper`` or ``lower``).
``[safety]``
    ``dataset`` (default ``adae``), ``arm`` (ADSL, default ``TRT01A``), ``teae`` (flag,
    default ``TRTEMFL``; ``""`` for none), ``min_percent`` (preferred terms shown).
``[biomarkers.<NAME>]``
    As ``[endpoints.<NAME>]``: LS-mean change from baseline and differences to placebo
    (``model = "ancova"`` for one visit, e.g. week 24).
``[exposure.<NAME>]``
    ``dataset``, ``paramcd`` (default NAME), ``label``, ``unit``, ``value`` (default
    ``AVAL``), ``visits`` (default all), ``population`` (default ``safety``): mean and SD
    by arm, dose and visit (drug levels, cell counts).
``[estimands.<NAME>]``
    An estimand (ICH E9(R1)): ``endpoint`` (NAME of ``[endpoints]`` or ``[biomarkers]``), ``population``
    (default the endpoint's), ``variable``, ``summary_measure``, ``better`` (``lower`` or ``higher``),
    ``[[estimands.<NAME>.events]]`` (intercurrent events: ``name``, ``strategy`` — ``treatment_policy``,
    ``hypothetical``, ``composite`` or ``while_on_treatment`` —, either ``date`` (an ADSL date, e.g.
    ``TRTEDT``) with ``where`` (ADSL filter, e.g. ``{EOTSTT = "DISCONTINUED"}``) or ``flag`` (a record flag,
    e.g. ``RESCFL``) with ``dataset``; ``imputation`` (``MAR``, ``J2R``, ``CR``, ``CIR``); composite ``value``)
    and ``[[estimands.<NAME>.sensitivity]]`` (``name``, ``method`` — ``MAR``, ``J2R``, ``CR``, ``CIR`` or
    ``delta`` —, ``reference`` arm, ``deltas`` by visit), run by :mod:`dosefinding.study.sensitivity` as
    ``[estimands.<NAME>.imputation]`` says (``method`` ``condmean``, ``approx_bayes`` or ``bayes``,
    ``resampling``, ``n_samples``, ``analysis`` ``ancova`` or ``mmrm``, ``seed``; default conditional mean
    imputation with jackknife and ANCOVA), and ``[estimands.<NAME>.tipping_point]`` (``deltas``, ``arm``,
    ``alpha``): the delta at which the primary conclusion changes. An endpoint names its primary estimand with
    ``estimand = "<NAME>"``; :mod:`dosefinding.study.estimands` builds the analysis data by strategy.
``[disposition]``
    ``status`` (ADSL end-of-study status, default ``EOSSTT``), ``completed`` (its value for
    completers, default ``COMPLETED``), ``reason`` (ADSL reason for discontinuation,
    default ``DCSREAS``; ``DCDECOD`` in older ADaM), ``ds`` (a DS-like dataset of [data]
    with screening records: ``DSSCAT``, ``DSDECOD``, ``DSTERM``). Without a status column
    completion is read from ``reason`` (``== completed``), else from ``populations.completed``.
``[report]``
    ``layout``: a built-in layout (``a2201-paper``, ``csr``) or a layout TOML file relative
    to the spec (:mod:`dosefinding.report.layout`); default ``csr``.
Examples
--------
>>> spec = parse_analysis_spec('''
... [study]
... name = "tiny"
... [data]
... adsl = "adsl.csv"
... adeff = "adeff.csv"
... [populations]
... randomised = "RANDFL"
... full_analysis = "FASFL"
... [arms]
... variable = "TRT01P"
... doses = {Placebo = 0, High = 100}
... [endpoints.SCORE]
... dataset = "adeff"
... primary_visit = 8
... [primary]
... endpoint = "SCORE"
... candidates = {linear = true, emax = 20}
... ''')
>>> spec.primary.endpoint, spec.primary.visit, spec.arms.doses["High"]
('SCORE', 8.0, 100.0)
>>> parse_analysis_spec(spec.text.replace('endpoint = "SCORE"', 'endpoint = "SCOR"'))
Traceback (most recent call last):
...
dosefinding.errors.InputError: primary.endpoint: unknown endpoint 'SCOR' (endpoints: SCORE)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from dosefinding.errors import InputError
from dosefinding.files import read_text_file
from dosefinding.study.analysis_schema import (
    OPERATORS,
    AnalysisDocument,
    CategoryTable,
    DispositionTable,
    EndpointTable,
    EstimandTable,
    ExposureTable,
    PrimaryTable,
    ResponderTable,
)
from dosefinding.study.validation import read_toml, validate

__all__ = [
    "AnalysisSpec",
    "ArmMap",
    "BaselineSpec",
    "CategorySpec",
    "DispositionSpec",
    "EndpointSpec",
    "EstimandSpec",
    "ExposureSpec",
    "ImputationSpec",
    "IntercurrentEvent",
    "PrimarySpec",
    "ResponderSpec",
    "SafetySpec",
    "SensitivitySpec",
    "TippingPointSpec",
    "load_analysis_spec",
    "parse_analysis_spec",
]

@dataclass(frozen=True)
class ArmMap:
    """The arm variable (ADSL) and the dose of each arm, in display order; placebo has dose 0."""

    variable: str
    doses: Mapping[str, float]

    @property
    def placebo(self) -> str:
        """The arm with dose 0."""
        return next(a for a, d in self.doses.items() if d == 0)

    @property
    def names(self) -> tuple[str, ...]:
        """Arms in display order."""
        return tuple(self.doses)


@dataclass(frozen=True)
class BaselineSpec:
    """Table 1: ADSL columns with labels, those summarised by level, and the population."""

    variables: Mapping[str, str]
    categorical: tuple[str, ...] = ()
    population: str = "randomised"


@dataclass(frozen=True)
class EndpointSpec:
    """A continuous endpoint analysed by an MMRM of ``response`` by arm and visit."""

    name: str
    dataset: str
    paramcd: str
    label: str
    response: str
    visit: str
    visit_label: str
    visits: tuple[float, ...] | None
    primary_visit: float
    covariates: tuple[str, ...]
    factors: tuple[str, ...]
    covariance: str
    df_method: str
    population: str
    where: Mapping[str, tuple[Any, ...]]
    exclude: Mapping[str, tuple[Any, ...]]
    model: Literal["mmrm", "ancova"] = "mmrm"
    unit: str = ""
    required: bool = True
    estimand: str | None = None


@dataclass(frozen=True)
class IntercurrentEvent:
    """An intercurrent event of an estimand: where it is read (an ADSL ``date`` with ``where``, or a record
    ``flag`` of ``dataset``) and its ``strategy``; ``imputation`` of the values missing after it (MAR, J2R, CR,
    CIR; ``None`` for composite), ``value`` the composite response (a number or ``"worst"``)."""

    name: str
    strategy: Literal["treatment_policy", "hypothetical", "composite", "while_on_treatment"]
    date: str | None = None
    where: Mapping[str, tuple[Any, ...]] = field(default_factory=lambda: MappingProxyType({}))
    flag: str | None = None
    dataset: str | None = None
    imputation: str | None = None
    value: float | str | None = None


@dataclass(frozen=True)
class SensitivitySpec:
    """A sensitivity analysis: ``method`` (MAR, J2R, CR, CIR or delta), the ``reference`` arm of J2R, CR and CIR,
    ``deltas`` (visit to the delta added to imputed values after the event) and the ``arms`` whose imputed values
    get them."""

    name: str
    method: str
    reference: str | None = None
    deltas: Mapping[float, float] = field(default_factory=lambda: MappingProxyType({}))
    arms: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImputationSpec:
    """How an estimand's sensitivity analyses impute (arguments of :func:`dosefinding.imputation.mmrm_draws` and
    :func:`dosefinding.imputation.analyse`)."""

    method: Literal["condmean", "approx_bayes", "bayes"] = "condmean"
    resampling: Literal["jackknife", "bootstrap"] = "jackknife"
    n_samples: int = 100
    analysis: Literal["ancova", "mmrm"] = "ancova"
    seed: int = 0


@dataclass(frozen=True)
class TippingPointSpec:
    """A tipping-point analysis: the grid of ``deltas``, the ``arm`` of the primary contrast (None: the highest
    dose) and its two-sided ``alpha``."""

    deltas: tuple[float, ...]
    arm: str | None = None
    alpha: float = 0.05


@dataclass(frozen=True)
class EstimandSpec:
    """An estimand (ICH E9(R1)): endpoint, population, variable, intercurrent events with their strategies,
    summary measure, and sensitivity analyses."""

    name: str
    endpoint: str
    population: str
    variable: str
    summary_measure: str
    events: tuple[IntercurrentEvent, ...] = ()
    sensitivity: tuple[SensitivitySpec, ...] = ()
    better: Literal["lower", "higher"] | None = None
    imputation: ImputationSpec = field(default_factory=ImputationSpec)
    tipping_point: TippingPointSpec | None = None


@dataclass(frozen=True)
class PrimarySpec:
    """MCP-Mod on the primary endpoint's LS means at the primary visit."""

    endpoint: str
    visit: float
    candidates: Mapping[str, Any]
    alpha: float = 0.025
    direction: Literal["increasing", "decreasing"] = "decreasing"
    selection: Literal["AIC", "maxT", "aveAIC"] = "AIC"
    delta: float | None = None
    df: Literal["min", "normal"] = "min"
    model_average_draws: int = 0
    seed: int = 0


@dataclass(frozen=True)
class ResponderSpec:
    """A responder definition at one visit: ``criterion`` (column, operator, threshold) or an ADaM ``flag``."""

    name: str
    endpoint: str
    visit: float
    criterion: tuple[str, str, float] | None
    flag: str | None
    missing: Literal["non_responder", "exclude"] = "non_responder"
    interval: str = "newcombe"
    test: str = "fisher"

    def respond(self, frame: Any) -> Any:
        """1.0 / 0.0 per row of ``frame`` (NaN where the outcome is missing)."""
        if self.flag is not None:
            return (frame[self.flag] == "Y").astype(float)
        column, op, threshold = self.criterion  # type: ignore[misc]
        values = frame[column].astype(float)
        return OPERATORS[op](values, threshold).astype(float).where(values.notna())


@dataclass(frozen=True)
class CategorySpec:
    """Categories of ``value`` at one visit, cut at ``cut_points``."""

    name: str
    endpoint: str
    value: str
    visit: float
    cut_points: tuple[float, ...]
    labels: tuple[str, ...]
    cut_belongs_to: Literal["upper", "lower"] = "upper"


@dataclass(frozen=True)
class SafetySpec:
    """The adverse-event tables: dataset, arm received, treatment-emergent flag, preferred terms shown."""

    dataset: str = "adae"
    arm: str = "TRT01A"
    teae: str | None = "TRTEMFL"
    min_percent: float = 0.0


@dataclass(frozen=True)
class ExposureSpec:
    """A drug level or cell count summarised as mean and SD by arm (dose) and visit."""

    name: str
    dataset: str
    paramcd: str
    label: str
    unit: str
    value: str
    visits: tuple[float, ...] | None
    population: str


@dataclass(frozen=True)
class DispositionSpec:
    """Where the disposition is read: ADSL status and reason columns, and an optional DS-like dataset."""

    status: str = "EOSSTT"
    completed: str = "COMPLETED"
    reason: str = "DCSREAS"
    ds: str | None = None


@dataclass(frozen=True)
class AnalysisSpec:
    """A checked analysis spec (see the module docstring for its tables)."""

    name: str
    title: str
    subtitle: str
    synthetic: bool
    subject: str
    data: Mapping[str, Path]
    populations: Mapping[str, str]
    arms: ArmMap
    baseline: BaselineSpec | None
    endpoints: Mapping[str, EndpointSpec]
    primary: PrimarySpec | None
    responders: tuple[ResponderSpec, ...]
    categories: tuple[CategorySpec, ...]
    safety: SafetySpec | None
    biomarkers: Mapping[str, EndpointSpec]
    exposure: Mapping[str, ExposureSpec] = field(default_factory=dict)
    disposition: DispositionSpec = field(default_factory=DispositionSpec)
    estimands: Mapping[str, EstimandSpec] = field(default_factory=dict)
    layout: str | Path = "csr"
    source: str = ""
    text: str = field(default="", repr=False)


def _population(name: str, key: str, populations: Mapping[str, str]) -> str:
    if name not in populations:
        raise InputError(f"{key}: {name!r} is not defined in [populations] ({', '.join(populations) or 'none'})")
    return name


def _endpoint_ref(name: str, key: str, endpoints: Mapping[str, EndpointSpec]) -> str:
    if name not in endpoints:
        raise InputError(f"{key}: unknown endpoint {name!r} (endpoints: {', '.join(endpoints)})")
    return name


def _dataset(name: str, key: str, data: Mapping[str, Path]) -> str:
    if name.lower() not in data:
        raise InputError(f"{key}: {name!r} is not a dataset of [data] ({', '.join(data)})")
    return name.lower()


def _endpoint(name: str, t: EndpointTable, key: str, data: Mapping[str, Path],
              populations: Mapping[str, str]) -> EndpointSpec:
    return EndpointSpec(
        name=name, dataset=_dataset(t.dataset, f"{key}.dataset", data), paramcd=t.paramcd or name,
        label=t.label or name, response=t.response, visit=t.visit, visit_label=t.visit_label, visits=t.visits,
        primary_visit=t.primary_visit, covariates=t.covariates, factors=t.factors, covariance=t.covariance,
        df_method=t.df_method, population=_population(t.population, f"{key}.population", populations),
        where=t.where, exclude=t.exclude, model=t.model, unit=t.unit, required=t.required, estimand=t.estimand,
    )


def _endpoint_group(group: str, tables: Mapping[str, EndpointTable], data: Mapping[str, Path],
                    populations: Mapping[str, str]) -> MappingProxyType[str, EndpointSpec]:
    return MappingProxyType({name: _endpoint(name, t, f"{group}.{name}", data, populations)
                             for name, t in tables.items()})


def _event(t: Any, key: str, data: Mapping[str, Path]) -> IntercurrentEvent:
    imputation = t.imputation
    if imputation is None and t.strategy != "composite":
        imputation = "J2R" if t.strategy == "treatment_policy" else "MAR"
    dataset = None if t.dataset is None else _dataset(t.dataset, f"{key}.dataset", data)
    return IntercurrentEvent(name=t.name, strategy=t.strategy, date=t.date, where=t.where, flag=t.flag,
                             dataset=dataset, imputation=imputation, value=t.value)


def _estimands(tables: Mapping[str, EstimandTable], endpoints: Mapping[str, EndpointSpec], arms: ArmMap,
               data: Mapping[str, Path], populations: Mapping[str, str]) -> MappingProxyType[str, EstimandSpec]:
    out = {}
    for name, t in tables.items():
        key = f"estimands.{name}"
        endpoint = endpoints[_endpoint_ref(t.endpoint, f"{key}.endpoint", endpoints)]
        sensitivity = []
        for i, s in enumerate(t.sensitivity):
            where = f"{key}.sensitivity[{i}]"
            reference = s.reference
            if reference is None and s.method in ("J2R", "CR", "CIR"):
                reference = arms.placebo
            if reference is not None and reference not in arms.doses:
                raise InputError(f"{where}.reference: arm {reference!r} does not exist (arms: {', '.join(arms.names)})")
            deltas = {float(v): d for v, d in s.deltas.items()}
            unknown = [v for v in deltas if endpoint.visits is not None and v not in endpoint.visits]
            if unknown:
                raise InputError(f"{where}.deltas: visit {unknown[0]:g} does not exist (visits of "
                                 f"endpoints.{endpoint.name}: {[f'{v:g}' for v in endpoint.visits or ()]})")
            shifted = tuple(s.arms) if s.arms is not None else tuple(a for a in arms.names if a != arms.placebo)
            absent = [a for a in shifted if a not in arms.doses]
            if s.method == "delta" and absent:
                raise InputError(f"{where}.arms: arm {absent[0]!r} does not exist (arms: {', '.join(arms.names)})")
            sensitivity.append(SensitivitySpec(name=s.name, method=s.method, reference=reference,
                                               deltas=MappingProxyType(deltas),
                                               arms=shifted if s.method == "delta" else ()))
        tipping = None
        if t.tipping_point is not None:
            arm = t.tipping_point.arm
            if arm is not None and (arm not in arms.doses or arm == arms.placebo):
                raise InputError(f"{key}.tipping_point.arm: {arm!r} is not an active arm (arms: "
                                 f"{', '.join(a for a in arms.names if a != arms.placebo)})")
            tipping = TippingPointSpec(deltas=tuple(t.tipping_point.deltas), arm=arm, alpha=t.tipping_point.alpha)
        imputation = ImputationSpec() if t.imputation is None else ImputationSpec(**t.imputation.model_dump())
        variable = t.variable or f"{endpoint.response} of {endpoint.label} at visit {endpoint.primary_visit:g}"
        out[name] = EstimandSpec(
            name=name, endpoint=endpoint.name,
            population=_population(t.population or endpoint.population, f"{key}.population", populations),
            variable=variable, summary_measure=t.summary_measure,
            events=tuple(_event(e, f"{key}.events[{i}]", data) for i, e in enumerate(t.events)),
            sensitivity=tuple(sensitivity), better=t.better, imputation=imputation, tipping_point=tipping)
    for endpoint in endpoints.values():
        if endpoint.estimand is None:
            continue
        estimand = out.get(endpoint.estimand)
        if estimand is None:
            raise InputError(f"endpoints.{endpoint.name}.estimand: unknown estimand {endpoint.estimand!r} "
                             f"(estimands: {', '.join(out) or 'none'})")
        if estimand.endpoint != endpoint.name:
            raise InputError(f"endpoints.{endpoint.name}.estimand: estimand {endpoint.estimand!r} is one of "
                             f"endpoint {estimand.endpoint!r}")
    return MappingProxyType(out)


def _primary(t: PrimaryTable | None, endpoints: Mapping[str, EndpointSpec]) -> PrimarySpec | None:
    if t is None:
        return None
    endpoint = endpoints[_endpoint_ref(t.endpoint, "primary.endpoint", endpoints)]
    visit = endpoint.primary_visit if t.visit is None else t.visit
    if endpoint.visits is not None and visit not in endpoint.visits:
        raise InputError(f"primary.visit: {visit:g} is not a visit of endpoints.{endpoint.name}.visits "
                         f"{list(endpoint.visits)}")
    return PrimarySpec(endpoint=endpoint.name, visit=visit, candidates=t.candidates, alpha=t.alpha,
                       direction=t.direction, selection=t.selection, delta=t.delta, df=t.df,
                       model_average_draws=t.model_average_draws, seed=t.seed)


def _responders(tables: tuple[ResponderTable, ...],
                endpoints: Mapping[str, EndpointSpec]) -> tuple[ResponderSpec, ...]:
    out = []
    for i, t in enumerate(tables):
        endpoint = endpoints[_endpoint_ref(t.endpoint, f"responders[{i}].endpoint", endpoints)]
        out.append(ResponderSpec(
            name=t.name, endpoint=endpoint.name, visit=endpoint.primary_visit if t.visit is None else t.visit,
            criterion=t.criterion, flag=t.flag, missing=t.missing, interval=t.interval, test=t.test))
    names = [r.name for r in out]
    if len(set(names)) != len(names):
        raise InputError(f"responders: names must differ, got {names}")
    return tuple(out)


def _categories(tables: tuple[CategoryTable, ...],
                endpoints: Mapping[str, EndpointSpec]) -> tuple[CategorySpec, ...]:
    out = []
    for i, t in enumerate(tables):
        endpoint = endpoints[_endpoint_ref(t.endpoint, f"categories[{i}].endpoint", endpoints)]
        out.append(CategorySpec(
            name=t.name, endpoint=endpoint.name, value=t.value,
            visit=endpoint.primary_visit if t.visit is None else t.visit, cut_points=t.cut_points, labels=t.labels,
            cut_belongs_to=t.cut_belongs_to))
    return tuple(out)


def _exposure(tables: Mapping[str, ExposureTable], data: Mapping[str, Path],
              populations: Mapping[str, str]) -> MappingProxyType[str, ExposureSpec]:
    default = "safety" if "safety" in populations else "randomised"
    return MappingProxyType({name: ExposureSpec(
        name=name, dataset=_dataset(t.dataset, f"exposure.{name}.dataset", data), paramcd=t.paramcd or name,
        label=t.label or name, unit=t.unit, value=t.value, visits=t.visits,
        population=_population(t.population or default, f"exposure.{name}.population", populations),
    ) for name, t in tables.items()})


def _disposition(t: DispositionTable | None, data: Mapping[str, Path]) -> DispositionSpec:
    if t is None:
        return DispositionSpec()
    ds = None if t.ds is None else _dataset(t.ds, "disposition.ds", data)
    return DispositionSpec(status=t.status, completed=t.completed, reason=t.reason, ds=ds)


def parse_analysis_spec(text: str, *, base: str | PathLike[str] = ".", source: str = "") -> AnalysisSpec:
    """Check an analysis spec given as TOML text and return it frozen.

    The tables are checked against :class:`~dosefinding.study.analysis_schema.AnalysisDocument`
    (its JSON Schema: :func:`dosefinding.study.schema.spec_json_schema`), then the names that
    refer to other tables (datasets, populations, endpoints).

    Parameters
    ----------
    text
        The TOML document (see the module docstring for its tables).
    base
        Directory the data paths are relative to (the spec file's directory).
    source
        Where the text came from.

    Returns
    -------
    AnalysisSpec

    Raises
    ------
    InputError
        Naming the key path at fault.

    Examples
    --------
    >>> parse_analysis_spec('[study]\\nname = "x"\\n[data]\\nadeff = "e.csv"')
    Traceback (most recent call last):
    ...
    dosefinding.errors.InputError: data.adsl: missing (the subject-level dataset gives arms and populations)
    """
    doc = validate(AnalysisDocument, read_toml(text))
    base = Path(base)
    data = MappingProxyType({name: base / path for name, path in doc.data.items()})
    populations = {key: value for key, value in doc.populations if value is not None}
    baseline = None
    if doc.baseline is not None:
        b = doc.baseline
        baseline = BaselineSpec(variables=MappingProxyType({c: label or c for c, label in b.variables.items()}),
                                categorical=b.categorical,
                                population=_population(b.population, "baseline.population", populations))
    endpoints = _endpoint_group("endpoints", doc.endpoints, data, populations)
    biomarkers = _endpoint_group("biomarkers", doc.biomarkers, data, populations)
    arms = ArmMap(variable=doc.arms.variable, doses=MappingProxyType(dict(doc.arms.doses)))
    responders = _responders(doc.responders, endpoints)
    safety = None
    if doc.safety is not None:
        s = doc.safety
        safety = SafetySpec(dataset=_dataset(s.dataset, "safety.dataset", data), arm=s.arm, teae=s.teae or None,
                            min_percent=s.min_percent)
    layout: str | Path = "csr" if doc.report is None else doc.report.layout
    study = doc.study
    spec = AnalysisSpec(
        name=study.name,
        title=(f"{study.name}: dose-finding analysis" if study.title is None else study.title) or study.name,
        subtitle=study.subtitle,
        synthetic=study.synthetic,
        subject=study.subject,
        data=data,
        populations=MappingProxyType(populations),
        arms=arms,
        baseline=baseline,
        endpoints=endpoints,
        primary=_primary(doc.primary, endpoints),
        responders=responders,
        categories=_categories(doc.categories, endpoints),
        safety=safety,
        biomarkers=biomarkers,
        exposure=_exposure(doc.exposure, data, populations),
        disposition=_disposition(doc.disposition, data),
        estimands=_estimands(doc.estimands, {**endpoints, **biomarkers}, arms, data, populations),
        layout=base / layout if str(layout).endswith(".toml") else layout,
        source=source,
        text=text,
    )
    if spec.safety is not None and "safety" not in populations:
        raise InputError("populations.safety: missing, needed by [safety]")
    return spec


def load_analysis_spec(path: str | PathLike[str]) -> AnalysisSpec:
    """Read an analysis spec from a TOML file; data paths are relative to the file.

    Examples
    --------
    >>> import tempfile, os
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     file = os.path.join(tmp, "spec.toml")
    ...     _ = open(file, "w").write('[study]\\nname = "x"\\n[data]\\nadsl = "adsl.csv"\\n[populations]\\n'
    ...                               'randomised = "RANDFL"\\n[arms]\\ndoses = {P = 0, D = 1}\\n')
    ...     load_analysis_spec(file).data["adsl"] == Path(tmp) / "adsl.csv"
    True
    """
    file = Path(path)
    return parse_analysis_spec(read_text_file(file, "spec"), base=file.parent, source=str(file))
