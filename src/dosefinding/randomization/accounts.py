"""Named accounts: enrolment, argon2id passwords, sessions, lockout, TOTP and two-person grants.

An account is a named person with one role. The administrator creates accounts of the
blinded roles and receives a one-time enrolment code that the person turns into a password
(hashed with argon2id). Logging in returns a session token, sent as ``Authorization: Bearer
<token>``; a session ends at its expiry, after an idle time, at logout or when the account is
revoked, and can be renewed up to a maximum length. Repeated wrong passwords lock the
account for a while; an administrator may unlock it, or reset a blinded account's password,
with a reason. Accounts that see arms, approve grants or may unblind must enrol a TOTP
authenticator before their session can do anything else. Every login, failure, refusal,
lockout, unlock, reset and enrolment is audited.

Segregation of duties: the roles that see arms (``pharmacist``, ``dmc``), the emergency
unblinding privilege of an investigator and the ``sponsor`` role that approves them are
granted only under a two-person rule. An administrator proposes and receives one half of
the new enrolment code; a sponsor approves and receives the other half; the person needs
both. Neither may be the grantee, and neither may control the other's account (an account
is controlled by whoever holds all of its current enrolment code, e.g. the administrator
who created it), so no single person can give themselves an unblinded role, directly or
through an account they created. The first administrator and the first sponsor are created
on the database host (``dosefinding serve`` on an empty database, ``dosefinding
add-sponsor``, ``dosefinding recover-admin``), which also is the recovery path. The last
active administrator cannot be revoked.

Examples
--------
>>> from dosefinding.randomization.store import Store
>>> store = Store("sqlite://")
>>> code = store.add_user("admin", "admin", bootstrap=True)
>>> store.accounts.enrol("admin", code, "correct horse battery")
>>> session = store.accounts.login("admin", "correct horse battery")
>>> store.authenticate(session["token"]).role
'admin'
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal, overload

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, func, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from dosefinding.errors import InputError
from dosefinding.randomization.auditkey import AuditKey
from dosefinding.randomization.base import (
    Actor,
    Base,
    RecordedRefusal,
    ServiceError,
    iso_time,
    keeping_refusals,
    utc_now,
)
from dosefinding.randomization.identifiers import identifier
from dosefinding.randomization.totp import decode_secret, new_secret, provisioning_uri, verify_totp

__all__ = [
    "GRANTS", "HOST_ROLES", "MAX_ACCOUNT_HOURS", "ROLES", "TOTP_ROLES", "UNBLINDED_ROLES", "AccountPolicy", "Accounts",
    "Signer", "credential_mac", "needs_totp", "token_digest",
]

ROLES = ("investigator", "pharmacist", "dmc", "blinded_statistician", "auditor", "admin", "sponsor")
UNBLINDED_ROLES = frozenset({"pharmacist", "dmc"})
EMERGENCY_UNBLINDING = "emergency_unblinding"
GRANTS = ("pharmacist", "dmc", "sponsor", EMERGENCY_UNBLINDING)  # only under the two-person rule
HOST_ROLES = ("admin", "sponsor")  # created on the database host (set-up and recovery)
SITE_BOUND_ROLES = frozenset({"investigator"})
SITE_SCOPED_ROLES = frozenset({"investigator", "pharmacist"})  # a pharmacist's sites, when given, bind it
TOTP_ROLES = frozenset({"pharmacist", "dmc", "sponsor"})  # see arms or approve grants (and unblinding investigators)
MAX_ACCOUNT_HOURS = 24 * 365 * 10
_TOKEN = re.compile(r"([1-9][0-9]{0,17})\.([A-Za-z0-9_-]{43})")


class UserRow(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(40))
    full_name: Mapped[str] = mapped_column(String(200))
    sites: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    unblinding: Mapped[bool] = mapped_column(Boolean, default=False)  # emergency unblinding privilege
    password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    enrol_hashes: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    enrol_expires: Mapped[float | None] = mapped_column(Float, nullable=True)
    issuers: Mapped[list[str]] = mapped_column(JSON)  # who holds the parts of the current enrolment code
    created_by: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[float] = mapped_column(Float)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[float | None] = mapped_column(Float, nullable=True)
    totp_secret: Mapped[str | None] = mapped_column(String(64), nullable=True)
    totp_pending: Mapped[str | None] = mapped_column(String(64), nullable=True)
    totp_counter: Mapped[int | None] = mapped_column(Integer, nullable=True)


class SessionRow(Base):
    __tablename__ = "sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    login_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)
    last_seen: Mapped[float] = mapped_column(Float)
    ended: Mapped[bool] = mapped_column(Boolean, default=False)


class GrantRow(Base):
    __tablename__ = "grants"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100))
    grant: Mapped[str] = mapped_column(String(40))
    full_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    sites: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    proposed_by: Mapped[str] = mapped_column(String(100))
    proposed_at: Mapped[str] = mapped_column(String(40))
    proposer_code_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))  # proposed, approved, rejected
    decided_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    decided_at: Mapped[str | None] = mapped_column(String(40), nullable=True)


@dataclass(frozen=True)
class AccountPolicy:
    """Session, lockout and password rules (minutes and hours of wall-clock time)."""

    session_minutes: float = 8 * 60
    max_session_hours: float = 24.0
    idle_minutes: float = 30.0
    max_failures: int = 5
    lockout_minutes: float = 15.0
    enrolment_hours: float = 72.0
    min_password_length: int = 12
    account_hours: float = 24 * 365 * 3


@dataclass(frozen=True)
class Signer:
    """Who signs: the account's printed name and whether it holds the emergency unblinding privilege."""

    username: str
    full_name: str
    role: str
    may_unblind: bool
    has_totp: bool


def token_digest(secret: str) -> str:
    """SHA-256 (hex) of a high-entropy secret (session token, enrolment code part).

    Examples
    --------
    >>> token_digest("abc")[:16]
    'ba7816bf8f01cfea'
    """
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def credential_mac(key: AuditKey, username: str, password_hash: str | None, enrol_hashes: Sequence[str] | None,
                   totp_secret: str | None) -> str:
    """The audit trail's keyed commitment to an account's credentials (password hash, enrolment code, TOTP secret).

    The trail never holds a credential in clear; the key holder recomputes this from the
    users table, so a password hash or TOTP secret written into the table is found.

    Examples
    --------
    >>> key = AuditKey(b"k" * 32)
    >>> credential_mac(key, "a", None, ["x"], None) == credential_mac(key, "a", None, ["y"], None)
    False
    """
    return key.mac("credential", username, password_hash or "", list(enrol_hashes or []), totp_secret or "")


def username_of(value: object) -> str:
    """A user name as the accounts hold it (:func:`~dosefinding.randomization.identifiers.identifier`), or 422.

    Examples
    --------
    >>> username_of("ｉｎｖ１")
    'inv1'
    """
    try:
        return identifier(value, "username")
    except InputError as exc:
        raise ServiceError(422, str(exc)) from None


def needs_totp(role: str, unblinding: bool) -> bool:
    """Whether an account must log in with a TOTP code: it sees arms, approves grants or may unblind.

    Examples
    --------
    >>> needs_totp("sponsor", False), needs_totp("investigator", True), needs_totp("investigator", False)
    (True, True, False)
    """
    return role in TOTP_ROLES or unblinding


@overload
def _reason(reason: object, *, required: Literal[True]) -> str: ...
@overload
def _reason(reason: object, *, required: bool) -> str | None: ...
def _reason(reason: object, *, required: bool) -> str | None:
    """An administrative action's reason: normalised text (:func:`identifier`), or 422."""
    if reason is None and not required:
        return None
    if not isinstance(reason, str):
        raise ServiceError(422, "reason: must be text" + (" (required)" if required else ""))
    try:
        return identifier(" ".join(reason.split()), "reason", max_length=500)
    except InputError as exc:
        raise ServiceError(422, str(exc)) from None


def _matches(secret: str, digest: str) -> bool:
    return hmac.compare_digest(token_digest(secret), digest)


class Accounts:
    """Account, session and grant operations of one store; each public method is one transaction.

    ``transaction`` opens a write transaction, ``read`` a read session, ``audit(s, actor,
    action, subject, details)`` appends an audit record in a transaction.
    """

    def __init__(self, transaction: Callable[[], AbstractContextManager[Session]],
                 read: Callable[[], Session], audit: Callable[..., None], *, key: Callable[[], AuditKey],
                 policy: AccountPolicy | None = None, hasher: PasswordHasher | None = None,
                 clock: Callable[[], float] = time.time, issuer: str = "dosefinding") -> None:
        self._transaction = transaction
        self._read = read
        self._audit = audit
        self._key = key
        self.policy = policy or AccountPolicy()
        self.hasher = hasher or PasswordHasher()  # argon2id, RFC 9106 low-memory profile
        self.clock = clock
        self.issuer = issuer

    @cached_property
    def _dummy_hash(self) -> str:
        return self.hasher.hash(secrets.token_urlsafe(16))

    # --- helpers ----------------------------------------------------------------------

    def _tx(self) -> AbstractContextManager[Session]:
        return keeping_refusals(self._transaction)

    def _refuse(self, s: Session, actor: Actor, action: str, subject: str | None, status: int, message: str,
                details: Mapping[str, Any] | None = None) -> RecordedRefusal:
        self._audit(s, actor, action, subject, {"refused": message, **(details or {})})
        return RecordedRefusal(status, message)

    @staticmethod
    def _user(s: Session, username: object) -> UserRow | None:
        try:
            name = identifier(username, "username")
        except InputError:
            return None  # such a name cannot have been created
        return s.scalar(select(UserRow).where(UserRow.username == name))

    def _credential(self, user: UserRow) -> str:
        return credential_mac(self._key(), user.username, user.password_hash, user.enrol_hashes, user.totp_secret)

    def _account_state(self, user: UserRow) -> dict[str, Any]:
        """What the audit record of a created or re-granted account holds, for the replay."""
        return {"role": user.role, "full_name": user.full_name, "sites": user.sites, "unblinding": bool(user.unblinding),
                "expires_at": iso_time(user.expires_at), "issuers": list(user.issuers or []), "created_by": user.created_by,
                "credential_mac": self._credential(user)}

    def _controls(self, s: Session, person: str, account: str, seen: frozenset[str] = frozenset()) -> bool:
        """Whether ``person`` alone holds (or held) every part of ``account``'s current credential."""
        if person == account:
            return True
        row = self._user(s, account)
        if row is None or not row.issuers or account in seen:
            return False
        return all(self._controls(s, person, issuer, seen | {account}) for issuer in row.issuers)

    def _verify_password(self, stored: str | None, password: str) -> bool:
        try:  # an account without a password costs the same time as a wrong password
            return self.hasher.verify(stored or self._dummy_hash, password) and stored is not None
        except (VerificationError, InvalidHashError):
            return False

    def _check_password(self, username: str, password: str) -> None:
        if not isinstance(password, str) or len(password) < self.policy.min_password_length:
            raise ServiceError(422, f"password: must be at least {self.policy.min_password_length} characters")
        if password.casefold() == username.casefold():
            raise ServiceError(422, "password: must not be the username")

    def _new_code(self) -> tuple[str, str]:
        code = secrets.token_urlsafe(24)
        return code, token_digest(code)

    @staticmethod
    def _sites(role: str, sites: Sequence[str] | None) -> list[str] | None:
        if sites is not None:
            if isinstance(sites, str) or not isinstance(sites, Sequence):
                raise ServiceError(422, "sites: must be a list of site identifiers")
            try:
                sites = sorted({identifier(x, "sites") for x in sites})
            except InputError as exc:
                raise ServiceError(422, str(exc)) from None
        if role in SITE_BOUND_ROLES and not sites:
            raise ServiceError(422, f"sites: a {role} account must be bound to at least one site")
        return sites

    def _end_sessions(self, s: Session, user_id: int) -> None:
        s.execute(update(SessionRow).where(SessionRow.user_id == user_id, SessionRow.ended.is_(False))
                  .values(ended=True))

    # --- creating accounts --------------------------------------------------------------

    def create(self, actor: Actor | None, username: str, role: str, *, full_name: str | None = None,
               sites: Sequence[str] | None = None, ttl_hours: float | None = None, bootstrap: bool = False) -> str:
        """Create an account of a blinded role and return its one-time enrolment code.

        ``bootstrap=True`` creates the first administrator of an empty database.
        """
        if role not in ROLES:
            raise ServiceError(422, f"role: must be one of {list(ROLES)}, got {role!r}")
        username = username_of(username)
        full_name = _full_name(full_name, username)
        hours = self.policy.account_hours if ttl_hours is None else ttl_hours
        if isinstance(hours, bool) or not isinstance(hours, int | float) or not 0 < hours <= MAX_ACCOUNT_HOURS:
            raise ServiceError(422, f"ttl_hours: must be a number in (0, {MAX_ACCOUNT_HOURS}] (ten years), "
                                    f"got {ttl_hours!r}")
        bound = self._sites(role, sites)
        code, digest = self._new_code()
        now = self.clock()
        with self._tx() as s:
            if bootstrap:
                if s.scalar(select(func.count()).select_from(UserRow).where(UserRow.role == "admin")):
                    raise ServiceError(409, "an administrator already exists")
                actor = Actor(username, "admin")
            elif actor is None or actor.role != "admin":
                raise ServiceError(403, "only the administrator creates users")
            if not bootstrap and role in GRANTS:
                raise self._refuse(s, actor, "user.create.refused", None, 403,
                                   f"role {role!r} is granted only under the two-person rule: an administrator "
                                   "proposes it (POST /api/admin/grants) and a sponsor approves it",
                                   {"username": username, "role": role})
            if self._user(s, username) is not None:
                raise ServiceError(409, f"username: {username!r} already exists")
            user = UserRow(username=username, role=role, full_name=full_name, sites=bound,
                           unblinding=False, password_hash=None, enrol_hashes=[digest],
                           enrol_expires=now + self.policy.enrolment_hours * 3600.0,
                           issuers=[] if bootstrap else [actor.username], created_by=actor.username,
                           expires_at=now + hours * 3600.0, revoked=False, failed_logins=0)
            s.add(user)
            s.flush()
            self._audit(s, actor, "user.create", None, {"username": username, "ttl_hours": hours,
                                                        **self._account_state(user)})
        return code

    def host_account(self, username: str, role: str, operator: str, *, full_name: str | None = None) -> str:
        """Create, re-activate or re-enrol an administrator or sponsor from the database host.

        This is the set-up path for the first sponsor and the recovery path when no
        administrator can log in: whoever runs it has the database itself, so the code goes
        to them and nobody in the service controls the account.
        """
        if role not in HOST_ROLES:
            raise ServiceError(422, f"role: the host creates only {list(HOST_ROLES)}, got {role!r}")
        username = username_of(username)
        full_name = _full_name(full_name, username)
        code, digest = self._new_code()
        now = self.clock()
        host = Actor(f"host:{operator}"[:100], "host")
        with self._tx() as s:
            user = self._user(s, username)
            if user is None:
                user = UserRow(username=username, role=role, full_name=full_name, sites=None,
                               unblinding=False, created_by=host.username, failed_logins=0, revoked=False)
                s.add(user)
                action = "host.account.create"
            elif user.role != role:
                raise ServiceError(409, f"username: {username!r} has role {user.role!r}, not {role!r}")
            else:
                action = "host.account.recover"
                self._end_sessions(s, user.id)
            user.password_hash, user.enrol_hashes, user.issuers = None, [digest], []
            user.enrol_expires = now + self.policy.enrolment_hours * 3600.0
            user.expires_at = now + self.policy.account_hours * 3600.0
            user.revoked, user.failed_logins, user.locked_until = False, 0, None
            user.totp_secret = user.totp_pending = None
            s.flush()
            self._audit(s, host, action, None, {"username": username, **self._account_state(user)})
        return code

    def enrol(self, username: str, code: str, password: str) -> None:
        """Set the password of an account with its one-time enrolment code (both halves for a grant)."""
        self._check_password(username, password)
        hashed = self.hasher.hash(password)
        who = Actor(str(username)[:100], "unauthenticated")
        with self._tx() as s:
            user = self._user(s, username)
            parts = str(code).split(".")
            valid = (user is not None and user.enrol_hashes is not None and not user.revoked
                     and len(parts) == len(user.enrol_hashes)
                     and all(_matches(p, h) for p, h in zip(parts, user.enrol_hashes, strict=True))
                     and (user.enrol_expires or 0) >= self.clock())
            if not valid:
                raise self._refuse(s, who, "auth.enrol.failed", None, 401, "invalid or expired enrolment code")
            assert user is not None
            user.password_hash, user.enrol_hashes, user.enrol_expires = hashed, None, None
            user.failed_logins, user.locked_until = 0, None
            self._audit(s, Actor(user.username, user.role), "auth.enrol", None,
                        {"username": user.username, "credential_mac": self._credential(user)})

    # --- logging in and sessions ----------------------------------------------------------

    def _check_second_factor(self, user: UserRow, totp: str | None) -> int | None | bool:
        """The TOTP counter to record, None if the account has no TOTP, False if the code is wrong."""
        if user.totp_secret is None:
            return None
        counter = verify_totp(decode_secret(user.totp_secret), totp or "", self.clock(), last_counter=user.totp_counter)
        return False if counter is None else counter

    def _failure(self, s: Session, user: UserRow, action: str, message: str) -> RecordedRefusal:
        """Count a wrong password or code; lock the account at the limit."""
        who = Actor(user.username, user.role)
        user.failed_logins += 1
        if user.failed_logins >= self.policy.max_failures:
            user.locked_until = self.clock() + self.policy.lockout_minutes * 60.0
            user.failed_logins = 0
            self._end_sessions(s, user.id)
            self._audit(s, who, action, None, {"refused": message})
            return self._refuse(s, who, "auth.lockout", None, 401,
                                f"account locked for {self.policy.lockout_minutes:g} minutes after "
                                f"{self.policy.max_failures} failed attempts")
        return self._refuse(s, who, action, None, 401, message)

    def _refusal_of_state(self, user: UserRow) -> str | None:
        now = self.clock()
        if user.revoked:
            return "account revoked"
        if user.expires_at < now:
            return "account expired"
        if user.locked_until is not None and user.locked_until > now:
            return f"account locked for {(user.locked_until - now) / 60:.0f} more minutes after repeated failures"
        if user.password_hash is None:
            return "account not enrolled: set a password with the enrolment code first"
        return None

    def login(self, username: str, password: str, totp: str | None = None) -> dict[str, Any]:
        """Check password (and TOTP code if enrolled); return a new session token and its limits."""
        with self._read() as r, r.begin():
            user = self._user(r, username)
            stored = user.password_hash if user is not None else None
        ok = self._verify_password(stored, password)  # outside the write transaction: argon2 takes time
        who = Actor(str(username)[:100], "unauthenticated")
        with self._tx() as s:
            user = self._user(s, username)
            if user is None:
                raise self._refuse(s, who, "auth.login.failed", None, 401, "invalid username or password")
            state = self._refusal_of_state(user)
            if state is not None:
                raise self._refuse(s, Actor(user.username, user.role), "auth.login.refused", None, 401, state)
            if not ok or stored is None or user.password_hash != stored:
                raise self._failure(s, user, "auth.login.failed", "invalid username or password")
            counter = self._check_second_factor(user, totp)
            if counter is False:
                raise self._failure(s, user, "auth.login.failed", "invalid or reused one-time code")
            if counter is not None:
                user.totp_counter = counter
            rehashed = self.hasher.check_needs_rehash(stored)
            if rehashed:
                user.password_hash = self.hasher.hash(password)
            user.failed_logins, user.locked_until = 0, None
            session = self._new_session(s, user, login_at=self.clock(), action="auth.login",
                                        details={"credential_mac": self._credential(user)} if rehashed else {})
            return session | {"totp_enrolment_required": self._totp_missing(user)}

    @staticmethod
    def _totp_missing(user: UserRow) -> bool:
        return needs_totp(user.role, bool(user.unblinding)) and user.totp_secret is None

    def _new_session(self, s: Session, user: UserRow, *, login_at: float, action: str,
                     details: Mapping[str, Any]) -> dict[str, Any]:
        now = self.clock()
        secret = secrets.token_urlsafe(32)
        expires = min(now + self.policy.session_minutes * 60.0, login_at + self.policy.max_session_hours * 3600.0,
                      user.expires_at)
        row = SessionRow(user_id=user.id, token_hash=token_digest(secret), login_at=login_at, expires_at=expires,
                         last_seen=now, ended=False)
        s.add(row)
        s.flush()
        self._audit(s, Actor(user.username, user.role, session=row.id), action, None, {
            "session": row.id, "login_at": iso_time(login_at), "expires_at": iso_time(expires),
            "token_mac": self._key().mac("session", row.id, row.token_hash), **details})
        return {"token": f"{row.id}.{secret}", "expires_in_minutes": (expires - now) / 60.0,
                "idle_timeout_minutes": self.policy.idle_minutes}

    def authenticate(self, token: str | None, *, enrolling: bool = False) -> Actor:
        """The account holding session ``token``, or ServiceError 401 saying why not.

        An account that must log in with a TOTP code (:func:`needs_totp`) and has no
        authenticator yet gets 403 naming the enrolment requests, unless ``enrolling`` (the
        requests that enrol one, log out or say who is logged in).
        """
        if not token:
            raise ServiceError(401, "missing token: send 'Authorization: Bearer <token>'")
        match = _TOKEN.fullmatch(token)
        if match is None:
            raise ServiceError(401, "invalid token")
        session_id, secret = match.groups()
        with self._read() as r, r.begin():
            found = r.execute(select(SessionRow, UserRow).join(UserRow, UserRow.id == SessionRow.user_id)
                              .where(SessionRow.id == int(session_id))).first()
        # Compare even when the session does not exist, so timing does not say which ids exist.
        if not _matches(secret, found[0].token_hash if found is not None else "0" * 64) or found is None:
            raise ServiceError(401, "invalid token")
        session, user = found
        now = self.clock()
        if user.revoked:
            raise ServiceError(401, "account revoked")
        if session.ended:
            raise ServiceError(401, "session ended: log in again")
        if session.expires_at < now:
            raise ServiceError(401, "session expired: log in again")
        idle = self.policy.idle_minutes * 60.0
        if now - session.last_seen > idle:
            raise ServiceError(401, f"session idle for more than {self.policy.idle_minutes:g} minutes: log in again")
        if now - session.last_seen > min(60.0, idle / 10):  # coarse, so that reads rarely write
            with self._transaction() as s:
                s.execute(update(SessionRow).where(SessionRow.id == session.id).values(last_seen=now))
        if not enrolling and self._totp_missing(user):
            raise ServiceError(403, f"account {user.username!r} ({user.role}) must enrol an authenticator app before "
                                    "anything else: POST /api/auth/totp, then POST /api/auth/totp/confirm with its code")
        sites = frozenset(user.sites) if user.role in SITE_SCOPED_ROLES and user.sites else None
        return Actor(user.username, user.role, sites=sites, session=session.id)

    def renew(self, actor: Actor) -> dict[str, Any]:
        """A new session replacing the caller's, up to the maximum length counted from the login."""
        with self._tx() as s:
            session = s.get(SessionRow, actor.session) if actor.session is not None else None
            if session is None or session.ended:
                raise ServiceError(401, "no session to renew")
            if session.login_at + self.policy.max_session_hours * 3600.0 <= self.clock():
                raise ServiceError(401, "session reached its maximum length: log in again")
            session.ended = True
            user = s.get(UserRow, session.user_id)
            assert user is not None  # a session's user_id is a foreign key of users
            return self._new_session(s, user, login_at=session.login_at,
                                     action="auth.renew", details={"renews": session.id})

    def logout(self, actor: Actor) -> None:
        """End the caller's session."""
        with self._tx() as s:
            session = s.get(SessionRow, actor.session) if actor.session is not None else None
            if session is not None and not session.ended:
                session.ended = True
                self._audit(s, actor, "auth.logout", None, {"session": session.id})

    def revoke(self, actor: Actor, username: str, reason: str | None = None) -> None:
        """Revoke an account and end its sessions; the last active administrator stays.

        The audit record holds the old and new state and the reason (if given).
        """
        reason = _reason(reason, required=False)
        with self._tx() as s:
            user = self._user(s, username)
            if user is None:
                raise ServiceError(404, f"username: no user {username!r}")
            if user.role == "admin" and not user.revoked:
                others = s.scalar(select(func.count()).select_from(UserRow).where(
                    UserRow.role == "admin", UserRow.revoked.is_(False), UserRow.id != user.id))
                if not others:
                    raise self._refuse(s, actor, "user.revoke.refused", None, 409,
                                       f"username: {username!r} is the last administrator and cannot be revoked "
                                       "(create another administrator first; `dosefinding recover-admin` restores "
                                       "access from the database host)", {"username": username})
            old = bool(user.revoked)
            user.revoked = True
            self._end_sessions(s, user.id)
            self._audit(s, actor, "user.revoke", None, {"username": user.username, "role": user.role,
                                                        "unblinding": user.unblinding, "old": {"revoked": old},
                                                        "new": {"revoked": True}, "reason": reason})

    def revoke_unblinding(self, actor: Actor, username: str) -> None:
        """Withdraw an investigator's emergency unblinding privilege (one administrator suffices to take away)."""
        if actor.role != "admin":
            raise ServiceError(403, f"role {actor.role!r} may not withdraw an emergency unblinding privilege "
                                    "(an administrator does)")
        with self._tx() as s:
            user = self._user(s, username)
            if user is None or not user.unblinding:
                raise ServiceError(404, f"username: {username!r} holds no emergency unblinding privilege")
            user.unblinding = False
            self._audit(s, actor, "grant.revoke", None, {"username": user.username, "grant": EMERGENCY_UNBLINDING,
                                                         "old": {"unblinding": True}, "new": {"unblinding": False}})

    def unlock(self, actor: Actor, username: str, reason: str) -> None:
        """End an account's lockout before its time (an administrator, with a reason; audited as ``user.unlock``)."""
        reason = _reason(reason, required=True)
        if actor.role != "admin":
            raise ServiceError(403, f"role {actor.role!r} may not unlock accounts")
        with self._tx() as s:
            user = self._user(s, username)
            if user is None:
                raise ServiceError(404, f"username: no user {username!r}")
            old = {"locked_until": iso_time(user.locked_until) if user.locked_until else None,
                   "failed_logins": user.failed_logins}
            user.failed_logins, user.locked_until = 0, None
            self._audit(s, actor, "user.unlock", None, {"username": user.username, "old": old,
                                                        "new": {"locked_until": None, "failed_logins": 0},
                                                        "reason": reason})

    def reset(self, actor: Actor, username: str, reason: str) -> str:
        """Reset a blinded account's password: a new enrolment code for the administrator to hand over.

        The old password, authenticator and sessions are dropped and the administrator holds
        the new code (it controls the account until the person enrols). Never for an account
        that sees arms, approves grants or may unblind (a new grant, two people) nor for a
        revoked one; refusals are audited as ``user.reset.refused``.
        """
        reason = _reason(reason, required=True)
        if actor.role != "admin":
            raise ServiceError(403, f"role {actor.role!r} may not reset passwords")
        code, digest = self._new_code()
        with self._tx() as s:
            user = self._user(s, username)
            if user is None:
                raise ServiceError(404, f"username: no user {username!r}")
            if needs_totp(user.role, bool(user.unblinding)):
                raise self._refuse(s, actor, "user.reset.refused", None, 403,
                                   f"username: {user.username!r} ({user.role}"
                                   f"{', emergency unblinding' if user.unblinding else ''}) is reset only under the "
                                   "two-person rule: an administrator proposes a grant (POST /api/admin/grants) "
                                   "and a sponsor approves it", {"username": user.username, "reason": reason})
            if user.revoked:
                raise self._refuse(s, actor, "user.reset.refused", None, 409,
                                   f"username: {user.username!r} is revoked", {"username": user.username,
                                                                               "reason": reason})
            old_credential = self._credential(user)
            user.password_hash, user.enrol_hashes, user.issuers = None, [digest], [actor.username]
            user.enrol_expires = self.clock() + self.policy.enrolment_hours * 3600.0
            user.totp_secret = user.totp_pending = None
            user.failed_logins, user.locked_until = 0, None
            self._end_sessions(s, user.id)
            self._audit(s, actor, "user.reset", None, {
                "username": user.username, "reason": reason, "old": {"credential_mac": old_credential},
                "new": {"credential_mac": self._credential(user)}, **self._account_state(user)})
        return code

    # --- second factor ------------------------------------------------------------------

    def totp_begin(self, actor: Actor, password: str | None = None, totp: str | None = None) -> dict[str, str]:
        """Start TOTP enrolment: a new secret for the caller's authenticator app (confirmed by a code).

        Replacing an enrolled authenticator needs the password and a code of the old one, so
        that a stolen session cannot move the second factor to another phone.
        """
        if self.signer(actor).has_totp:
            self.reauthenticate(actor, password, totp, purpose="replacing the authenticator", need_totp=True)
        secret = new_secret()
        with self._tx() as s:
            user = self._user(s, actor.username)
            if user is None:
                raise ServiceError(404, f"username: no user {actor.username!r}")
            user.totp_pending = secret
        return {"secret": secret, "uri": provisioning_uri(secret, actor.username, self.issuer)}

    def totp_confirm(self, actor: Actor, code: str) -> None:
        """Finish TOTP enrolment with a code from the app; from then on login and signatures need a code."""
        with self._tx() as s:
            user = self._user(s, actor.username)
            if user is None or user.totp_pending is None:
                raise ServiceError(409, "no TOTP enrolment started (POST /api/auth/totp)")
            counter = verify_totp(decode_secret(user.totp_pending), code, self.clock())
            if counter is None:
                raise self._refuse(s, actor, "auth.totp.failed", None, 422, "code: does not match the new secret")
            user.totp_secret, user.totp_pending, user.totp_counter = user.totp_pending, None, counter
            self._audit(s, actor, "auth.totp.enrol", None,
                        {"username": user.username, "credential_mac": self._credential(user)})

    # --- signatures ---------------------------------------------------------------------

    def signer(self, actor: Actor) -> Signer:
        """The caller's printed name and privileges, read from the account."""
        with self._read() as r, r.begin():
            user = self._user(r, actor.username)
            if user is None:
                raise ServiceError(403, f"no account {actor.username!r}")
            return Signer(user.username, user.full_name, user.role, bool(user.unblinding), user.totp_secret is not None)

    def reauthenticate(self, actor: Actor, password: str | None, totp: str | None, *, purpose: str,
                       need_totp: bool) -> None:
        """Check the caller's password (and TOTP code) again at the moment of signing; failures count."""
        with self._read() as r, r.begin():
            user = self._user(r, actor.username)
            stored = user.password_hash if user is not None else None
        ok = self._verify_password(stored, password or "")
        with self._tx() as s:
            user = self._user(s, actor.username)
            if user is None:
                raise ServiceError(403, f"no account {actor.username!r}")
            state = self._refusal_of_state(user)
            if state is not None:
                raise self._refuse(s, actor, "signature.refused", None, 401, state, {"purpose": purpose})
            if need_totp and user.totp_secret is None:
                raise self._refuse(s, actor, "signature.refused", None, 403,
                                   f"{purpose} needs a TOTP authenticator: enrol one first (POST /api/auth/totp)",
                                   {"purpose": purpose})
            if not ok or user.password_hash != stored:
                raise self._failure(s, user, "signature.failed", f"signature: wrong password for {purpose}")
            counter = self._check_second_factor(user, totp)
            if counter is False:
                raise self._failure(s, user, "signature.failed", f"signature: invalid or reused one-time code "
                                                                  f"for {purpose}")
            if counter is not None:
                user.totp_counter = counter
            user.failed_logins = 0

    # --- two-person grants ----------------------------------------------------------------

    def propose(self, actor: Actor, username: str, grant: str, *, full_name: str | None = None,
                sites: Sequence[str] | None = None) -> dict[str, Any]:
        """An administrator proposes a grant; returns the proposal and the proposer's half of the code."""
        if grant not in GRANTS:
            raise ServiceError(422, f"grant: must be one of {list(GRANTS)}, got {grant!r}")
        username = username_of(username)
        code, digest = self._new_code()
        with self._tx() as s:
            if actor.role != "admin":
                raise ServiceError(403, "only an administrator proposes grants")
            details = {"username": username, "grant": grant}
            if self._controls(s, username, actor.username):
                raise self._refuse(s, actor, "grant.refused", None, 403,
                                   f"grant: {actor.username!r} may not propose a grant to itself or to an account "
                                   "that controls it", details)
            user = self._user(s, username)
            if grant == EMERGENCY_UNBLINDING:
                if user is None or user.role != "investigator" or user.revoked:
                    raise ServiceError(409, f"username: {username!r} is not an active investigator")
                bound = user.sites
            else:
                if user is not None and (user.role != grant or user.revoked):
                    raise ServiceError(409, f"username: {username!r} already exists as a {user.role}")
                bound = self._sites(grant, sites) if user is None else user.sites
            if s.scalar(select(GrantRow.id).where(GrantRow.username == username, GrantRow.status == "proposed")):
                raise ServiceError(409, f"username: {username!r} has a grant waiting for approval")
            at = utc_now()
            row = GrantRow(username=username, grant=grant,
                           full_name=_full_name(full_name, user.full_name if user else username),
                           sites=bound, proposed_by=actor.username, proposed_at=at, proposer_code_hash=digest,
                           status="proposed")
            s.add(row)
            s.flush()
            self._audit(s, actor, "grant.propose", None, details | {
                "grant_id": row.id, "sites": bound, "full_name": row.full_name,
                "code_mac": self._key().mac("grant-code", row.id, digest)}, ts=at)
            return self._grant_dict(row) | {"proposer_code": code}

    def approve(self, actor: Actor, grant_id: int) -> dict[str, Any]:
        """A sponsor approves a grant; returns the approver's half of the code (the person needs both halves)."""
        code, digest = self._new_code()
        now = self.clock()
        with self._tx() as s:
            if actor.role != "sponsor":
                raise ServiceError(403, "only a sponsor approves grants")
            row = s.get(GrantRow, grant_id)
            if row is None:
                raise ServiceError(404, f"grant: no grant {grant_id}")
            if row.status != "proposed":
                raise ServiceError(409, f"grant: {grant_id} is already {row.status}")
            details = {"grant_id": row.id, "username": row.username, "grant": row.grant, "proposed_by": row.proposed_by}
            persons = (row.proposed_by, actor.username)
            if row.username in persons or any(self._controls(s, row.username, p) for p in persons):
                raise self._refuse(s, actor, "grant.refused", None, 403,
                                   "grant: nobody approves a grant to themselves or to an account that controls "
                                   "them", details)
            if self._controls(s, row.proposed_by, actor.username) or self._controls(s, actor.username, row.proposed_by):
                raise self._refuse(s, actor, "grant.refused", None, 403,
                                   "grant: two-person rule: proposer and approver must be two people (one controls "
                                   "the other's account)", details)
            user = self._user(s, row.username)
            created = user is None
            if user is None:
                user = UserRow(username=row.username, role=row.grant, full_name=row.full_name or row.username,
                               sites=row.sites, unblinding=False, created_by=row.proposed_by, issuers=list(persons),
                               expires_at=now + self.policy.account_hours * 3600.0, revoked=False, failed_logins=0)
                s.add(user)
            elif row.grant == EMERGENCY_UNBLINDING:
                user.unblinding = True
            s.flush()
            self._end_sessions(s, user.id)
            user.password_hash, user.totp_secret, user.totp_pending, user.locked_until = None, None, None, None
            user.enrol_hashes = [row.proposer_code_hash, digest]
            user.enrol_expires = now + self.policy.enrolment_hours * 3600.0
            user.issuers = list(persons)
            at = utc_now()
            row.status, row.decided_by, row.decided_at = "approved", actor.username, at
            self._audit(s, actor, "grant.approve", None, details | {"created": created, **self._account_state(user)},
                        ts=at)
            return self._grant_dict(row) | {"approver_code": code}

    def reject(self, actor: Actor, grant_id: int) -> dict[str, Any]:
        """A sponsor (or an administrator withdrawing it) rejects a proposed grant."""
        with self._tx() as s:
            row = s.get(GrantRow, grant_id)
            if row is None:
                raise ServiceError(404, f"grant: no grant {grant_id}")
            if row.status != "proposed":
                raise ServiceError(409, f"grant: {grant_id} is already {row.status}")
            at = utc_now()
            row.status, row.decided_by, row.decided_at = "rejected", actor.username, at
            self._audit(s, actor, "grant.reject", None, {"grant_id": row.id, "username": row.username,
                                                         "grant": row.grant}, ts=at)
            return self._grant_dict(row)

    def grants(self) -> list[dict[str, Any]]:
        """Every grant, proposed, approved or rejected (no codes)."""
        with self._read() as r, r.begin():
            return [self._grant_dict(g) for g in r.scalars(select(GrantRow).order_by(GrantRow.id)).all()]

    @staticmethod
    def _grant_dict(row: GrantRow) -> dict[str, Any]:
        return {"id": row.id, "username": row.username, "grant": row.grant, "sites": row.sites,
                "proposed_by": row.proposed_by, "proposed_at": row.proposed_at, "status": row.status,
                "decided_by": row.decided_by, "decided_at": row.decided_at}


def _full_name(full_name: object, default: str) -> str:
    if full_name is None:
        return default
    try:
        return identifier(full_name, "full_name", max_length=200)
    except InputError as exc:
        raise ServiceError(422, str(exc)) from None
