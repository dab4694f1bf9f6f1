"""Signed checkpoints of the audit trail, kept outside the database.

A checkpoint is a small JSON file: the sequence number and MAC of the trail's last record,
the number of records and the time, signed with HMAC-SHA256 under the checkpoint key derived
from the audit key (:class:`~dosefinding.randomization.auditkey.AuditKey`). Written by
``dosefinding audit-checkpoint DB --out FILE`` (say daily, to storage the database host cannot
rewrite: another machine, a WORM bucket, the sponsor's document system), it lets
``audit-verify --checkpoint FILE`` detect what a valid-looking chain cannot show by itself:
records removed from the end with the chain head moved back (truncation), the whole trail
deleted (wipe), and records up to the checkpoint rewritten (re-hashed tail).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dosefinding.errors import InputError
from dosefinding.randomization.audit import canonical_json
from dosefinding.randomization.auditkey import AuditKey

__all__ = ["FORMAT", "Checkpoint", "checkpoint_problems", "read_checkpoint", "sign_checkpoint", "write_checkpoint"]

FORMAT = "dosefinding-audit-checkpoint/1"


@dataclass(frozen=True)
class Checkpoint:
    """The head of the trail at one time, signed: ``seq`` and ``head_mac`` of the last record, ``count``, ``time``."""

    seq: int
    head_mac: str
    count: int
    time: str
    signature: str

    def payload(self) -> dict[str, Any]:
        """The signed fields."""
        return {"format": FORMAT, "seq": self.seq, "head_mac": self.head_mac, "count": self.count, "time": self.time}


def _signature(key: AuditKey, payload: Mapping[str, Any]) -> str:
    return hmac.new(key.checkpoint, canonical_json(payload).encode("utf-8"), hashlib.sha256).hexdigest()


def sign_checkpoint(key: AuditKey, seq: int, head_mac: str, count: int, time: str | None = None) -> Checkpoint:
    """A signed checkpoint of a trail whose last record is ``seq`` with MAC ``head_mac``.

    Examples
    --------
    >>> key = AuditKey(bytes(32))
    >>> cp = sign_checkpoint(key, 3, "ab" * 32, 3, time="2026-01-01T00:00:00+00:00")
    >>> cp.signature == sign_checkpoint(AuditKey(bytes(32)), 3, "ab" * 32, 3, time=cp.time).signature
    True
    """
    time = time or datetime.now(UTC).isoformat(timespec="seconds")
    unsigned = Checkpoint(seq, head_mac, count, time, "")
    return Checkpoint(seq, head_mac, count, time, _signature(key, unsigned.payload()))


def write_checkpoint(checkpoint: Checkpoint, path: str | os.PathLike[str]) -> Path:
    """Write a checkpoint file (new file only: a checkpoint is never overwritten)."""
    file = Path(path)
    try:
        with open(file, "x", encoding="utf-8") as out:
            out.write(json.dumps({**checkpoint.payload(), "signature": checkpoint.signature}, indent=1) + "\n")
    except FileExistsError:
        raise InputError(f"--out: '{file}' exists already; a checkpoint is never overwritten") from None
    except OSError as exc:
        raise InputError(f"--out: cannot write '{file}': {exc.strerror}") from None
    return file


def read_checkpoint(path: str | os.PathLike[str], key: AuditKey) -> Checkpoint:
    """Read a checkpoint file and check its signature; InputError naming the file otherwise.

    Examples
    --------
    >>> read_checkpoint("/no/such/checkpoint.json", AuditKey(bytes(32)))
    Traceback (most recent call last):
    ...
    dosefinding.errors.InputError: checkpoint: no file '/no/such/checkpoint.json'
    """
    file = Path(path)
    if not file.is_file():
        raise InputError(f"checkpoint: no file '{file}'")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        checkpoint = Checkpoint(int(data["seq"]), str(data["head_mac"]), int(data["count"]), str(data["time"]),
                                str(data["signature"]))
        valid_format = data.get("format") == FORMAT
    except (ValueError, KeyError, TypeError):
        raise InputError(f"checkpoint: '{file}' is not a checkpoint file") from None
    if not valid_format or not hmac.compare_digest(checkpoint.signature, _signature(key, checkpoint.payload())):
        raise InputError(f"checkpoint: '{file}' has no valid signature under this audit key (forged, edited or "
                         "signed with another key)")
    return checkpoint


def checkpoint_problems(checkpoint: Checkpoint, records: Sequence[Mapping[str, Any]], name: str = "") -> list[str]:
    """What the trail ``records`` (in order) lost or rewrote since ``checkpoint``, one line each.

    Examples
    --------
    >>> cp = sign_checkpoint(AuditKey(bytes(32)), 2, "ab" * 32, 2, time="2026-01-01T00:00:00+00:00")
    >>> checkpoint_problems(cp, [])
    ['checkpoint of 2026-01-01T00:00:00+00:00: the trail is empty but had 2 records (wiped)']
    """
    label = f"checkpoint {name} of {checkpoint.time}" if name else f"checkpoint of {checkpoint.time}"
    if not records:
        return [f"{label}: the trail is empty but had {checkpoint.count} records (wiped)"]
    last = records[-1]["seq"]
    if last < checkpoint.seq:
        return [f"{label}: the trail ends at record {last} but had {checkpoint.seq} records (truncated)"]
    at = next((r for r in records if r["seq"] == checkpoint.seq), None)
    problems = []
    if at is None or not hmac.compare_digest(str(at["hash"]), checkpoint.head_mac):
        problems.append(f"{label}: record {checkpoint.seq} does not have the MAC checkpointed (the trail up to the "
                        "checkpoint was rewritten)")
    count = sum(1 for r in records if r["seq"] <= checkpoint.seq)
    if count != checkpoint.count:
        problems.append(f"{label}: {count} records up to record {checkpoint.seq}, the checkpoint counted "
                        f"{checkpoint.count}")
    return problems

