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
    Anything,
    Check,
    Filters,
    Flag,
    Integer,
    KeyNames,
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
    "IMPUTATIONS", "OPERATORS", "SENSITIVITY_METHODS", "STRATEGIES", "AnalysisDocument", "ArmsTable",
    "BaselineTable", "CategoryTable", "DispositionTable", "EndpointTable", "EstimandTable", "ExposureTable",
    "ImputationTable", "IntercurrentEventTable", "PopulationsTable", "PrimaryTable", "ReportTable", "ResponderTable", "SafetyTable",
    "SensitivityTable", "StudyTable", "TippingPointTable",
]

OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt, "==": operator.eq,
}
"""The comparison operators of a responder criterion."""
STRATEGIES = ("treatment_policy", "hypothetical", "composite", "while_on_treatment")
"""The strategies of ICH E9(R1) for an intercurrent event."""
IMPUTATIONS = ("MAR", "J2R", "CR", "CIR")
"""How values missing after an intercurrent event are imputed: missing at random, jump to reference,
copy reference, copy increments in reference."""
SENSITIVITY_METHODS = (*IMPUTATIONS, "delta")
"""The methods of a sensitivity analysis: an imputation of every event's missing values, or ``delta`` (the
primary imputation shifted by a delta per visit)."""
_VISIT_KEY = r"-?[0-9]+(\.[0-9]+)?"
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
    estimand: Annotated[str | None, Text()] = Field(
        None, description="The primary estimand of the endpoint (NAME of [estimands]); its strategies give the "
                          "analysed data.")

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


class IntercurrentEventTable(SpecModel):
    """``[[estimands.<NAME>.events]]``: an intercurrent event, the ADaM variables that carry it, and its strategy.

    The event is read either from a date (``date``, a column of ADSL: a subject has the event when the date is
    given and the ``where`` filter holds) or from a record flag (``flag``, ``"Y"`` on the records on or after the
    event, in the endpoint's dataset or ``dataset``).
    """

    name: Annotated[str, Text()] = Field(description="Name of the event, e.g. 'Discontinuation of treatment'.")
    strategy: Annotated[str, Text(STRATEGIES)] = Field(
        description="treatment_policy (values after the event used as observed), hypothetical (values after it "
                    "set missing), composite (values after it set to value), while_on_treatment (values up to it).")
    date: Annotated[str | None, Text()] = Field(
        None, description="ADSL date of the event (e.g. TRTEDT, RESCDT): the first visit affected is the one after "
                          "the subject's last record dated on or before it.")
    where: Annotated[Mapping[str, tuple[Any, ...]], Filters()] = Field(
        default_factory=lambda: MappingProxyType({}),
        description="With date: ADSL column to the value or values of the subjects with the event "
                    "(e.g. {EOTSTT = \"DISCONTINUED\"}); default every subject with a date.")
    flag: Annotated[str | None, Text()] = Field(
        None, description="Record flag ('Y', 'y', 1 or true) on the records on or after the event (e.g. RESCFL); "
                          "the first visit flagged is the first affected.")
    dataset: Annotated[str | None, Text()] = Field(
        None, description="With flag: the dataset of [data] with the flag; default the endpoint's.")
    imputation: Annotated[str | None, Text(IMPUTATIONS)] = Field(
        None, description="How values missing after the event are imputed by multiple imputation: MAR, J2R, CR or "
                          "CIR; default J2R for treatment_policy, MAR otherwise.")
    value: Annotated[float | str | None, Anything({"anyOf": [{"type": "number"}, {"const": "worst"}]})] = Field(
        None, description="composite: the response at the visits after the event, a number or 'worst' (the worst "
                          "response observed at the visit, by the estimand's better).")

    @model_validator(mode="after")
    def _source(self) -> Self:
        if (self.date is None) == (self.flag is None):
            fail("give either date (an ADSL date, e.g. 'TRTEDT') or flag (a record flag, e.g. 'RESCFL')")
        if self.where and self.date is None:
            fail("only with date (the ADSL rows with the event)", ".where")
        if self.dataset is not None and self.flag is None:
            fail("only with flag (the dataset with the record flag)", ".dataset")
        if self.strategy == "composite":
            if self.value is None:
                fail("missing (composite: the response after the event, a number or 'worst')", ".value")
            if isinstance(self.value, bool) or not (isinstance(self.value, (int, float)) or self.value == "worst"):
                fail(f"must be a number or 'worst', got {self.value!r}", ".value")
        elif self.value is not None:
            fail(f"only with strategy composite, not {self.strategy}", ".value")
        if self.strategy == "composite" and self.imputation is not None:
            fail("not with strategy composite (no value after the event is missing)", ".imputation")
        return self


class SensitivityTable(SpecModel):
    """``[[estimands.<NAME>.sensitivity]]``: a sensitivity analysis by multiple imputation."""

    name: Annotated[str, Text()] = Field(description="Name of the sensitivity analysis.")
    method: Annotated[str, Text(SENSITIVITY_METHODS)] = Field(
        description="MAR, J2R, CR or CIR (every event's missing values imputed so), or delta (the primary "
                    "imputation, then deltas added).")
    reference: Annotated[str | None, Text()] = Field(
        None, description="Reference arm of J2R, CR and CIR (an arm of [arms]); default placebo.")
    deltas: Annotated[dict[str, Annotated[float, Number()]], KeyNames(
        _VISIT_KEY, "must be a visit (a number; quote a decimal, e.g. \"24.5\")")] = Field(
        default_factory=dict, description="Visit to the delta added to the imputed values there (after the event), "
                                          "in the unit of the response, e.g. {12 = 1.0, 24 = 2.0}.")
    arms: Annotated[tuple[str, ...] | None, Names(what="arms", empty=False)] = Field(
        None, description="Arms whose imputed values get the deltas (arms of [arms]); default every arm but "
                          "placebo (the usual MNAR assumption: patients leaving an active arm fare worse).")

    @model_validator(mode="after")
    def _deltas(self) -> Self:
        if self.method == "delta" and not self.deltas:
            fail("missing (method delta needs a delta per visit, e.g. {24 = 2.0})", ".deltas")
        if self.arms is not None and self.method != "delta":
            fail(f"only with method delta, not {self.method}", ".arms")
        if self.reference is not None and self.method not in ("J2R", "CR", "CIR"):
            fail(f"only with J2R, CR or CIR, not {self.method}", ".reference")
        return self


class ImputationTable(SpecModel):
    """``[estimands.<NAME>.imputation]``: how the sensitivity analyses impute (dosefinding.imputation)."""

    method: Annotated[Literal["condmean", "approx_bayes", "bayes"], Text(("condmean", "approx_bayes", "bayes"))] = Field(
        "condmean", description="condmean (conditional mean imputation, deterministic), approx_bayes (REML on "
                                "bootstrap samples) or bayes (posterior draws by data augmentation).")
    resampling: Annotated[Literal["jackknife", "bootstrap"], Text(("jackknife", "bootstrap"))] = Field(
        "jackknife", description="Standard errors of condmean: jackknife or bootstrap.")
    n_samples: Annotated[int, Integer(lower=2)] = Field(
        100, description="Bootstrap samples or posterior draws (not used by the jackknife).")
    analysis: Annotated[Literal["ancova", "mmrm"], Text(("ancova", "mmrm"))] = Field(
        "ancova", description="Analysis of each imputed data set: ANCOVA at each visit, or the MMRM.")
    seed: Annotated[int, Integer(lower=0)] = Field(0, description="Seed of the draws and imputations.")


class TippingPointTable(SpecModel):
    """``[estimands.<NAME>.tipping_point]``: the delta at which the primary conclusion changes."""

    deltas: Annotated[tuple[float, ...], Numbers()] = Field(
        description="The grid of deltas added to the imputed values of the active arms, increasing, in the unit "
                    "of the response, e.g. [0, 1, 2, 3, 4].")
    arm: Annotated[str | None, Text()] = Field(
        None, description="The arm of the primary contrast (arm minus placebo); default the highest dose.")
    alpha: Annotated[float, Number(lower=0.0, upper=0.5, strict=True)] = Field(
        0.05, description="Two-sided level of the primary contrast.")

    @model_validator(mode="after")
    def _increasing(self) -> Self:
        if len(self.deltas) < 2 or any(b <= a for a, b in zip(self.deltas, self.deltas[1:], strict=False)):
            fail(f"need at least two values in increasing order, got {list(self.deltas)}", ".deltas")
        return self


class EstimandTable(SpecModel):
    """``[estimands.<NAME>]``: an estimand of an endpoint (ICH E9(R1)): population, variable, intercurrent events
    with their strategies, summary measure, and its sensitivity analyses."""

    endpoint: Annotated[str, Text()] = Field(description="The endpoint (NAME of [endpoints] or [biomarkers]).")
    population: Annotated[str | None, Text()] = Field(
        None, description="The population of [populations]; default the endpoint's.")
    variable: Annotated[str | None, Note()] = Field(
        None, description="The variable, e.g. 'change from baseline in ESSDAI at week 24'; default from the "
                          "endpoint's response, label and primary visit.")
    summary_measure: Annotated[str, Text()] = Field(
        "difference in means to placebo", description="The population-level summary, e.g. 'difference in LS "
                                                      "means to placebo' or 'dose-response (MCP-Mod)'.")
    better: Annotated[Literal["lower", "higher"] | None, Text(("lower", "higher"))] = Field(
        None, description="Which responses are better (needed by a composite value 'worst').")
    events: Annotated[tuple[IntercurrentEventTable, ...], Tables("must be an array of tables ([[estimands.NAME."
                                                                  "events]])")] = Field(
        (), description="The intercurrent events; when a subject has two, the first (then the first listed) rules.")
    sensitivity: Annotated[tuple[SensitivityTable, ...], Tables("must be an array of tables ([[estimands.NAME."
                                                                "sensitivity]])")] = Field(
        (), description="Sensitivity analyses by multiple imputation.")
    imputation: ImputationTable | None = Field(
        None, description="How the sensitivity analyses impute; default conditional mean imputation with jackknife.")
    tipping_point: TippingPointTable | None = Field(
        None, description="A tipping-point analysis over a grid of deltas (on the primary imputation).")

    @model_validator(mode="after")
    def _names(self) -> Self:
        for kind, tables in (("events", self.events), ("sensitivity", self.sensitivity)):
            names = [t.name for t in tables]
            if len(set(names)) != len(names):
                fail(f"names must differ, got {names}", f".{kind}")
        for i, event in enumerate(self.events):
            if event.value == "worst" and self.better is None:
                fail(f"missing (events[{i}] has composite value 'worst': say whether lower or higher is better)",
                     ".better")
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
    estimands: dict[str, EstimandTable] = Field(
        default_factory=dict, description="Estimands by NAME (ICH E9(R1)); an endpoint names its primary one.")
    disposition: DispositionTable | None = Field(None, description="Where the disposition is read.")
    report: ReportTable | None = Field(None, description="The layout of the report.")
