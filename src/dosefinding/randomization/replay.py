"""Rebuild the trial's state from the audit trail and compare it with the tables.

Every data change of the service is an audit record that carries what it changed, so the
state can be rebuilt by replaying the trail from its first record: the study (its name, the
list digest and a keyed commitment to its configuration, seed included), the accounts
(:mod:`~dosefinding.randomization.accounts`: role, printed name, sites, unblinding privilege,
revocation, expiry, who issued the enrolment code, and a keyed commitment to the password
hash, enrolment code and TOTP secret), their sessions (keyed commitment to the token, end),
the two-person grants (proposal, decision, keyed commitment to the proposer's code half), the
unblinding signatures and the notifications of the outbox, the subjects (site, screening
data, eligibility re-evaluated with the study's rules), the used list entries (subject,
strata, time, person), a keyed commitment to the arm of each allocation, the emergency
unblindings, and the corrections (:mod:`~dosefinding.randomization.corrections`, replayed with
the same function the store applies). The list itself is regenerated from the committed
configuration: every slot and, for permuted blocks, every arm. Minimisation allocations are
recomputed one by one from the earlier allocations of the trail and the random draw of each
(the ``draw`` index of the record; the draw is ``minimisation_uniforms(seed, draw)`` with the
committed seed: its value is not written to the trail, because with it a blinded reader could
recompute every arm).

Arms are never written to the trail in clear (the auditor is blinded): a record holds
``HMAC(key, "arm", randomisation number, arm)``, which the key holder can check and nobody else
can invert or compare between subjects.

Actions that change no table are listed in :data:`EVENTS` (refusals, failed logins and
signatures, repeated unblinding requests, reads that disclose arms); a counter of failed
logins, the lockout time, the last TOTP step and a session's last activity are working state
of the login checks, not replayed. Every other action needs a handler in :data:`HANDLERS`;
:func:`replay_trail` names a record whose action is in neither.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.engine import Connection

from dosefinding.randomization.accounts import GrantRow, SessionRow, UserRow, credential_mac
from dosefinding.randomization.audit import canonical_json
from dosefinding.randomization.auditkey import AuditKey
from dosefinding.randomization.base import iso_time
from dosefinding.randomization.corrections import apply_correction
from dosefinding.randomization.eligibility import EligibilityRules
from dosefinding.randomization.lists import permuted_block_list
from dosefinding.randomization.minimisation import minimisation_slots, next_minimisation_arm, slots_digest
from dosefinding.randomization.signatures import OutboxRow, SignatureRow
from dosefinding.randomization.store import (
    SlotArmRow,
    SlotRow,
    StudyRow,
    SubjectRow,
    UnblindingRow,
    list_commitment,
)

__all__ = ["EVENTS", "HANDLERS", "TrialState", "compare_states", "list_table", "replay_trail", "table_state"]


@dataclass
class TrialState:
    """The trial as the trail says it is, or as the tables say it is (same shapes, to compare).

    ``slots`` holds the used list entries by slot id; ``arm_macs`` the keyed commitment to the
    arm of every slot that has one; ``unblindings`` one tuple (subject, by, at, reason) each,
    ``signatures`` one tuple (subject, username, printed name, signed at, meaning, method) each;
    ``users``, ``sessions``, ``grants`` and ``outbox`` by user name and row id.
    """

    study: dict[str, Any] | None = None
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    subjects: dict[str, dict[str, Any]] = field(default_factory=dict)
    slots: dict[int, dict[str, Any]] = field(default_factory=dict)
    arm_macs: dict[int, str] = field(default_factory=dict)
    unblindings: list[tuple[str, str, str, str]] = field(default_factory=list)
    sessions: dict[int, dict[str, Any]] = field(default_factory=dict)
    grants: dict[int, dict[str, Any]] = field(default_factory=dict)
    signatures: list[tuple[str, str, str, str, str, str]] = field(default_factory=list)
    outbox: dict[int | None, dict[str, Any]] = field(default_factory=dict)  # None: a trail notification without id


@dataclass
class _Replay:
    key: AuditKey
    config: Mapping[str, Any] | None
    table: pd.DataFrame | None
    state: TrialState = field(default_factory=TrialState)
    problems: list[str] = field(default_factory=list)
    slot_ids: dict[int, int] = field(default_factory=dict)  # randomisation number -> slot id

    def __post_init__(self) -> None:
        if self.table is not None:
            self.slot_ids = {int(rand_no): i + 1 for i, rand_no in enumerate(self.table["RANDNO"])}

    def slot_id(self, rand_no: Any) -> int | None:
        return self.slot_ids.get(rand_no) if isinstance(rand_no, int) else None


def _study_setup(r: _Replay, record: Mapping[str, Any]) -> None:
    d = record["details"]
    r.state.study = {"name": d.get("name"), "list_commitment": d.get("list_commitment"), "config_mac": d.get("config_mac"),
                     "created_at": record["ts"]}


_ACCOUNT = ("role", "full_name", "sites", "unblinding", "expires_at", "issuers", "created_by", "credential_mac")


def _account(d: Mapping[str, Any]) -> dict[str, Any]:
    return {name: d.get(name) for name in _ACCOUNT} | {"sites": sorted(d.get("sites") or [])}


def _user_create(r: _Replay, record: Mapping[str, Any]) -> None:
    """``user.create`` and ``host.account.create``: a new account, as its record describes it."""
    d = record["details"]
    r.state.users[d["username"]] = _account(d) | {"revoked": False}


def _user(r: _Replay, record: Mapping[str, Any], username: Any = None) -> dict[str, Any] | None:
    name = record["details"].get("username") if username is None else username
    user = r.state.users.get(name)
    if user is None:
        r.problems.append(f"trail: record {record['seq']} ({record['action']}) names an account {name!r} the trail "
                          "never created")
    return user


def _end_sessions(r: _Replay, username: str) -> None:
    for session in r.state.sessions.values():
        if session["username"] == username:
            session["ended"] = True


def _host_recover(r: _Replay, record: Mapping[str, Any]) -> None:
    user = _user(r, record)
    if user is not None:
        user.update(_account(record["details"]) | {"revoked": False})
        _end_sessions(r, record["details"]["username"])


def _user_revoke(r: _Replay, record: Mapping[str, Any]) -> None:
    user = _user(r, record)
    if user is not None:
        user["revoked"] = True
        _end_sessions(r, record["details"]["username"])


def _user_reset(r: _Replay, record: Mapping[str, Any]) -> None:
    """``user.reset``: a new enrolment code held by the administrator; old credential and sessions dropped."""
    user = _user(r, record)
    if user is not None:
        user.update(_account(record["details"]))
        _end_sessions(r, record["details"]["username"])


def _credential(r: _Replay, record: Mapping[str, Any]) -> None:
    """``auth.enrol``, ``auth.totp.enrol``: a new password hash or TOTP secret (its keyed commitment)."""
    user = _user(r, record)
    if user is not None:
        user["credential_mac"] = record["details"].get("credential_mac")


def _session(r: _Replay, record: Mapping[str, Any]) -> None:
    """``auth.login``, ``auth.renew``: a new session (a renewal ends the one it renews)."""
    d = record["details"]
    user = _user(r, record, record["actor"])
    if user is not None and "credential_mac" in d:  # the password was re-hashed with the current parameters
        user["credential_mac"] = d["credential_mac"]
    if d.get("renews") in r.state.sessions:
        r.state.sessions[d["renews"]]["ended"] = True
    r.state.sessions[d.get("session")] = {"username": record["actor"], "login_at": d.get("login_at"),
                                          "expires_at": d.get("expires_at"), "token_mac": d.get("token_mac"),
                                          "ended": False}


def _logout(r: _Replay, record: Mapping[str, Any]) -> None:
    session = r.state.sessions.get(record["details"].get("session"))
    if session is None:
        r.problems.append(f"trail: record {record['seq']} ends a session the trail never opened")
    else:
        session["ended"] = True


def _lockout(r: _Replay, record: Mapping[str, Any]) -> None:
    _end_sessions(r, record["actor"])


def _grant_propose(r: _Replay, record: Mapping[str, Any]) -> None:
    d = record["details"]
    r.state.grants[d.get("grant_id")] = {
        "username": d.get("username"), "grant": d.get("grant"), "full_name": d.get("full_name"),
        "sites": sorted(d.get("sites") or []), "proposed_by": record["actor"], "proposed_at": record["ts"],
        "code_mac": d.get("code_mac"), "status": "proposed", "decided_by": "", "decided_at": ""}


def _grant_decide(r: _Replay, record: Mapping[str, Any]) -> None:
    """``grant.approve`` (which creates or re-enrols the account) and ``grant.reject``."""
    d = record["details"]
    grant = r.state.grants.get(d.get("grant_id"))
    if grant is None or grant["status"] != "proposed":
        r.problems.append(f"trail: record {record['seq']} decides grant {d.get('grant_id')!r}, which the trail has "
                          "not proposed (or decided already)")
        return
    approved = record["action"] == "grant.approve"
    grant.update(status="approved" if approved else "rejected", decided_by=record["actor"], decided_at=record["ts"])
    if approved:
        user = r.state.users.get(d["username"]) if not d.get("created") else None
        if user is None and not d.get("created"):
            r.problems.append(f"trail: record {record['seq']} approves a grant to an account the trail never created")
        r.state.users[d["username"]] = (user or {"revoked": False}) | _account(d)
        _end_sessions(r, d["username"])


def _grant_revoke(r: _Replay, record: Mapping[str, Any]) -> None:
    user = _user(r, record)
    if user is not None:
        user["unblinding"] = False


def _screen(r: _Replay, record: Mapping[str, Any]) -> None:
    d, usubjid = record["details"], record["subject"]
    if "data" not in d:
        r.problems.append(f"trail: record {record['seq']} screens {usubjid!r} without its screening data")
        return
    eligible, failures = d.get("eligible"), None
    if r.config is not None:
        result = EligibilityRules.from_list(r.config["eligibility"]).screen(d["data"])
        failures = [{"rule": f.rule, "text": f.text, "reason": f.reason} for f in result.failures]
        if result.eligible != d.get("eligible"):
            r.problems.append(f"subjects: {usubjid!r} eligibility in the trail does not follow from its screening data")
        eligible = result.eligible
    r.state.subjects[usubjid] = {"site": d.get("site"), "data": d["data"], "eligible": eligible,
                                 "failures": failures, "screened_at": record["ts"], "screened_by": record["actor"]}


def _randomise(r: _Replay, record: Mapping[str, Any]) -> None:
    d, usubjid = record["details"], record["subject"]
    slot_id = r.slot_id(d.get("randomisation_number"))
    if slot_id is None:
        r.problems.append(f"trail: record {record['seq']} allocates randomisation number "
                          f"{d.get('randomisation_number')!r}, which is not in the list")
        return
    strata = d.get("strata")
    r.state.slots[slot_id] = {"subject": usubjid, "strata": strata, "randomised_at": record["ts"],
                              "randomised_by": record["actor"]}
    if r.config is not None and r.config["method"] == "minimisation":
        r.state.arm_macs[slot_id] = d.get("arm_mac")
    assert r.config is not None and r.table is not None  # slot_id is None without them
    if r.config["method"] == "minimisation":
        if "draw" not in d or strata is None:
            r.problems.append(f"trail: record {record['seq']} has no minimisation draw or strata to replay")
            return
        earlier = [(slot["strata"], slot["arm"]) for i, slot in r.state.slots.items() if i != slot_id]
        arm = next_minimisation_arm(r.config, earlier, strata, int(d["draw"]))
        if r.key.mac("arm", d["randomisation_number"], arm) != d.get("arm_mac"):
            r.problems.append(f"minimisation: allocation of {usubjid!r} (slot {slot_id}) does not follow from the "
                              f"earlier allocations and draw {d['draw']}")
        r.state.slots[slot_id]["arm"] = arm
    else:
        arm = r.table.at[slot_id - 1, "ARM"]
        if r.key.mac("arm", d["randomisation_number"], arm) != d.get("arm_mac"):
            r.problems.append(f"slot_arms: slot {slot_id} allocated to {usubjid!r} with an arm other than the list's")


def _unblind(r: _Replay, record: Mapping[str, Any]) -> None:
    """An emergency unblinding, its electronic signature and the notification for the medical monitor."""
    d, subject = record["details"], record["subject"]
    r.state.unblindings.append((subject, record["actor"], record["ts"], d.get("reason")))
    if "signed_by" in d:
        r.state.signatures.append((subject, record["actor"], d["signed_by"], record["ts"], d.get("meaning"),
                                   d.get("method")))
    note = d.get("notification")
    if isinstance(note, Mapping):
        r.state.outbox[note.get("id")] = {"recipient": note.get("recipient"), "topic": note.get("topic"),
                                          "subject": subject, "created_at": record["ts"],
                                          "body_mac": note.get("body_mac"), "sent_at": ""}


def _notification_sent(r: _Replay, record: Mapping[str, Any]) -> None:
    note = r.state.outbox.get(record["details"].get("notification"))
    if note is None:
        r.problems.append(f"trail: record {record['seq']} sends a notification the trail never queued")
    else:
        note["sent_at"] = record["ts"]


def _correct(r: _Replay, record: Mapping[str, Any]) -> None:
    d, usubjid = record["details"], record["subject"]
    subject = r.state.subjects.get(usubjid)
    if subject is None or r.config is None:
        r.problems.append(f"trail: record {record['seq']} corrects {usubjid!r}, which the trail never screened")
        return
    slot_id = next((i for i, slot in r.state.slots.items() if slot["subject"] == usubjid), None)
    slot = r.state.slots.get(slot_id) if slot_id is not None else None
    change = apply_correction(r.config, subject, slot, d["field"], d["new"])
    if change["old"] != d.get("old"):
        r.problems.append(f"trail: record {record['seq']} corrects {usubjid!r} {d['field']} from a value the "
                          "trail does not have")


HANDLERS: dict[str, Callable[[_Replay, Mapping[str, Any]], None]] = {
    "study.setup": _study_setup, "user.create": _user_create, "user.revoke": _user_revoke, "user.reset": _user_reset,
    "host.account.create": _user_create, "host.account.recover": _host_recover,
    "auth.enrol": _credential, "auth.totp.enrol": _credential, "auth.login": _session, "auth.renew": _session,
    "auth.logout": _logout, "auth.lockout": _lockout,
    "grant.propose": _grant_propose, "grant.approve": _grant_decide, "grant.reject": _grant_decide,
    "grant.revoke": _grant_revoke,
    "subject.screen": _screen, "subject.randomise": _randomise, "subject.unblind": _unblind,
    "subject.correct": _correct, "notification.sent": _notification_sent,
}
EVENTS = frozenset({
    # refusals and failures: security events, recorded, changing no table (the failure counter aside)
    "auth.login.failed", "auth.login.refused", "auth.enrol.failed", "auth.totp.failed", "user.create.refused",
    "user.revoke.refused", "user.reset.refused", "grant.refused", "signature.failed", "signature.refused",
    "subject.unblind.refused",
    # a repeated unblinding request returns the recorded event; reads that disclose arms
    "subject.unblind.repeat", "pharmacy.view", "report.unblinded", "list.export", "export.adsl",
    # an administrator ends a lockout: the failure counter and lockout time are working state, not replayed
    "user.unlock",
})


def list_table(config: Mapping[str, Any]) -> tuple[pd.DataFrame, str]:
    """The list entries regenerated from a stored configuration, and the list's digest.

    Columns STRATUM, SEQ, BLOCK, BLOCKSIZE, RANDNO, KITNO, ARM; row ``i`` is slot ``i + 1``.
    Minimisation lists have no arm (``None``).

    Examples
    --------
    >>> table, digest = list_table({"method": "minimisation", "seed": 1, "kit_seed": 2, "n_per_stratum": 2})
    >>> table["RANDNO"].tolist(), len(digest)
    ([10001, 10002], 64)
    """
    if config["method"] == "minimisation":
        table = minimisation_slots(config["kit_seed"], config["n_per_stratum"])
        return table, slots_digest(table)
    allocation = permuted_block_list(
        config["arms"], n_per_stratum=config["n_per_stratum"], ratio=config["ratio"],
        strata=config["strata"] or None, block_multiples=config["block_multiples"], seed=config["seed"],
        kit_seed=config["kit_seed"],
    )
    return allocation.table.reset_index(drop=True), allocation.digest


def replay_trail(records: Iterable[Mapping[str, Any]], key: AuditKey,
                 config: Mapping[str, Any] | None) -> tuple[TrialState, list[str], pd.DataFrame | None]:
    """Replay the records in order; returns the rebuilt state, the problems met and the regenerated list.

    ``config`` is the study configuration from the database; it is used only if the trail's
    keyed commitment to it matches (otherwise that is a problem and nothing is regenerated).
    """
    records = list(records)
    setup = next((r for r in records if r["action"] == "study.setup"), None)
    problems: list[str] = []
    trusted = None
    if setup is not None and config is not None:
        if key.mac("config", canonical_json(config)) == setup["details"].get("config_mac"):
            trusted = config
        else:
            problems.append("study: configuration (seed, arms, strata, rules) differs from the one committed in the trail")
    table, digest = list_table(trusted) if trusted is not None else (None, None)
    replay = _Replay(key=key, config=trusted, table=table, problems=problems)
    if table is not None and trusted is not None and trusted["method"] == "permuted_blocks":
        # The committed configuration fixes the arm of every list entry, used or not.
        replay.state.arm_macs = {i + 1: key.mac("arm", rand_no, arm)
                                 for i, (rand_no, arm) in enumerate(zip(table["RANDNO"], table["ARM"], strict=True))}
    for record in records:
        handler = HANDLERS.get(record["action"])
        if handler is not None:
            handler(replay, record)
        elif record["action"] not in EVENTS:
            problems.append(f"trail: record {record['seq']} has an action {record['action']!r} this version cannot "
                            "replay")
    if (digest is not None and trusted is not None and replay.state.study is not None
            and list_commitment(trusted["list_nonce"], digest) != replay.state.study["list_commitment"]):
        problems.append("study: the list regenerated from the committed configuration does not have the "
                        "digest recorded in the trail")
    return replay.state, problems, table


def table_state(conn: Connection, key: AuditKey) -> tuple[TrialState, dict[str, Any] | None, pd.DataFrame]:
    """Read the tables into a :class:`TrialState`; also the stored configuration and every slot row."""
    state = TrialState()
    study = conn.execute(select(StudyRow.name, StudyRow.config, StudyRow.list_digest, StudyRow.created_at)).first()
    config = None
    if study is not None:
        config = study.config
        state.study = {"name": study.name, "list_commitment": list_commitment(config.get("list_nonce", ""), study.list_digest),
                       "config_mac": key.mac("config", canonical_json(study.config)), "created_at": study.created_at}
    for u in conn.execute(select(*UserRow.__table__.c)):
        state.users[u.username] = {
            "role": u.role, "full_name": u.full_name, "sites": sorted(u.sites or []), "unblinding": bool(u.unblinding),
            "expires_at": iso_time(u.expires_at), "issuers": list(u.issuers or []), "created_by": u.created_by,
            "revoked": bool(u.revoked),
            "credential_mac": credential_mac(key, u.username, u.password_hash, u.enrol_hashes, u.totp_secret)}
    user_names = {u.id: u.username for u in conn.execute(select(UserRow.id, UserRow.username))}
    for x in conn.execute(select(*SessionRow.__table__.c)):
        state.sessions[x.id] = {"username": user_names.get(x.user_id), "login_at": iso_time(x.login_at),
                                "expires_at": iso_time(x.expires_at), "token_mac": key.mac("session", x.id, x.token_hash),
                                "ended": bool(x.ended)}
    for g in conn.execute(select(*GrantRow.__table__.c)):
        state.grants[g.id] = {"username": g.username, "grant": g.grant, "full_name": g.full_name,
                              "sites": sorted(g.sites or []), "proposed_by": g.proposed_by,
                              "proposed_at": g.proposed_at, "code_mac": key.mac("grant-code", g.id, g.proposer_code_hash),
                              "status": g.status, "decided_by": g.decided_by or "", "decided_at": g.decided_at or ""}
    for n in conn.execute(select(*OutboxRow.__table__.c)):
        state.outbox[n.id] = {"recipient": n.recipient, "topic": n.topic, "subject": n.subject,
                              "created_at": n.created_at, "body_mac": key.mac("outbox", canonical_json(n.body)),
                              "sent_at": n.sent_at or ""}
    names = {}
    for sub in conn.execute(select(SubjectRow)):
        names[sub.id] = sub.usubjid
        state.subjects[sub.usubjid] = {"site": sub.site, "data": sub.data, "eligible": bool(sub.eligible),
                                       "failures": sub.failures, "screened_at": sub.screened_at,
                                       "screened_by": sub.screened_by}
    slots = pd.DataFrame(conn.execute(select(SlotRow.id, SlotRow.stratum, SlotRow.seq, SlotRow.block,
                                             SlotRow.block_size, SlotRow.rand_no, SlotRow.kit_no, SlotRow.subject_id,
                                             SlotRow.strata, SlotRow.randomised_at, SlotRow.randomised_by)
                                      .order_by(SlotRow.id)).all(),
                         columns=["id", "stratum", "seq", "block", "block_size", "rand_no", "kit_no", "subject_id",
                                  "strata", "randomised_at", "randomised_by"])
    rand_no = dict(zip(slots["id"], slots["rand_no"], strict=True))
    for row in slots.itertuples():
        used = _present(row.subject_id)
        if used or _present(row.strata) or _present(row.randomised_at) or _present(row.randomised_by):
            state.slots[int(row.id)] = {"subject": names.get(int(row.subject_id)) if used else None,
                                        "strata": row.strata,
                                        "randomised_at": row.randomised_at, "randomised_by": row.randomised_by}
    for slot_id, arm in conn.execute(select(SlotArmRow.slot_id, SlotArmRow.arm)):
        state.arm_macs[int(slot_id)] = key.mac("arm", rand_no.get(slot_id), arm)
    unblinded = {}
    for u in conn.execute(select(UnblindingRow.id, UnblindingRow.subject_id, UnblindingRow.by, UnblindingRow.at,
                                 UnblindingRow.reason)):
        unblinded[u.id] = names.get(u.subject_id, f"#{u.subject_id}")
        state.unblindings.append((unblinded[u.id], u.by, u.at, u.reason))
    for g in conn.execute(select(*SignatureRow.__table__.c)):
        state.signatures.append((unblinded.get(g.unblinding_id, f"unblinding #{g.unblinding_id}"), g.username,
                                 g.full_name, g.signed_at, g.meaning, g.method))
    return state, config, slots


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and pd.isna(value))


def compare_states(trail: TrialState, tables: TrialState, list_rows: pd.DataFrame | None,
                   slot_rows: pd.DataFrame) -> list[str]:
    """Every difference between the state replayed from the trail and the tables, one line each."""
    problems: list[str] = []
    if trail.study is None or tables.study is None:
        if trail.study is not None or tables.study is not None:
            where = "the table" if tables.study is None else "the trail"
            problems.append(f"study: the study set-up is missing from {where}")
    else:
        for name in ("name", "list_commitment", "created_at"):
            if trail.study[name] != tables.study[name]:
                problems.append(f"study: {name} differs from the trail")
    problems += _compare_keyed("users", trail.users, tables.users)
    problems += _compare_keyed("sessions", trail.sessions, tables.sessions, noun="session")
    problems += _compare_keyed("grants", trail.grants, tables.grants, noun="grant")
    problems += _compare_keyed("outbox", trail.outbox, tables.outbox, noun="notification")
    problems += _compare_keyed("subjects", trail.subjects, tables.subjects)
    if list_rows is not None:
        problems += _compare_list(list_rows, slot_rows)
    used = {k: {f: v for f, v in slot.items() if f != "arm"} for k, slot in trail.slots.items()}
    problems += _compare_keyed("slots", used, tables.slots, noun="slot")
    expected_arms = trail.arm_macs
    for slot_id in sorted(set(expected_arms) | set(tables.arm_macs)):
        if slot_id not in tables.arm_macs:
            problems.append(f"slot_arms: slot {slot_id} has no arm in the table")
        elif slot_id not in expected_arms:
            problems.append(f"slot_arms: slot {slot_id} has an arm in the table but no allocation in the trail")
        elif expected_arms[slot_id] != tables.arm_macs[slot_id]:
            problems.append(f"slot_arms: slot {slot_id} arm differs from the trail")
    problems += _compare_events("unblindings", trail.unblindings, tables.unblindings)
    problems += _compare_events("signatures", trail.signatures, tables.signatures)
    return problems


def _compare_events(table: str, trail: Iterable[tuple[Any, ...]], tables: Iterable[tuple[Any, ...]]) -> list[str]:
    """Rows compared as a multiset; a difference is named by its subjects."""
    problems = []
    missing = Counter(trail) - Counter(tables)
    extra = Counter(tables) - Counter(trail)
    if missing:
        problems.append(f"{table}: {sum(missing.values())} recorded in the trail missing from the table "
                        f"(subjects {sorted({m[0] for m in missing})})")
    if extra:
        problems.append(f"{table}: {sum(extra.values())} in the table not recorded in the trail "
                        f"(subjects {sorted({e[0] for e in extra})})")
    return problems


def _compare_list(list_rows: pd.DataFrame, slot_rows: pd.DataFrame) -> list[str]:
    problems = []
    if len(slot_rows) != len(list_rows):
        problems.append(f"slots: the table has {len(slot_rows)} list entries, the committed list {len(list_rows)}")
    columns = {"stratum": "STRATUM", "seq": "SEQ", "block": "BLOCK", "block_size": "BLOCKSIZE", "rand_no": "RANDNO",
               "kit_no": "KITNO"}
    by_id = slot_rows.set_index("id")
    for i in range(len(list_rows)):
        slot_id = i + 1
        if slot_id not in by_id.index:
            problems.append(f"slots: slot {slot_id} of the committed list is missing from the table")
            continue
        for column, name in columns.items():
            if str(by_id.at[slot_id, column]) != str(list_rows.at[i, name]):
                problems.append(f"slots: slot {slot_id} {column} differs from the list committed in the trail")
    for slot_id in by_id.index:
        if not 1 <= slot_id <= len(list_rows):
            problems.append(f"slots: slot {slot_id} is not in the list committed in the trail")
    return problems


def _compare_keyed(table: str, trail: Mapping[Any, Mapping[str, Any]], tables: Mapping[Any, Mapping[str, Any]],
                   noun: str | None = None) -> list[str]:
    problems = []

    def name(k: Any) -> str:
        return f"{noun} {k}" if noun else repr(k)

    for k in sorted(set(trail) | set(tables), key=str):
        if k not in trail:
            problems.append(f"{table}: {name(k)} not in the trail")
        elif k not in tables:
            problems.append(f"{table}: {name(k)} in the trail missing from the table")
        else:
            for f, value in trail[k].items():
                if value is not None and tables[k].get(f) != value:
                    problems.append(f"{table}: {name(k)} {f} differs from the trail")
    return problems
