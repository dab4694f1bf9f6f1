"""The docs' generators (docs/hooks/*.py), loaded by path: they are build scripts, not a package."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

HOOKS = Path(__file__).parents[2] / "docs" / "hooks"


def load(name: str) -> ModuleType:
    """The module ``docs/hooks/<name>.py``, imported once under its own name (as mkdocs imports it)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HOOKS / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


spec_reference = load("spec_reference")
validation_evidence = load("validation_evidence")
