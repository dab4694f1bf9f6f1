"""The ``dosefinding`` command."""

from __future__ import annotations

import argparse
import os
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


def _database_url(db: str) -> str:
    return db if "://" in db else f"sqlite:///{db}"


def serve(db: str, host: str, port: int, admin_token_file: str | None) -> int:
    """Start the randomisation service; on an empty database, create the first administrator."""
    import uvicorn

    from dosefinding.randomization.service import create_app
    from dosefinding.randomization.store import ServiceError, Store

    store = Store(_database_url(db))
    try:
        token = store.add_user("admin", "admin", bootstrap=True)
    except ServiceError:
        token = None  # an administrator exists already
    if token is not None:
        if admin_token_file is None:
            print(f"administrator token (shown once): {token}", file=sys.stderr)
        else:
            with open(admin_token_file, "w", encoding="utf-8", opener=lambda p, f: os.open(p, f, 0o600)) as out:
                out.write(token)
    uvicorn.run(create_app(store=store), host=host, port=port, log_level="warning")
    return 0


def audit_verify(db: str) -> int:
    """Verify the audit trail of a randomisation database; exit status 0 if intact, 1 if not."""
    from dosefinding.randomization.store import verify_audit

    result = verify_audit(_database_url(db))
    print(result.summary())
    return 0 if result.valid else 1


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
    serve_parser = commands.add_parser("serve", help="the randomisation service and its pages (needs dosefinding[service])")
    serve_parser.add_argument("--db", default="sqlite:///randomisation.db", help="SQLAlchemy URL or SQLite file")
    serve_parser.add_argument("--host", default="127.0.0.1")
    serve_parser.add_argument("--port", type=int, default=8000)
    serve_parser.add_argument("--admin-token-file", default=None,
                              help="file to write the first administrator's token to (default: print it)")
    audit_parser = commands.add_parser("audit-verify", help="verify the audit hash chain of a randomisation database")
    audit_parser.add_argument("db", help="SQLAlchemy URL or SQLite file")
    args = parser.parse_args(argv)
    try:
        if args.command in ("serve", "audit-verify"):
            try:
                if args.command == "serve":
                    return serve(args.db, args.host, args.port, args.admin_token_file)
                return audit_verify(args.db)
            except ImportError as exc:
                print(f"dosefinding: error: {exc.name} is missing: pip install 'dosefinding[service]'", file=sys.stderr)
                return 2
        print(demo(args.n_per_arm, args.sigma, args.effect, args.alpha, args.seed, args.figure))
    except DoseFindingError as exc:
        print(f"dosefinding: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
