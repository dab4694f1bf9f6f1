"""The MMRM modules use each other's public names only (a helper two modules need is public in one of them)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

# importlib: the name dosefinding.mmrm is also the function mmrm at the package's top level.
PACKAGE = Path(str(importlib.import_module("dosefinding.mmrm").__file__)).parent


def _private_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dosefinding"):
            found += [f"{path.name}: from {node.module} import {alias.name}" for alias in node.names
                      if alias.name.startswith("_")]
    return found


def test_no_module_imports_another_modules_private_names() -> None:
    offending = [line for path in sorted(PACKAGE.glob("*.py")) for line in _private_imports(path)]
    assert offending == []


def test_one_starting_value_rule_and_one_row_check() -> None:
    """The starting values live in start.py and the duplicate-row check in checks.py, each once."""
    sources = {path.name: path.read_text() for path in PACKAGE.glob("*.py")}
    assert [name for name, text in sources.items() if "_EIGEN_FLOOR =" in text] == ["start.py"]
    assert [name for name, text in sources.items() if "def check_one_row_per_visit" in text] == ["checks.py"]
