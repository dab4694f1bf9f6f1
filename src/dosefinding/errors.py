"""Exceptions raised by dosefinding.

Every error the package raises on purpose derives from :class:`DoseFindingError`, so a
caller can catch them all in one place.
"""

from __future__ import annotations

__all__ = ["ConvergenceError", "DoseFindingError", "DoseFindingWarning", "InputError"]


class DoseFindingError(Exception):
    """Base class of all errors raised by dosefinding."""


class InputError(DoseFindingError, ValueError):
    """An argument, column or value given by the user is not valid.

    The message names the argument, column or value at fault.

    Examples
    --------
    >>> raise InputError("doses: must start with placebo (0), got 5")
    Traceback (most recent call last):
    ...
    dosefinding.errors.InputError: doses: must start with placebo (0), got 5
    """


class ConvergenceError(DoseFindingError, RuntimeError):
    """A numerical routine did not reach the requested accuracy; the message says what was tried."""


class DoseFindingWarning(UserWarning):
    """A result was computed but something about it needs the user's attention (e.g. dropped aliased columns).

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warnings.warn("formula: column 'x' dropped", DoseFindingWarning)
    >>> caught[0].category.__name__
    'DoseFindingWarning'
    """
