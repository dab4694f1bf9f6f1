"""The generated pages: the spec references (from a JSON Schema) and the validation evidence (from the tests)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from .code_blocks import DOCS
from .hooks import spec_reference, validation_evidence

ROOT = Path(__file__).parents[2]
PARITY_DIRECTORIES = ["tests/shapes", "tests/design", "tests/mcp", "tests/mod", "tests/mmrm", "tests/endpoints",
                      "tests/study", "tests/report"]

# A small spec schema as pydantic v2 writes them (draft 2020-12): $defs and $ref, optional values as
# anyOf with null, a list of tables, a table of tables by name, an enum, bounds and a default.
SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Mini",
    "description": "A mini spec.",
    "type": "object",
    "additionalProperties": False,
    "required": ["arms", "endpoints"],
    "properties": {
        "arms": {"type": "array", "items": {"$ref": "#/$defs/Arm"}, "minItems": 2, "description": "The arms."},
        "endpoints": {"type": "object", "additionalProperties": {"$ref": "#/$defs/Endpoint"},
                      "description": "Endpoints by PARAMCD."},
        "seed": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None, "description": "Seed."},
    },
    "$defs": {
        "Arm": {"type": "object", "required": ["name", "dose"], "description": "One arm.", "properties": {
            "name": {"type": "string", "minLength": 1, "description": "Arm label."},
            "dose": {"type": "number", "minimum": 0, "description": "Dose in mg."}}},
        "Endpoint": {"type": "object", "required": ["label"], "properties": {
            "label": {"type": "string", "description": "Label in tables."},
            "covariance": {"enum": ["us", "cs", "ar1"], "default": "us", "description": "Structure."},
            "mcp": {"anyOf": [{"$ref": "#/$defs/Mcp"}, {"type": "null"}], "default": None,
                    "description": "MCP-Mod settings."},
            "correlation": {"anyOf": [{"type": "number"}, {"$ref": "#/$defs/Correlation"}],
                            "description": "A number (ar1 rho) or a table."}}},
        "Correlation": {"type": "object", "properties": {
            "structure": {"enum": ["ar1", "cs"], "description": "Structure."}}},
        "Mcp": {"type": "object", "properties": {
            "alpha": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1, "default": 0.025,
                      "description": "One-sided level."},
            "shapes": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "number"}},
                       "description": "Guesstimates by shape."}}},
    },
}


def test_spec_reference_has_a_section_per_table() -> None:
    page = spec_reference.spec_reference(SCHEMA, "Mini spec", "How to write one.")
    headings = re.findall(r"^## (.*?)(?: \{ #[\w-]+ \})?$", page, flags=re.MULTILINE)
    assert headings == ["Top-level keys", "`[[arms]]`", "`[endpoints.<name>]`", "`[endpoints.<name>.mcp]`",
                        "`[endpoints.<name>.correlation]`"]
    links, anchors = set(re.findall(r"\(#(spec-[\w-]+)\)", page)), set(re.findall(r"\{ #(spec-[\w-]+) \}", page))
    assert links == anchors
    rows = {line.split(" | ")[0].strip("| `"): line for line in page.splitlines() if line.startswith("| `")}
    assert rows["arms"] == ("| `arms` | array of tables [`[[arms]]`](#spec-arms) (at least 2 items) | yes |  "
                            "| The arms. |")
    assert "| `dose` | number (>= 0) | yes |  | Dose in mg. |" in page
    assert "| `covariance` | one of \"us\", \"cs\", \"ar1\" | no | `\"us\"` | Structure. |" in page
    assert "| `seed` | integer | no | none | Seed. |" in page
    assert "| `alpha` | number (> 0, < 1) | no | `0.025` | One-sided level. |" in page
    assert "| `shapes` | table of array of number | no |  | Guesstimates by shape. |" in page
    assert "(#spec-endpoints--name--mcp)" in page and "{ #spec-endpoints--name--mcp }" in page


def test_spec_reference_refuses_a_key_without_description() -> None:
    schema = json.loads(json.dumps(SCHEMA))
    del schema["$defs"]["Arm"]["properties"]["dose"]["description"]
    with pytest.raises(ValueError, match=r"arms\.dose: no description"):
        spec_reference.spec_reference(schema, "Mini spec")


def test_spec_reference_of_the_package_schemas() -> None:
    import dosefinding.study.schema as schema_module
    for kind in schema_module.SPEC_KINDS:
        page = spec_reference.spec_reference(schema_module.spec_json_schema(kind), f"{kind} spec")
        assert "## Top-level keys" in page and page.count("| Key | Type |") > 3
        links, anchors = set(re.findall(r"\(#(spec-[\w-]+)\)", page)), set(re.findall(r"\{ #(spec-[\w-]+) \}", page))
        assert links == anchors


def test_validation_registry_is_complete_and_true() -> None:
    evidence = validation_evidence.load_evidence(ROOT)
    assert len({item.module for item in evidence}) == len(evidence), "a test module is listed twice"
    assert validation_evidence.unlisted_reference_modules(ROOT, PARITY_DIRECTORIES) == []
    assert all(item.docstring for item in evidence), "every listed test module says what it checks"
    mcpmod = next(item for item in evidence if item.module == "tests/mod/test_mcpmod.py")
    assert "rtol 1e-06 (CRITERIA)" in mcpmod.tolerances and "atol 1e-08 (T_STATISTICS)" in mcpmod.tolerances


def test_validation_registry_entries_are_checked(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text('"""Checks."""\nfrom dosefinding import mcpmod\n')
    registry = tmp_path / "tests" / "references.toml"
    registry.write_text('[[evidence]]\nmodule = "tests/test_x.py"\nfunctions = ["mmrm"]\nreference = "R"\n')
    with pytest.raises(ValueError, match=r"does not use \['mmrm'\]"):
        validation_evidence.load_evidence(tmp_path)
    registry.write_text('[[evidence]]\nmodule = "tests/test_y.py"\nfunctions = ["mcpmod"]\nreference = "R"\n')
    with pytest.raises(ValueError, match="no such test module"):
        validation_evidence.load_evidence(tmp_path)
    registry.write_text('[[evidence]]\nmodule = "tests/test_x.py"\nfunctions = ["mcpmod"]\nreference = "R"\n'
                        'sources = ["tests/fixtures/r/none.R"]\n')
    with pytest.raises(ValueError, match="no such source file"):
        validation_evidence.load_evidence(tmp_path)


def test_biom_tutorial_states_r_numbers_of_the_fixture() -> None:
    """The R numbers of the biom tutorial are those of tests/fixtures/r/mcpmod_reference.json."""
    fixture = json.loads((ROOT / "tests" / "fixtures" / "r" / "mcpmod_reference.json").read_text())
    case = next(case for case in fixture["mcpmod"] if case["name"] == "biom_AIC_TD")
    page = (DOCS / "tutorials" / "mcpmod-raw-data.md").read_text(encoding="utf-8")
    for name, t, p in zip(case["contrasts"], case["tStat"], case["pVals"]):
        assert f"| {name} | {t:.4f} | {p:.4f} |" in page
    for name, aic, td in zip(case["mods"], case["modcrit"], case["doseEst"]):
        assert f"| {name} | {aic:.4f} | {td:.4f} |" in page
    assert case["selMod"] == "emax" and "Selected model (AIC): emax" in page
