"""The dosefinding command: plan, run and analyse dose-finding trials (MCP-Mod, MMRM, report, randomisation).

dosefinding demo simulates the A2201 virtual trial, analyses it and writes its report;
dosefinding analyze SPEC --out DIR does the same for an analysis spec on ADaM data;
dosefinding power simulates the power of a trial spec; dosefinding design computes the power,
optimal allocation, Mod-step precision, sample size, interim power and the closed or Bayesian
test of a design spec; dosefinding design-app serves a local page to design a trial (doses,
candidate shapes, power, sample size, export as a trial spec); dosefinding serve runs the
randomisation service, with audit-verify, backup and the other commands of its operators.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from dosefinding.errors import DoseFindingError, InputError
from dosefinding.files import check_input_file, check_new_file, check_output_directory
from dosefinding.progress import show_on_stderr, step
from dosefinding.study.design_commands import add_design_parser, design_command


def demo(out: str, seed: int | None, draws: int | None) -> str:
    """Simulate the A2201 virtual trial, analyse it and say where the report is, with headline numbers.

    ``out`` is checked writable before anything is simulated.
    """
    check_output_directory(out)
    step(f"the A2201 virtual trial: simulate, analyse, report to {out}")
    from dosefinding.study.pipeline import run_demo

    result = run_demo(out, seed=seed, model_average_draws=draws)
    return "Virtual A2201 trial (synthetic data): simulated ADaM in " + str(Path(out) / "adam") + "\n" + str(result.summary())


def analyze(spec: str, out: str, layout: str | None = None) -> str:
    """Run an analysis spec on its ADaM data, lay out the report (the spec's layout unless ``layout`` is
    given: a built-in name or a layout TOML) and say where it is, with headline numbers.

    ``out`` is checked writable, and the spec and the layout read, before any analysis runs.
    """
    check_output_directory(out)
    step(f"reading the analysis spec {spec}")
    from dosefinding.study.pipeline import analyze as run

    return str(run(spec, out, layout=layout).summary())


def power(spec: str, n_sims: int, seed: int | None, jobs: int, scheduler: str | None, chunk_size: int,
          quiet: bool, first_stage: dict[str, object] | None = None) -> str:
    """Simulate whole trials from a spec (a TOML file or a preset name) and analyse each: power of MCP-Mod.

    ``first_stage``: the analysis options of ``simulate_power`` (``covariance``, ``df_method``, ``df``,
    ``selection``, ``alternative``, ``alpha``; None: the spec's).
    """
    step(f"reading the trial spec {spec}")
    from dosefinding.study.power import simulate_power

    # ignore[arg-type] below: the options are typed per key by simulate_power, which checks each one
    return str(simulate_power(spec, n_sims=n_sims, seed=seed, jobs=jobs, scheduler=scheduler, chunk_size=chunk_size,
                              progress=not quiet, **(first_stage or {})).summary())  # type: ignore[arg-type]


def _number(value: str, option: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise InputError(f"{option}: must be a number or 'min', got {value!r}") from None


DATABASE_URL_ENV = "DOSEFINDING_DATABASE_URL"
DEFAULT_DATABASE = "randomisation.db"


def _database_url(db: str | None, db_url_file: str | None = None) -> str:
    """The database URL: ``--db`` (a SQLite file, or a URL without a password), else ``--db-url-file``,
    else the environment variable ``DOSEFINDING_DATABASE_URL``, else ``randomisation.db``.

    A password on the command line is visible to every user of the host (``ps``), so it is refused.
    """
    from sqlalchemy.engine import make_url

    if db is not None:
        if "://" not in db:
            return f"sqlite:///{db}"
        if make_url(db).password is not None:
            raise InputError(f"--db: a URL with a password is visible to every user of the host; put it in "
                             f"{DATABASE_URL_ENV} or in a file named by --db-url-file")
        return db
    if db_url_file is not None:
        try:
            return Path(db_url_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise InputError(f"--db-url-file: cannot read {db_url_file!r} ({exc.strerror})") from None
    return os.environ.get(DATABASE_URL_ENV) or f"sqlite:///{DEFAULT_DATABASE}"


def _check_sqlite_file(url: str, option: str, *, new_ok: bool) -> None:
    """A SQLite database URL's file: there and a file, or (``new_ok``) a new file in a writable directory."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    file = Path(parsed.database)
    if new_ok and not file.exists():
        check_new_file(file, option)
    else:
        check_input_file(file, option)


def serve(db: str, host: str, port: int, admin_code_file: str | None, *, certfile: str | None = None,
          keyfile: str | None = None, api_docs: bool = False, audit_key_file: str | None = None) -> int:
    """Start the randomisation service (HTTPS with ``certfile`` and ``keyfile``); on an empty database,
    create the first administrator (and the audit key).

    The administrator's one-time enrolment code goes to ``admin_code_file`` (mode 0600) or
    to standard error; the administrator sets a password with it (``POST /api/auth/enrol``).
    """
    import uvicorn

    from dosefinding.randomization.security import write_private
    from dosefinding.randomization.service import create_app
    from dosefinding.randomization.store import ServiceError, Store

    if (certfile is None) != (keyfile is None):
        raise InputError("--certfile and --keyfile: give both for HTTPS, or neither")
    for option, file in (("--certfile", certfile), ("--keyfile", keyfile)):
        if file is not None:
            check_input_file(file, option)
    if admin_code_file is not None:
        check_new_file(admin_code_file, "--admin-code-file")
    _check_sqlite_file(db, "--db", new_ok=True)
    store = Store(db, audit_key_file=audit_key_file)
    key = store.audit_key
    if store.audit_key_created:
        print(f"audit key created: {key.path} (mode 0600; keep it off the database's volume, with an offline copy: "
              "without it the trail cannot be verified)", file=sys.stderr)
    try:
        code = store.add_user("admin", "admin", bootstrap=True)
    except ServiceError:
        code = None  # an administrator exists already
    if code is not None:
        if admin_code_file is None:
            print(f"administrator 'admin': enrolment code (shown once): {code}", file=sys.stderr)
        else:
            write_private(admin_code_file, code)
    uvicorn.run(create_app(store=store, api_docs=api_docs), host=host, port=port, log_level="warning",
                proxy_headers=True, forwarded_allow_ips="127.0.0.1", ssl_certfile=certfile, ssl_keyfile=keyfile)
    return 0


def operations(command: str, db: str, path: str, audit_key_file: str | None = None) -> int:
    """``backup``, ``restore`` and ``audit-export``; exit status 0 if the chain verifies, 1 if not."""
    from dosefinding.randomization import operations as ops

    if command == "restore":
        check_input_file(path, "backup")
        _check_sqlite_file(db, "--db", new_ok=True)
    else:
        check_new_file(path, {"backup": "target", "audit-export": "out"}[command])
    if command == "backup":
        result = ops.backup(db, path, audit_key_file=audit_key_file)
    elif command == "restore":
        result = ops.restore(path, db, audit_key_file=audit_key_file)
    else:
        from dosefinding.randomization.security import write_private
        from dosefinding.randomization.store import Actor, existing_store

        store = existing_store(db, audit_key_file=audit_key_file)
        auditor = Actor("command line", "auditor")
        records = store.audit_records(auditor, limit=None)
        verification = store.verify_audit()
        text = ops.audit_html(records, study=store.study_public(auditor)["name"], verification=str(verification.summary())) \
            if path.endswith((".html", ".htm")) else ops.audit_csv(records)
        write_private(path, text)
        print(f"{len(records)} audit records written to {path}; {verification.summary()}")
        return 0 if verification.valid else 1
    print(f"{result.target}: {result.summary}")
    return 0 if result.valid else 1


def host_account(db: str, username: str, role: str, full_name: str | None, code_file: str | None,
                 audit_key_file: str | None = None) -> int:
    """Create or recover an administrator or sponsor account from the database host; print its enrolment code.

    Whoever can run this has the database itself. It re-activates a revoked or locked
    account of that name (ending its sessions) or creates it, and is audited as ``host:<user>``.
    """
    import getpass

    from dosefinding.randomization.security import write_private
    from dosefinding.randomization.store import ServiceError, existing_store

    if code_file is not None:
        check_new_file(code_file, "--code-file")
    store = existing_store(db, audit_key_file=audit_key_file)
    try:
        code = store.accounts.host_account(username, role, getpass.getuser(), full_name=full_name)
    except ServiceError as exc:
        raise InputError(exc.message) from None
    if code_file is None:
        print(f"{role} {username!r}: enrolment code (shown once, valid "
              f"{store.accounts.policy.enrolment_hours:g} hours): {code}")
    else:
        write_private(code_file, code)
        print(f"{role} {username!r}: enrolment code written to {code_file}")
    return 0


def audit_verify(db: str, audit_key_file: str | None = None, checkpoints: Sequence[str] = ()) -> int:
    """Verify a randomisation database read-only; exit status 0 if intact, 1 if not."""
    from dosefinding.randomization.store import verify_audit

    result = verify_audit(db, audit_key_file=audit_key_file, checkpoints=checkpoints)
    print(result.summary())
    return 0 if result.valid else 1


def audit_checkpoint(db: str, out: str, audit_key_file: str | None = None) -> int:
    """Write a signed checkpoint of an intact trail; exit status 1 (and no file) if the trail is not intact."""
    from dosefinding.randomization.store import write_audit_checkpoint

    check_new_file(out, "--out")
    report, path = write_audit_checkpoint(db, out, audit_key_file=audit_key_file)
    if path is None:
        print(report.summary())
        print("no checkpoint written: the trail is not intact", file=sys.stderr)
        return 1
    print(f"checkpoint written to {path}: record {report.n_records}, MAC {report.head}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dosefinding`` command."""
    from dosefinding import __version__

    parser = argparse.ArgumentParser(prog="dosefinding", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"dosefinding {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser("demo", help="simulate the A2201 virtual trial and analyse it (report.html)")
    demo_parser.add_argument("--out", default="a2201-demo", help="output directory (default a2201-demo)")
    demo_parser.add_argument("--seed", type=int, default=None, help="seed of the simulation (default the preset's)")
    demo_parser.add_argument("--draws", type=int, default=None,
                             help="bootstrap draws of the model averaging (default the spec's)")
    demo_parser.add_argument("--quiet", action="store_true", help="no progress lines on standard error")
    analyze_parser = commands.add_parser("analyze", help="run an analysis spec (TOML) on ADaM data")
    analyze_parser.add_argument("spec", help="analysis spec, e.g. examples/cdiscpilot01_analysis.toml")
    analyze_parser.add_argument("--out", required=True, help="output directory for report.html and the rest")
    analyze_parser.add_argument("--layout", default=None,
                                help="report layout: a2201-paper, csr or a layout TOML file (default: the spec's)")
    analyze_parser.add_argument("--quiet", action="store_true", help="no progress lines on standard error")
    power_parser = commands.add_parser("power", help="power of MCP-Mod by simulating whole trials from a spec")
    power_parser.add_argument("spec", help="study spec (TOML file) or preset name, e.g. a2201")
    power_parser.add_argument("--n-sims", type=int, default=1000, help="simulated trials (default 1000)")
    power_parser.add_argument("--seed", type=int, default=None, help="seed (default the spec's)")
    power_parser.add_argument("--jobs", type=int, default=1, help="worker processes (joblib)")
    power_parser.add_argument("--scheduler", default=None, help="address of a dask.distributed scheduler")
    power_parser.add_argument("--chunk-size", type=int, default=250,
                              help="trials per chunk; results depend on it, not on --jobs (default 250)")
    power_parser.add_argument("--quiet", action="store_true", help="no progress bar on standard error")
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
    power_parser.add_argument("--alternative", default=None,
                              help="MCP step: one-sided or two-sided (default the spec's [analysis] alternative, "
                                   "else one-sided)")
    power_parser.add_argument("--alpha", type=float, default=None,
                              help="level of the MCP step (default the spec's [analysis] alpha, else 0.025; "
                                   "the output says which)")
    design_app_parser = commands.add_parser(
        "design-app", help="a local page to design a trial: doses, candidate shapes, power, sample size, export")
    design_app_parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    design_app_parser.add_argument("--port", type=int, default=8765, help="port (default 8765; 0: any free port)")
    design_app_parser.add_argument("--no-browser", action="store_true", help="do not open the page in a browser")
    add_design_parser(commands)
    schema_parser = commands.add_parser("schema", help="print the JSON Schema of the trial, analysis or design spec")
    schema_parser.add_argument("kind", choices=("trial", "analysis", "design"), help="which spec")
    serve_parser = commands.add_parser("serve", help="the randomisation service and its pages (needs dosefinding[service])")
    database_help = (f"SQLite file or SQLAlchemy URL without a password (default: ${DATABASE_URL_ENV}, else "
                     f"{DEFAULT_DATABASE})")
    serve_parser.add_argument("--db", default=None, help=database_help)
    serve_parser.add_argument("--db-url-file", default=None, help="file holding the database URL (with its password)")
    serve_parser.add_argument("--host", default="127.0.0.1")
    serve_parser.add_argument("--port", type=int, default=8000)
    serve_parser.add_argument("--admin-code-file", "--admin-token-file", dest="admin_code_file", default=None,
                              help="file (mode 0600) for the first administrator's one-time enrolment code "
                                   "(default: print it)")
    key_help = "audit key file (default $DOSEFINDING_AUDIT_KEY_FILE, else ~/.config/dosefinding/audit.key)"
    serve_parser.add_argument("--audit-key-file", default=None, help=key_help + "; created (0600) if missing")
    serve_parser.add_argument("--certfile", default=None, help="TLS certificate (PEM): serve HTTPS")
    serve_parser.add_argument("--keyfile", default=None, help="TLS private key (PEM) of --certfile")
    serve_parser.add_argument("--api-docs", action="store_true", help="serve the OpenAPI schema at /openapi.json")
    audit_parser = commands.add_parser("audit-verify", help="verify a randomisation database's audit trail, read-only")
    audit_parser.add_argument("db", nargs="?", default=None, help=database_help)
    audit_parser.add_argument("--checkpoint", action="append", default=[],
                              help="checkpoint file written by audit-checkpoint (repeatable)")
    checkpoint_parser = commands.add_parser("audit-checkpoint",
                                            help="write a signed checkpoint of the audit trail's head to a file")
    checkpoint_parser.add_argument("db", nargs="?", default=None, help=database_help)
    checkpoint_parser.add_argument("--out", required=True, help="new file outside the database's volume")
    backup_parser = commands.add_parser("backup", help="online backup of a randomisation database, chain verified")
    backup_parser.add_argument("target", help="new file to write (SQLite copy, or pg_dump custom archive)")
    backup_parser.add_argument("--db", default=None, help=database_help)
    restore_parser = commands.add_parser("restore", help="restore a backup into a new database and verify its chain")
    restore_parser.add_argument("backup", help="file written by 'dosefinding backup'")
    restore_parser.add_argument("--db", default=None, help="new SQLite file or empty PostgreSQL database: " + database_help)
    export_parser = commands.add_parser("audit-export", help="the audit trail for inspectors: CSV or print-ready HTML")
    export_parser.add_argument("out", help="output file: .csv, or .html (print to PDF from a browser)")
    export_parser.add_argument("--db", default=None, help=database_help)
    host_parsers = []
    for name, role, text in (("recover-admin", "admin", "recover administrator access from the database host"),
                             ("add-sponsor", "sponsor", "create a sponsor account (approves grants) on the host")):
        host_parser = commands.add_parser(name, help=f"{text}: prints a one-time enrolment code")
        host_parser.add_argument("--db", default=None, help=database_help)
        host_parser.add_argument("--username", required=True, help=f"the {role} account to create or recover")
        host_parser.add_argument("--full-name", default=None, help="printed name (default the username)")
        host_parser.add_argument("--code-file", default=None, help="write the code to this file (mode 0600)")
        host_parser.set_defaults(host_role=role)
        host_parsers.append(host_parser)
    for database_parser in (audit_parser, checkpoint_parser, backup_parser, restore_parser, export_parser,
                            *host_parsers):
        database_parser.add_argument("--db-url-file", default=None, help="file holding the database URL")
        database_parser.add_argument("--audit-key-file", default=None, help=key_help)
    args = parser.parse_args(argv)
    try:
        if args.command in ("serve", "audit-verify", "audit-checkpoint", "backup", "restore", "audit-export",
                            "recover-admin", "add-sponsor"):
            try:
                db = _database_url(args.db, args.db_url_file)
                if args.command == "serve":
                    return serve(db, args.host, args.port, args.admin_code_file, certfile=args.certfile,
                                 keyfile=args.keyfile, api_docs=args.api_docs, audit_key_file=args.audit_key_file)
                if args.command == "audit-checkpoint":
                    return audit_checkpoint(db, args.out, args.audit_key_file)
                if args.command in ("recover-admin", "add-sponsor"):
                    return host_account(db, args.username, args.host_role, args.full_name, args.code_file,
                                        args.audit_key_file)
                if args.command != "audit-verify":
                    path = {"backup": "target", "restore": "backup", "audit-export": "out"}[args.command]
                    return operations(args.command, db, getattr(args, path), args.audit_key_file)
                return audit_verify(db, args.audit_key_file, args.checkpoint)
            except ImportError as exc:
                print(f"dosefinding: error: {exc.name} is missing: pip install 'dosefinding[service]'", file=sys.stderr)
                return 2
        if args.command == "design-app":
            from dosefinding.design.app.server import serve as serve_design

            return serve_design(args.host, args.port, open_browser=not args.no_browser)
        if args.command == "schema":
            from dosefinding.study.schema import schema_text

            print(schema_text(args.kind), end="")
            return 0
        stop_progress = None if args.quiet else show_on_stderr()
        try:
            if args.command == "demo":
                print(demo(args.out, args.seed, args.draws))
            elif args.command == "analyze":
                print(analyze(args.spec, args.out, args.layout))
            elif args.command == "power":
                df = args.df if args.df in (None, "min") else _number(args.df, "--df")
                print(power(args.spec, args.n_sims, args.seed, args.jobs, args.scheduler, args.chunk_size, args.quiet,
                            {"covariance": args.covariance, "df_method": args.df_method, "df": df,
                             "selection": args.selection, "alternative": args.alternative, "alpha": args.alpha}))
            elif args.command == "design":
                print(design_command(args))
        finally:
            if stop_progress is not None:
                stop_progress()
    except DoseFindingError as exc:
        print(f"dosefinding: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
