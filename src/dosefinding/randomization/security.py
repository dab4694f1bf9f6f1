"""Hardening of the randomisation service: bounded set-up, seeds, request limits, headers, files.

- :func:`bounded_study_config` checks a study set-up against fixed bounds (arms, ratio,
  strata, block sizes, list length, rules) before anything is generated, so that no set-up
  can exhaust memory or time, and requires eligibility rules.
- Seeds are drawn by the server (128 bits, :func:`draw_seed`); a seed chosen by a user is
  accepted only with ``user_seed: true`` (validation and training runs), because whoever
  knows the seed knows every arm.
- :class:`BodyLimit` refuses a request body larger than the limit with 413 before the
  application reads it (by its ``Content-Length``, or while it streams in).
- :class:`SecurityHeaders` adds a content security policy without third-party sources
  (inline scripts allowed by their SHA-256 only), frame and content-type protections, no
  referrer, and ``Cache-Control: no-store`` to every response.
- :func:`csv_cell` neutralises a cell that a spreadsheet would run as a formula;
  :func:`write_private` and :func:`private_sqlite_file` create files readable by their owner only.
"""

from __future__ import annotations

import base64
import hashlib
import math
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from dosefinding.errors import InputError
from dosefinding.randomization.identifiers import FORMULA_LEADS, identifier

__all__ = [
    "LIMITS",
    "BodyLimit",
    "SecurityHeaders",
    "bounded_study_config",
    "content_security_policy",
    "csv_cell",
    "draw_seed",
    "private_sqlite_file",
    "screening_data",
    "write_private",
]

LIMITS = {
    "arms": 20, "ratio_entry": 20, "factors": 6, "levels": 20, "strata": 64, "block_multiples": 6,
    "block_multiple": 10, "block_size": 200, "n_per_stratum": 100_000, "entries": 900_000, "rules": 100,
    "seed_bits": 128, "body_bytes": 1 << 20,
}
"""The bounds of a study set-up and of a request body (bytes)."""


def draw_seed() -> int:
    """A fresh 128-bit seed from the operating system's generator.

    Examples
    --------
    >>> 0 <= draw_seed() < 2**128
    True
    """
    return secrets.randbits(LIMITS["seed_bits"])


def _count(values: Any, what: str, low: int, high: int) -> list[Any]:
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
        raise InputError(f"{what}: must be a list, got {type(values).__name__}")
    out = list(values)
    if not low <= len(out) <= high:
        raise InputError(f"{what}: need {low} to {high} entries, got {len(out)}")
    return out


def _integer(value: Any, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InputError(f"{what}: must be an integer from {low} to {high}, got {value!r}")
    return value


def bounded_study_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The set-up with normalised names and drawn seeds, or InputError naming the field out of bounds.

    Examples
    --------
    >>> cfg = bounded_study_config({"name": "S", "arms": ["A", "B"], "n_per_stratum": 10,
    ...                             "eligibility": [{"id": "AGE", "field": "AGE", "op": ">=", "value": 18}]})
    >>> cfg["seed"] >= 0 and cfg["kit_seed"] >= 0 and cfg["strata"] == {}
    True
    >>> bounded_study_config({"name": "S", "arms": ["A", "B"], "n_per_stratum": 10})
    Traceback (most recent call last):
    ...
    dosefinding.errors.InputError: eligibility: a study needs its inclusion rules (the A2201 preset has an example)
    """
    cfg = dict(config)
    cfg["name"] = identifier(cfg.get("name", "study"), "name", max_length=200)
    arms = _count(cfg.get("arms"), "arms", 2, LIMITS["arms"])
    cfg["arms"] = [identifier(a, f"arms[{i}]") for i, a in enumerate(arms)]
    if cfg.get("ratio") is not None:
        ratio = _count(cfg["ratio"], "ratio", len(arms), len(arms))
        cfg["ratio"] = [_integer(r, f"ratio[{i}]", 1, LIMITS["ratio_entry"]) for i, r in enumerate(ratio)]
    unit = sum(cfg.get("ratio") or [1] * len(arms))
    strata = cfg.get("strata") or {}
    if not isinstance(strata, Mapping) or len(strata) > LIMITS["factors"]:
        raise InputError(f"strata: at most {LIMITS['factors']} factors, got {len(strata) if isinstance(strata, Mapping) else strata!r}")
    cfg["strata"] = {
        identifier(f, "strata factor"): [identifier(v, f"strata[{f!r}]") for v in _count(lv, f"strata[{f!r}]", 2,
                                                                                           LIMITS["levels"])]
        for f, lv in strata.items()
    }
    n_strata = math.prod(len(lv) for lv in cfg["strata"].values())
    if n_strata > LIMITS["strata"]:
        raise InputError(f"strata: the factors cross into {n_strata} strata, more than {LIMITS['strata']}")
    multiples = _count(cfg.get("block_multiples", (1, 2)), "block_multiples", 1, LIMITS["block_multiples"])
    cfg["block_multiples"] = [_integer(m, f"block_multiples[{i}]", 1, LIMITS["block_multiple"])
                              for i, m in enumerate(multiples)]
    if max(cfg["block_multiples"]) * unit > LIMITS["block_size"]:
        raise InputError(f"block_multiples: blocks of {max(cfg['block_multiples']) * unit} entries, more than "
                         f"{LIMITS['block_size']}")
    n = _integer(cfg.get("n_per_stratum"), "n_per_stratum", 1, LIMITS["n_per_stratum"])
    if cfg.get("method", "permuted_blocks") == "permuted_blocks":
        entries = n_strata * (n + max(cfg["block_multiples"]) * unit)
    else:
        entries = n
    if entries > LIMITS["entries"]:
        raise InputError(f"n_per_stratum: the list could need {entries} entries (kit numbers), more than "
                         f"{LIMITS['entries']}")
    if not cfg.get("eligibility"):
        raise InputError("eligibility: a study needs its inclusion rules (the A2201 preset has an example)")
    _count(cfg["eligibility"], "eligibility", 1, LIMITS["rules"])
    if cfg.get("doses") is not None:
        doses = cfg["doses"]
        if not isinstance(doses, Mapping) or not all(isinstance(d, (int, float)) and not isinstance(d, bool)
                                                     and math.isfinite(d) for d in doses.values()):
            raise InputError(f"doses: must map each arm to a finite number, got {doses!r}")
        cfg["doses"] = {identifier(a, "doses arm"): float(d) for a, d in doses.items()}
    user_seed = bool(cfg.pop("user_seed", False))
    for key in ("seed", "kit_seed"):
        if cfg.get(key) is None:
            cfg[key] = draw_seed()
        elif not user_seed:
            raise InputError(f"{key}: a seed chosen by a user lets whoever knows it regenerate the list; leave it "
                             "out (the server draws one) or set user_seed: true for a validation or training study")
        else:
            cfg[key] = _integer(cfg[key], key, 0, 2 ** LIMITS["seed_bits"] - 1)
    cfg["user_seed"] = user_seed
    return cfg


def csv_cell(value: Any) -> Any:
    """``value`` with a leading ``'`` if a spreadsheet would read it as a formula (text only).

    Examples
    --------
    >>> csv_cell('=HYPERLINK("http://x", "click")'), csv_cell("-1"), csv_cell(-1)
    ('\\'=HYPERLINK("http://x", "click")', "'-1", -1)
    """
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_LEADS) else value


def _script_hashes(pages: Iterable[str], tag: str) -> str:
    pattern = re.compile(rf"<{tag}>(.*?)</{tag}>", re.DOTALL)
    found = sorted({
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode("ascii") + "'"
        for page in pages for body in pattern.findall(page)
    })
    return " ".join(found) or "'none'"


def content_security_policy(pages: Iterable[str]) -> str:
    """A policy allowing the inline scripts and styles of ``pages`` (by hash) and nothing from elsewhere.

    Examples
    --------
    >>> content_security_policy(["<script>1</script>"]).split("; ")[1]
    "script-src 'sha256-a4ayc/80/OGda4BO/1o/V0etpOqiLx1JwB5S3beHW0s='"
    """
    pages = list(pages)
    return "; ".join([
        "default-src 'none'", f"script-src {_script_hashes(pages, 'script')}",
        f"style-src {_script_hashes(pages, 'style')}", "connect-src 'self'", "img-src 'self'",
        "form-action 'none'", "frame-ancestors 'none'", "base-uri 'none'",
    ])


class SecurityHeaders:
    """ASGI middleware adding the security headers to every HTTP response."""

    def __init__(self, app: Any, policy: str) -> None:
        self.app = app
        self.headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in {
            "content-security-policy": policy,
            "x-frame-options": "DENY",
            "x-content-type-options": "nosniff",
            "referrer-policy": "no-referrer",
            "cache-control": "no-store",
            "pragma": "no-cache",
            "cross-origin-opener-policy": "same-origin",
            "cross-origin-resource-policy": "same-origin",
        }.items()]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = list(self.headers)
        if scope.get("scheme") == "https":
            extra.append((b"strict-transport-security", b"max-age=31536000"))

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                names = {k for k, _ in extra}
                message = dict(message)
                message["headers"] = [h for h in message.get("headers", []) if h[0].lower() not in names] + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimit:
    """ASGI middleware: a body over ``max_bytes`` gets 413 without being read (or as soon as it exceeds)."""

    def __init__(self, app: Any, max_bytes: int = LIMITS["body_bytes"]) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _refuse(self, send: Any) -> None:
        body = b'{"detail":"request body too large: at most %d bytes"}' % self.max_bytes
        await send({"type": "http.response.start", "status": 413, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or len(declared) > 18 or int(declared) > self.max_bytes):
            await self._refuse(send)
            return
        received = 0
        started = refused = False

        async def counted_receive() -> Any:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes and not started:
                    # Answer now and tell the application the client has gone; it cannot swallow this.
                    refused = True
                    await self._refuse(send)
                    return {"type": "http.disconnect"}
            return message

        async def tracked_send(message: Any) -> None:
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counted_receive, tracked_send)


def write_private(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` readable and writable by its owner only (0600, also if it existed; not
    through a symbolic link).

    Examples
    --------
    >>> import tempfile, stat
    >>> p = Path(tempfile.mkdtemp()) / "token"
    >>> write_private(p, "secret")
    >>> oct(stat.S_IMODE(p.stat().st_mode))
    '0o600'
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)


def private_sqlite_file(database_url: str) -> None:
    """Create the SQLite file of ``database_url`` empty with mode 0600 if it does not exist yet.

    SQLite creates its ``-wal`` and ``-shm`` files with the database file's permissions, so
    the whole database stays readable by its owner only.

    Examples
    --------
    >>> import tempfile, stat
    >>> p = Path(tempfile.mkdtemp()) / "r.db"
    >>> private_sqlite_file(f"sqlite:///{p}")
    >>> oct(stat.S_IMODE(p.stat().st_mode))
    '0o600'
    """
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return
    path = Path(url.database)
    if not path.exists() and path.parent.is_dir():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def screening_data(data: Any) -> dict[str, Any]:
    """Screening values: at most 100 fields named by identifiers, each a boolean, a finite number
    (integers within +-2**53), a short text or null; InputError names the field at fault.

    Examples
    --------
    >>> screening_data({"AGE": 45, "ANTIRO": True})
    {'AGE': 45, 'ANTIRO': True}
    >>> screening_data({"AGE": 10**400})
    Traceback (most recent call last):
    ...
    dosefinding.errors.InputError: data['AGE']: must be a finite number within +-2**53, got an integer of 401 digits
    """
    if not isinstance(data, Mapping) or len(data) > LIMITS["rules"]:
        raise InputError(f"data: must be an object of at most {LIMITS['rules']} fields")
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = identifier(key, "data field")
        where = f"data[{name!r}]"
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
            raise InputError(f"{where}: must be a finite number within +-2**53, got an integer of "
                             f"{len(str(abs(value)))} digits")
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError(f"{where}: must be a finite number, got {value!r}")
        if isinstance(value, str):
            value = identifier(value, where, max_length=200)
        elif value is not None and not isinstance(value, (bool, int, float)):
            raise InputError(f"{where}: must be a boolean, a number, a text or null, got {type(value).__name__}")
        out[name] = value
    return out
