"""Concurrency and crash safety of the running service (uvicorn on 127.0.0.1, bounded), on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sqlalchemy import create_engine, text

from dosefinding.cli import main

from .conftest import ARMS, ELIGIBLE, RULES, Backend
from .server import Server, start_server

N_SUBJECTS, N_CLIENTS = 2000, 50


def _setup(server: Server, n_per_stratum: int) -> str:
    admin = {"Authorization": f"Bearer {server.admin_token}"}
    study = {"name": "load", "arms": ARMS, "strata": {"ESSDAI": [">=10", "<10"]}, "n_per_stratum": n_per_stratum,
             "block_multiples": [1, 2], "eligibility": RULES}
    assert httpx.post(server.url + "/api/admin/study", json=study, headers=admin, timeout=60).status_code == 201
    return server.account("inv", "investigator", sites=["101"])


def _run_clients(url: str, token: str, subjects: list[tuple[str, str]], confirmed: dict[str, dict[str, Any]],
                 errors: list[str], stop: Callable[[], bool] = lambda: False) -> None:
    lock = threading.Lock()

    def client(share: list[tuple[str, str]]) -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
            for subject, essdai in share:
                if stop():
                    return
                try:
                    r = http.post("/api/subjects/screen", json={"subject_id": subject, "site": "101", "data": ELIGIBLE})
                    if r.status_code != 201:
                        errors.append(f"screen {subject}: {r.status_code} {r.text}")
                        continue
                    r = http.post(f"/api/subjects/{subject}/randomise", json={"strata": {"ESSDAI": essdai}})
                except httpx.TransportError:
                    return  # the server went away (crash test)
                if r.status_code == 201:
                    with lock:
                        confirmed[subject] = r.json()
                else:
                    errors.append(f"randomise {subject}: {r.status_code} {r.text}")

    threads = [threading.Thread(target=client, args=(subjects[i::N_CLIENTS],)) for i in range(N_CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)


def _query(db: str, sql: str) -> list[Any]:
    engine = create_engine(db)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql)).all())
    finally:
        engine.dispose()


def _check_database(db: str, strata_of: dict[str, str]) -> dict[str, int]:
    """No duplicate or skipped list entry, every subject once, completed blocks balanced."""
    rows = _query(db, "SELECT subjects.usubjid, slots.stratum, slots.seq, slots.block, slots.block_size, "
                      "slots.rand_no, slot_arms.arm FROM slots JOIN subjects ON subjects.id = slots.subject_id "
                      "JOIN slot_arms ON slot_arms.slot_id = slots.id")
    subjects = [r[0] for r in rows]
    assert len(subjects) == len(set(subjects))
    used: dict[str, list[int]] = {}
    blocks: dict[tuple[str, int], list[tuple[int, str]]] = {}
    for usubjid, stratum, seq, block, size, _, arm in rows:
        assert stratum == f"ESSDAI {strata_of[usubjid]}"
        used.setdefault(stratum, []).append(seq)
        blocks.setdefault((stratum, block), []).append((size, arm))
    for seqs in used.values():
        assert sorted(seqs) == list(range(1, len(seqs) + 1))  # a prefix of the list: nothing skipped or doubled
    completed = 0
    for entries in blocks.values():
        size = entries[0][0]
        if len(entries) == size:
            completed += 1
            counts = [sum(arm == a for _, arm in entries) for a in ARMS]
            assert counts == [size // 4] * 4
    return {"randomised": len(subjects), "completed_blocks": completed}


@pytest.mark.slow
def test_fifty_clients_randomise_two_thousand_subjects(backend: Backend, tmp_path: Path) -> None:
    server = start_server(backend.database(tmp_path, "load"), tmp_path / "admin.token")
    try:
        token = _setup(server, n_per_stratum=1400)
        rng = np.random.default_rng(1)
        strata_of = {f"L{k:04d}": s for k, s in enumerate(rng.choice([">=10", "<10"], size=N_SUBJECTS, p=[0.6, 0.4]))}
        confirmed: dict[str, dict[str, Any]] = {}
        errors: list[str] = []
        start = time.perf_counter()
        _run_clients(server.url, token, list(strata_of.items()), confirmed, errors)
        elapsed = time.perf_counter() - start
    finally:
        server.stop()
    assert errors == [], errors[:5]
    assert len(confirmed) == N_SUBJECTS
    numbers = [c["randomisation_number"] for c in confirmed.values()]
    kits = [c["kit_number"] for c in confirmed.values()]
    assert len(set(numbers)) == len(set(kits)) == N_SUBJECTS
    summary = _check_database(server.db, strata_of)
    assert summary["randomised"] == N_SUBJECTS and summary["completed_blocks"] > 300
    assert main(["audit-verify", server.db]) == 0
    print(f"{backend.name}: {N_SUBJECTS} subjects by {N_CLIENTS} clients in {elapsed:.1f} s")


@pytest.mark.slow
def test_sigkill_in_the_middle_loses_no_committed_randomisation(backend: Backend, tmp_path: Path) -> None:
    db = backend.database(tmp_path, "crash")
    server = start_server(db, tmp_path / "admin.token")
    token = _setup(server, n_per_stratum=400)
    rng = np.random.default_rng(2)
    strata_of = {f"C{k:04d}": s for k, s in enumerate(rng.choice([">=10", "<10"], size=600))}
    confirmed: dict[str, dict[str, Any]] = {}
    errors: list[str] = []

    clients_done = threading.Event()

    def killer() -> None:  # on the 150th confirmation, however long a busy machine takes to get there
        while len(confirmed) < 150 and not clients_done.is_set():
            time.sleep(0.01)
        os.kill(server.process.pid, signal.SIGKILL)

    try:
        threading.Thread(target=killer, daemon=True).start()
        _run_clients(server.url, token, list(strata_of.items()), confirmed, errors)
        clients_done.set()
        server.process.wait(30)
    finally:
        server.stop()
    assert server.process.returncode == -signal.SIGKILL
    assert 150 <= len(confirmed) < len(strata_of), "the kill did not land in the middle of the load"
    assert errors == [], errors[:5]
    # Every randomisation a client was told about is in the database, with the same numbers.
    stored = dict(_query(db, "SELECT subjects.usubjid, slots.rand_no FROM slots JOIN subjects "
                             "ON subjects.id = slots.subject_id"))
    assert {s: c["randomisation_number"] for s, c in confirmed.items()}.items() <= stored.items()
    assert main(["audit-verify", db]) == 0
    # After a restart the trial carries on where it stopped.
    server = start_server(db, tmp_path / "unused.token")
    try:
        investigator = {"Authorization": f"Bearer {token}"}
        remaining = [(s, e) for s, e in strata_of.items() if s not in stored]
        with httpx.Client(base_url=server.url, headers=investigator, timeout=60) as http:
            for subject, essdai in remaining[:50]:
                status = http.get(f"/api/subjects/{subject}")
                if status.status_code == 404:
                    assert http.post("/api/subjects/screen", json={"subject_id": subject, "site": "101",
                                                                   "data": ELIGIBLE}).status_code == 201
                r = http.post(f"/api/subjects/{subject}/randomise", json={"strata": {"ESSDAI": essdai}})
                assert r.status_code == 201, r.text
    finally:
        server.stop()
    summary = _check_database(db, strata_of)
    assert summary["randomised"] == len(stored) + 50
    assert main(["audit-verify", db]) == 0


@pytest.fixture(autouse=True)
def _quiet_capsys(capsys: pytest.CaptureFixture[str]) -> None:
    """audit-verify prints; keep the test output short."""
