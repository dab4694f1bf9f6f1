"""The package's public names: every one resolves, and importing the package (or the command's
help) loads no numerical, plotting or service library until a name is used."""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import dosefinding
from dosefinding.lazy import type_checking_imports

SRC = Path(dosefinding.__file__).parents[1]
LAZY_PACKAGES = ["dosefinding", "dosefinding.endpoints", "dosefinding.mod", "dosefinding.randomization",
                 "dosefinding.report", "dosefinding.shapes", "dosefinding.study"]
EAGER_PACKAGES = ["dosefinding.mcp", "dosefinding.mmrm"]


def _loaded_after(code: str) -> set[str]:
    """Top-level modules in sys.modules after running ``code`` in a fresh interpreter."""
    script = f"{code}\nimport sys\nprint(' '.join(sorted({{name.split('.')[0] for name in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(SRC), "PATH": ""})
    return set(out.stdout.split())


@pytest.mark.parametrize("package", LAZY_PACKAGES + EAGER_PACKAGES)
def test_every_public_name_resolves(package: str) -> None:
    module = importlib.import_module(package)
    for name in module.__all__:
        value = getattr(module, name)
        assert value is not None
        assert name in dir(module)


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_public_names_are_the_type_checking_imports(package: str) -> None:
    module = importlib.import_module(package)
    source = Path(module.__file__).read_text()
    exports = type_checking_imports(source)
    submodules = {name for name in module.__all__ if isinstance(getattr(module, name), ModuleType)}  # e.g. datasets
    assert sorted(exports) == sorted(set(module.__all__) - {"__version__"} - submodules)
    for name, (origin, attribute) in exports.items():
        assert getattr(module, name) is getattr(importlib.import_module(origin), attribute)


def test_import_loads_no_numerical_plotting_or_service_library() -> None:
    heavy = {"numpy", "pandas", "scipy", "matplotlib", "fastapi", "sqlalchemy", "uvicorn"}
    assert not _loaded_after("import dosefinding") & heavy
    assert not _loaded_after("from dosefinding.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n"
                             "    pass") & heavy


def test_mcpmod_and_the_report_load_matplotlib_only_to_draw() -> None:
    loaded = _loaded_after("from dosefinding import Candidates, Report, mcpmod, mmrm, simulate_trial\n"
                           "import dosefinding.study.pipeline")
    assert "scipy" in loaded and not loaded & {"matplotlib", "fastapi", "sqlalchemy"}
    assert "matplotlib" in _loaded_after("from dosefinding.report import arm_colours\narm_colours(['P', 'D'])")


def test_an_export_wins_over_the_submodule_of_the_same_name() -> None:
    code = ("import dosefinding.mmrm.batch, dosefinding.mod.mcpmod\n"
            "import dosefinding\nfrom dosefinding.mod import mcpmod\n"
            "assert callable(dosefinding.mmrm) and dosefinding.mmrm.__module__ == 'dosefinding.mmrm.fit'\n"
            "assert mcpmod.__module__ == 'dosefinding.mod.mcpmod' and callable(mcpmod)\n")
    _loaded_after(code)


def test_submodules_load_on_attribute_access_and_unknown_names_fail() -> None:
    assert dosefinding.report.__name__ == "dosefinding.report"
    with pytest.raises(AttributeError, match="module 'dosefinding' has no attribute 'no_such_name'"):
        _ = dosefinding.no_such_name
    with pytest.raises(AttributeError, match="module 'dosefinding.mod' has no attribute 'no_such_name'"):
        _ = importlib.import_module("dosefinding.mod").no_such_name


def test_the_top_level_has_what_a_user_needs() -> None:
    """The analysis, design and scoring entry points are one import away (issue 16)."""
    from dosefinding import (  # noqa: F401
        BatchMMRMResult,
        PowerResult,
        StudyResults,
        Summary,
        analyze,
        analyze_study,
        clinessdai,
        essdai,
        esspri,
        facit_fatigue,
        fit_mmrm_batch,
        load_analysis_spec,
        rand36_scales,
        render_report,
        sf36_scales,
        sf36_summary,
        simulate_power,
        vas_mm,
    )

    assert analyze.__module__ == "dosefinding.study.pipeline" and simulate_power.__module__ == "dosefinding.study.power"
    assert fit_mmrm_batch.__module__ == "dosefinding.mmrm.batch" and sf36_summary.__module__.endswith("sf36_summary")
    assert Summary.__module__ == "dosefinding.summary"


def test_datasets_is_listed_exactly_when_it_exists() -> None:
    """``dosefinding.datasets`` (its own helper's module) is reachable as a submodule and listed in ``__all__``."""
    exists = importlib.util.find_spec("dosefinding.datasets") is not None
    assert ("datasets" in dosefinding.__all__) == exists
    if exists:
        assert dosefinding.datasets.__name__ == "dosefinding.datasets"
