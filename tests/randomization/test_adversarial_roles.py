"""Blinding from inside (issue 14, first list): what an administrator or an investigator must not be able to do.

Each case is an attack of the issue: the administrator creating a pharmacist or DMC account
for itself, revoking the last administrator, an investigator unblinding at another site,
repeatedly, with an invisible reason, and investigators working at every site. On the
service before accounts, sites and signatures, each attack succeeded.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dosefinding.cli import main
from dosefinding.randomization.accounts import AccountPolicy
from dosefinding.randomization.base import Actor, ServiceError
from dosefinding.randomization.service import create_app
from dosefinding.randomization.signatures import UNBLINDING_MEANING
from dosefinding.randomization.store import Store
from dosefinding.randomization.totp import decode_secret, totp

from .conftest import (
    ARMS,
    ELIGIBLE,
    FAST_KDF,
    STUDY,
    Trial,
    bearer,
    enrol_and_login,
    enrol_totp,
    grant,
    login,
    password_of,
)


def _audit_actions(trial: Trial) -> list[dict[str, Any]]:
    return trial.call("auditor", "GET", "/api/audit", params={"limit": 10_000}).json()


def _account(trial: Trial, username: str, role: str, **extra: Any) -> str:
    r = trial.call("admin", "POST", "/api/admin/users", json={"username": username, "role": role, **extra})
    assert r.status_code == 201, r.text
    return enrol_and_login(trial.client, username, r.json()["enrolment_code"])


def _other_site_subject(trial: Trial) -> str:
    """A subject randomised at site 200, where investigator1 (sites 100-102) does not work."""
    token = _account(trial, "investigator2", "investigator", sites=["200"])
    trial.tokens["investigator2"] = token
    assert trial.client.post("/api/subjects/screen", headers=bearer(token),
                             json={"subject_id": "X1", "site": "200", "data": ELIGIBLE}).status_code == 201
    r = trial.client.post("/api/subjects/X1/randomise", headers=bearer(token), json={"strata": {"ESSDAI": ">=10"}})
    assert r.status_code == 201, r.text
    return "X1"


# --- the administrator ------------------------------------------------------------------


@pytest.mark.parametrize(("role", "path"), [("pharmacist", "/api/pharmacy/subjects/S1"), ("dmc", "/api/export/list")])
def test_the_administrator_cannot_create_an_unblinded_account_for_itself(trial: Trial, role: str, path: str) -> None:
    trial.screen("S1")
    trial.randomise("S1")
    r = trial.call("admin", "POST", "/api/admin/users", json={"username": f"admin-as-{role}", "role": role})
    assert r.status_code == 403, r.text
    assert "two-person rule" in r.json()["detail"]
    assert "token" not in r.json() and "enrolment_code" not in r.json()
    refused = [a for a in _audit_actions(trial) if a["action"] == "user.create.refused"]
    assert [(a["actor"], a["details"]["role"]) for a in refused] == [("admin", role)]
    # nor can it make a sponsor to approve its own proposals
    r = trial.call("admin", "POST", "/api/admin/users", json={"username": "my-sponsor", "role": "sponsor"})
    assert r.status_code == 403


def test_the_administrator_cannot_propose_a_grant_to_itself(trial: Trial) -> None:
    r = trial.call("admin", "POST", "/api/admin/grants", json={"username": "admin", "grant": "dmc"})
    assert r.status_code == 403 and "itself" in r.json()["detail"]
    assert _audit_actions(trial)[-1]["action"] == "grant.refused"


def test_a_second_account_the_administrator_created_gets_no_arms_through_it(trial: Trial) -> None:
    """The administrator creates an investigator it controls and has it granted the unblinding privilege."""
    trial.screen("S1")
    trial.randomise("S1")
    alias = trial.call("admin", "POST", "/api/admin/users",
                       json={"username": "alias", "role": "investigator", "sites": ["101"]}).json()["enrolment_code"]
    enrol_and_login(trial.client, "alias", alias)  # the administrator holds the account
    proposal = trial.call("admin", "POST", "/api/admin/grants", json={"username": "alias",
                                                                       "grant": "emergency_unblinding"}).json()
    assert trial.call("sponsor", "POST", f"/api/grants/{proposal['id']}/approve").status_code == 200
    # The approval replaced the credential: the administrator's password and its half of the code are useless.
    r = trial.client.post("/api/auth/login", json={"username": "alias", "password": password_of("alias")})
    assert r.status_code == 401 and "not enrolled" in r.json()["detail"]
    r = trial.client.post("/api/auth/enrol", json={"username": "alias", "code": proposal["proposer_code"],
                                                   "password": "the administrator's guess"})
    assert r.status_code == 401
    actions = [a["action"] for a in _audit_actions(trial)]
    assert actions[-3:] == ["grant.approve", "auth.login.refused", "auth.enrol.failed"]


def test_a_sponsor_cannot_approve_a_grant_to_itself(trial: Trial) -> None:
    r = trial.call("admin", "POST", "/api/admin/grants", json={"username": "sponsor1", "grant": "sponsor"})
    assert r.status_code == 201, r.text
    r = trial.call("sponsor", "POST", f"/api/grants/{r.json()['id']}/approve")
    assert r.status_code == 403 and "themselves" in r.json()["detail"]
    assert _audit_actions(trial)[-1]["action"] == "grant.refused"


def test_grants_approvals_and_revocations_are_audited(trial: Trial) -> None:
    actions = _audit_actions(trial)
    approvals = [a for a in actions if a["action"] == "grant.approve"]
    assert {(a["actor"], a["details"]["username"], a["details"]["grant"], a["details"]["proposed_by"])
            for a in approvals} == {("sponsor1", "pharmacist1", "pharmacist", "admin"),
                                    ("sponsor1", "dmc1", "dmc", "admin"),
                                    ("sponsor1", "investigator1", "emergency_unblinding", "admin")}
    trial.screen("S1")
    trial.randomise("S1")
    assert trial.call("admin", "POST", "/api/admin/users/investigator1/revoke-unblinding").status_code == 204
    assert _audit_actions(trial)[-1]["action"] == "grant.revoke"
    r = trial.unblind("S1", "suspected anaphylaxis")
    assert r.status_code == 403 and "no emergency unblinding privilege" in r.json()["detail"]
    assert trial.call("admin", "POST", "/api/admin/users/dmc1/revoke").status_code == 204
    assert _audit_actions(trial)[-1]["action"] == "user.revoke"
    assert trial.call("dmc", "GET", "/api/export/list").status_code == 401
    listed = trial.call("sponsor", "GET", "/api/grants").json()
    assert [g["status"] for g in listed] == ["approved"] * 3 and all("code" not in str(g) for g in listed)


def test_the_last_administrator_cannot_be_revoked_and_the_host_can_recover(
        trial: Trial, capsys: pytest.CaptureFixture[str]) -> None:
    r = trial.call("admin", "POST", "/api/admin/users/admin/revoke")
    assert r.status_code == 409 and "last administrator" in r.json()["detail"]
    assert trial.call("admin", "GET", "/api/me").status_code == 200
    assert _audit_actions(trial)[-1]["action"] == "user.revoke.refused"
    # With a second administrator the first can go, but then the second is the last.
    second = _account(trial, "admin2", "admin")
    assert trial.client.post("/api/admin/users/admin/revoke", headers=bearer(second)).status_code == 204
    assert trial.call("admin", "GET", "/api/me").json()["detail"] == "account revoked"
    r = trial.client.post("/api/admin/users/admin2/revoke", headers=bearer(second))
    assert r.status_code == 409 and "last administrator" in r.json()["detail"]
    # Recovery from the database host: a new enrolment code for the revoked administrator.
    path = trial.url.removeprefix("sqlite:///")
    assert main(["recover-admin", "--db", path, "--username", "admin"]) == 0
    code = capsys.readouterr().out.strip().rsplit(" ", 1)[-1]
    token = enrol_and_login(trial.client, "admin", code)
    assert trial.client.get("/api/me", headers=bearer(token)).json()["role"] == "admin"
    recovered = [a for a in _audit_actions(trial) if a["action"] == "host.account.recover"]
    assert len(recovered) == 1 and recovered[0]["actor"].startswith("host:")


# --- investigators and sites -------------------------------------------------------------


def test_an_investigator_cannot_unblind_at_another_site(trial: Trial) -> None:
    subject = _other_site_subject(trial)
    r = trial.unblind(subject, "suspected anaphylaxis at the infusion")
    assert r.status_code == 403, r.text
    assert r.json()["detail"] == ("site: 'investigator1' may not unblind subjects of site '200' "
                                  "(assigned sites: 100, 101, 102)")
    assert not any(arm in r.text for arm in ARMS)
    last = _audit_actions(trial)[-1]
    assert (last["action"], last["subject"]) == ("subject.unblind.refused", subject)
    assert trial.call("auditor", "GET", "/api/reports/unblinding").json() == []


def test_an_investigator_without_the_privilege_cannot_unblind(trial: Trial) -> None:
    subject = _other_site_subject(trial)
    r = trial.client.post(f"/api/subjects/{subject}/unblind", headers=bearer(trial.tokens["investigator2"]),
                          json={"reason": "suspected anaphylaxis", "password": password_of("investigator2")})
    assert r.status_code == 403 and "no emergency unblinding privilege" in r.json()["detail"]


def test_unblinding_twice_discloses_nothing_new(trial: Trial) -> None:
    trial.screen("S1")
    trial.randomise("S1")
    first = trial.unblind("S1", "suspected anaphylaxis")
    assert first.status_code == 200 and first.json()["arm"] in ARMS and first.json()["repeat"] is False
    for _ in range(3):
        again = trial.unblind("S1", "another look at the arm please")
        assert again.status_code == 200
        assert again.json()["arm"] is None and again.json()["repeat"] is True
        assert {k: v for k, v in again.json().items() if k not in ("arm", "repeat")} == {
            k: v for k, v in first.json().items() if k not in ("arm", "repeat")}
    assert len(trial.call("auditor", "GET", "/api/reports/unblinding").json()) == 1
    assert trial.call("blinded_statistician", "GET", "/api/reports/blinded").json()["emergency_unblindings"] == 1
    assert [a["action"] for a in _audit_actions(trial)].count("subject.unblind.repeat") == 3
    assert len(trial.store.notifications()) == 1


@pytest.mark.parametrize("reason", ["\u200b" * 5, "\u200b" * 20 + "ok", "\u202eylaxis anaphyl", "abc 123 !!!!",
                                    "Fever\u0000 and rash", "     ", "\ufeffshort"])
def test_an_unblinding_reason_must_be_real_text(trial: Trial, reason: str) -> None:
    trial.screen("S1")
    trial.randomise("S1")
    r = trial.unblind("S1", reason)
    assert r.status_code == 422 and r.json()["detail"].startswith("reason:"), r.text
    assert trial.call("auditor", "GET", "/api/reports/unblinding").json() == []


def test_a_reason_is_normalised_before_it_is_recorded(trial: Trial) -> None:
    trial.screen("S1")
    trial.randomise("S1")
    r = trial.unblind("S1", "  Ａｎａｐｈｙｌａｘｉｓ \n after   dose 2 ")  # full-width letters, NFKC
    assert r.status_code == 200 and r.json()["reason"] == "Anaphylaxis after dose 2"


@pytest.mark.parametrize("action", ["screen", "randomise", "view"])
def test_investigators_work_only_at_their_sites(trial: Trial, action: str) -> None:
    trial.screen("S1", site="101")
    trial.randomise("S1")
    elsewhere = _account(trial, "investigator2", "investigator", sites=["200"])
    call = {
        "screen": lambda: trial.screen("S2", site="999"),
        "randomise": lambda: trial.client.post("/api/subjects/S3/randomise", headers=bearer(elsewhere),
                                               json={"strata": {"ESSDAI": ">=10"}}),
        "view": lambda: trial.client.get("/api/subjects/S1", headers=bearer(elsewhere)),
    }[action]
    trial.screen("S3", site="102")
    r = call()
    assert r.status_code == 403, r.text
    assert r.json()["detail"].startswith("site: ") and "may not" in r.json()["detail"]


def test_an_investigator_account_needs_sites(trial: Trial) -> None:
    r = trial.call("admin", "POST", "/api/admin/users", json={"username": "nosite", "role": "investigator"})
    assert r.status_code == 422 and r.json()["detail"].startswith("sites:")


# --- the signature -------------------------------------------------------------------------


def test_unblinding_is_an_electronic_signature(trial: Trial) -> None:
    trial.screen("S1")
    trial.randomise("S1")
    assert trial.call("investigator", "GET", "/api/unblinding/meaning").json() == {"meaning": UNBLINDING_MEANING}
    no_password = trial.call("investigator", "POST", "/api/subjects/S1/unblind", json={"reason": "suspected anaphylaxis"})
    assert no_password.status_code == 401 and "signature: wrong password" in no_password.json()["detail"]
    signature = trial.signature("investigator")
    wrong_code = trial.call("investigator", "POST", "/api/subjects/S1/unblind", json={
        "reason": "suspected anaphylaxis", "password": signature["password"],
        "totp": str((int(signature["totp"]) + 1) % 10**6).zfill(6)})
    assert wrong_code.status_code == 401 and "one-time code" in wrong_code.json()["detail"]
    r = trial.call("investigator", "POST", "/api/subjects/S1/unblind", json={"reason": "suspected anaphylaxis"}
                   | signature)
    assert r.status_code == 200 and r.json()["meaning"] == UNBLINDING_MEANING
    assert r.json()["signed_by"] == "investigator1"
    (event,) = trial.call("auditor", "GET", "/api/reports/unblinding").json()
    assert (event["signed_by"], event["meaning"], event["reason"]) == ("investigator1", UNBLINDING_MEANING,
                                                                       "suspected anaphylaxis")
    actions = [a for a in _audit_actions(trial) if a["action"] != "report.unblinding"]
    assert [a["action"] for a in actions[-3:]] == ["signature.failed", "signature.failed", "subject.unblind"]
    assert actions[-1]["details"]["meaning"] == UNBLINDING_MEANING
    # the same code cannot sign twice
    trial.screen("S2")
    trial.randomise("S2")
    replay = trial.call("investigator", "POST", "/api/subjects/S2/unblind", json={"reason": "suspected anaphylaxis"}
                        | signature)
    assert replay.status_code == 401 and "reused" in replay.json()["detail"]
    # the medical monitor's notification: who, when, why; never the arm
    (note,) = trial.store.notifications()
    assert note["recipient"] == "medical_monitor" and note["body"]["reason"] == "suspected anaphylaxis"
    assert not any(arm in str(note) for arm in ARMS)
    with sqlite3.connect(trial.url.removeprefix("sqlite:///")) as conn:
        assert conn.execute("SELECT full_name, meaning, method FROM signatures").fetchall() == [
            ("investigator1", UNBLINDING_MEANING, "password+totp")]


def test_a_signer_without_an_authenticator_is_sent_to_enrol_one(trial: Trial) -> None:
    trial.screen("S1")
    trial.randomise("S1")
    code = grant(trial.client, trial.tokens["admin"], trial.tokens["sponsor"], "investigator1", "emergency_unblinding")
    token = enrol_and_login(trial.client, "investigator1", code)  # a re-grant resets password and authenticator
    r = trial.client.post("/api/subjects/S1/unblind", headers=bearer(token),
                          json={"reason": "suspected anaphylaxis", "password": password_of("investigator1")})
    assert r.status_code == 403 and "must enrol an authenticator app" in r.json()["detail"]
    enrol_totp(trial.client, token)
    r = trial.client.post("/api/subjects/S1/unblind", headers=bearer(token),
                          json={"reason": "suspected anaphylaxis", "password": password_of("investigator1")})
    assert r.status_code == 401 and "one-time code" in r.json()["detail"]  # the signature now needs the code


# --- accounts and sessions ---------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clocked(tmp_path: Path) -> tuple[TestClient, Store, Clock, str]:
    clock = Clock()
    policy = AccountPolicy(session_minutes=60, max_session_hours=3, idle_minutes=20, max_failures=3,
                           lockout_minutes=10)
    store = Store(f"sqlite:///{tmp_path / 'clock.db'}", policy=policy, password_hasher=FAST_KDF, clock=clock)
    client = TestClient(create_app(store=store))
    token = enrol_and_login(client, "admin", store.add_user("admin", "admin", bootstrap=True))
    assert client.post("/api/admin/study", json=STUDY, headers=bearer(token)).status_code == 201
    return client, store, clock, token


def test_passwords_are_argon2id_hashes(clocked: tuple[TestClient, Store, Clock, str]) -> None:
    _, store, _, _ = clocked
    with sqlite3.connect(store.url.removeprefix("sqlite:///")) as conn:
        (stored,) = conn.execute("SELECT password_hash FROM users WHERE username = 'admin'").fetchone()
    assert stored.startswith("$argon2id$") and password_of("admin") not in stored


def test_sessions_expire_idle_out_and_renew(clocked: tuple[TestClient, Store, Clock, str]) -> None:
    client, _, clock, token = clocked
    clock.now += 15 * 60
    assert client.get("/api/me", headers=bearer(token)).status_code == 200
    clock.now += 21 * 60
    r = client.get("/api/me", headers=bearer(token))
    assert r.status_code == 401 and "idle" in r.json()["detail"]
    token = login(client, "admin")
    for _ in range(9):  # renewing before the idle time, up to three hours after the login
        clock.now += 19 * 60
        r = client.post("/api/auth/renew", headers=bearer(token))
        assert r.status_code == 200, r.text
        assert client.get("/api/me", headers=bearer(token)).json()["detail"] == "session ended: log in again"
        token = r.json()["token"]
    assert r.json()["expires_in_minutes"] == pytest.approx(9.0)  # capped at three hours from the login
    clock.now += 10 * 60
    r = client.get("/api/me", headers=bearer(token))
    assert r.status_code == 401 and r.json()["detail"] == "session expired: log in again"
    token = login(client, "admin")
    assert client.post("/api/auth/logout", headers=bearer(token)).status_code == 204
    assert client.get("/api/me", headers=bearer(token)).status_code == 401


def test_repeated_failures_lock_the_account_and_are_recorded(clocked: tuple[TestClient, Store, Clock, str]) -> None:
    client, _, clock, admin = clocked
    wrong = {"username": "admin", "password": "not the pass phrase"}
    assert [client.post("/api/auth/login", json=wrong).status_code for _ in range(3)] == [401] * 3
    r = client.post("/api/auth/login", json={"username": "admin", "password": password_of("admin")})
    assert r.status_code == 401 and "locked" in r.json()["detail"]
    assert client.get("/api/me", headers=bearer(admin)).status_code == 401  # the lockout ended the sessions
    assert client.post("/api/auth/login", json={"username": "nobody", "password": "x" * 12}).status_code == 401
    clock.now += 11 * 60
    token = login(client, "admin")
    auditor = _clocked_account(client, token, "auditor1", "auditor")
    actions = [(a["action"], a["actor"]) for a in client.get("/api/audit", headers=bearer(auditor)).json()]
    assert [a for a in actions if a[0].startswith("auth.") and a[0] not in ("auth.enrol", "auth.login")] == [
        ("auth.login.failed", "admin"), ("auth.login.failed", "admin"), ("auth.login.failed", "admin"),
        ("auth.lockout", "admin"), ("auth.login.refused", "admin"), ("auth.login.failed", "nobody")]


def _clocked_account(client: TestClient, admin: str, username: str, role: str) -> str:
    r = client.post("/api/admin/users", json={"username": username, "role": role}, headers=bearer(admin))
    return enrol_and_login(client, username, r.json()["enrolment_code"])


def test_login_needs_the_totp_code_once_enrolled(clocked: tuple[TestClient, Store, Clock, str]) -> None:
    client, _, clock, token = clocked
    secret = client.post("/api/auth/totp", headers=bearer(token)).json()["secret"]
    key = decode_secret(secret)
    assert client.post("/api/auth/totp/confirm", json={"code": "000000" if totp(key, clock.now) != "000000"
                                                       else "111111"}, headers=bearer(token)).status_code == 422
    assert client.post("/api/auth/totp/confirm", json={"code": totp(key, clock.now)},
                       headers=bearer(token)).status_code == 204
    body = {"username": "admin", "password": password_of("admin")}
    assert client.post("/api/auth/login", json=body).status_code == 401
    clock.now += 30
    assert client.post("/api/auth/login", json=body | {"totp": totp(key, clock.now)}).status_code == 200
    # a session alone cannot move the second factor to another phone
    r = client.post("/api/auth/totp", headers=bearer(token))
    assert r.status_code == 401 and "replacing the authenticator" in r.json()["detail"]
    clock.now += 30
    r = client.post("/api/auth/totp", headers=bearer(token), json={"password": password_of("admin"),
                                                                     "totp": totp(key, clock.now)})
    assert r.status_code == 200 and r.json()["secret"] != secret


def test_weak_passwords_and_wrong_codes_are_refused(clocked: tuple[TestClient, Store, Clock, str]) -> None:
    client, _, _, token = clocked
    code = client.post("/api/admin/users", json={"username": "inv", "role": "investigator", "sites": ["1"]},
                       headers=bearer(token)).json()["enrolment_code"]
    for password, message in (("short", "at least 12"), ("INV", "at least 12"), ("Inv" * 4, None)):
        r = client.post("/api/auth/enrol", json={"username": "inv", "code": code, "password": password})
        assert (r.status_code, message and message in r.json()["detail"]) == ((422, True) if message else (204, None))
    r = client.post("/api/auth/enrol", json={"username": "inv", "code": code, "password": "a fine pass phrase"})
    assert r.status_code == 401  # a code works once


def test_the_host_adds_a_sponsor_and_refuses_to_recover_other_roles(
        trial: Trial, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = trial.url.removeprefix("sqlite:///")
    code_file = tmp_path / "sponsor.code"
    assert main(["add-sponsor", "--db", path, "--username", "sponsor2", "--full-name", "Dr B. Sponsor",
                 "--code-file", str(code_file)]) == 0
    assert "written to" in capsys.readouterr().out and code_file.stat().st_mode & 0o777 == 0o600
    token = enrol_and_login(trial.client, "sponsor2", code_file.read_text())
    assert trial.client.get("/api/me", headers=bearer(token)).json()["role"] == "sponsor"
    assert main(["recover-admin", "--db", path, "--username", "investigator1"]) == 2
    assert "'investigator1' has role 'investigator', not 'admin'" in capsys.readouterr().err
    assert main(["recover-admin", "--db", str(tmp_path / "missing.db"), "--username", "admin"]) == 2
    assert "no SQLite file" in capsys.readouterr().err


def test_host_commands_take_the_database_and_key_as_every_host_command(
        trial: Trial, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        audit_key_file: Path) -> None:
    """``$DOSEFINDING_DATABASE_URL``, ``--db-url-file``, ``--audit-key-file``; no password on the command line."""
    monkeypatch.setenv("DOSEFINDING_DATABASE_URL", trial.url)
    assert main(["add-sponsor", "--username", "sponsor3"]) == 0
    url_file = tmp_path / "db.url"
    url_file.write_text(trial.url)
    monkeypatch.delenv("DOSEFINDING_DATABASE_URL")
    monkeypatch.delenv("DOSEFINDING_AUDIT_KEY_FILE")
    assert main(["recover-admin", "--db-url-file", str(url_file), "--username", "admin",
                 "--audit-key-file", str(audit_key_file)]) == 0
    capsys.readouterr()
    assert main(["add-sponsor", "--db", "postgresql+psycopg://u:secret@db/x", "--username", "s4"]) == 2
    assert "visible to every user of the host" in capsys.readouterr().err
    monkeypatch.setenv("DOSEFINDING_AUDIT_KEY_FILE", str(audit_key_file))
    assert main(["audit-verify", trial.url.removeprefix("sqlite:///")]) == 0
    actions = [r["action"] for r in _audit_actions(trial)]
    assert actions.count("host.account.create") == 2 and actions[-1] == "host.account.recover"


def test_corrections_respect_site_scope(trial: Trial) -> None:
    """An investigator corrects subjects of its sites only; moving a subject to a site needs both sites."""
    subject = _other_site_subject(trial)  # X1 at site 200, of investigator2
    trial.screen("S1", site="101")
    before = len(_audit_actions(trial))
    body = {"field": "data.AGE", "value": 46, "reason": "typed wrong on screening"}
    r = trial.call("investigator", "POST", f"/api/subjects/{subject}/corrections", json=body)
    assert r.status_code == 403 and "may not correct subjects of site '200'" in r.json()["detail"]
    move = {"field": "site", "value": "200", "reason": "screened at the satellite site"}
    r = trial.call("investigator", "POST", "/api/subjects/S1/corrections", json=move)
    assert r.status_code == 403 and "may not move subjects of site '200'" in r.json()["detail"]
    r = trial.call("investigator2", "POST", f"/api/subjects/{subject}/corrections", json=move | {"value": "101"})
    assert r.status_code == 403 and "may not move subjects of site '101'" in r.json()["detail"]
    assert len(_audit_actions(trial)) == before  # refused corrections change nothing, the trail included
    r = trial.call("investigator", "POST", "/api/subjects/S1/corrections", json=move | {"value": "102"})
    assert r.status_code == 201 and (r.json()["old"], r.json()["new"]) == ("101", "102")
    assert trial.call("investigator2", "POST", f"/api/subjects/{subject}/corrections", json=body).status_code == 201


# --- gaps closed after the merge: TOTP for every role that sees arms or approves grants, unlock and reset by an
# administrator, a pharmacist's sites, revocation of the unblinding privilege checking the caller's role ----------

TOTP_CASES = [  # (grant, the first thing the account would do, its method and path)
    ("pharmacist", "GET", "/api/pharmacy/subjects/S1"),
    ("dmc", "GET", "/api/reports/unblinded"),
    ("sponsor", "POST", "/api/grants/1/reject"),
    ("emergency_unblinding", "GET", "/api/subjects/S1"),
]


@pytest.mark.parametrize(("kind", "method", "path"), TOTP_CASES, ids=[c[0] for c in TOTP_CASES])
def test_an_account_that_sees_arms_or_approves_grants_must_enrol_totp_first(trial: Trial, kind: str, method: str,
                                                                            path: str) -> None:
    trial.screen("S1")
    trial.randomise("S1")
    username = "investigator1" if kind == "emergency_unblinding" else f"{kind}2"
    code = grant(trial.client, trial.tokens["admin"], trial.tokens["sponsor"], username, kind)
    r = trial.client.post("/api/auth/enrol", json={"username": username, "code": code,
                                                   "password": password_of(username)})
    assert r.status_code == 204
    r = trial.client.post("/api/auth/login", json={"username": username, "password": password_of(username)})
    assert r.status_code == 200 and r.json()["totp_enrolment_required"] is True
    token = r.json()["token"]
    r = trial.client.request(method, path, headers=bearer(token))
    assert r.status_code == 403, r.text
    assert "must enrol an authenticator app" in r.json()["detail"] and "POST /api/auth/totp" in r.json()["detail"]
    assert trial.client.get("/api/me", headers=bearer(token)).json()["username"] == username
    secret = enrol_totp(trial.client, token)
    assert trial.client.request(method, path, headers=bearer(token)).status_code not in (401, 403)
    r = trial.client.post("/api/auth/login", json={"username": username, "password": password_of(username)})
    assert r.status_code == 401  # from now on the login needs the code
    assert login(trial.client, username, secret)


def test_blinded_accounts_need_no_totp(trial: Trial) -> None:
    r = trial.client.post("/api/auth/login", json={"username": "auditor1", "password": password_of("auditor1")})
    assert r.status_code == 200 and r.json()["totp_enrolment_required"] is False
    assert trial.client.get("/api/audit", headers=bearer(r.json()["token"])).status_code == 200


def _lock(trial: Trial, username: str) -> None:
    wrong = {"username": username, "password": "not the pass phrase"}
    assert [trial.client.post("/api/auth/login", json=wrong).status_code for _ in range(5)] == [401] * 5
    r = trial.client.post("/api/auth/login", json={"username": username, "password": password_of(username)})
    assert r.status_code == 401 and "locked" in r.json()["detail"]


def test_the_administrator_unlocks_an_account_with_a_reason(trial: Trial) -> None:
    _lock(trial, "blinded_statistician1")
    path = "/api/admin/users/blinded_statistician1/unlock"
    assert trial.call("admin", "POST", path, json={}).status_code == 422  # a reason is required
    for role in ("auditor", "sponsor", "investigator"):
        assert trial.call(role, "POST", path, json={"reason": "called the help desk"}).status_code == 403
    assert trial.call("admin", "POST", path, json={"reason": "identity checked by phone"}).status_code == 204
    assert login(trial.client, "blinded_statistician1")
    record = next(r for r in _audit_actions(trial) if r["action"] == "user.unlock")
    assert record["actor"] == "admin" and record["details"]["reason"] == "identity checked by phone"
    assert record["details"]["old"]["locked_until"] is not None and record["details"]["new"]["locked_until"] is None
    assert main(["audit-verify", trial.url]) == 0


def test_the_administrator_resets_a_blinded_password_and_the_trail_replays_it(trial: Trial) -> None:
    old_token = trial.tokens["blinded_statistician"]
    path = "/api/admin/users/blinded_statistician1/reset"
    assert trial.call("admin", "POST", path, json={}).status_code == 422
    assert trial.call("sponsor", "POST", path, json={"reason": "forgot the password"}).status_code == 403
    r = trial.call("admin", "POST", path, json={"reason": "forgot the password"})
    assert r.status_code == 200 and r.json()["username"] == "blinded_statistician1"
    assert trial.client.get("/api/me", headers=bearer(old_token)).status_code == 401  # sessions ended
    r = trial.client.post("/api/auth/login", json={"username": "blinded_statistician1",
                                                   "password": password_of("blinded_statistician1")})
    assert r.status_code == 401  # the old password is gone
    code = trial.call("admin", "POST", path, json={"reason": "the first code was lost"}).json()["enrolment_code"]
    token = enrol_and_login(trial.client, "blinded_statistician1", code)
    assert trial.client.get("/api/reports/blinded", headers=bearer(token)).status_code == 200
    actions = [(r["action"], r["details"].get("reason")) for r in _audit_actions(trial) if r["action"] == "user.reset"]
    assert actions == [("user.reset", "forgot the password"), ("user.reset", "the first code was lost")]
    assert main(["audit-verify", trial.url]) == 0


@pytest.mark.parametrize("username", ["pharmacist1", "dmc1", "sponsor1", "investigator1"])
def test_no_password_reset_for_an_account_that_sees_arms_or_approves_grants(trial: Trial, username: str) -> None:
    r = trial.call("admin", "POST", f"/api/admin/users/{username}/reset", json={"reason": "forgot the password"})
    assert r.status_code == 403 and "two-person rule" in r.json()["detail"]
    refused = [r for r in _audit_actions(trial) if r["action"] == "user.reset.refused"]
    assert len(refused) == 1 and refused[0]["details"]["username"] == username
    assert main(["audit-verify", trial.url]) == 0


def test_a_pharmacists_sites_bind_the_pharmacy_view(trial: Trial) -> None:
    for k, site in enumerate(("100", "101")):
        assert trial.screen(f"P{k}", site=site).status_code == 201
        assert trial.randomise(f"P{k}").status_code == 201
    code = grant(trial.client, trial.tokens["admin"], trial.tokens["sponsor"], "pharmacist2", "pharmacist",
                 sites=["100"])
    token = enrol_and_login(trial.client, "pharmacist2", code)
    enrol_totp(trial.client, token)
    assert trial.client.get("/api/pharmacy/subjects/P0", headers=bearer(token)).status_code == 200
    r = trial.client.get("/api/pharmacy/subjects/P1", headers=bearer(token))
    assert r.status_code == 403
    assert r.json()["detail"] == "site: 'pharmacist2' may not view subjects of site '101' (assigned sites: 100)"
    assert trial.call("pharmacist", "GET", "/api/pharmacy/subjects/P1").status_code == 200  # no sites: every site


@pytest.mark.parametrize("role", ["investigator", "sponsor", "dmc", "auditor"])
def test_revoking_the_unblinding_privilege_checks_the_callers_role(trial: Trial, role: str) -> None:
    with pytest.raises(ServiceError, match="may not withdraw an emergency unblinding privilege") as refused:
        trial.store.accounts.revoke_unblinding(Actor(f"{role}1", role), "investigator1")
    assert refused.value.status == 403
    trial.store.accounts.revoke_unblinding(Actor("admin", "admin"), "investigator1")
