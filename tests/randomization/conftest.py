"""Shared set-up for the service tests: a study like A2201 and one user per role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")  # the service extra is part of the test extra: this guards only a core install

from fastapi.testclient import TestClient

from dosefinding.randomization.eligibility import A2201_RULES
from dosefinding.randomization.service import create_app
from dosefinding.randomization.store import ROLES

ARMS = ["Placebo", "VAY736 5 mg", "VAY736 50 mg", "VAY736 300 mg"]
DOSES = {"Placebo": 0.0, "VAY736 5 mg": 5.0, "VAY736 50 mg": 50.0, "VAY736 300 mg": 300.0}
RULES = A2201_RULES.to_list()
STUDY = {"name": "A2201", "arms": ARMS, "strata": {"ESSDAI": [">=10", "<10"]}, "n_per_stratum": 40, "seed": 2201,
         "kit_seed": 2202, "user_seed": True, "doses": DOSES, "eligibility": RULES}
ELIGIBLE = {"AGE": 45, "ESSDAI7": 8, "ESSPRI": 6.5, "ANTIRO": True, "SALFLOW": 0.35}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Trial:
    client: TestClient
    tokens: dict[str, str]
    url: str

    def call(self, role: str, method: str, path: str, **kw: Any) -> Any:
        return self.client.request(method, path, headers=bearer(self.tokens[role]), **kw)

    def screen(self, subject: str, data: dict[str, Any] | None = None, site: str = "101") -> Any:
        return self.call("investigator", "POST", "/api/subjects/screen",
                         json={"subject_id": subject, "site": site, "data": ELIGIBLE if data is None else data})

    def randomise(self, subject: str, essdai: str = ">=10") -> Any:
        return self.call("investigator", "POST", f"/api/subjects/{subject}/randomise",
                         json={"strata": {"ESSDAI": essdai}})


def make_trial(path: Path, study: dict[str, Any] | None = None, **app_options: Any) -> Trial:
    url = f"sqlite:///{path}"
    app = create_app(url, **app_options)
    client = TestClient(app)
    tokens = {"admin": app.state.store.add_user("admin", "admin", bootstrap=True)}
    response = client.post("/api/admin/study", json=STUDY if study is None else study, headers=bearer(tokens["admin"]))
    assert response.status_code == 201, response.text
    for role in ROLES:
        if role != "admin":
            r = client.post("/api/admin/users", json={"username": f"{role}1", "role": role},
                            headers=bearer(tokens["admin"]))
            assert r.status_code == 201, r.text
            tokens[role] = r.json()["token"]
    return Trial(client=client, tokens=tokens, url=url)


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
