"""mkdocs hook: the pages written from the code when the site is built.

- ``reference/trial-spec.md``, ``reference/analysis-spec.md`` and ``reference/design-spec.md`` from the
  specs' JSON Schemas
  (``dosefinding.study.schema.spec_json_schema``; :mod:`spec_reference`);
- ``validation.md`` from the tests and ``tests/references.toml`` (:mod:`validation_evidence`).

A page that cannot be written stops the build with the reason (a key without a description,
a registry entry naming a test that does not exist).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

HOOKS = Path(__file__).parent
ROOT = HOOKS.parents[1]
sys.path[:0] = [str(HOOKS), str(ROOT / "src")]

import spec_reference
import validation_evidence

SPECS = {
    "trial": ("Trial spec reference", """\
A trial spec (TOML) describes a trial to simulate or to design: its arms and doses, the
population, the endpoints with their true dose-response, dropout, safety and the analysis.
`dosefinding.load_spec(path)` reads one and stops at the first problem with a one-line
message naming the key path at fault; `dosefinding schema trial` prints this schema as JSON
Schema.
The preset `a2201` (`dosefinding.study.preset_path("a2201")`) is a complete example; the
[design and power tutorial](../tutorials/design-and-power.md) writes one from scratch."""),
    "analysis": ("Analysis spec reference", """\
An analysis spec (TOML) tells `dosefinding analyze` (and `dosefinding.analyze`) how to analyse
ADaM data: the files, the populations, the arms and their doses, the endpoints, the MCP-Mod
step, responders, categories, safety, biomarkers, exposure, disposition and the report.
Paths are relative to the spec; a bad spec stops with one message naming the key path and the
column; `dosefinding schema analysis` prints this schema as JSON Schema. The
[ADaM tutorial](../tutorials/adam-analysis.md) writes one from scratch for the CDISC pilot."""),
    "design": ("Design spec reference", """\
A design spec (TOML) tells `dosefinding design <command>` what to compute for a dose-finding
design: `[design]` (doses, residual SD, patients per dose, level) and `[candidates]` (the
candidate shapes) serve every command; each command reads its own table (`[power]`, `[optimal]`,
`[plan_mod]`, `[sample_size]`, `[interim]`, `[closed]`, `[bayes]`). A bad spec stops with one
message naming the key path; `dosefinding schema design` prints this schema as JSON Schema. The
preset `a2201` (`examples/design_a2201.toml`) is a complete example; the
[design tutorial](../tutorials/design-and-power.md#the-design-from-the-command-line) runs it."""),
}


def spec_pages() -> dict[str, str]:
    """The spec reference pages, by their path in the site."""
    from dosefinding.study.schema import spec_json_schema

    return {f"reference/{kind}-spec.md": spec_reference.spec_reference(spec_json_schema(kind), title, intro)
            for kind, (title, intro) in SPECS.items()}


def validation_page() -> str:
    return validation_evidence.validation_page(validation_evidence.load_evidence(ROOT))


def on_files(files: Files, config: Any, **kwargs: Any) -> Files:
    pages = {**spec_pages(), "validation.md": validation_page()}
    for path, content in pages.items():
        files.append(File.generated(config, path, content=content))
    return files
