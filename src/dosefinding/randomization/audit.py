"""An append-only audit trail with a keyed hash chain.

Each record is ``{seq, ts, actor, role, action, subject, details}``; its MAC is
``HMAC-SHA256(key, previous MAC + canonical JSON of the record)`` (keys sorted, no spaces,
UTF-8), the first record chaining from 64 zeros. Changing, removing, inserting or reordering
any record breaks every later MAC, which :func:`verify_chain` finds; and because the key lives
outside the database (:mod:`dosefinding.randomization.auditkey`), someone holding only the
database cannot compute the MACs of an edited tail. :func:`record_hash` is the unkeyed
SHA-256 form of the same chain (the format before the key); a trail re-hashed with it is
named as such.

What goes in: who (user and role), when (UTC), what (action, subject, randomisation and kit
numbers, reasons). Arms never go in: the auditor is a blinded role, so an emergency
unblinding is recorded as the fact, the person and the reason, not the arm revealed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dosefinding.summary import Summary, SummaryDisplay, short_repr

__all__ = ["GENESIS_HASH", "AuditVerification", "canonical_json", "record_hash", "record_mac", "verify_chain"]

GENESIS_HASH = "0" * 64
RECORD_FIELDS = ("seq", "ts", "actor", "role", "action", "subject", "details")


def canonical_json(record: Mapping[str, Any]) -> str:
    """The canonical JSON text of a record (sorted keys, compact separators).

    Examples
    --------
    >>> canonical_json({"b": 1, "a": [1, "x"]})
    '{"a":[1,"x"],"b":1}'
    """
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def record_hash(previous_hash: str, record: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the previous hash followed by the record's canonical JSON.

    Examples
    --------
    >>> import hashlib
    >>> record_hash(GENESIS_HASH, {"seq": 1}) == hashlib.sha256((GENESIS_HASH + '{"seq":1}').encode()).hexdigest()
    True
    """
    return hashlib.sha256(_chained_text(previous_hash, record)).hexdigest()


def record_mac(key: bytes, previous_mac: str, record: Mapping[str, Any]) -> str:
    """HMAC-SHA256 (hex) under ``key`` of the previous MAC followed by the record's canonical JSON.

    Examples
    --------
    >>> import hmac
    >>> mac = record_mac(b"k" * 32, GENESIS_HASH, {"seq": 1})
    >>> mac == hmac.new(b"k" * 32, (GENESIS_HASH + '{"seq":1}').encode(), "sha256").hexdigest()
    True
    """
    return hmac.new(key, _chained_text(previous_mac, record), hashlib.sha256).hexdigest()


def _chained_text(previous: str, record: Mapping[str, Any]) -> bytes:
    content = {k: record[k] for k in RECORD_FIELDS if k in record}
    return (previous + canonical_json(content)).encode("utf-8")


@dataclass(frozen=True)
class AuditVerification(SummaryDisplay):
    """The outcome of checking a chain: valid or the first broken record and why."""

    valid: bool
    n_records: int
    head_hash: str
    first_invalid: int | None = None
    reason: str = ""

    def __repr__(self) -> str:
        return short_repr(self, valid=self.valid, n_records=self.n_records, head_hash=self.head_hash[:12],
                          first_invalid=self.first_invalid, reason=self.reason[:100])

    def summary(self) -> Summary:
        """One line: OK with the count and head hash, or the first broken record."""
        if self.valid:
            return Summary([f"audit trail OK: {self.n_records} records, head {self.head_hash}"])
        return Summary([f"audit trail BROKEN at record {self.first_invalid}: {self.reason}"])


def verify_chain(records: Iterable[Mapping[str, Any]], key: bytes | None = None) -> AuditVerification:
    """Check that records (in ``seq`` order, each with ``prev_hash`` and ``hash``) form an intact chain.

    With ``key`` each ``hash`` must be the record's MAC under that key (:func:`record_mac`);
    without it, the unkeyed :func:`record_hash`.

    Examples
    --------
    >>> r1 = {"seq": 1, "action": "setup", "prev_hash": GENESIS_HASH}
    >>> r1["hash"] = record_hash(GENESIS_HASH, r1)
    >>> verify_chain([r1]).valid
    True
    >>> print(verify_chain([{**r1, "action": "changed"}]).summary())
    audit trail BROKEN at record 1: hash does not match the record content
    >>> verify_chain([r1], key=b"k" * 32).reason
    'record carries an unkeyed SHA-256 hash, not the MAC under the audit key (re-hashed without the key)'
    """
    previous = GENESIS_HASH
    n = 0
    for n, record in enumerate(records, start=1):
        seq = record.get("seq")
        if seq != n:
            return AuditVerification(False, n - 1, previous, seq if isinstance(seq, int) else n,
                                     f"sequence number {seq!r} where {n} was expected (record missing or inserted)")
        if record.get("prev_hash") != previous:
            return AuditVerification(False, n - 1, previous, n, "previous-hash link does not match the record before")
        expected = record_hash(previous, record) if key is None else record_mac(key, previous, record)
        if not hmac.compare_digest(str(record.get("hash")), expected):
            reason = "hash does not match the record content"
            if key is not None and record.get("hash") == record_hash(previous, record):
                reason = "record carries an unkeyed SHA-256 hash, not the MAC under the audit key (re-hashed without the key)"
            elif key is not None:
                reason = "MAC does not match the record content under the audit key"
            return AuditVerification(False, n - 1, previous, n, reason)
        previous = record["hash"]
    return AuditVerification(True, n, previous)
