"""The ``dosefinding`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np
import pandas as pd

from dosefinding.errors import DoseFindingError
from dosefinding.mcp import mct_test, optimal_contrasts, power_mct
from dosefinding.shapes import Candidates

A2201_DOSES = (0.0, 5.0, 50.0, 300.0)
A2201_SHAPES = {"linear": None, "emax": [10.0, 100.0], "sigemax": (50.0, 3.0), "exponential": 150.0}


def demo(n_per_arm: int, sigma: float, effect: float, alpha: float, seed: int) -> str:
    """Design power and the MCP step on one simulated A2201-like trial, as text."""
    candidates = Candidates(A2201_DOSES, A2201_SHAPES, max_effect=effect)
    contrasts = optimal_contrasts(candidates, weights=n_per_arm)
    power = power_mct(contrasts, candidates, n=n_per_arm, sigma=sigma, alpha=alpha, seed=seed)
    rng = np.random.default_rng(seed)
    dose = np.repeat(A2201_DOSES, n_per_arm)
    truth = candidates.models[0].response(dose)
    trial = pd.DataFrame({"TRT01PN": dose, "CHG": -4.0 + truth + rng.normal(0.0, sigma, dose.size)})
    result = mct_test(candidates, data=trial, dose="TRT01PN", response="CHG", alpha=alpha, seed=seed)
    return "\n".join(
        [
            (
                "Virtual A2201 design: doses 0, 5, 50, 300 mg; "
                f"{n_per_arm} per arm; SD {sigma:g}; effect {effect:g} at 300 mg"
            ),
            "",
            f"Power of the MCP step (one-sided alpha {alpha:g}) under each candidate:",
            power.round(3).to_string(),
            "",
            "One simulated trial (true shape: linear):",
            result.summary(),
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dosefinding`` command."""
    parser = argparse.ArgumentParser(prog="dosefinding", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser("demo", help="MCP step of a virtual A2201 trial: power and one simulated test")
    demo_parser.add_argument("--n-per-arm", type=int, default=45)
    demo_parser.add_argument("--sigma", type=float, default=5.6)
    demo_parser.add_argument("--effect", type=float, default=-3.5)
    demo_parser.add_argument("--alpha", type=float, default=0.025)
    demo_parser.add_argument("--seed", type=int, default=2201)
    args = parser.parse_args(argv)
    try:
        print(demo(args.n_per_arm, args.sigma, args.effect, args.alpha, args.seed))
    except DoseFindingError as exc:
        print(f"dosefinding: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
