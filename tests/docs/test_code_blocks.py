"""Every python code block of the documentation runs, and prints what the page says it prints.

The blocks of a page run in order in one namespace, in a temporary working directory, as a
reader copying them into one Python session would (see code_blocks.py for the conventions).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from .code_blocks import DOCS, normalise, pages, python_blocks

PAGES = [page for page in pages() if python_blocks(page.read_text(encoding="utf-8"))]
SLOW = {"tutorials/design-and-power.md", "tutorials/adam-analysis.md", "tutorials/randomisation-service.md"}


def page_id(page: Path) -> str:
    return page.relative_to(DOCS).as_posix() if page.is_relative_to(DOCS) else page.name


@pytest.mark.parametrize(
    "page", [pytest.param(page, marks=pytest.mark.slow) if page_id(page) in SLOW else page for page in PAGES],
    ids=page_id)
def test_code_blocks_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace: dict[str, object] = {"__name__": "__main__"}
    for block in python_blocks(page.read_text(encoding="utf-8")):
        where = f"{page_id(page)}, line {block.line}"
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(block.code, where, "exec"), namespace)  # noqa: S102 - the page's own code
        if block.output is not None:
            assert normalise(printed.getvalue()) == normalise(block.output), f"{where}: printed output differs"


def test_every_tutorial_has_code_and_output() -> None:
    """The pages a reader copies from: each has python blocks, and the first tutorial shows R's numbers' output."""
    tutorials = {page_id(page) for page in pages() if page_id(page).startswith("tutorials/")}
    assert len(tutorials) == 6 and tutorials <= {page_id(page) for page in PAGES}
    biom = python_blocks((DOCS / "tutorials" / "mcpmod-raw-data.md").read_text(encoding="utf-8"))
    assert all(block.output for block in biom), "every block of the biom tutorial shows what it prints"
