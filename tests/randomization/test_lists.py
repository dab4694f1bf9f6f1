"""Permuted-block allocation lists: reproducibility, balance, ratio, export and verification."""

from __future__ import annotations

import itertools
from math import comb, factorial

import numpy as np
import pytest
from scipy import stats

from dosefinding.errors import InputError
from dosefinding.randomization import (
    convergence_guess_rate,
    expected_correct_guesses_block,
    permuted_block_list,
    read_allocation_list,
    running_imbalance,
    verify_allocation_list,
)

ARMS = ["Placebo", "VAY736 5 mg", "VAY736 50 mg", "VAY736 300 mg"]
STRATA = {"ESSDAI": [">=10", "<10"], "REGION": ["Japan", "Rest of world"]}


def a2201(seed: int = 2201, **kw: object):
    args = {"n_per_stratum": 60, "strata": STRATA, "seed": seed} | kw
    return permuted_block_list(ARMS, **args)


def test_same_seed_same_list_other_seed_other_list() -> None:
    first, again, other = a2201(), a2201(), a2201(seed=2202)
    assert first.table.equals(again.table)
    assert first.digest == again.digest
    assert other.digest != first.digest
    assert not np.array_equal(first.table["ARM"], other.table["ARM"])


def test_every_block_is_balanced_and_strata_have_their_own_blocks() -> None:
    table = a2201().table
    assert set(table["STRATUM"]) == {
        "ESSDAI >=10 / REGION Japan", "ESSDAI >=10 / REGION Rest of world",
        "ESSDAI <10 / REGION Japan", "ESSDAI <10 / REGION Rest of world",
    }
    counts = table.groupby(["STRATUM", "BLOCK"])["ARM"].value_counts().unstack(fill_value=0)
    sizes = table.groupby(["STRATUM", "BLOCK"])["BLOCKSIZE"].agg(["first", "size"])
    assert (sizes["first"] == sizes["size"]).all()  # only complete blocks
    assert (counts.to_numpy() == (sizes["size"].to_numpy() // 4)[:, None]).all()
    assert set(table["BLOCKSIZE"]) == {4, 8}  # both random block sizes occur
    per_stratum = table.groupby("STRATUM").size()
    assert (per_stratum >= 60).all() and (per_stratum < 60 + 8).all()
    # SEQ runs 1..n in every stratum; numbers are unique over the list.
    assert all((g["SEQ"].to_numpy() == np.arange(1, len(g) + 1)).all() for _, g in table.groupby("STRATUM"))
    assert table["RANDNO"].is_unique and table["KITNO"].is_unique
    assert table["KITNO"].between(100_000, 999_999).all()


def test_unequal_ratio_is_kept_in_every_block() -> None:
    lst = permuted_block_list(["Placebo", "Active"], ratio=[1, 2], n_per_stratum=120, block_multiples=[1, 2, 3], seed=5)
    counts = lst.table.groupby("BLOCK")["ARM"].value_counts().unstack(fill_value=0)
    sizes = lst.table.groupby("BLOCK")["BLOCKSIZE"].first()
    assert (counts["Placebo"] * 3 == sizes).all() and (counts["Active"] * 3 == 2 * sizes).all()
    assert set(sizes) == {3, 6, 9}
    # A ratio given unreduced (2:4) is the same design as 1:2.
    assert permuted_block_list(["Placebo", "Active"], ratio=[2, 4], n_per_stratum=120, block_multiples=[1, 2, 3],
                               seed=5).digest == lst.digest


def test_block_contents_are_uniform_over_permutations_and_sizes_over_multiples() -> None:
    # 4000 blocks of size 4 with two arms 1:1 -> the 6 arrangements are equally likely.
    lst = permuted_block_list(["A", "B"], ratio=[2, 2], block_multiples=[2], n_per_stratum=16_000, seed=11)
    arms = (lst.table["ARM"].to_numpy() == "A").reshape(-1, 4)
    codes = arms @ np.array([8, 4, 2, 1])
    observed = np.bincount(codes, minlength=16)[[3, 5, 6, 9, 10, 12]]
    assert observed.sum() == 4000
    assert stats.chisquare(observed).pvalue > 1e-3
    sizes = lst.table.groupby("BLOCK")["BLOCKSIZE"].first()
    assert set(sizes) == {4}
    mixed = permuted_block_list(["A", "B"], block_multiples=[1, 2, 3], n_per_stratum=12_000, seed=12)
    freq = mixed.table.groupby("BLOCK")["BLOCKSIZE"].first().value_counts().sort_index()
    assert stats.chisquare(freq.to_numpy()).pvalue > 1e-3


def test_export_read_and_verify_round_trip_and_tampering_is_found() -> None:
    lst = a2201()
    back = read_allocation_list(lst.to_csv(), lst.parameters_json())
    assert back.table.equals(lst.table)
    assert verify_allocation_list(back, lst.digest).valid
    tampered = lst.table.copy()
    tampered.loc[[0, 1], "ARM"] = tampered.loc[[1, 0], "ARM"].to_numpy()
    if tampered["ARM"].iloc[0] == lst.table["ARM"].iloc[0]:  # the two entries had the same arm
        tampered.loc[[0, 2], "ARM"] = lst.table.loc[[2, 0], "ARM"].to_numpy()
    changed = read_allocation_list(
        tampered.to_csv(index=False, lineterminator="\n"), lst.parameters
    )
    check = verify_allocation_list(changed, lst.digest)
    assert not check.digest_matches and not check.regenerates and not check.valid
    assert "SHA-256" in str(lst.summary()) and "ESSDAI <10 / REGION Japan" in str(lst.summary())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"arms": ["A"]}, "arms: need at least two"),
        ({"arms": ["A", "A"]}, "arms: names must be distinct"),
        ({"ratio": [1, 0]}, "ratio: must be positive integers"),
        ({"ratio": [1, 2, 3]}, "ratio: need one integer per arm"),
        ({"ratio": [1.5, 1]}, "ratio: must be positive integers"),
        ({"n_per_stratum": 0}, "n_per_stratum"),
        ({"seed": -1}, "seed"),
        ({"block_multiples": []}, "block_multiples"),
        ({"strata": {"ESSDAI": [">=10"]}}, "strata['ESSDAI']: need a list of at least two levels"),
        ({"strata": {"ESSDAI": ["a", "a"]}}, "duplicate level"),
    ],
)
def test_bad_input_names_the_argument(kwargs: dict[str, object], message: str) -> None:
    args = {"arms": ["A", "B"], "n_per_stratum": 4, "seed": 1} | kwargs
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        permuted_block_list(**args)


def test_running_imbalance_is_zero_at_every_block_end() -> None:
    lst = permuted_block_list(["A", "B", "C"], n_per_stratum=300, seed=3)
    index = lst.table["ARM"].map({"A": 0, "B": 1, "C": 2}).to_numpy()
    imbalance = running_imbalance(index, [1, 1, 1])
    ends = np.cumsum(lst.table.groupby("BLOCK")["BLOCKSIZE"].first().to_numpy()) - 1
    assert np.allclose(imbalance[ends], 0.0)
    # Blocks of 3 or 6: the worst point is A, A at the start of a block of 6 (2 - 2/3) or
    # A, A, B, B (0 - 4/3), so the imbalance never exceeds 4/3.
    assert imbalance.max() <= 4 / 3 + 1e-12


def _enumerated_correct_guesses(m: int) -> float:
    """Expected correct guesses in one 1:1 block of size 2m by enumerating every arrangement."""
    total = 0.0
    arrangements = [p for p in itertools.product((0, 1), repeat=2 * m) if sum(p) == m]
    for arrangement in arrangements:
        counts = [0, 0]
        for arm in arrangement:
            if counts[0] == counts[1]:
                total += 0.5
            elif counts[arm] < counts[1 - arm]:
                total += 1.0
            counts[arm] += 1
    return total / len(arrangements)


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_guess_rate_matches_blackwell_hodges(m: int) -> None:
    """Blackwell and Hodges (Ann Math Stat 1957; 28: 449-460) closed form, also by enumeration."""
    exact = expected_correct_guesses_block(m)
    assert exact == pytest.approx(_enumerated_correct_guesses(m), rel=1e-12)
    assert comb(2 * m, m) == factorial(2 * m) // factorial(m) ** 2
    arrangements = np.array([p for p in itertools.product((0, 1), repeat=2 * m) if sum(p) == m])
    assert convergence_guess_rate(arrangements, [1, 1]).mean() == pytest.approx(exact / (2 * m), rel=1e-12)


def test_guess_rate_for_four_arms_in_blocks_of_four() -> None:
    """By hand: in a block holding each of 4 arms once the guesser is right with probability
    1/4, 1/3, 1/2, then 1, so (1/4 + 1/3 + 1/2 + 1) / 4 = 25/48 of the time, whatever the order
    (the true arm is always among the arms not yet seen in the block)."""
    permutations = np.array(list(itertools.permutations(range(4))))
    assert convergence_guess_rate(permutations, [1, 1, 1, 1]).mean() == pytest.approx(25 / 48, rel=1e-12)
    simulated = convergence_guess_rate(
        permuted_block_list(list("ABCD"), n_per_stratum=40_000, block_multiples=[1], seed=9).table["ARM"]
        .map({"A": 0, "B": 1, "C": 2, "D": 3}).to_numpy(), [1, 1, 1, 1])
    assert simulated == pytest.approx(25 / 48, rel=1e-12)
