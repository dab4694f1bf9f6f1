"""Reading CDISC ADaM datasets (SAS transport XPT, CSV, Parquet) into pandas.

XPT files are read with :func:`pandas.read_sas` (no pyreadstat needed); their character
columns are decoded from ISO-8859-1, since SAS transport v5 files record no encoding.

Every frame carries the variables' labels in ``frame.attrs["labels"]`` ({column: label}):
from the XPT file's own labels, or for CSV and Parquet from the sidecar ``<name>.labels.json``
(``{"variables": {column: label}, "parameters": {PARAMCD: PARAM}}``, as
:meth:`dosefinding.study.VirtualTrial.write` writes it) when there is one. A BDS frame with
``PARAMCD`` and ``PARAM`` also carries ``frame.attrs["parameters"]`` ({PARAMCD: PARAM}).
Values are kept as the data has them (``SEX`` ``"F"``/``"M"``): decoding is for display.
"""

from __future__ import annotations

import json
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from dosefinding.errors import InputError
from dosefinding.files import check_input_file, read_text_file

__all__ = ["flag_values", "labels_path", "read_adam"]

_READERS = {".xpt": "xport", ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
_FORMATS = {"xport": "SAS transport (XPT)", "csv": "CSV (UTF-8)", "parquet": "Parquet"}


def read_adam(path: str | PathLike[str], *, uppercase: bool = True) -> pd.DataFrame:
    """Read an ADaM dataset from ``.xpt``, ``.csv`` or ``.parquet``.

    Parameters
    ----------
    path
        File to read; the format follows the extension.
    uppercase
        Upper-case the column names (ADaM names are upper case; some CSV exports are not).

    Returns
    -------
    pandas.DataFrame
        One column per variable. SAS dates stay numeric (days since 1960-01-01), as in
        the file; character columns are ``str`` (blank values stay ``""`` in XPT files).
        ``attrs["labels"]`` holds the variable labels ({} when the file has none) and, with
        ``PARAMCD`` and ``PARAM``, ``attrs["parameters"]`` the parameters.

    Examples
    --------
    The CDISC pilot's subject-level data set, shipped with :mod:`dosefinding.datasets`:

    >>> from dosefinding import read_adam
    >>> from dosefinding.datasets import cdisc_pilot_path
    >>> adsl = read_adam(cdisc_pilot_path() / "adsl.xpt")
    >>> adsl.shape, adsl.attrs["labels"]["AGE"]
    ((254, 48), 'Age')
    >>> import os, tempfile
    >>> import pandas as pd
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     file = os.path.join(tmp, "adsl.csv")
    ...     pd.DataFrame({"usubjid": ["01-001"], "saffl": ["Y"]}).to_csv(file, index=False)
    ...     read_adam(file).columns.tolist()
    ['USUBJID', 'SAFFL']
    """
    file = Path(path)
    kind = _READERS.get(file.suffix.lower())
    if kind is None:
        raise InputError(
            f"path: unsupported ADaM file type {file.suffix!r} of {str(file)!r}; expected one of {sorted(_READERS)}"
        )
    check_input_file(file, "path")
    if file.stat().st_size == 0:
        raise InputError(f"path: {str(file)!r} is empty (no variables)")
    parameters: dict[str, str] = {}
    try:
        if kind == "xport":
            with pd.read_sas(file, format="xport", encoding="ISO-8859-1", iterator=True) as reader:
                labels = {_text(f["name"]): _text(f["label"]) for f in reader.fields}
                data = reader.read()
        else:
            data = pd.read_csv(file) if kind == "csv" else pd.read_parquet(file)
    except (ValueError, OSError) as exc:  # the readers' errors for a damaged or mislabelled file (incl. not UTF-8)
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"path: {str(file)!r} is not a readable {_FORMATS[kind]} file ({reason})") from None
    if kind != "xport":
        labels, parameters = _sidecar(file)
    data.attrs.clear()
    if uppercase:
        data.columns = [str(name).upper() for name in data.columns]
        labels = {name.upper(): label for name, label in labels.items()}
    data.attrs["labels"] = {c: labels[c] for c in data.columns if labels.get(c)}
    if "PARAMCD" in data.columns and "PARAM" in data.columns:
        pairs = data[["PARAMCD", "PARAM"]].dropna().drop_duplicates("PARAMCD")
        data.attrs["parameters"] = dict(zip(pairs["PARAMCD"].astype(str), pairs["PARAM"].astype(str), strict=True))
    elif parameters:
        data.attrs["parameters"] = parameters
    return data


FLAG_SET = frozenset({"Y", "1", "TRUE"})
FLAG_UNSET = frozenset({"N", "0", "FALSE", ""})


def flag_values(values: pd.Series, key: str, place: str) -> NDArray[np.bool_]:
    """An ADaM flag as booleans: ``"Y"``, ``"y"``, 1 and true are set; ``"N"``, ``""``, 0, false and missing are
    not; any other value is an :class:`InputError` naming ``key`` and ``place`` (e.g. ``"FASFL of adsl"``).

    Examples
    --------
    >>> flag_values(pd.Series(["Y", " y", 1, True, "N", "", None, 0]), "populations", "FASFL of adsl").tolist()
    [True, True, True, True, False, False, False, False]
    >>> flag_values(pd.Series(["Y", "Yes"]), "populations", "FASFL of adsl")
    Traceback (most recent call last):
    ...
    dosefinding.errors.InputError: populations: 'Yes' in FASFL of adsl is not a flag (Y/N, 1/0 or true/false)
    """
    text = values.map(lambda v: "" if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))
                      else str(int(v)) if isinstance(v, (bool, np.bool_)) else
                      str(int(v)) if isinstance(v, (int, float, np.integer, np.floating)) and float(v) in (0.0, 1.0)
                      else str(v).strip().upper())
    bad = ~text.isin(FLAG_SET | FLAG_UNSET)
    if bad.any():
        raise InputError(f"{key}: {values[bad].iloc[0]!r} in {place} is not a flag (Y/N, 1/0 or true/false)")
    return text.isin(FLAG_SET).to_numpy(dtype=bool)


def labels_path(path: str | PathLike[str]) -> Path:
    """The sidecar file of a dataset's labels: ``adsl.labels.json`` beside ``adsl.csv``.

    Examples
    --------
    >>> labels_path("adam/adsl.csv").as_posix()
    'adam/adsl.labels.json'
    """
    file = Path(path)
    return file.with_name(f"{file.stem}.labels.json")


def _text(value: bytes | str) -> str:
    return (value.decode("ISO-8859-1") if isinstance(value, bytes) else value).strip()


def _sidecar(file: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Variable and parameter labels from ``<name>.labels.json``, or none when there is no such file."""
    path = labels_path(file)
    if not path.exists():
        return {}, {}
    text = read_text_file(path, "labels")
    try:
        content = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"labels: cannot read {str(path)!r} ({exc})") from None
    parts = []
    for key in ("variables", "parameters"):
        part = content.get(key, {}) if isinstance(content, dict) else None
        if not isinstance(part, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in part.items()):
            raise InputError(f"labels: {str(path)!r} needs {key!r} as a mapping of names to label texts")
        parts.append(part)
    return parts[0], parts[1]
