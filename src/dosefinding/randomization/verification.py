"""``audit-verify``: the whole check of a randomisation database, read-only.

The database is opened read-only (SQLite through a ``mode=ro`` URI; PostgreSQL in read-only
transactions), so verifying never changes what it verifies. The check:

1. the trail exists and is not empty (a missing file, an empty file or a database without
   the service's tables is an error, not "OK");
2. the chain of records, each MAC under the audit key (:mod:`~dosefinding.randomization.audit`),
   and the chain head stored beside it;
3. every checkpoint given (:mod:`~dosefinding.randomization.checkpoint`): truncation, wipe,
   rewritten records;
4. the state replayed from the trail against the tables (:mod:`~dosefinding.randomization.replay`),
   naming each difference.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
from sqlalchemy import create_engine, inspect, select
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError

from dosefinding.errors import InputError
from dosefinding.randomization.audit import GENESIS_HASH, AuditVerification, verify_chain
from dosefinding.randomization.auditkey import AuditKey
from dosefinding.randomization.checkpoint import Checkpoint, checkpoint_problems
from dosefinding.randomization.replay import compare_states, replay_trail, table_state
from dosefinding.randomization.store import AuditRow, ChainHeadRow
from dosefinding.summary import Summary, SummaryDisplay, short_repr

__all__ = ["TrailReport", "check_trail", "check_trial_database", "read_only_engine", "verify_database"]

_T = TypeVar("_T")
_TABLES = ("audit_log", "chain_head", "study", "users", "sessions", "grants", "subjects", "slots", "slot_arms", "unblindings",
           "signatures", "outbox")


@dataclass(frozen=True)
class TrailReport(SummaryDisplay):
    """The outcome of :func:`check_trail`: the trail's length and head, and every problem found."""

    n_records: int
    head: str
    problems: tuple[str, ...]
    first_invalid: int | None = None

    @property
    def valid(self) -> bool:
        """True when nothing was found."""
        return not self.problems

    def to_frame(self) -> pd.DataFrame:
        """One row per problem found (no rows when the trail is intact)."""
        return pd.DataFrame({"problem": list(self.problems)}, dtype=object)

    def __repr__(self) -> str:
        return short_repr(self, valid=self.valid, n_records=self.n_records, head=self.head[:12],
                          problems=len(self.problems), first_invalid=self.first_invalid)

    def summary(self) -> Summary:
        """One line if intact; otherwise a first line with the count and one line per problem.

        Examples
        --------
        >>> print(TrailReport(2, "ab", ("users: 'mallory' not in the trail",)).summary())
        audit trail BROKEN: 1 problem
          users: 'mallory' not in the trail
        """
        if self.valid:
            return Summary([(f"audit trail OK: {self.n_records} records, head {self.head}; "
                             "the tables match the state replayed from the trail")], frame=self.to_frame())
        n = len(self.problems)
        return Summary([f"audit trail BROKEN: {n} problem{'s' if n > 1 else ''}", *(f"  {p}" for p in self.problems)],
                       frame=self.to_frame())

    def as_verification(self) -> AuditVerification:
        """The report in the service's :class:`AuditVerification` form (problems joined in ``reason``)."""
        return AuditVerification(self.valid, self.n_records, self.head, self.first_invalid, "; ".join(self.problems))


def read_only_engine(database_url: str) -> Engine:
    """An engine that cannot write: SQLite opened with ``mode=ro``, PostgreSQL with read-only transactions.

    Raises InputError for a missing or empty SQLite file.

    Examples
    --------
    >>> read_only_engine("sqlite:///no/such.db")
    Traceback (most recent call last):
    ...
    dosefinding.errors.InputError: database: no SQLite file 'no/such.db'
    """
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database in (None, "", ":memory:"):
            raise InputError("database: an in-memory database has no trail to verify")
        path = Path(url.database)
        if not path.is_file():
            raise InputError(f"database: no SQLite file '{url.database}'")
        if path.stat().st_size == 0:
            raise InputError(f"database: '{url.database}' is an empty file, not a trial database")
        return create_engine(f"sqlite:///file:{path.resolve()}?mode=ro&uri=true")
    if url.get_backend_name() == "postgresql":
        return create_engine(url, connect_args={"options": "-c default_transaction_read_only=on"})
    return create_engine(url)


def _check_tables(conn: Connection) -> None:
    missing = [t for t in _TABLES if not inspect(conn).has_table(t)]
    if missing:
        raise InputError(f"database: not a trial database (no table {', '.join(missing)})")


def _records(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(AuditRow.seq, AuditRow.ts, AuditRow.actor, AuditRow.role, AuditRow.action,
                               AuditRow.subject, AuditRow.details, AuditRow.prev_hash, AuditRow.hash)
                        .order_by(AuditRow.seq)).all()
    return [{"seq": r.seq, "ts": r.ts, "actor": r.actor, "role": r.role, "action": r.action, "subject": r.subject,
             "details": json.loads(r.details), "prev_hash": r.prev_hash, "hash": r.hash} for r in rows]


def check_trail(conn: Connection, key: AuditKey, checkpoints: Sequence[Checkpoint] = (),
                checkpoint_names: Sequence[str] = ()) -> TrailReport:
    """Check the trail of the database behind ``conn``; reads only."""
    _check_tables(conn)
    records = _records(conn)
    problems: list[str] = []
    chain = verify_chain(records, key=key.chain)
    if not records:
        problems.append("audit trail is empty: a trial database always has records (wiped or never used)")
    elif not chain.valid:
        problems.append(str(chain.summary()))
    head = conn.execute(select(ChainHeadRow.seq, ChainHeadRow.hash).where(ChainHeadRow.id == 1)).first()
    last = (records[-1]["seq"], records[-1]["hash"]) if records else (0, GENESIS_HASH)
    if head is None or (head.seq, head.hash) != last:
        problems.append("chain head does not match the last record (records removed at the end, or added "
                        "without moving the head)")
    names = list(checkpoint_names) + [""] * (len(checkpoints) - len(checkpoint_names))
    for checkpoint, name in zip(checkpoints, names, strict=True):
        problems += checkpoint_problems(checkpoint, records, name)
    tables, config, slot_rows = table_state(conn, key)
    trail, replay_problems, list_rows = replay_trail(records, key, config)
    problems += replay_problems + compare_states(trail, tables, list_rows, slot_rows)
    return TrailReport(len(records), chain.head_hash if chain.valid else last[1], tuple(problems),
                       None if chain.valid else chain.first_invalid)


def verify_database(database_url: str, key: AuditKey, checkpoints: Sequence[Checkpoint] = (),
                    checkpoint_names: Sequence[str] = ()) -> TrailReport:
    """Open ``database_url`` read-only and check its trail (:func:`check_trail`).

    A file that is not a database, or a database without the service's tables, is an InputError
    with one line, never a traceback.
    """
    return _read(database_url, lambda conn: check_trail(conn, key, checkpoints, checkpoint_names))


def check_trial_database(database_url: str) -> None:
    """InputError (one line) unless ``database_url`` is a readable database with the service's tables.

    Examples
    --------
    >>> check_trial_database("sqlite:///no/such.db")
    Traceback (most recent call last):
    ...
    dosefinding.errors.InputError: database: no SQLite file 'no/such.db'
    """
    _read(database_url, _check_tables)


def _read(database_url: str, action: Callable[[Connection], _T]) -> _T:
    engine = read_only_engine(database_url)
    try:
        with engine.connect() as conn:
            return action(conn)
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
        raise InputError(f"database: cannot read {_safe(database_url)} as a trial database ({reason})") from None
    finally:
        engine.dispose()


def _safe(database_url: str) -> str:
    return make_url(database_url).render_as_string(hide_password=True)

