"""The ``dosefinding`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np
import pandas as pd

from dosefinding.errors import DoseFindingError
from dosefinding.mcp import optimal_contrasts, power_mct
from dosefinding.mod import mcpmod
from dosefinding.shapes import Candidates

A2201_DOSES = (0.0, 5.0, 50.0, 300.0)
A2201_SHAPES = {"linear": None, "emax": [10.0, 100.0], "sigemax": (50.0, 3.0), "exponential": 150.0}


def demo(n_per_arm: int, sigma: float, effect: float, alpha: float, seed: int, figure: str | None = None) -> str:
    """Design power and MCP-Mod on one simulated A2201-like trial, as text.

    The Mod step fits the significant shapes, reports their AIC weights, selects the
    smallest AIC and estimates the dose giving half the design effect (TD); ``figure``
    names a PNG file for the dose-response figure (A2201's Figure 2b).
    """
    candidates = Candidates(A2201_DOSES, A2201_SHAPES, max_effect=effect)
    contrasts = optimal_contrasts(candidates, weights=n_per_arm)
    power = power_mct(contrasts, candidates, n=n_per_arm, sigma=sigma, alpha=alpha, seed=seed)
    rng = np.random.default_rng(seed)
    dose = np.repeat(A2201_DOSES, n_per_arm)
    truth = candidates.models[0].response(dose)
    trial = pd.DataFrame({"TRT01PN": dose, "CHG": -4.0 + truth + rng.normal(0.0, sigma, dose.size)})
    result = mcpmod(
        candidates, data=trial, dose="TRT01PN", response="CHG", alpha=alpha, seed=seed,
        selection="AIC", delta=effect / 2,
    )
    lines = [
        f"Virtual A2201 design: doses 0, 5, 50, 300 mg; {n_per_arm} per arm; SD {sigma:g}; effect {effect:g} at 300 mg",
        "",
        f"Power of the MCP step (one-sided alpha {alpha:g}) under each candidate:",
        power.round(3).to_string(),
        "",
        "MCP-Mod on one simulated trial (true shape: linear):",
        result.summary(),
    ]
    if figure is not None and result.selection is not None:
        result.plot().savefig(figure, dpi=120)
        lines += ["", f"Dose-response figure written to {figure}"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dosefinding`` command."""
    parser = argparse.ArgumentParser(prog="dosefinding", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser("demo", help="MCP-Mod on a virtual A2201 trial: design power, one simulated trial")
    demo_parser.add_argument("--n-per-arm", type=int, default=45)
    demo_parser.add_argument("--sigma", type=float, default=5.6)
    demo_parser.add_argument("--effect", type=float, default=-3.5)
    demo_parser.add_argument("--alpha", type=float, default=0.025)
    demo_parser.add_argument("--seed", type=int, default=2201)
    demo_parser.add_argument("--figure", default=None, help="PNG file for the dose-response figure")
    args = parser.parse_args(argv)
    try:
        print(demo(args.n_per_arm, args.sigma, args.effect, args.alpha, args.seed, args.figure))
    except DoseFindingError as exc:
        print(f"dosefinding: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
