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

    ``first_stage``: the first-stage options of ``simulate_power`` (``covariance``, ``df_method``, ``df``).
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


def _write_secret(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8", opener=lambda p, f: os.open(p, f, 0o600)) as out:
        out.write(text)


def serve(db: str, host: str, port: int, admin_code_file: str | None) -> int:
    """Start the randomisation service; on an empty database, create the first administrator.

    The administrator's one-time enrolment code goes to ``admin_code_file`` (mode 0600) or
    to standard error; the administrator sets a password with it (``POST /api/auth/enrol``).
    """
    import uvicorn

    from dosefinding.randomization.service import create_app
    from dosefinding.randomization.store import ServiceError, Store

    store = Store(_database_url(db))
    try:
        code = store.add_user("admin", "admin", bootstrap=True)
    except ServiceError:
        code = None  # an administrator exists already
    if code is not None:
        if admin_code_file is None:
            print(f"administrator 'admin': enrolment code (shown once): {code}", file=sys.stderr)
        else:
            _write_secret(admin_code_file, code)
    uvicorn.run(create_app(store=store), host=host, port=port, log_level="warning")
    return 0


def host_account(db: str, username: str, role: str, full_name: str | None, code_file: str | None) -> int:
    """Create or recover an administrator or sponsor account from the database host; print its enrolment code.

    Whoever can run this has the database itself. It re-activates a revoked or locked
    account of that name (ending its sessions) or creates it, and is audited as ``host:<user>``.
    """
    import getpass

    from dosefinding.randomization.store import ServiceError, existing_store

    store = existing_store(_database_url(db))
    try:
        code = store.accounts.host_account(username, role, getpass.getuser(), full_name=full_name)
    except ServiceError as exc:
        raise InputError(exc.message) from None
    if code_file is None:
        print(f"{role} {username!r}: enrolment code (shown once, valid "
              f"{store.accounts.policy.enrolment_hours:g} hours): {code}")
    else:
        _write_secret(code_file, code)
        print(f"{role} {username!r}: enrolment code written to {code_file}")
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
    serve_parser = commands.add_parser("serve", help="the randomisation service and its pages (needs dosefinding[service])")
    serve_parser.add_argument("--db", default="sqlite:///randomisation.db", help="SQLAlchemy URL or SQLite file")
    serve_parser.add_argument("--host", default="127.0.0.1")
    serve_parser.add_argument("--port", type=int, default=8000)
    serve_parser.add_argument("--admin-code-file", "--admin-token-file", dest="admin_code_file", default=None,
                              help="file (mode 0600) for the first administrator's one-time enrolment code "
                                   "(default: print it)")
    for name, role, text in (("recover-admin", "admin", "recover administrator access from the database host"),
                             ("add-sponsor", "sponsor", "create a sponsor account (approves grants) on the host")):
        host_parser = commands.add_parser(name, help=f"{text}: prints a one-time enrolment code")
        host_parser.add_argument("--db", required=True, help="SQLAlchemy URL or SQLite file")
        host_parser.add_argument("--username", required=True, help=f"the {role} account to create or recover")
        host_parser.add_argument("--full-name", default=None, help="printed name (default the username)")
        host_parser.add_argument("--code-file", default=None, help="write the code to this file (mode 0600)")
        host_parser.set_defaults(host_role=role)
    audit_parser = commands.add_parser("audit-verify", help="verify the audit hash chain of a randomisation database")
    audit_parser.add_argument("db", help="SQLAlchemy URL or SQLite file")
    args = parser.parse_args(argv)
    try:
        if args.command in ("serve", "audit-verify", "recover-admin", "add-sponsor"):
            try:
                if args.command == "serve":
                    return serve(args.db, args.host, args.port, args.admin_code_file)
                if args.command in ("recover-admin", "add-sponsor"):
                    return host_account(args.db, args.username, args.host_role, args.full_name, args.code_file)
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
                        {"covariance": args.covariance, "df_method": args.df_method, "df": df}))
    except DoseFindingError as exc:
        print(f"dosefinding: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
