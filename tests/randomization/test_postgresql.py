"""The store on PostgreSQL: concurrent randomisation, append-only triggers, audit chain.

The server is the session's (``conftest.postgres_cluster``: ``DOSEFINDING_TEST_POSTGRES_URL`` if set,
else a throw-away cluster); without the server binaries the tests fail and say what to install
(``scripts/test.py`` installs them).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from dosefinding.randomization.accounts import AccountPolicy
from dosefinding.randomization.store import Actor, ServiceError, Store
from dosefinding.randomization.totp import decode_secret, hotp, time_step

from .conftest import ARMS, ELIGIBLE, FAST_KDF, RULES, PostgresCluster, password_of


@pytest.fixture(scope="module")
def postgres_url(postgres_cluster: PostgresCluster) -> str:
    """A database of this module on the session's PostgreSQL server (each test empties it)."""
    return postgres_cluster.database()


def _fresh_store(postgres_url: str, *extra_statements: str, **options: Any) -> tuple[Store, Actor]:
    """A store on an emptied database, with its administrator logged in; ``extra_statements`` run first
    (autocommit); ``options`` go to :class:`Store`."""
    engine = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for statement in ("DROP SCHEMA public CASCADE", "CREATE SCHEMA public", *extra_statements):
            conn.execute(text(statement))
    engine.dispose()
    store = Store(postgres_url, **({"password_hasher": FAST_KDF} | options))
    store.accounts.enrol("admin", store.add_user("admin", "admin", bootstrap=True), password_of("admin"))
    return store, store.authenticate(store.accounts.login("admin", password_of("admin"))["token"])


def _sponsor(store: Store) -> Actor:
    """A host-made sponsor, logged in, with a TOTP authenticator (which approving grants needs)."""
    accounts = store.accounts
    accounts.enrol("sponsor1", accounts.host_account("sponsor1", "sponsor", "test"), password_of("sponsor1"))
    sponsor = store.authenticate(accounts.login("sponsor1", password_of("sponsor1"))["token"], enrolling=True)
    secret = accounts.totp_begin(sponsor)["secret"]
    accounts.totp_confirm(sponsor, hotp(decode_secret(secret), time_step(time.time())))
    return sponsor


def _unblinder(store: Store, admin: Actor) -> tuple[Actor, Callable[[], dict[str, str]]]:
    """An investigator of site 101 and 102 holding the unblinding privilege (granted by the administrator and a
    host-made sponsor) and a TOTP authenticator; and a function giving a fresh signature (password, code)."""
    accounts = store.accounts
    sponsor = _sponsor(store)
    store.add_user("inv", "investigator", actor=admin, sites=["101", "102"])
    proposal = accounts.propose(admin, "inv", "emergency_unblinding")
    approval = accounts.approve(sponsor, proposal["id"])
    accounts.enrol("inv", f"{proposal['proposer_code']}.{approval['approver_code']}", password_of("inv"))
    investigator = store.authenticate(accounts.login("inv", password_of("inv"))["token"], enrolling=True)
    secret = accounts.totp_begin(investigator)["secret"]
    steps = [time_step(time.time())]
    accounts.totp_confirm(investigator, hotp(decode_secret(secret), steps[-1]))

    def signature() -> dict[str, str]:
        steps.append(max(time_step(time.time()), steps[-1] + 1))
        return {"password": password_of("inv"), "totp": hotp(decode_secret(secret), steps[-1])}

    return investigator, signature


def test_concurrent_randomisation_on_postgresql(postgres_url: str) -> None:
    store, admin = _fresh_store(postgres_url)
    store.setup_study(admin, {"name": "PG", "arms": ARMS, "strata": {"ESSDAI": [">=10", "<10"]},
                              "n_per_stratum": 300, "seed": 3, "user_seed": True,
                              "eligibility": RULES})
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


def test_audit_verify_on_postgresql_reads_only_and_names_tampering(postgres_url: str, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from dosefinding.cli import main
    from dosefinding.randomization.verification import read_only_engine

    store, admin = _fresh_store(postgres_url)
    store.setup_study(admin, {"name": "PG", "arms": ARMS, "strata": {"ESSDAI": [">=10", "<10"]},
                              "n_per_stratum": 20, "seed": 5, "user_seed": True,
                              "eligibility": RULES})
    investigator, signature = _unblinder(store, admin)
    for k in range(6):
        store.screen(investigator, f"S{k}", "101", ELIGIBLE)
        store.randomise(investigator, f"S{k}", {"ESSDAI": ">=10"})
    store.unblind(investigator, "S2", "suspected anaphylaxis", **signature())
    store.correct_subject(investigator, "S3", "site", "102", "screened at the satellite site")
    n = len(store.audit_records(admin, limit=None))
    store.engine.dispose()
    checkpoint = str(tmp_path / "checkpoint.json")
    assert main(["audit-checkpoint", postgres_url, "--out", checkpoint]) == 0
    assert main(["audit-verify", postgres_url, "--checkpoint", checkpoint]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith(f"audit trail OK: {n} records")
    read_only = read_only_engine(postgres_url)
    with read_only.connect() as conn, pytest.raises(DBAPIError, match="read-only transaction"):
        conn.execute(text("DELETE FROM unblindings"))
    read_only.dispose()
    engine = create_engine(postgres_url)
    with engine.begin() as conn:  # the owner of the tables can switch their triggers off
        conn.execute(text("ALTER TABLE slot_arms DISABLE TRIGGER USER"))
        slot, arm = conn.execute(text("SELECT slot_id, arm FROM slot_arms JOIN slots ON slots.id = slot_id "
                                      "WHERE subject_id IS NOT NULL ORDER BY slot_id LIMIT 1")).one()
        conn.execute(text("DELETE FROM slot_arms WHERE slot_id = :s"), {"s": slot})
        conn.execute(text("INSERT INTO slot_arms (slot_id, arm) VALUES (:s, :a)"),
                     {"s": slot, "a": next(a for a in ARMS if a != arm)})
        conn.execute(text("DELETE FROM signatures"))  # the signature refers to the unblinding
        conn.execute(text("DELETE FROM unblindings"))
        conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        conn.execute(text("DELETE FROM audit_log WHERE seq = :n"), {"n": n})
        conn.execute(text("UPDATE chain_head SET seq = :m, hash = (SELECT hash FROM audit_log WHERE seq = :m)"),
                     {"m": n - 1})
    engine.dispose()
    assert main(["audit-verify", postgres_url, "--checkpoint", checkpoint]) == 1
    out = capsys.readouterr().out
    assert f"slot_arms: slot {slot} arm differs from the trail" in out
    assert "unblindings: 1 recorded in the trail missing from the table (subjects ['S2'])" in out
    assert "signatures: 1 recorded in the trail missing from the table (subjects ['S2'])" in out
    assert f"the trail ends at record {n - 1} but had {n} records (truncated)" in out


def test_concurrent_screens_of_one_subject_get_409_on_postgresql(postgres_url: str) -> None:
    """Two sessions screening one subject at once: one wins, the other gets 409 (not an IntegrityError)."""
    store, admin = _fresh_store(postgres_url)
    store.setup_study(admin, {"name": "PG", "arms": ARMS, "n_per_stratum": 50, "eligibility": RULES})
    investigator = Actor("inv", "investigator")
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def work(subject: str) -> None:
        barrier.wait()
        try:
            store.screen(investigator, subject, "101", ELIGIBLE)
            outcomes.append("201")
        except ServiceError as exc:
            outcomes.append(str(exc.status))
        except Exception as exc:  # main gave sqlalchemy's IntegrityError here  # noqa: BLE001
            outcomes.append(type(exc).__name__)

    for k in range(5):  # 8 sessions per subject, in both spellings
        threads = [threading.Thread(target=work, args=(f"case-{k}" if i % 2 else f"CASE-{k}",)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert sorted(set(outcomes)) == ["201", "409"] and outcomes.count("201") == 5 and len(outcomes) == 40
    assert store.verify_audit().valid


def test_backup_and_restore_on_postgresql(postgres_url: str, postgres_cluster: PostgresCluster,
                                          tmp_path: Path) -> None:
    """pg_dump of a live database, pg_restore into an empty one, the restored chain verified."""
    from dosefinding.randomization.operations import backup, restore

    store, admin = _fresh_store(postgres_url)
    store.setup_study(admin, {"name": "PG", "arms": ARMS, "n_per_stratum": 20, "eligibility": RULES})
    investigator = Actor("inv", "investigator")
    for k in range(5):
        store.screen(investigator, f"S{k}", "101", ELIGIBLE)
        store.randomise(investigator, f"S{k}", {})
    archive = tmp_path / "trial.dump"
    assert backup(postgres_url, archive).valid and archive.stat().st_size > 0
    restored_url = postgres_cluster.database()
    result = restore(archive, restored_url)
    assert result.valid and "14 records" in result.summary  # admin (create, enrol, login), study, 5 x 2
    assert Store(restored_url).adsl(None, unblinded=True).equals(store.adsl(None, unblinded=True))
    with pytest.raises(Exception, match="not empty"):
        restore(archive, restored_url)


def test_accounts_and_grants_on_postgresql(postgres_url: str) -> None:
    """Enrolment, login, lockout, a two-person grant and the last-administrator rule on PostgreSQL."""
    store, admin = _fresh_store(postgres_url, policy=AccountPolicy(max_failures=2))
    accounts = store.accounts
    sponsor = _sponsor(store)
    proposal = accounts.propose(admin, "pharmacist1", "pharmacist")
    approval = accounts.approve(sponsor, proposal["id"])
    with pytest.raises(ServiceError, match="invalid or expired enrolment code"):
        accounts.enrol("pharmacist1", proposal["proposer_code"], password_of("pharmacist1"))
    accounts.enrol("pharmacist1", f"{proposal['proposer_code']}.{approval['approver_code']}",
                   password_of("pharmacist1"))
    assert store.authenticate(accounts.login("pharmacist1", password_of("pharmacist1"))["token"],
                              enrolling=True).role == "pharmacist"
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
