"""Reading CDISC ADaM datasets (SAS transport XPT, CSV, Parquet) into pandas.

XPT files are read with :func:`pandas.read_sas` (no pyreadstat needed); their character
columns are decoded from ISO-8859-1, since SAS transport v5 files record no encoding.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import pandas as pd

from dosefinding.errors import InputError

__all__ = ["read_adam"]

_READERS = {".xpt": "xport", ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


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

    Examples
    --------
    >>> adsl = read_adam("/work/shared/data/cdiscpilot01/adsl.xpt")  # doctest: +SKIP
    >>> import tempfile, os
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
    if not file.is_file():
        raise InputError(f"path: no such file {str(file)!r}")
    if kind == "xport":
        data = pd.read_sas(file, format="xport", encoding="ISO-8859-1")
    elif kind == "csv":
        data = pd.read_csv(file)
    else:
        data = pd.read_parquet(file)
    if uppercase:
        data.columns = [str(name).upper() for name in data.columns]
    return data
