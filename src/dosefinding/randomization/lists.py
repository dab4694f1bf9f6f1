"""Allocation lists: stratified permuted blocks with random block sizes, and their balance.

A list is generated once, before the first subject, from a seed; the same seed gives the
same list, and the list's SHA-256 digest (of its canonical CSV export) lets anyone check
that the list in use is the list that was generated. Strata are the full crossing of the
stratification factors (for A2201: baseline ESSDAI >= 10 / < 10; a region factor gives
separate blocks for a country such as Japan). Within each stratum the list is a sequence
of complete blocks; a block holds ``m * sum(ratio)`` entries, ``m`` drawn uniformly from
``block_multiples``, in random order.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from dosefinding.errors import InputError
from dosefinding.summary import Summary, SummaryDisplay, SummaryTable, short_repr
from dosefinding.validation import as_generator

__all__ = [
    "AllocationList",
    "ListVerification",
    "convergence_guess_rate",
    "expected_correct_guesses_block",
    "permuted_block_list",
    "read_allocation_list",
    "running_imbalance",
    "simulate_block_sequences",
    "stratum_labels",
    "verify_allocation_list",
]

LIST_COLUMNS = ("STRATUM", "SEQ", "BLOCK", "BLOCKSIZE", "RANDNO", "KITNO", "ARM")
_KIT_LOW, _KIT_HIGH = 100_000, 1_000_000


def stratum_labels(strata: Mapping[str, Sequence[str]] | None) -> list[tuple[str, dict[str, str]]]:
    """Every stratum of the full crossing of the factors, as (label, {factor: level}).

    Examples
    --------
    >>> [label for label, _ in stratum_labels({"ESSDAI": [">=10", "<10"], "REGION": ["Japan", "Other"]})]
    ['ESSDAI >=10 / REGION Japan', 'ESSDAI >=10 / REGION Other', 'ESSDAI <10 / REGION Japan', 'ESSDAI <10 / REGION Other']
    >>> stratum_labels(None)
    [('ALL', {})]
    """
    if not strata:
        return [("ALL", {})]
    checked: dict[str, list[str]] = {}
    for name, levels in strata.items():
        if not isinstance(name, str) or not name:
            raise InputError(f"strata: factor names must be non-empty strings, got {name!r}")
        if isinstance(levels, str) or not isinstance(levels, Sequence) or len(levels) < 2:
            raise InputError(f"strata[{name!r}]: need a list of at least two levels, got {levels!r}")
        lv = [str(level) for level in levels]
        if len(set(lv)) != len(lv):
            raise InputError(f"strata[{name!r}]: duplicate level in {lv}")
        checked[name] = lv
    out = []
    for combo in itertools.product(*checked.values()):
        chosen = dict(zip(checked, combo, strict=True))
        out.append((" / ".join(f"{k} {v}" for k, v in chosen.items()), chosen))
    return out


def as_ratio(ratio: Sequence[int] | None, n_arms: int) -> NDArray[np.int64]:
    """An allocation ratio, one positive integer per arm (default 1:1:...), reduced to lowest terms.

    Examples
    --------
    >>> as_ratio([2, 4, 4], 3).tolist()
    [1, 2, 2]
    """
    if ratio is None:
        return np.ones(n_arms, dtype=np.int64)
    values = np.asarray(ratio)
    if values.shape != (n_arms,):
        raise InputError(f"ratio: need one integer per arm ({n_arms}), got {list(ratio)!r}")
    if not np.issubdtype(values.dtype, np.integer) or np.any(values < 1):
        raise InputError(f"ratio: must be positive integers, got {list(ratio)!r}")
    values = values.astype(np.int64)
    return values // np.gcd.reduce(values)


def as_arms(arms: Sequence[str]) -> tuple[str, ...]:
    """At least two distinct, non-empty arm names.

    Examples
    --------
    >>> as_arms(["Placebo", "300 mg"])
    ('Placebo', '300 mg')
    """
    if isinstance(arms, str) or len(arms) < 2:
        raise InputError(f"arms: need at least two arm names, got {arms!r}")
    names = tuple(str(a) for a in arms)
    if len(set(names)) != len(names) or any(not a for a in names):
        raise InputError(f"arms: names must be distinct and non-empty, got {list(names)}")
    return names


def _as_multiples(block_multiples: Sequence[int]) -> NDArray[np.int64]:
    values = np.asarray(block_multiples)
    if values.ndim != 1 or values.size == 0 or not np.issubdtype(values.dtype, np.integer) or np.any(values < 1):
        raise InputError(f"block_multiples: must be positive integers, got {block_multiples!r}")
    return np.unique(values.astype(np.int64))


def _permuted_blocks(
    rng: np.random.Generator, n_sequences: int, length: int, ratio: NDArray[np.int64], multiples: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """``n_sequences`` independent block sequences of at least ``length`` entries each.

    Returns arm indices, block numbers (from 1, within the sequence) and block sizes, all of
    shape (n_sequences, n_blocks * max block); entries past a sequence's last block hold -1.
    """
    unit = int(ratio.sum())
    n_blocks = -(-length // (unit * int(multiples.min())))
    m = rng.choice(multiples, size=(n_sequences, n_blocks))
    sizes = m * unit
    ends = np.cumsum(sizes, axis=1)
    # Keep the blocks up to the first that reaches ``length``: the list holds complete blocks.
    keep = np.concatenate([np.ones((n_sequences, 1), bool), ends[:, :-1] < length], axis=1)
    reps = (m[..., None] * ratio).reshape(-1) * keep.repeat(ratio.size, axis=1).reshape(-1)
    arm = np.tile(np.arange(ratio.size), n_sequences * n_blocks).repeat(reps)
    seq_block = np.arange(n_sequences * n_blocks).repeat((sizes * keep).reshape(-1))
    order = np.lexsort((rng.random(arm.size), seq_block))
    arm = arm[order]
    totals = (sizes * keep).sum(axis=1)
    width = int(totals.max())
    row = seq_block // n_blocks
    col = np.arange(arm.size) - np.repeat(np.concatenate([[0], np.cumsum(totals)[:-1]]), totals)
    out_arm = np.full((n_sequences, width), -1, dtype=np.int64)
    out_block = np.full((n_sequences, width), -1, dtype=np.int64)
    out_size = np.full((n_sequences, width), -1, dtype=np.int64)
    out_arm[row, col] = arm
    out_block[row, col] = seq_block % n_blocks + 1
    out_size[row, col] = sizes.reshape(-1)[seq_block]
    return out_arm, out_block, out_size


@dataclass(frozen=True)
class AllocationList(SummaryDisplay):
    """A stratified permuted-block allocation list.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per list entry: STRATUM, one column per stratification factor, SEQ (order
        within the stratum, from 1), BLOCK, BLOCKSIZE, RANDNO (randomisation number,
        unique), KITNO (kit number, unique, random so it says nothing about the arm), ARM.
    parameters : dict
        Everything needed to generate the list again (arms, ratio, strata, block multiples,
        entries per stratum, seed).
    """

    table: pd.DataFrame
    parameters: dict[str, Any] = field(repr=False)

    @property
    def arms(self) -> tuple[str, ...]:
        """The arm names, in the order of ``ratio``."""
        return tuple(self.parameters["arms"])

    @property
    def ratio(self) -> tuple[int, ...]:
        """The allocation ratio, reduced to lowest terms."""
        return tuple(self.parameters["ratio"])

    def to_csv(self) -> str:
        """The canonical CSV export (``\\n`` line ends, fixed column order), whose SHA-256 is the digest."""
        buffer = io.StringIO()
        self.table.to_csv(buffer, index=False, lineterminator="\n")
        return buffer.getvalue()

    @property
    def digest(self) -> str:
        """SHA-256 (hex) of the canonical CSV export."""
        return hashlib.sha256(self.to_csv().encode("utf-8")).hexdigest()

    def parameters_json(self) -> str:
        """The generation parameters as canonical JSON (for the export beside the CSV)."""
        return json.dumps(self.parameters, sort_keys=True, separators=(",", ":"))

    def to_frame(self) -> pd.DataFrame:
        """One row per list entry (:attr:`table`)."""
        return self.table.copy()

    def __repr__(self) -> str:
        return short_repr(self, entries=len(self.table), strata=int(self.table["STRATUM"].nunique()),
                          arms=list(self.arms), ratio=list(self.ratio), seed=self.parameters["seed"],
                          digest=self.digest[:12])

    def summary(self) -> Summary:
        """Entries and blocks per stratum and arm, as a text table."""
        counts = pd.crosstab(self.table["STRATUM"], self.table["ARM"]).reindex(columns=list(self.arms))
        blocks = self.table.groupby("STRATUM", sort=False)["BLOCK"].max().rename("blocks")
        table = counts.join(blocks).reindex(self.table["STRATUM"].unique())
        ratio = ":".join(str(r) for r in self.ratio)
        multiples = ", ".join(str(m * sum(self.ratio)) for m in self.parameters["block_multiples"])
        return Summary([
            f"Stratified permuted-block list: ratio {ratio}, block sizes {{{multiples}}}, seed {self.parameters['seed']}",
            SummaryTable(table),
            f"SHA-256 {self.digest}",
        ], frame=self.to_frame())


def permuted_block_list(
    arms: Sequence[str],
    *,
    n_per_stratum: int,
    ratio: Sequence[int] | None = None,
    strata: Mapping[str, Sequence[str]] | None = None,
    block_multiples: Sequence[int] = (1, 2),
    seed: int,
    kit_seed: int | None = None,
) -> AllocationList:
    """A stratified permuted-block allocation list with random block sizes.

    Parameters
    ----------
    arms : sequence of str
        Arm names (TRT01P values).
    n_per_stratum : int
        Minimum entries per stratum; each stratum's list runs to the end of the block that
        reaches it.
    ratio : sequence of int, optional
        Allocation ratio, one positive integer per arm (default equal allocation).
    strata : mapping of factor name to levels, optional
        Stratification factors; the strata are their full crossing.
    block_multiples : sequence of int
        Block sizes as multiples of ``sum(ratio)``, drawn uniformly per block.
    seed : int
        Seed of the list (an int, so that the list can be regenerated and checked).
    kit_seed : int, optional
        Seed of the kit numbers alone. Without it the kit numbers continue the list's random
        stream, so whoever sees kit numbers can confirm a guessed ``seed``; with it they are
        independent of the arms and of ``seed`` (the service always gives one).

    Examples
    --------
    >>> lst = permuted_block_list(["Placebo", "5 mg", "50 mg", "300 mg"], n_per_stratum=8,
    ...                           strata={"ESSDAI": [">=10", "<10"]}, seed=2201)
    >>> bool(lst.table.groupby("STRATUM").size().min() >= 8)
    True
    >>> lst.digest == permuted_block_list(["Placebo", "5 mg", "50 mg", "300 mg"], n_per_stratum=8,
    ...                                   strata={"ESSDAI": [">=10", "<10"]}, seed=2201).digest
    True
    """
    names = as_arms(arms)
    r = as_ratio(ratio, len(names))
    multiples = _as_multiples(block_multiples)
    if isinstance(n_per_stratum, bool) or not isinstance(n_per_stratum, (int, np.integer)) or n_per_stratum < 1:
        raise InputError(f"n_per_stratum: must be a positive integer, got {n_per_stratum!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed: must be a non-negative int (so the list can be regenerated), got {seed!r}")
    if kit_seed is not None and (isinstance(kit_seed, bool) or not isinstance(kit_seed, (int, np.integer))
                                 or kit_seed < 0):
        raise InputError(f"kit_seed: must be a non-negative int, got {kit_seed!r}")
    labels = stratum_labels(strata)
    rng = as_generator(int(seed))
    arm, block, size = _permuted_blocks(rng, len(labels), int(n_per_stratum), r, multiples)
    used = arm >= 0
    per_stratum = used.sum(axis=1)
    total = int(per_stratum.sum())
    if total > _KIT_HIGH - _KIT_LOW:
        raise InputError(f"n_per_stratum: the list would need {total} kit numbers, more than {_KIT_HIGH - _KIT_LOW}")
    # A stratum's length is at most ``bound``. The width of RANDNO's sequence part and, with a
    # kit seed, the kit numbers depend on the bound and the entry's place only, not on the list drawn.
    bound = int(n_per_stratum) + int(multiples.max() * r.sum()) - 1
    width = max(4, len(str(bound)))
    stratum_index = np.repeat(np.arange(len(labels)), per_stratum)
    seq = np.nonzero(used)[1] + 1
    frame: dict[str, Any] = {"STRATUM": np.array([labels[i][0] for i in range(len(labels))], dtype=object)[stratum_index]}
    for factor in (strata or {}):
        frame[factor] = np.array([lv[factor] for _, lv in labels], dtype=object)[stratum_index]
    frame.update({
        "SEQ": seq,
        "BLOCK": block[used],
        "BLOCKSIZE": size[used],
        "RANDNO": (stratum_index + 1) * 10**width + seq,
        "KITNO": _kit_numbers(rng, total, kit_seed, bound * len(labels), stratum_index * bound + seq - 1),
        "ARM": np.array(names, dtype=object)[arm[used]],
    })
    parameters = {
        "method": "permuted_blocks",
        "arms": list(names),
        "ratio": r.tolist(),
        "strata": {k: [str(v) for v in lv] for k, lv in (strata or {}).items()},
        "block_multiples": multiples.tolist(),
        "n_per_stratum": int(n_per_stratum),
        "seed": int(seed),
    }
    if kit_seed is not None:
        parameters["kit_seed"] = int(kit_seed)
    return AllocationList(table=pd.DataFrame(frame), parameters=parameters)


def _kit_numbers(rng: np.random.Generator, total: int, kit_seed: int | None, places: int,
                 place: NDArray[np.int64]) -> NDArray[np.int64]:
    """Distinct random kit numbers: continuing the list's stream, or one per place drawn from ``kit_seed``."""
    if kit_seed is None:
        return rng.choice(_KIT_HIGH - _KIT_LOW, size=total, replace=False) + _KIT_LOW
    if places > _KIT_HIGH - _KIT_LOW:
        raise InputError(f"n_per_stratum: the strata could need {places} kit numbers, more than {_KIT_HIGH - _KIT_LOW}")
    return as_generator(int(kit_seed)).choice(_KIT_HIGH - _KIT_LOW, size=places, replace=False)[place] + _KIT_LOW


def read_allocation_list(csv_text: str, parameters: Mapping[str, Any] | str) -> AllocationList:
    """An allocation list from its CSV export and its parameters (a dict or their JSON).

    Examples
    --------
    >>> lst = permuted_block_list(["A", "B"], n_per_stratum=4, seed=1)
    >>> read_allocation_list(lst.to_csv(), lst.parameters_json()).digest == lst.digest
    True
    """
    params = json.loads(parameters) if isinstance(parameters, str) else dict(parameters)
    factors = list(params.get("strata", {}))
    text_columns = {c: str for c in ("STRATUM", *factors, "ARM")}
    try:
        table = pd.read_csv(io.StringIO(csv_text), dtype=text_columns, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"csv_text: not a readable allocation list ({exc})") from None
    expected = ["STRATUM", *factors, *LIST_COLUMNS[1:]]
    if list(table.columns) != expected:
        raise InputError(f"csv_text: columns must be {expected}, got {list(table.columns)}")
    return AllocationList(table=table, parameters=params)


@dataclass(frozen=True)
class ListVerification:
    """The outcome of :func:`verify_allocation_list`: each check and whether all passed."""

    digest_matches: bool
    regenerates: bool
    digest: str

    @property
    def valid(self) -> bool:
        """True when the digest matches and the seed regenerates the same list."""
        return self.digest_matches and self.regenerates


def verify_allocation_list(allocation: AllocationList, digest: str) -> ListVerification:
    """Check a list against a recorded digest, and that its parameters regenerate it exactly.

    Examples
    --------
    >>> lst = permuted_block_list(["A", "B"], n_per_stratum=4, seed=1)
    >>> verify_allocation_list(lst, lst.digest).valid
    True
    """
    p = allocation.parameters
    again = permuted_block_list(
        p["arms"], n_per_stratum=p["n_per_stratum"], ratio=p["ratio"], strata=p["strata"] or None,
        block_multiples=p["block_multiples"], seed=p["seed"], kit_seed=p.get("kit_seed"),
    )
    actual = allocation.digest
    return ListVerification(digest_matches=actual == digest, regenerates=again.digest == actual, digest=actual)


def simulate_block_sequences(
    n_sequences: int, length: int, *, ratio: Sequence[int], block_multiples: Sequence[int] = (1, 2),
    seed: int | np.random.Generator = 0,
) -> NDArray[np.int64]:
    """Arm indices of ``n_sequences`` independent permuted-block sequences, first ``length`` entries each.

    The same generator as :func:`permuted_block_list`, for simulating many lists at once
    (balance and predictability studies); shape (n_sequences, length).

    Examples
    --------
    >>> seqs = simulate_block_sequences(1000, 8, ratio=[1, 1], block_multiples=[2], seed=1)
    >>> bool((seqs[:, :4].sum(axis=1) == 2).all())
    True
    """
    r = as_ratio(ratio, len(ratio))
    arm, _, _ = _permuted_blocks(as_generator(seed), int(n_sequences), int(length), r, _as_multiples(block_multiples))
    return arm[:, :length]


def running_imbalance(arm_index: NDArray[np.integer], ratio: Sequence[int]) -> NDArray[np.float64]:
    """Imbalance after each allocation: ``max_j |n_j - n r_j / sum(r)|``, per sequence.

    ``arm_index`` has shape (n_sequences, n) (or (n,)) with arm numbers 0..k-1.

    Examples
    --------
    >>> running_imbalance([0, 0, 1, 1], [1, 1]).tolist()
    [0.5, 1.0, 0.5, 0.0]
    """
    a = np.atleast_2d(np.asarray(arm_index))
    r = np.asarray(ratio, dtype=float)
    counts = np.cumsum(a[..., None] == np.arange(r.size), axis=1)
    n = np.arange(1, a.shape[1] + 1)[None, :, None]
    out = np.abs(counts - n * r / r.sum()).max(axis=2)
    return out[0] if np.ndim(arm_index) == 1 else out


def convergence_guess_rate(arm_index: NDArray[np.integer], ratio: Sequence[int]) -> NDArray[np.float64]:
    """Expected proportion of correct guesses of the next arm by the convergence strategy.

    Blackwell and Hodges' guesser, who knows all earlier arms, guesses the arm furthest
    below its expected share (ties split evenly). 1/k is the value for a list that cannot
    be predicted at all. Returns one value per sequence.

    Examples
    --------
    >>> float(convergence_guess_rate([0, 1], [1, 1]))  # block of 2: second always known
    0.75
    """
    a = np.atleast_2d(np.asarray(arm_index))
    r = np.asarray(ratio, dtype=float)
    onehot = a[..., None] == np.arange(r.size)
    before = np.cumsum(onehot, axis=1) - onehot
    n_before = np.arange(a.shape[1])[None, :, None]
    deficit = n_before * r / r.sum() - before
    best = np.isclose(deficit, deficit.max(axis=2, keepdims=True))
    correct = (best & onehot).any(axis=2) / best.sum(axis=2)
    out = correct.mean(axis=1)
    return out[0] if np.ndim(arm_index) == 1 else out


def expected_correct_guesses_block(m: int) -> float:
    """Expected correct convergence-strategy guesses in one 1:1 block of size ``2m``.

    The closed form ``m + 2**(2m-1) / C(2m, m) - 1/2`` of Blackwell and Hodges (1957),
    as tabulated by Matts and Lachin (Controlled Clinical Trials 1988; 9: 327-344).

    Examples
    --------
    >>> expected_correct_guesses_block(1)
    1.5
    """
    from math import comb

    return m + 2 ** (2 * m - 1) / comb(2 * m, m) - 0.5
