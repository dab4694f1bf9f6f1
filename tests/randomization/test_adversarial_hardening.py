"""Adversarial tests of the service's hardening (issue 14): blinding from inside, bad input, headers, files.

The blinding test runs the same sequence of actions on two trials whose lists come from
different seeds (so every subject may get another arm, and the list's length per stratum
differs) and requires every answer a blinded role gets to be identical in content, size and
order: JSON, pages, the API schema, exports, kit numbers, minimisation allocations and error
messages. A kit number built from the arm, a digest of the list or an error that depends on
the list's length fails it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest

from dosefinding.cli import main
from dosefinding.randomization.service import create_app
from system_tools import INSTALL_COMMAND

from .conftest import ARMS, ELIGIBLE, RULES, STUDY, Trial, bearer, enrol_and_login, make_trial

BLINDED = ("investigator", "blinded_statistician", "auditor", "admin", "sponsor")
FACTORS = {"ESSDAI": [">=10", "<10"], "REGION": ["Japan", "Other"]}
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00")
HEX = re.compile(r"\b[0-9a-f]{64}\b")
TOKEN = re.compile(r"\b\d+\.[A-Za-z0-9_-]{43}\b")
CODE = re.compile(r'(?<=_code":")[A-Za-z0-9_-]{32}(?=")')  # enrolment codes and their halves: random, as tokens


def _same_size_mask(text: str) -> str:
    """Time stamps, chain hashes, tokens and enrolment codes replaced by placeholders of the same length."""
    for pattern, mark in ((ISO, "T"), (HEX, "H"), (TOKEN, "K"), (CODE, "C")):
        text = pattern.sub(lambda m, c=mark: c * len(m.group()), text)
    return text


def _permuted_actions(trial: Trial) -> None:
    """Screen and randomise; the stratum ESSDAI >=10 (capacity 6) is asked for a 7th, 8th and 9th subject."""
    for k in range(12):
        assert trial.screen(f"S{k}", site=f"10{k % 3}").status_code == 201
        trial.randomise(f"S{k}", essdai=">=10" if k < 9 else "<10")


PERMUTED_RANDOMISED = [f"S{k}" for k in (0, 1, 2, 3, 4, 5, 9, 10, 11)]
MINIMISED = [f"S{k}" for k in range(16)]


def _minimisation_actions(trial: Trial) -> None:
    for k in range(16):
        assert trial.screen(f"S{k}", site=f"10{k % 3}").status_code == 201
        strata = {"ESSDAI": FACTORS["ESSDAI"][k % 2], "REGION": FACTORS["REGION"][(k // 3) % 2]}
        assert trial.call("investigator", "POST", f"/api/subjects/S{k}/randomise", json={"strata": strata}) \
            .status_code == 201


def _session(trial: Trial, actions: Any, randomised: list[str]) -> tuple[list[tuple[str, str, int, int, str]], list[str]]:
    """Act, then let the unblinded roles do their part, then record every answer of every blinded role."""
    actions(trial)
    trial.screen("BAD", data=ELIGIBLE | {"AGE": 90})
    arms = [trial.call("pharmacist", "GET", f"/api/pharmacy/subjects/{s}").json()["arm"] for s in randomised]
    assert trial.unblind("S2").status_code == 200
    for path in ("/api/reports/unblinded", "/api/export/list", "/api/export/adsl"):
        trial.call("dmc", "GET", path)
    requests: list[tuple[str, str, Any]] = [
        ("GET", "/", None), ("GET", "/pharmacy", None), ("GET", "/openapi.json", None), ("GET", "/docs", None),
        ("GET", "/api/me", None), ("GET", "/api/study", None), ("GET", "/api/reports/blinded", None),
        ("GET", "/api/reports/unblinding", None), ("GET", "/api/reports/unblinded", None),
        ("GET", "/api/audit", None), ("GET", "/api/audit/verify", None), ("GET", "/api/list/verify", None),
        ("GET", "/api/audit/export.csv", None), ("GET", "/api/audit/export.html", None),
        ("GET", "/api/export/list", None), ("GET", "/api/export/adsl", None),
        ("GET", "/api/pharmacy/subjects/S1", None),
        ("POST", "/api/subjects/S3/randomise", {"strata": {}}),
        ("POST", "/api/subjects/BAD/randomise", {"strata": {}}),
        ("POST", "/api/subjects/S1/unblind", {"reason": ""}),
        ("POST", "/api/subjects/NOPE/unblind", {"reason": "serious adverse event"}),
        ("POST", "/api/admin/study", STUDY),
        # the accounts' endpoints: grants, the signature's meaning, a repeated (signed) unblinding, logins that fail
        ("GET", "/api/grants", None), ("GET", "/api/unblinding/meaning", None),
        ("POST", "/api/admin/grants", {"username": "dmc2", "grant": "dmc"}), ("POST", "/api/grants/1/approve", None),
        ("POST", "/api/grants/1/reject", None),
        ("POST", "/api/subjects/S2/unblind", {"reason": "suspected anaphylaxis", "password": "wrong", "totp": "0"}),
        ("POST", "/api/auth/login", {"username": "nobody", "password": "no such password"}),
        ("POST", "/api/auth/enrol", {"username": "nobody", "code": "x.y", "password": "no such password"}),
    ] + [("GET", f"/api/subjects/{s}", None) for s in ("S0", "S2", "S5", "S7", "S9", "BAD", "NOPE")]
    seen = []
    for role in BLINDED:
        for method, path, body in requests:
            r = trial.call(role, method, path, json=body)
            seen.append((role, path, r.status_code, len(r.content), _same_size_mask(r.text)))
    return seen, arms


def _assert_blinded_answers_identical(a: Trial, b: Trial, actions: Any, randomised: list[str]) -> None:
    seen_a, arms_a = _session(a, actions, randomised)
    seen_b, arms_b = _session(b, actions, randomised)
    assert arms_a != arms_b  # the lists differ where the subjects are
    assert len(seen_a) == len(seen_b) > 100
    for x, y in zip(seen_a, seen_b, strict=True):
        assert x == y, (x[:3], y[:3])  # role, path, status: content, size and order all equal


def test_blinded_answers_do_not_depend_on_the_seed_or_the_list(tmp_path: Path) -> None:
    """Two lists from different seeds (same kit seed): blinded roles see exactly the same service."""
    study = STUDY | {"n_per_stratum": 6, "block_multiples": [1, 2]}
    first = make_trial(tmp_path / "a.db", study | {"seed": 14}, api_docs=True)
    second = make_trial(tmp_path / "b.db", study | {"seed": 11}, api_docs=True)
    lengths = [len(t.call("dmc", "GET", "/api/export/list").json()["csv"].splitlines()) for t in (first, second)]
    assert lengths[0] != lengths[1]  # the lists' lengths differ too: an exhausted stratum must not say so
    _assert_blinded_answers_identical(first, second, _permuted_actions, PERMUTED_RANDOMISED)


def test_blinded_answers_do_not_depend_on_the_minimisation_seed(tmp_path: Path) -> None:
    study = {"name": "A2201-min", "arms": ARMS, "strata": FACTORS, "method": "minimisation", "n_per_stratum": 100,
             "p": 0.8, "kit_seed": 5, "user_seed": True, "eligibility": RULES}
    first = make_trial(tmp_path / "a.db", study | {"seed": 1}, api_docs=True)
    second = make_trial(tmp_path / "b.db", study | {"seed": 2}, api_docs=True)
    _assert_blinded_answers_identical(first, second, _minimisation_actions, MINIMISED)


def test_a_kit_number_that_encodes_the_arm_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test above fails for a leak that encodes the arm's position: kit numbers built from the arm."""
    from dosefinding.randomization import store as store_module

    real = store_module.permuted_block_list

    def leaky(*args: Any, **kw: Any) -> Any:
        lst = real(*args, **kw)
        arm_index = lst.table["ARM"].map({a: i for i, a in enumerate(lst.arms)})
        lst.table["KITNO"] = lst.table["KITNO"] // 10 * 10 + arm_index
        return lst

    monkeypatch.setattr(store_module, "permuted_block_list", leaky)
    study = STUDY | {"n_per_stratum": 6}
    first = make_trial(tmp_path / "a.db", study | {"seed": 14})
    second = make_trial(tmp_path / "b.db", study | {"seed": 11})
    with pytest.raises(AssertionError):
        _assert_blinded_answers_identical(first, second, _permuted_actions, PERMUTED_RANDOMISED)


# --- the list digest and seeds ------------------------------------------------------------


def test_list_digest_only_for_unblinded_roles(trial: Trial) -> None:
    for role in BLINDED:
        assert "list_sha256" not in trial.call(role, "GET", "/api/study").json()
    for role in ("auditor", "admin"):
        assert "list_sha256" not in trial.call(role, "GET", "/api/list/verify").json()
    records = trial.call("auditor", "GET", "/api/audit").json()
    digest = trial.call("dmc", "GET", "/api/study").json()["list_sha256"]
    assert digest not in json.dumps(records)
    assert trial.call("pharmacist", "GET", "/api/study").json()["list_sha256"] == digest


def test_server_draws_a_128_bit_seed_and_a_user_seed_needs_the_flag(tmp_path: Path) -> None:
    drawn = make_trial(tmp_path / "drawn.db", {k: v for k, v in STUDY.items() if k not in ("seed", "kit_seed",
                                                                                          "user_seed")})
    parameters = drawn.call("dmc", "GET", "/api/export/list").json()["parameters"]
    # 64 or fewer bits for both seeds has probability 2**-128 with 128-bit draws
    assert max(parameters["seed"], parameters["kit_seed"]) >= 2**64
    trial = make_trial(tmp_path / "t.db", STUDY | {"n_per_stratum": 4})
    app = create_app(f"sqlite:///{tmp_path / 'u.db'}")
    from fastapi.testclient import TestClient

    admin = enrol_and_login(TestClient(app), "admin", app.state.store.add_user("admin", "admin", bootstrap=True))
    r = TestClient(app).post("/api/admin/study", json={k: v for k, v in STUDY.items() if k != "user_seed"},
                             headers=bearer(admin))
    assert r.status_code == 422 and "seed: a seed chosen by a user" in r.json()["detail"]
    assert trial.call("dmc", "GET", "/api/export/list").json()["parameters"]["seed"] == 2201


# --- request size, malformed input --------------------------------------------------------


def test_a_200_mib_unauthenticated_body_is_refused_unread(tmp_path: Path) -> None:
    app = create_app(f"sqlite:///{tmp_path / 'r.db'}")
    sent: list[dict[str, Any]] = []
    read: list[int] = []

    async def receive() -> dict[str, Any]:
        read.append(1)  # 200 chunks of 1 MiB
        return {"type": "http.request", "body": b"x" * (1 << 20), "more_body": len(read) < 200}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/api/subjects/screen", "raw_path": b"/api/subjects/screen", "query_string": b"",
             "root_path": "", "headers": [(b"content-type", b"application/json"),
                                          (b"content-length", str(200 << 20).encode())],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 413 and read == []
    # Without a Content-Length (chunked), reading stops at the limit.
    scope["headers"] = [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")]
    sent.clear()
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 413 and len(read) <= 2


MALFORMED = [
    ("token of 5,000 digits", "GET", "/api/me", {"Authorization": "Bearer " + "9" * 5000 + ".x"}, None, 401),
    ("token id past 64 bits", "GET", "/api/me", {"Authorization": "Bearer 99999999999999999999999.abc"}, None, 401),
    ("token with non-ASCII digits", "GET", "/api/me", {"Authorization": "Bearer \u0661\u0662.abc".encode()}, None, 401),
    ("audit offset past 64 bits", "GET", "/api/audit?after=1000000000000000000000000000000", "auditor", None, 422),
    ("ttl_hours 1e308", "POST", "/api/admin/users", "admin", {"username": "x", "role": "auditor", "ttl_hours": 1e308},
     422),
    ("ttl_hours Infinity", "POST", "/api/admin/users", "admin",
     b'{"username": "x", "role": "auditor", "ttl_hours": Infinity}', 422),
    ("ttl_hours NaN", "POST", "/api/admin/users", "admin", b'{"username": "x", "role": "auditor", "ttl_hours": NaN}',
     422),
    ("screening value of 400 digits", "POST", "/api/subjects/screen", "investigator",
     {"subject_id": "S9", "site": "101", "data": ELIGIBLE | {"AGE": 10**400}}, 422),
    ("screening value NaN", "POST", "/api/subjects/screen", "investigator",
     b'{"subject_id": "S9", "site": "101", "data": {"AGE": NaN}}', 422),
    ("zero-width space in a site", "POST", "/api/subjects/screen", "investigator",
     {"subject_id": "S9", "site": "10\u200b1", "data": ELIGIBLE}, 422),
    ("bidi override in a site", "POST", "/api/subjects/screen", "investigator",
     {"subject_id": "S9", "site": "\u202e101", "data": ELIGIBLE}, 422),
    ("bidi override in a username", "POST", "/api/admin/users", "admin",
     {"username": "admin\u202e", "role": "auditor"}, 422),
    ("zero-width joiner in a username", "POST", "/api/admin/users", "admin",
     {"username": "inv\u200d1", "role": "auditor"}, 422),
    ("formula as a site", "POST", "/api/subjects/screen", "investigator",
     {"subject_id": "S9", "site": '=HYPERLINK("http://evil","x")', "data": ELIGIBLE}, 422),
    # the accounts' endpoints
    ("token secret of 44 characters", "GET", "/api/me", {"Authorization": "Bearer 1." + "a" * 44}, None, 401),
    ("renewal with a token of 5,000 digits", "POST", "/api/auth/renew",
     {"Authorization": "Bearer " + "9" * 5000 + ".x"}, None, 401),
    ("login with a NUL in the username", "POST", "/api/auth/login", {},
     {"username": "admin\u0000", "password": "pass phrase of admin"}, 401),
    ("enrolment code of 5,000 characters", "POST", "/api/auth/enrol", {},
     {"username": "admin", "code": "x" * 5000, "password": "pass phrase of admin"}, 422),
    ("bidi override in a grant's username", "POST", "/api/admin/grants", "admin",
     {"username": "dmc\u202e2", "grant": "dmc"}, 422),
    ("zero-width space in an investigator's site", "POST", "/api/admin/users", "admin",
     {"username": "inv9", "role": "investigator", "sites": ["10\u200b1"]}, 422),
    ("formula as a printed name", "POST", "/api/admin/users", "admin",
     {"username": "inv9", "role": "auditor", "full_name": "=cmd|' /C calc'!A0"}, 422),
    ("account validity of eleven years", "POST", "/api/admin/users", "admin",
     {"username": "x", "role": "auditor", "ttl_hours": 24 * 365 * 11}, 422),
    ("grant id past 64 bits", "POST", "/api/grants/100000000000000000000000/approve", "sponsor", None, 422),
    ("revocation reason with a bidi override", "POST", "/api/admin/users/auditor1/revoke", "admin",
     {"reason": "left \u202e the team"}, 422),
]


@pytest.mark.parametrize(("case", "method", "path", "who", "body", "status"), MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_input_gets_a_4xx_never_a_500(tmp_path: Path, case: str, method: str, path: str, who: Any,
                                                body: Any, status: int) -> None:
    trial = make_trial(tmp_path / "t.db")
    headers = who if isinstance(who, dict) else bearer(trial.tokens[who])
    from fastapi.testclient import TestClient

    client = TestClient(trial.client.app, raise_server_exceptions=False)
    if isinstance(body, bytes):
        r = client.request(method, path, content=body, headers=headers | {"Content-Type": "application/json"})
    else:
        r = client.request(method, path, json=body, headers=headers)
    assert r.status_code == status, (case, r.status_code, r.text)


BAD_SETUPS = [
    ("no eligibility rules", {"eligibility": None}, "eligibility: a study needs its inclusion rules"),
    ("1,024 strata", {"strata": {f"F{i}": ["a", "b"] for i in range(10)}}, "strata:"),
    ("65 strata", {"strata": {"A": [str(i) for i in range(13)], "B": [str(i) for i in range(5)]}},
     "strata: the factors cross into 65 strata"),
    ("blocks of 4,000", {"block_multiples": [1000]}, "block_multiples"),
    ("ratio 1000:1:1:1", {"ratio": [1000, 1, 1, 1]}, "ratio"),
    ("seed past 128 bits", {"seed": 2**200}, "seed: Input should be less than or equal to"),
    ("arm named as a formula", {"arms": ['=HYPERLINK("http://evil","x")', *ARMS[1:]],
                                "doses": None}, "arms[0]: must not start with '='"),
    ("zero-width arm name", {"arms": ["Placebo\u200b", *ARMS[1:]], "doses": None}, "arms[0]: character U+200B"),
]


@pytest.mark.parametrize(("case", "change", "message"), BAD_SETUPS, ids=[c[0] for c in BAD_SETUPS])
def test_bad_configuration_is_refused(tmp_path: Path, case: str, change: dict[str, Any], message: str) -> None:
    from fastapi.testclient import TestClient

    app = create_app(f"sqlite:///{tmp_path / 'c.db'}")
    admin = enrol_and_login(TestClient(app), "admin", app.state.store.add_user("admin", "admin", bootstrap=True))
    study = {k: v for k, v in (STUDY | change).items() if v is not None}
    r = TestClient(app, raise_server_exceptions=False).post("/api/admin/study", json=study, headers=bearer(admin))
    assert r.status_code == 422 and message in r.json()["detail"], (case, r.status_code, r.text)


def test_subject_ids_are_unique_without_regard_to_case(trial: Trial) -> None:
    assert trial.screen("case-1").status_code == 201
    r = trial.screen("CASE-1")
    assert r.status_code == 409 and "already screened" in r.json()["detail"]
    assert trial.randomise("Case-1").status_code == 201  # one subject, however spelt
    assert trial.call("investigator", "GET", "/api/subjects/CASE-1").json()["subject_id"] == "case-1"


# --- headers, API docs ---------------------------------------------------------------------


def test_security_headers_on_every_response_and_no_third_party_javascript(trial: Trial) -> None:
    trial.screen("S1")
    trial.randomise("S1")
    answers = [trial.client.get("/"), trial.client.get("/pharmacy"), trial.client.get("/api/me"),
               trial.call("pharmacist", "GET", "/api/pharmacy/subjects/S1"),
               trial.unblind("S1", "suspected anaphylaxis"),
               trial.call("dmc", "GET", "/api/export/list"), trial.client.get("/docs")]
    for r in answers:
        h = r.headers
        assert "frame-ancestors 'none'" in h["content-security-policy"] and h["x-frame-options"] == "DENY"
        assert h["x-content-type-options"] == "nosniff" and h["referrer-policy"] == "no-referrer"
        assert h["cache-control"] == "no-store"
        assert not re.search(r"https?://", h["content-security-policy"])
    from fastapi.testclient import TestClient

    store = trial.client.app.state.store
    store.blinded_report = lambda actor: 1 / 0  # an unforeseen fault: the 500 carries the headers as well
    failed = TestClient(trial.client.app, raise_server_exceptions=False).get(
        "/api/reports/blinded", headers=bearer(trial.tokens["blinded_statistician"]))
    assert failed.status_code == 500 and failed.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in failed.headers["content-security-policy"]
    assert trial.client.get("/docs").status_code == 404 and trial.client.get("/redoc").status_code == 404
    assert trial.client.get("/openapi.json").status_code == 404  # API docs off by default
    for page in answers[:2]:
        assert not re.search(r"<script[^>]+src=|https?://", page.text)


# --- plain reads, files, command line ------------------------------------------------------


def test_plain_reads_write_no_audit_record(trial: Trial) -> None:
    trial.screen("S1")
    trial.randomise("S1")
    before = len(trial.call("auditor", "GET", "/api/audit").json())
    for role, path in [("investigator", "/api/subjects/S1"), ("blinded_statistician", "/api/reports/blinded"),
                       ("auditor", "/api/reports/unblinding"), ("auditor", "/api/list/verify"),
                       ("blinded_statistician", "/api/export/adsl"), ("admin", "/api/study")]:
        assert trial.call(role, "GET", path).status_code == 200
    assert len(trial.call("auditor", "GET", "/api/audit").json()) == before


def test_database_and_token_files_are_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    old_umask = os.umask(0o022)
    try:
        token = tmp_path / "admin.token"
        token.write_text("old")
        token.chmod(0o644)
        assert main(["serve", "--db", str(tmp_path / "r.db"), "--admin-token-file", str(token)]) == 0
    finally:
        os.umask(old_umask)
    for path in (tmp_path / "r.db", tmp_path / "r.db-wal", token):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert calls and calls[0]["host"] == "127.0.0.1"


def test_serve_takes_the_database_url_from_the_environment_not_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw | {"url": app.state.store.url}))
    assert main(["serve", "--db", "postgresql+psycopg://user:secret@db.example/trial"]) == 2
    assert "password" in capsys.readouterr().err and not calls
    monkeypatch.setenv("DOSEFINDING_DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")  # serve checks that they are there
    for file in (cert, key):
        Path(file).write_text("PEM", encoding="utf-8")
    assert main(["serve", "--certfile", cert, "--keyfile", key]) == 0
    assert calls[0]["url"] == f"sqlite:///{tmp_path / 'env.db'}"
    assert (calls[0]["ssl_certfile"], calls[0]["ssl_keyfile"]) == (cert, key)


# --- operations: backup, restore, audit export ------------------------------------------------


def test_backup_restore_and_audit_export(trial: Trial, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trial.screen("S1")
    trial.randomise("S1")
    reason = '=HYPERLINK("http://evil.example","click") suspected anaphylaxis'
    assert trial.unblind("S1", reason).status_code == 200
    db = trial.url.removeprefix("sqlite:///")
    copy, restored = tmp_path / "backup.db", tmp_path / "restored.db"
    assert main(["backup", str(copy), "--db", db]) == 0  # online: the service's store is open
    assert "audit trail OK" in capsys.readouterr().out
    assert main(["backup", str(copy), "--db", db]) == 2  # never overwrites
    assert main(["restore", str(copy), "--db", str(restored)]) == 0
    assert "audit trail OK" in capsys.readouterr().out
    assert main(["restore", str(copy), "--db", str(restored)]) == 2  # only into a new database
    for path in (copy, restored):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    from dosefinding.randomization.store import adsl_randomisation

    assert adsl_randomisation(f"sqlite:///{restored}").equals(adsl_randomisation(trial.url))
    assert main(["audit-export", str(tmp_path / "audit.csv"), "--db", str(restored)]) == 0
    text = (tmp_path / "audit.csv").read_text()
    assert not any(cell.startswith(("=", "+", "-", "@")) for line in text.splitlines() for cell in line.split(","))
    from dosefinding.randomization.operations import audit_csv

    records = trial.call("auditor", "GET", "/api/audit").json()
    records[-1]["subject"] = '=HYPERLINK("http://evil.example","x")'  # a name stored before this hardening
    assert '\'=HYPERLINK("http://evil.example","x")' in audit_csv(records).replace('""', '"')
    assert main(["audit-export", str(tmp_path / "audit.html"), "--db", str(restored)]) == 0
    page = (tmp_path / "audit.html").read_text()
    assert "<script" not in page and "subject.unblind" in page and "audit trail OK" in page
    served = trial.call("auditor", "GET", "/api/audit/export.csv")
    assert served.status_code == 200 and served.headers["content-type"].startswith("text/csv")
    assert served.text.splitlines()[0] == "seq,ts,actor,role,action,subject,details,hash"
    assert trial.call("investigator", "GET", "/api/audit/export.csv").status_code == 403


def test_serve_speaks_https_with_a_certificate(tmp_path: Path) -> None:
    import shutil
    import ssl
    import subprocess

    import httpx

    from .server import start_server

    if shutil.which("openssl") is None:
        pytest.fail(f"openssl is needed to make a test certificate: {INSTALL_COMMAND}")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    server = start_server(tmp_path / "tls.db", tmp_path / "admin.token", certfile=cert, keyfile=key)
    try:
        assert server.url.startswith("https://")
        r = httpx.get(server.url + "/api/me", headers=bearer(server.admin_token), verify=ssl.create_default_context(cafile=cert))
        assert r.status_code == 200 and r.headers["strict-transport-security"] == "max-age=31536000"
        with pytest.raises(httpx.TransportError):
            httpx.get(server.url.replace("https://", "http://") + "/api/me", timeout=5)
    finally:
        server.stop()


def test_account_endpoints_have_the_body_limit_and_the_headers(trial: Trial) -> None:
    big = trial.client.post("/api/auth/login", content=b"{" + b" " * (2 << 20) + b"}",
                            headers={"content-type": "application/json"})
    assert big.status_code == 413
    for r in (big, trial.client.post("/api/auth/login", json={"username": "nobody", "password": "x" * 12}),
              trial.call("investigator", "GET", "/api/unblinding/meaning"), trial.call("sponsor", "GET", "/api/grants"),
              trial.unblind("S404")):
        assert r.headers["cache-control"] == "no-store" and r.headers["x-frame-options"] == "DENY", r.url
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]


def test_user_names_are_looked_up_normalised(trial: Trial) -> None:
    """Full-width spellings are one account: revocation, login and grants find it."""
    fullwidth = "\uff41\uff55\uff44\uff49\uff54\uff4f\uff52\uff11"  # auditor1
    assert trial.client.post("/api/auth/login", json={"username": fullwidth,
                                                      "password": "pass phrase of auditor1"}).status_code == 200
    assert trial.call("admin", "POST", f"/api/admin/users/{fullwidth}/revoke").status_code == 204
    assert trial.call("auditor", "GET", "/api/me").status_code == 401
    r = trial.call("admin", "POST", "/api/admin/users", json={"username": fullwidth, "role": "auditor"})
    assert r.status_code == 409 and "'auditor1' already exists" in r.json()["detail"]
