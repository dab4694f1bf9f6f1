"""What the randomisation database modules share: the table base class, the caller, the refusal, the clock.

Examples
--------
>>> Actor("investigator1", "investigator", sites=frozenset({"101"})).may_act_at("102")
False
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import DeclarativeBase, Session

from dosefinding.errors import DoseFindingError

__all__ = ["Actor", "Base", "RecordedRefusal", "ServiceError", "iso_time", "keeping_refusals", "utc_now"]


class Base(DeclarativeBase):
    pass


class ServiceError(DoseFindingError):
    """A request the service refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class RecordedRefusal(ServiceError):
    """A refusal whose audit record is already written in the transaction: commit it, then refuse."""


@contextmanager
def keeping_refusals(transaction: Callable[[], AbstractContextManager[Session]]) -> Iterator[Session]:
    """A transaction that commits when a :class:`RecordedRefusal` is raised inside, then re-raises it.

    Any other exception rolls the transaction back as usual, so a refused attempt leaves
    exactly its audit record and nothing else.
    """
    refusal = None
    with transaction() as s:
        try:
            yield s
        except RecordedRefusal as exc:
            refusal = exc
    if refusal is not None:
        raise refusal


@dataclass(frozen=True)
class Actor:
    """The authenticated caller; ``sites`` is None for an account not bound to sites."""

    username: str
    role: str
    sites: frozenset[str] | None = None
    session: int | None = None

    def may_act_at(self, site: str) -> bool:
        """Whether the caller may work on subjects of ``site``."""
        return self.sites is None or site in self.sites


def utc_now() -> str:
    """The current UTC time as ISO 8601 with microseconds."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def iso_time(posix: float) -> str:
    """A POSIX time (the accounts' clock) as :func:`utc_now` writes times, for the audit trail.

    Examples
    --------
    >>> iso_time(0.5)
    '1970-01-01T00:00:00.500000+00:00'
    """
    return datetime.fromtimestamp(posix, UTC).isoformat(timespec="microseconds")
