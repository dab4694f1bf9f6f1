"""The randomisation database (SQLAlchemy 2.x): study, users, list, subjects, audit trail.

Every operation is one transaction that also appends its audit record, so an action and
its record are committed together or not at all. Allocation is atomic: on SQLite every
transaction starts with ``BEGIN IMMEDIATE`` (one writer at a time, WAL journal,
``synchronous=FULL``); on PostgreSQL the audit chain head is read ``FOR UPDATE``, which
serialises writers in the same way. The next list entry of a stratum is the unused entry
with the smallest sequence number; ``SKIP LOCKED`` is not used on purpose, because an
entry skipped past a transaction that then rolls back would leave a hole in the list.

The arms live in their own table (``slot_arms``); only the pharmacist's view, the
emergency unblinding, the DMC report and the unblinded exports read it.

The audit chain is keyed (HMAC-SHA256 with a key kept in a file outside the database,
:mod:`~dosefinding.randomization.auditkey`), and every record of a data change carries what
``audit-verify`` needs to rebuild the tables from the trail (:mod:`~dosefinding.randomization.replay`):
the screening data, the strata, keyed commitments to arms, credentials and the configuration,
and for corrections the old value, the new value and the reason. See docs/audit.md.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd
from argon2 import PasswordHasher
from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.pool import StaticPool

from dosefinding.errors import InputError
from dosefinding.randomization.accounts import ROLES, UNBLINDED_ROLES, AccountPolicy, Accounts
from dosefinding.randomization.audit import GENESIS_HASH, AuditVerification, canonical_json, record_mac
from dosefinding.randomization.auditkey import AuditKey, create_key_file, key_path, read_key_file
from dosefinding.randomization.base import Actor, Base, RecordedRefusal, ServiceError, keeping_refusals
from dosefinding.randomization.base import utc_now as _now
from dosefinding.randomization.corrections import apply_correction, correction_field
from dosefinding.randomization.eligibility import EligibilityRules
from dosefinding.randomization.identifiers import identifier, subject_id, subject_key
from dosefinding.randomization.lists import AllocationList, permuted_block_list, stratum_labels
from dosefinding.randomization.minimisation import (
    Minimisation,
    minimisation_slots,
    next_minimisation_arm,
    slots_digest,
)
from dosefinding.randomization.security import bounded_study_config, private_sqlite_file, screening_data
from dosefinding.randomization.signatures import (
    MEDICAL_MONITOR,
    UNBLINDING_MEANING,
    OutboxRow,
    SignatureRow,
    normalise_reason,
)

if TYPE_CHECKING:
    from dosefinding.randomization.verification import TrailReport

__all__ = ["ROLES", "UNBLINDED_ROLES", "Actor", "ServiceError", "Store", "adsl_randomisation", "existing_store",
           "list_commitment", "verify_audit", "write_audit_checkpoint"]


class StudyRow(Base):
    __tablename__ = "study"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    list_digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[str] = mapped_column(String(40))


class SlotRow(Base):
    """One list entry; ``subject_id`` is set when the entry is used."""

    __tablename__ = "slots"
    __table_args__ = (UniqueConstraint("stratum", "seq"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    stratum: Mapped[str] = mapped_column(String(200), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    block: Mapped[int] = mapped_column(Integer)
    block_size: Mapped[int] = mapped_column(Integer)
    rand_no: Mapped[int] = mapped_column(Integer, unique=True)
    kit_no: Mapped[int] = mapped_column(Integer, unique=True)
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("subjects.id"), unique=True, nullable=True)
    strata: Mapped[dict[str, str] | None] = mapped_column(JSON, nullable=True)
    randomised_at: Mapped[str | None] = mapped_column(String(40), nullable=True)
    randomised_by: Mapped[str | None] = mapped_column(String(100), nullable=True)


class SlotArmRow(Base):
    __tablename__ = "slot_arms"
    slot_id: Mapped[int] = mapped_column(ForeignKey("slots.id"), primary_key=True)
    arm: Mapped[str] = mapped_column(String(200))


class SubjectRow(Base):
    __tablename__ = "subjects"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    usubjid: Mapped[str] = mapped_column(String(100), unique=True)
    site: Mapped[str] = mapped_column(String(100))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    eligible: Mapped[bool] = mapped_column(Boolean)
    failures: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    screened_at: Mapped[str] = mapped_column(String(40))
    screened_by: Mapped[str] = mapped_column(String(100))


# Subject identifiers are unique without regard to case ('case-1' and 'CASE-1' are one subject).
Index("subjects_usubjid_casefold", func.lower(SubjectRow.usubjid), unique=True)


class UnblindingRow(Base):
    __tablename__ = "unblindings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"))
    by: Mapped[str] = mapped_column(String(100))
    at: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(Text)


class AuditRow(Base):
    __tablename__ = "audit_log"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ts: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(60))
    subject: Mapped[str | None] = mapped_column(String(100), nullable=True)
    details: Mapped[str] = mapped_column(Text)  # canonical JSON, exactly as hashed
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class ChainHeadRow(Base):
    __tablename__ = "chain_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


_APPEND_ONLY_SQLITE = [
    ("CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"),
    ("CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"),
    ("CREATE TRIGGER IF NOT EXISTS arms_no_update BEFORE UPDATE ON slot_arms "
    "BEGIN SELECT RAISE(ABORT, 'slot_arms is read-only'); END"),
    ("CREATE TRIGGER IF NOT EXISTS slot_used_once BEFORE UPDATE OF subject_id ON slots "
    "WHEN OLD.subject_id IS NOT NULL BEGIN SELECT RAISE(ABORT, 'list entry already used'); END"),
]
_APPEND_ONLY_POSTGRESQL = [  # '%%' is a literal '%' for the driver
    ("CREATE OR REPLACE FUNCTION dosefinding_append_only() RETURNS trigger AS $$ BEGIN "
     "RAISE EXCEPTION '%% is append-only', TG_TABLE_NAME; END; $$ LANGUAGE plpgsql"),
    ("CREATE OR REPLACE FUNCTION dosefinding_slot_used_once() RETURNS trigger AS $$ BEGIN "
     "IF OLD.subject_id IS NOT NULL AND NEW.subject_id IS DISTINCT FROM OLD.subject_id THEN "
     "RAISE EXCEPTION 'list entry already used'; END IF; RETURN NEW; END; $$ LANGUAGE plpgsql"),
    "DROP TRIGGER IF EXISTS audit_append_only ON audit_log",
    ("CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit_log "
     "FOR EACH ROW EXECUTE FUNCTION dosefinding_append_only()"),
    "DROP TRIGGER IF EXISTS arms_read_only ON slot_arms",
    ("CREATE TRIGGER arms_read_only BEFORE UPDATE OR DELETE ON slot_arms "
     "FOR EACH ROW EXECUTE FUNCTION dosefinding_append_only()"),
    "DROP TRIGGER IF EXISTS slot_used_once ON slots",
    ("CREATE TRIGGER slot_used_once BEFORE UPDATE ON slots "
     "FOR EACH ROW EXECUTE FUNCTION dosefinding_slot_used_once()"),
]


def make_engine(database_url: str) -> Engine:
    """An engine for ``database_url``; SQLite gets WAL, full sync and write-locking transactions."""
    if database_url.startswith("sqlite"):
        private_sqlite_file(database_url)
        memory = database_url in ("sqlite://", "sqlite:///:memory:")
        engine = create_engine(database_url, connect_args={"timeout": 60, "check_same_thread": False},
                               **({"poolclass": StaticPool} if memory else {}))

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=60000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection: Any) -> None:
            read_only = connection.get_execution_options().get("read_only", False)
            connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return engine
    return create_engine(database_url, pool_size=20, max_overflow=40, pool_pre_ping=True)


@dataclass(frozen=True)
class StudyInfo:
    """The study as set up (it never changes afterwards)."""

    name: str
    config: dict[str, Any]
    list_digest: str


class Store:
    """The randomisation database and the operations on it; each method is one transaction.

    Examples
    --------
    >>> store = Store("sqlite://")
    >>> code = store.add_user("admin", "admin", bootstrap=True)
    >>> store.accounts.enrol("admin", code, "correct horse battery")
    >>> store.authenticate(store.accounts.login("admin", "correct horse battery")["token"]).role
    'admin'
    """

    def __init__(self, database_url: str, *, audit_key: AuditKey | None = None, audit_key_file: str | None = None,
                 policy: AccountPolicy | None = None, password_hasher: PasswordHasher | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.url = database_url
        self._audit_key, self._audit_key_file = audit_key, audit_key_file
        self._audit_key_lock = threading.Lock()
        self.audit_key_created = False
        self.engine = make_engine(database_url)
        self._study_info: StudyInfo | None = None
        self._write_lock: Any = threading.Lock() if self.engine.dialect.name == "sqlite" else nullcontext()
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(self.engine.execution_options(read_only=True), expire_on_commit=False)
        Base.metadata.create_all(self.engine)
        with self.engine.begin() as conn:
            for statement in _APPEND_ONLY_SQLITE if self.engine.dialect.name == "sqlite" else (
                _APPEND_ONLY_POSTGRESQL if self.engine.dialect.name == "postgresql" else []
            ):
                conn.exec_driver_sql(statement)
        with self.transaction() as s:
            if s.get(ChainHeadRow, 1) is None:
                s.add(ChainHeadRow(id=1, seq=0, hash=GENESIS_HASH))
        self.accounts = Accounts(self.transaction, self._read_sessions, self._audit, key=lambda: self.audit_key,
                                 policy=policy, hasher=password_hasher, clock=clock)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One write transaction (BEGIN IMMEDIATE on SQLite); rolled back on any error."""
        # SQLite admits one writer; threads of this process queue on a lock, which wakes
        # the next at once, instead of polling in SQLite's busy handler (sleeps of up to
        # 100 ms). Other processes still wait on SQLite's own lock.
        try:
            with self._write_lock, self._sessions() as session, session.begin():
                yield session
        except IntegrityError:
            # A concurrent request won the race for a unique value (two screens of one subject on PostgreSQL).
            raise ServiceError(409, "conflict with a concurrent request: the record exists already") from None

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """One read-only transaction (plain BEGIN on SQLite): reads take no write lock and write nothing."""
        with self._read_sessions() as session, session.begin():
            yield session

    @property
    def audit_key(self) -> AuditKey:
        """The key of the audit chain (:mod:`~dosefinding.randomization.auditkey`), read when first needed.

        An in-memory database gets a key of its own; otherwise the key file (``audit_key_file``,
        ``$DOSEFINDING_AUDIT_KEY_FILE`` or the default path) is read, or created (0600) while the
        trail is still empty; a trail that exists without its key file is refused.
        """
        with self._audit_key_lock:
            if self._audit_key is None:
                self._audit_key = self._load_audit_key()
        return self._audit_key

    def _load_audit_key(self) -> AuditKey:
        if self.url in ("sqlite://", "sqlite:///:memory:"):
            return AuditKey.random()
        path = key_path(self._audit_key_file)
        if path.is_file():
            return read_key_file(path)
        with self._read_sessions() as s, s.begin():
            records = s.scalar(select(ChainHeadRow.seq).where(ChainHeadRow.id == 1)) or 0
        if records:
            raise InputError(f"audit key: no key file '{path}', but the trail has {records} records "
                             "written with a key (restore the key file)")
        try:
            key = create_key_file(path)
        except InputError:  # another process created it a moment ago
            return read_key_file(path)
        self.audit_key_created = True
        return key

    def _audit(self, s: Session, actor: Actor, action: str, subject: str | None, details: Mapping[str, Any],
               *, ts: str | None = None) -> None:
        s.flush()  # pending ORM changes first, so that the record follows them
        head_seq, head_hash = s.execute(
            select(ChainHeadRow.seq, ChainHeadRow.hash).where(ChainHeadRow.id == 1).with_for_update()
        ).one()
        record = {
            "seq": head_seq + 1, "ts": ts or _now(), "actor": actor.username, "role": actor.role,
            "action": action, "subject": subject, "details": dict(details),
        }
        digest = record_mac(self.audit_key.chain, head_hash, record)
        s.execute(_table(AuditRow).insert().values(
            seq=record["seq"], ts=record["ts"], actor=actor.username, role=actor.role, action=action,
            subject=subject, details=json.dumps(record["details"], sort_keys=True, separators=(",", ":")),
            prev_hash=head_hash, hash=digest,
        ))
        s.execute(_table(ChainHeadRow).update().where(ChainHeadRow.id == 1).values(seq=record["seq"], hash=digest))

    # --- users and sessions (dosefinding.randomization.accounts) ------------------------

    def add_user(
        self, username: str, role: str, *, ttl_hours: float | None = None, actor: Actor | None = None,
        bootstrap: bool = False, sites: Sequence[str] | None = None, full_name: str | None = None,
    ) -> str:
        """Create an account of a blinded role and return its one-time enrolment code (shown once).

        ``bootstrap=True`` creates the first administrator of an empty database. Unblinded
        roles are granted under the two-person rule (:meth:`Accounts.propose`).
        """
        return self.accounts.create(actor, username, role, full_name=full_name, sites=sites, ttl_hours=ttl_hours,
                                    bootstrap=bootstrap)

    def revoke_user(self, actor: Actor, username: str, reason: str | None = None) -> None:
        """Revoke an account and end its sessions (never the last administrator)."""
        self.accounts.revoke(actor, username, reason)

    def authenticate(self, token: str | None, *, enrolling: bool = False) -> Actor:
        """The account holding session ``token``, or ServiceError 401 (missing, malformed, wrong, ended, expired);
        403 for an account that must enrol an authenticator first, unless ``enrolling``
        (:meth:`Accounts.authenticate`)."""
        return self.accounts.authenticate(token, enrolling=enrolling)

    # --- study ------------------------------------------------------------------------

    def setup_study(self, actor: Actor, config: Mapping[str, Any]) -> dict[str, Any]:
        """Create the study and its allocation list (once); returns the public study description."""
        method = config.get("method", "permuted_blocks")
        try:
            cfg = bounded_study_config(config)
            seed, kit_seed = cfg["seed"], cfg["kit_seed"]
            rules = EligibilityRules.from_list(cfg["eligibility"])
            strata = cfg["strata"]
            labels = stratum_labels(strata)
            if method == "permuted_blocks":
                allocation = permuted_block_list(
                    cfg["arms"], n_per_stratum=cfg["n_per_stratum"], ratio=cfg.get("ratio"), strata=strata or None,
                    block_multiples=cfg["block_multiples"], seed=seed, kit_seed=kit_seed,
                )
                table = allocation.table
            elif method == "minimisation":
                scheme = Minimisation(arms=tuple(cfg["arms"]), factors=strata, seed=seed, ratio=cfg.get("ratio"),
                                      p=cfg.get("p", 0.8))
                allocation = None
                capacity = cfg["n_per_stratum"]
                if not isinstance(capacity, int) or capacity < 1:
                    raise InputError(f"n_per_stratum: must be a positive integer, got {capacity!r}")
                table = minimisation_slots(kit_seed, capacity)
                del scheme
            else:
                raise InputError(f"method: must be 'permuted_blocks' or 'minimisation', got {method!r}")
            doses = cfg.get("doses")
            if doses is not None and (not isinstance(doses, Mapping) or set(doses) != set(cfg["arms"])):
                raise InputError(f"doses: need one dose per arm {list(cfg['arms'])}, got {doses!r}")
        except KeyError as exc:
            raise ServiceError(422, f"study: missing field {exc.args[0]!r}") from None
        except InputError as exc:
            raise ServiceError(422, str(exc)) from None
        stored = {
            "method": method, "arms": list(cfg["arms"]),
            "ratio": list(allocation.ratio) if allocation is not None else list(cfg.get("ratio") or [1] * len(cfg["arms"])),
            "strata": {k: list(v) for k, v in strata.items()}, "strata_labels": [lab for lab, _ in labels],
            "block_multiples": list(cfg["block_multiples"]), "n_per_stratum": cfg["n_per_stratum"],
            "seed": int(seed), "kit_seed": int(kit_seed), "user_seed": cfg["user_seed"], "p": cfg.get("p", 0.8),
            "eligibility": rules.to_list(), "doses": doses, "list_nonce": secrets.token_hex(16),
        }
        digest = allocation.digest if allocation is not None else slots_digest(table)
        commitment = list_commitment(stored["list_nonce"], digest)
        with self.transaction() as s:
            if s.get(StudyRow, 1) is not None:
                raise ServiceError(409, "the study is already set up")
            created_at = _now()
            s.add(StudyRow(id=1, name=cfg["name"], config=stored, list_digest=digest, created_at=created_at))
            rows = [
                {"id": i + 1, "stratum": st, "seq": int(q), "block": int(b), "block_size": int(bs), "rand_no": int(rn),
                 "kit_no": int(kn)}
                for i, (st, q, b, bs, rn, kn) in enumerate(zip(
                    table["STRATUM"], table["SEQ"], table["BLOCK"], table["BLOCKSIZE"], table["RANDNO"],
                    table["KITNO"], strict=True))
            ]
            s.execute(_table(SlotRow).insert(), rows)
            if allocation is not None:
                s.execute(_table(SlotArmRow).insert(),
                          [{"slot_id": i + 1, "arm": a} for i, a in enumerate(table["ARM"])])
            self._audit(s, actor, "study.setup", None, {
                # not the list's length: it depends on the seed, and blinded auditors read this record
                "name": cfg["name"], "method": method, "n_per_stratum": cfg["n_per_stratum"],
                "strata": len(labels), "list_commitment": commitment,
                "config_mac": self.audit_key.mac("config", canonical_json(stored)),
            }, ts=created_at)
        return self.study_public(actor)

    def _study(self, s: Session) -> StudyInfo:
        # The study row is written once and never changed, so it is read once.
        if self._study_info is None:
            study = s.get(StudyRow, 1)
            if study is None:
                raise ServiceError(409, "the study is not set up yet (administrator: POST /api/admin/study)")
            self._study_info = StudyInfo(study.name, study.config, study.list_digest)
        return self._study_info

    def _label_of(self, s: Session, levels: Mapping[str, str]) -> str:
        return next(lab for lab, lv in stratum_labels(self._study(s).config["strata"]) if lv == dict(levels))

    def study_public(self, actor: Actor) -> dict[str, Any]:
        """The study as every role may see it: arms by name, strata, rules; no seed, no list.

        The list's digest is shown to unblinded roles only: with it, a guessed seed can be confirmed.
        """
        with self.reading() as s:
            study = self._study(s)
            c = study.config
            out = {"name": study.name, "method": c["method"], "arms": c["arms"], "ratio": c["ratio"],
                   "strata": c["strata"], "eligibility": c["eligibility"]}
            if actor.role in UNBLINDED_ROLES:
                out["list_sha256"] = study.list_digest
            return out

    # --- screening and randomisation ---------------------------------------------------

    def screen(self, actor: Actor, usubjid: str, site: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """Screen a subject against the study's rules and record the result with every failure."""
        try:
            usubjid, site, data = subject_id(usubjid), identifier(site, "site"), screening_data(data)
        except InputError as exc:
            raise ServiceError(422, str(exc)) from None
        _require_site(actor, site, "screen")
        with self.transaction() as s:
            study = self._study(s)
            if self._find_subject(s, usubjid) is not None:
                raise ServiceError(409, f"subject_id: {usubjid!r} is already screened")
            result = EligibilityRules.from_list(study.config["eligibility"]).screen(data)
            failures = [{"rule": f.rule, "text": f.text, "reason": f.reason} for f in result.failures]
            at = _now()
            s.add(SubjectRow(usubjid=usubjid, site=site, data=dict(data), eligible=result.eligible,
                             failures=failures, screened_at=at, screened_by=actor.username))
            self._audit(s, actor, "subject.screen", usubjid,
                        {"site": site, "data": dict(data), "eligible": result.eligible,
                         "failed_rules": [f["rule"] for f in failures]}, ts=at)
        return {"subject_id": usubjid, "site": site, "eligible": result.eligible, "failures": failures}

    def randomise(self, actor: Actor, usubjid: str, strata: Mapping[str, str]) -> dict[str, Any]:
        """Allocate the next unused list entry of the subject's stratum (atomic)."""
        with self.transaction() as s:
            study = self._study(s)
            subject = self._find_subject(s, usubjid)
            if subject is None:
                raise ServiceError(404, f"subject_id: {usubjid!r} has not been screened")
            _require_site(actor, subject.site, "randomise")
            if not subject.eligible:
                rules = ", ".join(f["rule"] for f in subject.failures)
                raise ServiceError(409, f"subject_id: {usubjid!r} is not eligible (failed {rules})")
            if s.scalar(select(SlotRow.id).where(SlotRow.subject_id == subject.id)) is not None:
                raise ServiceError(409, f"subject_id: {usubjid!r} is already randomised")
            factors: dict[str, list[str]] = study.config["strata"]
            levels = self._check_strata(factors, strata)
            label = next(lab for lab, lv in stratum_labels(factors) if lv == levels)
            self._audit_head_lock(s)
            if study.config["method"] == "minimisation":
                slot = s.scalar(select(SlotRow).where(SlotRow.subject_id.is_(None)).order_by(SlotRow.seq).limit(1))
                if slot is None:
                    raise ServiceError(409, "the randomisation capacity is used up")
                arm = self._minimisation_arm(s, study, levels, slot.seq - 1)
                s.add(SlotArmRow(slot_id=slot.id, arm=arm))
                drawn = {"draw": slot.seq - 1}
            else:
                slot = s.scalar(select(SlotRow).where(SlotRow.stratum == label, SlotRow.subject_id.is_(None))
                                .order_by(SlotRow.seq).limit(1).with_for_update())
                # A stratum closes at n_per_stratum, not at the end of its list, whose length depends on the seed.
                if slot is None or slot.seq > study.config["n_per_stratum"]:
                    raise ServiceError(409, f"strata: no list entry left in stratum {label!r}")
                arm, drawn = _slot_arm(s, slot), {}
            slot.subject_id, slot.strata = subject.id, levels
            slot.randomised_at, slot.randomised_by = _now(), actor.username
            try:
                s.flush()
            except IntegrityError:
                raise ServiceError(409, f"subject_id: {usubjid!r} is already randomised") from None
            self._audit(s, actor, "subject.randomise", usubjid,
                        {"stratum": label, "strata": levels, "randomisation_number": slot.rand_no,
                         "kit_number": slot.kit_no, "arm_mac": self.audit_key.mac("arm", slot.rand_no, arm), **drawn},
                        ts=slot.randomised_at)
            return self._confirmation(subject, slot, label)

    def _audit_head_lock(self, s: Session) -> None:
        # Serialises randomisations on PostgreSQL (on SQLite BEGIN IMMEDIATE already has).
        s.execute(select(ChainHeadRow.seq).where(ChainHeadRow.id == 1).with_for_update())

    @staticmethod
    def _check_strata(factors: Mapping[str, list[str]], strata: Mapping[str, str]) -> dict[str, str]:
        if not isinstance(strata, Mapping):
            raise ServiceError(422, "strata: must be an object of factor: level")
        unknown = sorted(set(strata) - set(factors))
        if unknown:
            raise ServiceError(422, f"strata: unknown factor(s) {unknown}, expected {list(factors)}")
        levels = {}
        for factor, allowed in factors.items():
            if factor not in strata:
                raise ServiceError(422, f"strata: missing factor {factor!r} (levels {allowed})")
            if str(strata[factor]) not in allowed:
                raise ServiceError(422, f"strata[{factor!r}]: unknown level {strata[factor]!r}, expected one of {allowed}")
            levels[factor] = str(strata[factor])
        return levels

    def _minimisation_arm(self, s: Session, study: StudyInfo, levels: Mapping[str, str], k: int) -> str:
        rows = s.execute(select(SlotRow.strata, SlotArmRow.arm).join(SlotArmRow, SlotArmRow.slot_id == SlotRow.id)
                         .where(SlotRow.subject_id.is_not(None))).all()
        return next_minimisation_arm(study.config, [(_used_strata(strata), arm) for strata, arm in rows], levels, k)

    @staticmethod
    def _confirmation(subject: SubjectRow, slot: SlotRow, label: str) -> dict[str, Any]:
        return {"subject_id": subject.usubjid, "site": subject.site, "randomisation_number": slot.rand_no,
                "kit_number": slot.kit_no, "stratum": label, "strata": slot.strata,
                "randomised_at": slot.randomised_at, "randomised_by": slot.randomised_by}

    @staticmethod
    def _find_subject(s: Session, usubjid: str) -> SubjectRow | None:
        try:
            key = subject_key(usubjid)
        except InputError:
            return None  # such an identifier cannot have been screened
        return s.scalar(select(SubjectRow).where(func.lower(SubjectRow.usubjid) == key))

    def _subject_slot(self, s: Session, usubjid: str, *, need_randomised: bool, actor: Actor | None = None,
                      what: str = "view") -> tuple[SubjectRow, SlotRow | None]:
        subject = self._find_subject(s, usubjid)
        if subject is None:
            raise ServiceError(404, f"subject_id: no subject {usubjid!r}")
        if actor is not None:
            _require_site(actor, subject.site, what)
        slot = s.scalar(select(SlotRow).where(SlotRow.subject_id == subject.id))
        if need_randomised and slot is None:
            raise ServiceError(409, f"subject_id: {usubjid!r} is not randomised")
        return subject, slot

    def subject_status(self, actor: Actor, usubjid: str) -> dict[str, Any]:
        """A subject's screening and randomisation status, without the arm (a plain read: not audited)."""
        with self.reading() as s:
            self._study(s)
            subject, slot = self._subject_slot(s, usubjid, need_randomised=False, actor=actor)
            n_unblind = s.scalar(select(func.count()).select_from(UnblindingRow)
                                 .where(UnblindingRow.subject_id == subject.id))
            out = {"subject_id": subject.usubjid, "site": subject.site, "eligible": subject.eligible,
                   "failures": subject.failures, "screened_at": subject.screened_at, "randomised": slot is not None,
                   "unblinded": bool(n_unblind)}
            if slot is not None:
                out.update({k: v for k, v in self._confirmation(subject, slot, slot.stratum).items()
                            if k not in out})
                if self._study(s).config["method"] == "minimisation":
                    out["stratum"] = self._label_of(s, _used_strata(slot.strata))
            return out

    def pharmacy_view(self, actor: Actor, usubjid: str) -> dict[str, Any]:
        """What the unblinded pharmacist needs to prepare the syringe: kit number and arm."""
        with self.transaction() as s:
            self._study(s)
            subject, slot = self._subject_slot(s, usubjid, need_randomised=True, actor=actor)
            assert slot is not None
            arm = _slot_arm(s, slot)
            self._audit(s, actor, "pharmacy.view", usubjid, {"kit_number": slot.kit_no})
            return {"subject_id": subject.usubjid, "site": subject.site, "randomisation_number": slot.rand_no,
                    "kit_number": slot.kit_no, "arm": arm, "randomised_at": slot.randomised_at}

    def unblind(self, actor: Actor, usubjid: str, reason: str, *, password: str | None = None,
                totp: str | None = None) -> dict[str, Any]:
        """Emergency unblinding of one subject, signed electronically; a repeat returns the recorded event.

        The caller must hold the emergency unblinding privilege, work at the subject's site,
        give a reason that is real text and re-authenticate (password and TOTP code). The
        signature (printed name, time, meaning, reason) and a notification for the medical
        monitor are recorded with the unblinding. A second request for the same subject
        discloses nothing new: it returns the recorded event without the arm.
        """
        text = normalise_reason(reason)
        signer = self.accounts.signer(actor)
        with keeping_refusals(self.transaction) as s:
            self._study(s)
            subject, slot = self._subject_slot(s, usubjid, need_randomised=True)
            refusal = None
            if not signer.may_unblind:
                refusal = (f"{actor.username!r} holds no emergency unblinding privilege (granted by an administrator "
                           "and approved by a sponsor)")
            elif not actor.may_act_at(subject.site):
                refusal = _site_refusal(actor, subject.site, "unblind")
            if refusal is not None:
                self._audit(s, actor, "subject.unblind.refused", subject.usubjid, {"refused": refusal})
                raise RecordedRefusal(403, refusal)
            if (recorded := self._recorded_unblinding(s, subject)) is not None:
                self._audit(s, actor, "subject.unblind.repeat", subject.usubjid, {})
                return recorded
        self.accounts.reauthenticate(actor, password, totp, purpose="emergency unblinding", need_totp=True)
        with self.transaction() as s:
            subject, slot = self._subject_slot(s, usubjid, need_randomised=True)
            assert slot is not None
            if (recorded := self._recorded_unblinding(s, subject)) is not None:  # another signer was quicker
                return recorded
            at = _now()
            unblinding = UnblindingRow(subject_id=subject.id, by=actor.username, at=at, reason=text)
            s.add(unblinding)
            s.flush()
            signature = SignatureRow(unblinding_id=unblinding.id, username=actor.username, full_name=signer.full_name,
                                     signed_at=at, meaning=UNBLINDING_MEANING, method="password+totp")
            notice = {"subject_id": subject.usubjid, "site": subject.site, "randomisation_number": slot.rand_no,
                      "unblinded_by": actor.username, "signed_by": signer.full_name, "unblinded_at": at,
                      "reason": text}
            outbox = OutboxRow(created_at=at, recipient=MEDICAL_MONITOR, topic="emergency_unblinding",
                               subject=subject.usubjid, body=notice, sent_at=None)
            s.add_all([signature, outbox])
            s.flush()
            self._audit(s, actor, "subject.unblind", subject.usubjid, {
                "reason": text, "signed_by": signer.full_name, "meaning": UNBLINDING_MEANING,
                "method": signature.method, "notification": {
                    "id": outbox.id, "recipient": outbox.recipient, "topic": outbox.topic,
                    "body_mac": self.audit_key.mac("outbox", canonical_json(notice))}}, ts=at)
            arm = _slot_arm(s, slot)
            return self._unblinding_event(subject, slot, unblinding, signer.full_name) | {"arm": arm, "repeat": False}

    def _recorded_unblinding(self, s: Session, subject: SubjectRow) -> dict[str, Any] | None:
        found = s.execute(select(UnblindingRow, SignatureRow).outerjoin(
            SignatureRow, SignatureRow.unblinding_id == UnblindingRow.id).where(UnblindingRow.subject_id == subject.id)
            .order_by(UnblindingRow.id).limit(1)).first()
        if found is None:
            return None
        unblinding, signature = found
        slot = s.scalar(select(SlotRow).where(SlotRow.subject_id == subject.id))
        assert slot is not None  # only a randomised subject is unblinded
        signed_by = signature.full_name if signature is not None else unblinding.by
        return self._unblinding_event(subject, slot, unblinding, signed_by) | {"arm": None, "repeat": True}

    @staticmethod
    def _unblinding_event(subject: SubjectRow, slot: SlotRow, unblinding: UnblindingRow,
                          signed_by: str) -> dict[str, Any]:
        return {"subject_id": subject.usubjid, "randomisation_number": slot.rand_no, "unblinded_at": unblinding.at,
                "unblinded_by": unblinding.by, "signed_by": signed_by, "meaning": UNBLINDING_MEANING,
                "reason": unblinding.reason}

    def notifications(self, *, pending: bool = True) -> list[dict[str, Any]]:
        """The outbox for the sponsor's medical monitor (unsent ones by default), for a mailer or webhook."""
        with self._read_sessions() as s, s.begin():
            query = select(OutboxRow).order_by(OutboxRow.id)
            if pending:
                query = query.where(OutboxRow.sent_at.is_(None))
            return [{"id": n.id, "created_at": n.created_at, "recipient": n.recipient, "topic": n.topic,
                     "subject": n.subject, "body": n.body, "sent_at": n.sent_at} for n in s.scalars(query).all()]

    def mark_notified(self, notification_id: int) -> None:
        """Record that a notification was delivered."""
        with self.transaction() as s:
            note = s.get(OutboxRow, notification_id)
            if note is None:
                raise ServiceError(404, f"notification: no notification {notification_id}")
            if note.sent_at is None:
                note.sent_at = _now()
                self._audit(s, Actor("outbox", "system"), "notification.sent", note.subject,
                            {"notification": note.id, "recipient": note.recipient}, ts=note.sent_at)

    def correct_subject(self, actor: Actor, usubjid: str, field: str, value: Any, reason: str) -> dict[str, Any]:
        """Correct a subject's site, strata or one screening value (:mod:`~dosefinding.randomization.corrections`).

        The change and its audit record (field, old value, new value, reason) are one transaction.
        """
        if not isinstance(reason, str) or len(reason.strip()) < 5:
            raise ServiceError(422, "reason: a correction needs a reason (at least 5 characters)")
        try:
            correction_field(field)
        except InputError as exc:
            raise ServiceError(422, str(exc)) from None
        if field == "site":
            try:
                value = identifier(value, "value")
            except InputError as exc:
                raise ServiceError(422, str(exc)) from None
            _require_site(actor, value, "move")  # moving a subject needs both sites
        with self.transaction() as s:
            study = self._study(s)
            subject, slot = self._subject_slot(s, usubjid, need_randomised=field == "strata", actor=actor,
                                               what="correct")
            if field == "strata":
                value = self._check_strata(study.config["strata"], value)
            subject_state: dict[str, Any] = {"site": subject.site, "data": subject.data, "eligible": subject.eligible,
                             "failures": subject.failures}
            slot_state = {"strata": slot.strata} if slot is not None else None
            change = apply_correction(study.config, subject_state, slot_state, field, value)
            if change["old"] == change["new"]:
                raise ServiceError(409, f"{field}: the recorded value is already {change['new']!r}")
            subject.site, subject.data = subject_state["site"], subject_state["data"]
            subject.eligible, subject.failures = subject_state["eligible"], subject_state["failures"]
            if slot is not None and slot_state is not None:
                slot.strata = slot_state["strata"]
            details = {k: v for k, v in change.items() if k != "failures"}
            self._audit(s, actor, "subject.correct", subject.usubjid, {**details, "reason": reason.strip()})
        return {"subject_id": subject.usubjid, **details, "reason": reason.strip()}

    # --- reports ----------------------------------------------------------------------

    def _randomised_frame(self, s: Session, *, with_arms: bool) -> pd.DataFrame:
        columns = [SubjectRow.usubjid, SubjectRow.site, SlotRow.stratum, SlotRow.strata, SlotRow.seq, SlotRow.block,
                   SlotRow.block_size, SlotRow.rand_no, SlotRow.kit_no, SlotRow.randomised_at]
        query = select(*columns).join(SubjectRow, SubjectRow.id == SlotRow.subject_id)
        if with_arms:
            query = query.add_columns(SlotArmRow.arm).join(SlotArmRow, SlotArmRow.slot_id == SlotRow.id)
        rows = s.execute(query.order_by(SlotRow.rand_no)).all()
        names = ["USUBJID", "SITEID", "STRATUM", "STRATA", "SEQ", "BLOCK", "BLOCKSIZE", "RANDNO", "KITNO", "RANDDTM"]
        return pd.DataFrame(rows, columns=names + (["ARM"] if with_arms else []))

    def blinded_report(self, actor: Actor) -> dict[str, Any]:
        """Screening and randomisation counts by stratum and site; no arm (a plain read: not audited)."""
        with self.reading() as s:
            study = self._study(s)
            n_screened = s.scalar(select(func.count()).select_from(SubjectRow))
            n_eligible = s.scalar(select(func.count()).select_from(SubjectRow).where(SubjectRow.eligible))
            frame = self._randomised_frame(s, with_arms=False)
            labels = study.config["strata_labels"]
            by_stratum = {lab: 0 for lab in labels}
            if study.config["method"] == "minimisation":
                keys = [self._label_of(s, st) for st in frame["STRATA"]]
            else:
                keys = frame["STRATUM"].tolist()
            for key in keys:
                by_stratum[key] += 1
            n_unblind = s.scalar(select(func.count()).select_from(UnblindingRow))
            return {"screened": n_screened, "eligible": n_eligible, "randomised": len(frame),
                    "by_stratum": by_stratum, "by_site": frame["SITEID"].value_counts().sort_index().to_dict(),
                    "emergency_unblindings": n_unblind}

    def unblinded_report(self, actor: Actor) -> dict[str, Any]:
        """For the DMC statistician: subjects by stratum and arm, and the balance of every completed block."""
        with self.transaction() as s:
            study = self._study(s)
            frame = self._randomised_frame(s, with_arms=True)
            arms, ratio = study.config["arms"], study.config["ratio"]
            table = pd.crosstab(frame["STRATUM"], frame["ARM"]).reindex(columns=arms, fill_value=0)
            blocks = frame.groupby(["STRATUM", "BLOCK"]).agg(n=("ARM", "size"), size=("BLOCKSIZE", "first"))
            complete = blocks.index[blocks["n"] == blocks["size"]]
            counts = frame.set_index(["STRATUM", "BLOCK"]).loc[complete].groupby(["STRATUM", "BLOCK"])["ARM"] \
                .value_counts().unstack(fill_value=0).reindex(columns=arms, fill_value=0) if len(complete) else None
            balanced = True
            if counts is not None and study.config["method"] == "permuted_blocks":
                expected = np.outer(blocks.loc[complete, "size"].to_numpy() // sum(ratio), ratio)
                balanced = bool((counts.to_numpy() == expected).all())
            self._audit(s, actor, "report.unblinded", None, {})
            return {"randomised": len(frame),
                    "by_stratum_arm": {st: {a: int(n) for a, n in row.items()} for st, row in table.iterrows()},
                    "by_arm": {a: int((frame["ARM"] == a).sum()) for a in arms},
                    "completed_blocks": len(complete), "completed_blocks_balanced": balanced}

    def unblinding_report(self, actor: Actor) -> list[dict[str, Any]]:
        """Every emergency unblinding: subject, who (and the printed name signed), when, why, the meaning; not the arm.

        A plain read: not audited.
        """
        with self.reading() as s:
            self._study(s)
            rows = s.execute(select(SubjectRow.usubjid, SubjectRow.site, UnblindingRow.by, UnblindingRow.at,
                                    UnblindingRow.reason, SignatureRow.full_name, SignatureRow.meaning)
                             .join(SubjectRow, SubjectRow.id == UnblindingRow.subject_id)
                             .outerjoin(SignatureRow, SignatureRow.unblinding_id == UnblindingRow.id)
                             .order_by(UnblindingRow.id)).all()
            return [{"subject_id": u, "site": site, "unblinded_by": by, "unblinded_at": at, "reason": reason,
                     "signed_by": name, "meaning": meaning} for u, site, by, at, reason, name, meaning in rows]

    def audit_records(self, actor: Actor, after: int = 0, limit: int | None = 1000) -> list[dict[str, Any]]:
        """Audit records with ``seq > after``, at most ``limit`` (None: all; reading is not itself recorded)."""
        with self.reading() as s:
            rows = s.scalars(select(AuditRow).where(AuditRow.seq > after).order_by(AuditRow.seq).limit(limit)).all()
            return [_audit_dict(r) for r in rows]

    def verify_audit(self) -> AuditVerification:
        """The whole check of :mod:`~dosefinding.randomization.verification`: chain, head, replay against the tables."""
        from dosefinding.randomization.verification import check_trail

        with self._read_sessions() as s, s.begin():
            return check_trail(s.connection(), self.audit_key).as_verification()

    def allocation_list(self) -> AllocationList:
        """The stored list (with arms) as an :class:`AllocationList` (permuted blocks only)."""
        with self.reading() as s:
            study = self._study(s)
            c = study.config
            rows = s.execute(select(SlotRow.stratum, SlotRow.seq, SlotRow.block, SlotRow.block_size, SlotRow.rand_no,
                                    SlotRow.kit_no, SlotArmRow.arm)
                             .join(SlotArmRow, SlotArmRow.slot_id == SlotRow.id).order_by(SlotRow.id)).all()
        table = pd.DataFrame(rows, columns=["STRATUM", "SEQ", "BLOCK", "BLOCKSIZE", "RANDNO", "KITNO", "ARM"])
        levels = dict(stratum_labels(c["strata"]))
        for position, factor in enumerate(c["strata"]):
            table.insert(1 + position, factor, table["STRATUM"].map(lambda lab, f=factor: levels[lab][f]))
        params: dict[str, Any] = {k: c[k] for k in ("arms", "ratio", "strata", "block_multiples", "n_per_stratum", "seed", "kit_seed")
                  if k in c}
        return AllocationList(table=table, parameters={"method": "permuted_blocks", **params})

    def verify_list(self, actor: Actor) -> dict[str, Any]:
        """Whether the stored list still has the digest recorded at setup and regenerates from its seed.

        A plain read (not audited); the digest itself is shown to unblinded roles only.
        """
        from dosefinding.randomization.lists import verify_allocation_list

        with self.reading() as s:
            study = self._study(s)
            digest, method = study.list_digest, study.config["method"]
        if method != "permuted_blocks":
            raise ServiceError(409, "list verification applies to permuted-block lists")
        check = verify_allocation_list(self.allocation_list(), digest)
        out = {"digest_matches": check.digest_matches, "regenerates": check.regenerates, "valid": check.valid}
        return out | ({"list_sha256": digest} if actor.role in UNBLINDED_ROLES else {})

    def export_list(self, actor: Actor) -> dict[str, Any]:
        """The whole list with arms, its parameters (with the seed) and digest: DMC only."""
        with self.transaction() as s:
            if self._study(s).config["method"] != "permuted_blocks":
                raise ServiceError(409, "minimisation has no list: the arms given so far are in the ADSL export")
        allocation = self.allocation_list()
        with self.transaction() as s:
            nonce = self._study(s).config["list_nonce"]
            self._audit(s, actor, "list.export", None, {"list_commitment": list_commitment(nonce, allocation.digest)})
        return {"csv": allocation.to_csv(), "parameters": allocation.parameters, "list_sha256": allocation.digest,
                "commitment_nonce": nonce}

    def adsl(self, actor: Actor | None, *, unblinded: bool) -> pd.DataFrame:
        """ADSL randomisation variables: USUBJID, SITEID, RANDNO, RANDDT, STRATAR, factors, TRT01P(N)."""
        with self.transaction() if unblinded and actor is not None else self.reading() as s:
            study = self._study(s)
            frame = self._randomised_frame(s, with_arms=unblinded)
            if unblinded and actor is not None:  # a disclosure of arms is recorded; a blinded export is a plain read
                self._audit(s, actor, "export.adsl", None, {"unblinded": unblinded, "subjects": len(frame)})
        c = study.config
        labels = {tuple(sorted(lv.items())): lab for lab, lv in stratum_labels(c["strata"])}
        out = pd.DataFrame({
            "STUDYID": study.name, "USUBJID": frame["USUBJID"], "SITEID": frame["SITEID"], "RANDNO": frame["RANDNO"],
            "RANDDT": pd.to_datetime(frame["RANDDTM"]).dt.strftime("%Y-%m-%d"),
            "STRATAR": [labels[tuple(sorted(st.items()))] for st in frame["STRATA"]],
        })
        for factor in c["strata"]:
            out[factor] = [st[factor] for st in frame["STRATA"]]
        if unblinded:
            out["TRT01P"] = frame["ARM"]
            if c.get("doses"):
                out["TRT01PN"] = frame["ARM"].map(c["doses"]).astype(float)
        return out


def list_commitment(nonce: str, digest: str) -> str:
    """The list's digest as the audit trail records it: SHA-256 of a secret nonce and the digest.

    It pins the list without letting a blinded reader of the trail confirm a guessed seed; the
    DMC's list export gives the nonce, so the commitment can be checked against the list.

    Examples
    --------
    >>> len(list_commitment("00" * 16, "ab" * 32))
    64
    """
    return hashlib.sha256(f"dosefinding-list-commitment:{nonce}:{digest}".encode()).hexdigest()
def _table(row: type[Base]) -> Table:
    """The Core table of a mapped class (SQLAlchemy types ``__table__`` as any ``FromClause``)."""
    return cast(Table, row.__table__)


def _slot_arm(s: Session, slot: SlotRow) -> str:
    arm = s.get(SlotArmRow, slot.id)
    # a used slot has its arm (written at setup, or at randomisation under minimisation); arms are read-only
    assert arm is not None
    return arm.arm


def _used_strata(strata: dict[str, str] | None) -> dict[str, str]:
    assert strata is not None  # randomisation sets a slot's subject and strata together
    return strata


def _site_refusal(actor: Actor, site: str, what: str) -> str:
    assigned = ", ".join(sorted(actor.sites or ()))
    return f"site: {actor.username!r} may not {what} subjects of site {site!r} (assigned sites: {assigned})"


def _require_site(actor: Actor, site: str, what: str) -> None:
    if not actor.may_act_at(site):
        raise ServiceError(403, _site_refusal(actor, site, what))


def _audit_dict(row: AuditRow) -> dict[str, Any]:
    return {"seq": row.seq, "ts": row.ts, "actor": row.actor, "role": row.role, "action": row.action,
            "subject": row.subject, "details": json.loads(row.details), "prev_hash": row.prev_hash, "hash": row.hash}


def verify_audit(database_url: str, *, audit_key_file: str | None = None,
                 checkpoints: Sequence[str] = ()) -> TrailReport:
    """Verify a randomisation database read-only (``dosefinding audit-verify``), with checkpoint files.

    Examples
    --------
    >>> verify_audit("sqlite:///no/such/file.db")
    Traceback (most recent call last):
    ...
    dosefinding.errors.InputError: database: no SQLite file 'no/such/file.db'
    """
    from dosefinding.randomization.checkpoint import read_checkpoint
    from dosefinding.randomization.verification import check_trial_database, verify_database

    check_trial_database(database_url)  # a missing, empty or foreign file is named before the key is looked for
    key = read_key_file(key_path(audit_key_file))
    return verify_database(database_url, key, [read_checkpoint(c, key) for c in checkpoints],
                           [str(c) for c in checkpoints])


def write_audit_checkpoint(database_url: str, out: str, *, audit_key_file: str | None = None) -> tuple[
        TrailReport, Path | None]:
    """Verify the trail and, if intact, write a signed checkpoint of its head to ``out`` (``audit-checkpoint``)."""
    from dosefinding.randomization.checkpoint import sign_checkpoint, write_checkpoint
    from dosefinding.randomization.verification import check_trial_database, verify_database

    check_trial_database(database_url)
    key = read_key_file(key_path(audit_key_file))
    report = verify_database(database_url, key)
    if not report.valid:
        return report, None
    return report, write_checkpoint(sign_checkpoint(key, report.n_records, report.head, report.n_records), out)


def adsl_randomisation(database_url: str, *, unblinded: bool = True) -> pd.DataFrame:
    """The randomisation as ADSL variables, read from the database, for the analysis pipeline.

    Examples
    --------
    >>> adsl_randomisation("sqlite:///no/such/file.db")
    Traceback (most recent call last):
    ...
    dosefinding.errors.InputError: database: no SQLite file 'no/such/file.db'
    """
    return existing_store(database_url).adsl(None, unblinded=unblinded)


def existing_store(database_url: str, *, audit_key_file: str | None = None) -> Store:
    """A store on an existing database: a mistyped SQLite path must not create an empty one.

    Examples
    --------
    >>> existing_store("sqlite://").url
    'sqlite://'
    """
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    database = url.database or ""
    sqlite_file = url.get_backend_name() == "sqlite" and database not in ("", ":memory:")
    if sqlite_file and not Path(database).is_file():
        raise InputError(f"database: no SQLite file {url.database!r}")
    return Store(database_url, audit_key_file=audit_key_file)
