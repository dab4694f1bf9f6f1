"""LibreOffice from the command line: an RTF file to PDF, and the PDF's pages as text.

LibreOffice is the Debian package ``libreoffice-writer-nogui`` and ``pdftotext`` comes with
``poppler-utils`` (``scripts/test.py`` installs both). When either is missing the calling test
fails with the command to install it: a missing converter is a broken set-up, not a reason to
skip (as tests/report/chromium.py for Chromium).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

INSTALL = "apt-get install -y --no-install-recommends libreoffice-writer-nogui poppler-utils (scripts/test.py does it)"
TIMEOUT = 120  # seconds; the machine may be busy


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: `{INSTALL}`")
    return path


def rtf_to_pdf(rtf: Path, directory: Path) -> Path:
    """Convert ``rtf`` to a PDF in ``directory`` with a private LibreOffice profile (parallel runs do not clash)."""
    profile = (directory / "lo-profile").resolve().as_uri()
    command = [_tool("soffice"), "--headless", "--norestore", f"-env:UserInstallation={profile}",
               "--convert-to", "pdf", "--outdir", str(directory), str(rtf)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    pdf = directory / (rtf.stem + ".pdf")
    if done.returncode != 0 or not pdf.exists():
        pytest.fail(f"soffice exited with {done.returncode} and wrote no {pdf.name}: {done.stdout[-1000:]} "
                    f"{done.stderr[-1000:]}")
    return pdf


def pdf_pages(pdf: Path) -> list[str]:
    """The text of each page of ``pdf`` (``pdftotext -layout``: pages end with a form feed)."""
    done = subprocess.run([_tool("pdftotext"), "-layout", str(pdf), "-"], capture_output=True, text=True,
                          timeout=TIMEOUT, check=False)
    if done.returncode != 0:
        pytest.fail(f"pdftotext exited with {done.returncode}: {done.stderr[-1000:]}")
    pages = done.stdout.split("\f")
    return pages[:-1] if pages and not pages[-1].strip() else pages
