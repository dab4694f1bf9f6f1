"""The site and pharmacy pages in headless Chromium, driven over the DevTools protocol.

Typing and clicks are real input events (``Input.insertText``, ``Input.dispatchMouseEvent``),
so the test goes through the page as a site user would. Chromium comes from the Debian
package ``chromium`` (``scripts/test.py`` installs it).

Every wait is on readiness (Chromium has written its DevTools port, the page shows what the
step expects) or ends early when Chromium exits; ``HANG_GUARD`` only stops a hang, long
enough for a machine busy with the whole suite.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from dosefinding.randomization.totp import decode_secret, totp
from system_tools import INSTALL_COMMAND, chromium

from .conftest import ARMS, RULES, Backend
from .server import password_of, start_server

HANG_GUARD = 600.0  # seconds


class Page:
    """A minimal DevTools-protocol client for one page."""

    def __init__(self, websocket_url: str) -> None:
        self.ws = connect(websocket_url, max_size=None, open_timeout=HANG_GUARD)
        self.next_id = 0

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=HANG_GUARD))
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def js(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str) -> Any:
        """The value of ``expression`` once it is truthy (the page has done what the step waits for)."""
        deadline = time.monotonic() + HANG_GUARD
        while time.monotonic() < deadline:
            value = self.js(expression)
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {expression}")

    def click(self, selector: str) -> None:
        box = self.js(f"(() => {{ const r = document.querySelector({selector!r}).getBoundingClientRect();"
                      " return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    def type(self, selector: str, text: str) -> None:
        self.js(f"document.querySelector({selector!r}).value = ''")  # the page may have filled it in
        self.click(selector)
        self.send("Input.insertText", text=text)

    def open(self, url: str) -> None:
        self.send("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete' && document.getElementById('token') !== null")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[str]:
    """A headless Chromium; yields the DevTools HTTP endpoint once Chromium has written its port."""
    binary = chromium()
    if binary is None:
        pytest.fail(f"chromium is not installed: {INSTALL_COMMAND}")
    profile = Path(tempfile.mkdtemp(dir=tmp_path))
    log = tmp_path / "chromium.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", f"--user-data-dir={profile}",
             "--window-size=1000,1400", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=stderr,
        )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + HANG_GUARD
        while not (port_file.exists() and port_file.read_text().strip()):
            if process.poll() is not None:
                raise RuntimeError(f"chromium exited with {process.returncode} before it was ready: "
                                   f"{log.read_text(errors='replace')[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"chromium wrote no DevTools port in {HANG_GUARD:g} s (hung)")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port_file.read_text().split()[0]}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _page(devtools: str) -> Page:
    """The DevTools client of Chromium's first page, once Chromium lists it."""
    deadline = time.monotonic() + HANG_GUARD
    while time.monotonic() < deadline:
        targets = httpx.get(devtools + "/json/list", timeout=HANG_GUARD).json()
        page = next((t for t in targets if t["type"] == "page"), None)
        if page is not None:
            return Page(page["webSocketDebuggerUrl"])
        time.sleep(0.05)
    raise AssertionError(f"chromium listed no page in {HANG_GUARD:g} s (hung)")


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
        page = _page(browser)
        page.open(server.url + "/")
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

        page.open(server.url + "/pharmacy")  # the pharmacist logs in with the page's form
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
        page.open(server.url + "/pharmacy")
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
