"""The store on PostgreSQL: concurrent randomisation, append-only triggers, audit chain.

A throw-away cluster is started with ``initdb`` / ``pg_ctl`` on a Unix socket (as the
``postgres`` user when the tests run as root), or ``DOSEFINDING_TEST_POSTGRES_URL`` names
an existing database. Without a PostgreSQL server or the psycopg driver the test skips
and says why, except on CI (``CI`` set), where a missing server fails it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

psycopg = pytest.importorskip("psycopg", reason="PostgreSQL driver psycopg not installed (dosefinding[postgresql])")

from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from dosefinding.randomization.accounts import AccountPolicy
from dosefinding.randomization.store import Actor, ServiceError, Store

from .conftest import ARMS, ELIGIBLE, FAST_KDF, password_of


def _as_postgres(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    if os.environ.get("DOSEFINDING_TEST_POSTGRES_URL"):
        yield os.environ["DOSEFINDING_TEST_POSTGRES_URL"]
        return
    if shutil.which("initdb") is None or shutil.which("pg_ctl") is None:
        reason = "no PostgreSQL server binaries (initdb, pg_ctl) and no DOSEFINDING_TEST_POSTGRES_URL"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}: CI's machine has them, so this is a broken setup, not a gap to skip")
        pytest.skip(reason)
    root = Path(tempfile.mkdtemp(prefix="dosefinding-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    data = root / "data"
    subprocess.run(_as_postgres(["initdb", "-D", str(data), "-A", "trust", "-U", "postgres"]), check=True,
                   capture_output=True)
    subprocess.run(_as_postgres(["pg_ctl", "-D", str(data), "-w", "-l", str(root / "log"), "-o",
                                 f"-k {root} -p 55439 -c listen_addresses='' -c fsync=on", "start"]),
                   check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://postgres@/postgres?host={root}&port=55439"
    finally:
        subprocess.run(_as_postgres(["pg_ctl", "-D", str(data), "-m", "fast", "stop"]), check=False,
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def _empty_schema(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def test_concurrent_randomisation_on_postgresql(postgres_url: str) -> None:
    _empty_schema(postgres_url)
    store = Store(postgres_url)
    store.accounts.enrol("admin", store.add_user("admin", "admin", bootstrap=True), password_of("admin"))
    admin = store.authenticate(store.accounts.login("admin", password_of("admin"))["token"])
    store.setup_study(admin, {"name": "PG", "arms": ARMS, "strata": {"ESSDAI": [">=10", "<10"]},
                              "n_per_stratum": 300, "seed": 3})
    investigator = Actor("inv", "investigator")
    errors: list[str] = []

    def work(first: int) -> None:
        for k in range(first, 200, 20):
            try:
                store.screen(investigator, f"S{k}", "101", ELIGIBLE)
                store.randomise(investigator, f"S{k}", {"ESSDAI": (">=10", "<10")[k % 3 == 0]})
                if k % 40 == 0:  # a second, concurrent attempt for the same subject must be refused
                    store.randomise(investigator, f"S{k}", {"ESSDAI": ">=10"})
                    errors.append(f"S{k} randomised twice")
            except ServiceError as exc:
                if "already randomised" not in exc.message:
                    errors.append(exc.message)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    adsl = store.adsl(None, unblinded=True)
    assert len(adsl) == 200 and adsl["USUBJID"].is_unique and adsl["RANDNO"].is_unique
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT stratum, seq, block, block_size, arm FROM slots JOIN slot_arms "
                                 "ON slot_arms.slot_id = slots.id WHERE subject_id IS NOT NULL")).all()
    for stratum in {r.stratum for r in rows}:
        seqs = sorted(r.seq for r in rows if r.stratum == stratum)
        assert seqs == list(range(1, len(seqs) + 1))
    report = store.unblinded_report(Actor("dmc", "dmc"))
    assert report["completed_blocks"] > 15 and report["completed_blocks_balanced"]
    # user, enrolment, login, study, 200 x (screen, randomise), the DMC report
    assert store.verify_audit().valid and store.verify_audit().n_records == 3 + 1 + 400 + 1
    assert store.verify_list(admin)["valid"]
    with store.engine.connect() as conn:
        for statement in ("UPDATE audit_log SET actor = 'x' WHERE seq = 1", "DELETE FROM audit_log WHERE seq = 1",
                          "UPDATE slot_arms SET arm = 'x'", "UPDATE slots SET subject_id = NULL"):
            with pytest.raises(DBAPIError, match="append-only|already used"):
                conn.execute(text(statement))
            conn.rollback()


def test_accounts_and_grants_on_postgresql(postgres_url: str) -> None:
    """Enrolment, login, lockout, a two-person grant and the last-administrator rule on PostgreSQL."""
    _empty_schema(postgres_url)
    store = Store(postgres_url, password_hasher=FAST_KDF, policy=AccountPolicy(max_failures=2))
    accounts = store.accounts
    accounts.enrol("admin", store.add_user("admin", "admin", bootstrap=True), password_of("admin"))
    admin = store.authenticate(accounts.login("admin", password_of("admin"))["token"])
    accounts.enrol("sponsor1", accounts.host_account("sponsor1", "sponsor", "test"), password_of("sponsor1"))
    sponsor = store.authenticate(accounts.login("sponsor1", password_of("sponsor1"))["token"])
    proposal = accounts.propose(admin, "pharmacist1", "pharmacist")
    approval = accounts.approve(sponsor, proposal["id"])
    with pytest.raises(ServiceError, match="invalid or expired enrolment code"):
        accounts.enrol("pharmacist1", proposal["proposer_code"], password_of("pharmacist1"))
    accounts.enrol("pharmacist1", f"{proposal['proposer_code']}.{approval['approver_code']}",
                   password_of("pharmacist1"))
    assert store.authenticate(accounts.login("pharmacist1", password_of("pharmacist1"))["token"]).role == "pharmacist"
    for _ in range(2):
        with pytest.raises(ServiceError, match="invalid username or password|locked"):
            accounts.login("pharmacist1", "wrong wrong wrong")
    with pytest.raises(ServiceError, match="locked"):
        accounts.login("pharmacist1", password_of("pharmacist1"))
    with pytest.raises(ServiceError, match="last administrator"):
        store.revoke_user(admin, "admin")
    actions = [r["action"] for r in store.audit_records(admin)]
    assert actions.count("auth.login.failed") == 2 and "auth.lockout" in actions
    assert actions[-2:] == ["auth.login.refused", "user.revoke.refused"]
    assert store.verify_audit().valid
