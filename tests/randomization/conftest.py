"""Shared set-up for the service tests: a study like A2201 and one user per role."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")  # the service extra is part of the test extra: this guards only a core install

from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, make_url, text

from dosefinding.randomization.eligibility import A2201_RULES
from dosefinding.randomization.service import create_app
from dosefinding.randomization.store import ROLES, Store
from dosefinding.randomization.totp import decode_secret, hotp, time_step, totp
from system_tools import INSTALL_COMMAND, postgres_binaries

from .server import enrol_totp, password_of

ARMS = ["Placebo", "VAY736 5 mg", "VAY736 50 mg", "VAY736 300 mg"]
DOSES = {"Placebo": 0.0, "VAY736 5 mg": 5.0, "VAY736 50 mg": 50.0, "VAY736 300 mg": 300.0}
RULES = A2201_RULES.to_list()
STUDY = {"name": "A2201", "arms": ARMS, "strata": {"ESSDAI": [">=10", "<10"]}, "n_per_stratum": 40, "seed": 2201,
         "kit_seed": 2202, "user_seed": True, "doses": DOSES, "eligibility": RULES}
ELIGIBLE = {"AGE": 45, "ESSDAI7": 8, "ESSPRI": 6.5, "ANTIRO": True, "SALFLOW": 0.35}


# argon2id with a small cost, so that the many trials of the tests log in quickly; the service default is
# argon2-cffi's RFC 9106 low-memory profile (64 MiB, 3 passes), used by the tests that start a server.
FAST_KDF = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
SITES = ["100", "101", "102"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def enrol_and_login(client: Any, username: str, code: str, totp_secret: str | None = None) -> str:
    """Set the account's password with its enrolment code and return a session token."""
    r = client.post("/api/auth/enrol", json={"username": username, "code": code, "password": password_of(username)})
    assert r.status_code == 204, r.text
    return login(client, username, totp_secret)


def login(client: Any, username: str, totp_secret: str | None = None, t: float | None = None) -> str:
    body = {"username": username, "password": password_of(username)}
    if totp_secret is not None:
        body["totp"] = totp(decode_secret(totp_secret), time.time() if t is None else t)
    r = client.post("/api/auth/login", json=body)
    assert r.status_code == 200, r.text
    return r.json()["token"]


def grant(client: Any, admin_token: str, sponsor_token: str, username: str, kind: str, **extra: Any) -> str:
    """Propose a grant as the administrator, approve it as the sponsor; the combined enrolment code."""
    r = client.post("/api/admin/grants", json={"username": username, "grant": kind, **extra},
                    headers=bearer(admin_token))
    assert r.status_code == 201, r.text
    proposal = r.json()
    r = client.post(f"/api/grants/{proposal['id']}/approve", headers=bearer(sponsor_token))
    assert r.status_code == 200, r.text
    return f"{proposal['proposer_code']}.{r.json()['approver_code']}"


@dataclass
class Trial:
    client: TestClient
    tokens: dict[str, str]
    url: str
    store: Store
    totp_secrets: dict[str, str] = field(default_factory=dict)
    _steps: dict[str, int] = field(default_factory=dict)

    def call(self, role: str, method: str, path: str, **kw: Any) -> Any:
        return self.client.request(method, path, headers=bearer(self.tokens[role]), **kw)

    def screen(self, subject: str, data: dict[str, Any] | None = None, site: str = "101") -> Any:
        return self.call("investigator", "POST", "/api/subjects/screen",
                         json={"subject_id": subject, "site": site, "data": ELIGIBLE if data is None else data})

    def randomise(self, subject: str, essdai: str = ">=10") -> Any:
        return self.call("investigator", "POST", f"/api/subjects/{subject}/randomise",
                         json={"strata": {"ESSDAI": essdai}})

    def signature(self, role: str, username: str | None = None) -> dict[str, str]:
        """Password and a fresh TOTP code of ``role``'s account (each code is used once)."""
        username = username or f"{role}1"
        secret = self.totp_secrets.get(username)
        if secret is None:
            return {"password": password_of(username)}
        step = max(time_step(time.time()), self._steps.get(username, -1) + 1)
        self._steps[username] = step
        return {"password": password_of(username), "totp": hotp(decode_secret(secret), step)}

    def unblind(self, subject: str, reason: str = "suspected anaphylaxis", role: str = "investigator") -> Any:
        return self.call(role, "POST", f"/api/subjects/{subject}/unblind",
                         json={"reason": reason} | self.signature(role))


def make_trial(database: Path | str, study: dict[str, Any] | None = None, **app_options: Any) -> Trial:
    """A study set up by the administrator and one account per role, each logged in.

    The sponsor is created on the host; pharmacist and DMC are granted under the two-person
    rule; the investigator (sites 100-102) holds the emergency unblinding privilege; these four
    enrol a TOTP authenticator (``Trial.totp_secrets``). ``database`` is a SQLite file or a
    database URL (:class:`Backend`); ``app_options`` go to :func:`create_app` (e.g.
    ``api_docs=True``).
    """
    url = database if isinstance(database, str) else f"sqlite:///{database}"
    store = Store(url, password_hasher=FAST_KDF)
    client = TestClient(create_app(store=store, **app_options))
    tokens = {"admin": enrol_and_login(client, "admin", store.add_user("admin", "admin", bootstrap=True))}
    response = client.post("/api/admin/study", json=STUDY if study is None else study, headers=bearer(tokens["admin"]))
    assert response.status_code == 201, response.text
    tokens["sponsor"] = enrol_and_login(client, "sponsor1", store.accounts.host_account("sponsor1", "sponsor", "test"))
    secrets = {"sponsor1": enrol_totp(client, tokens["sponsor"])}
    for role in ("investigator", "blinded_statistician", "auditor"):
        r = client.post("/api/admin/users", headers=bearer(tokens["admin"]),
                        json={"username": f"{role}1", "role": role} | ({"sites": SITES} if role == "investigator" else {}))
        assert r.status_code == 201, r.text
        if role != "investigator":  # the investigator enrols with the code of its unblinding grant below
            tokens[role] = enrol_and_login(client, f"{role}1", r.json()["enrolment_code"])
    for role in ("pharmacist", "dmc"):
        tokens[role] = enrol_and_login(client, f"{role}1", grant(client, tokens["admin"], tokens["sponsor"],
                                                                 f"{role}1", role))
        secrets[f"{role}1"] = enrol_totp(client, tokens[role])
    code = grant(client, tokens["admin"], tokens["sponsor"], "investigator1", "emergency_unblinding")
    tokens["investigator"] = enrol_and_login(client, "investigator1", code)
    secrets["investigator1"] = enrol_totp(client, tokens["investigator"])
    trial = Trial(client=client, tokens=tokens, url=url, store=store, totp_secrets=secrets)
    assert set(tokens) == set(ROLES)
    return trial


@pytest.fixture(scope="session", autouse=True)
def session_audit_key_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The audit key of module-scoped trials: never the user's default key."""
    path = tmp_path_factory.mktemp("keys") / "audit.key"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DOSEFINDING_AUDIT_KEY_FILE", str(path))
        yield path


@pytest.fixture(autouse=True)
def audit_key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's audit key in its own directory (never the user's default key)."""
    path = tmp_path / "keys" / "audit.key"
    monkeypatch.setenv("DOSEFINDING_AUDIT_KEY_FILE", str(path))
    return path


@pytest.fixture
def trial(tmp_path: Path) -> Trial:
    return make_trial(tmp_path / "trial.db")


def _as_postgres(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class PostgresCluster:
    """A PostgreSQL server for the tests; :meth:`database` makes a fresh, empty database on it."""

    def __init__(self, url: str) -> None:
        self.url = url  # a maintenance database of a role that may create databases
        self.created: list[str] = []

    def database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:16]}"
        engine = create_engine(self.url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
        engine.dispose()
        self.created.append(name)
        return make_url(self.url).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        engine = create_engine(self.url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            for name in self.created:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        engine.dispose()


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """``DOSEFINDING_TEST_POSTGRES_URL`` if set, else a throw-away cluster (``initdb``, ``pg_ctl`` on a Unix
    socket, as the ``postgres`` user when root), one per session.

    Without the server binaries or the psycopg driver the PostgreSQL tests fail and say what to install
    (``scripts/test.py`` installs the binaries): a missing program is a broken set-up, not a gap to skip.
    """
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.fail("PostgreSQL driver psycopg not installed: pip install -e '.[test]'")
    if os.environ.get("DOSEFINDING_TEST_POSTGRES_URL"):
        cluster = PostgresCluster(os.environ["DOSEFINDING_TEST_POSTGRES_URL"])
        yield cluster
        cluster.drop_all()
        return
    binaries = postgres_binaries()
    if binaries is None:
        pytest.fail(f"no PostgreSQL server binaries (initdb, pg_ctl) and no DOSEFINDING_TEST_POSTGRES_URL: "
                    f"{INSTALL_COMMAND}")
    root = Path(tempfile.mkdtemp(prefix="dosefinding-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    data = root / "data"
    subprocess.run(_as_postgres([str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]),
                   check=True, capture_output=True)
    # a Unix socket only (no TCP port to collide with); max_connections for 50 clients plus the test's own
    subprocess.run(_as_postgres([str(binaries / "pg_ctl"), "-D", str(data), "-w", "-l", str(root / "log"), "-o",
                                 f"-k {root} -p 55439 -c listen_addresses='' -c fsync=on -c max_connections=200",
                                 "start"]), check=True, capture_output=True)
    try:
        yield PostgresCluster(f"postgresql+psycopg://postgres@/postgres?host={root}&port=55439")
    finally:
        subprocess.run(_as_postgres([str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]), check=False,
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class Backend:
    """The database of a test: ``sqlite`` (a file under the test's directory) or ``postgresql`` (a fresh
    database on the session's server)."""

    name: str
    cluster: PostgresCluster | None = None

    def database(self, directory: Path, stem: str = "trial") -> str:
        return self.cluster.database() if self.cluster is not None else f"sqlite:///{directory / stem}.db"


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> Backend:
    """The whole-service tests (load, SIGKILL, authorisation matrix, browser) run on both databases."""
    if request.param == "sqlite":
        return Backend("sqlite")
    return Backend("postgresql", request.getfixturevalue("postgres_cluster"))


def table_rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows, ordered: to show that a refused request changed nothing."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {t: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY 1"))]
                    for t in sorted(inspect(conn).get_table_names())}
    finally:
        engine.dispose()
