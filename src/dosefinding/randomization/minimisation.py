"""Pocock-Simon minimisation: the alternative to a pre-generated list.

Each new subject goes, with probability ``p``, to the arm that would leave the smallest
weighted sum over factors of the imbalance among the arms at the subject's own level of
each factor (Pocock and Simon, Biometrics 1975; 31: 103-115); otherwise to one of the other
arms at random. Counts are divided by the allocation ratio first, so that "balanced" means
"in the ratio". When every arm gives the same imbalance the arm is drawn with the ratio's
probabilities. The random numbers of the k-th subject come from ``SeedSequence([seed, k])``,
so an allocation can be replayed from the seed and the order of arrival alone.

With an unequal ratio the ratio-scaled imbalance favours the larger arm whenever the
counts are in the ratio (an empty trial, say); the allocation-ratio-preserving variants
(Kuznetsova and Tymofyeyev, Stat Med 2012) are not implemented.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from dosefinding.errors import InputError
from dosefinding.randomization.lists import as_arms, as_ratio
from dosefinding.summary import Summary, SummaryDisplay, SummaryTable, short_repr

__all__ = [
    "Minimisation", "MinimisationResult", "minimisation_arm", "minimisation_slots", "minimisation_uniforms", "minimise",
    "next_minimisation_arm", "slots_digest",
]

Measure = Literal["range", "variance"]


def minimisation_uniforms(seed: int, k: int) -> NDArray[np.float64]:
    """The two uniform numbers used for the ``k``-th subject (from 0) under ``seed``.

    Examples
    --------
    >>> bool((minimisation_uniforms(7, 3) == minimisation_uniforms(7, 3)).all())
    True
    """
    return np.random.default_rng([int(seed), int(k)]).random(2)


def minimisation_slots(seed: int, capacity: int) -> pd.DataFrame:
    """The service's list entries of a minimisation study: randomisation and random kit numbers, no arm.

    Examples
    --------
    >>> minimisation_slots(2201, 3)[["SEQ", "RANDNO"]].to_numpy().tolist()
    [[1, 10001], [2, 10002], [3, 10003]]
    """
    kits = np.random.default_rng([int(seed), 1]).choice(900_000, size=capacity, replace=False) + 100_000
    return pd.DataFrame({"STRATUM": "ALL", "SEQ": np.arange(1, capacity + 1), "BLOCK": 0, "BLOCKSIZE": 0,
                         "RANDNO": 10_000 + np.arange(1, capacity + 1), "KITNO": kits, "ARM": None})


def slots_digest(table: pd.DataFrame) -> str:
    """SHA-256 of the list entries without the arm column (the digest of a minimisation study's list).

    Examples
    --------
    >>> len(slots_digest(minimisation_slots(1, 2)))
    64
    """
    return hashlib.sha256(table.drop(columns="ARM").to_csv(index=False, lineterminator="\n").encode()).hexdigest()


def next_minimisation_arm(config: Mapping[str, Any], earlier: Sequence[tuple[Mapping[str, str], str]],
                          levels: Mapping[str, str], k: int) -> str:
    """The arm of the ``k``-th subject (from 0) of a service study, from the earlier subjects' levels and arms.

    ``config`` is the study's stored configuration (``arms``, ``ratio``, ``strata``, ``p``, ``seed``);
    equal factor weights. The service allocates with it and ``audit-verify`` replays with it.

    Examples
    --------
    >>> config = {"arms": ["A", "B"], "ratio": [1, 1], "strata": {"SEX": ["F", "M"]}, "p": 1.0, "seed": 1}
    >>> next_minimisation_arm(config, [({"SEX": "F"}, "A")], {"SEX": "F"}, 1)
    'B'
    """
    arms, factors = list(config["arms"]), list(config["strata"])
    counts = np.zeros((len(factors), len(arms)), dtype=np.int64)
    for earlier_levels, arm in earlier:
        for i, factor in enumerate(factors):
            if earlier_levels[factor] == levels[factor]:
                counts[i, arms.index(arm)] += 1
    index = minimisation_arm(counts, ratio=config["ratio"], weights=[1.0] * len(factors), p=float(config["p"]),
                             u=minimisation_uniforms(int(config["seed"]), k))
    return arms[index]


def minimisation_arm(
    level_counts: NDArray[np.integer],
    *,
    ratio: Sequence[int] | NDArray[np.int64],
    weights: Sequence[float] | NDArray[np.float64],
    p: float,
    u: NDArray[np.float64],
    measure: Measure = "range",
) -> int:
    """The arm (index) for one subject, given the arms of earlier subjects at its levels.

    Parameters
    ----------
    level_counts : array, shape (n_factors, n_arms)
        Earlier subjects per arm that share this subject's level of each factor.
    ratio, weights : sequences
        Allocation ratio per arm; weight per factor.
    p : float
        Probability of the arm that minimises the imbalance.
    u : array of two uniforms
        The random numbers of this subject (see :func:`minimisation_uniforms`).
    measure : {"range", "variance"}
        Imbalance among the ratio-scaled counts at one level.

    Examples
    --------
    >>> minimisation_arm([[3, 2], [1, 1]], ratio=[1, 1], weights=[1, 1], p=1.0, u=[0.5, 0.5])
    1
    """
    counts = np.asarray(level_counts, dtype=float)
    r = np.asarray(ratio, dtype=float)
    w = np.asarray(weights, dtype=float)
    k = r.size
    trial = (counts[None, :, :] + np.eye(k)[:, None, :]) / r
    spread = np.ptp(trial, axis=2) if measure == "range" else np.var(trial, axis=2)
    score = spread @ w
    best = np.isclose(score, score.min(), rtol=0, atol=1e-12)
    if best.all():
        return int(np.searchsorted(np.cumsum(r) / r.sum(), u[1], side="right").clip(max=k - 1))
    choice = np.flatnonzero(best) if u[0] < p else np.flatnonzero(~best)
    return int(choice[min(int(u[1] * choice.size), choice.size - 1)])


@dataclass(frozen=True)
class Minimisation:
    """A minimisation scheme: arms, ratio, factors with their levels, weights, ``p``, seed.

    Examples
    --------
    >>> scheme = Minimisation(arms=("A", "B"), factors={"ESSDAI": (">=10", "<10")}, seed=1)
    >>> scheme.assign(0, {"ESSDAI": "<10"}, np.zeros((1, 2), int)) in ("A", "B")
    True
    """

    arms: tuple[str, ...]
    factors: Mapping[str, tuple[str, ...]]
    seed: int
    ratio: tuple[int, ...] | None = None
    weights: tuple[float, ...] | None = None
    p: float = 0.8
    measure: Measure = "range"

    def __post_init__(self) -> None:
        object.__setattr__(self, "arms", as_arms(self.arms))
        object.__setattr__(self, "ratio", tuple(as_ratio(self.ratio, len(self.arms)).tolist()))
        if not self.factors:
            raise InputError("factors: minimisation needs at least one factor")
        object.__setattr__(self, "factors", {str(f): tuple(str(v) for v in lv) for f, lv in self.factors.items()})
        weights = (1.0,) * len(self.factors) if self.weights is None else tuple(float(x) for x in self.weights)
        if len(weights) != len(self.factors) or any(not np.isfinite(x) or x <= 0 for x in weights):
            raise InputError(f"weights: need one positive weight per factor ({len(self.factors)}), got {self.weights!r}")
        object.__setattr__(self, "weights", weights)
        if not 0 < float(self.p) <= 1:
            raise InputError(f"p: must be in (0, 1], got {self.p!r}")
        if self.measure not in ("range", "variance"):
            raise InputError(f"measure: must be 'range' or 'variance', got {self.measure!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise InputError(f"seed: must be a non-negative int, got {self.seed!r}")

    def levels_of(self, levels: Mapping[str, str]) -> NDArray[np.int64]:
        """Level index of each factor for one subject, or InputError naming the unknown level."""
        out = []
        for factor, allowed in self.factors.items():
            if factor not in levels:
                raise InputError(f"strata: missing factor {factor!r}")
            value = str(levels[factor])
            if value not in allowed:
                raise InputError(f"strata[{factor!r}]: unknown level {value!r}, expected one of {list(allowed)}")
            out.append(allowed.index(value))
        return np.asarray(out)

    def assign(self, k: int, levels: Mapping[str, str], level_counts: NDArray[np.integer]) -> str:
        """The arm of the ``k``-th subject (from 0) given earlier counts at its levels."""
        self.levels_of(levels)
        assert self.ratio is not None and self.weights is not None  # set by __post_init__
        index = minimisation_arm(
            level_counts, ratio=self.ratio, weights=self.weights, p=self.p,
            u=minimisation_uniforms(self.seed, k), measure=self.measure,
        )
        return self.arms[index]


@dataclass(frozen=True)
class MinimisationResult(SummaryDisplay):
    """Arms given by minimisation to subjects in order of arrival, with marginal balance."""

    assignments: pd.DataFrame
    scheme: Minimisation

    def margins(self) -> pd.DataFrame:
        """Subjects per arm at every level of every factor."""
        parts = [
            pd.crosstab(self.assignments[f], self.assignments["ARM"]).reindex(
                index=list(levels), columns=list(self.scheme.arms), fill_value=0
            ).set_axis(pd.MultiIndex.from_product([[f], list(levels)]), axis=0)
            for f, levels in self.scheme.factors.items()
        ]
        return pd.concat(parts)

    def to_frame(self) -> pd.DataFrame:
        """One row per subject, in order of arrival (:attr:`assignments`)."""
        return self.assignments.copy()

    def __repr__(self) -> str:
        return short_repr(self, subjects=len(self.assignments), arms=list(self.scheme.arms),
                          factors=list(self.scheme.factors), measure=self.scheme.measure, p=self.scheme.p,
                          seed=self.scheme.seed)

    def summary(self) -> Summary:
        """The marginal table, as the minimisation reports of a randomisation system show it."""
        return Summary([
            (f"Pocock-Simon minimisation ({self.scheme.measure}, p = {self.scheme.p:g}), "
            f"{len(self.assignments)} subjects, seed {self.scheme.seed}"),
            SummaryTable(self.margins()),
        ], frame=self.to_frame())


def minimise(subjects: pd.DataFrame, scheme: Minimisation) -> MinimisationResult:
    """Allocate ``subjects`` (one row each, in order of arrival; a column per factor) by minimisation.

    Examples
    --------
    >>> scheme = Minimisation(arms=("A", "B"), factors={"SEX": ("F", "M")}, seed=3, p=1.0)
    >>> arms = minimise(pd.DataFrame({"SEX": ["F", "F", "M", "M"]}), scheme).assignments["ARM"].tolist()
    >>> arms[0] != arms[1] and arms[2] != arms[3]
    True
    """
    missing = [f for f in scheme.factors if f not in subjects.columns]
    if missing:
        raise InputError(f"subjects: missing factor column(s) {missing}")
    levels = np.column_stack([
        subjects[f].astype(str).map({level: i for i, level in enumerate(lv)}).fillna(-1).to_numpy(dtype=np.int64)
        for f, lv in scheme.factors.items()
    ]) if len(subjects) else np.zeros((0, len(scheme.factors)), np.int64)
    bad = np.argwhere(levels < 0)
    if bad.size:
        row, col = bad[0]
        factor = list(scheme.factors)[col]
        raise InputError(f"subjects[{factor!r}]: unknown level {subjects[factor].iloc[row]!r} in row {row}")
    n_levels = max(len(lv) for lv in scheme.factors.values())
    counts = np.zeros((len(scheme.factors), n_levels, len(scheme.arms)), dtype=np.int64)
    factor_index = np.arange(len(scheme.factors))
    arms = np.empty(len(subjects), dtype=np.int64)
    assert scheme.ratio is not None and scheme.weights is not None  # set by Minimisation.__post_init__
    for k, subject_levels in enumerate(levels):  # sequential by nature: each arm depends on all earlier ones
        arms[k] = minimisation_arm(
            counts[factor_index, subject_levels], ratio=scheme.ratio, weights=scheme.weights, p=scheme.p,
            u=minimisation_uniforms(scheme.seed, k), measure=scheme.measure,
        )
        counts[factor_index, subject_levels, arms[k]] += 1
    out = subjects.reset_index(drop=True).copy()
    out["ARM"] = np.array(scheme.arms, dtype=object)[arms]
    return MinimisationResult(assignments=out, scheme=scheme)
