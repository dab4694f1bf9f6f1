"""The ``dosefinding`` command."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from dosefinding.errors import DoseFindingError, InputError


def demo(out: str, seed: int | None, draws: int | None) -> str:
    """Simulate the A2201 virtual trial, analyse it and say where the report is, with headline numbers."""
    from dosefinding.study.pipeline import run_demo

    result = run_demo(out, seed=seed, model_average_draws=draws)
    return "Virtual A2201 trial (synthetic data): simulated ADaM in " + str(Path(out) / "adam") + "\n" + result.summary()


def analyze(spec: str, out: str) -> str:
    """Run an analysis spec on its ADaM data and say where the report is, with headline numbers."""
    from dosefinding.study.pipeline import analyze as run

    return run(spec, out).summary()


def power(spec: str, n_sims: int, seed: int | None, jobs: int, scheduler: str | None, chunk_size: int,
          quiet: bool, first_stage: dict[str, object] | None = None) -> str:
    """Simulate whole trials from a spec (a TOML file or a preset name) and analyse each: power of MCP-Mod.

    ``first_stage``: the analysis options of ``simulate_power`` (``covariance``, ``df_method``, ``df``,
    ``selection``, ``alternative``).
    """
    from dosefinding.study.power import simulate_power

    return simulate_power(spec, n_sims=n_sims, seed=seed, jobs=jobs, scheduler=scheduler, chunk_size=chunk_size,
                          progress=not quiet, **(first_stage or {})).summary()  # type: ignore[arg-type]


def _number(value: str, option: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise InputError(f"{option}: must be a number or 'min', got {value!r}") from None


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
    demo_parser = commands.add_parser("demo", help="simulate the A2201 virtual trial and analyse it (report.html)")
    demo_parser.add_argument("--out", default="a2201-demo", help="output directory (default a2201-demo)")
    demo_parser.add_argument("--seed", type=int, default=None, help="seed of the simulation (default the preset's)")
    demo_parser.add_argument("--draws", type=int, default=None,
                             help="bootstrap draws of the model averaging (default the spec's)")
    analyze_parser = commands.add_parser("analyze", help="run an analysis spec (TOML) on ADaM data")
    analyze_parser.add_argument("spec", help="analysis spec, e.g. examples/cdiscpilot01_analysis.toml")
    analyze_parser.add_argument("--out", required=True, help="output directory for report.html and the rest")
    power_parser = commands.add_parser("power", help="power of MCP-Mod by simulating whole trials from a spec")
    power_parser.add_argument("spec", help="study spec (TOML file) or preset name, e.g. a2201")
    power_parser.add_argument("--n-sims", type=int, default=1000, help="simulated trials (default 1000)")
    power_parser.add_argument("--seed", type=int, default=None, help="seed (default the spec's)")
    power_parser.add_argument("--jobs", type=int, default=1, help="worker processes (joblib)")
    power_parser.add_argument("--scheduler", default=None, help="address of a dask.distributed scheduler")
    power_parser.add_argument("--chunk-size", type=int, default=250,
                              help="trials per chunk; results depend on it, not on --jobs (default 250)")
    power_parser.add_argument("--quiet", action="store_true", help="no progress bar")
    power_parser.add_argument("--covariance", default="us",
                              help="MMRM covariance structure of the first stage: us, cs, csh, ar1, ar1h, toep, "
                                   "toeph, ad, adh or sp_exp (on the visit weeks; default us)")
    power_parser.add_argument("--df-method", default="satterthwaite",
                              help="df of the LS means (with --df min): satterthwaite, residual, between_within, "
                                   "kenward_roger, kenward_roger_linear (default satterthwaite)")
    power_parser.add_argument("--df", default=None,
                              help="df of the MCP step: a number or 'min' (the LS means' smallest; default normal)")
    power_parser.add_argument("--selection", default="AIC",
                              help="Mod step: AIC, maxT or aveAIC (AIC weights; TD their weighted mean; default AIC)")
    power_parser.add_argument("--alternative", default="one-sided",
                              help="MCP step: one-sided (default) or two-sided")
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
        if args.command == "demo":
            print(demo(args.out, args.seed, args.draws))
        elif args.command == "analyze":
            print(analyze(args.spec, args.out))
        elif args.command == "power":
            df = args.df if args.df in (None, "min") else _number(args.df, "--df")
            print(power(args.spec, args.n_sims, args.seed, args.jobs, args.scheduler, args.chunk_size, args.quiet,
                        {"covariance": args.covariance, "df_method": args.df_method, "df": df,
                         "selection": args.selection, "alternative": args.alternative}))
    except DoseFindingError as exc:
        print(f"dosefinding: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
