"""The analysis spec: a TOML description of what :func:`dosefinding.study.analyze` runs on ADaM data.

Every problem found while reading it raises :class:`~dosefinding.errors.InputError`
naming the key path at fault (``primary.endpoint: unknown endpoint 'ESSDAY'``); problems
found later against the data (a column, a visit or an arm missing) are reported by the
pipeline naming the key and the column. Paths of data files are relative to the spec
file. ``examples/a2201_analysis.toml`` and ``examples/cdiscpilot01_analysis.toml`` show
every table.

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

import operator
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from dosefinding.endpoints.differences import UNSTRATIFIED_METHODS, UNSTRATIFIED_TESTS
from dosefinding.errors import InputError
from dosefinding.files import read_text_file
from dosefinding.mmrm.covariance import COVARIANCE_STRUCTURES
from dosefinding.mmrm.fit import DF_METHODS
from dosefinding.study.toml_table import TomlTable

__all__ = [
    "AnalysisSpec",
    "ArmMap",
    "BaselineSpec",
    "CategorySpec",
    "DispositionSpec",
    "EndpointSpec",
    "ExposureSpec",
    "PrimarySpec",
    "ResponderSpec",
    "SafetySpec",
    "load_analysis_spec",
    "parse_analysis_spec",
]

_POPULATIONS = ("randomised", "full_analysis", "safety", "completed")
_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt, "==": operator.eq,
}
_CRITERION = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|==|<|>)\s*(-?[0-9.]+(?:[eE][-+]?[0-9]+)?)\s*$")


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
        return _OPERATORS[op](values, threshold).astype(float).where(values.notna())


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
    layout: str | Path = "csr"
    source: str = ""
    text: str = field(default="", repr=False)


def _strings(t: TomlTable, name: str, default: Any) -> tuple[str, ...]:
    value = t.raw(name, default)
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise InputError(f"{t.key(name)}: must be a list of column names, got {value!r}")
    return tuple(value)


def _visit(t: TomlTable, name: str, default: Any = None) -> float:
    return t.number(name, default) if default is not None or t.has(name) else t.number(name)


def _optional_visits(t: TomlTable) -> tuple[float, ...] | None:
    return t.numbers("visits") if t.has("visits") else None


def _filters(t: TomlTable, name: str) -> MappingProxyType[str, tuple[Any, ...]]:
    table = t.table(name, {})
    assert table is not None
    out = {}
    for column in list(table.data):
        value = table.raw(column)
        values = value if isinstance(value, list) else [value]
        if not values or not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in values):
            raise InputError(f"{table.key(column)}: must be a value or a list of values, got {value!r}")
        out[column] = tuple(values)
    table.done()
    return MappingProxyType(out)


def _population(t: TomlTable, populations: Mapping[str, str], default: str) -> str:
    name = t.text("population", default)
    if name not in populations:
        raise InputError(f"{t.key('population')}: {name!r} is not defined in [populations] "
                         f"({', '.join(populations) or 'none'})")
    return name


def _endpoint_ref(t: TomlTable, endpoints: Mapping[str, EndpointSpec]) -> str:
    name = t.text("endpoint")
    if name not in endpoints:
        raise InputError(f"{t.key('endpoint')}: unknown endpoint {name!r} (endpoints: {', '.join(endpoints)})")
    return name


def _data(root: TomlTable, base: Path) -> MappingProxyType[str, Path]:
    t = root.table("data")
    assert t is not None
    files = {}
    for name in list(t.data):
        files[name.lower()] = base / t.text(name)
    if "adsl" not in files:
        raise InputError("data.adsl: missing (the subject-level dataset gives arms and populations)")
    t.done()
    return MappingProxyType(files)


def _dataset(t: TomlTable, data: Mapping[str, Path], default: Any = None) -> str:
    name = t.text("dataset") if default is None else t.text("dataset", default)
    if name.lower() not in data:
        raise InputError(f"{t.key('dataset')}: {name!r} is not a dataset of [data] ({', '.join(data)})")
    return name.lower()


def _arms(root: TomlTable) -> ArmMap:
    t = root.table("arms")
    assert t is not None
    variable = t.text("variable", "TRT01P")
    doses_table = t.table("doses")
    assert doses_table is not None
    doses = {arm: doses_table.number(arm, lower=0.0) for arm in list(doses_table.data)}
    if len(doses) < 2:
        raise InputError("arms.doses: needs at least two arms")
    placebo = [a for a, d in doses.items() if d == 0]
    if len(placebo) != 1:
        raise InputError(f"arms.doses: exactly one arm must have dose 0 (placebo), got {placebo}")
    if len(set(doses.values())) != len(doses):
        raise InputError(f"arms.doses: two arms have the same dose ({doses})")
    t.done()
    return ArmMap(variable=variable, doses=MappingProxyType(doses))


def _endpoint(name: str, value: object, data: Mapping[str, Path], populations: Mapping[str, str],
              group: str = "endpoints") -> EndpointSpec:
    t = TomlTable(value, f"{group}.{name}")
    out = EndpointSpec(
        name=name,
        dataset=_dataset(t, data),
        paramcd=t.text("paramcd", name),
        label=t.note("label", name) or name,
        response=t.text("response", "CHG"),
        visit=t.text("visit", "AVISITN"),
        visit_label=t.text("visit_label", "AVISIT"),
        visits=_optional_visits(t),
        primary_visit=_visit(t, "primary_visit"),
        covariates=_strings(t, "covariates", ["BASE"]),
        factors=_strings(t, "factors", []),
        covariance=t.text("covariance", "us", choices=COVARIANCE_STRUCTURES),
        df_method=t.text("df_method", "satterthwaite", choices=DF_METHODS),
        population=_population(t, populations, "full_analysis"),
        where=_filters(t, "where"),
        exclude=_filters(t, "exclude"),
        model=t.text("model", "mmrm", choices=("mmrm", "ancova")),  # type: ignore[arg-type]
        unit=t.note("unit", ""),
        required=t.flag("required", True),
    )
    unused = [f for f in out.factors if f not in {n for term in out.covariates for n in re.split(r"[:*]", term)}]
    if unused:
        raise InputError(f"{group}.{name}.factors: {unused} not among the covariates {list(out.covariates)}")
    if out.visits is not None and out.primary_visit not in out.visits:
        raise InputError(f"{group}.{name}.primary_visit: {out.primary_visit:g} is not one of visits "
                         f"{list(out.visits)}")
    t.done()
    return out


def _candidates(t: TomlTable) -> MappingProxyType[str, Any]:
    table = t.table("candidates")
    assert table is not None
    shapes = {}
    for shape in list(table.data):
        value = table.raw(shape)
        if value is True:
            value = None
        elif isinstance(value, bool):
            raise InputError(f"{table.key(shape)}: use true for a shape without guesstimates, or give them")
        shapes[shape] = value
    if not shapes:
        raise InputError(f"{table.path}: needs at least one candidate shape")
    table.done()
    return MappingProxyType(shapes)


def _primary(root: TomlTable, endpoints: Mapping[str, EndpointSpec]) -> PrimarySpec | None:
    t = root.table("primary", None)
    if t is None:
        return None
    endpoint = _endpoint_ref(t, endpoints)
    visit = t.number("visit", endpoints[endpoint].primary_visit)
    visits = endpoints[endpoint].visits
    if visits is not None and visit not in visits:
        raise InputError(f"primary.visit: {visit:g} is not a visit of endpoints.{endpoint}.visits {list(visits)}")
    delta = t.number("delta") if t.has("delta") else None
    out = PrimarySpec(
        endpoint=endpoint,
        visit=visit,
        candidates=_candidates(t),
        alpha=t.number("alpha", 0.025, lower=0.0, upper=0.5, strict=True),
        direction=t.text("direction", "decreasing", choices=("increasing", "decreasing")),  # type: ignore[arg-type]
        selection=t.text("selection", "AIC", choices=("AIC", "maxT", "aveAIC")),  # type: ignore[arg-type]
        delta=delta,
        df=t.text("df", "min", choices=("min", "normal")),  # type: ignore[arg-type]
        model_average_draws=t.integer("model_average_draws", 0, lower=0),
        seed=t.integer("seed", 0, lower=0),
    )
    if delta is not None and (delta < 0) != (out.direction == "decreasing"):
        raise InputError(f"primary.delta: {delta:g} must have the sign of the direction ({out.direction})")
    t.done()
    return out


def _criterion(t: TomlTable) -> tuple[str, str, float]:
    text = t.text("criterion")
    match = _CRITERION.match(text)
    if match is None:
        raise InputError(f"{t.key('criterion')}: must read 'COLUMN OP NUMBER' with OP one of "
                         f"{', '.join(_OPERATORS)}, e.g. 'CHG <= -3'; got {text!r}")
    return match.group(1), match.group(2), float(match.group(3))


def _responders(root: TomlTable, endpoints: Mapping[str, EndpointSpec]) -> tuple[ResponderSpec, ...]:
    value = root.raw("responders", [])
    if not isinstance(value, list):
        raise InputError("responders: must be an array of tables ([[responders]])")
    out = []
    for i, item in enumerate(value):
        t = TomlTable(item, f"responders[{i}]")
        endpoint = _endpoint_ref(t, endpoints)
        if t.has("criterion") == t.has("flag"):
            raise InputError(f"responders[{i}]: give either criterion (e.g. 'CHG <= -3') or flag (e.g. 'CRIT1FL')")
        out.append(ResponderSpec(
            name=t.text("name"), endpoint=endpoint, visit=t.number("visit", endpoints[endpoint].primary_visit),
            criterion=_criterion(t) if t.has("criterion") else None,
            flag=t.text("flag") if t.has("flag") else None,
            missing=t.text("missing", "non_responder", choices=("non_responder", "exclude")),  # type: ignore[arg-type]
            interval=t.text("interval", "newcombe", choices=UNSTRATIFIED_METHODS),
            test=t.text("test", "fisher", choices=UNSTRATIFIED_TESTS),
        ))
        t.done()
    names = [r.name for r in out]
    if len(set(names)) != len(names):
        raise InputError(f"responders: names must differ, got {names}")
    return tuple(out)


def _categories(root: TomlTable, endpoints: Mapping[str, EndpointSpec]) -> tuple[CategorySpec, ...]:
    value = root.raw("categories", [])
    if not isinstance(value, list):
        raise InputError("categories: must be an array of tables ([[categories]])")
    out = []
    for i, item in enumerate(value):
        t = TomlTable(item, f"categories[{i}]")
        endpoint = _endpoint_ref(t, endpoints)
        cuts = t.numbers("cut_points")
        labels = _strings(t, "labels", None)
        if len(labels) != len(cuts) + 1:
            raise InputError(f"categories[{i}].labels: needs {len(cuts) + 1} labels for {len(cuts)} cut points, "
                             f"got {len(labels)}")
        out.append(CategorySpec(
            name=t.text("name"), endpoint=endpoint, value=t.text("value", "AVAL"),
            visit=t.number("visit", endpoints[endpoint].primary_visit), cut_points=cuts, labels=labels,
            cut_belongs_to=t.text("cut_belongs_to", "upper", choices=("upper", "lower")),  # type: ignore[arg-type]
        ))
        t.done()
    return tuple(out)


def _safety(root: TomlTable, data: Mapping[str, Path]) -> SafetySpec | None:
    t = root.table("safety", None)
    if t is None:
        return None
    teae = t.note("teae", "TRTEMFL")
    out = SafetySpec(dataset=_dataset(t, data, "adae"), arm=t.text("arm", "TRT01A"), teae=teae or None,
                     min_percent=t.number("min_percent", 0.0, lower=0.0, upper=100.0))
    t.done()
    return out


def _endpoint_group(root: TomlTable, group_name: str, data: Mapping[str, Path],
                    populations: Mapping[str, str]) -> MappingProxyType[str, EndpointSpec]:
    group = root.table(group_name, {})
    assert group is not None
    out = {key: _endpoint(key, group.raw(key), data, populations, group_name) for key in list(group.data)}
    group.done()
    return MappingProxyType(out)


def _exposure(root: TomlTable, data: Mapping[str, Path], populations: Mapping[str, str]) -> MappingProxyType[
        str, ExposureSpec]:
    group = root.table("exposure", {})
    assert group is not None
    out = {}
    for name in list(group.data):
        t = TomlTable(group.raw(name), f"exposure.{name}")
        out[name] = ExposureSpec(
            name=name, dataset=_dataset(t, data), paramcd=t.text("paramcd", name), label=t.note("label", name) or name,
            unit=t.note("unit", ""), value=t.text("value", "AVAL"), visits=_optional_visits(t),
            population=_population(t, populations, "safety" if "safety" in populations else "randomised"),
        )
        t.done()
    group.done()
    return MappingProxyType(out)


def _disposition(root: TomlTable, data: Mapping[str, Path]) -> DispositionSpec:
    t = root.table("disposition", None)
    if t is None:
        return DispositionSpec()
    ds = t.text("ds").lower() if t.has("ds") else None
    if ds is not None and ds not in data:
        raise InputError(f"{t.key('ds')}: {ds!r} is not a dataset of [data] ({', '.join(data)})")
    out = DispositionSpec(status=t.text("status", "EOSSTT"), completed=t.text("completed", "COMPLETED"),
                          reason=t.text("reason", "DCSREAS"), ds=ds)
    t.done()
    return out


def _layout(root: TomlTable, base: Path) -> str | Path:
    t = root.table("report", None)
    if t is None:
        return "csr"
    name = t.text("layout", "csr")
    t.done()
    return base / name if name.endswith(".toml") else name


def parse_analysis_spec(text: str, *, base: str | PathLike[str] = ".", source: str = "") -> AnalysisSpec:
    """Check an analysis spec given as TOML text and return it frozen.

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
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"spec: not valid TOML ({exc})") from None
    root = TomlTable(document, "")
    study = root.table("study")
    assert study is not None
    name = study.text("name")
    data = _data(root, Path(base))
    pops = root.table("populations")
    assert pops is not None
    populations = {}
    for key in list(pops.data):
        if key not in _POPULATIONS:
            raise InputError(f"populations.{key}: unknown population (expected {', '.join(_POPULATIONS)})")
        populations[key] = pops.text(key)
    if "randomised" not in populations:
        raise InputError("populations.randomised: missing (the ADSL flag of randomised subjects, e.g. RANDFL)")
    arms = _arms(root)
    baseline = None
    b = root.table("baseline", None)
    if b is not None:
        variables = b.table("variables")
        assert variables is not None
        labels = {column: variables.note(column) or column for column in list(variables.data)}
        baseline = BaselineSpec(variables=MappingProxyType(labels), categorical=_strings(b, "categorical", []),
                                population=_population(b, populations, "randomised"))
        variables.done()
        b.done()
    endpoints = _endpoint_group(root, "endpoints", data, populations)
    responders = _responders(root, endpoints)
    spec = AnalysisSpec(
        name=name,
        title=study.note("title", f"{name}: dose-finding analysis") or name,
        subtitle=study.note("subtitle"),
        synthetic=study.flag("synthetic", False),
        subject=study.text("subject", "USUBJID"),
        data=data,
        populations=MappingProxyType(populations),
        arms=arms,
        baseline=baseline,
        endpoints=MappingProxyType(endpoints),
        primary=_primary(root, endpoints),
        responders=responders,
        categories=_categories(root, endpoints),
        safety=_safety(root, data),
        biomarkers=_endpoint_group(root, "biomarkers", data, populations),
        exposure=_exposure(root, data, populations),
        disposition=_disposition(root, data),
        layout=_layout(root, Path(base)),
        source=source,
        text=text,
    )
    for key in ("full_analysis",):
        needed = [e.name for e in (*endpoints.values(), *spec.biomarkers.values()) if e.population == key]
        if needed and key not in populations:
            raise InputError(f"populations.{key}: missing, needed by endpoints {needed}")
    if spec.safety is not None and "safety" not in populations:
        raise InputError("populations.safety: missing, needed by [safety]")
    pops.done()
    study.done()
    root.done()
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
