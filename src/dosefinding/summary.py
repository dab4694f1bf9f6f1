"""The printed summary of a result: text for the console, HTML for a notebook, a frame for code.

Every result's ``summary()`` returns a :class:`Summary`. ``print(result.summary())`` (or
``str``) gives the text laid out as R, SAS or a clinical study report prints it; a notebook
shows :meth:`Summary._repr_html_`, the same content with its tables as HTML tables; and
:meth:`Summary.to_frame` gives the rows of the result as a pandas frame.

A summary is a sequence of parts, each a line of text (or several) or a :class:`SummaryTable`
(a frame and how its text is printed), so the text and the HTML come from one description.
The result classes use :class:`SummaryDisplay` for their notebook display and :func:`short_repr`
for a one-line ``repr``.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["MAX_REPR", "Summary", "SummaryDisplay", "SummaryTable", "short_repr"]

MAX_REPR = 300
"""Longest ``repr`` of a result, in characters (one line)."""


@dataclass(frozen=True, repr=False)
class SummaryTable:
    """A table of a summary: a frame (or series), whether its text shows the index, and column formatters.

    ``text``, when given, is the table's text as its owner lays it out (e.g. a clinical
    listing); the HTML is still built from ``frame``.

    Examples
    --------
    >>> import pandas as pd
    >>> print(SummaryTable(pd.DataFrame({"estimate": [1.5]}, index=["emax"])))
          estimate
    emax       1.5
    """

    frame: pd.DataFrame | pd.Series
    index: bool = True
    formatters: Mapping[str, Callable[[Any], str]] | None = None
    text: str | None = None

    def __str__(self) -> str:
        if self.text is not None:
            return self.text
        if self.formatters is not None:
            return self.frame.to_string(index=self.index, formatters=self.formatters)  # a frame: Series have none
        return self.frame.to_string(index=self.index)

    def __repr__(self) -> str:
        return f"SummaryTable({self.frame.shape[0]} rows)"

    def to_html(self) -> str:
        """The table as an HTML ``<table>``."""
        import pandas as pd

        frame = self.frame.to_frame() if isinstance(self.frame, pd.Series) else self.frame
        if isinstance(self.frame, pd.Series) and self.frame.name is None:
            frame = frame.set_axis([""], axis=1)
        return frame.to_html(index=self.index, border=0, classes="dosefinding-table", formatters=self.formatters)


class Summary:
    """The summary of a result: its text, an HTML rendering and its rows.

    Parameters
    ----------
    parts
        Lines of text (a string may hold several), tables and other summaries (whose parts
        are taken in), in order; the text is their text joined by newlines.
    frame
        The rows of the result (:meth:`to_frame`); by default the first table.

    Examples
    --------
    >>> import pandas as pd
    >>> s = Summary(["Fit", SummaryTable(pd.DataFrame({"AIC": [10.5]}, index=["emax"]))])
    >>> print(s)
    Fit
           AIC
    emax  10.5
    >>> s.to_frame()
           AIC
    emax  10.5
    """

    def __init__(self, parts: Iterable[str | SummaryTable | Summary], frame: pd.DataFrame | None = None) -> None:
        flat: list[str | SummaryTable] = []
        for part in parts:
            if isinstance(part, Summary):
                flat.extend(part.parts)
            elif isinstance(part, str | SummaryTable):
                flat.append(part)
            else:
                raise TypeError(f"a summary part is a str, SummaryTable or Summary, got {type(part).__name__}")
        self.parts: tuple[str | SummaryTable, ...] = tuple(flat)
        self._frame = frame

    @property
    def tables(self) -> list[pd.DataFrame | pd.Series]:
        """The frames of the summary's tables, in order."""
        return [part.frame for part in self.parts if isinstance(part, SummaryTable)]

    def __str__(self) -> str:
        return "\n".join(str(part) for part in self.parts)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        """The summary as HTML: text as preformatted blocks, tables as HTML tables."""
        blocks: list[str] = []
        text: list[str] = []
        for part in [*self.parts, None]:
            if not isinstance(part, str) and "\n".join(text).strip("\n"):
                blocks.append(_pre("\n".join(text).strip("\n")))
            if isinstance(part, SummaryTable):
                blocks.append(part.to_html())
            text = [*text, part] if isinstance(part, str) else []
        return '<div class="dosefinding-summary">\n' + "\n".join(blocks) + "\n</div>"

    def to_frame(self) -> pd.DataFrame:
        """The rows of the result (the first table when the result names none; empty without tables)."""
        import pandas as pd

        if self._frame is not None:
            return self._frame.copy()
        for table in self.tables:
            return table.to_frame() if isinstance(table, pd.Series) else table.copy()
        return pd.DataFrame()


def _pre(text: str) -> str:
    """Lines of text between tables; the blank lines that space the printed text are left to the HTML layout."""
    return '<pre style="margin: 0.4em 0">' + html.escape(text) + "</pre>"


class SummaryDisplay:
    """Mixin of the result classes: a notebook shows the result's :class:`Summary` as HTML.

    The class defines ``summary() -> Summary``.
    """

    def summary(self) -> Summary:  # pragma: no cover - every result class defines it
        raise NotImplementedError

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()


def short_repr(obj: object, **fields: Any) -> str:
    """A one-line ``repr`` of ``obj``: its class name and ``fields``, cut to :data:`MAX_REPR` characters.

    Examples
    --------
    >>> short_repr(1.5, shape="emax", doses=[0, 5, 50])
    "float(shape='emax', doses=[0, 5, 50])"
    """
    inside = ", ".join(f"{name}={_value(value)}" for name, value in fields.items())
    text = f"{type(obj).__name__}({inside})".replace("\n", " ")
    return text if len(text) < MAX_REPR else text[: MAX_REPR - 5] + "...)"


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, tuple | list) and len(value) > 8:
        return repr(list(value[:8]))[:-1] + ", ...]"
    return repr(value)
