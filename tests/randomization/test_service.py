"""The randomisation service: authorisation matrix, blinding, bad input, exports, minimisation."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from dosefinding.randomization import Minimisation, minimise, permuted_block_list, read_allocation_list
from dosefinding.randomization.store import ROLES, Store, adsl_randomisation

from .conftest import (
    ARMS,
    ELIGIBLE,
    FAST_KDF,
    RULES,
    STUDY,
    Backend,
    Trial,
    bearer,
    enrol_and_login,
    make_trial,
    table_rows,
)

ALL = set(ROLES)
BLINDED = ("investigator", "blinded_statistician", "auditor", "admin", "sponsor")
# (method, path, JSON body, roles allowed). S1 is randomised before each call, S2 only screened.
ENDPOINTS: list[tuple[str, str, Any, set[str]]] = [
    ("GET", "/api/me", None, ALL),
    ("GET", "/api/study", None, ALL),
    ("POST", "/api/admin/study", STUDY, {"admin"}),
    ("POST", "/api/admin/users", {"username": "new", "role": "investigator"}, {"admin"}),
    ("POST", "/api/admin/users/dummy/revoke", None, {"admin"}),
    ("POST", "/api/admin/users/dummy/revoke-unblinding", None, {"admin"}),
    ("POST", "/api/admin/users/dummy/unlock", {"reason": "identity checked by phone"}, {"admin"}),
    ("POST", "/api/admin/users/dummy/reset", {"reason": "forgot the password"}, {"admin"}),
    ("POST", "/api/admin/grants", {"username": "pharmacist2", "grant": "pharmacist"}, {"admin"}),
    ("GET", "/api/grants", None, {"admin", "sponsor", "auditor"}),
    ("POST", "/api/grants/999/approve", None, {"sponsor"}),
    ("POST", "/api/grants/999/reject", None, {"sponsor", "admin"}),
    ("GET", "/api/unblinding/meaning", None, ALL),
    ("POST", "/api/subjects/screen", {"subject_id": "S3", "site": "101", "data": ELIGIBLE}, {"investigator"}),
    ("POST", "/api/subjects/S2/randomise", {"strata": {"ESSDAI": "<10"}}, {"investigator"}),
    ("GET", "/api/subjects/S1", None, {"investigator", "pharmacist", "dmc", "blinded_statistician", "admin"}),
    ("POST", "/api/subjects/S1/unblind", {"reason": "suspected anaphylaxis"}, {"investigator"}),
    ("GET", "/api/pharmacy/subjects/S1", None, {"pharmacist"}),
    ("GET", "/api/reports/blinded", None, {"blinded_statistician", "dmc", "admin", "auditor"}),
    ("GET", "/api/reports/unblinded", None, {"dmc"}),
    ("GET", "/api/reports/unblinding", None, {"blinded_statistician", "dmc", "admin", "auditor"}),
    ("GET", "/api/audit", None, {"auditor"}),
    ("GET", "/api/audit/verify", None, {"auditor", "admin"}),
    ("GET", "/api/list/verify", None, {"auditor", "admin"}),
    ("GET", "/api/export/list", None, {"dmc"}),
    ("GET", "/api/export/adsl", None, {"blinded_statistician", "dmc"}),
]


@pytest.fixture(scope="module")
def matrix_trial(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Trial:
    trial = make_trial(backend.database(tmp_path_factory.mktemp("matrix")))
    assert trial.screen("S1").status_code == 201 and trial.randomise("S1").status_code == 201
    assert trial.screen("S2").status_code == 201
    trial.call("admin", "POST", "/api/admin/users", json={"username": "dummy", "role": "auditor"})
    return trial


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path", "body", "allowed"), ENDPOINTS, ids=[f"{m} {p}" for m, p, _, _ in ENDPOINTS])
def test_authorisation_matrix(matrix_trial: Trial, role: str, method: str, path: str, body: Any,
                              allowed: set[str]) -> None:
    before = table_rows(matrix_trial.url)
    if path.endswith("/unblind") and role in allowed:
        body = body | matrix_trial.signature(role)
    response = matrix_trial.call(role, method, path, json=body)
    if role in allowed:
        assert response.status_code not in (401, 403), response.text
    else:
        assert response.status_code == 403
        assert response.json()["detail"].startswith(f"role {role!r} may not ")
        assert table_rows(matrix_trial.url) == before
    unauthenticated = matrix_trial.client.request(method, path, json=body)
    assert unauthenticated.status_code == 401
    assert "missing token" in unauthenticated.json()["detail"]


ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00")
HEX = re.compile(r"\b[0-9a-f]{64}\b")
TOKEN = re.compile(r"\b\d+\.[A-Za-z0-9_-]{43}\b")


def _normalise(path: str, body: Any) -> str:
    if path == "/api/study":
        body = body | {"arms": sorted(body["arms"])}
    if isinstance(body, dict):  # one-time enrolment codes are random
        body = {k: "<code>" if k.endswith("_code") else v for k, v in body.items()}
    text = json.dumps(body, sort_keys=True)
    return TOKEN.sub("<token>", HEX.sub("<hash>", ISO.sub("<ts>", text)))


def _blinded_session(trial: Trial) -> list[tuple[str, str, int, str]]:
    """Everything blinded roles can do or ask, with the answers (normalised)."""
    seen = []
    for k in range(12):
        trial.screen(f"S{k}", site=f"10{k % 3}")
        trial.randomise(f"S{k}", essdai=(">=10", "<10")[k % 2])
    trial.screen("BAD", data=ELIGIBLE | {"AGE": 90})
    requests = [(m, p, b) for m, p, b, _ in ENDPOINTS if p != "/api/subjects/S1/unblind"] + [
        ("POST", "/api/subjects/S3/randomise", {"strata": {"ESSDAI": ">=10"}}),  # already randomised
        ("POST", "/api/subjects/BAD/randomise", {"strata": {"ESSDAI": ">=10"}}),  # ineligible
        ("POST", "/api/subjects/S4/randomise", {"strata": {"ESSDAI": "high"}}),
        ("GET", "/api/subjects/S5", None),
        ("GET", "/api/subjects/NOPE", None),
    ]
    for role in BLINDED:
        for method, path, body in requests:
            r = trial.call(role, method, path, json=body)
            seen.append((role, path, r.status_code, _normalise(path, r.json())))
    return seen


def _walk(value: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [item for k, v in value.items() for item in [(f"{path}.{k}", k)] + _walk(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [item for i, v in enumerate(value) for item in _walk(v, f"{path}[{i}]")]
    return [(path, value)]


def test_no_blinded_role_can_learn_an_arm(tmp_path: Path) -> None:
    """The same trial with the arms relabelled gives blinded roles identical answers.

    Same seed, arm names in another order: every subject gets another arm, and nothing a
    blinded role can see (any endpoint, response field, error message or report) changes.
    """
    first = make_trial(tmp_path / "a.db")
    relabelled = make_trial(tmp_path / "b.db", STUDY | {"arms": ARMS[::-1]})
    seen_a, seen_b = _blinded_session(first), _blinded_session(relabelled)
    arms_a = [first.call("pharmacist", "GET", f"/api/pharmacy/subjects/S{k}").json()["arm"] for k in range(12)]
    arms_b = [relabelled.call("pharmacist", "GET", f"/api/pharmacy/subjects/S{k}").json()["arm"] for k in range(12)]
    assert arms_a != arms_b  # the arms did change
    assert len(seen_a) == len(seen_b) > 80
    for a, b in zip(seen_a, seen_b, strict=True):
        assert a == b
    # And no field of any blinded answer is an arm or names an arm, outside the study's list of arms.
    for role, path, _, text in seen_a:
        for where, value in _walk(json.loads(text)):
            assert value not in {"arm", "ARM", "TRT01P", "TRT01PN"}, (role, path, where)
            if not where.startswith(".arms"):
                assert value not in ARMS, (role, path, where)


def test_unblinded_views_agree_with_the_list(trial: Trial) -> None:
    lst = permuted_block_list(ARMS, n_per_stratum=40, strata=STUDY["strata"], seed=2201, kit_seed=2202)
    expected = {">=10": lst.table[lst.table["ESSDAI"] == ">=10"], "<10": lst.table[lst.table["ESSDAI"] == "<10"]}
    for k in range(10):
        essdai = (">=10", "<10")[k % 2]
        assert trial.screen(f"S{k}").status_code == 201
        confirmation = trial.randomise(f"S{k}", essdai).json()
        row = expected[essdai].iloc[k // 2]
        assert (confirmation["randomisation_number"], confirmation["kit_number"]) == (row["RANDNO"], row["KITNO"])
        assert "arm" not in confirmation
        pharmacy = trial.call("pharmacist", "GET", f"/api/pharmacy/subjects/S{k}").json()
        assert pharmacy["arm"] == row["ARM"] and pharmacy["kit_number"] == row["KITNO"]
    report = trial.call("dmc", "GET", "/api/reports/unblinded").json()
    assert report["randomised"] == 10 and sum(report["by_arm"].values()) == 10
    first5 = expected[">=10"].iloc[:5]["ARM"].value_counts()
    assert report["by_stratum_arm"]["ESSDAI >=10"] == {a: int(first5.get(a, 0)) for a in ARMS}


def test_emergency_unblinding_is_logged_and_reported(trial: Trial) -> None:
    trial.screen("S1")
    trial.randomise("S1")
    arm = trial.call("pharmacist", "GET", "/api/pharmacy/subjects/S1").json()["arm"]
    r = trial.unblind("S1", "suspected anaphylaxis")
    assert r.status_code == 200 and r.json()["arm"] == arm and r.json()["unblinded_by"] == "investigator1"
    report = trial.call("auditor", "GET", "/api/reports/unblinding").json()
    assert [(e["subject_id"], e["unblinded_by"], e["reason"]) for e in report] == [
        ("S1", "investigator1", "suspected anaphylaxis")]
    assert "arm" not in report[0]
    assert trial.call("blinded_statistician", "GET", "/api/reports/blinded").json()["emergency_unblindings"] == 1
    assert trial.call("investigator", "GET", "/api/subjects/S1").json()["unblinded"] is True


BAD_REQUESTS = [
    ("malformed JSON", "investigator", "POST", "/api/subjects/screen", b'{"subject_id": "S9", ', 400,
     "malformed JSON body"),
    ("malformed JSON", "investigator", "POST", "/api/subjects/S2/randomise", b"{strata: >=10}", 400,
     "malformed JSON body"),
    ("unknown stratum level", "investigator", "POST", "/api/subjects/S2/randomise", {"strata": {"ESSDAI": "12"}},
     422, "strata['ESSDAI']: unknown level '12', expected one of ['>=10', '<10']"),
    ("unknown factor", "investigator", "POST", "/api/subjects/S2/randomise",
     {"strata": {"ESSDAI": ">=10", "REGION": "Japan"}}, 422, "strata: unknown factor(s) ['REGION']"),
    ("missing factor", "investigator", "POST", "/api/subjects/S2/randomise", {"strata": {}}, 422,
     "strata: missing factor 'ESSDAI'"),
    ("already randomised", "investigator", "POST", "/api/subjects/S1/randomise", {"strata": {"ESSDAI": ">=10"}},
     409, "subject_id: 'S1' is already randomised"),
    ("ineligible", "investigator", "POST", "/api/subjects/BAD/randomise", {"strata": {"ESSDAI": ">=10"}}, 409,
     "subject_id: 'BAD' is not eligible (failed AGE, SALFLOW)"),
    ("not screened", "investigator", "POST", "/api/subjects/S7/randomise", {"strata": {"ESSDAI": ">=10"}}, 404,
     "subject_id: 'S7' has not been screened"),
    ("screened twice", "investigator", "POST", "/api/subjects/screen",
     {"subject_id": "S1", "site": "101", "data": ELIGIBLE}, 409, "subject_id: 'S1' is already screened"),
    ("extra field", "investigator", "POST", "/api/subjects/S2/randomise",
     {"strata": {"ESSDAI": ">=10"}, "arm": "Placebo"}, 422, "invalid request: arm: Extra inputs are not permitted"),
    ("wrong type", "investigator", "POST", "/api/subjects/screen", {"subject_id": "S9", "site": "1", "data": [1]},
     422, "invalid request: data: Input should be a valid dictionary"),
    ("subject id with a slash", "investigator", "POST", "/api/subjects/screen",
     {"subject_id": "S/1", "site": "101", "data": ELIGIBLE}, 422, "subject_id: String should match pattern"),
    ("no reason", "investigator", "POST", "/api/subjects/S1/unblind", {"reason": ""}, 422, "reason:"),
    ("unblind not randomised", "investigator", "POST", "/api/subjects/S2/unblind", {"reason": "serious event"},
     409, "subject_id: 'S2' is not randomised"),
    ("unknown subject", "pharmacist", "GET", "/api/pharmacy/subjects/NOPE", None, 404, "no subject 'NOPE'"),
    ("study twice", "admin", "POST", "/api/admin/study", STUDY, 409, "the study is already set up"),
    ("unknown role", "admin", "POST", "/api/admin/users", {"username": "x", "role": "monitor"}, 422, "role:"),
    ("duplicate user", "admin", "POST", "/api/admin/users", {"username": "auditor1", "role": "auditor"}, 409,
     "username: 'auditor1' already exists"),
]


@pytest.mark.parametrize(("case", "role", "method", "path", "body", "status", "message"), BAD_REQUESTS,
                         ids=[c[0] + " " + c[3] for c in BAD_REQUESTS])
def test_bad_input_gets_a_clear_4xx_and_changes_nothing(
    trial: Trial, case: str, role: str, method: str, path: str, body: Any, status: int, message: str
) -> None:
    trial.screen("S1")
    trial.randomise("S1")
    trial.screen("S2")
    trial.screen("BAD", data=ELIGIBLE | {"AGE": 90, "SALFLOW": 0.05})
    before = table_rows(trial.url)
    if isinstance(body, bytes):
        r = trial.client.request(method, path, content=body,
                                 headers=bearer(trial.tokens[role]) | {"Content-Type": "application/json"})
    else:
        r = trial.call(role, method, path, json=body)
    assert r.status_code == status, r.text
    assert message in r.json()["detail"]
    assert table_rows(trial.url) == before


def test_bad_tokens(trial: Trial, tmp_path: Path) -> None:
    before = table_rows(trial.url)
    cases = {
        "Bearer 1.wrongsecretwrongsecretwrongsecretwrongsecret12": "invalid token",
        "Bearer 999.abc": "invalid token",
        "Bearer nonsense": "invalid token",
        "Basic dXNlcjpwYXNz": "invalid token: use 'Authorization: Bearer <token>'",
    }
    for header, message in cases.items():
        r = trial.client.get("/api/study", headers={"Authorization": header})
        assert r.status_code == 401 and r.json()["detail"] == message and r.headers["WWW-Authenticate"] == "Bearer"
    assert table_rows(trial.url) == before
    code = trial.call("admin", "POST", "/api/admin/users", json={"username": "temp", "role": "auditor",
                                                                 "ttl_hours": 0.5 / 3600}).json()["enrolment_code"]
    short = enrol_and_login(trial.client, "temp", code)
    assert trial.client.get("/api/me", headers=bearer(short)).status_code == 200
    time.sleep(0.6)
    r = trial.client.get("/api/me", headers=bearer(short))
    assert r.status_code == 401 and r.json()["detail"] == "session expired: log in again"
    assert trial.call("admin", "POST", "/api/admin/users/investigator1/revoke").status_code == 204
    r = trial.call("investigator", "GET", "/api/study")
    assert r.status_code == 401 and r.json()["detail"] == "account revoked"


def test_exhausted_stratum_and_study_not_set_up(tmp_path: Path) -> None:
    trial = make_trial(tmp_path / "small.db", STUDY | {"n_per_stratum": 4, "block_multiples": [1]})
    for k in range(5):
        trial.screen(f"S{k}")
    assert all(trial.randomise(f"S{k}").status_code == 201 for k in range(4))
    before = table_rows(trial.url)
    r = trial.randomise("S4")
    assert r.status_code == 409 and r.json()["detail"] == "strata: no list entry left in stratum 'ESSDAI >=10'"
    assert table_rows(trial.url) == before
    assert trial.randomise("S4", "<10").status_code == 201
    from fastapi.testclient import TestClient

    from dosefinding.randomization.service import create_app

    app = create_app(store=Store(f"sqlite:///{tmp_path / 'empty.db'}", password_hasher=FAST_KDF))
    client = TestClient(app)
    admin = enrol_and_login(client, "admin", app.state.store.add_user("admin", "admin", bootstrap=True))
    r = client.get("/api/study", headers=bearer(admin))
    assert r.status_code == 409 and "not set up" in r.json()["detail"]


def test_adsl_export_for_the_analysis_pipeline(trial: Trial) -> None:
    empty = trial.call("dmc", "GET", "/api/export/adsl").json()
    assert empty["rows"] == [] and "TRT01P" in empty["columns"]
    for k in range(8):
        trial.screen(f"S{k}", site=f"10{k % 2}")
        trial.randomise(f"S{k}", (">=10", "<10")[k % 2])
    adsl = trial.call("dmc", "GET", "/api/export/adsl").json()
    frame = pd.DataFrame(adsl["rows"], columns=adsl["columns"])
    assert list(frame.columns) == ["STUDYID", "USUBJID", "SITEID", "RANDNO", "RANDDT", "STRATAR", "ESSDAI", "TRT01P",
                                   "TRT01PN"]
    arms = {k: trial.call("pharmacist", "GET", f"/api/pharmacy/subjects/S{k}").json()["arm"] for k in range(8)}
    assert dict(zip(frame["USUBJID"].str[1:].astype(int), frame["TRT01P"], strict=True)) == arms
    assert (frame["TRT01PN"] == frame["TRT01P"].map(STUDY["doses"])).all()
    assert (frame["RANDDT"] == datetime.now(UTC).strftime("%Y-%m-%d")).all()
    assert frame["STRATAR"].tolist() == ["ESSDAI >=10", "ESSDAI <10"] * 4 or set(frame["STRATAR"]) == {
        "ESSDAI >=10", "ESSDAI <10"}
    library = adsl_randomisation(trial.url)
    assert library.astype(object).values.tolist() == frame.astype(object).values.tolist()
    blinded = trial.call("blinded_statistician", "GET", "/api/export/adsl").json()
    assert "TRT01P" not in blinded["columns"] and "TRT01PN" not in blinded["columns"]
    assert "TRT01P" not in adsl_randomisation(trial.url, unblinded=False).columns


def test_list_export_regenerates_and_verifies(trial: Trial) -> None:
    export = trial.call("dmc", "GET", "/api/export/list").json()
    lst = read_allocation_list(export["csv"], export["parameters"])
    assert export["list_sha256"] == lst.digest == trial.call("dmc", "GET", "/api/study").json()["list_sha256"]
    again = permuted_block_list(ARMS, n_per_stratum=40, strata=STUDY["strata"], seed=2201, kit_seed=2202)
    assert again.digest == lst.digest
    check = trial.call("auditor", "GET", "/api/list/verify").json()
    assert check == {"digest_matches": True, "regenerates": True, "valid": True}  # the digest: unblinded roles only


def test_minimisation_in_the_service_replays_with_the_library(tmp_path: Path) -> None:
    factors = {"ESSDAI": [">=10", "<10"], "REGION": ["Japan", "Other"]}
    trial = make_trial(tmp_path / "min.db", {"name": "A2201-min", "arms": ARMS, "strata": factors,
                                             "method": "minimisation", "n_per_stratum": 100, "seed": 77, "p": 0.8,
                                             "user_seed": True, "eligibility": RULES})
    rng = np.random.default_rng(5)
    levels = pd.DataFrame({"ESSDAI": rng.choice(factors["ESSDAI"], 40), "REGION": rng.choice(factors["REGION"], 40)})
    for k, row in levels.iterrows():
        trial.screen(f"S{k}")
        r = trial.call("investigator", "POST", f"/api/subjects/S{k}/randomise", json={"strata": row.to_dict()})
        assert r.status_code == 201 and "arm" not in r.json()
    service = [trial.call("pharmacist", "GET", f"/api/pharmacy/subjects/S{k}").json()["arm"] for k in range(40)]
    library = minimise(levels, Minimisation(arms=tuple(ARMS), factors=factors, seed=77, p=0.8))
    assert service == library.assignments["ARM"].tolist()
    r = trial.call("dmc", "GET", "/api/export/list")
    assert r.status_code == 409 and "minimisation has no list" in r.json()["detail"]
    report = trial.call("blinded_statistician", "GET", "/api/reports/blinded").json()
    assert sum(report["by_stratum"].values()) == 40
