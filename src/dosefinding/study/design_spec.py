"""The design spec: a TOML description of a dose-finding design for the ``dosefinding design`` commands.

``[design]`` gives the doses, the residual SD, the patients per dose, the level and the sidedness;
``[candidates]`` the candidate shapes with their guesstimates and the effect at the largest dose;
one table per command holds that command's settings (``[power]``, ``[optimal]``, ``[plan_mod]``,
``[sample_size]``, ``[precision]``, ``[interim]``, ``[closed]``, ``[bayes]``). :func:`parse_design_spec` checks a
document against :class:`DesignDocument` with :func:`~dosefinding.study.validation.validate`, the
validator of the trial and analysis specs: the first problem is one
:class:`~dosefinding.errors.InputError` naming the key path, including what needs several tables
(one value per dose of ``design.doses``, one probability per candidate model, an interim with
fewer patients than the final analysis). ``dosefinding schema design`` prints its JSON Schema.

Examples
--------
>>> spec = parse_design_spec('''
... [design]
... doses = [0, 5, 50, 300]
... sigma = 5.6
... n = 45
... [candidates]
... shapes = {linear = true, emax = [10, 100]}
... max_effect = -3.5
... ''')
>>> [m.label for m in spec.candidate_models().models]
['linear', 'emax1', 'emax2']
>>> parse_design_spec('[design]\\ndoses = [0, 10]\\nsigma = 1\\nn = 5\\n'
...                   '[candidates]\\nshapes = {linear = true}\\nmax_effect = 1\\n[optimal]\\ncriterion = "TD"')
Traceback (most recent call last):
...
dosefinding.errors.InputError: optimal.delta: missing (criterion 'TD' needs the target effect of the TD)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self

from pydantic import Field, model_validator

from dosefinding.design.precision import MEASURES, NEEDS_DELTA, Measure
from dosefinding.errors import InputError
from dosefinding.files import read_text_file
from dosefinding.study.analysis_schema import Candidates as CandidateShapes
from dosefinding.study.spec import preset_path
from dosefinding.study.validation import (
    Flag,
    Integer,
    Names,
    Note,
    Number,
    NumberOrNumbers,
    Numbers,
    SpecModel,
    Tables,
    Text,
    fail,
    library_problem,
    read_toml,
    validate,
)

if TYPE_CHECKING:
    from dosefinding.shapes.candidates import Candidates

__all__ = [
    "BayesTable", "CandidatesTable", "ClosedTable", "DesignDocument", "DesignTable", "EstimatesTable", "GridTable",
    "InterimTable", "OptimalTable", "PlanModTable", "PowerTable", "PrecisionTable", "PriorTable", "SampleSizeTable",
    "load_design_spec", "parse_design_spec",
]

PLAN_MOD_TARGETS = ("power_max_dose", "p_ed", "p_td_window")
"""The plan_mod metrics a sample size can aim at (each grows with the number of patients)."""
_PROBABILITY = Number(lower=0.0, upper=1.0)
_SIDES = Text(("one-sided", "two-sided"))
_SUMMARY = Text(("mean", "min", "max"))
_N_TYPE = Text(("arm", "total"))
_PER_DOSE = "A number for every dose, or a list with one number per dose of design.doses"


class DesignTable(SpecModel):
    """``[design]``: the doses, the residual SD, the patients per dose and the level of the test."""

    name: Annotated[str, Note()] = Field("", description="Short name of the design.")
    description: Annotated[str, Note()] = Field("", description="Free text describing the design.")
    doses: Annotated[tuple[float, ...], Numbers(lower=0.0)] = Field(
        description="The doses, increasing, placebo (0) first, in the unit of the trial (e.g. mg).")
    sigma: Annotated[float, Number(lower=0.0, strict=True)] = Field(
        description="Residual standard deviation of the response, in the unit of the endpoint.")
    n: Annotated[float | tuple[float, ...] | None, NumberOrNumbers(lower=0.0, strict=True)] = Field(
        None, description=f"Patients per dose at the final analysis (patients). {_PER_DOSE}.")
    allocation: Annotated[tuple[float, ...] | None, Numbers(lower=0.0)] = Field(
        None, description="Allocation ratios per dose for the sample-size searches, positive; default equal.")
    alpha: Annotated[float, Number(lower=0.0, upper=0.5, strict=True)] = Field(
        0.025, description="Level of the multiple contrast test.")
    alternative: Annotated[Literal["one-sided", "two-sided"], _SIDES] = Field(
        "one-sided", description="Sidedness of the multiple contrast test.")
    seed: Annotated[int, Integer(lower=0)] = Field(
        0, description="Seed of the simulations and quasi-Monte Carlo rules.")


class CandidatesTable(SpecModel):
    """``[candidates]``: the candidate shapes and the effect each reaches at the largest dose."""

    shapes: Annotated[dict[str, Any], CandidateShapes()] = Field(
        description="Candidate shape to its guesstimates (as dosefinding.shapes.Candidates takes them; true for none).")
    max_effect: Annotated[float, Number()] = Field(
        description="Effect over placebo at the largest dose of every candidate, in the unit of the endpoint "
                    "(negative for a decreasing curve).")
    placebo_effect: Annotated[float, Number()] = Field(
        0.0, description="Response on placebo, in the unit of the endpoint.")
    scal: Annotated[float | None, Number(lower=0.0, strict=True)] = Field(
        None, description="Constant of the betamod shape (dose unit); default 1.2 times the largest dose.")
    off: Annotated[float | None, Number(lower=0.0, strict=True)] = Field(
        None, description="Constant of the linlog shape (dose unit); default 0.01 times the largest dose.")


class PowerTable(SpecModel):
    """``[power]``: the sample size for a target power of the multiple contrast test (``design power``)."""

    target: Annotated[float | None, Number(lower=0.0, strict=True, below=1.0)] = Field(
        None, description="Power to reach; without it only the power at design.n is computed.")
    summary: Annotated[Literal["mean", "min", "max"], _SUMMARY] = Field(
        "mean", description="How the power over the candidate shapes is summarised.")
    n_type: Annotated[Literal["arm", "total"], _N_TYPE] = Field(
        "arm", description="Whether the sample size counts the smallest arm or the total.")
    upper_n: Annotated[int, Integer(lower=1)] = Field(100, description="Starting upper bound of the search (patients).")


class OptimalTable(SpecModel):
    """``[optimal]``: the optimal allocation for the candidate models (``design optimal``)."""

    criterion: Annotated[Literal["D", "TD", "D&TD"], Text(("D", "TD", "D&TD"))] = Field(
        "D", description="D (the whole curve), TD (the target dose) or D&TD (both, equal weight).")
    delta: Annotated[float | None, Number()] = Field(
        None, description="Target effect over placebo of the TD, in the unit of the endpoint (needed by TD and D&TD).")
    probabilities: Annotated[tuple[float, ...] | None, Numbers(lower=0.0, upper=1.0)] = Field(
        None, description="Probability of each candidate model (emax = [10, 100] is two), summing to 1; "
                          "default equal.")
    doses: Annotated[tuple[float, ...] | None, Numbers(lower=0.0)] = Field(
        None, description="The doses the design may use (a grid); default design.doses.")
    n: Annotated[int | None, Integer(lower=1)] = Field(
        None, description="Patients to come: an exact design needs it; a continuous one is then also rounded.")
    n_old: Annotated[tuple[float, ...] | None, Numbers(lower=0.0)] = Field(
        None, description="Patients already on each dose (a design at an interim).")
    lower: Annotated[float | tuple[float, ...], NumberOrNumbers(lower=0.0, upper=1.0)] = Field(
        0.0, description="Lower bound of the share of each dose. A number, or one per dose.")
    upper: Annotated[float | tuple[float, ...], NumberOrNumbers(lower=0.0, upper=1.0)] = Field(
        1.0, description="Upper bound of the share of each dose. A number, or one per dose.")
    exact: Annotated[bool, Flag()] = Field(False, description="Enumerate whole numbers of patients out of n.")
    group_size: Annotated[int, Integer(lower=1)] = Field(1, description="Patients per group of an exact design.")
    standardize: Annotated[bool, Flag()] = Field(
        True, description="Divide each model's log-determinant by its number of parameters.")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.criterion != "D" and self.delta is None:
            fail(f"missing (criterion {self.criterion!r} needs the target effect of the TD)", ".delta")
        if self.exact and self.n is None:
            fail("missing (an exact design needs the number of patients)", ".n")
        if self.probabilities is not None and abs(sum(self.probabilities) - 1) > 1e-6:
            fail(f"must sum to 1, got {sum(self.probabilities):g}", ".probabilities")
        return self


class PlanModTable(SpecModel):
    """``[plan_mod]``: how precisely the Mod step estimates the curve and its doses (``design plan-mod``)."""

    shapes: Annotated[tuple[str, ...] | None, Names("shape names", empty=False)] = Field(
        None, description="The shapes fitted (several: per simulated trial the best by gAIC); default the candidates'.")
    asymptotic: Annotated[bool | None, Flag()] = Field(
        None, description="Asymptotic approximations (one fitted shape); default true with one shape.")
    simulation: Annotated[bool, Flag()] = Field(False, description="Simulate trials.")
    n_trials: Annotated[int, Integer(lower=1)] = Field(1000, description="Simulated trials per true curve.")
    delta: Annotated[float | None, Number()] = Field(
        None, description="Target effect over placebo of the TD, in the unit of the endpoint.")
    tau: Annotated[float, Number()] = Field(
        0.0, description="Threshold the lower bound of the effect at the best dose must exceed (endpoint unit).")
    p: Annotated[float, _PROBABILITY] = Field(0.5, description="The ED_p estimated.")
    p_lower: Annotated[float, _PROBABILITY] = Field(0.25, description="The true ED_p_lower the ED_p should exceed.")
    p_upper: Annotated[float, _PROBABILITY] = Field(0.75, description="The true ED_p_upper the ED_p should stay below.")
    td_window: Annotated[tuple[float, ...], Numbers(lower=0.0, length=2, what="bounds")] = Field(
        (0.5, 2.0), description="Factors of the true TD bounding the window of p_td_window.")
    interval: Annotated[tuple[float, ...], Numbers(lower=0.0, upper=1.0, length=2, what="bounds")] = Field(
        (0.05, 0.95), description="Quantiles of the simulated EDs and TDs whose distance is reported.")
    curve_points: Annotated[int, Integer(lower=2)] = Field(101, description="Doses of the grid of rmse_curve.")


class PrecisionTable(SpecModel):
    """``[precision]``: how precisely the trial estimates the curve, an ED and the TD, and the sample size for a
    target precision (``design precision``)."""

    shapes: Annotated[tuple[str, ...] | None, Names("shape names", empty=False)] = Field(
        None, description="The shapes fitted (several: per simulated trial the best by gAIC); default the candidates'.")
    measure: Annotated[Measure, Text(tuple(MEASURES))] = Field(
        "curve_half_width", description="The measure the sample size aims at: a half-width, rmse or length to "
                                        "bring down to target, or a share (erp, p_td_window) to bring up to it.")
    target: Annotated[float | None, Number(lower=0.0, strict=True)] = Field(
        None, description="Value of the measure to reach under every candidate curve (a share below 1, the others "
                          "in the unit of the endpoint or of the dose); without it only the precision at design.n.")
    probability: Annotated[float | None, Number(lower=0.0, strict=True, below=1.0)] = Field(
        None, description="A half-width meets the target with this probability; default in expectation (its mean).")
    confidence_level: Annotated[float, Number(lower=0.0, strict=True, below=1.0)] = Field(
        0.95, description="Two-sided level of the Wald intervals whose half-widths are taken.")
    at: Annotated[Literal["doses", "grid"], Text(("doses", "grid"))] = Field(
        "doses", description="The curve's half-width and RMSE over the active doses or a grid of curve_points doses.")
    p: Annotated[float, _PROBABILITY] = Field(0.9, description="The ED_p estimated.")
    p_lower: Annotated[float, _PROBABILITY] = Field(
        0.75, description="The true ED_p_lower that bounds the effective range from below.")
    p_upper: Annotated[float, _PROBABILITY] = Field(
        0.97, description="The true ED_p_upper that bounds the effective range from above.")
    delta: Annotated[float | None, Number()] = Field(
        None, description="Target effect over placebo of the TD, in the unit of the endpoint (needed by the TD "
                          "measures).")
    td_window: Annotated[tuple[float, ...], Numbers(lower=0.0, length=2, what="bounds")] = Field(
        (0.5, 2.0), description="Factors of the true TD bounding the window of p_td_window.")
    interval: Annotated[tuple[float, ...], Numbers(lower=0.0, upper=1.0, length=2, what="bounds")] = Field(
        (0.05, 0.95), description="Quantiles of the simulated EDs and TDs whose distance is ed_length, td_length.")
    curve_points: Annotated[int, Integer(lower=2)] = Field(101, description="Doses of the grid of at = grid.")
    n_trials: Annotated[int, Integer(lower=2)] = Field(1000, description="Simulated trials per true curve.")
    upper_n: Annotated[int, Integer(lower=1)] = Field(
        50, description="Starting upper bound of the search on the smallest arm (patients), doubled as needed.")
    max_n: Annotated[int, Integer(lower=1)] = Field(
        10_000, description="Largest smallest arm tried (patients): a target not met there is an error.")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.measure in NEEDS_DELTA and self.delta is None:
            fail(f"missing (measure {self.measure!r} needs the target effect of the TD)", ".delta")
        if self.target is not None and MEASURES[self.measure] and self.target >= 1:
            fail(f"must be below 1 for the share {self.measure!r}, got {self.target:g}", ".target")
        return self


class GridTable(SpecModel):
    """``[sample_size.grid]``: the target on a grid of sample sizes (R's ``targN`` / ``powN``)."""

    lower_n: Annotated[int, Integer(lower=1)] = Field(description="Smallest N of the grid (patients).")
    upper_n: Annotated[int, Integer(lower=1)] = Field(description="Largest N of the grid (patients).")
    step: Annotated[int, Integer(lower=1)] = Field(description="Step of the grid (patients).")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.upper_n < self.lower_n:
            fail(f"must be at least lower_n {self.lower_n}, got {self.upper_n}", ".upper_n")
        return self


class SampleSizeTable(SpecModel):
    """``[sample_size]``: the smallest N reaching a named target (``design sample-size``)."""

    target: Annotated[Literal["mcp_power", "plan_mod"], Text(("mcp_power", "plan_mod"))] = Field(
        "mcp_power", description="mcp_power (power of the multiple contrast test) or plan_mod (a precision "
                                 "metric of [plan_mod]).")
    value: Annotated[float, Number(lower=0.0, strict=True, below=1.0)] = Field(description="The value to reach.")
    measure: Annotated[str, Text(PLAN_MOD_TARGETS)] = Field(
        "power_max_dose", description="plan_mod: the metric, asymptotic with one fitted shape (unless [plan_mod] "
                                      "asymptotic = false), else simulated.")
    summary: Annotated[Literal["mean", "min", "max"], _SUMMARY] = Field(
        "min", description="How the target over the candidate shapes is summarised.")
    upper_n: Annotated[int, Integer(lower=1)] = Field(100, description="Starting upper bound of N (patients).")
    lower_n: Annotated[int | None, Integer(lower=1)] = Field(
        None, description="Starting lower bound of N (patients); default upper_n / 2.")
    tol: Annotated[float, Number(lower=0.0, strict=True)] = Field(
        0.001, description="The search stops within tol of the value.")
    n_type: Annotated[Literal["arm", "total"], _N_TYPE] = Field(
        "arm", description="Whether N counts the smallest arm or the total.")
    grid: GridTable | None = Field(None, description="Also the target on a grid of N.")


class EstimatesTable(SpecModel):
    """Dose-group estimates with their standard errors (default ``design.sigma / sqrt(design.n)``)."""

    estimates: Annotated[tuple[float, ...], Numbers()] = Field(
        description="Estimate of the mean response per dose of design.doses, in the unit of the endpoint.")
    se: Annotated[tuple[float, ...] | None, Numbers(lower=0.0)] = Field(
        None, description="Standard error per dose (independent estimates); default design.sigma / sqrt(design.n).")

    @model_validator(mode="after")
    def _positive_se(self) -> Self:
        zero = [i for i, se in enumerate(self.se or ()) if se == 0]
        if zero:
            fail("must be greater than 0, got 0", f".se[{zero[0]}]")
        return self


class InterimTable(EstimatesTable):
    """``[interim]``: the interim estimates and the power of the final test given them (``design interim``)."""

    se: Annotated[tuple[float, ...] | None, Numbers(lower=0.0)] = Field(
        None, description="Standard error per dose at the interim; default design.sigma / sqrt(interim.n).")
    n: Annotated[float | tuple[float, ...], NumberOrNumbers(lower=0.0, strict=True)] = Field(
        description=f"Patients per dose at the interim, fewer than design.n. {_PER_DOSE}.")
    kind: Annotated[Literal["predictive", "conditional"], Text(("predictive", "conditional"))] = Field(
        "predictive", description="predictive (flat prior on the means) or conditional power.")
    assumed_means: Annotated[tuple[float, ...] | None, Numbers()] = Field(
        None, description="Conditional power: the means per dose assumed for the rest of the trial; default the "
                          "interim estimates.")

    @model_validator(mode="after")
    def _assumed_if_conditional(self) -> Self:
        if self.assumed_means is not None and self.kind != "conditional":
            fail("unknown key (assumed_means goes with kind = \"conditional\")", ".assumed_means")
        return self


class ClosedTable(EstimatesTable):
    """``[closed]``: the closed (step-down) multiple contrast test on given estimates (``design closed``)."""

    df: Annotated[float | None, Number(lower=0.0, strict=True)] = Field(
        None, description="Degrees of freedom of the test; default sum(design.n) minus the doses with design.n, "
                          "else normal.")


class PriorTable(SpecModel):
    """``[[bayes.priors]]``: the normal-mixture prior of one dose-group mean."""

    weights: Annotated[tuple[float, ...], Numbers(lower=0.0)] = Field(
        description="Weight of each component, non-negative, summing to 1.")
    means: Annotated[tuple[float, ...], Numbers()] = Field(
        description="Mean of each component, in the unit of the endpoint.")
    sds: Annotated[tuple[float, ...], Numbers(lower=0.0)] = Field(
        description="Standard deviation of each component, in the unit of the endpoint, positive.")

    @model_validator(mode="after")
    def _mixture(self) -> Self:
        if abs(sum(self.weights) - 1) > 1e-8:
            fail(f"must sum to 1, got {sum(self.weights):.10g}", ".weights")
        for key in ("means", "sds"):
            if len(getattr(self, key)) != len(self.weights):
                fail(f"needs {len(self.weights)} values (one per weight), got {len(getattr(self, key))}", f".{key}")
        zero = [i for i, s in enumerate(self.sds) if s == 0]
        if zero:
            fail("must be greater than 0, got 0", f".sds[{zero[0]}]")
        return self


class BayesTable(EstimatesTable):
    """``[bayes]``: the Bayesian multiple contrast test under normal-mixture priors (``design bayes``)."""

    priors: Annotated[tuple[PriorTable, ...], Tables("must be an array of [[bayes.priors]] tables", minimum=1)] = Field(
        description="One prior per dose of design.doses, placebo first.")
    critical_value: Annotated[float | None, Number(lower=0.0, strict=True, below=1.0)] = Field(
        None, description="Threshold of the largest posterior probability, below 1; default from design.alpha.")


class DesignDocument(SpecModel):
    """A design spec: the design of a dose-finding trial and the settings of each dosefinding design command."""

    design: DesignTable = Field(description="Doses, residual SD, patients per dose, level.")
    candidates: CandidatesTable = Field(description="The candidate shapes.")
    power: PowerTable = Field(default_factory=lambda: PowerTable.model_validate({}),
                              description="Settings of design power: the sample size for a target power.")
    optimal: OptimalTable = Field(default_factory=lambda: OptimalTable.model_validate({}),
                                  description="Settings of design optimal: the optimal allocation.")
    plan_mod: PlanModTable = Field(default_factory=lambda: PlanModTable.model_validate({}),
                                   description="Settings of design plan-mod (and of a plan_mod target of design "
                                               "sample-size): the precision of the Mod step.")
    sample_size: SampleSizeTable | None = Field(
        None, description="Settings of design sample-size: N for a named target.")
    precision: PrecisionTable = Field(default_factory=lambda: PrecisionTable.model_validate({}),
                                      description="Settings of design precision: the precision of the estimated "
                                                  "dose-response and the sample size for a target precision.")
    interim: InterimTable | None = Field(
        None, description="Settings of design interim: predictive or conditional power.")
    closed: ClosedTable | None = Field(
        None, description="Settings of design closed: the closed multiple contrast test.")
    bayes: BayesTable | None = Field(None, description="Settings of design bayes: the Bayesian multiple contrast test.")

    @model_validator(mode="after")
    def _across_tables(self) -> Self:
        doses = _library(lambda: _as_doses(self.design.doses), ".design.doses")
        _per_dose(self.design.n, len(doses), ".design.n")
        _per_dose(self.design.allocation, len(doses), ".design.allocation")
        if self.design.allocation is not None and min(self.design.allocation) <= 0:
            fail(f"ratios must be positive, got {list(self.design.allocation)}", ".design.allocation")
        from dosefinding.shapes.library import get_shape

        for shape in self.candidates.shapes:
            _library(partial(get_shape, shape), f".candidates.shapes.{shape}")
        models = _library(self.candidate_models, ".candidates")
        self._check_optimal(len(doses), [m.label for m in models.models])
        for table in ("plan_mod", "precision"):
            for i, shape in enumerate(getattr(self, table).shapes or ()):
                _library(partial(get_shape, shape), f".{table}.shapes[{i}]")
        sizes = self.sample_size
        if sizes is not None and sizes.target == "plan_mod" and sizes.measure == "p_td_window" \
                and self.plan_mod.delta is None:
            fail("missing (sample_size.measure 'p_td_window' needs the target effect of the TD)", ".plan_mod.delta")
        self._check_estimates(doses)
        return self

    def _check_optimal(self, k: int, labels: list[str]) -> None:
        optimal = self.optimal
        if optimal.probabilities is not None and len(optimal.probabilities) != len(labels):
            fail(f"needs {len(labels)} values (one per candidate model: {', '.join(labels)}), "
                 f"got {len(optimal.probabilities)}", ".optimal.probabilities")
        grid = k if optimal.doses is None else len(optimal.doses)
        for key in ("lower", "upper", "n_old"):
            _per_dose(getattr(optimal, key), grid, f".optimal.{key}", "optimal.doses" if optimal.doses else "")

    def _check_estimates(self, doses: Sequence[float]) -> None:
        """The tables of given estimates: one value per dose, one prior per dose, an interim before the end."""
        k = len(doses)
        for name in ("interim", "closed", "bayes"):
            table = getattr(self, name)
            if table is not None:
                _per_dose(table.estimates, k, f".{name}.estimates")
                _per_dose(table.se, k, f".{name}.se")
        if self.bayes is not None and len(self.bayes.priors) != k:
            fail(f"needs {k} [[bayes.priors]] tables (one per dose of design.doses), got {len(self.bayes.priors)}",
                 ".bayes.priors")
        if self.interim is None:
            return
        _per_dose(self.interim.n, k, ".interim.n")
        _per_dose(self.interim.assumed_means, k, ".interim.assumed_means")
        if self.design.n is None:
            fail("missing (the interim needs the patients per dose at the final analysis)", ".design.n")
        final, now = _each(self.design.n, k), _each(self.interim.n, k)
        above = [i for i in range(k) if now[i] >= final[i]]
        if above:
            fail(f"must be below design.n at every dose (the final analysis has more information), got "
                 f"{now[above[0]]:g} >= {final[above[0]]:g} at dose {doses[above[0]]:g}", ".interim.n")

    def candidate_models(self) -> Candidates:
        """The candidate models of ``[candidates]`` at ``design.doses``.

        Examples
        --------
        >>> spec = load_design_spec("a2201")
        >>> [m.label for m in spec.candidate_models().models]
        ['linear', 'emax1', 'emax2', 'sigemax', 'exponential']
        """
        from dosefinding.shapes.candidates import Candidates

        table = self.candidates
        return Candidates(self.design.doses, table.shapes, placebo_effect=table.placebo_effect,
                          max_effect=table.max_effect, scal=table.scal, off=table.off)

    def group_sizes(self, what: str) -> tuple[float, ...]:
        """``design.n`` as one number per dose, or an :class:`InputError` saying that ``what`` needs it."""
        if self.design.n is None:
            raise InputError(f"design.n: missing ({what} needs the patients per dose)")
        return _each(self.design.n, len(self.design.doses))

    def table(self, name: str) -> Any:
        """The table ``name`` of a command that has no defaults, or an :class:`InputError` saying it is missing."""
        value = getattr(self, name)
        if value is None:
            raise InputError(f"{name}: missing (dosefinding design {name.replace('_', '-')} needs a [{name}] table)")
        return value


def _as_doses(doses: Sequence[float]) -> Any:
    from dosefinding.validation import as_doses

    return as_doses(doses)


def _library(check: Callable[[], Any], key: str) -> Any:
    """``check()``, its :class:`InputError` turned into a spec problem at ``key``."""
    try:
        return check()
    except InputError as exc:
        fail(*library_problem(str(exc), key))


def _per_dose(value: float | Sequence[float] | None, k: int, key: str, what: str = "") -> None:
    if isinstance(value, tuple) and len(value) != k:
        fail(f"needs {k} values (one per dose of {what or 'design.doses'}), got {len(value)}", key)


def _each(value: float | Sequence[float], k: int) -> tuple[float, ...]:
    """One number per dose: ``value`` itself, or ``value`` repeated ``k`` times."""
    if isinstance(value, Sequence):
        return tuple(value)
    return (float(value),) * k


def parse_design_spec(text: str) -> DesignDocument:
    """A design spec from its TOML text, checked; the first problem is an :class:`InputError` naming the key path.

    Examples
    --------
    >>> parse_design_spec('[trial]\\nname = "A2201"')
    Traceback (most recent call last):
    ...
    dosefinding.errors.InputError: design: missing (a design spec has a [design] table; this one has trial)
    """
    document = read_toml(text)
    if "design" not in document and document:  # most likely a trial or an analysis spec
        raise InputError(f"design: missing (a design spec has a [design] table; this one has {', '.join(document)})")
    return validate(DesignDocument, document)


def load_design_spec(spec: str | PathLike[str]) -> DesignDocument:
    """A design spec read from a TOML file, or a packaged preset by name (``a2201``: :func:`preset_path` of
    ``kind="design"``)."""
    path = Path(spec)
    if not path.suffix and not path.exists():
        path = preset_path(str(spec), "design")
    return parse_design_spec(read_text_file(path, "spec"))
