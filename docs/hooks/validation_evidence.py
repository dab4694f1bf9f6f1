"""The validation evidence page, written from the tests: which reference each function is checked against.

The registry ``tests/references.toml`` names, per test module, the public functions it checks,
the independent reference (R, SAS, a publication) and the files that hold the reference numbers.
Everything else on the page is read from the test module itself, so it cannot drift from
the tests: its docstring (the reference and the tolerances in words), the tolerances in its
code (``rtol``, ``atol``, ``rel``, ``abs`` and ``tolerance`` arguments, with the module
constants they name resolved) and its number of test functions. The registry is checked: each
module and source file exists and each function is used in its module, and every test module
that reads a reference fixture is listed (:func:`unlisted_reference_modules`).
"""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

REGISTRY = Path("tests") / "references.toml"
TOLERANCE_ARGUMENTS = ("rtol", "atol", "rel", "abs", "tolerance", "tol")
REFERENCE_STRING = re.compile(r"(_reference\.json|tlf_reference|fixtures/(r|sas|fev|pinned)/|^(sas|fev)$)")


@dataclass(frozen=True)
class Evidence:
    """One test module of the registry, with what is read from its source."""

    module: str
    area: str
    functions: tuple[str, ...]
    reference: str
    sources: tuple[str, ...]
    docstring: str
    tolerances: tuple[str, ...]
    n_tests: int


def module_constants(tree: ast.Module) -> dict[str, ast.expr]:
    """The module-level ``NAME = expression`` assignments of a test module."""
    constants: dict[str, ast.expr] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            constants[node.targets[0].id] = node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            constants[node.target.id] = node.value
    return constants


def expression_text(node: ast.expr, constants: Mapping[str, ast.expr]) -> str:
    """A tolerance as written, with a module constant's value: ``1e-06``, ``1e-06 (CRITERIA)``."""
    if isinstance(node, ast.Name) and node.id in constants:
        value = constants[node.id]
        if isinstance(value, ast.Constant) and isinstance(value.value, (int, float)):
            return f"{value.value:g} ({node.id})"
        return f"{ast.unparse(value)} ({node.id})"
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return f"{node.value:g}"
    return ast.unparse(node)


def tolerances(tree: ast.Module) -> tuple[str, ...]:
    """Every distinct tolerance argument of the module's calls, as ``rtol 1e-06 (CRITERIA)``, sorted."""
    constants = module_constants(tree)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                value = keyword.value
                if isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.USub):
                    continue  # a negative tolerance: an input-error test
                if isinstance(value, ast.Constant) and value.value == 0:
                    continue  # rtol=0 beside an atol: the atol is the tolerance
                if keyword.arg in TOLERANCE_ARGUMENTS:
                    found.add(f"{keyword.arg} {expression_text(keyword.value, constants)}")
    return tuple(sorted(found))


def used_names(tree: ast.Module) -> set[str]:
    """Every name and attribute the module mentions (a function is used if its name is among them)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).rsplit(".", 1)[-1])
    return names


def helper_modules(tree: ast.Module, path: Path) -> list[Path]:
    """The sibling modules a test module imports relatively (``from .test_x import fit``)."""
    helpers = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            names = [node.module] if node.module else [alias.name for alias in node.names]
            helpers += [path.parent / f"{name}.py" for name in names if (path.parent / f"{name}.py").is_file()]
    return helpers


def count_tests(tree: ast.Module) -> int:
    """The module's test functions (a parametrised test counts once)."""
    return sum(isinstance(node, ast.FunctionDef) and node.name.startswith("test_") for node in ast.walk(tree))


def reads_reference(tree: ast.Module) -> bool:
    """Whether a test module reads a reference fixture (a string naming one, as the tests load them)."""
    return any(isinstance(node, ast.Constant) and isinstance(node.value, str) and REFERENCE_STRING.search(node.value)
               for node in ast.walk(tree))


def load_evidence(root: Path) -> list[Evidence]:
    """The registry's entries with what their modules say; ``ValueError`` naming the entry if one is wrong."""
    registry = tomllib.loads((root / REGISTRY).read_text(encoding="utf-8"))
    evidence = []
    for number, entry in enumerate(registry.get("evidence", []), start=1):
        where = f"{REGISTRY} evidence {number} ({entry.get('module')!r})"
        unknown = set(entry) - {"module", "functions", "reference", "sources"}
        if unknown or not {"module", "functions", "reference"} <= set(entry):
            raise ValueError(f"{where}: keys must be module, functions, reference and sources (got {sorted(entry)})")
        path = root / entry["module"]
        if not path.is_file():
            raise ValueError(f"{where}: no such test module")
        for source in entry.get("sources", []):
            if not (root / source).exists():
                raise ValueError(f"{where}: no such source file {source!r}")
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = used_names(tree).union(*(used_names(ast.parse(h.read_text(encoding="utf-8")))
                                         for h in helper_modules(tree, path)))
        missing = [f for f in entry["functions"] if f.rsplit(".", 1)[-1] not in names]
        if missing:
            raise ValueError(f"{where}: the module does not use {missing}")
        evidence.append(Evidence(
            module=entry["module"], area=Path(entry["module"]).parent.name, functions=tuple(entry["functions"]),
            reference=entry["reference"], sources=tuple(entry.get("sources", ())),
            docstring=ast.get_docstring(tree) or "", tolerances=tolerances(tree), n_tests=count_tests(tree)))
    return evidence


def unlisted_reference_modules(root: Path, directories: Iterable[str]) -> list[str]:
    """Test modules under ``directories`` that read a reference fixture but are not in the registry."""
    listed = {item.module for item in load_evidence(root)}
    unlisted = []
    for directory in directories:
        for path in sorted((root / directory).glob("test_*.py")):
            module = path.relative_to(root).as_posix()
            if module not in listed and reads_reference(ast.parse(path.read_text(encoding="utf-8"))):
                unlisted.append(module)
    return unlisted


def docstring_markdown(text: str) -> str:
    """A test module's docstring as Markdown: a blank line before each list, RST literals as code."""
    lines: list[str] = []
    for line in text.splitlines():
        is_item = re.match(r"\s*([-*]|\d+\.) ", line) is not None
        previous = lines[-1] if lines else ""
        if is_item and previous.strip() and not previous.startswith("  ") and not re.match(r"\s*([-*]|\d+\.) ", previous):
            lines.append("")
        lines.append(re.sub(r"(?<!`)``([^`]+)``(?!`)", r"`\1`", line))
    return "\n".join(lines)


def cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def validation_page(evidence: list[Evidence]) -> str:
    """The page: a table by function, then one section per test module."""
    lines = [
        "# Validation evidence",
        "",
        "Every statistical routine of dosefinding is checked against an independent reference:",
        "R (DoseFinding, nlme, emmeans, mvtnorm, base R), SAS PROC MIXED listings, or a publication.",
        "This page is generated from the tests when the site is built: the registry",
        f"`{REGISTRY.as_posix()}` names each test module's functions, reference and source files; the",
        "description, the tolerances and the number of tests are read from the test module. The",
        "reference numbers are JSON files in `tests/fixtures/`, written by the R scripts beside them",
        "(`Rscript tests/fixtures/r/NAME.R` from the repository root) or copied from SAS listings",
        "with their source; the tests read the JSON and do not need R or SAS.",
        "",
        "Run them all with `python -m pytest -q`, or one module, e.g.",
        "`python -m pytest -q tests/mod/test_mcpmod.py`.",
        "",
        "## By function",
        "",
        "| Function | Reference | Tests |",
        "| --- | --- | --- |",
    ]
    by_function: dict[str, list[Evidence]] = {}
    for item in evidence:
        for function in item.functions:
            by_function.setdefault(function, []).append(item)
    for function in sorted(by_function, key=str.lower):
        for number, item in enumerate(by_function[function]):
            name = f"`{function}`" if number == 0 else ""
            lines.append(f"| {name} | {cell(item.reference)} | [`{item.module}`](#{module_anchor(item.module)}) |")
    lines.append("")
    area = None
    for item in evidence:
        if item.area != area:
            area = item.area
            lines += [f"## tests/{area}", ""]
        lines += [f"### `{item.module}` {{ #{module_anchor(item.module)} }}", "",
                  f"- **Checks**: {', '.join(f'`{f}`' for f in item.functions)}",
                  f"- **Reference**: {item.reference}"]
        if item.sources:
            lines.append(f"- **Reference numbers**: {', '.join(f'`{s}`' for s in item.sources)}")
        lines.append(f"- **Test functions**: {item.n_tests}")
        if item.tolerances:
            lines.append(f"- **Tolerances in the code**: {', '.join(f'`{t}`' for t in item.tolerances)}")
        lines += ["", docstring_markdown(item.docstring), ""]
    return "\n".join(lines)


def module_anchor(module: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in module.removesuffix(".py").lower())
