"""The JSON Schemas (draft 2020-12) of the trial, analysis and design specs, generated from their models.

The models are :class:`~dosefinding.study.trial_schema.TrialDocument`,
:class:`~dosefinding.study.analysis_schema.AnalysisDocument` and
:class:`~dosefinding.study.design_spec.DesignDocument`; every property has a
``description`` (with its unit where it has one). Copies are committed in
``study/schemas/trial.schema.json``, ``study/schemas/analysis.schema.json`` and
``study/schemas/design.schema.json`` (a test keeps them equal to the generated ones;
:func:`write_schemas` rewrites them) for editors and other languages; ``dosefinding schema trial``
prints one.

A spec checked by the schema alone may still be refused by the loaders: what needs several
tables (a list with one number per arm, a visit of the schedule, an endpoint named
elsewhere) is checked when the spec is read.

Examples
--------
>>> schema = spec_json_schema("trial")
>>> schema["$schema"], schema["required"]
('https://json-schema.org/draft/2020-12/schema', ['trial', 'arms', 'endpoints'])
>>> schema["$defs"]["PKTable"]["properties"]["half_life"]["description"]
'Half-life (days).'
"""

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from dosefinding.errors import InputError
from dosefinding.study.analysis_schema import AnalysisDocument
from dosefinding.study.design_spec import DesignDocument
from dosefinding.study.trial_schema import TrialDocument

__all__ = ["SCHEMA_DIR", "SPEC_KINDS", "schema_path", "schema_text", "spec_json_schema", "write_schemas"]

SPEC_KINDS: dict[str, type[BaseModel]] = {"trial": TrialDocument, "analysis": AnalysisDocument,
                                          "design": DesignDocument}
"""The kinds of spec and their models."""
SCHEMA_DIR = Path(__file__).parent / "schemas"
"""Where the committed copies of the schemas are."""
_DRAFT = "https://json-schema.org/draft/2020-12/schema"


def _toml(node: Any) -> Any:
    """``node`` without what TOML cannot say: ``null`` alternatives and defaults, property titles."""
    if isinstance(node, list):
        return [_toml(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _toml(v) for k, v in node.items() if not (k == "default" and v is None)}
    if "anyOf" in out:
        options = [o for o in out["anyOf"] if o != {"type": "null"}]
        if len(options) == 1:
            del out["anyOf"]
            out = {**options[0], **out}
        else:
            out["anyOf"] = options
    if isinstance(out.get("default"), dict):
        out["default"] = {k: v for k, v in out["default"].items() if v is not None}
    if isinstance(out.get("properties"), dict):
        out["properties"] = {name: {k: v for k, v in prop.items() if k != "title"}
                             for name, prop in out["properties"].items()}
    return out


def spec_json_schema(kind: Literal["trial", "analysis", "design"] | str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the ``"trial"``, the ``"analysis"`` or the ``"design"`` spec.

    Examples
    --------
    >>> sorted(spec_json_schema("analysis")["properties"])[:3]
    ['arms', 'baseline', 'biomarkers']
    """
    if kind not in SPEC_KINDS:
        raise InputError(f"kind: must be one of {', '.join(SPEC_KINDS)}; got {kind!r}")
    schema = _toml(SPEC_KINDS[kind].model_json_schema())
    return {"$schema": _DRAFT, **schema}


def schema_path(kind: str) -> Path:
    """The committed copy of the schema of ``kind``.

    Examples
    --------
    >>> schema_path("trial").name
    'trial.schema.json'
    """
    return SCHEMA_DIR / f"{kind}.schema.json"


def schema_text(kind: str) -> str:
    """The schema of ``kind`` as the committed file holds it (indented JSON and a final newline)."""
    return json.dumps(spec_json_schema(kind), indent=2, ensure_ascii=False) + "\n"


def write_schemas() -> list[Path]:
    """Rewrite the committed copies from the models (run after changing a model)."""
    paths = []
    for kind in SPEC_KINDS:
        path = schema_path(kind)
        path.write_text(schema_text(kind), encoding="utf-8")
        paths.append(path)
    return paths


if __name__ == "__main__":
    for written in write_schemas():
        print(written)
