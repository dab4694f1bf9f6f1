"""Longitudinal data for multiple imputation: the arrays of the imputation model and the intercurrent events.

:func:`imputation_data` reads a long data frame (one row per subject and visit; missing rows
or NaN outcomes are missing visits) into subject-by-visit arrays, the design of the
imputation model (arm-by-visit cell means plus each baseline covariate by visit, the model
of rbmi's ``covariates = c("BASVAL*VISIT", "THERAPY*VISIT")``), the same design with every
subject moved to its reference arm (the means of jump to reference, copy reference and copy
increments in reference), and the intercurrent events (``ice``: subject, first visit
affected, strategy). Outcomes observed after an event handled by a reference-based strategy
are left out of the imputation model's fit (as rbmi does) but kept in the analysis.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from dosefinding.errors import InputError
from dosefinding.mmrm.data import visit_levels

__all__ = ["STRATEGIES", "ImputationData", "imputation_data"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
STRATEGIES = ("MAR", "JR", "CR", "CIR")


@dataclass(frozen=True)
class ImputationData:
    """A trial laid out for multiple imputation (N subjects, V visits, p columns of the imputation model).

    Attributes
    ----------
    y
        Outcomes (N, V), NaN where missing.
    x
        Design of the imputation model (N, V, p) with each subject in its own arm.
    x_reference
        The same with each subject in its reference arm (N, V, p).
    arm
        Arm code of each subject (N,), into :attr:`arms`.
    reference
        Reference arm code of each arm (A,), into :attr:`arms`.
    ice_visit
        Index of the first visit affected by the subject's intercurrent event (N,); V when none.
    strategy
        Strategy code of each subject (N,), into :data:`STRATEGIES` (0, MAR, when no event).
    covariates
        Baseline covariate columns of the analysis, one row per subject (N, c): numbers, and
        0/1 columns for each level but the first of a categorical covariate.
    subjects, visits, arms
        The labels, in the order of the arrays.
    covariate_names
        Names of the columns of :attr:`covariates`.
    """

    y: FloatArray
    x: FloatArray
    x_reference: FloatArray
    arm: IntArray
    reference: IntArray
    ice_visit: IntArray
    strategy: IntArray
    covariates: FloatArray
    subjects: pd.Index
    visits: pd.Index
    arms: pd.Index
    covariate_names: tuple[str, ...]

    @property
    def missing(self) -> NDArray[np.bool_]:
        """The visits to impute (N, V)."""
        return np.isnan(self.y)

    @property
    def y_fit(self) -> FloatArray:
        """Outcomes the imputation model is fitted to: those after a non-MAR event set missing (N, V)."""
        after = np.arange(self.y.shape[1])[None, :] >= self.ice_visit[:, None]
        return np.where(after & (self.strategy[:, None] > 0), np.nan, self.y)


def _column(data: pd.DataFrame, name: str, argument: str) -> pd.Series:
    if not isinstance(name, str) or name not in data.columns:
        raise InputError(f"{argument}: column {name!r} is not in the data")
    return data[name]


def _covariate_columns(first: pd.DataFrame, covariates: Sequence[str]) -> tuple[FloatArray, tuple[str, ...]]:
    columns: list[FloatArray] = []
    names: list[str] = []
    for name in covariates:
        values = first[name]
        if values.isna().any():
            raise InputError(f"covariates: column {name!r} is missing for subject {values[values.isna()].index[0]!r}")
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            columns.append(values.to_numpy(dtype=float))
            names.append(name)
        else:
            levels = pd.Index(values.cat.categories if isinstance(values.dtype, pd.CategoricalDtype)
                              else sorted(values.unique(), key=str))
            for level in levels[1:]:
                columns.append((values == level).to_numpy(dtype=float))
                names.append(f"{name}{level}")
    return (np.column_stack(columns) if columns else np.empty((len(first), 0))), tuple(names)


def _design(arm: IntArray, covariates: FloatArray, n_arms: int, n_visits: int) -> FloatArray:
    """Arm-by-visit cell means and covariate-by-visit slopes (N, V, A*V + c*V)."""
    n = len(arm)
    eye = np.eye(n_visits)
    cells = np.zeros((n, n_visits, n_arms, n_visits))
    cells[np.arange(n), :, arm, :] = eye
    slopes = covariates[:, None, :, None] * eye[None, :, None, :]
    return np.concatenate([cells.reshape(n, n_visits, -1), slopes.reshape(n, n_visits, -1)], axis=2)


def _subject_constant(data: pd.DataFrame, subject: str, column: str, argument: str) -> None:
    varying = data.groupby(subject, sort=False)[column].nunique(dropna=False)
    if (varying > 1).any():
        raise InputError(f"{argument}: column {column!r} varies within subject {varying[varying > 1].index[0]!r}; "
                         "it must be a baseline value")


def _ice(ice: pd.DataFrame | None, subjects: pd.Index, visits: pd.Index) -> tuple[IntArray, IntArray]:
    ice_visit = np.full(len(subjects), len(visits), dtype=np.intp)
    strategy = np.zeros(len(subjects), dtype=np.intp)
    if ice is None:
        return ice_visit, strategy
    if not isinstance(ice, pd.DataFrame) or not {"subject", "visit", "strategy"} <= set(ice.columns):
        raise InputError("ice: must be a data frame with columns subject, visit and strategy")
    if ice["subject"].duplicated().any():
        raise InputError(f"ice: subject {ice['subject'][ice['subject'].duplicated()].iloc[0]!r} has more than one "
                         "intercurrent event (give the first visit affected)")
    rows = subjects.get_indexer(ice["subject"].astype(str))
    for label, row in zip(ice["subject"], rows, strict=True):
        if row < 0:
            raise InputError(f"ice: subject {label!r} is not in the data")
    columns = visits.get_indexer(ice["visit"].astype(str))
    for label, column in zip(ice["visit"], columns, strict=True):
        if column < 0:
            raise InputError(f"ice: visit {label!r} is not a visit of the data (visits {visits.tolist()})")
    codes = pd.Index(STRATEGIES).get_indexer(ice["strategy"])
    for label, code in zip(ice["strategy"], codes, strict=True):
        if code < 0:
            raise InputError(f"ice: strategy {label!r} is not one of {list(STRATEGIES)}")
    ice_visit[rows] = columns
    strategy[rows] = codes
    return ice_visit, strategy


def _references(references: Mapping[object, object] | None, arms: pd.Index) -> IntArray:
    reference = np.arange(len(arms), dtype=np.intp)
    if references is None:
        return reference
    if not isinstance(references, Mapping):
        raise InputError(f"references: must map each arm to its reference arm, got {references!r}")
    for arm, ref in references.items():
        if str(arm) not in arms:
            raise InputError(f"references: arm {arm!r} does not exist (arms {arms.tolist()})")
        if str(ref) not in arms:
            raise InputError(f"references: reference arm {ref!r} of arm {arm!r} does not exist (arms {arms.tolist()})")
        reference[arms.get_loc(str(arm))] = arms.get_loc(str(ref))
    return reference


def imputation_data(
    data: pd.DataFrame,
    *,
    subject: str,
    visit: str,
    outcome: str,
    arm: str,
    covariates: Sequence[str] = (),
    ice: pd.DataFrame | None = None,
    references: Mapping[object, object] | None = None,
    visit_order: str | Sequence[object] | None = None,
    arm_order: Sequence[object] | None = None,
) -> ImputationData:
    """Lay out a long data frame for multiple imputation.

    Parameters
    ----------
    data
        One row per subject and visit; a missing row or a NaN ``outcome`` is a missing visit.
    subject, visit, outcome, arm
        Column names. ``arm`` (the treatment group) and ``covariates`` must be constant within
        a subject.
    covariates
        Baseline covariates of the imputation model (each enters by visit) and of the
        analysis; numeric columns as numbers, others as categories (first level the reference).
    ice
        Intercurrent events: columns ``subject``, ``visit`` (the first visit affected) and
        ``strategy`` (``"MAR"``, ``"JR"``, ``"CR"`` or ``"CIR"``), at most one row per subject.
    references
        Reference arm of each arm for the reference-based strategies, e.g.
        ``{"DRUG": "PLACEBO"}``; an arm not named is its own reference.
    visit_order, arm_order
        The order of the visits (as :func:`dosefinding.mmrm.data.visit_levels`) and of the arms
        (default: sorted labels). Labels are compared as text.

    Examples
    --------
    >>> import pandas as pd
    >>> from dosefinding.datasets import antidepressant_data
    >>> ad = antidepressant_data()
    >>> ice = pd.DataFrame({"subject": ["1513"], "visit": ["5"], "strategy": ["JR"]})
    >>> d = imputation_data(ad, subject="PATIENT", visit="VISIT", outcome="CHANGE", arm="THERAPY",
    ...                     covariates=["BASVAL"], ice=ice, references={"DRUG": "PLACEBO"})
    >>> d.y.shape, d.x.shape, d.arms.tolist(), int(d.missing.sum())
    ((172, 4), (172, 4, 12), ['DRUG', 'PLACEBO'], 80)
    """
    if not isinstance(data, pd.DataFrame):
        raise InputError(f"data: must be a pandas DataFrame, got {type(data).__name__}")
    for name, argument in [(subject, "subject"), (visit, "visit"), (outcome, "outcome"), (arm, "arm")]:
        _column(data, name, argument)
    covariates = [covariates] if isinstance(covariates, str) else list(covariates)
    for name in covariates:
        _column(data, name, "covariates")
    if not pd.api.types.is_numeric_dtype(data[outcome]):
        raise InputError(f"outcome: column {outcome!r} must be numeric")
    if data[subject].isna().any() or data[visit].isna().any() or data[arm].isna().any():
        raise InputError(f"data: columns {subject!r}, {visit!r} and {arm!r} must not be missing")
    frame = data.assign(**{subject: data[subject].astype(str), arm: data[arm].astype(str)})
    if frame.duplicated([subject, visit]).any():
        row = frame[frame.duplicated([subject, visit])].iloc[0]
        raise InputError(f"data: subject {row[subject]!r} has more than one row at visit {row[visit]!r}")
    for name in [arm, *covariates]:
        _subject_constant(frame, subject, name, "arm" if name == arm else "covariates")
    visits, _ = visit_levels(frame, visit, visit_order)
    visits = pd.Index([str(v) for v in visits], name=visit)
    frame[visit] = frame[visit].astype(str)
    arms = pd.Index(sorted(frame[arm].unique()) if arm_order is None else [str(a) for a in arm_order], name=arm)
    if arm_order is not None and set(arms) != set(frame[arm].unique()):
        raise InputError(f"arm_order: {arms.tolist()} are not the arms of the data {sorted(frame[arm].unique())}")
    first = frame.groupby(subject, sort=True).first()
    subjects = pd.Index(first.index, name=subject)
    wide = frame.pivot(index=subject, columns=visit, values=outcome).reindex(index=subjects, columns=visits)
    y = wide.to_numpy(dtype=float)
    if np.isinf(y).any():
        raise InputError(f"outcome: column {outcome!r} has infinite values")
    arm_code = arms.get_indexer(first[arm]).astype(np.intp)
    cov, names = _covariate_columns(first, covariates)
    reference = _references(references, arms)
    ice_visit, strategy = _ice(ice, subjects, visits)
    return ImputationData(
        y=y, x=_design(arm_code, cov, len(arms), len(visits)),
        x_reference=_design(reference[arm_code], cov, len(arms), len(visits)),
        arm=arm_code, reference=reference, ice_visit=ice_visit, strategy=strategy, covariates=cov,
        subjects=subjects, visits=visits, arms=arms, covariate_names=names,
    )
