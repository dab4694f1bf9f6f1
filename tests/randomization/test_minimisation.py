"""Pocock-Simon minimisation: hand-computed allocations, reproducibility, balance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dosefinding.errors import InputError
from dosefinding.randomization import Minimisation, minimisation_arm, minimise

# Earlier subjects at the new subject's levels (SEX = F, AGE = <50), arms A, B, C.
COUNTS = np.array([[3, 3, 1], [0, 2, 2]])


def test_hand_computed_range_scores() -> None:
    """By hand, range measure: A -> SEX [4,3,1] 3 + AGE [1,2,2] 1 = 4; B -> 3 + 3 = 6; C -> 1 + 3 = 4.

    With weights (1, 2): A 5, B 9, C 7 -> A; with (2, 1): A 7, B 9, C 5 -> C. With equal
    weights A and C tie and the second uniform picks among them (< 0.5: A).
    """
    kw = {"ratio": [1, 1, 1], "p": 1.0}
    assert minimisation_arm(COUNTS, weights=[1, 2], u=np.array([0.3, 0.9]), **kw) == 0
    assert minimisation_arm(COUNTS, weights=[2, 1], u=np.array([0.3, 0.1]), **kw) == 2
    assert minimisation_arm(COUNTS, weights=[1, 1], u=np.array([0.3, 0.4]), **kw) == 0
    assert minimisation_arm(COUNTS, weights=[1, 1], u=np.array([0.3, 0.6]), **kw) == 2
    # With p = 0.8 a first uniform >= 0.8 sends the subject to a non-minimising arm: only B.
    assert minimisation_arm(COUNTS, weights=[1, 2], ratio=[1, 1, 1], p=0.8, u=np.array([0.85, 0.0])) == 1


def test_hand_computed_variance_and_ratio() -> None:
    """Variance measure, by hand: A -> 42/27 + 6/27, B -> 42/27 + 42/27, C -> 6/27 + 42/27: A and C tie.

    Ratio 2:1 with counts [2, 1]: A gives [3, 1] / [2, 1] = [1.5, 1] (range 0.5), B gives
    [1, 2] (range 1) -> A; so does an empty trial ([0.5, 0] against [0, 1]). With equal
    ratio and no earlier subjects both arms tie, and the second uniform draws the arm.
    """
    u = np.array([0.1, 0.9])
    assert minimisation_arm(COUNTS, ratio=[1, 1, 1], weights=[1, 1], p=1.0, u=u, measure="variance") == 2
    b_score = np.var([3, 4, 1]) + np.var([0, 3, 2])
    assert b_score == pytest.approx(84 / 27, rel=1e-12)
    assert minimisation_arm(np.array([[2, 1]]), ratio=[2, 1], weights=[1], p=1.0, u=u) == 0
    assert minimisation_arm(np.zeros((1, 2)), ratio=[2, 1], weights=[1], p=1.0, u=np.array([0.1, 0.9])) == 0
    assert minimisation_arm(np.zeros((1, 2)), ratio=[1, 1], weights=[1], p=1.0, u=np.array([0.1, 0.4])) == 0
    assert minimisation_arm(np.zeros((1, 2)), ratio=[1, 1], weights=[1], p=1.0, u=np.array([0.1, 0.6])) == 1


def _subjects(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "ESSDAI": rng.choice([">=10", "<10"], size=n, p=[0.7, 0.3]),
        "REGION": rng.choice(["Japan", "Other"], size=n, p=[0.1, 0.9]),
    })


SCHEME = {"arms": ("Placebo", "5 mg", "50 mg", "300 mg"), "factors": {"ESSDAI": (">=10", "<10"),
                                                                       "REGION": ("Japan", "Other")}}


def test_reproducible_from_seed_and_order() -> None:
    subjects = _subjects(100, 1)
    first = minimise(subjects, Minimisation(**SCHEME, seed=9)).assignments["ARM"]
    again = minimise(subjects, Minimisation(**SCHEME, seed=9)).assignments["ARM"]
    other = minimise(subjects, Minimisation(**SCHEME, seed=10)).assignments["ARM"]
    assert first.equals(again) and not first.equals(other)


def test_marginal_balance_far_better_than_simple_randomisation() -> None:
    worst_min, worst_simple = [], []
    rng = np.random.default_rng(0)
    for rep in range(30):
        subjects = _subjects(190, 100 + rep)
        result = minimise(subjects, Minimisation(**SCHEME, seed=rep))
        margins = result.margins().to_numpy()
        worst_min.append(np.ptp(margins, axis=1).max())
        simple = subjects.assign(ARM=rng.choice(SCHEME["arms"], size=len(subjects)))
        worst_simple.append(max(np.ptp(pd.crosstab(simple[f], simple["ARM"]).to_numpy(), axis=1).max()
                                for f in SCHEME["factors"]))
    assert np.mean(worst_min) < np.mean(worst_simple) / 3


def test_deterministic_minimisation_keeps_every_level_within_one() -> None:
    subjects = _subjects(200, 3)[["ESSDAI"]]
    result = minimise(subjects, Minimisation(arms=("A", "B"), factors={"ESSDAI": (">=10", "<10")}, p=1.0, seed=4))
    arms = result.assignments
    for _, group in arms.groupby("ESSDAI"):
        running = np.cumsum(np.where(group["ARM"] == "A", 1, -1))
        assert np.abs(running).max() <= 1
    assert "Pocock-Simon minimisation (range, p = 1)" in str(result.summary())


def test_bad_input() -> None:
    with pytest.raises(InputError, match="p: must be in"):
        Minimisation(**SCHEME, seed=1, p=0)
    with pytest.raises(InputError, match="weights: need one positive weight per factor"):
        Minimisation(**SCHEME, seed=1, weights=(1.0,))
    with pytest.raises(InputError, match="subjects\\['ESSDAI'\\]: unknown level 'high' in row 0"):
        minimise(pd.DataFrame({"ESSDAI": ["high"], "REGION": ["Japan"]}), Minimisation(**SCHEME, seed=1))
    with pytest.raises(InputError, match="missing factor column"):
        minimise(pd.DataFrame({"ESSDAI": [">=10"]}), Minimisation(**SCHEME, seed=1))
    with pytest.raises(InputError, match="unknown level"):
        Minimisation(**SCHEME, seed=1).levels_of({"ESSDAI": "9", "REGION": "Japan"})


def _reference_minimisation(levels: list[tuple[int, ...]], n_arms: int, p: float, seed: int) -> list[int]:
    """Pocock and Simon's rule written out plainly, loop by loop (range measure, equal weights and ratio)."""
    from dosefinding.randomization.minimisation import minimisation_uniforms

    history: list[tuple[tuple[int, ...], int]] = []
    arms = []
    for k, subject in enumerate(levels):
        scores = []
        for candidate in range(n_arms):
            total = 0
            for f, level in enumerate(subject):
                counts = [sum(1 for lv, a in history if lv[f] == level and a == arm) for arm in range(n_arms)]
                counts[candidate] += 1
                total += max(counts) - min(counts)
            scores.append(total)
        u = minimisation_uniforms(seed, k)
        best = [a for a in range(n_arms) if scores[a] == min(scores)]
        others = [a for a in range(n_arms) if scores[a] != min(scores)]
        if not others:
            arm = min(int(u[1] * n_arms), n_arms - 1)
        else:
            group = best if u[0] < p else others
            arm = group[min(int(u[1] * len(group)), len(group) - 1)]
        history.append((subject, arm))
        arms.append(arm)
    return arms


def test_agrees_with_a_plain_reference_implementation() -> None:
    subjects = _subjects(150, 8)
    scheme = Minimisation(**SCHEME, seed=21, p=0.75)
    ours = minimise(subjects, scheme).assignments["ARM"].map({a: i for i, a in enumerate(SCHEME["arms"])}).tolist()
    levels = [(SCHEME["factors"]["ESSDAI"].index(e), SCHEME["factors"]["REGION"].index(r))
              for e, r in zip(subjects["ESSDAI"], subjects["REGION"], strict=True)]
    assert ours == _reference_minimisation(levels, 4, 0.75, 21)
