"""Headless Chromium from the command line: a screenshot and the DOM of a page.

Chromium is the Debian package ``chromium`` (``scripts/test.py`` installs it). When it is
missing the calling test fails with the command to install it: a missing browser is a
broken set-up, not a reason to skip.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from system_tools import INSTALL_COMMAND
from system_tools import chromium as find_chromium

CHROMIUM = find_chromium()
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
         "--run-all-compositor-stages-before-draw", "--virtual-time-budget=10000"]
TIMEOUT = 180  # seconds; the machine may be busy


def chromium() -> str:
    """The path of the chromium binary; fails the test if there is none."""
    if CHROMIUM is None:
        pytest.fail(f"chromium is not installed: {INSTALL_COMMAND}")
    return CHROMIUM


def run(url: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run headless chromium on ``url`` with ``args``, a fresh profile in ``profile``; fails on a non-zero exit."""
    profile.mkdir(parents=True, exist_ok=True)
    command = [chromium(), *FLAGS, f"--user-data-dir={profile}", *args, url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    if done.returncode != 0:
        pytest.fail(f"chromium exited with {done.returncode}: {done.stderr[-2000:]}")
    return done


def screenshot(url: str, png: Path, profile: Path, width: int = 1200, height: int = 2000) -> Path:
    """A PNG screenshot of ``url`` in a ``width`` x ``height`` window."""
    run(url, profile, f"--screenshot={png}", f"--window-size={width},{height}")
    if not png.exists():
        pytest.fail(f"chromium wrote no screenshot to {png}")
    return png


def dump_dom(url: str, profile: Path) -> str:
    """The DOM of ``url`` after loading, serialised as HTML."""
    return run(url, profile, "--dump-dom").stdout
