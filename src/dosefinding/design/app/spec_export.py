"""A design as a trial spec (TOML) that :func:`~dosefinding.study.spec.parse_spec` and ``dosefinding power`` accept.

The spec is the smallest virtual trial of the design: one arm per dose with the design's
patients, one endpoint ``RESP`` measured at one visit (the design's week) whose change from
baseline has residual SD ``sigma`` and, over placebo, the mean of the chosen true candidate
(``truth``), and an ``[analysis]`` table with the design's ``alpha``, ``alternative`` and
candidate shapes (``candidates``, with the page's ``max_effect``), which the simulation of
``dosefinding power`` tests. The powers and the sample size the page showed are written as
comments.

Examples
--------
>>> from dosefinding.design.app.inputs import DEFAULTS, read_design
>>> from dosefinding.study.spec import parse_spec
>>> spec = parse_spec(design_spec(read_design(DEFAULTS)))
>>> [arm.n for arm in spec.arms], spec.visits, spec.analysis["alpha"]
([45, 45, 45, 45], (12,), 0.025)
>>> dict(spec.analysis["candidates"]), spec.analysis["max_effect"]
({'linear': None, 'emax': [10, 100], 'sigemax': [[50, 3]], 'exponential': [150]}, -3.5)
"""

from __future__ import annotations

import json
from typing import Any

from dosefinding import __version__
from dosefinding.design.app.inputs import DesignInput
from dosefinding.shapes.candidates import Candidates

__all__ = ["ENDPOINT", "design_spec"]

ENDPOINT = "RESP"
"""PARAMCD of the exported spec's endpoint."""


def design_spec(design: DesignInput, numbers: dict[str, Any] | None = None) -> str:
    """The trial spec of ``design`` as TOML text; ``numbers`` (of
    :func:`~dosefinding.design.app.results.design_numbers`) adds the page's powers and sample size as comments."""
    cands = design.candidates
    truth = next(m for m in cands.models if m.label == design.truth)
    lines = [f"# Trial spec exported by dosefinding {__version__} design-app.",
             f"# Candidate models (max effect {_number(design.max_effect)}): "
             + "; ".join(m.description for m in cands.models) + ".",
             f"# Design: sigma {_number(design.sigma)}, alpha {_number(design.alpha)} {design.alternative}."]
    if numbers is not None:
        lines.append("# Power of the MCP step by model: " + ", ".join(
            f"{label} {p:.3f}" for label, p in zip(numbers["labels"], numbers["power"]["by_model"], strict=True)) + ".")
        size = numbers["sample_size"]
        if "n" in size:
            lines.append(f"# Sample size for {size['summary']} power {_number(size['target'])}: "
                         f"{', '.join(str(k) for k in size['n'])} per arm ({size['total']} in all).")
    lines += [f"# The simulated truth is the candidate {truth.label}: {truth.description}.", "",
              "[trial]", f"name = {_string(design.name)}", "synthetic = true", "seed = 1",
              f"visits = [{design.visit}]",
              f"description = {_string('Exported from dosefinding design-app: ' + truth.description)}", ""]
    for dose, n in zip(design.doses.tolist(), design.n.tolist(), strict=True):
        lines += ["[[arms]]", f"name = {_string('Placebo' if dose == 0 else f'Dose {dose:g}')}",
                  f"dose = {_number(dose)}", f"n = {n}", ""]
    effect = [f"shape = {_string(truth.shape)}",
              f"parameters = [{', '.join(_number(v) for v in truth.parameters.values())}]"]
    if truth.constant is not None:
        constant = truth.constant
        effect.append("constant = " + (f"[{', '.join(_number(v) for v in constant)}]" if isinstance(constant, tuple)
                                       else _number(constant)))
    lines += [f"[endpoints.{ENDPOINT}]", 'label = "Primary endpoint"',
              f"baseline = {{distribution = \"normal\", mean = 0, sd = {_number(design.sigma)}}}",
              f"sd = {_number(design.sigma)}",
              f"change = {{placebo = 0, effect = {{{', '.join(effect)}}}}}", "",
              "[analysis]", f"endpoint = {_string(ENDPOINT)}", f"visit = {design.visit}",
              f"alpha = {_number(design.alpha)}", f"alternative = {_string(design.alternative)}",
              f"candidates = {_shapes(cands)}", f"max_effect = {_number(design.max_effect)}", ""]
    return "\n".join(lines)


def _shapes(candidates: Candidates) -> str:
    """The candidate shapes as the TOML inline table ``Candidates`` reads back into the same models: ``true`` for
    a shape without guesstimates, a list of numbers for a one-parameter shape, else a list of rows (linint's row,
    one share per active dose, has one number when there is one active dose)."""
    guesses: dict[str, list[tuple[float, ...]]] = {}
    for model in candidates.models:
        guesses.setdefault(model.shape, []).append(model.guesstimate)
    items = []
    for shape, rows in guesses.items():
        if not rows[0]:
            value = "true"
        elif shape != "linint" and all(len(row) == 1 for row in rows):
            value = f"[{', '.join(_number(row[0]) for row in rows)}]"
        else:
            value = "[" + ", ".join(f"[{', '.join(_number(v) for v in row)}]" for row in rows) + "]"
        items.append(f"{shape} = {value}")
    return "{" + ", ".join(items) + "}"


def _number(value: float) -> str:
    """A TOML float or integer (shortest repr that reads back the same)."""
    number = float(value)
    return str(int(number)) if number.is_integer() and abs(number) < 2**53 else repr(number)


def _string(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(text)
