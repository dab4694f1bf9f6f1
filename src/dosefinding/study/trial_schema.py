"""The tables of a trial spec as pydantic models: types, bounds, defaults and a description of every key.

:func:`dosefinding.study.spec.parse_spec` checks a TOML document against :class:`TrialDocument`
with :func:`~dosefinding.study.validation.validate`, then checks what needs several tables
(arms against per-arm lists, visits against the schedule, endpoints named elsewhere) while it
builds the :class:`~dosefinding.study.spec.TrialSpec`. The JSON Schema of the spec is
generated from these models (:func:`dosefinding.study.schema.spec_json_schema`).

Examples
--------
>>> from dosefinding.study.validation import validate
>>> validate(TrialDocument, {"trial": {"name": "x", "visits": [4, 2]}, "arms": [], "endpoints": {}})
Traceback (most recent call last):
...
dosefinding.errors.InputError: trial.visits: weeks must be strictly increasing, got [4, 2]
"""

import itertools
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Self

from pydantic import ConfigDict, Field, model_validator

from dosefinding.study.analysis_schema import Candidates as CandidateShapes
from dosefinding.study.validation import (
    Anything,
    Before,
    Check,
    DateRange,
    Flag,
    Integer,
    KeyNames,
    Names,
    Note,
    Number,
    NumberOrNumbers,
    Numbers,
    Shares,
    SpecModel,
    Tables,
    Text,
    fail,
)

__all__ = [
    "AdverseEventTable", "AnalysisTable", "ArmTable", "BaselineTable", "ChangeTable", "CharacteristicTable",
    "ClassesTable", "CorrelationTable", "DemographicsTable", "DiscontinuationTable", "DoseResponseTable",
    "DropoutTable", "EndpointTable", "PKTable", "RangeTable", "RescueTable", "SafetyTable", "ScreeningTable", "StratificationTable", "TrialDocument", "TrialTable",
    "Weeks",
]

SEVERITIES = ("MILD", "MODERATE", "SEVERE")
"""The CDISC severities of an adverse event, in order."""


class Weeks(Check):
    """A non-empty list of weeks after the first dose; ``schedule``: strictly increasing positive whole weeks."""

    def __init__(self, schedule: bool = False) -> None:
        self.schedule = schedule

    def check(self, value: Any) -> tuple[int, ...]:
        if not isinstance(value, list) or not value:
            fail(f"must be a non-empty list of weeks, got {value!r}")
        if self.schedule:
            for i, v in enumerate(value):
                if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                    fail(f"must be a positive whole week, got {v!r}", f"[{i}]")
            if any(b <= a for a, b in itertools.pairwise(value)):
                fail(f"weeks must be strictly increasing, got {value}")
        return tuple(value)

    def json(self) -> dict[str, Any]:
        return {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1}


class Labels(Check):
    """Two strings: the labels of the lower and the upper stratum."""

    def check(self, value: Any) -> tuple[str, str]:
        if not isinstance(value, list) or len(value) != 2 or not all(isinstance(s, str) for s in value):
            fail("must be two strings (lower stratum, upper stratum)")
        return value[0], value[1]

    def json(self) -> dict[str, Any]:
        return {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 2}


_PARAMCD = KeyNames("[A-Za-z_][A-Za-z0-9_]{0,7}", "a PARAMCD is at most 8 letters, digits or underscores")
_ADSL_NAME = KeyNames("[A-Z_][A-Z0-9_]{0,7}", "an ADSL name is at most 8 upper-case letters, digits or _")
_PER_VISIT = "A number for every visit of trial.visits, or a list with one number per visit"
_PER_ARM = "A number for every arm, or a list with one number per arm in arm order"
_PROBABILITY = Number(lower=0.0, upper=1.0)


class TrialTable(SpecModel):
    """``[trial]``: the name, schedule and seed of the virtual trial."""

    name: Annotated[str, Text()] = Field(description="Short name of the trial.")
    studyid: Annotated[str | None, Text()] = Field(
        None, description="STUDYID of the datasets; default the name in upper case with '-SYNTHETIC'.")
    seed: Annotated[int, Integer(lower=0)] = Field(0, description="Seed of the random numbers.")
    synthetic: Annotated[bool, Flag()] = Field(
        True, description="The data are simulated; must be true for a virtual trial.")
    visits: Annotated[tuple[int, ...], Weeks(schedule=True)] = Field(
        description="The visits after baseline, in weeks after the first dose, strictly increasing.")
    visit_days: Annotated[int, Integer(lower=1)] = Field(7, description="Days per week of the schedule (days).")
    dosing_interval: Annotated[int, Integer(lower=1)] = Field(4, description="Weeks between doses (weeks).")
    total: Annotated[int | None, Integer(lower=1)] = Field(
        None, description="Number randomised in all, split by the arms' ratio (when the arms give no n).")
    description: Annotated[str, Note()] = Field("", description="Free text describing the trial.")
    source: Annotated[str | None, Note()] = Field(
        None, description="Where the assumptions come from; default the spec's file.")


class ArmTable(SpecModel):
    """``[[arms]]``: one arm, in increasing dose."""

    name: Annotated[str, Text()] = Field(description="Arm name (TRT01P).")
    dose: Annotated[float, Number(lower=0.0)] = Field(
        description="Dose (TRT01PN), in the unit of the trial (e.g. mg); 0 for placebo.")
    n: Annotated[int | None, Integer(lower=1)] = Field(
        None, description="Number randomised (patients); give n in every arm, or ratio in every arm with trial.total.")
    ratio: Annotated[float | None, Number(lower=0.0, strict=True)] = Field(
        None, description="Allocation ratio (with trial.total): sizes by largest remainders.")


class StratificationTable(SpecModel):
    """``[stratification]``: a randomisation stratum cut from an endpoint's baseline."""

    endpoint: Annotated[str, Text()] = Field(description="The endpoint (PARAMCD) whose baseline is cut.")
    cut: Annotated[float, Number()] = Field(
        description="The cut, in the endpoint's unit: a baseline of at least cut is the upper stratum.")
    variable: Annotated[str, Text()] = Field("STRAT1R", description="ADSL variable of the stratum.")
    labels: Annotated[tuple[str, str] | None, Labels()] = Field(
        None, description="Labels of the lower and upper stratum; default 'PARAMCD < cut' and 'PARAMCD >= cut'.")


class RangeTable(SpecModel):
    """A truncated normal distribution: ``mean``, ``sd``, ``lower``, ``upper``."""

    mean: Annotated[float, Number()] = Field(description="Mean, in the unit of the variable.")
    sd: Annotated[float, Number(lower=0.0, strict=True)] = Field(description="Standard deviation, same unit.")
    lower: Annotated[float | None, Number()] = Field(None, description="Lower truncation bound, same unit.")
    upper: Annotated[float | None, Number()] = Field(None, description="Upper truncation bound, same unit.")


class DemographicsTable(SpecModel):
    """``[demographics]``: distributions of age, sex, race, weight; sites and enrolment window."""

    age: RangeTable | None = Field(
        None, description="Age (years): mean, sd, lower, upper; default 50, 12, 18, 75.")
    weight: RangeTable | None = Field(
        None, description="Body weight (kg): mean, sd, lower, upper; default 72, 14, 40, 150.")
    female: Annotated[float, _PROBABILITY] = Field(0.5, description="Probability that a subject is female.")
    race: Annotated[dict[str, float] | None, Shares()] = Field(
        None, description="Shares by CDISC race term, adding up to 1; default all WHITE.")
    countries: Annotated[tuple[str, ...], Names("country codes", empty=False)] = Field(
        ("USA",), description="Country codes of the sites.")
    sites: Annotated[int | None, Integer()] = Field(
        None, description="Number of sites, at least one per country; default one per country.")
    enrolment: Annotated[tuple[Any, Any] | None, DateRange()] = Field(
        None, description="First and last date of enrolment (YYYY-MM-DD); default 2020-01-01 to 2020-12-31.")


class BaselineTable(SpecModel):
    """A baseline distribution: normal (truncated), gamma (``lower`` + a gamma variable) or lognormal."""

    distribution: Annotated[Literal["normal", "gamma", "lognormal"], Text(("normal", "gamma", "lognormal"))] = Field(
        description="normal (truncated to [lower, upper]), gamma (lower + a gamma variable) or lognormal.")
    mean: Annotated[float, Number()] = Field(description="Mean of the baseline, in the unit of the endpoint.")
    sd: Annotated[float, Number(lower=0.0, strict=True)] = Field(
        description="Standard deviation of the baseline, in the unit of the endpoint.")
    lower: Annotated[float | None, Number()] = Field(
        None, description="Lower bound (normal: truncation; gamma: the shift), in the unit of the endpoint.")
    upper: Annotated[float | None, Number()] = Field(
        None, description="Upper truncation bound of a normal baseline, in the unit of the endpoint.")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        lower, upper, mean = self.lower, self.upper, self.mean
        if lower is not None and upper is not None and upper <= lower:
            fail(f"must exceed lower ({lower:g}), got {upper:g}", ".upper")
        if self.distribution == "gamma" and upper is not None:
            fail("a gamma baseline has no upper bound (use limits)", ".upper")
        if self.distribution == "gamma" and mean <= (lower or 0.0):
            fail(f"a gamma baseline needs mean > lower, got {mean:g}", ".mean")
        if self.distribution == "lognormal" and mean <= 0:
            fail(f"a lognormal baseline needs mean > 0, got {mean:g}", ".mean")
        if self.distribution == "lognormal" and (lower is not None or upper is not None):
            fail("a lognormal baseline takes no lower/upper (use limits)")
        return self


class DoseResponseTable(SpecModel):
    """Values per arm: ``values`` (one per arm), or a dose-response ``shape`` with ``parameters`` at the arm doses."""

    values: Annotated[tuple[float, ...] | None, Numbers()] = Field(
        None, description="One value per arm, in arm order.")
    shape: Annotated[str | None, Text()] = Field(
        None, description="A dose-response shape of dosefinding.shapes (linear, emax, sigEmax, ...).")
    parameters: Annotated[tuple[float, ...] | None, Numbers()] = Field(
        None, description="The shape's parameters (e0, eMax, ed50, ...; doses in the unit of arms.dose).")
    constant: Annotated[Any, Anything({"anyOf": [
        {"type": "number"}, {"type": "array", "items": {"type": "number"}}]})] = Field(
        None, description="The shape's fixed constant (off, scal; the nodes of linint, a list of doses).")

    @model_validator(mode="after")
    def _one_way(self) -> Self:
        if self.values is not None:
            extra = [k for k in ("shape", "parameters", "constant") if getattr(self, k) is not None]
            if extra:
                fail("unknown key (expected values, or shape with parameters)", f".{extra[0]}")
        elif self.shape is None:
            fail("missing", ".shape")
        elif self.parameters is None:
            fail("missing", ".parameters")
        return self


class ChangeTable(SpecModel):
    """Mean change from baseline: ``placebo`` + ``effect`` x ``onset``, or ``means`` per arm and visit."""

    placebo: Annotated[float | tuple[float, ...], NumberOrNumbers()] = Field(
        0.0, description=f"Mean change on placebo, in the unit of the endpoint. {_PER_VISIT}.")
    effect: DoseResponseTable | None = Field(
        None, description="Effect over placebo at full onset, in the unit of the endpoint (0 at dose 0).")
    onset: Annotated[float | tuple[float, ...], NumberOrNumbers(lower=0.0)] = Field(
        1.0, description=f"Fraction of the full effect reached. {_PER_VISIT}.")
    means: dict[str, Annotated[tuple[float, ...], Numbers()]] | None = Field(
        None, description="Mean change per arm name and visit of trial.visits, instead of placebo/effect/onset.")

    @model_validator(mode="after")
    def _one_way(self) -> Self:
        if self.means is not None:
            extra = [k for k in ("placebo", "effect", "onset") if k in self.model_fields_set]
            if extra:
                fail("unknown key (expected means, or placebo, effect and onset)", f".{extra[0]}")
        return self


class CorrelationTable(SpecModel):
    """Correlation of the residuals over the visits: a ``structure`` with ``rho``, or a ``matrix``."""

    structure: Annotated[Literal["ar1", "cs", "independent"] | None, Text(("ar1", "cs", "independent"))] = Field(
        None, description="ar1 (rho to the power of the lag), cs (rho off the diagonal) or independent.")
    rho: Annotated[float | None, Number(lower=-1.0, upper=1.0)] = Field(
        None, description="Correlation of consecutive visits (ar1) or of any two visits (cs).")
    matrix: tuple[Annotated[tuple[float, ...], Numbers()], ...] | None = Field(
        None, description="The correlation matrix, one row per visit of trial.visits.")

    @model_validator(mode="after")
    def _one_way(self) -> Self:
        if self.matrix is not None:
            extra = [k for k in ("structure", "rho") if getattr(self, k) is not None]
            if extra:
                fail("unknown key (expected matrix, or structure with rho)", f".{extra[0]}")
        elif self.structure is None:
            fail("missing", ".structure")
        elif self.structure == "independent" and self.rho is not None:
            fail("unknown key (independent visits have no rho)", ".rho")
        elif self.structure != "independent" and self.rho is None:
            fail("missing", ".rho")
        return self


def _ar1(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {"structure": "ar1", "rho": value}
    return value


class ClassesTable(SpecModel):
    """A latent responder class: its probability per arm and the shift of its members' change per visit."""

    probability: DoseResponseTable = Field(description="Probability of the class per arm (values or shape).")
    shift: Annotated[float | tuple[float, ...], NumberOrNumbers()] = Field(
        description=f"Shift of a member's change, in the unit of the endpoint. {_PER_VISIT}.")
    sd: Annotated[float | tuple[float, ...] | None, NumberOrNumbers(lower=0.0, strict=True)] = Field(
        None, description=f"Residual SD of the members; default the endpoint's. {_PER_VISIT}.")
    baseline_slope: Annotated[float | None, Number()] = Field(
        None, description="Regression on baseline of the members; default the endpoint's.")


class EndpointTable(SpecModel):
    """``[endpoints.<PARAMCD>]`` or ``[biomarkers.<PARAMCD>]``: one repeatedly measured parameter."""

    label: Annotated[str | None, Text()] = Field(None, description="PARAM of the dataset; default the PARAMCD.")
    unit: Annotated[str, Note()] = Field("", description="Unit of the values.")
    scale: Annotated[Literal["identity", "log"], Text(("identity", "log"))] = Field(
        "identity", description="Scale of the model: identity, or log (needs a lognormal baseline).")
    decimals: Annotated[int | None, Integer(lower=0)] = Field(None, description="Decimals the values are rounded to.")
    limits: Annotated[tuple[float, ...] | None, Numbers(length=2, what="bounds")] = Field(
        None, description="Lower and upper limit the values are clipped to, in the unit of the endpoint.")
    visits: Annotated[tuple[int, ...] | None, Weeks()] = Field(
        None, description="The visits (weeks) reported, a subset of trial.visits; default all.")
    baseline: BaselineTable = Field(description="Distribution of the baseline value.")
    change: ChangeTable = Field(description="Mean change from baseline by arm and visit.")
    sd: Annotated[float | tuple[float, ...], NumberOrNumbers(lower=0.0, strict=True)] = Field(
        description=f"Residual SD of the change, in the unit of the endpoint (log scale: of the log). {_PER_VISIT}.")
    correlation: Annotated[CorrelationTable, Before(_ar1, {"type": "number", "minimum": -1, "maximum": 1})] = Field(
        CorrelationTable.model_validate({"structure": "independent"}),
        description="Correlation of the residuals: a number (ar1 rho), {structure, rho} or {matrix}.")
    baseline_slope: Annotated[float, Number()] = Field(
        0.0, description="Regression of the change on the baseline's deviation from its mean (regression to the mean).")
    classes: ClassesTable | None = Field(None, description="A latent responder class.")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.scale == "log" and self.baseline.distribution != "lognormal":
            fail("a log-scale endpoint needs a lognormal baseline", ".baseline.distribution")
        if self.limits is not None and self.limits[1] <= self.limits[0]:
            fail(f"upper limit must exceed lower, got [{self.limits[0]:g}, {self.limits[1]:g}]", ".limits")
        return self


class PKTable(SpecModel):
    """``[pk]``: trough drug levels from an accumulation model."""

    paramcd: Annotated[str, Text()] = Field("DRUGTRGH", description="PARAMCD of the drug level.")
    label: Annotated[str, Text()] = Field("Drug trough concentration", description="PARAM of the drug level.")
    unit: Annotated[str, Note()] = Field("", description="Unit of the levels (e.g. ng/mL).")
    trough_per_mg: Annotated[float, Number(lower=0.0, strict=True)] = Field(
        description="Trough after one dose of 1 unit of dose, in the unit of the levels.")
    exponent: Annotated[float, Number(lower=0.0, strict=True)] = Field(1.0, description="Power of the dose.")
    half_life: Annotated[float, Number(lower=0.0, strict=True)] = Field(description="Half-life (days).")
    between_cv: Annotated[float, Number(lower=0.0)] = Field(0.3, description="Between-subject CV (log-normal).")
    within_cv: Annotated[float, Number(lower=0.0)] = Field(0.2, description="Within-subject CV (log-normal).")
    visits: Annotated[tuple[int, ...] | None, Weeks()] = Field(
        None, description="The visits (weeks) with a level, a subset of trial.visits; default all.")
    decimals: Annotated[int | None, Integer(lower=0)] = Field(None, description="Decimals the levels are rounded to.")
    lloq: Annotated[float, Number(lower=0.0)] = Field(
        0.0, description="Lower limit of quantification, in the unit of the levels: below it AVAL = 0, BLQFL = 'Y'.")


class CharacteristicTable(SpecModel):
    """``[characteristics.<NAME>]``: a baseline characteristic of ADSL, a number or a Y/N flag."""

    label: Annotated[str, Text()] = Field(description="Label of the ADSL column.")
    baseline: BaselineTable | None = Field(None, description="Distribution of a numeric characteristic.")
    decimals: Annotated[int | None, Integer(lower=0)] = Field(
        None, description="Decimals a numeric characteristic is rounded to.")
    probability: Annotated[float | None, _PROBABILITY] = Field(None, description="Probability of a flag being Y.")
    biomarker: Annotated[str | None, Text()] = Field(
        None, description="A flag that is Y when the baseline of this biomarker (PARAMCD) is at least cut.")
    cut: Annotated[float | None, Number()] = Field(None, description="The cut of the biomarker, in its unit.")

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        kinds = [k for k in ("baseline", "probability", "biomarker") if getattr(self, k) is not None]
        if len(kinds) != 1:
            fail(f"give one of baseline, probability or biomarker (with cut), got {kinds}")
        if self.decimals is not None and kinds != ["baseline"]:
            fail("unknown key (a flag has no decimals)", ".decimals")
        if kinds == ["biomarker"] and self.cut is None:
            fail("missing", ".cut")
        if self.cut is not None and kinds != ["biomarker"]:
            fail("unknown key (cut goes with biomarker)", ".cut")
        return self


class ScreeningTable(SpecModel):
    """``[screening]``: candidates screened with a study's eligibility rules until every arm is randomised."""

    rules: Annotated[str, Text()] = Field(
        description="A randomisation preset (e.g. a2201) or a TOML file of [[rule]] tables.")
    ineligible: Annotated[float, _PROBABILITY] = Field(description="Probability that a candidate fails the rules.")
    reasons: Annotated[dict[str, float], Shares()] = Field(
        description="Shares of the rule a screen failure fails, by rule id, adding up to 1.")
    failing: dict[str, Annotated[Any, Anything({"anyOf": [
        {"type": ["number", "string", "boolean"]}, {"type": "array", "items": {"type": "number"}, "minItems": 2,
                                                    "maxItems": 2}]})]] = Field(
        description="By rule id: a failing value, or [low, high] drawn uniformly (whole numbers when both are).")
    fields: dict[str, Annotated[str, Text()]] = Field(
        description="By rule field: the ADSL column holding a randomised subject's screening value.")
    other: Annotated[float, _PROBABILITY] = Field(
        0.0, description="Probability that an eligible candidate leaves before randomisation.")
    other_reason: Annotated[str, Text()] = Field("WITHDRAWAL BY SUBJECT", description="DSDECOD of those who leave.")
    other_term: Annotated[str, Text()] = Field(
        "Withdrawal of consent before randomisation", description="DSTERM of those who leave.")

    @model_validator(mode="after")
    def _below_one(self) -> Self:
        if self.ineligible + self.other >= 1:
            fail(f"ineligible + other must be below 1, got {self.ineligible + self.other:g}", ".other")
        return self


class DropoutTable(SpecModel):
    """``[dropout]``: monotone dropout, hazard per visit interval ``expit(logit(rate) + slope * last change)``."""

    rate: Annotated[float | tuple[float, ...], NumberOrNumbers(lower=0.0, upper=0.999)] = Field(
        description=f"Probability of dropping out per visit interval. {_PER_ARM}.")
    endpoint: Annotated[str | None, Text()] = Field(
        None, description="The endpoint (PARAMCD) whose last observed change drives the dropout.")
    slope: Annotated[float, Number()] = Field(
        0.0, description="Log-odds per unit of the last observed change (missing at random).")
    reasons: Annotated[dict[str, float] | None, Shares()] = Field(
        None, description="Shares of the reasons (DCSREAS), adding up to 1; default all WITHDRAWAL BY SUBJECT.")
    terms: dict[str, Annotated[tuple[str, ...], Names("terms", empty=False)]] = Field(
        default_factory=dict, description="By reason, the verbatim terms drawn with equal probability.")

    @model_validator(mode="after")
    def _endpoint_for_slope(self) -> Self:
        if self.slope != 0.0 and self.endpoint is None:
            fail("missing (the slope needs the endpoint whose last value it uses)", ".endpoint")
        return self


class DiscontinuationTable(SpecModel):
    """``[discontinuation]``: discontinuation of study treatment (an intercurrent event) with follow-up off
    treatment; hazard per visit interval ``expit(logit(rate of the arm) + slope * last change)``."""

    rates: dict[str, Annotated[float | tuple[float, ...], NumberOrNumbers(lower=0.0, upper=0.999)]] = Field(
        description=f"Reason (DCTREAS) to its probability of stopping treatment per visit interval. {_PER_ARM}.")
    endpoint: Annotated[str | None, Text()] = Field(
        None, description="The endpoint (PARAMCD) whose last observed change drives the discontinuation.")
    slope: Annotated[float, Number()] = Field(
        0.0, description="Log-odds per unit of the last observed change (e.g. lack of efficacy).")
    follow_up: Annotated[float, _PROBABILITY] = Field(
        1.0, description="Probability that a subject who stops treatment attends the remaining visits (retrieved "
                         "data off treatment); the others leave the study at once.")
    washout: Annotated[float, Number(lower=0.0)] = Field(
        0.0, description="Weeks after the last dose over which the arm's mean effect over placebo fades linearly "
                         "(0: at once); the off-treatment values follow placebo's mean after it.")
    terms: dict[str, Annotated[tuple[str, ...], Names("terms", empty=False)]] = Field(
        default_factory=dict, description="By reason, the verbatim terms (DCTREASP) drawn with equal probability.")

    @model_validator(mode="after")
    def _endpoint_for_slope(self) -> Self:
        if not self.rates:
            fail("needs at least one reason", ".rates")
        if self.slope != 0.0 and self.endpoint is None:
            fail("missing (the slope needs the endpoint whose last value it uses)", ".endpoint")
        return self


class RescueTable(SpecModel):
    """``[rescue]``: rescue medication (an intercurrent event); hazard per visit interval ``expit(logit(rate of the
    arm) + slope * last change)``; the subject stays on treatment and in the study."""

    rate: Annotated[float | tuple[float, ...], NumberOrNumbers(lower=0.0, upper=0.999)] = Field(
        description=f"Probability of starting rescue medication per visit interval. {_PER_ARM}.")
    endpoint: Annotated[str | None, Text()] = Field(
        None, description="The endpoint (PARAMCD) whose last observed change drives the rescue.")
    slope: Annotated[float, Number()] = Field(
        0.0, description="Log-odds per unit of the last observed change (worse, more likely).")
    shift: dict[str, Annotated[float, Number()]] = Field(
        default_factory=dict, description="PARAMCD to the change of its values from the first visit after the rescue "
                                          "on (model scale: a log ratio for a log-scale endpoint).")

    @model_validator(mode="after")
    def _endpoint_for_slope(self) -> Self:
        if self.slope != 0.0 and self.endpoint is None:
            fail("missing (the slope needs the endpoint whose last value it uses)", ".endpoint")
        return self


class SafetyTable(SpecModel):
    """``[safety]``: defaults of the adverse events and the latent correlation of events within a SOC."""

    within_soc_correlation: Annotated[float, Number(lower=0.0, upper=0.99)] = Field(
        0.0, description="Latent correlation of the events of one system organ class.")
    soc_correlation: dict[str, Annotated[float, Number(lower=0.0, upper=0.99)]] = Field(
        default_factory=dict, description="By SOC, a latent correlation overriding within_soc_correlation.")
    severity: Annotated[dict[str, float] | None, Shares(SEVERITIES)] = Field(
        None, description="Shares of MILD, MODERATE, SEVERE, adding up to 1; default 0.7, 0.25, 0.05.")
    serious: Annotated[float, _PROBABILITY] = Field(0.02, description="Probability that an event is serious.")
    related: Annotated[float, _PROBABILITY] = Field(
        0.3, description="Probability that an event is related to the drug.")


class AdverseEventTable(SpecModel):
    """``[[adverse_events]]``: one preferred term with its system organ class and the incidence per arm."""

    soc: Annotated[str, Text()] = Field(description="System organ class (AEBODSYS).")
    pt: Annotated[str, Text()] = Field(description="Preferred term (AEDECOD).")
    rates: Annotated[tuple[float, ...], Numbers(lower=0.0, upper=0.999)] = Field(
        description="Probability of the event per arm, in arm order.")
    severity: Annotated[dict[str, float] | None, Shares(SEVERITIES)] = Field(
        None, description="Shares of MILD, MODERATE, SEVERE; default those of [safety].")
    serious: Annotated[float | None, _PROBABILITY] = Field(
        None, description="Probability that the event is serious; default that of [safety].")
    related: Annotated[float | None, _PROBABILITY] = Field(
        None, description="Probability that the event is related; default that of [safety].")


class AnalysisTable(SpecModel):
    """``[analysis]``: defaults of the analysis of the simulated trial (kept as given, other keys too)."""

    model_config = ConfigDict(json_schema_extra={"additionalProperties": True})
    open_table = True

    endpoint: Annotated[str | None, Text()] = Field(None, description="The primary endpoint (PARAMCD).")
    visit: Annotated[int | None, Integer()] = Field(None, description="The primary visit (week of trial.visits).")
    alpha: Annotated[float | None, Number(lower=0.0, upper=1.0, strict=True)] = Field(
        None, description="Level of the MCP step, below 1 (default of simulate_power).")
    alternative: Annotated[str | None, Text(("one-sided", "two-sided"))] = Field(
        None, description="one-sided or two-sided (default of simulate_power).")
    candidates: Annotated[Mapping[str, Any] | None, CandidateShapes()] = Field(
        None, description="Candidate shape to its guesstimates (as dosefinding.shapes.Candidates takes them; true "
                          "for none) of the MCP step (default of simulate_power; default the A2201 set scaled to the "
                          "largest dose).")
    max_effect: Annotated[float | None, Number()] = Field(
        None, description="Effect over placebo at the largest dose of every candidate (quadratic: at its vertex, "
                          "betamod: at its mode), in the unit of the endpoint; default the true effect at the "
                          "largest dose at the visit.")

    @model_validator(mode="after")
    def _alpha_below_one(self) -> Self:
        if self.alpha is not None and self.alpha >= 1:
            fail(f"must be below 1, got {self.alpha!r}", ".alpha")
        if self.max_effect is not None and self.candidates is None:
            fail("unknown key (max_effect goes with candidates)", ".max_effect")
        return self


class TrialDocument(SpecModel):
    """A trial spec: a TOML description of a parallel-group dose-finding trial to simulate."""

    trial: TrialTable = Field(description="Name, schedule and seed.")
    arms: Annotated[tuple[ArmTable, ...], Tables("need at least two [[arms]] tables", minimum=2)] = Field(
        description="The arms, in increasing dose.")
    stratification: StratificationTable | None = Field(None, description="A stratum cut from an endpoint's baseline.")
    demographics: DemographicsTable | None = Field(None, description="Age, sex, race, weight, sites and enrolment.")
    characteristics: Annotated[dict[str, CharacteristicTable], _ADSL_NAME] = Field(
        default_factory=dict, description="Baseline characteristics of ADSL by column name.")
    screening: ScreeningTable | None = Field(None, description="Screening with eligibility rules.")
    endpoints: Annotated[dict[str, EndpointTable], _PARAMCD] = Field(description="The efficacy endpoints (ADEFF) by PARAMCD.")
    biomarkers: Annotated[dict[str, EndpointTable], _PARAMCD] = Field(default_factory=dict, description="The biomarkers (ADBM) by PARAMCD.")
    pk: PKTable | None = Field(None, description="Trough drug levels (ADPC).")
    dropout: DropoutTable | None = Field(None, description="Monotone dropout (leaving the study and treatment).")
    discontinuation: DiscontinuationTable | None = Field(
        None, description="Discontinuation of treatment with follow-up off treatment (an intercurrent event).")
    rescue: RescueTable | None = Field(None, description="Rescue medication (an intercurrent event).")
    safety: SafetyTable | None = Field(None, description="Defaults of the adverse events.")
    adverse_events: Annotated[tuple[AdverseEventTable, ...], Tables(
        "must be an array of [[adverse_events]] tables")] = Field((), description="The adverse events (ADAE).")
    analysis: AnalysisTable | None = Field(None, description="Defaults of the analysis of the simulated trial.")

