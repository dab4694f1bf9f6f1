"""The virtual trial: ADaM datasets (ADSL, ADEFF, ADAE, ADBM) and disposition (DS) simulated from a study spec.

Every subject's visits are drawn at once from a multivariate normal (one row per subject,
one column per visit), for all subjects together; dropout, adverse events and biomarkers
are drawn the same way, without loops over subjects. Each component draws from its own
stream, seeded from the trial seed and the component's name through
:class:`numpy.random.SeedSequence`, so that adding an endpoint to a spec leaves the
others' numbers unchanged, and the same seed gives the same datasets.

Intercurrent events (with ``[discontinuation]`` and ``[rescue]`` tables) come after the dropout,
each from its own stream: a subject stops treatment (``EOTSTT``, ``DCTREAS``, ``TRTEDT``) and
either attends the remaining visits off treatment, where the arm's mean effect over placebo
fades linearly over the washout after the last dose and drug levels decay by the half-life, or
leaves the study; rescue medication (``RESCFL``, ``RESCDT``) shifts the endpoints from the first
visit after it. BDS records carry ``ONTRTFL`` (on treatment), ``RESCFL`` (after rescue) and, in
ADEFF, ``ANL02FL`` (before any event). A subject who leaves the study stops treatment too.

Screening (with a ``[screening]`` table) evaluates the study's eligibility rules, the
:class:`~dosefinding.randomization.eligibility.EligibilityRules` of the randomisation
service, on every candidate's screening values: a randomised subject's are its ADSL values
(so they pass), a screen failure's fail exactly one rule. ``ds`` holds one screening record
per candidate (``RANDOMIZED``, ``SCREEN FAILURE`` with the rule's text as ``DSTERM`` and the
failure as ``DSREAS``, or the other reason) and one end-of-treatment-period record per
randomised subject (``COMPLETED`` or the reason of ADSL's ``DCSREAS``). Every frame carries
its variable labels in ``attrs["labels"]`` (and BDS frames their parameters in
``attrs["parameters"]``); :meth:`VirtualTrial.write` writes them beside each file.

All data made here are synthetic: ``STUDYID`` says so (``...-SYNTHETIC``), every frame
carries ``attrs["synthetic"] = True``, and :meth:`VirtualTrial.write` writes a README that
says so beside the files.
"""

from __future__ import annotations

import importlib.util
import json
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import special, stats

from dosefinding.errors import InputError
from dosefinding.study.spec import Baseline, Endpoint, Screening, TrialSpec, as_trial_spec
from dosefinding.summary import Summary, SummaryDisplay, SummaryTable, short_repr

__all__ = [
    "REQUIRED_COLUMNS",
    "VARIABLE_LABELS",
    "EndpointMatrix",
    "VirtualTrial",
    "baseline_mean",
    "simulate_endpoint_matrix",
    "simulate_trial",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

SYNTHETIC_NOTE = (
    "SYNTHETIC DATA: simulated by dosefinding.study.simulate_trial from a study spec; "
    "no record describes a real patient."
)

REQUIRED_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "adsl": ("STUDYID", "USUBJID", "SUBJID", "SITEID", "AGE", "SEX", "RACE", "TRT01P", "TRT01PN",
             "TRT01A", "TRT01AN", "RANDFL", "SAFFL", "ITTFL", "FASFL", "COMPLFL", "EOSSTT", "TRTSDT", "TRTEDT"),
    "adeff": ("STUDYID", "USUBJID", "PARAMCD", "PARAM", "AVISIT", "AVISITN", "ADY", "AVAL", "BASE", "CHG",
              "ABLFL", "ANL01FL", "TRTP", "TRTPN"),
    "adae": ("STUDYID", "USUBJID", "AEBODSYS", "AEDECOD", "AESEV", "AESER", "AEREL", "AEACN", "TRTEMFL",
             "ASTDT", "TRTA"),
    "adbm": ("STUDYID", "USUBJID", "PARAMCD", "PARAM", "AVISIT", "AVISITN", "ADY", "AVAL", "BASE", "CHG",
             "ABLFL", "TRTP", "TRTPN"),
    "ds": ("STUDYID", "USUBJID", "DSSEQ", "DSCAT", "DSSCAT", "DSDECOD", "DSTERM", "DSREAS", "DSSTDT"),
}

VARIABLE_LABELS: Mapping[str, str] = {
    "STUDYID": "Study Identifier", "USUBJID": "Unique Subject Identifier",
    "SUBJID": "Subject Identifier for the Study", "SITEID": "Study Site Identifier", "COUNTRY": "Country",
    "AGE": "Age", "AGEU": "Age Units", "SEX": "Sex", "RACE": "Race", "WEIGHTBL": "Weight (kg)",
    "TRT01P": "Planned Treatment for Period 01", "TRT01PN": "Planned Treatment for Period 01 (N)",
    "TRT01A": "Actual Treatment for Period 01", "TRT01AN": "Actual Treatment for Period 01 (N)",
    "RANDFL": "Randomized Population Flag", "SAFFL": "Safety Population Flag",
    "ITTFL": "Intent-To-Treat Population Flag", "FASFL": "Full Analysis Set Population Flag",
    "COMPLFL": "Completers Population Flag", "EOSSTT": "End of Study Status",
    "DCSREAS": "Reason for Discontinuation from Study", "DCSREASP": "Reason Spec for Discont from Study",
    "DSRAEFL": "Discontinued due to AE", "RANDDT": "Date of Randomization",
    "EOTSTT": "End of Treatment Status", "DCTREAS": "Reason for Discontinuation of Treatment",
    "DCTREASP": "Reason Spec for Discont of Treatment", "RESCFL": "Rescue Medication Flag",
    "RESCDT": "Date of First Rescue Medication", "ONTRTFL": "On Treatment Record Flag",
    "ANL02FL": "Analysis Flag 02",
    "TRTSDT": "Date of First Exposure to Treatment", "TRTEDT": "Date of Last Exposure to Treatment",
    "EOSDT": "End of Study Date", "TRTDURD": "Total Treatment Duration (Days)",
    "LSTVISN": "Week of Last Visit Attended",
    "TRTP": "Planned Treatment", "TRTPN": "Planned Treatment (N)", "TRTA": "Actual Treatment",
    "TRTAN": "Actual Treatment (N)", "PARAMCD": "Parameter Code", "PARAM": "Parameter",
    "AVISIT": "Analysis Visit", "AVISITN": "Analysis Visit (N)", "ADT": "Analysis Date",
    "ADY": "Analysis Relative Day", "AVAL": "Analysis Value", "BASE": "Baseline Value",
    "CHG": "Change from Baseline", "PCHG": "Percent Change from Baseline", "ABLFL": "Baseline Record Flag",
    "ANL01FL": "Analysis Flag 01", "BLQFL": "Below Lower Limit of Quantification Flag",
    "AESEQ": "Sequence Number", "AEBODSYS": "Body System or Organ Class", "AEDECOD": "Dictionary-Derived Term",
    "AESEV": "Severity/Intensity", "AESER": "Serious Event",
    "AEREL": "Causality", "AEACN": "Action Taken with Study Treatment", "AEOUT": "Outcome of Adverse Event",
    "TRTEMFL": "Treatment Emergent Analysis Flag", "ASTDT": "Analysis Start Date",
    "ASTDY": "Analysis Start Relative Day",
    "DSSEQ": "Sequence Number", "DSCAT": "Category for Disposition Event",
    "DSSCAT": "Subcategory for Disposition Event", "DSDECOD": "Standardized Disposition Term",
    "DSTERM": "Reported Term for the Disposition Event", "DSREAS": "Reason for the Disposition Event",
    "DSSTDT": "Start Date of Disposition Event",
}
"""The variable labels of the virtual trial's datasets (ADaM and SDTM labels); the columns that
depend on the spec (baselines, stratum, characteristics) take theirs from the spec."""


# --------------------------------------------------------------------------- streams and draws


def _stream(entropy: int, component: str) -> np.random.Generator:
    """The random stream of one named component of a trial (stable when other components change)."""
    return np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(zlib.crc32(component.encode()),)))


def _entropy(seed: int | np.random.Generator | None, default: int) -> int:
    if seed is None:
        return default
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(0, 2**63 - 1))
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed: must be a non-negative int or numpy Generator, got {seed!r}")
    return int(seed)


def baseline_mean(baseline: Baseline, *, log: bool = False) -> float:
    """Expected value of a baseline distribution (of its log when ``log``), the centre of the baseline regression.

    Examples
    --------
    >>> from dosefinding.study.spec import Baseline
    >>> baseline_mean(Baseline("gamma", mean=13.5, sd=6.0, lower=6.0))
    13.5
    >>> round(baseline_mean(Baseline("normal", mean=0.0, sd=1.0, lower=0.0)), 6)
    0.797885
    """
    b = baseline
    if b.distribution == "lognormal":
        sigma2 = np.log1p((b.sd / b.mean) ** 2)
        return float(np.log(b.mean) - sigma2 / 2) if log else b.mean
    if log:
        raise InputError("baseline: the log-scale centre needs a lognormal baseline")
    if b.distribution == "gamma":
        return b.mean
    lo = -np.inf if b.lower is None else (b.lower - b.mean) / b.sd
    hi = np.inf if b.upper is None else (b.upper - b.mean) / b.sd
    return float(stats.truncnorm.mean(lo, hi, loc=b.mean, scale=b.sd))


def _draw_baseline(b: Baseline, n: int, rng: np.random.Generator) -> FloatArray:
    if b.distribution == "gamma":
        lower = b.lower or 0.0
        shape = ((b.mean - lower) / b.sd) ** 2
        return lower + rng.gamma(shape, b.sd**2 / (b.mean - lower), size=n)
    if b.distribution == "lognormal":
        sigma2 = np.log1p((b.sd / b.mean) ** 2)
        return np.exp(np.log(b.mean) - sigma2 / 2 + np.sqrt(sigma2) * rng.standard_normal(n))
    # Truncated normal by inversion of the CDF between the bounds.
    lo = 0.0 if b.lower is None else special.ndtr((b.lower - b.mean) / b.sd)
    hi = 1.0 if b.upper is None else special.ndtr((b.upper - b.mean) / b.sd)
    u = lo + (hi - lo) * rng.random(n)
    return b.mean + b.sd * special.ndtri(np.clip(u, 1e-300, 1 - 1e-16))


def _report(values: FloatArray, endpoint: Endpoint) -> FloatArray:
    """Values as recorded: clipped to the instrument's limits and rounded to its decimals."""
    out = values
    if endpoint.limits is not None:
        out = np.clip(out, *endpoint.limits)
    if endpoint.decimals is not None:
        out = np.round(out, endpoint.decimals)
    return out


def _draw_latent(endpoint: Endpoint, arm: IntArray, latent_base: FloatArray, rng: np.random.Generator) -> FloatArray:
    """Post-baseline values on the model scale (subjects x schedule visits) given each subject's arm and unrounded
    baseline (:func:`_recorded` turns them into recorded values)."""
    log = endpoint.scale == "log"
    x0 = np.log(latent_base) if log else latent_base
    centre = baseline_mean(endpoint.baseline, log=log)
    slope = np.full(arm.size, endpoint.baseline_slope)
    sd = np.broadcast_to(np.asarray(endpoint.sd), (arm.size, len(endpoint.sd)))
    mean = endpoint.means[arm]
    classes = endpoint.classes
    if classes is not None:
        member = rng.random(arm.size) < np.asarray(classes.probability)[arm]
        mean = mean + member[:, None] * np.asarray(classes.shift)[None, :]
        if classes.baseline_slope is not None:
            slope = np.where(member, classes.baseline_slope, slope)
        if classes.sd is not None:
            sd = np.where(member[:, None], np.asarray(classes.sd)[None, :], sd)
    mean = mean + (slope * (x0 - centre))[:, None]
    chol = np.linalg.cholesky(endpoint.correlation)
    return x0[:, None] + mean + sd * (rng.standard_normal(mean.shape) @ chol.T)


def _recorded(latent: FloatArray, endpoint: Endpoint) -> FloatArray:
    """Values as recorded from model-scale values."""
    return _report(np.exp(latent) if endpoint.scale == "log" else latent, endpoint)


def _first_event(rate: Sequence[float], slope: float, change: FloatArray | None, arm: IntArray, n_visits: int,
                 rng: np.random.Generator) -> IntArray:
    """Index of the visit before which an event first happens (``n_visits``: none), with hazard per visit interval
    ``expit(logit(rate[arm]) + slope * change at the previous visit)``."""
    with np.errstate(divide="ignore"):
        logit = special.logit(np.asarray(rate)[arm])[:, None]
    if slope != 0.0 and change is not None:
        previous = np.zeros((arm.size, n_visits))
        previous[:, 1:] = change[:, :-1]
        logit = logit + slope * previous
    hazard = special.expit(logit) * np.ones((1, n_visits))
    event = rng.random((arm.size, n_visits)) < hazard
    return np.where(event.any(axis=1), event.argmax(axis=1), n_visits).astype(np.int64)


def _attended(spec: TrialSpec, arm: IntArray, dropout_change: FloatArray | None, rng: np.random.Generator) -> IntArray:
    """Number of scheduled visits each subject attends (monotone dropout; all of them for a completer)."""
    n_visits = len(spec.visits)
    d = spec.dropout
    if d is None:
        return np.full(arm.size, n_visits, dtype=np.int64)
    return _first_event(d.rate, d.slope, dropout_change, arm, n_visits, rng)


@dataclass(frozen=True)
class _Intercurrent:
    """The intercurrent events of each subject: ``stop``, the index of its first visit off treatment; ``reason`` of
    the discontinuation (``""`` none); ``attended`` once those who stop without follow-up have left;
    ``last_dose_week``; ``rescue``, the index of its first visit after rescue medication; ``rescue_u`` the draw
    placing the rescue between two visits (``n_visits``: no event)."""

    stop: IntArray
    reason: NDArray[np.object_]
    term: NDArray[np.object_]
    attended: IntArray
    last_dose_week: IntArray
    rescue: IntArray
    rescue_u: FloatArray


def _last_dose_week(spec: TrialSpec, on: IntArray) -> IntArray:
    """Week of the last dose of a subject on treatment for the first ``on`` scheduled visits."""
    visits = np.asarray(spec.visits)
    interval = spec.dosing_interval
    on_week = np.where(on > 0, visits[np.maximum(on - 1, 0)], 0)
    return np.minimum(on_week // interval * interval, (spec.visits[-1] - 1) // interval * interval)


def _intercurrent(spec: TrialSpec, arm: IntArray, attended: IntArray, change: Callable[[str], FloatArray],
                  entropy: int, prefix: str = "") -> _Intercurrent:
    """Discontinuation of treatment and rescue medication, each from its own stream (none without their table)."""
    n, n_visits = arm.size, len(spec.visits)
    none = np.full(n, n_visits, dtype=np.int64)
    stop, reason, term, followed = none, np.full(n, "", dtype=object), np.full(n, "", dtype=object), np.ones(n, bool)
    d = spec.discontinuation
    if d is not None:
        rng = _stream(entropy, f"{prefix}discontinuation")
        stop = _first_event(d.rate, d.slope, None if d.endpoint is None else change(d.endpoint), arm, n_visits, rng)
        stop = np.where(stop < attended, stop, n_visits)
        shares = np.array(list(d.rates.values())).T[arm]  # subjects x reasons
        cumulative = np.cumsum(shares, axis=1)
        pick = (cumulative < rng.random(n)[:, None] * cumulative[:, -1:]).sum(axis=1)
        reason = np.where(stop < n_visits, np.array(list(d.rates), dtype=object)[np.minimum(pick, len(d.rates) - 1)],
                          "")
        followed = rng.random(n) < d.follow_up
        term = np.where(stop < n_visits, _terms(d.terms, reason, rng), "")
    left = np.where((stop < n_visits) & ~followed, stop, attended)
    rescue, rescue_u = none, np.zeros(n)
    r = spec.rescue
    if r is not None:
        rng = _stream(entropy, f"{prefix}rescue")
        rescue = _first_event(r.rate, r.slope, None if r.endpoint is None else change(r.endpoint), arm, n_visits, rng)
        rescue = np.where(rescue < left, rescue, n_visits)
        rescue_u = rng.random(n)
    return _Intercurrent(stop=stop, reason=reason, term=term, attended=left,
                         last_dose_week=_last_dose_week(spec, np.minimum(stop, left)), rescue=rescue,
                         rescue_u=rescue_u)


def _after_events(spec: TrialSpec, e: Endpoint, latent: FloatArray, arm: IntArray, events: _Intercurrent) -> FloatArray:
    """Model-scale values after the intercurrent events: off treatment, the arm's mean effect over placebo fades
    linearly over the washout after the last dose; after rescue, the rescue's shift is added."""
    week = np.asarray(spec.visits)
    index = np.arange(week.size)[None, :]
    out = latent
    d = spec.discontinuation
    if d is not None and (events.stop < len(spec.visits)).any():
        effect = e.true_mean_change()
        placebo = int(np.flatnonzero(spec.doses == 0)[0]) if (spec.doses == 0).any() else 0
        since = week[None, :] - events.last_dose_week[:, None]
        faded = np.ones_like(since, dtype=float) if d.washout == 0 else np.clip(since / d.washout, 0.0, 1.0)
        off = index >= events.stop[:, None]
        out = out - off * faded * (effect[arm] - effect[placebo][None, :])
    r = spec.rescue
    if r is not None and r.shift.get(e.paramcd, 0.0) != 0.0:
        out = out + (index >= events.rescue[:, None]) * r.shift[e.paramcd]
    return out


# --------------------------------------------------------------------------- fast path


@dataclass(frozen=True, eq=False)
class EndpointMatrix:
    """One endpoint of many simulated trials as arrays: the fast path for simulation-based power.

    Attributes
    ----------
    paramcd
        The endpoint.
    doses
        Dose of each subject, shape ``(n_subjects,)`` (subjects sorted by arm, the same in every trial).
    arm
        Arm index of each subject, shape ``(n_subjects,)``.
    visits
        The schedule's weeks.
    base
        Recorded baseline, shape ``(n_trials, n_subjects)``.
    values
        Recorded value per visit, NaN after dropout, shape ``(n_trials, n_subjects, n_visits)``.
    """

    paramcd: str
    doses: FloatArray
    arm: IntArray
    visits: tuple[int, ...]
    base: FloatArray
    values: FloatArray

    def __repr__(self) -> str:
        return short_repr(self, paramcd=self.paramcd, trials=self.values.shape[0], subjects=self.values.shape[1],
                          visits=list(self.visits), doses=self.doses.tolist())

    @property
    def change(self) -> FloatArray:
        """Change from baseline, NaN after dropout."""
        return self.values - self.base[..., None]


def simulate_endpoint_matrix(
    spec: TrialSpec | str | PathLike[str], endpoint: str, *, n_trials: int = 1,
    seed: int | np.random.Generator | None = None,
) -> EndpointMatrix:
    """Simulate one endpoint (with the spec's dropout) of ``n_trials`` trials at once, as arrays.

    No ADaM frames are built, which makes this the path for power by simulation: the
    values follow the same model (and the same code) as :func:`simulate_trial`, but the
    streams differ, so the numbers are not those of a ``simulate_trial`` call. Subjects are
    sorted by arm (randomisation and stratification do not change the distribution).

    Parameters
    ----------
    spec
        A :class:`~dosefinding.study.TrialSpec`, a preset name or the path of a TOML spec.
    endpoint
        PARAMCD of an endpoint or biomarker of the spec.
    n_trials
        Number of trials, each with the spec's arms and sizes.
    seed
        Int or numpy Generator; the spec's ``trial.seed`` when omitted.

    Returns
    -------
    EndpointMatrix

    Examples
    --------
    >>> m = simulate_endpoint_matrix("a2201", "ESSDAI", n_trials=3, seed=1)
    >>> m.values.shape
    (3, 190, 6)
    """
    trial_spec = as_trial_spec(spec)
    if isinstance(n_trials, bool) or not isinstance(n_trials, (int, np.integer)) or n_trials < 1:
        raise InputError(f"n_trials: must be a positive integer, got {n_trials!r}")
    target = trial_spec.endpoint(endpoint)
    entropy = _entropy(seed, trial_spec.seed)
    arm = np.repeat(np.arange(len(trial_spec.arms)), trial_spec.sizes)
    all_arm = np.tile(arm, n_trials)
    total = all_arm.size

    def draw(e: Endpoint) -> tuple[FloatArray, FloatArray]:
        latent = _draw_baseline(e.baseline, total, _stream(entropy, f"matrix-baseline:{e.paramcd}"))
        return _report(latent, e), _draw_latent(e, all_arm, latent, _stream(entropy, f"matrix-values:{e.paramcd}"))

    drawn = {target.paramcd: draw(target)}

    def change(paramcd: str) -> FloatArray:
        if paramcd not in drawn:
            drawn[paramcd] = draw(trial_spec.endpoint(paramcd))
        base, latent = drawn[paramcd]
        return _recorded(latent, trial_spec.endpoint(paramcd)) - base[:, None]

    base, latent = drawn[target.paramcd]
    d = trial_spec.dropout
    driven = d is not None and d.endpoint is not None and d.slope != 0.0
    attended = _attended(trial_spec, all_arm, change(d.endpoint) if driven else None,  # type: ignore[union-attr, arg-type]
                         _stream(entropy, "matrix-dropout"))
    if trial_spec.discontinuation is not None or trial_spec.rescue is not None:
        events = _intercurrent(trial_spec, all_arm, attended, change, entropy, "matrix-")
        latent, attended = _after_events(trial_spec, target, latent, all_arm, events), events.attended
    values = _recorded(latent, target)
    values = np.where(np.arange(len(trial_spec.visits))[None, :] < attended[:, None], values, np.nan)
    return EndpointMatrix(
        paramcd=target.paramcd,
        doses=trial_spec.doses[arm],
        arm=arm,
        visits=trial_spec.visits,
        base=base.reshape(n_trials, arm.size),
        values=values.reshape(n_trials, arm.size, len(trial_spec.visits)),
    )


# --------------------------------------------------------------------------- the trial


@dataclass(frozen=True, eq=False)
class VirtualTrial(SummaryDisplay):
    """A simulated trial: its spec, seed and ADaM datasets (all synthetic).

    Attributes
    ----------
    spec
        The study spec it was drawn from.
    seed
        The seed used (the spec's unless one was given).
    adsl
        Subject level: one row per randomised subject.
    adeff
        Efficacy BDS: one row per subject, endpoint (PARAMCD) and attended visit, baseline included.
    adae
        Adverse events: one row per event.
    adbm
        Biomarker and drug-level BDS.
    ds
        Disposition events: one screening record per screened candidate (screen failures
        are in ``ds`` only) and one end-of-treatment-period record per randomised subject.
        Without a ``[screening]`` table in the spec, the randomised subjects only.
    """

    spec: TrialSpec = field(repr=False)
    seed: int
    adsl: pd.DataFrame = field(repr=False)
    adeff: pd.DataFrame = field(repr=False)
    adae: pd.DataFrame = field(repr=False)
    adbm: pd.DataFrame = field(repr=False)
    ds: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(REQUIRED_COLUMNS["ds"])), repr=False)

    def __post_init__(self) -> None:
        for name, frame in self.datasets.items():
            if not isinstance(frame, pd.DataFrame):
                raise InputError(f"{name}: must be a pandas DataFrame, got {type(frame).__name__}")
            missing = [c for c in REQUIRED_COLUMNS[name] if c not in frame.columns]
            if missing:
                raise InputError(f"{name}: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}")

    @property
    def datasets(self) -> dict[str, pd.DataFrame]:
        """The five datasets by lower-case name."""
        return {"adsl": self.adsl, "adeff": self.adeff, "adae": self.adae, "adbm": self.adbm, "ds": self.ds}

    def write(self, directory: str | PathLike[str], format: str = "csv") -> list[Path]:
        """Write the datasets (``adsl.csv`` ...), each with its labels (``adsl.labels.json``: ``{"variables":
        {column: label}, "parameters": {PARAMCD: PARAM}}``, read back by :func:`dosefinding.adam.read_adam`),
        and a README saying that they are synthetic.

        Parameters
        ----------
        directory
            Created if needed.
        format
            ``"csv"``, or ``"parquet"`` (needs pyarrow).

        Returns
        -------
        list of pathlib.Path
            The files written (each dataset, then its labels), README last.

        Examples
        --------
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     [p.name for p in simulate_trial("a2201").write(tmp)][:4]
        ['adsl.csv', 'adsl.labels.json', 'adeff.csv', 'adeff.labels.json']
        """
        if format not in ("csv", "parquet"):
            raise InputError(f"format: must be 'csv' or 'parquet', got {format!r}")
        if format == "parquet" and importlib.util.find_spec("pyarrow") is None:
            raise InputError("format: 'parquet' needs the pyarrow package (pip install pyarrow), or use format='csv'")
        out = Path(directory)
        if out.exists() and not out.is_dir():
            raise InputError(f"directory: {str(out)!r} exists and is not a directory")
        out.mkdir(parents=True, exist_ok=True)
        files = []
        for name, frame in self.datasets.items():
            path = out / f"{name}.{format}"
            if format == "csv":
                frame.to_csv(path, index=False, date_format="%Y-%m-%d")
            else:
                frame.to_parquet(path, index=False)
            labels = out / f"{name}.labels.json"
            labels.write_text(json.dumps({"variables": frame.attrs.get("labels", {}),
                                          "parameters": frame.attrs.get("parameters", {})}, indent=1),
                              encoding="utf-8")
            files += [path, labels]
        readme = out / "README.txt"
        readme.write_text(
            f"{SYNTHETIC_NOTE}\nStudy: {self.spec.studyid} ({self.spec.name}), seed {self.seed}.\n"
            f"Spec: {self.spec.source or '(given as text)'}\n{self.spec.description}\n",
            encoding="utf-8",
        )
        files.append(readme)
        return files

    def __repr__(self) -> str:
        return short_repr(self, study=self.spec.studyid, seed=self.seed, subjects=len(self.adsl),
                          arms=list(self.spec.arm_names), endpoints=[e.paramcd for e in self.spec.endpoints])

    def summary(self) -> Summary:
        """Counts by arm, completers, and the mean baseline and last-visit change of each efficacy endpoint."""
        arms = list(self.spec.arm_names)
        adsl = self.adsl
        rows = {
            "Randomised": adsl.groupby("TRT01P").size(),
            "Completed": adsl[adsl["COMPLFL"] == "Y"].groupby("TRT01P").size(),
        }
        if self.spec.discontinuation is not None or self.spec.rescue is not None:
            rows["Completed treatment"] = adsl[adsl["EOTSTT"] == "COMPLETED"].groupby("TRT01P").size()
            rows["Rescue medication"] = adsl[adsl["RESCFL"] == "Y"].groupby("TRT01P").size()
        last = f"Week {self.spec.visits[-1]}"
        eff = self.adeff
        for paramcd in (e.paramcd for e in self.spec.endpoints):
            one = eff[eff["PARAMCD"] == paramcd]
            rows[f"{paramcd} baseline mean"] = one[one["ABLFL"] == "Y"].groupby("TRTP")["AVAL"].mean()
            rows[f"{paramcd} {last.lower()} mean change"] = one[one["AVISIT"] == last].groupby("TRTP")["CHG"].mean()
        table = pd.DataFrame(rows).T.reindex(columns=arms)
        counts = table.index.isin(["Randomised", "Completed", "Completed treatment", "Rescue medication"])
        table = table.astype(object)
        table[counts] = table[counts].fillna(0).astype(int)
        table[~counts] = table[~counts].map(lambda v: f"{v:.2f}")
        header = [f"Virtual trial {self.spec.studyid} (seed {self.seed})", SYNTHETIC_NOTE]
        screening = self.ds.loc[self.ds["DSSCAT"] == "SCREENING", "DSDECOD"]
        if self.spec.screening is not None:
            failed = int((screening == "SCREEN FAILURE").sum())
            other = len(screening) - failed - int((screening == "RANDOMIZED").sum())
            header.append(f"Screened {len(screening)}: {failed} failed the eligibility rules, {other} not randomised "
                          "for other reasons")
        return Summary([*header, "", SummaryTable(table)])


def _choice(rng: np.random.Generator, shares: Mapping[str, float] | Sequence[float], n: int,
            labels: Sequence[str] | None = None) -> NDArray[np.object_]:
    names = list(shares) if labels is None else list(labels)
    p = np.array(list(shares.values()) if isinstance(shares, Mapping) else shares, dtype=float)
    idx = np.searchsorted(np.cumsum(p) / p.sum(), rng.random(n), side="right")
    return np.array(names, dtype=object)[np.minimum(idx, len(names) - 1)]


def _allocate(arm_sizes: IntArray, stratum: IntArray, rng: np.random.Generator) -> IntArray:
    """Arms with exact totals, balanced within strata (a stratified randomisation of fixed size).

    The list of arm labels is interleaved evenly (each arm's labels spread over the list at
    random offsets), and the subjects, grouped by stratum in random order, take the labels
    in turn: every stratum gets a run of the interleaved list, so arms are balanced within it.
    """
    labels = np.repeat(np.arange(arm_sizes.size), arm_sizes)
    rank = np.concatenate([np.arange(n) for n in arm_sizes])
    position = (rank + rng.random(labels.size)) / np.repeat(arm_sizes, arm_sizes)
    sequence = labels[np.argsort(position, kind="stable")]
    order = np.lexsort((rng.random(stratum.size), stratum))
    arm = np.empty(stratum.size, dtype=np.int64)
    arm[order] = sequence
    return arm


def _dates(start: NDArray[np.datetime64], days: NDArray[np.int64]) -> NDArray[np.datetime64]:
    return start + (days - 1).astype("timedelta64[D]")


def _bds(
    spec: TrialSpec, endpoint_codes: Sequence[tuple[str, str]], bases: Sequence[FloatArray],
    values: Sequence[FloatArray], visit_index: Sequence[NDArray[np.int64]], events: _Intercurrent,
    subjects: pd.DataFrame, visit_day: IntArray, with_baseline: Sequence[bool],
) -> pd.DataFrame:
    """A long BDS frame from per-endpoint matrices (subjects x schedule visits), attended visits only.

    Rows are ordered by subject, PARAMCD and visit; visit -1 stands for the baseline row. ``ONTRTFL``
    marks the records before the subject's first visit off treatment, ``RESCFL`` those from its first
    visit after rescue medication, ``ANL02FL`` those before any intercurrent event.
    """
    attended = events.attended
    n = attended.size
    subj_parts, code_parts, visit_parts, aval_parts, base_parts = [], [], [], [], []
    for number, (base, vals, idx, baseline_row) in enumerate(zip(bases, values, visit_index, with_baseline,
                                                                  strict=True)):
        subj, col = np.nonzero(idx[None, :] < attended[:, None])
        visit = idx[col]
        aval = vals[subj, visit]
        if baseline_row:
            subj, visit, aval = (np.concatenate([np.arange(n), subj]), np.concatenate([np.full(n, -1), visit]),
                                 np.concatenate([base, aval]))
        subj_parts.append(subj)
        code_parts.append(np.full(subj.size, number))
        visit_parts.append(visit)
        aval_parts.append(aval)
        base_parts.append(base[subj] if baseline_row else np.full(subj.size, np.nan))
    if not subj_parts:
        return pd.DataFrame(columns=list(REQUIRED_COLUMNS["adbm"]))
    subj, code, visit, aval, base = (np.concatenate(p) for p in (subj_parts, code_parts, visit_parts, aval_parts,
                                                                  base_parts))
    paramcds = np.array([c for c, _ in endpoint_codes], dtype=object)
    order = np.lexsort((visit, np.argsort(np.argsort(paramcds))[code], subj))
    subj, code, visit, aval, base = subj[order], code[order], visit[order], aval[order], base[order]
    is_base = visit < 0
    schedule = np.asarray(spec.visits)
    labels = np.array(["Baseline"] + [f"Week {w}" for w in spec.visits], dtype=object)
    day = np.where(is_base, 1, visit_day[subj, np.maximum(visit, 0)])
    columns: dict[str, object] = {}
    for column in ("STUDYID", "USUBJID"):
        columns[column] = subjects[column].to_numpy()[subj]
    for adsl_name, bds_name in (("TRT01P", "TRTP"), ("TRT01PN", "TRTPN"), ("TRT01A", "TRTA"), ("TRT01AN", "TRTAN")):
        columns[bds_name] = subjects[adsl_name].to_numpy()[subj]
    if spec.stratification is not None:
        columns[spec.stratification.variable] = subjects[spec.stratification.variable].to_numpy()[subj]
    columns.update({
        "PARAMCD": paramcds[code],
        "PARAM": np.array([label for _, label in endpoint_codes], dtype=object)[code],
        "AVISIT": labels[visit + 1],
        "AVISITN": np.where(is_base, 0, schedule[np.maximum(visit, 0)]),
        "ADT": _dates(subjects["TRTSDT"].to_numpy()[subj], day),
        "ADY": day,
        "AVAL": aval,
        "BASE": base,
        "CHG": np.where(is_base, np.nan, aval - base),
        "ABLFL": np.where(is_base, "Y", ""),
        "ANL01FL": "Y",
        "ONTRTFL": np.where(visit < events.stop[subj], "Y", ""),
        "RESCFL": np.where(visit >= events.rescue[subj], "Y", ""),
        "ANL02FL": np.where(visit < np.minimum(events.stop, events.rescue)[subj], "Y", ""),
    })
    return pd.DataFrame(columns)


def simulate_trial(
    spec: TrialSpec | str | PathLike[str], seed: int | np.random.Generator | None = None
) -> VirtualTrial:
    """Simulate a parallel-group dose-finding trial from a study spec, as ADaM datasets.

    Parameters
    ----------
    spec
        A :class:`~dosefinding.study.TrialSpec`, a preset name (``"a2201"``) or the path of a
        TOML spec.
    seed
        Int or numpy Generator; the spec's ``trial.seed`` when omitted. Same seed, same data.

    Returns
    -------
    VirtualTrial
        ADSL, ADEFF (one PARAMCD per endpoint), ADAE and ADBM (biomarkers and drug levels).

    Examples
    --------
    >>> trial = simulate_trial("a2201", seed=7)
    >>> trial.adsl.groupby("TRT01PN").size().tolist()
    [49, 47, 47, 47]
    >>> trial.adsl["STUDYID"].iloc[0]
    'VAY736A2201-SYNTHETIC'
    """
    s = as_trial_spec(spec)
    entropy = _entropy(seed, s.seed)
    n = int(s.sizes.sum())
    n_visits = len(s.visits)
    visits = np.asarray(s.visits)

    # Baselines first: the stratum comes from one of them, and the arm from the stratum.
    latent_bases = {e.paramcd: _draw_baseline(e.baseline, n, _stream(entropy, f"baseline:{e.paramcd}"))
                    for e in s.endpoints + s.biomarkers}
    bases = {e.paramcd: _report(latent_bases[e.paramcd], e) for e in s.endpoints + s.biomarkers}
    stratum = np.zeros(n, dtype=np.int64)
    if s.stratification is not None:
        stratum = (bases[s.stratification.endpoint] >= s.stratification.cut).astype(np.int64)
    arm = _allocate(s.sizes, stratum, _stream(entropy, "randomisation"))
    latent = {e.paramcd: _draw_latent(e, arm, latent_bases[e.paramcd], _stream(entropy, f"values:{e.paramcd}"))
              for e in s.endpoints + s.biomarkers}
    values = {e.paramcd: _recorded(latent[e.paramcd], e) for e in s.endpoints + s.biomarkers}

    def change(paramcd: str) -> FloatArray:
        return values[paramcd] - bases[paramcd][:, None]

    dropout_change = None
    if s.dropout is not None and s.dropout.endpoint is not None:
        dropout_change = change(s.dropout.endpoint)
    events = _intercurrent(s, arm, _attended(s, arm, dropout_change, _stream(entropy, "dropout")), change, entropy)
    if s.discontinuation is not None or s.rescue is not None:
        values = {e.paramcd: _recorded(_after_events(s, e, latent[e.paramcd], arm, events), e)
                  for e in s.endpoints + s.biomarkers}
    attended = events.attended
    completed = attended == n_visits
    stopped = events.stop < n_visits
    on = np.minimum(events.stop, attended)  # scheduled visits on treatment

    # Subjects in order of enrolment.
    demo = s.demographics
    rng = _stream(entropy, "demographics")
    first, last = (np.datetime64(d, "D") for d in demo.enrolment)
    span = int((last - first).astype(int)) + 1
    randdt = np.sort(first + rng.integers(0, span, n).astype("timedelta64[D]"))
    site = rng.integers(0, demo.sites, n)
    country = np.array(demo.countries, dtype=object)[site % len(demo.countries)]

    def bounded(mean: float, sd: float, lower: float, upper: float) -> FloatArray:
        return np.clip(np.round(mean + sd * rng.standard_normal(n)), lower, upper)

    age = bounded(*demo.age).astype(np.int64)
    sex = np.where(rng.random(n) < demo.female, "F", "M")
    race = _choice(rng, demo.race, n)
    weight = np.round(np.clip(demo.weight[0] + demo.weight[1] * rng.standard_normal(n), *demo.weight[2:]), 1)
    jitter = rng.integers(-3, 4, (n, n_visits))
    visit_day = (s.visit_days * visits[None, :] + 1 + jitter).astype(np.int64)
    reasons = _choice(rng, s.dropout.reasons if s.dropout else {"WITHDRAWAL BY SUBJECT": 1.0}, n)

    last_visit = np.where(attended > 0, visit_day[np.arange(n), np.maximum(attended - 1, 0)], 1)
    interval = s.dosing_interval
    attended_week = np.where(attended > 0, visits[np.maximum(attended - 1, 0)], 0)
    on_visit = np.where(on > 0, visit_day[np.arange(n), np.maximum(on - 1, 0)], 1)
    on_week = np.where(on > 0, visits[np.maximum(on - 1, 0)], 0)
    last_dose_week = events.last_dose_week
    last_dose_day = np.where(on_week == last_dose_week, on_visit, s.visit_days * last_dose_week + 1)
    # A dropout leaves some days after the last visit attended.
    end_day = np.where(completed, last_visit, last_visit + rng.integers(1, 7 * interval, n))

    disposition = _stream(entropy, "disposition")
    terms = _terms(s.dropout.terms if s.dropout is not None else {}, reasons, disposition)
    # A subject who stops treatment without follow-up leaves the study for the same reason.
    left_stopping = stopped & (attended == events.stop)
    study_reason = np.where(left_stopping, events.reason, reasons)
    study_term = np.where(left_stopping, events.term, terms)
    treatment_done = on == n_visits
    treatment_reason = np.where(stopped, events.reason, np.where(treatment_done, "", reasons))
    treatment_term = np.where(stopped, events.term, np.where(treatment_done, "", terms))
    rescued = events.rescue < n_visits
    before = np.where(events.rescue > 0, visit_day[np.arange(n), np.maximum(events.rescue - 1, 0)], 1)
    after = visit_day[np.arange(n), np.minimum(events.rescue, n_visits - 1)]
    rescue_day = before + 1 + np.floor(events.rescue_u * np.maximum(after - before - 1, 0)).astype(np.int64)
    # A subject who stops treatment for an adverse event has its adverse events up to the withdrawal.
    withdrawal_day = np.where(stopped, last_dose_day + s.visit_days, end_day)

    doses = s.doses[arm]
    names = np.array(s.arm_names, dtype=object)[arm]
    subjid = pd.Series(np.arange(1, n + 1)).map("{:04d}".format).to_numpy()
    siteid = pd.Series(site + 1).map("{:03d}".format).to_numpy()
    usubjid = pd.Series([s.studyid] * n).str.cat([siteid, subjid], sep="-").to_numpy()
    adsl = pd.DataFrame({
        "STUDYID": s.studyid,
        "USUBJID": usubjid,
        "SUBJID": subjid,
        "SITEID": siteid,
        "COUNTRY": country,
        "AGE": age,
        "AGEU": "YEARS",
        "SEX": sex,
        "RACE": race,
        "WEIGHTBL": weight,
        "TRT01P": names,
        "TRT01PN": doses,
        "TRT01A": names,
        "TRT01AN": doses,
        "RANDFL": "Y",
        "SAFFL": "Y",
        "ITTFL": "Y",
        "FASFL": "Y",
        "COMPLFL": np.where(completed, "Y", "N"),
        "EOSSTT": np.where(completed, "COMPLETED", "DISCONTINUED"),
        "DCSREAS": np.where(completed, "", study_reason),
        "DCSREASP": np.where(completed, "", study_term),
        "DSRAEFL": np.where(~completed & (study_reason == "ADVERSE EVENT"), "Y", ""),
        "EOTSTT": np.where(treatment_done, "COMPLETED", "DISCONTINUED"),
        "DCTREAS": treatment_reason,
        "DCTREASP": treatment_term,
        "RESCFL": np.where(rescued, "Y", "N"),
        "RANDDT": randdt,
        "TRTSDT": randdt,
        "TRTEDT": _dates(randdt, last_dose_day),
        "RESCDT": np.where(rescued, _dates(randdt, rescue_day), np.datetime64("NaT")),
        "EOSDT": _dates(randdt, end_day),
        "TRTDURD": last_dose_day,
        "LSTVISN": attended_week,
    })
    position = adsl.columns.get_loc("WEIGHTBL") + 1
    for name, value in _characteristics(s, bases, entropy).items():
        adsl.insert(position, name, value)
        position += 1
    if s.stratification is not None:
        adsl[s.stratification.variable] = np.array(s.stratification.labels, dtype=object)[stratum]
    for e in s.endpoints:
        adsl[f"{e.paramcd[:6]}BL"] = bases[e.paramcd]

    visit_index = {e.paramcd: np.searchsorted(visits, e.visits) for e in s.endpoints + s.biomarkers}
    adeff = _bds(
        s, [(e.paramcd, e.label + (f" ({e.unit})" if e.unit else "")) for e in s.endpoints],
        [bases[e.paramcd] for e in s.endpoints], [values[e.paramcd] for e in s.endpoints],
        [visit_index[e.paramcd] for e in s.endpoints], events, adsl, visit_day, [True] * len(s.endpoints),
    )
    codes = [(b.paramcd, b.label + (f" ({b.unit})" if b.unit else "")) for b in s.biomarkers]
    bm_bases, bm_values, bm_index = ([bases[b.paramcd] for b in s.biomarkers],
                                     [values[b.paramcd] for b in s.biomarkers],
                                     [visit_index[b.paramcd] for b in s.biomarkers])
    if s.pk is not None:
        pk = s.pk
        rng_pk = _stream(entropy, "pk")
        ratio = 2.0 ** (-(interval * s.visit_days) / pk.half_life)
        n_doses = visits // interval
        accumulation = (1 - ratio ** n_doses) / (1 - ratio)
        # Off treatment, the trough after the last dose decays by the half-life.
        given = events.last_dose_week // interval + 1
        since = (visits[None, :] - events.last_dose_week[:, None] - interval) * s.visit_days
        decayed = ((1 - ratio ** given) / (1 - ratio))[:, None] * 2.0 ** (-since / pk.half_life)
        accumulation = np.where(np.arange(n_visits)[None, :] >= events.stop[:, None], decayed, accumulation[None, :])
        sigma_b, sigma_w = np.sqrt(np.log1p(pk.between_cv**2)), np.sqrt(np.log1p(pk.within_cv**2))
        subject = np.exp(sigma_b * rng_pk.standard_normal(n) - sigma_b**2 / 2)
        within = np.exp(sigma_w * rng_pk.standard_normal((n, n_visits)) - sigma_w**2 / 2)
        level = (pk.trough_per_mg * doses**pk.exponent * subject)[:, None] * accumulation * within
        if pk.decimals is not None:
            level = np.round(level, pk.decimals)
        level = np.where(level < pk.lloq, 0.0, level)
        codes.append((pk.paramcd, pk.label + (f" ({pk.unit})" if pk.unit else "")))
        bm_bases.append(np.zeros(n))
        bm_values.append(level)
        bm_index.append(np.searchsorted(visits, pk.visits))
    adbm = _bds(s, codes, bm_bases, bm_values, bm_index, events, adsl, visit_day,
                [True] * len(s.biomarkers) + ([False] if s.pk is not None else []))
    if len(adbm):
        with np.errstate(divide="ignore", invalid="ignore"):
            pchg = 100 * adbm["CHG"] / adbm["BASE"]
        adbm.insert(adbm.columns.get_loc("CHG") + 1, "PCHG", pchg.where(np.isfinite(pchg)))
        adbm = adbm.drop(columns=["ANL01FL", "ANL02FL"])
        if s.pk is not None:
            # A drug level below the LLOQ (every one on placebo) is recorded as 0 and flagged.
            drug = adbm["PARAMCD"] == s.pk.paramcd
            adbm.insert(adbm.columns.get_loc("AVAL") + 1, "BLQFL", np.where(drug & (adbm["AVAL"] == 0), "Y", ""))

    adae = _adverse_events(s, arm, adsl, withdrawal_day, _stream(entropy, "adverse_events"))
    ds = _disposition(s, adsl, _stream(entropy, "screening"))
    for name, frame in (("adsl", adsl), ("adeff", adeff), ("adae", adae), ("adbm", adbm), ("ds", ds)):
        frame.attrs["synthetic"] = True
        frame.attrs["note"] = SYNTHETIC_NOTE
        frame.attrs["labels"] = _labels(s, frame)
        if "PARAMCD" in frame.columns and "PARAM" in frame.columns:
            frame.attrs["parameters"] = dict(zip(frame["PARAMCD"], frame["PARAM"], strict=True))
    return VirtualTrial(spec=s, seed=entropy, adsl=adsl, adeff=adeff, adae=adae, adbm=adbm, ds=ds)


def _labels(s: TrialSpec, frame: pd.DataFrame) -> dict[str, str]:
    """The label of every column of ``frame``: :data:`VARIABLE_LABELS`, or the spec's for its own columns."""
    own = {c.name: c.label for c in s.characteristics}
    for e in s.endpoints:
        own[f"{e.paramcd[:6]}BL"] = f"Baseline {e.label}" + (f" ({e.unit})" if e.unit else "")
    if s.stratification is not None:
        own[s.stratification.variable] = f"Randomisation stratum (baseline {s.stratification.endpoint})"
    return {column: own.get(column, VARIABLE_LABELS.get(column, column)) for column in frame.columns}


def _terms(choices_by_reason: Mapping[str, tuple[str, ...]], reasons: NDArray[np.object_],
           rng: np.random.Generator) -> NDArray[np.object_]:
    """The verbatim term of each subject's reason for discontinuation (the reason itself when none is given)."""
    terms = reasons.copy()
    u = rng.random(reasons.size)
    for reason, choices in choices_by_reason.items():
        which = reasons == reason
        terms[which] = np.array(choices, dtype=object)[(u[which] * len(choices)).astype(np.int64)]
    return terms


def _characteristics(s: TrialSpec, bases: Mapping[str, FloatArray], entropy: int) -> dict[str, NDArray]:
    """The baseline characteristics of ADSL, each from its own stream."""
    n = int(s.sizes.sum())
    out: dict[str, NDArray] = {}
    for c in s.characteristics:
        rng = _stream(entropy, f"characteristic:{c.name}")
        if c.baseline is not None:
            value = _draw_baseline(c.baseline, n, rng)
            out[c.name] = value if c.decimals is None else np.round(value, c.decimals)
        elif c.biomarker is not None:
            assert c.cut is not None  # the spec gives a biomarker flag its cut
            out[c.name] = np.where(bases[c.biomarker] >= c.cut, "Y", "N").astype(object)
        else:
            assert c.probability is not None  # the spec gives any other flag its probability
            out[c.name] = np.where(rng.random(n) < c.probability, "Y", "N").astype(object)
    return out


def _screening_values(screening: Screening, adsl: pd.DataFrame) -> dict[str, list[object]]:
    """Each randomised subject's screening values, read from its ADSL columns (flags as True/False)."""
    values: dict[str, list[object]] = {}
    for name, column in screening.fields.items():
        data = adsl[column]
        values[name] = data.tolist() if pd.api.types.is_numeric_dtype(data) else (data == "Y").tolist()
    return values


def _failing_value(value: object, u: float) -> object:
    """A failing value of a rule: the spec's value, or one drawn from ``(low, high)`` (whole numbers when integers)."""
    if not isinstance(value, tuple):
        return value
    low, high = value
    if isinstance(low, int):
        return int(low + np.floor(u * (high - low + 1)))
    return round(float(low + u * (high - low)), 2)


def _screen(s: TrialSpec, sc: Screening, adsl: pd.DataFrame, rng: np.random.Generator) -> tuple[pd.DataFrame, IntArray]:
    """Screen candidates until every randomised subject of ``adsl`` is found: the screening records of the
    others, and each randomised subject's position in the order of screening.

    A candidate fails the rules with probability ``ineligible``, else leaves with probability ``other``, else is
    the next randomised subject (whose screening values are its ADSL values). A candidate not randomised has the
    values of a randomised subject drawn at random (a donor), but a screen failure has a failing value for the
    rule drawn from ``reasons``. The study's rules are then evaluated on every candidate.
    """
    n = len(adsl)
    p_fail, p_other = sc.ineligible, (1 - sc.ineligible) * sc.other
    draws = np.empty(0)
    while np.count_nonzero(draws >= p_fail + p_other) < n:
        draws = np.concatenate([draws, rng.random(2 * n + 10)])
    # 0 randomised, 1 screen failure, 2 eligible but not randomised
    outcome = np.where(draws < p_fail, 1, np.where(draws < p_fail + p_other, 2, 0))
    outcome = outcome[: np.flatnonzero(outcome == 0)[n - 1] + 1]
    donor = np.where(outcome == 0, np.cumsum(outcome == 0) - 1, rng.integers(0, n, outcome.size))
    values = {name: [v[i] for i in donor] for name, v in _screening_values(sc, adsl).items()}
    failed = _choice(rng, sc.reasons, outcome.size)
    u = rng.random(outcome.size)
    by_id = {r.id: r for r in sc.rules.rules}
    for i in np.flatnonzero(outcome == 1):
        rule = by_id[failed[i]]
        values[rule.field][i] = _failing_value(sc.failing[rule.id], u[i])
    passes = sc.rules.evaluate(values)
    wrong = (outcome != 1) & ~passes.all(axis=1)
    if wrong.any():
        rule = sc.rules.rules[int(np.argmin(passes[np.flatnonzero(wrong)[0]]))]
        column = sc.fields[rule.field]
        raise InputError(f"screening.fields.{rule.field}: a randomised subject fails rule {rule.id} ({rule.text}) "
                         f"with its ADSL {column}; the spec's distribution of {column} must keep to the rule")
    k = np.flatnonzero(outcome != 0)
    # Screened up to four weeks before the next randomised subject was randomised.
    next_randomised = n - np.cumsum((outcome == 0)[::-1])[::-1][k]
    first = np.datetime64(s.demographics.enrolment[0], "D")
    dates = np.maximum(adsl["RANDDT"].to_numpy()[next_randomised]
                       - rng.integers(0, 28, k.size).astype("timedelta64[D]"), first)
    rules = [sc.rules.rules[j] for j in np.argmin(passes[k], axis=1)]  # the first rule failed
    fail = outcome[k] == 1
    records = pd.DataFrame({
        "USUBJID": [f"{s.studyid}-{adsl['SITEID'].iat[donor[i]]}-S{m + 1:04d}" for m, i in enumerate(k)],
        "DSSTDT": dates,
        "DSDECOD": np.where(fail, "SCREEN FAILURE", sc.other_reason),
        "DSTERM": [rule.text if f else sc.other_term for rule, f in zip(rules, fail, strict=True)],
        "DSREAS": [rule.failure({name: v[i] for name, v in values.items()}) if f else ""
                   for rule, f, i in zip(rules, fail, k, strict=True)],
        "_ORDER": k,
    })
    return records, np.flatnonzero(outcome == 0)


def _disposition(s: TrialSpec, adsl: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """The DS dataset: the screening of the candidates (with the spec's ``[screening]``; else the randomised
    subjects alone) and the end of the treatment period of the randomised subjects (:class:`VirtualTrial`)."""
    n = len(adsl)
    others, order = (pd.DataFrame(), np.arange(n)) if s.screening is None else _screen(s, s.screening, adsl, rng)
    randomised = pd.DataFrame({"USUBJID": adsl["USUBJID"], "DSSTDT": adsl["RANDDT"], "DSDECOD": "RANDOMIZED",
                               "DSTERM": "RANDOMIZED", "DSREAS": "", "_ORDER": order})
    screening = pd.concat([randomised, others], ignore_index=True).assign(DSSCAT="SCREENING", _SEQ=1)
    ended = adsl["EOSSTT"] == "COMPLETED"
    treatment = pd.DataFrame({
        "USUBJID": adsl["USUBJID"], "DSSTDT": adsl["EOSDT"], "DSSCAT": "TREATMENT PERIOD",
        "DSDECOD": np.where(ended, "COMPLETED", adsl["DCSREAS"]),
        "DSTERM": np.where(ended, "COMPLETED", adsl["DCSREASP"]), "DSREAS": "", "_ORDER": order, "_SEQ": 2,
    })
    ds = pd.concat([screening, treatment], ignore_index=True).sort_values(["_ORDER", "_SEQ"], kind="stable")
    ds = ds.assign(STUDYID=s.studyid, DSCAT="DISPOSITION EVENT", DSSEQ=ds["_SEQ"])
    return ds[list(REQUIRED_COLUMNS["ds"])].reset_index(drop=True)


_ADAE_COLUMNS = ["STUDYID", "USUBJID", "TRTA", "TRTAN", "AESEQ", "AEBODSYS", "AEDECOD", "AESEV", "AESER", "AEREL",
                 "AEACN", "AEOUT", "TRTEMFL", "ASTDT", "ASTDY"]  # severity only, as the paper: no CTC grade


def _adverse_events(s: TrialSpec, arm: IntArray, adsl: pd.DataFrame, end_day: IntArray,
                    rng: np.random.Generator) -> pd.DataFrame:
    """Adverse events: each subject has each preferred term with its arm's incidence.

    Within a system organ class, occurrences are correlated through a Gaussian copula
    (a shared normal per subject and SOC, with the SOC's latent correlation), which keeps
    each PT's incidence and lowers the SOC's below that of independent terms.

    A subject who stopped treatment for an adverse event (ADSL ``DCTREAS``) has its last event
    with ``AEACN = "DRUG WITHDRAWN"``; one without any event gets one (a PT drawn by its
    arm's incidences) in the week before ``end_day`` (for it, the withdrawal). Every other
    event has ``"DOSE NOT CHANGED"``.
    """
    events = s.adverse_events
    if not events:
        return pd.DataFrame(columns=_ADAE_COLUMNS)
    n, k = arm.size, len(events)
    socs = sorted({e.soc for e in events})
    soc_index = np.array([socs.index(e.soc) for e in events])
    rho = np.array([s.safety.correlation(soc) for soc in socs])[soc_index]
    shared = rng.standard_normal((n, len(socs)))[:, soc_index]
    latent = np.sqrt(rho) * shared + np.sqrt(1 - rho) * rng.standard_normal((n, k))
    rates = np.array([e.rates for e in events]).T[arm]  # subjects x events
    with np.errstate(divide="ignore"):
        occurs = latent < special.ndtri(rates)
    subj, event = np.nonzero(occurs)
    leaving = adsl["DCTREAS"].to_numpy() == "ADVERSE EVENT"
    without = np.flatnonzero(leaving & ~occurs.any(axis=1))
    cumulative = np.cumsum(rates[without], axis=1)
    extra = np.minimum((cumulative < rng.random(without.size)[:, None] * cumulative[:, -1:]).sum(axis=1), k - 1)
    subj, event = np.concatenate([subj, without]), np.concatenate([event, extra])
    m = subj.size
    severity = np.array([e.severity for e in events])[event]
    grade = 1 + (rng.random(m)[:, None] > np.cumsum(severity, axis=1)[:, :2]).sum(axis=1)
    serious = rng.random(m) < np.array([e.serious for e in events])[event]
    related = rng.random(m) < np.array([e.related for e in events])[event]
    u = rng.random(m)
    added = np.arange(m) >= m - without.size
    day = np.where(added, np.maximum(1, end_day[subj] - np.floor(7 * u)), 1 + np.floor(u * end_day[subj]))
    day = day.astype(np.int64)
    adae = pd.DataFrame({
        "_SUBJ": subj,
        "STUDYID": s.studyid,
        "USUBJID": adsl["USUBJID"].to_numpy()[subj],
        "TRTA": adsl["TRT01A"].to_numpy()[subj],
        "TRTAN": adsl["TRT01AN"].to_numpy()[subj],
        "AEBODSYS": np.array([e.soc for e in events], dtype=object)[event],
        "AEDECOD": np.array([e.pt for e in events], dtype=object)[event],
        "AESEV": np.array(["MILD", "MODERATE", "SEVERE"], dtype=object)[grade - 1],
        "AESER": np.where(serious, "Y", "N"),
        "AEREL": np.where(related, "RELATED", "NOT RELATED"),
        "AEACN": "DOSE NOT CHANGED",
        "AEOUT": "RECOVERED/RESOLVED",
        "TRTEMFL": "Y",
        "ASTDT": _dates(adsl["TRTSDT"].to_numpy()[subj], day),
        "ASTDY": day,
    })
    adae = adae.sort_values(["_SUBJ", "ASTDY", "AEDECOD"], kind="stable")
    last = ~adae["_SUBJ"].duplicated(keep="last") & leaving[adae["_SUBJ"].to_numpy()]
    adae.loc[last, "AEACN"] = "DRUG WITHDRAWN"
    adae = adae.drop(columns="_SUBJ")
    adae["AESEQ"] = adae.groupby("USUBJID", sort=False).cumcount() + 1
    return adae[_ADAE_COLUMNS].reset_index(drop=True)
