"""File-system checks made before any work: each problem is one :class:`InputError` line naming the path.

The ``dosefinding`` command checks every file it reads and every place it writes with these
before it simulates, analyses or touches a database, so that a wrong path never costs a
whole analysis, or an enrolment code that was issued but could not be written. The module
loads nothing but the standard library.

Examples
--------
>>> check_new_file("/proc/x.csv", "out")
Traceback (most recent call last):
...
dosefinding.errors.InputError: out: '/proc/x.csv' is under /proc, not a place for a file
>>> read_text_file("/", "spec")
Traceback (most recent call last):
...
dosefinding.errors.InputError: spec: '/' is a directory, not a file
"""

from __future__ import annotations

import os
from os import PathLike
from pathlib import Path

from dosefinding.errors import InputError

__all__ = ["check_input_file", "check_new_file", "check_output_directory", "read_text_file"]

_SYSTEM = ("/proc", "/sys", "/dev")


def _system_root(path: Path) -> str | None:
    resolved = path.resolve()
    return next((root for root in _SYSTEM if resolved.is_relative_to(root)), None)


def _writable(path: Path, start: Path, option: str) -> None:
    """``start`` or its nearest existing ancestor is a directory that can be written (to create ``path``)."""
    parent = start
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"{option}: cannot create {str(path)!r}: {str(parent)!r} is a file")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{option}: cannot write in {str(parent)!r} (permission denied)")


def check_output_directory(out: str | PathLike[str], option: str = "--out") -> Path:
    """``out`` checked as a place to write a report, before any analysis runs; an :class:`InputError` otherwise.

    Refused: a path under ``/proc``, ``/sys`` or ``/dev``, an existing file, a directory that
    cannot be written, a missing directory whose nearest existing parent is not a writable
    directory. Nothing is created here.

    Examples
    --------
    >>> check_output_directory("/proc/x")
    Traceback (most recent call last):
    ...
    dosefinding.errors.InputError: --out: '/proc/x' is under /proc, not a place for a report
    """
    path = Path(out)
    system = _system_root(path)
    if system is not None:
        raise InputError(f"{option}: {str(path)!r} is under {system}, not a place for a report")
    if path.exists() and not path.is_dir():
        raise InputError(f"{option}: {str(path)!r} is a file, not a directory")
    _writable(path, path.resolve(), option)
    return path


def check_new_file(path: str | PathLike[str], option: str, *, exists_ok: bool = True) -> Path:
    """``path`` checked as a file to write: not under ``/proc``, ``/sys`` or ``/dev``, not a directory, in a
    directory that exists and can be written (``exists_ok=False``: and not there yet). Nothing is created.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> check_new_file(f"{folder}/missing/audit.csv", "out")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    dosefinding.errors.InputError: out: no directory '.../missing' to write 'audit.csv' in
    """
    file = Path(path)
    system = _system_root(file)
    if system is not None:
        raise InputError(f"{option}: {str(file)!r} is under {system}, not a place for a file")
    if file.is_dir():
        raise InputError(f"{option}: {str(file)!r} is a directory, not a file")
    if file.exists() and not exists_ok:
        raise InputError(f"{option}: {str(file)!r} exists already")
    parent = file.resolve().parent
    if not parent.exists():
        raise InputError(f"{option}: no directory {str(parent)!r} to write {file.name!r} in")
    _writable(file, parent, option)
    return file


def check_input_file(path: str | PathLike[str], what: str) -> Path:
    """``path`` checked as a file to read: it exists, is not a directory and can be opened.

    Examples
    --------
    >>> check_input_file("no-such-file.csv", "data.adsl")
    Traceback (most recent call last):
    ...
    dosefinding.errors.InputError: data.adsl: no such file 'no-such-file.csv'
    """
    file = Path(path)
    if file.is_dir():
        raise InputError(f"{what}: {str(file)!r} is a directory, not a file")
    if not file.exists():
        raise InputError(f"{what}: no such file {str(file)!r}")
    try:
        with file.open("rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise InputError(f"{what}: cannot read {str(file)!r} ({exc.strerror})") from None
    return file


def read_text_file(path: str | PathLike[str], what: str) -> str:
    """The text of the UTF-8 file ``path``, checked as :func:`check_input_file`; a file that is not UTF-8 text is
    an :class:`InputError` naming the first bad byte."""
    file = check_input_file(path, what)
    data = file.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{what}: {str(file)!r} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                         f"{exc.start})") from None
