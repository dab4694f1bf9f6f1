"""Balance and predictability of allocation lists, and throughput of the randomisation service.

Part 1 simulates 10,000 A2201-like trials (4 arms 1:1:1:1, 190 subjects, stratified by
baseline ESSDAI with about 70% in the >= 10 stratum) for each list design and prints the
distribution of the final imbalance per stratum (max over arms of |n_arm - n/4|) and of the
whole trial (largest minus smallest arm), and the expected proportion of correct guesses of
the next arm by Blackwell and Hodges' convergence strategy (1/4 = unpredictable). Part 2
times the service: in-process store calls, then 50 HTTP clients against `dosefinding serve`.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

from dosefinding.randomization import (
    Minimisation,
    convergence_guess_rate,
    minimise,
    running_imbalance,
    simulate_block_sequences,
)

N_TRIALS, N_SUBJECTS, P_HIGH, ARMS = 10_000, 190, 0.7, 4
RATIO = [1] * ARMS


def _stratum_sizes(rng: np.random.Generator, n_trials: int) -> np.ndarray:
    high = rng.binomial(N_SUBJECTS, P_HIGH, size=n_trials)
    return np.column_stack([high, N_SUBJECTS - high])


def _final(arms: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Final imbalance of each sequence truncated at n, and the arm counts."""
    mask = np.arange(arms.shape[1])[None, :] < n[:, None]
    counts = ((arms[..., None] == np.arange(ARMS)) & mask[..., None]).sum(axis=1)
    return np.abs(counts - n[:, None] / ARMS).max(axis=1), counts


def block_design(multiples: list[int], seed: int) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    sizes = _stratum_sizes(rng, N_TRIALS)
    out: dict[str, object] = {}
    total = np.zeros((N_TRIALS, ARMS), dtype=int)
    guess = []
    for s, name in enumerate((">=10", "<10")):
        arms = simulate_block_sequences(N_TRIALS, int(sizes[:, s].max()), ratio=RATIO, block_multiples=multiples,
                                        seed=rng)
        imbalance, counts = _final(arms, sizes[:, s])
        out[name] = imbalance
        total += counts
        guess.append(convergence_guess_rate(arms[:, :60], RATIO).mean())
    out["trial"] = np.ptp(total, axis=1)
    out["guess"] = float(np.mean(guess))
    return out


def simple_design(seed: int) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    sizes = _stratum_sizes(rng, N_TRIALS)
    out: dict[str, object] = {}
    total = np.zeros((N_TRIALS, ARMS), dtype=int)
    for s, name in enumerate((">=10", "<10")):
        arms = rng.integers(ARMS, size=(N_TRIALS, int(sizes[:, s].max())))
        imbalance, counts = _final(arms, sizes[:, s])
        out[name], total = imbalance, total + counts
    out["trial"] = np.ptp(total, axis=1)
    out["guess"] = 1 / ARMS
    return out


def minimisation_design(n_trials: int, seed: int) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    per = {">=10": [], "<10": [], "trial": [], "guess": []}
    for t in range(n_trials):
        essdai = np.where(rng.random(N_SUBJECTS) < P_HIGH, ">=10", "<10")
        result = minimise(pd.DataFrame({"ESSDAI": essdai}),
                          Minimisation(arms=tuple("ABCD"), factors={"ESSDAI": (">=10", "<10")}, seed=t, p=0.8))
        arm = result.assignments["ARM"].map({"A": 0, "B": 1, "C": 2, "D": 3}).to_numpy()
        for name in (">=10", "<10"):
            a = arm[essdai == name]
            per[name].append(running_imbalance(a, RATIO)[-1] if a.size else 0.0)
        per["trial"].append(np.ptp(np.bincount(arm, minlength=ARMS)))
        a = arm[essdai == ">=10"][:60]
        per["guess"].append(float(convergence_guess_rate(a, RATIO)))
    return {k: (np.asarray(v) if k != "guess" else float(np.mean(v))) for k, v in per.items()}


def print_balance() -> None:
    designs = {
        "blocks of 4": block_design([1], 1),
        "blocks of 4 or 8": block_design([1, 2], 2),
        "blocks of 4, 8 or 12": block_design([1, 2, 3], 3),
        "simple randomisation": simple_design(4),
    }
    t0 = time.perf_counter()
    designs["minimisation p=0.8 (1,000 trials)"] = minimisation_design(1000, 5)
    minimisation_time = time.perf_counter() - t0
    print(f"Final imbalance over {N_TRIALS:,} simulated A2201-like trials ({N_SUBJECTS} subjects, 4 arms):")
    print("  per stratum: max over arms |n_arm - n/4|; trial: largest minus smallest arm; guess: convergence strategy")
    header = f"{'design':36s} {'stratum':>8s} {'median':>7s} {'90%':>6s} {'99%':>6s} {'max':>6s}"
    print(header)
    for name, result in designs.items():
        for key in (">=10", "<10", "trial"):
            values = np.asarray(result[key], dtype=float)
            q = np.quantile(values, [0.5, 0.9, 0.99])
            print(f"{name:36s} {key:>8s} {q[0]:7.2f} {q[1]:6.2f} {q[2]:6.2f} {values.max():6.2f}")
        print(f"{name:36s} {'guess':>8s} {result['guess']:7.3f}  (1/4 = unpredictable)")
    print(f"(minimisation of 1,000 trials took {minimisation_time:.1f} s)")


def print_throughput() -> None:
    from dosefinding.randomization.eligibility import A2201_RULES
    from dosefinding.randomization.store import Actor, Store

    eligible = {"AGE": 45, "ESSDAI7": 8, "ESSPRI": 6.5, "ANTIRO": True, "SALFLOW": 0.35}
    study = {"name": "bench", "arms": list("ABCD"), "strata": {"ESSDAI": [">=10", "<10"]}, "n_per_stratum": 1200,
             "eligibility": A2201_RULES.to_list()}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["DOSEFINDING_AUDIT_KEY_FILE"] = f"{tmp}/audit.key"  # never the user's key (the server inherits it)
        store = Store(f"sqlite:///{tmp}/bench.db")
        store.setup_study(Actor("admin", "admin"), study)
        inv = Actor("inv", "investigator")
        start = time.perf_counter()
        for k in range(500):
            store.screen(inv, f"S{k}", "101", eligible)
            store.randomise(inv, f"S{k}", {"ESSDAI": (">=10", "<10")[k % 2]})
        per = (time.perf_counter() - start) / 500
        print(f"Store (in process, SQLite WAL, synchronous=FULL): {per * 1e3:.2f} ms per screen + randomise")

        import httpx

        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from randomization.server import start_server

        server = start_server(Path(tmp) / "http.db", Path(tmp) / "admin.token")
        try:
            headers = {"Authorization": f"Bearer {server.admin_token}"}
            httpx.post(server.url + "/api/admin/study", json=study, headers=headers, timeout=60)
            token = server.account("inv", "investigator", sites=["1"])
            n, clients = 1000, 50

            def run(share: range) -> None:
                with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"},
                                  timeout=60) as http:
                    for k in share:
                        r = http.post("/api/subjects/screen", json={"subject_id": f"H{k}", "site": "1", "data": eligible})
                        assert r.status_code == 201, r.text
                        r = http.post(f"/api/subjects/H{k}/randomise", json={"strata": {"ESSDAI": ">=10"}})
                        assert r.status_code == 201, r.text

            threads = [threading.Thread(target=run, args=(range(i, n, clients),)) for i in range(clients)]
            start = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - start
            print(f"HTTP, {clients} clients, {n} subjects: {elapsed:.1f} s, {n / elapsed:.0f} subjects/s "
                  f"(screen + randomise; clients and server on the same machine)")
        finally:
            server.stop()


def main() -> None:
    print_balance()
    print()
    print_throughput()


if __name__ == "__main__":
    main()
