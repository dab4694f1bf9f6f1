"""The audit trail: hash chain, append-only storage, the ``audit-verify`` command."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest

from dosefinding.cli import main
from dosefinding.randomization import canonical_json, record_hash, verify_chain
from dosefinding.randomization.audit import GENESIS_HASH

from .conftest import Trial


def _chain(n: int) -> list[dict[str, object]]:
    records, previous = [], GENESIS_HASH
    for seq in range(1, n + 1):
        record = {"seq": seq, "ts": f"2026-01-01T00:00:0{seq}Z", "actor": "inv1", "role": "investigator",
                  "action": "subject.screen", "subject": f"S{seq}", "details": {"eligible": True}}
        record |= {"prev_hash": previous, "hash": record_hash(previous, record)}
        previous = record["hash"]
        records.append(record)
    return records


def test_hash_is_sha256_of_previous_hash_and_canonical_json() -> None:
    record = _chain(1)[0]
    content = {k: record[k] for k in ("seq", "ts", "actor", "role", "action", "subject", "details")}
    text = GENESIS_HASH + '{"action":"subject.screen","actor":"inv1","details":{"eligible":true},"role":"investigator",' \
        '"seq":1,"subject":"S1","ts":"2026-01-01T00:00:01Z"}'
    assert canonical_json(content) == text[64:]
    assert record["hash"] == hashlib.sha256(text.encode()).hexdigest()


def test_any_change_removal_insertion_or_reordering_is_found() -> None:
    records = _chain(5)
    assert verify_chain(records).valid and verify_chain(records).n_records == 5
    changed = [dict(r) for r in records]
    changed[2]["details"] = {"eligible": False}
    assert verify_chain(changed).first_invalid == 3
    assert "hash does not match" in verify_chain(changed).reason
    removed = records[:2] + records[3:]
    assert verify_chain(removed).first_invalid == 4 and not verify_chain(removed).valid
    reordered = [records[0], records[2], records[1], *records[3:]]
    assert not verify_chain(reordered).valid
    # Re-hashing a changed record is not enough: the next record's link breaks.
    rehashed = [dict(r) for r in records]
    rehashed[1]["details"] = {"eligible": False}
    rehashed[1]["hash"] = record_hash(rehashed[1]["prev_hash"], rehashed[1])
    assert verify_chain(rehashed).first_invalid == 3
    assert "previous-hash link" in verify_chain(rehashed).reason


def test_database_trail_is_append_only_and_tampering_is_found_by_the_command(
    trial: Trial, capsys: pytest.CaptureFixture[str]
) -> None:
    trial.screen("S1")
    trial.randomise("S1")
    path = trial.url.removeprefix("sqlite:///")
    assert main(["audit-verify", path]) == 0
    out = capsys.readouterr().out
    assert out.startswith("audit trail OK: ")
    with sqlite3.connect(path) as conn:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE audit_log SET actor = 'someone' WHERE seq = 2")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM audit_log WHERE seq = 2")
        with pytest.raises(sqlite3.IntegrityError, match="already used"):
            conn.execute("UPDATE slots SET subject_id = NULL WHERE subject_id IS NOT NULL")
    # Someone with file access drops the trigger and rewrites a record: the chain shows it.
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TRIGGER audit_no_update")
        conn.execute("UPDATE audit_log SET details = '{\"site\":\"999\"}' WHERE action = 'subject.screen'")
    assert main(["audit-verify", f"sqlite:///{path}"]) == 1
    assert "BROKEN at record" in capsys.readouterr().out
    r = trial.call("auditor", "GET", "/api/audit/verify")
    assert r.status_code == 200 and r.json()["valid"] is False


def test_removing_the_last_records_is_found_through_the_chain_head(trial: Trial) -> None:
    trial.screen("S1")
    path = trial.url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TRIGGER audit_no_delete")
        conn.execute("DELETE FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log)")
    check = trial.call("auditor", "GET", "/api/audit/verify").json()
    assert check["valid"] is False and "chain head" in check["reason"]


def test_every_action_is_recorded_with_who_when_what_and_no_arm(trial: Trial) -> None:
    trial.screen("S1")
    confirmation = trial.randomise("S1").json()
    trial.call("pharmacist", "GET", "/api/pharmacy/subjects/S1")
    arm = trial.unblind("S1", "severe allergic reaction")
    assert arm.status_code == 200
    records = trial.call("auditor", "GET", "/api/audit").json()
    actions = [r["action"] for r in records]
    assert actions[:4] == ["user.create", "auth.enrol", "auth.login", "study.setup"]
    # admin, investigator, statistician, auditor by the administrator; pharmacist, DMC and the investigator's
    # unblinding privilege under the two-person rule; the sponsor on the host
    assert actions.count("user.create") == 4 and actions.count("grant.propose") == actions.count("grant.approve") == 3
    # sponsor, pharmacist, DMC and the unblinding investigator enrol an authenticator
    assert actions.count("host.account.create") == 1 and actions.count("auth.totp.enrol") == 4
    assert actions[-4:] == ["subject.screen", "subject.randomise", "pharmacy.view", "subject.unblind"]
    randomised = records[-3]
    assert randomised["actor"] == "investigator1" and randomised["role"] == "investigator"
    assert randomised["subject"] == "S1" and randomised["ts"].endswith("+00:00")
    assert randomised["details"]["randomisation_number"] == confirmation["randomisation_number"]
    assert records[-1]["details"]["reason"] == "severe allergic reaction"
    assert records[-1]["details"]["signed_by"] == "investigator1" and "signature" in records[-1]["details"]["meaning"]
    text = str(records)
    assert all(name not in text for name in ("Placebo", "VAY736"))


def test_the_command_reports_a_missing_database(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    assert main(["audit-verify", str(tmp_path / "nothing.db")]) == 2
    assert "no SQLite file" in capsys.readouterr().err


def test_the_command_says_which_extra_is_missing(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "sqlalchemy", None)
    monkeypatch.delitem(sys.modules, "dosefinding.randomization.store", raising=False)
    assert main(["audit-verify", "trial.db"]) == 2
    assert "pip install 'dosefinding[service]'" in capsys.readouterr().err
