"""The tables of an analysis spec as pydantic models: types, bounds, defaults and a description of every key.

:func:`dosefinding.study.analysis_spec.parse_analysis_spec` checks a TOML document against
:class:`AnalysisDocument` with :func:`~dosefinding.study.validation.validate`, then checks the
names that refer to other tables (datasets of ``[data]``, populations, endpoints) while it
builds the :class:`~dosefinding.study.analysis_spec.AnalysisSpec`. The JSON Schema of the spec
is generated from these models (:func:`dosefinding.study.schema.spec_json_schema`).

Examples
--------
>>> from dosefinding.study.validation import validate
>>> validate(ArmsTable, {"doses": {"Placebo": 0, "High": 0}}, "arms")
Traceback (most recent call last):
...
dosefinding.errors.InputError: arms.doses: exactly one arm must have dose 0 (placebo), got ['Placebo', 'High']
"""

import operator
import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Annotated, Any, Literal, Self

from pydantic import Field, model_validator

from dosefinding.endpoints.differences import UNSTRATIFIED_METHODS, UNSTRATIFIED_TESTS
from dosefinding.mmrm.covariance import COVARIANCE_STRUCTURES
from dosefinding.mmrm.fit import DF_METHODS
from dosefinding.study.validation import (
    Check,
    Filters,
    Flag,
    Integer,
    Names,
    Note,
    Number,
    Numbers,
    SpecModel,
    Tables,
    Text,
    fail,
)

__all__ = [
    "OPERATORS", "AnalysisDocument", "ArmsTable", "BaselineTable", "CategoryTable", "DispositionTable",
    "EndpointTable", "ExposureTable", "PopulationsTable", "PrimaryTable", "ReportTable", "ResponderTable",
    "SafetyTable", "StudyTable",
]

OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt, "==": operator.eq,
}
"""The comparison operators of a responder criterion."""
_CRITERION = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|==|<|>)\s*(-?[0-9.]+(?:[eE][-+]?[0-9]+)?)\s*$")


class Candidates(Check):
    """Candidate shapes to their guesstimates (``true`` for a shape without any)."""

    def check(self, value: Any) -> MappingProxyType[str, Any]:
        if not isinstance(value, Mapping):
            fail(f"must be a table, got {value!r}")
        shapes = {}
        for shape, given in value.items():
            if isinstance(given, bool) and not given:
                fail("use true for a shape without guesstimates, or give them", f".{shape}")
            shapes[shape] = None if given is True else given
        if not shapes:
            fail("needs at least one candidate shape")
        return MappingProxyType(shapes)

    def json(self) -> dict[str, Any]:
        guess = {"anyOf": [{"const": True}, {"type": "number"}, {"type": "array"}]}
        return {"type": "object", "additionalProperties": guess, "minProperties": 1}


class Criterion(Check):
    """A responder criterion ``COLUMN OP NUMBER`` (e.g. ``CHG <= -3``) as (column, operator, threshold)."""

    def check(self, value: Any) -> tuple[str, str, float]:
        text = Text().check(value)
        match = _CRITERION.match(text)
        if match is None:
            fail(f"must read 'COLUMN OP NUMBER' with OP one of {', '.join(OPERATORS)}, e.g. 'CHG <= -3'; got {text!r}")
        return match.group(1), match.group(2), float(match.group(3))

    def json(self) -> dict[str, Any]:
        return {"type": "string", "pattern": _CRITERION.pattern}


class DataFiles(Check):
    """Dataset name (lower case) to its file; ``adsl`` required."""

    def check(self, value: Any) -> dict[str, str]:
        if not isinstance(value, Mapping):
            fail(f"must be a table, got {value!r}")
        files = {name.lower(): Text().at(path, f".{name}") for name, path in value.items()}
        if "adsl" not in files:
            fail("missing (the subject-level dataset gives arms and populations)", ".adsl")
        return files

    def json(self) -> dict[str, Any]:
        return {"type": "object", "additionalProperties": {"type": "string", "minLength": 1}, "required": ["adsl"]}


class StudyTable(SpecModel):
    """``[study]``: names and titles of the report."""

    name: Annotated[str, Text()] = Field(description="Short name of the study.")
    title: Annotated[str | None, Note()] = Field(
        None, description="Title of the report; default 'NAME: dose-finding analysis'.")
    subtitle: Annotated[str, Note()] = Field("", description="Subtitle of the report.")
    synthetic: Annotated[bool, Flag()] = Field(False, description="The data are simulated (the report says so).")
    subject: Annotated[str, Text()] = Field("USUBJID", description="The subject identifier column.")


class PopulationsTable(SpecModel):
    """``[populations]``: each population an ADSL flag variable (``== "Y"``)."""

    unknown = "unknown population"

    randomised: Annotated[str | None, Text()] = Field(
        None, description="ADSL flag of randomised subjects (e.g. RANDFL); required.")
    full_analysis: Annotated[str | None, Text()] = Field(
        None, description="ADSL flag of the full analysis set (e.g. FASFL).")
    safety: Annotated[str | None, Text()] = Field(None, description="ADSL flag of the safety set (e.g. SAFFL).")
    completed: Annotated[str | None, Text()] = Field(None, description="ADSL flag of completers (e.g. COMPLFL).")

    @model_validator(mode="after")
    def _randomised(self) -> Self:
        if self.randomised is None:
            fail("missing (the ADSL flag of randomised subjects, e.g. RANDFL)", ".randomised")
        return self


class ArmsTable(SpecModel):
    """``[arms]``: the arm variable and the dose of each arm, in display order."""

    variable: Annotated[str, Text()] = Field("TRT01P", description="ADSL arm variable (e.g. TRT01P).")
    doses: dict[str, Annotated[float, Number(lower=0.0)]] = Field(
        description="Arm to dose, in display order and the unit of the trial (e.g. mg); exactly one dose 0 (placebo).")

    @model_validator(mode="after")
    def _one_placebo(self) -> Self:
        doses = self.doses
        if len(doses) < 2:
            fail("needs at least two arms", ".doses")
        placebo = [a for a, d in doses.items() if d == 0]
        if len(placebo) != 1:
            fail(f"exactly one arm must have dose 0 (placebo), got {placebo}", ".doses")
        if len(set(doses.values())) != len(doses):
            fail(f"two arms have the same dose ({doses})", ".doses")
        return self


class BaselineTable(SpecModel):
    """``[baseline]``: Table 1, baseline characteristics by arm."""

    variables: dict[str, Annotated[str, Note()]] = Field(
        description="ADSL column to its label (an empty label: the column name).")
    categorical: Annotated[tuple[str, ...], Names()] = Field((), description="Columns summarised by level.")
    population: Annotated[str, Text()] = Field("randomised", description="The population of [populations].")


class EndpointTable(SpecModel):
    """``[endpoints.<NAME>]`` or ``[biomarkers.<NAME>]``: a continuous endpoint analysed by an MMRM or an ANCOVA."""

    dataset: Annotated[str, Text()] = Field(description="The dataset of [data] with the endpoint (BDS).")
    paramcd: Annotated[str | None, Text()] = Field(None, description="PARAMCD of the endpoint; default NAME.")
    label: Annotated[str | None, Note()] = Field(None, description="Label in the report; default NAME.")
    response: Annotated[str, Text()] = Field("CHG", description="Response column (e.g. CHG, AVAL).")
    visit: Annotated[str, Text()] = Field("AVISITN", description="Numeric visit column.")
    visit_label: Annotated[str, Text()] = Field("AVISIT", description="Visit label column.")
    visits: Annotated[tuple[float, ...] | None, Numbers()] = Field(
        None, description="The analysed visits (values of the visit column); default all but the baseline visit 0.")
    primary_visit: Annotated[float, Number()] = Field(description="The primary visit (a value of the visit column).")
    covariates: Annotated[tuple[str, ...], Names()] = Field(
        ("BASE",), description="Model terms besides arm and visit (e.g. BASE, STRAT1R, BASE:AVISIT).")
    factors: Annotated[tuple[str, ...], Names()] = Field(
        (), description="Numeric columns of the covariates treated as categorical (e.g. site codes).")
    covariance: Annotated[str, Text(COVARIANCE_STRUCTURES)] = Field(
        "us", description="Covariance structure of the MMRM (as SAS TYPE=).")
    df_method: Annotated[str, Text(DF_METHODS)] = Field(
        "satterthwaite", description="Denominator degrees of freedom (as SAS DDFM=).")
    population: Annotated[str, Text()] = Field("full_analysis", description="The population of [populations].")
    where: Annotated[Mapping[str, tuple[Any, ...]], Filters()] = Field(
        default_factory=lambda: MappingProxyType({}), description="Row filter: column to the allowed value or values.")
    exclude: Annotated[Mapping[str, tuple[Any, ...]], Filters()] = Field(
        default_factory=lambda: MappingProxyType({}), description="Row filter: column to the excluded value or values.")
    model: Annotated[Literal["mmrm", "ancova"], Text(("mmrm", "ancova"))] = Field(
        "mmrm", description="mmrm, or ancova: the primary visit alone, response ~ arm + covariates.")
    unit: Annotated[str, Note()] = Field("", description="Unit of the response.")
    required: Annotated[bool, Flag()] = Field(
        True, description="false: a PARAMCD absent from the data is skipped with a warning instead of an error.")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        terms = {n for term in self.covariates for n in re.split(r"[:*]", term)}
        unused = [f for f in self.factors if f not in terms]
        if unused:
            fail(f"{unused} not among the covariates {list(self.covariates)}", ".factors")
        if self.visits is not None and self.primary_visit not in self.visits:
            fail(f"{self.primary_visit:g} is not one of visits {list(self.visits)}", ".primary_visit")
        return self


class PrimaryTable(SpecModel):
    """``[primary]``: MCP-Mod on the primary endpoint's LS means at the primary visit."""

    endpoint: Annotated[str, Text()] = Field(description="The endpoint (NAME of [endpoints]).")
    visit: Annotated[float | None, Number()] = Field(None, description="The visit; default the endpoint's primary.")
    candidates: Annotated[Mapping[str, Any], Candidates()] = Field(
        description="Candidate shape to its guesstimates (as dosefinding.shapes.Candidates takes them; true for none).")
    alpha: Annotated[float, Number(lower=0.0, upper=0.5, strict=True)] = Field(
        0.025, description="One-sided level of the MCP step.")
    direction: Annotated[Literal["increasing", "decreasing"], Text(("increasing", "decreasing"))] = Field(
        "decreasing", description="The direction of benefit.")
    selection: Annotated[Literal["AIC", "maxT", "aveAIC"], Text(("AIC", "maxT", "aveAIC"))] = Field(
        "AIC", description="Model selection or averaging among the significant shapes.")
    delta: Annotated[float | None, Number()] = Field(
        None, description="Target effect over placebo, signed as the direction, in the unit of the endpoint.")
    df: Annotated[Literal["min", "normal"], Text(("min", "normal"))] = Field(
        "min", description="Degrees of freedom of the MCP step: the smallest of the LS means', or normal.")
    model_average_draws: Annotated[int, Integer(lower=0)] = Field(
        0, description="Bootstrap draws of bagged model averaging (0: none).")
    seed: Annotated[int, Integer(lower=0)] = Field(0, description="Seed of the draws.")

    @model_validator(mode="after")
    def _signed_delta(self) -> Self:
        if self.delta is not None and (self.delta < 0) != (self.direction == "decreasing"):
            fail(f"{self.delta:g} must have the sign of the direction ({self.direction})", ".delta")
        return self


class ResponderTable(SpecModel):
    """``[[responders]]``: a responder definition at one visit, by a criterion or an ADaM flag."""

    name: Annotated[str, Text()] = Field(description="Name of the responder analysis.")
    endpoint: Annotated[str, Text()] = Field(description="The endpoint (NAME of [endpoints]).")
    visit: Annotated[float | None, Number()] = Field(None, description="The visit; default the endpoint's primary.")
    criterion: Annotated[tuple[str, str, float] | None, Criterion()] = Field(
        None, description="'COLUMN OP NUMBER', e.g. 'CHG <= -3'.")
    flag: Annotated[str | None, Text()] = Field(None, description="An ADaM flag (== 'Y'), e.g. CRIT1FL.")
    missing: Annotated[Literal["non_responder", "exclude"], Text(("non_responder", "exclude"))] = Field(
        "non_responder", description="A missing outcome counts as non-responder, or is excluded.")
    interval: Annotated[str, Text(UNSTRATIFIED_METHODS)] = Field(
        "newcombe", description="Interval of the difference to placebo (santner_snell: exact unconditional).")
    test: Annotated[str, Text(UNSTRATIFIED_TESTS)] = Field("fisher", description="Test of its p-value.")

    @model_validator(mode="after")
    def _criterion_or_flag(self) -> Self:
        if (self.criterion is None) == (self.flag is None):
            fail("give either criterion (e.g. 'CHG <= -3') or flag (e.g. 'CRIT1FL')")
        return self


class CategoryTable(SpecModel):
    """``[[categories]]``: categories of a value at one visit, cut at cut points."""

    name: Annotated[str, Text()] = Field(description="Name of the categorical analysis.")
    endpoint: Annotated[str, Text()] = Field(description="The endpoint (NAME of [endpoints]).")
    value: Annotated[str, Text()] = Field("AVAL", description="The column cut.")
    visit: Annotated[float | None, Number()] = Field(None, description="The visit; default the endpoint's primary.")
    cut_points: Annotated[tuple[float, ...], Numbers()] = Field(description="Cut points, in the unit of the value.")
    labels: Annotated[tuple[str, ...], Names()] = Field(description="One label more than cut points.")
    cut_belongs_to: Annotated[Literal["upper", "lower"], Text(("upper", "lower"))] = Field(
        "upper", description="The category a value equal to a cut point belongs to.")

    @model_validator(mode="after")
    def _labels(self) -> Self:
        if len(self.labels) != len(self.cut_points) + 1:
            fail(f"needs {len(self.cut_points) + 1} labels for {len(self.cut_points)} cut points, "
                 f"got {len(self.labels)}", ".labels")
        return self


class SafetyTable(SpecModel):
    """``[safety]``: the adverse-event tables."""

    dataset: Annotated[str, Text()] = Field("adae", description="The dataset of [data] with the adverse events.")
    arm: Annotated[str, Text()] = Field("TRT01A", description="ADSL arm received.")
    teae: Annotated[str, Note()] = Field("TRTEMFL", description="Treatment-emergent flag; '' for none.")
    min_percent: Annotated[float, Number(lower=0.0, upper=100.0)] = Field(
        0.0, description="Preferred terms shown: those of at least this incidence in some arm (percent).")


class ExposureTable(SpecModel):
    """``[exposure.<NAME>]``: a drug level or cell count summarised as mean and SD by arm and visit."""

    dataset: Annotated[str, Text()] = Field(description="The dataset of [data].")
    paramcd: Annotated[str | None, Text()] = Field(None, description="PARAMCD; default NAME.")
    label: Annotated[str | None, Note()] = Field(None, description="Label in the report; default NAME.")
    unit: Annotated[str, Note()] = Field("", description="Unit of the value.")
    value: Annotated[str, Text()] = Field("AVAL", description="The column summarised.")
    visits: Annotated[tuple[float, ...] | None, Numbers()] = Field(None, description="The visits; default all.")
    population: Annotated[str | None, Text()] = Field(
        None, description="The population of [populations]; default safety, else randomised.")


class DispositionTable(SpecModel):
    """``[disposition]``: where the disposition is read."""

    status: Annotated[str, Text()] = Field("EOSSTT", description="ADSL end-of-study status.")
    completed: Annotated[str, Text()] = Field("COMPLETED", description="Its value for completers.")
    reason: Annotated[str, Text()] = Field(
        "DCSREAS", description="ADSL reason for discontinuation (DCDECOD in older ADaM).")
    ds: Annotated[str | None, Text()] = Field(
        None, description="A DS-like dataset of [data] with screening records (DSSCAT, DSDECOD, DSTERM).")


class ReportTable(SpecModel):
    """``[report]``: the layout of the report."""

    layout: Annotated[str, Text()] = Field(
        "csr", description="A built-in layout (a2201-paper, csr) or a layout TOML file relative to the spec.")


class AnalysisDocument(SpecModel):
    """An analysis spec: what dosefinding.study.analyze runs on ADaM data."""

    study: StudyTable = Field(description="Names and titles.")
    data: Annotated[dict[str, str], DataFiles()] = Field(
        description="Dataset name to file relative to the spec (.xpt, .csv or .parquet); adsl required.")
    populations: PopulationsTable = Field(description="The analysis populations.")
    arms: ArmsTable = Field(description="The arms and doses.")
    baseline: BaselineTable | None = Field(None, description="Baseline characteristics (Table 1).")
    endpoints: dict[str, EndpointTable] = Field(default_factory=dict, description="Continuous endpoints by NAME.")
    primary: PrimaryTable | None = Field(None, description="MCP-Mod on the primary endpoint.")
    responders: Annotated[tuple[ResponderTable, ...], Tables("must be an array of tables ([[responders]])")] = Field(
        (), description="Responder analyses.")
    categories: Annotated[tuple[CategoryTable, ...], Tables("must be an array of tables ([[categories]])")] = Field(
        (), description="Categorical analyses.")
    safety: SafetyTable | None = Field(None, description="Adverse-event tables.")
    biomarkers: dict[str, EndpointTable] = Field(
        default_factory=dict, description="Biomarkers by NAME, analysed as endpoints.")
    exposure: dict[str, ExposureTable] = Field(default_factory=dict, description="Drug levels, cell counts by NAME.")
    disposition: DispositionTable | None = Field(None, description="Where the disposition is read.")
    report: ReportTable | None = Field(None, description="The layout of the report.")
