"""Time-based one-time passwords (RFC 6238) on HMAC-based one-time passwords (RFC 4226).

A code is the last ``digits`` decimal digits of a dynamically truncated HMAC of the time
step counter ``floor((t - t0) / step)``. The secret is exchanged as unpadded base32, the
form authenticator apps read from an ``otpauth://`` URI.

Examples
--------
>>> hotp(b"12345678901234567890", 0)   # RFC 4226, appendix D
'755224'
>>> totp(b"12345678901234567890", 59, digits=8)  # RFC 6238, appendix B
'94287082'
"""

from __future__ import annotations

import base64
import hmac
import secrets
from urllib.parse import quote, urlencode

__all__ = ["decode_secret", "hotp", "new_secret", "provisioning_uri", "time_step", "totp", "verify_totp"]

STEP_SECONDS = 30
DIGITS = 6


def hotp(key: bytes, counter: int, *, digits: int = DIGITS, digest: str = "sha1") -> str:
    """The HOTP value of ``counter`` (RFC 4226 section 5.3: dynamic truncation, modulo 10**digits).

    Examples
    --------
    >>> [hotp(b"12345678901234567890", c) for c in (1, 9)]
    ['287082', '520489']
    """
    mac = hmac.new(key, counter.to_bytes(8, "big"), digest).digest()
    offset = mac[-1] & 0x0F
    value = int.from_bytes(mac[offset:offset + 4], "big") & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def time_step(t: float, *, step: int = STEP_SECONDS, t0: int = 0) -> int:
    """The RFC 6238 counter of time ``t`` (seconds since the epoch).

    Examples
    --------
    >>> time_step(59), time_step(60)
    (1, 2)
    """
    return int((t - t0) // step)


def totp(key: bytes, t: float, *, step: int = STEP_SECONDS, t0: int = 0, digits: int = DIGITS,
         digest: str = "sha1") -> str:
    """The TOTP code at time ``t``.

    Examples
    --------
    >>> totp(b"12345678901234567890" * 3 + b"1234", 1111111109, digits=8, digest="sha512")
    '25091201'
    """
    return hotp(key, time_step(t, step=step, t0=t0), digits=digits, digest=digest)


def verify_totp(key: bytes, code: str, t: float, *, last_counter: int | None = None, window: int = 1) -> int | None:
    """The counter that ``code`` matches within ``window`` steps of ``t``, or None.

    A counter at or before ``last_counter`` (the last code accepted) is refused, so a code
    works once.

    Examples
    --------
    >>> key = b"12345678901234567890"
    >>> verify_totp(key, totp(key, 1000.0), 1010.0)
    33
    >>> verify_totp(key, totp(key, 1000.0), 1010.0, last_counter=33) is None
    True
    """
    if not isinstance(code, str) or len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    now = time_step(t)
    for counter in range(now - window, now + window + 1):
        if (last_counter is None or counter > last_counter) and hmac.compare_digest(hotp(key, counter), code):
            return counter
    return None


def new_secret() -> str:
    """A new 160-bit secret as unpadded base32 (RFC 4226 recommends 160 bits).

    Examples
    --------
    >>> len(decode_secret(new_secret()))
    20
    """
    return base64.b32encode(secrets.token_bytes(20)).decode("ascii").rstrip("=")


def decode_secret(secret: str) -> bytes:
    """The key bytes of an unpadded base32 secret.

    Examples
    --------
    >>> decode_secret("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")
    b'12345678901234567890'
    """
    return base64.b32decode(secret + "=" * (-len(secret) % 8))


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The ``otpauth://totp/`` URI an authenticator app reads (usually from a QR code).

    Examples
    --------
    >>> provisioning_uri("GEZDGNBV", "inv 1", "A2201")
    'otpauth://totp/A2201:inv%201?secret=GEZDGNBV&issuer=A2201&algorithm=SHA1&digits=6&period=30'
    """
    label = quote(f"{issuer}:{account}", safe=":")
    query = urlencode({"secret": secret, "issuer": issuer, "algorithm": "SHA1", "digits": DIGITS,
                       "period": STEP_SECONDS})
    return f"otpauth://totp/{label}?{query}"
