"""Run the test suite: install the programs the tests drive when they are missing, then pytest.

The README's test command and ``.ci/run`` both run this. The programs (``tests/system_tools.py``):
Chromium, LibreOffice Writer, pdftotext, the Liberation fonts, the PostgreSQL server binaries
(the tests start a throw-away server with them), pg_dump/pg_restore and openssl. A missing one
is installed with ``apt-get`` when running as root on Debian or Ubuntu; otherwise the script
says which packages to install and stops before the tests, rather than let tests fail or skip.

Usage: ``python scripts/test.py [pytest arguments]`` (default ``-q``), after
``pip install -e '.[test]'``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from system_tools import REQUIREMENTS, missing, missing_packages


def install(packages: list[str]) -> None:
    """``apt-get install`` the packages (root only), without their recommendations."""
    apt = ["apt-get", "-y", "-qq", "-o", "Dpkg::Use-Pty=0"]
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    print(f"test: installing {' '.join(packages)} (apt-get)", file=sys.stderr, flush=True)
    subprocess.run([*apt, "update"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run([*apt, "install", "--no-install-recommends", *packages], check=True, env=env,
                   stdout=subprocess.DEVNULL)


def main(argv: list[str]) -> int:
    if importlib.util.find_spec("pytest") is None:
        print("test: pytest is missing: pip install -e '.[test]' first", file=sys.stderr)
        return 2
    packages = missing_packages()
    if packages and os.geteuid() == 0 and shutil.which("apt-get") is not None:
        install(packages)
    absent = missing()
    if absent:
        for requirement in absent:
            print(f"test: {requirement.name} is missing (needed by {requirement.used_by})", file=sys.stderr)
        print(f"test: install them first: apt-get install {' '.join(missing_packages())} (as root this script "
              "does it)", file=sys.stderr)
        return 2
    print(f"test: found {', '.join(r.name for r in REQUIREMENTS)}", file=sys.stderr, flush=True)
    return subprocess.run([sys.executable, "-m", "pytest", *(argv or ["-q"])], cwd=ROOT, check=False).returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
