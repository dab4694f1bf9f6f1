"""A headless Chromium driven over the DevTools protocol, shared by the browser tests of the pages.

Typing and clicks are real input events (``Input.insertText``, ``Input.dispatchMouseEvent``),
so a test goes through a page as its user would. Chromium comes from the Debian package
``chromium`` (``scripts/test.py`` installs it).

Every wait is on readiness (Chromium has written its DevTools port, the page shows what the
step expects) or ends early when Chromium exits; ``HANG_GUARD`` only stops a hang, long
enough for a machine busy with the whole suite.

Used by tests/randomization/test_browser.py and tests/design/test_app_browser.py.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from system_tools import INSTALL_COMMAND, chromium

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
        box = self.js(f"(() => {{ const e = document.querySelector({selector!r});"
                      " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
                      " return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    def type(self, selector: str, text: str) -> None:
        self.js(f"document.querySelector({selector!r}).value = ''")  # the page may have filled it in
        self.click(selector)
        self.send("Input.insertText", text=text)

    def open(self, url: str, ready: str = "true") -> None:
        """Go to ``url`` and wait until it has loaded and ``ready`` (a JavaScript expression) is truthy."""
        self.send("Page.navigate", url=url)
        self.wait_for(f"document.readyState === 'complete' && ({ready})")


@contextmanager
def headless_chromium(tmp_path: Path) -> Iterator[str]:
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


def first_page(devtools: str) -> Page:
    """The DevTools client of Chromium's first page, once Chromium lists it."""
    deadline = time.monotonic() + HANG_GUARD
    while time.monotonic() < deadline:
        targets = httpx.get(devtools + "/json/list", timeout=HANG_GUARD).json()
        page = next((t for t in targets if t["type"] == "page"), None)
        if page is not None:
            return Page(page["webSocketDebuggerUrl"])
        time.sleep(0.05)
    raise AssertionError(f"chromium listed no page in {HANG_GUARD:g} s (hung)")
