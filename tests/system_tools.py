"""The programs the tests drive, how to find them and the Debian packages that have them.

``scripts/test.py`` installs the missing ones before running the suite; the tests that drive a
program find it here and fail, with the command that installs it, when it is missing (a
missing program is a broken set-up, not a reason to skip).

Examples
--------
>>> [requirement.name for requirement in REQUIREMENTS][:2]
['Chromium', 'LibreOffice Writer']
>>> missing_packages([Requirement("a tool", lambda: None, ("pkg-a",)),
...                   Requirement("another", lambda: "/usr/bin/x", ("pkg-b",))])
['pkg-a']
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

INSTALL_COMMAND = "python scripts/test.py (installs it with apt-get when root)"


def chromium() -> str | None:
    """The Chromium binary on the PATH (Debian: ``chromium``; Ubuntu: ``chromium-browser``)."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def postgres_binaries() -> Path | None:
    """The directory of ``initdb`` and ``pg_ctl``: on the PATH, else Debian's ``/usr/lib/postgresql/<version>/bin``."""
    found = shutil.which("initdb")
    if found is not None and shutil.which("pg_ctl") is not None:
        return Path(found).parent
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return debian[-1].parent if debian else None


def liberation_serif() -> str | None:
    """A Liberation Serif font known to fontconfig (the metric twin of Times New Roman of the RTF tables)."""
    if shutil.which("fc-list") is None:
        return None
    listed = subprocess.run(["fc-list", ":family=Liberation Serif", "file"], capture_output=True, text=True,
                            check=False).stdout.strip()
    return listed.splitlines()[0] if listed else None


@dataclass(frozen=True)
class Requirement:
    """A program (or font) the tests need: ``find`` returns where it is (None: missing); ``packages`` install it."""

    name: str
    find: Callable[[], object]
    packages: tuple[str, ...]
    used_by: str = ""


def _program(name: str) -> Callable[[], str | None]:
    return lambda: shutil.which(name)


REQUIREMENTS = (
    Requirement("Chromium", chromium, ("chromium",),
                "tests/randomization/test_browser.py, tests/design/test_app_browser.py, tests/report/test_browser.py"),
    Requirement("LibreOffice Writer", _program("soffice"), ("libreoffice-writer-nogui",), "tests/report/test_rtf.py"),
    Requirement("pdftotext", _program("pdftotext"), ("poppler-utils",), "tests/report/test_rtf.py"),
    Requirement("Liberation fonts", liberation_serif, ("fontconfig", "fonts-liberation2"), "tests/report/test_rtf.py"),
    Requirement("PostgreSQL server (initdb, pg_ctl)", postgres_binaries, ("postgresql",),
                "tests/randomization (a throw-away server per session)"),
    Requirement("pg_dump and pg_restore", lambda: shutil.which("pg_dump") and shutil.which("pg_restore"),
                ("postgresql-client",), "tests/randomization/test_postgresql.py (backup and restore)"),
    Requirement("openssl", _program("openssl"), ("openssl",), "tests/randomization/test_adversarial_hardening.py"),
)


def missing(requirements: Sequence[Requirement] = REQUIREMENTS) -> list[Requirement]:
    """The requirements not found on this machine."""
    return [r for r in requirements if not r.find()]


def missing_packages(requirements: Sequence[Requirement] = REQUIREMENTS) -> list[str]:
    """The Debian packages that install the missing requirements, each once, in order."""
    return list(dict.fromkeys(p for r in missing(requirements) for p in r.packages))
