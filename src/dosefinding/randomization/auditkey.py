"""The secret key of the audit trail, kept in a file outside the database.

The chain of audit records is keyed (HMAC-SHA256, :func:`dosefinding.randomization.audit.record_mac`):
whoever holds only the database file can edit it but cannot compute the MACs of edited records,
so re-hashing the tail after an edit no longer hides it. The key is 32 random bytes, stored as
64 hexadecimal characters in a file created with mode 0600. Its path comes from, in order: an
explicit argument (``--audit-key-file``), the environment variable ``DOSEFINDING_AUDIT_KEY_FILE``,
or ``$XDG_CONFIG_HOME/dosefinding/audit.key`` (``~/.config/dosefinding/audit.key``). Keep the key
on another volume than the database (or in a secrets manager that writes the file at start-up)
and keep a copy offline: without it the trail can still be read but no longer verified.

Two keys are derived from it, so that a MAC of one kind can never pass for the other: one for
the chain of records and the commitments inside them, one for exported checkpoints.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from dosefinding.errors import InputError

__all__ = ["AUDIT_KEY_ENV", "AuditKey", "create_key_file", "default_key_path", "key_path", "read_key_file"]

AUDIT_KEY_ENV = "DOSEFINDING_AUDIT_KEY_FILE"


@dataclass(frozen=True)
class AuditKey:
    """The audit key and the sub-keys derived from it; ``path`` says where it was read from.

    Examples
    --------
    >>> key = AuditKey(bytes(32))
    >>> len(key.chain) == len(key.checkpoint) == 32 and key.chain != key.checkpoint
    True
    >>> key.mac("arm", 10001, "Placebo") == key.mac("arm", 10002, "Placebo")
    False
    """

    secret: bytes
    path: str | None = None

    @classmethod
    def random(cls) -> AuditKey:
        """A fresh key held only in memory (for an in-memory database)."""
        return cls(secrets.token_bytes(32))

    @property
    def chain(self) -> bytes:
        """The key of the record chain and of the commitments inside records."""
        return hmac.new(self.secret, b"dosefinding audit chain", hashlib.sha256).digest()

    @property
    def checkpoint(self) -> bytes:
        """The key that signs exported checkpoints."""
        return hmac.new(self.secret, b"dosefinding audit checkpoint", hashlib.sha256).digest()

    def mac(self, *parts: object) -> str:
        """A keyed commitment (hex) to ``parts``: hides a value from readers of the trail, binds it for the key holder."""
        text = "\x1f".join(str(p) for p in parts)
        return hmac.new(self.chain, text.encode("utf-8"), hashlib.sha256).hexdigest()


def default_key_path() -> Path:
    """``$XDG_CONFIG_HOME/dosefinding/audit.key`` (``~/.config`` when the variable is unset)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "dosefinding" / "audit.key"


def key_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The key file to use: ``path``, else ``$DOSEFINDING_AUDIT_KEY_FILE``, else :func:`default_key_path`.

    Examples
    --------
    >>> str(key_path("/secrets/trial.key"))
    '/secrets/trial.key'
    """
    if path is not None:
        return Path(path)
    from_env = os.environ.get(AUDIT_KEY_ENV)
    return Path(from_env) if from_env else default_key_path()


def read_key_file(path: str | os.PathLike[str]) -> AuditKey:
    """Read a key file (64 hexadecimal characters); InputError naming the file if missing or malformed.

    Examples
    --------
    >>> read_key_file("/no/such/audit.key")
    Traceback (most recent call last):
    ...
    dosefinding.errors.InputError: audit key: no key file '/no/such/audit.key' (set DOSEFINDING_AUDIT_KEY_FILE or \
pass --audit-key-file)
    """
    file = Path(path)
    if not file.is_file():
        raise InputError(f"audit key: no key file '{file}' (set {AUDIT_KEY_ENV} or pass --audit-key-file)")
    try:
        text = file.read_text(encoding="ascii", errors="replace").strip()
    except OSError as exc:
        raise InputError(f"audit key: cannot read '{file}': {exc.strerror}") from None
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        secret = b""
    if len(secret) != 32:
        raise InputError(f"audit key: '{file}' does not hold a key (64 hexadecimal characters)")
    return AuditKey(secret, str(file))


def create_key_file(path: str | os.PathLike[str]) -> AuditKey:
    """Create a new random key file with mode 0600 (its directory 0700 if new); refuses to overwrite.

    Examples
    --------
    >>> import tempfile, stat
    >>> with tempfile.TemporaryDirectory() as d:
    ...     key = create_key_file(f"{d}/keys/audit.key")
    ...     oct(stat.S_IMODE(os.stat(key.path).st_mode)), read_key_file(key.path) == key
    ('0o600', True)
    """
    file = Path(path)
    file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = AuditKey.random()
    try:
        descriptor = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InputError(f"audit key: '{file}' exists already; it is never overwritten") from None
    with os.fdopen(descriptor, "w", encoding="ascii") as out:
        out.write(key.secret.hex() + "\n")
    return AuditKey(key.secret, str(file))
