"""Tamper evidence against someone who can write the database file (issue 14).

Each test plays one attack of the issue with plain SQL on the SQLite file (dropping the
append-only triggers first where they stand in the way, as such an attacker can) and checks
that ``dosefinding audit-verify`` fails and names what was done. The attacker has the
database, not the audit key (a file elsewhere, :mod:`dosefinding.randomization.auditkey`), so
the best it can do to the chain is re-hash it with plain SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from dosefinding.cli import main
from dosefinding.randomization.audit import GENESIS_HASH, record_hash
from dosefinding.randomization.store import ROLES, Actor

from .conftest import ARMS, ELIGIBLE, SITES, STUDY, Trial, make_trial

TRIGGERS = ("audit_no_update", "audit_no_delete", "arms_no_update", "slot_used_once")
ARGON2_OF_X = "$argon2id$v=19$m=8192,t=1,p=1$c2FsdHNhbHRzYWx0$" + "A" * 43  # the shape of a hash the attacker made


def db_path(trial: Trial) -> str:
    return trial.url.removeprefix("sqlite:///")


def busy_trial(tmp_path: Path, study: dict[str, object] | None = None) -> Trial:
    """Four screened subjects (S4 ineligible), three randomised, S1 dispensed, S2 unblinded."""
    trial = make_trial(tmp_path / "trial.db", study)
    for k in (1, 2, 3):
        assert trial.screen(f"S{k}", site=SITES[k % 3]).status_code == 201
        assert trial.randomise(f"S{k}", essdai=(">=10", "<10")[k % 2]).status_code == 201
    assert trial.screen("S4", data=ELIGIBLE | {"AGE": 90}).status_code == 201
    assert trial.call("pharmacist", "GET", "/api/pharmacy/subjects/S1").status_code == 200
    r = trial.unblind("S2", "severe allergic reaction")
    assert r.status_code == 200
    return trial


@contextmanager
def attacker(trial: Trial) -> Iterator[sqlite3.Connection]:
    """A connection to the file with the append-only triggers dropped."""
    conn = sqlite3.connect(db_path(trial))
    try:
        for trigger in TRIGGERS:
            conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        yield conn
        conn.commit()
    finally:
        conn.close()


def rehash_from(conn: sqlite3.Connection, first: int) -> None:
    """Recompute every hash from record ``first`` on with plain SHA-256 and move the chain head."""
    columns = ("seq", "ts", "actor", "role", "action", "subject", "details", "prev_hash", "hash")
    rows = [dict(zip(columns, r, strict=True)) for r in
            conn.execute(f"SELECT {', '.join(columns)} FROM audit_log ORDER BY seq")]
    previous = rows[first - 2]["hash"] if first > 1 else GENESIS_HASH
    for row in rows[first - 1:]:
        digest = record_hash(previous, row | {"details": json.loads(row["details"])})
        conn.execute("UPDATE audit_log SET prev_hash = ?, hash = ? WHERE seq = ?", (previous, digest, row["seq"]))
        previous = digest
    conn.execute("UPDATE chain_head SET seq = ?, hash = ? WHERE id = 1", (rows[-1]["seq"], previous))


def set_details(conn: sqlite3.Connection, seq: int, details: dict[str, object]) -> None:
    conn.execute("UPDATE audit_log SET details = ? WHERE seq = ?",
                 (json.dumps(details, sort_keys=True, separators=(",", ":")), seq))


def verify(trial_or_path: Trial | str, capsys: pytest.CaptureFixture[str], *checkpoints: str) -> tuple[int, str]:
    path = db_path(trial_or_path) if isinstance(trial_or_path, Trial) else trial_or_path
    args = ["audit-verify", path] + [a for c in checkpoints for a in ("--checkpoint", c)]
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def seq_of(conn: sqlite3.Connection, action: str, subject: str | None = None) -> int:
    query = "SELECT seq FROM audit_log WHERE action = ?" + (" AND subject = ?" if subject else "")
    return conn.execute(query, (action, subject) if subject else (action,)).fetchone()[0]


def test_an_untouched_trial_verifies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trial = busy_trial(tmp_path)
    code, out = verify(trial, capsys)
    assert code == 0 and out.startswith("audit trail OK: ") and "tables match" in out


def test_editing_a_record_and_rehashing_the_tail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trial = busy_trial(tmp_path)
    with attacker(trial) as conn:
        seq = seq_of(conn, "subject.screen", "S4")
        details = json.loads(conn.execute("SELECT details FROM audit_log WHERE seq = ?", (seq,)).fetchone()[0])
        set_details(conn, seq, details | {"eligible": True, "failed_rules": []})
        rehash_from(conn, seq)
    code, out = verify(trial, capsys)
    assert code == 1
    assert f"BROKEN at record {seq}: record carries an unkeyed SHA-256 hash" in out
    assert "subjects: 'S4' eligibility in the trail does not follow from its screening data" in out


def test_truncating_the_tail_and_moving_the_chain_head(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trial = busy_trial(tmp_path)
    with attacker(trial) as conn:
        keep = seq_of(conn, "subject.unblind") - 1
        conn.execute("DELETE FROM audit_log WHERE seq > ?", (keep,))
        conn.execute("UPDATE chain_head SET seq = ?, hash = (SELECT hash FROM audit_log WHERE seq = ?) WHERE id = 1",
                     (keep, keep))
    code, out = verify(trial, capsys)
    assert code == 1
    assert "unblindings: 1 in the table not recorded in the trail (subjects ['S2'])" in out


def test_truncating_records_that_changed_nothing_is_found_by_a_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trial = busy_trial(tmp_path)
    for _ in range(3):  # reads, which change no table
        trial.call("pharmacist", "GET", "/api/pharmacy/subjects/S3")
    checkpoint = str(tmp_path / "elsewhere" / "checkpoint-1.json")
    os.mkdir(tmp_path / "elsewhere")
    assert main(["audit-checkpoint", db_path(trial), "--out", checkpoint]) == 0
    assert "checkpoint written to" in capsys.readouterr().out
    with attacker(trial) as conn:
        last = conn.execute("SELECT MAX(seq) FROM audit_log").fetchone()[0]
        conn.execute("DELETE FROM audit_log WHERE seq > ?", (last - 3,))
        conn.execute("UPDATE chain_head SET seq = ?, hash = (SELECT hash FROM audit_log WHERE seq = ?) WHERE id = 1",
                     (last - 3, last - 3))
    assert verify(trial, capsys)[0] == 0  # without the checkpoint nothing shows it
    code, out = verify(trial, capsys, checkpoint)
    assert code == 1
    assert f"the trail ends at record {last - 3} but had {last} records (truncated)" in out


def test_rewriting_with_the_key_is_found_by_a_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         audit_key_file: Path) -> None:
    """Even an insider with the key cannot rewrite what a checkpoint already covers."""
    from dosefinding.randomization.audit import record_mac
    from dosefinding.randomization.auditkey import read_key_file

    trial = busy_trial(tmp_path)
    checkpoint = str(tmp_path / "checkpoint.json")
    assert main(["audit-checkpoint", db_path(trial), "--out", checkpoint]) == 0
    key = read_key_file(audit_key_file).chain
    with attacker(trial) as conn:
        seq = seq_of(conn, "pharmacy.view")
        conn.execute("UPDATE audit_log SET actor = 'someone' WHERE seq = ?", (seq,))
        rows = conn.execute("SELECT seq, ts, actor, role, action, subject, details FROM audit_log "
                            "WHERE seq >= ? ORDER BY seq", (seq,)).fetchall()
        previous = conn.execute("SELECT hash FROM audit_log WHERE seq = ?", (seq - 1,)).fetchone()[0]
        for s, ts, actor, role, action, subject, details in rows:
            record = {"seq": s, "ts": ts, "actor": actor, "role": role, "action": action, "subject": subject,
                      "details": json.loads(details)}
            mac = record_mac(key, previous, record)
            conn.execute("UPDATE audit_log SET prev_hash = ?, hash = ? WHERE seq = ?", (previous, mac, s))
            previous = mac
        conn.execute("UPDATE chain_head SET hash = ? WHERE id = 1", (previous,))
    code, out = verify(trial, capsys, checkpoint)
    assert code == 1
    assert "does not have the MAC checkpointed (the trail up to the checkpoint was rewritten)" in out


def test_appending_a_forged_unblinding(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trial = busy_trial(tmp_path)
    with attacker(trial) as conn:
        subject_id = conn.execute("SELECT id FROM subjects WHERE usubjid = 'S3'").fetchone()[0]
        conn.execute("INSERT INTO unblindings (subject_id, by, at, reason) VALUES (?, 'investigator1', "
                     "'2026-01-01T00:00:00+00:00', 'medical emergency')", (subject_id,))
        seq, head = conn.execute("SELECT seq, hash FROM chain_head").fetchone()
        record = {"seq": seq + 1, "ts": "2026-01-01T00:00:00+00:00", "actor": "investigator1",
                  "role": "investigator", "action": "subject.unblind", "subject": "S3",
                  "details": {"reason": "medical emergency"}}
        digest = record_hash(head, record)
        conn.execute("INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (seq + 1, record["ts"], "investigator1", "investigator", "subject.unblind", "S3",
                      '{"reason":"medical emergency"}', head, digest))
        conn.execute("UPDATE chain_head SET seq = ?, hash = ? WHERE id = 1", (seq + 1, digest))
    code, out = verify(trial, capsys)
    assert code == 1
    assert f"BROKEN at record {seq + 1}: record carries an unkeyed SHA-256 hash" in out


def test_deleting_every_audit_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trial = busy_trial(tmp_path)
    with attacker(trial) as conn:
        conn.execute("DELETE FROM audit_log")
        conn.execute("UPDATE chain_head SET seq = 0, hash = ? WHERE id = 1", (GENESIS_HASH,))
    code, out = verify(trial, capsys)
    assert code == 1
    assert "audit trail is empty" in out
    assert "users: 'admin' not in the trail" in out and "subjects: 'S1' not in the trail" in out


def test_swapping_an_arm_by_delete_and_insert(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trial = busy_trial(tmp_path)
    with attacker(trial) as conn:
        slot, arm = conn.execute("SELECT slots.id, arm FROM slots JOIN slot_arms ON slot_id = slots.id "
                                 "JOIN subjects ON subjects.id = slots.subject_id WHERE usubjid = 'S1'").fetchone()
        other = next(a for a in ARMS if a != arm)
        conn.execute("DELETE FROM slot_arms WHERE slot_id = ?", (slot,))
        conn.execute("INSERT INTO slot_arms (slot_id, arm) VALUES (?, ?)", (slot, other))
    code, out = verify(trial, capsys)
    assert code == 1
    assert f"slot_arms: slot {slot} arm differs from the trail" in out
    assert out.count("slot_arms:") == 1


@pytest.mark.parametrize(("statements", "named"), [
    pytest.param(["DELETE FROM unblindings"],
                 ["unblindings: 1 recorded in the trail missing from the table (subjects ['S2'])"],
                 id="deleting unblindings"),
    pytest.param(["UPDATE subjects SET site = '999' WHERE usubjid = 'S1'",
                  ("UPDATE subjects SET data = json_set(data, '$.AGE', 60), eligible = 1, failures = '[]' "
                  "WHERE usubjid = 'S4'")],
                 ["subjects: 'S1' site differs from the trail", "subjects: 'S4' data differs from the trail",
                  "subjects: 'S4' eligible differs from the trail"],
                 id="editing subjects and their screening data"),
    pytest.param([("INSERT INTO users (username, role, full_name, unblinding, password_hash, issuers, created_by, "
                   "expires_at, revoked, failed_logins) VALUES ('mallory', 'dmc', 'Mallory', 0, "
                   f"'{ARGON2_OF_X}', '[]', 'admin', 4e9, 0, 0)"),
                  f"UPDATE users SET password_hash = '{ARGON2_OF_X}' WHERE username = 'dmc1'",
                  "UPDATE users SET revoked = 1 WHERE username = 'auditor1'"],
                 ["users: 'mallory' not in the trail", "users: 'dmc1' credential_mac differs from the trail",
                  "users: 'auditor1' revoked differs"],
                 id="editing users"),
    pytest.param(["UPDATE users SET role = 'pharmacist' WHERE username = 'investigator1'",
                  "UPDATE users SET role = 'dmc' WHERE username = 'auditor1'"],
                 ["users: 'investigator1' role differs from the trail", "users: 'auditor1' role differs from the trail"],
                 id="a role edited in the users table"),
    pytest.param(["""UPDATE users SET sites = '["100", "101", "102", "999"]' WHERE username = 'investigator1'""",
                  "UPDATE users SET unblinding = 1 WHERE username = 'blinded_statistician1'"],
                 ["users: 'investigator1' sites differs from the trail",
                  "users: 'blinded_statistician1' unblinding differs from the trail"],
                 id="a site added to an investigator"),
    pytest.param([("INSERT INTO grants (username, \"grant\", full_name, sites, proposed_by, proposed_at, "
                   "proposer_code_hash, status, decided_by, decided_at) SELECT 'auditor1', 'dmc', 'auditor1', NULL, "
                   "'admin', proposed_at, proposer_code_hash, 'approved', 'sponsor1', decided_at FROM grants "
                   "WHERE id = 1"),
                  "UPDATE grants SET decided_by = 'admin' WHERE id = 2"],
                 ["grants: grant 4 not in the trail", "grants: grant 2 decided_by differs from the trail"],
                 id="a forged approved grant row"),
    pytest.param(["DELETE FROM signatures"],
                 ["signatures: 1 recorded in the trail missing from the table (subjects ['S2'])"],
                 id="a deleted signature"),
    pytest.param(["UPDATE signatures SET full_name = 'Somebody Else'"],
                 ["signatures: 1 recorded in the trail missing from the table (subjects ['S2'])",
                  "signatures: 1 in the table not recorded in the trail (subjects ['S2'])"],
                 id="a signature's printed name edited"),
    pytest.param(["UPDATE outbox SET sent_at = '2026-01-01T00:00:00.000000+00:00'",
                  ("INSERT INTO outbox (created_at, recipient, topic, subject, body, sent_at) "
                  "SELECT created_at, recipient, topic, subject, '{}', NULL FROM outbox")],
                 ["outbox: notification 1 sent_at differs from the trail", "outbox: notification 2 not in the trail"],
                 id="a notification marked sent, another forged"),
    pytest.param(["UPDATE outbox SET body = json_set(body, '$.reason', 'nothing serious')"],
                 ["outbox: notification 1 body_mac differs from the trail"],
                 id="a notification's text edited"),
    pytest.param([("INSERT INTO sessions (id, user_id, token_hash, login_at, expires_at, last_seen, ended) "
                  f"SELECT 99, id, '{'0' * 64}', 0, 4e9, 0, 0 FROM users WHERE username = 'dmc1'")],
                 ["sessions: session 99 not in the trail"],
                 id="a session planted"),
    pytest.param(["UPDATE study SET config = json_set(config, '$.seed', 1)"],
                 ["study: configuration (seed, arms, strata, rules) differs from the one committed in the trail"],
                 id="editing the study's seed"),
])
def test_editing_tables_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str], statements: list[str],
                                 named: list[str]) -> None:
    trial = busy_trial(tmp_path)
    with attacker(trial) as conn:
        for statement in statements:
            conn.execute(statement)
    code, out = verify(trial, capsys)
    assert code == 1
    for message in named:
        assert message in out


def test_editing_slots(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trial = busy_trial(tmp_path)
    with attacker(trial) as conn:
        s1, s3 = (conn.execute("SELECT slots.id FROM slots JOIN subjects ON subjects.id = slots.subject_id "
                               "WHERE usubjid = ?", (u,)).fetchone()[0] for u in ("S1", "S3"))
        conn.execute("""UPDATE slots SET strata = '{"ESSDAI": ">=10"}' WHERE id = ?""", (s1,))
        conn.execute("UPDATE slots SET kit_no = kit_no + 1 WHERE id = ?", (s3,))
        free = conn.execute("SELECT MAX(id) FROM slots WHERE subject_id IS NULL").fetchone()[0]
        conn.execute("UPDATE slots SET randomised_by = 'investigator1', randomised_at = '2026-01-01' WHERE id = ?",
                     (free,))
    code, out = verify(trial, capsys)
    assert code == 1
    assert f"slots: slot {s1} strata differs from the trail" in out
    assert f"slots: slot {s3} kit_no differs from the list committed in the trail" in out
    assert f"slots: slot {free} not in the trail" in out


def test_moving_a_subject_to_another_list_entry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trial = busy_trial(tmp_path)
    with attacker(trial) as conn:
        slot, subject = conn.execute("SELECT slots.id, subject_id FROM slots JOIN subjects "
                                     "ON subjects.id = slots.subject_id WHERE usubjid = 'S1'").fetchone()
        free = conn.execute("SELECT MAX(id) FROM slots WHERE subject_id IS NULL").fetchone()[0]
        conn.execute("UPDATE slots SET subject_id = NULL, strata = NULL WHERE id = ?", (slot,))
        conn.execute("""UPDATE slots SET subject_id = ?, strata = '{"ESSDAI": "<10"}' WHERE id = ?""",
                     (subject, free))
    code, out = verify(trial, capsys)
    assert code == 1
    assert f"slots: slot {slot} subject differs from the trail" in out
    assert f"slots: slot {free} not in the trail" in out


def test_verify_on_an_empty_file_fails_and_leaves_it_empty(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    code, out = verify(str(empty), capsys)
    assert code != 0 and "empty file, not a trial database" in out
    assert empty.stat().st_size == 0


def test_verify_on_a_file_that_is_not_a_trial_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = tmp_path / "notes.db"
    text.write_text("not a database\n" * 100)
    code, out = verify(str(text), capsys)
    assert code == 2 and "Traceback" not in out and len(out.strip().splitlines()) == 1
    assert "cannot read" in out and "as a trial database (file is not a database)" in out
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    code, out = verify(str(other), capsys)
    assert code == 2 and "not a trial database (no table audit_log" in out and len(out.strip().splitlines()) == 1


def test_verify_never_writes_into_the_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Verifying after an attack must not repair what it should report (here: a dropped trigger)."""
    trial = busy_trial(tmp_path)
    trial.client.app.state.store.engine.dispose()
    path = db_path(trial)
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TRIGGER audit_no_update")
    with sqlite3.connect(path) as conn:
        before = list(conn.iterdump())
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    verify(trial, capsys)
    with sqlite3.connect(path) as conn:
        assert list(conn.iterdump()) == before
    assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == digest


def test_a_forged_checkpoint_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trial = busy_trial(tmp_path)
    checkpoint = tmp_path / "checkpoint.json"
    assert main(["audit-checkpoint", db_path(trial), "--out", str(checkpoint)]) == 0
    data = json.loads(checkpoint.read_text())
    checkpoint.write_text(json.dumps(data | {"seq": 3, "count": 3}))
    code, out = verify(trial, capsys, str(checkpoint))
    assert code == 2 and "has no valid signature under this audit key" in out


def test_wiping_the_trail_is_found_by_a_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trial = busy_trial(tmp_path)
    checkpoint = str(tmp_path / "checkpoint.json")
    assert main(["audit-checkpoint", db_path(trial), "--out", checkpoint]) == 0
    n = json.loads(Path(checkpoint).read_text())["count"]
    with attacker(trial) as conn:
        conn.execute("DELETE FROM audit_log")
        conn.execute("UPDATE chain_head SET seq = 0, hash = ? WHERE id = 1", (GENESIS_HASH,))
    code, out = verify(trial, capsys, checkpoint)
    assert code == 1 and f"the trail is empty but had {n} records (wiped)" in out


def test_no_checkpoint_of_a_broken_trail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trial = busy_trial(tmp_path)
    with attacker(trial) as conn:
        conn.execute("DELETE FROM unblindings")
    out = tmp_path / "checkpoint.json"
    assert main(["audit-checkpoint", db_path(trial), "--out", str(out)]) == 1
    assert "unblindings: 1 recorded in the trail missing" in capsys.readouterr().out and not out.exists()


def test_the_key_file_is_created_0600_outside_the_database_and_needed_afterwards(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], audit_key_file: Path
) -> None:
    trial = busy_trial(tmp_path)
    assert audit_key_file.is_file() and stat.S_IMODE(audit_key_file.stat().st_mode) == 0o600
    assert audit_key_file.read_text().strip() not in Path(db_path(trial)).read_bytes().hex()
    audit_key_file.rename(tmp_path / "moved.key")
    code, out = verify(trial, capsys)
    assert code == 2 and "audit key: no key file" in out
    assert main(["audit-verify", db_path(trial), "--audit-key-file", str(tmp_path / "moved.key")]) == 0
    from dosefinding.randomization.store import Store

    with pytest.raises(Exception, match="restore the key file"):
        Store(trial.url).audit_key  # noqa: B018 - a trail without its key is not extended with a new one


def test_a_trail_checked_under_another_key_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dosefinding.randomization.auditkey import create_key_file

    trial = busy_trial(tmp_path)
    other = create_key_file(tmp_path / "other.key")
    assert main(["audit-verify", db_path(trial), "--audit-key-file", str(other.path)]) == 1
    assert "MAC does not match the record content under the audit key" in capsys.readouterr().out


def test_minimisation_allocations_are_replayed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    study = STUDY | {"method": "minimisation", "strata": {"ESSDAI": [">=10", "<10"], "REGION": ["EU", "US"]}}
    trial = make_trial(tmp_path / "trial.db", study)
    for k in range(12):
        assert trial.screen(f"M{k}").status_code == 201
        r = trial.call("investigator", "POST", f"/api/subjects/M{k}/randomise",
                       json={"strata": {"ESSDAI": (">=10", "<10")[k % 2], "REGION": ("EU", "US")[k % 3 == 0]}})
        assert r.status_code == 201, r.text
        if k == 5:  # a stratification error corrected: later allocations count the corrected levels
            r = trial.call("investigator", "POST", "/api/subjects/M2/corrections",
                           json={"field": "strata", "value": {"ESSDAI": "<10", "REGION": "US"},
                                 "reason": "ESSDAI was transcribed from the wrong visit"})
            assert r.status_code == 201, r.text
    assert verify(trial, capsys)[0] == 0
    with attacker(trial) as conn:
        slot, arm = conn.execute("SELECT slots.id, arm FROM slots JOIN slot_arms ON slot_id = slots.id "
                                 "JOIN subjects ON subjects.id = slots.subject_id WHERE usubjid = 'M7'").fetchone()
        other = next(a for a in study["arms"] if a != arm)
        conn.execute("DELETE FROM slot_arms WHERE slot_id = ?", (slot,))
        conn.execute("INSERT INTO slot_arms (slot_id, arm) VALUES (?, ?)", (slot, other))
    code, out = verify(trial, capsys)
    assert code == 1 and f"slot_arms: slot {slot} arm differs from the trail" in out


def test_a_minimisation_allocation_that_does_not_follow_from_the_draws(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """The replay recomputes each allocation: a record whose draw gives another arm is named."""
    from dosefinding.randomization.minimisation import next_minimisation_arm

    trial = make_trial(tmp_path / "trial.db", STUDY | {"method": "minimisation"})
    for k in range(8):
        assert trial.screen(f"M{k}").status_code == 201
        assert trial.randomise(f"M{k}", essdai=">=10").status_code == 201
    with attacker(trial) as conn:
        config = json.loads(conn.execute("SELECT config FROM study").fetchone()[0])
        rows = [(seq, json.loads(d)) for seq, d in conn.execute(
            "SELECT seq, details FROM audit_log WHERE action = 'subject.randomise' ORDER BY seq")]
        earlier: list[tuple[dict[str, str], str]] = []
        for _, d in rows[:-1]:
            earlier.append((d["strata"], next_minimisation_arm(config, earlier, d["strata"], d["draw"])))
        seq, last = rows[-1]
        arm = next_minimisation_arm(config, earlier, last["strata"], last["draw"])
        draw = next(k for k in range(100, 1000) if next_minimisation_arm(config, earlier, last["strata"], k) != arm)
        set_details(conn, seq, last | {"draw": draw})
    code, out = verify(trial, capsys)
    assert code == 1
    assert f"BROKEN at record {seq}" in out
    assert f"minimisation: allocation of 'M7' (slot 8) does not follow from the earlier allocations and draw {draw}" in out


def test_corrections_keep_old_and_new_values_and_replay(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trial = busy_trial(tmp_path)
    r = trial.call("investigator", "POST", "/api/subjects/S4/corrections",
                   json={"field": "data.AGE", "value": 60, "reason": "age was typed as 90, source document says 60"})
    assert r.status_code == 201, r.text
    assert r.json() | {"reason": ""} == {"subject_id": "S4", "field": "data.AGE", "old": 90, "new": 60,
                                         "eligible": True, "reason": ""}
    assert trial.randomise("S4").status_code == 201  # eligible now, through a recorded correction
    r = trial.call("investigator", "POST", "/api/subjects/S1/corrections",
                   json={"field": "site", "value": "102", "reason": "subject screened at the satellite site"})
    assert r.status_code == 201 and (r.json()["old"], r.json()["new"]) == ("101", "102")
    r = trial.call("investigator", "POST", "/api/subjects/S1/corrections",
                   json={"field": "strata", "value": {"ESSDAI": ">=10"}, "reason": "baseline ESSDAI was 11"})
    assert r.status_code == 201, r.text
    records = trial.call("auditor", "GET", "/api/audit").json()
    corrections = [x for x in records if x["action"] == "subject.correct"]
    assert [(c["subject"], c["details"]["field"], c["details"]["old"], c["details"]["new"]) for c in corrections] == [
        ("S4", "data.AGE", 90, 60), ("S1", "site", "101", "102"), ("S1", "strata", {"ESSDAI": "<10"}, {"ESSDAI": ">=10"})]
    assert all(len(c["details"]["reason"]) >= 5 for c in corrections)
    assert verify(trial, capsys)[0] == 0
    status = trial.call("investigator", "GET", "/api/subjects/S1").json()
    assert status["site"] == "102" and status["strata"] == {"ESSDAI": ">=10"}
    # The same change made with an UPDATE instead of a correction is named.
    with attacker(trial) as conn:
        conn.execute("UPDATE subjects SET site = '103' WHERE usubjid = 'S2'")
    code, out = verify(trial, capsys)
    assert code == 1 and "subjects: 'S2' site differs from the trail" in out


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"field": "arm", "value": "Placebo", "reason": "wrong arm given"}, 422, "'arm' cannot be corrected"),
    ({"field": "site", "value": "102", "reason": "  "}, 422, "reason"),
    ({"field": "site", "value": "101", "reason": "no change at all"}, 409, "already '101'"),
    ({"field": "strata", "value": {"ESSDAI": "high"}, "reason": "typo in the stratum"}, 422, "unknown level"),
])
def test_refused_corrections_change_nothing(trial: Trial, body: dict[str, object], status: int, message: str) -> None:
    trial.screen("S1")
    trial.randomise("S1")
    n = len(trial.call("auditor", "GET", "/api/audit").json())
    r = trial.call("investigator", "POST", "/api/subjects/S1/corrections", json=body)
    assert r.status_code == status and message in r.text
    assert len(trial.call("auditor", "GET", "/api/audit").json()) == n
    assert trial.call("auditor", "GET", "/api/audit/verify").json()["valid"] is True
    for role in set(ROLES) - {"investigator"}:
        assert trial.call(role, "POST", "/api/subjects/S1/corrections", json=body).status_code == 403


def test_serve_creates_the_key_on_first_start_and_says_where(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: None)
    key = tmp_path / "secrets" / "trial.key"
    args = ["serve", "--db", str(tmp_path / "trial.db"), "--audit-key-file", str(key),
            "--admin-token-file", str(tmp_path / "admin.token")]
    assert main(args) == 0
    assert f"audit key created: {key}" in capsys.readouterr().err
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    first = key.read_text()
    assert main(args) == 0  # a second start reads the key, never replaces it
    assert "audit key created" not in capsys.readouterr().err and key.read_text() == first
    assert main(["audit-verify", str(tmp_path / "trial.db"), "--audit-key-file", str(key)]) == 0


def test_every_account_action_replays(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Sessions renewed and ended, a lockout, host recovery, a revocation with its reason, a rejected grant, a
    withdrawn privilege, a repeated and a refused unblinding, a correction and a sent notification: the trail
    replays to the tables, and every action it holds is replayed or listed as an event without table state."""
    from dosefinding.randomization.replay import EVENTS, HANDLERS

    trial = busy_trial(tmp_path)
    store = trial.store
    renewed = trial.call("auditor", "POST", "/api/auth/renew")
    assert renewed.status_code == 200
    trial.tokens["auditor"] = renewed.json()["token"]
    assert trial.call("auditor", "POST", "/api/auth/logout").status_code == 204
    for _ in range(5):
        assert trial.client.post("/api/auth/login", json={"username": "blinded_statistician1",
                                                          "password": "not the pass phrase"}).status_code == 401
    proposal = trial.call("admin", "POST", "/api/admin/grants", json={"username": "dmc2", "grant": "dmc"}).json()
    assert trial.call("sponsor", "POST", f"/api/grants/{proposal['id']}/reject").status_code == 200
    assert trial.call("admin", "POST", "/api/admin/users/auditor1/revoke",
                      json={"reason": "left the study team"}).status_code == 204
    assert main(["add-sponsor", "--db", db_path(trial), "--username", "sponsor2"]) == 0
    assert main(["recover-admin", "--db", db_path(trial), "--username", "admin"]) == 0
    assert trial.call("admin", "GET", "/api/me").status_code == 401  # recovery ended the administrator's sessions
    capsys.readouterr()
    code, out = verify(trial, capsys)
    assert code == 0, out
    assert trial.unblind("S2").json()["repeat"] is True
    assert trial.call("investigator", "POST", "/api/subjects/S1/corrections",
                      json={"field": "site", "value": "100", "reason": "screened at the satellite site"}).status_code == 201
    note = store.notifications()[0]
    store.mark_notified(note["id"])
    store.accounts.revoke_unblinding(Actor("admin", "admin"), "investigator1")
    assert trial.unblind("S1").status_code == 403  # subject.unblind.refused
    code, out = verify(trial, capsys)
    assert code == 0, out
    with store.reading() as s:
        from sqlalchemy import select

        from dosefinding.randomization.store import AuditRow

        actions = set(s.scalars(select(AuditRow.action)).all())
    assert actions - set(HANDLERS) - EVENTS == set()
    assert {"auth.renew", "auth.logout", "auth.lockout", "host.account.create", "host.account.recover",
            "grant.reject", "grant.revoke", "user.revoke", "subject.unblind.repeat", "subject.unblind.refused",
            "subject.correct", "notification.sent"} <= actions
    revocation = next(r for r in store.audit_records(Actor("t", "auditor"), limit=None) if r["action"] == "user.revoke")
    assert revocation["details"] | {"old": {"revoked": False}, "new": {"revoked": True},
                                    "reason": "left the study team"} == revocation["details"]
