"""The documentation site builds with ``mkdocs build --strict`` (a warning fails: a broken link, a bad docstring)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


@pytest.mark.slow
def test_site_builds_strictly(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
           "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    for page in ("index.html", "tutorials/mcpmod-raw-data/index.html", "r-and-sas-users/index.html",
                 "reference/trial-spec/index.html", "reference/analysis-spec/index.html", "validation/index.html",
                 "reference/api/mod/index.html"):
        assert (tmp_path / "site" / page).is_file(), page
    validation = (tmp_path / "site" / "validation" / "index.html").read_text(encoding="utf-8")
    assert "tests/mod/test_mcpmod.py" in validation
