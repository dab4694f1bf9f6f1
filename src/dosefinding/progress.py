"""Progress of the long steps: the library says which step starts, the ``dosefinding`` command shows it.

Library code calls :func:`step` at the start of each step that can take over a second (reading
a data file, fitting an endpoint's MMRM, the model averaging's bootstrap, writing the report).
It is a message at level INFO on the ``dosefinding.progress`` logger, so nothing is shown
unless a handler is attached: the command attaches :func:`show_on_stderr` (not with
``--quiet``); a program of your own can call it, or configure :mod:`logging` as it likes.

Examples
--------
>>> import io
>>> stream = io.StringIO()
>>> stop = show_on_stderr(stream)
>>> step("fitting endpoints.ESSDAI")
>>> stop()
>>> step("not shown: the handler is gone")
>>> stream.getvalue().endswith("s] fitting endpoints.ESSDAI\\n")
True
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["LOGGER", "show_on_stderr", "step"]

LOGGER = logging.getLogger("dosefinding.progress")


def step(message: str) -> None:
    """Say that the step ``message`` starts (level INFO on the ``dosefinding.progress`` logger)."""
    LOGGER.info(message)


class _Elapsed(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self.start = time.monotonic()

    def format(self, record: logging.LogRecord) -> str:
        return f"dosefinding [{time.monotonic() - self.start:6.1f} s] {record.getMessage()}"


def show_on_stderr(stream: TextIO | None = None) -> Callable[[], None]:
    """Print each step as it starts on ``stream`` (default standard error), with the seconds since this call.

    Returns the function that stops it.
    """
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(_Elapsed())
    LOGGER.addHandler(handler)
    previous = LOGGER.level
    LOGGER.setLevel(logging.INFO)

    def stop() -> None:
        LOGGER.removeHandler(handler)
        LOGGER.setLevel(previous)

    return stop
