"""Operations on a randomisation database: online backup and restore, the audit trail for inspectors.

- :func:`backup` copies a live database: SQLite through its online backup API (a consistent
  copy while the service runs), PostgreSQL through ``pg_dump --format=custom``. The copy is
  created readable by its owner only, and its audit chain is verified before it is reported.
- :func:`restore` writes a backup into a new SQLite file or an empty PostgreSQL database
  (``pg_restore``) and verifies the restored audit chain; a restore over existing data is
  refused.
- :func:`audit_csv` and :func:`audit_html` render the audit trail for an inspector: one row
  per record (sequence, time, who, role, action, subject, details, hash), as CSV with
  formula-like cells neutralised, or as a self-contained HTML page ready to print to PDF.
"""

from __future__ import annotations

import csv
import html
import io
import json
import shutil
import sqlite3
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dosefinding.errors import InputError
from dosefinding.files import check_input_file
from dosefinding.randomization.security import csv_cell, private_sqlite_file

__all__ = ["AUDIT_COLUMNS", "BackupResult", "audit_csv", "audit_html", "backup", "restore"]

SQLITE_HEADER = b"SQLite format 3\x00"  # the first bytes of every SQLite database file
PG_DUMP_HEADER = b"PGDMP"  # the first bytes of a pg_dump custom-format archive
AUDIT_COLUMNS = ("seq", "ts", "actor", "role", "action", "subject", "details", "hash")


def _cells(record: Mapping[str, Any]) -> list[str]:
    details = json.dumps(record["details"], sort_keys=True, ensure_ascii=False)
    return [str(record[c]) if record.get(c) is not None else "" for c in AUDIT_COLUMNS[:6]] + [details,
                                                                                               str(record["hash"])]


def audit_csv(records: Sequence[Mapping[str, Any]]) -> str:
    """The audit records as CSV; a cell a spreadsheet would run as a formula starts with ``'``.

    Examples
    --------
    >>> rec = {"seq": 1, "ts": "2026-01-01T00:00:00+00:00", "actor": "inv1", "role": "investigator",
    ...        "action": "subject.unblind", "subject": "S1", "details": {"reason": "x"}, "hash": "ab"}
    >>> print(audit_csv([rec | {"subject": "=HYPERLINK(1)"}]).splitlines()[1])
    1,2026-01-01T00:00:00+00:00,inv1,investigator,subject.unblind,'=HYPERLINK(1),"{""reason"": ""x""}",ab
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(AUDIT_COLUMNS)
    for record in records:
        writer.writerow([csv_cell(cell) for cell in _cells(record)])
    return buffer.getvalue()


_PRINT_STYLE = """
body { font-family: system-ui, sans-serif; font-size: 9pt; margin: 1.5cm; color: #000; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #999; padding: 2px 4px; vertical-align: top; text-align: left; }
th { background: #eee; } td.hash { font-family: monospace; font-size: 7pt; word-break: break-all; }
thead { display: table-header-group; } tr { page-break-inside: avoid; }
@page { size: A4 landscape; margin: 1cm; }
"""


def audit_html(records: Sequence[Mapping[str, Any]], *, study: str, verification: str) -> str:
    """The audit records as a self-contained, print-ready HTML page (no script, every value escaped).

    Examples
    --------
    >>> page = audit_html([], study="A2201 <test>", verification="audit trail OK: 0 records")
    >>> "A2201 &lt;test&gt;" in page and "<script" not in page
    True
    """
    rows = "\n".join(
        "<tr>" + "".join(f'<td{" class=hash" if c == "hash" else ""}>{html.escape(v)}</td>'
                         for c, v in zip(AUDIT_COLUMNS, _cells(r), strict=True)) + "</tr>"
        for r in records
    )
    head = "".join(f"<th>{html.escape(c)}</th>" for c in AUDIT_COLUMNS)
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Audit trail: {html.escape(study)}'
            f"</title><style>{_PRINT_STYLE}</style></head><body>\n<h1>Audit trail of study {html.escape(study)}</h1>\n"
            f"<p>{html.escape(verification)}. {len(records)} records.</p>\n"
            f"<table><thead><tr>{head}</tr></thead><tbody>\n{rows}\n</tbody></table>\n</body></html>\n")


@dataclass(frozen=True)
class BackupResult:
    """What a backup or restore wrote, and the verification of the audit chain it holds."""

    target: str
    valid: bool
    summary: str


def _sqlite_path(database_url: str) -> Path | None:
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return None
    if url.database in (None, "", ":memory:"):
        raise InputError("database: an in-memory database cannot be backed up")
    return Path(url.database)


def _libpq_url(database_url: str) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise InputError(f"database: backup supports SQLite and PostgreSQL, got {url.get_backend_name()!r}")
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _run(command: list[str], what: str) -> None:
    if shutil.which(command[0]) is None:
        raise InputError(f"{what}: {command[0]} is not on PATH (install the PostgreSQL client tools)")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise InputError(f"{what}: {command[0]} failed: {done.stderr.strip()}")


def _verified(target: str, database_url: str, audit_key_file: str | None) -> BackupResult:
    from dosefinding.randomization.store import verify_audit

    check = verify_audit(database_url, audit_key_file=audit_key_file)
    return BackupResult(target=target, valid=check.valid, summary=str(check.summary()))


def backup(database_url: str, target: str | Path, *, audit_key_file: str | None = None) -> BackupResult:
    """Copy the live database at ``database_url`` to the new file ``target`` and verify the copy's chain
    (with the audit key of ``audit_key_file``, see :func:`~dosefinding.randomization.auditkey.key_path`).

    Examples
    --------
    >>> import tempfile
    >>> from dosefinding.randomization.store import Store
    >>> folder = Path(tempfile.mkdtemp())
    >>> key = str(folder / "audit.key")
    >>> _ = Store(f"sqlite:///{folder / 'r.db'}", audit_key_file=key).add_user("admin", "admin", bootstrap=True)
    >>> backup(f"sqlite:///{folder / 'r.db'}", folder / "r.backup", audit_key_file=key).summary[:22]
    'audit trail OK: 1 reco'
    """
    target = Path(target)
    if target.exists():
        raise InputError(f"target: {str(target)!r} exists already; a backup never overwrites a file")
    source = _sqlite_path(database_url)
    if source is not None:
        if not source.is_file():
            raise InputError(f"database: no SQLite file {str(source)!r}")
        private_sqlite_file(f"sqlite:///{target}")
        with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as src, sqlite3.connect(target) as dst:
            src.backup(dst)
        return _verified(str(target), f"sqlite:///{target}", audit_key_file)
    target.touch(mode=0o600)
    _run(["pg_dump", "--format=custom", "--no-owner", f"--file={target}", f"--dbname={_libpq_url(database_url)}"],
         "backup")
    return BackupResult(target=str(target), valid=True, summary="pg_dump archive written; restore it to verify")


def restore(backup_file: str | Path, database_url: str, *, audit_key_file: str | None = None) -> BackupResult:
    """Restore ``backup_file`` into a new SQLite file or an empty PostgreSQL database, then verify its chain."""
    backup_file = check_input_file(backup_file, "backup")
    target = _sqlite_path(database_url)
    with backup_file.open("rb") as handle:
        head = handle.read(len(SQLITE_HEADER))
    expected = SQLITE_HEADER if target is not None else PG_DUMP_HEADER
    if not head.startswith(expected):
        raise InputError(f"backup: {str(backup_file)!r} is not a backup of a "
                         f"{'SQLite' if target is not None else 'PostgreSQL'} database written by 'dosefinding backup'")
    if target is not None:
        if target.exists():
            raise InputError(f"database: {str(target)!r} exists already; restore into a new file")
        private_sqlite_file(database_url)
        with sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True) as src, sqlite3.connect(target) as dst:
            src.backup(dst)
        return _verified(str(target), database_url, audit_key_file)
    from sqlalchemy import create_engine, inspect

    engine = create_engine(database_url)
    try:
        if inspect(engine).get_table_names():
            raise InputError("database: the PostgreSQL database is not empty; restore into an empty one")
    finally:
        engine.dispose()
    _run(["pg_restore", "--no-owner", "--exit-on-error", f"--dbname={_libpq_url(database_url)}", str(backup_file)],
         "restore")
    return _verified(database_url, database_url, audit_key_file)
