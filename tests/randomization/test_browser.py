"""The site and pharmacy pages in headless Chromium, driven over the DevTools protocol (tests/browser.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from browser import first_page, headless_chromium
from dosefinding.randomization.totp import decode_secret, totp

from .conftest import ARMS, RULES, Backend
from .server import password_of, start_server

SITE_READY = "document.getElementById('token') !== null"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[str]:
    """A headless Chromium's DevTools endpoint."""
    with headless_chromium(tmp_path) as devtools:
        yield devtools


def test_a_site_user_randomises_a_subject_and_the_pharmacist_sees_the_arm(backend: Backend, browser: str,
                                                                          tmp_path: Path) -> None:
    server = start_server(backend.database(tmp_path, "browser"), tmp_path / "admin.token")
    try:
        admin = {"Authorization": f"Bearer {server.admin_token}"}
        study = {"name": "A2201", "arms": ARMS, "strata": {"ESSDAI": [">=10", "<10"]}, "n_per_stratum": 8,
                 "eligibility": RULES}
        assert httpx.post(server.url + "/api/admin/study", json=study, headers=admin).status_code == 201
        tokens = {"investigator": server.account("investigator", "investigator", sites=["101"]),
                  "pharmacist": server.granted_account("pharmacist", "pharmacist")}
        page = first_page(browser)
        page.open(server.url + "/", SITE_READY)
        page.type("#token", tokens["investigator"])
        page.click("#load")
        page.wait_for("document.querySelectorAll('#criteria input').length === 5")
        page.type("#subject", "A2201-101-001")
        page.type("#site", "101")
        for field, value in {"AGE": "52", "ESSDAI7": "9", "ESSPRI": "6", "SALFLOW": "0.4"}.items():
            page.type(f"#f-{field}", value)
        page.click("#f-ANTIRO")
        page.click("#screen")
        assert page.wait_for("document.getElementById('screen-result').textContent") == "ELIGIBLE"
        page.js("document.getElementById('s-ESSDAI').value = '<10'")
        page.click("#randomise")
        page.wait_for("!document.getElementById('confirmation').hidden")
        shown = page.js("({randno: document.getElementById('c-randno').textContent,"
                        " kit: document.getElementById('c-kit').textContent,"
                        " stratum: document.getElementById('c-stratum').textContent,"
                        " text: document.body.innerText})")
        status = httpx.get(server.url + "/api/subjects/A2201-101-001",
                           headers={"Authorization": f"Bearer {tokens['investigator']}"}).json()
        assert status["randomised"] and status["stratum"] == shown["stratum"] == "ESSDAI <10"
        assert shown["randno"] == str(status["randomisation_number"]) and shown["kit"] == str(status["kit_number"])
        assert not any(arm in shown["text"] for arm in ARMS)  # the site page never shows the arm
        screenshot = page.send("Page.captureScreenshot", format="png")["data"]
        assert len(screenshot) > 1000

        page.open(server.url + "/pharmacy", SITE_READY)  # the pharmacist logs in with the page's form
        page.type("#username", "pharmacist")
        page.type("#password", password_of("pharmacist"))
        page.type("#code", totp(decode_secret(server.totp_secrets["pharmacist"]), time.time()))
        page.click("#login")
        assert page.wait_for("document.getElementById('login-status').textContent") == "logged in as pharmacist"
        assert page.js("document.getElementById('password').value") == ""
        page.type("#subject", "A2201-101-001")
        page.click("#lookup")
        text = page.wait_for("document.getElementById('result').textContent")
        arm = httpx.get(server.url + "/api/pharmacy/subjects/A2201-101-001",
                        headers={"Authorization": f"Bearer {tokens['pharmacist']}"}).json()["arm"]
        assert f"Prepare: {arm}" in text and f"Kit number {shown['kit']}" in text

        # a pharmacist without an authenticator logs in, enrols it on the page, then sees the arm
        server.granted_account("newpharm", "pharmacist", enrol_authenticator=False)
        page.open(server.url + "/pharmacy", SITE_READY)
        assert page.js("document.getElementById('totp-enrol').hidden")
        page.type("#username", "newpharm")
        page.type("#password", password_of("newpharm"))
        page.click("#login")
        secret = page.wait_for("document.getElementById('totp-secret').textContent")
        enrolment = page.js("({visible: !document.getElementById('totp-enrol').hidden,"
                            " uri: document.getElementById('totp-uri').textContent,"
                            " status: document.getElementById('login-status').textContent})")
        assert enrolment["visible"] and enrolment["status"].startswith("logged in as newpharm: enrol an authenticator")
        assert enrolment["uri"].startswith("otpauth://totp/") and f"secret={secret}" in enrolment["uri"]
        page.type("#subject", "A2201-101-001")
        page.click("#lookup")  # the enrolment-only session is refused anything else
        assert "must enrol an authenticator" in page.wait_for("document.getElementById('result').textContent")
        near = {totp(decode_secret(secret), time.time() + drift) for drift in (-60, -30, 0, 30, 60)}
        page.type("#totp-code", next(c for c in ("000000", "111111", "222222", "333333", "444444", "555555")
                                     if c not in near))  # a wrong code: refused, the enrolment stays open
        page.click("#totp-confirm")
        assert "does not match" in page.wait_for("document.getElementById('totp-status').textContent")
        page.type("#totp-code", totp(decode_secret(secret), time.time()))
        page.click("#totp-confirm")
        page.wait_for("document.getElementById('totp-enrol').hidden")
        assert page.js("document.getElementById('login-status').textContent") == (
            "logged in as newpharm; authenticator enrolled: log in with its code from now on")
        assert page.js("document.getElementById('totp-secret').textContent") == ""
        page.click("#lookup")
        text = page.wait_for("(t => t.startsWith('Subject') && t)(document.getElementById('result').textContent)")
        assert f"Prepare: {arm}" in text and f"Kit number {shown['kit']}" in text
        page.ws.close()
    finally:
        server.stop()
