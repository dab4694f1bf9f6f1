"""Start ``dosefinding serve`` in a subprocess on a free loopback port, for the load and browser tests.

Accounts are made as in production: the administrator enrols with the code ``serve`` writes,
the sponsor is created on the host (the database), unblinded roles under the two-person rule.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from dosefinding.randomization.store import existing_store
from dosefinding.randomization.totp import decode_secret, totp


def password_of(username: str) -> str:
    """The test password of an account (the tests enrol every account with it)."""
    return f"pass phrase of {username}"


def enrol_and_login(url: str, username: str, code: str, *, verify: Any = True) -> str:
    """Set the account's password with its enrolment code; a session token (``verify``: httpx's TLS check)."""
    r = httpx.post(url + "/api/auth/enrol", json={"username": username, "code": code, "password": password_of(username)},
                   timeout=60, verify=verify)
    assert r.status_code == 204, r.text
    r = httpx.post(url + "/api/auth/login", json={"username": username, "password": password_of(username)}, timeout=60,
                   verify=verify)
    assert r.status_code == 200, r.text
    return str(r.json()["token"])


def enrol_totp(client: Any, token: str) -> str:
    """Enrol an authenticator for the account of ``token`` (``client``: a TestClient or an httpx.Client with a
    base URL); returns its secret."""
    r = client.post("/api/auth/totp", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    secret = str(r.json()["secret"])
    # the code of the previous step, so that the next login or signature (this step's code) is not a replay; not
    # in the last seconds of a step, where the server's next step would no longer accept the previous one
    time.sleep(max(0.0, (time.time() % 30) - 28.0) and 30.05 - time.time() % 30)
    code = totp(decode_secret(secret), time.time() - 30)
    r = client.post("/api/auth/totp/confirm", json={"code": code}, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 204, r.text
    return secret


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    db: str  # the database URL
    admin_token: str
    totp_secrets: dict[str, str] = field(default_factory=dict)

    def account(self, username: str, role: str, **extra: Any) -> str:
        """Create a blinded-role account as the administrator; its session token."""
        r = httpx.post(self.url + "/api/admin/users", json={"username": username, "role": role, **extra},
                       headers={"Authorization": f"Bearer {self.admin_token}"}, timeout=60)
        assert r.status_code == 201, r.text
        return enrol_and_login(self.url, username, r.json()["enrolment_code"])

    def granted_account(self, username: str, role: str, *, enrol_authenticator: bool = True) -> str:
        """An unblinded-role account: proposed by the administrator, approved by a host-made sponsor; both enrol a
        TOTP authenticator (its secret in ``totp_secrets``), the grantee only if ``enrol_authenticator``."""
        host = existing_store(self.db)
        code = host.accounts.host_account(f"sponsor-for-{username}", "sponsor", "test")
        host.engine.dispose()
        sponsor = enrol_and_login(self.url, f"sponsor-for-{username}", code)
        with httpx.Client(base_url=self.url, timeout=60) as client:
            enrol_totp(client, sponsor)
        r = httpx.post(self.url + "/api/admin/grants", json={"username": username, "grant": role},
                       headers={"Authorization": f"Bearer {self.admin_token}"}, timeout=60)
        assert r.status_code == 201, r.text
        proposal = r.json()
        r = httpx.post(self.url + f"/api/grants/{proposal['id']}/approve",
                       headers={"Authorization": f"Bearer {sponsor}"}, timeout=60)
        assert r.status_code == 200, r.text
        token = enrol_and_login(self.url, username, f"{proposal['proposer_code']}.{r.json()['approver_code']}")
        if enrol_authenticator:
            with httpx.Client(base_url=self.url, timeout=60) as client:
                self.totp_secrets[username] = enrol_totp(client, token)
        return token

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def start_server(db: Path | str, token_file: Path, timeout: float = 600.0, *, certfile: Path | None = None,
                 keyfile: Path | None = None) -> Server:
    """Run the service on ``db`` (a SQLite file or a database URL without a password) and wait until it answers
    (over HTTPS with ``certfile`` and ``keyfile``).

    The wait is on readiness (the server answers, or its process exits with its error); ``timeout``
    only guards against a hang, long enough for a machine busy with the whole suite.

    On a new database the first administrator's enrolment code is written to ``token_file``;
    the administrator enrols and logs in, and ``admin_token`` is that session's token.
    """
    port = free_port()
    db_url = db if isinstance(db, str) else f"sqlite:///{db}"
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "dosefinding.cli", "serve", "--db", db_url, "--host", "127.0.0.1", "--port", str(port),
         "--admin-code-file", str(token_file)]
        + (["--certfile", str(certfile), "--keyfile", str(keyfile)] if certfile is not None and keyfile is not None else []),
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    url = f"{'https' if certfile is not None else 'http'}://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"server exited: {process.stderr.read().decode() if process.stderr else ''}")
            try:
                verify = ssl.create_default_context(cafile=certfile) if certfile else True
                if httpx.get(url + "/", timeout=1.0, verify=verify).status_code == 200:
                    code = token_file.read_text().strip() if token_file.exists() else ""
                    return Server(process, url, db_url, enrol_and_login(url, "admin", code, verify=verify) if code else "")
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("server did not start in time")
    except BaseException:
        process.kill()
        process.wait(10)
        raise
