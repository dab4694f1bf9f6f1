"""Emergency unblinding as an electronic signature (21 CFR 11.50, 11.200) and its notification.

The signer re-authenticates at the moment of signing (password and TOTP code), sees the
meaning of the signature (:data:`UNBLINDING_MEANING`) and gives a reason that is real text.
The signature record keeps the printed name, the time, the meaning and the reason; a
notification for the sponsor's medical monitor goes to an outbox table, which a deployment
sends by mail or webhook and marks as sent. Neither the signature nor the notification
holds the arm.

Examples
--------
>>> normalise_reason("  Suspected   anaphylaxis after dose 2 ")
'Suspected anaphylaxis after dose 2'
"""

from __future__ import annotations

import unicodedata
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dosefinding.randomization.base import Base, ServiceError

__all__ = ["MEDICAL_MONITOR", "MIN_REASON_LETTERS", "UNBLINDING_MEANING", "normalise_reason"]

UNBLINDING_MEANING = (
    "Emergency unblinding: I confirm that knowing this subject's treatment is necessary for the subject's "
    "medical care, that I have the reason stated, and that this electronic signature is the legally binding "
    "equivalent of my handwritten signature."
)
MIN_REASON_LETTERS = 10
MEDICAL_MONITOR = "medical_monitor"


class SignatureRow(Base):
    __tablename__ = "signatures"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unblinding_id: Mapped[int] = mapped_column(ForeignKey("unblindings.id"), unique=True)
    username: Mapped[str] = mapped_column(String(100))
    full_name: Mapped[str] = mapped_column(String(200))
    signed_at: Mapped[str] = mapped_column(String(40))
    meaning: Mapped[str] = mapped_column(Text)
    method: Mapped[str] = mapped_column(String(40))  # how the signer re-authenticated


class OutboxRow(Base):
    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[str] = mapped_column(String(40))
    recipient: Mapped[str] = mapped_column(String(100))
    topic: Mapped[str] = mapped_column(String(60))
    subject: Mapped[str | None] = mapped_column(String(100), nullable=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    sent_at: Mapped[str | None] = mapped_column(String(40), nullable=True)


def normalise_reason(reason: object) -> str:
    """The reason NFKC-normalised with runs of white space made one space; ServiceError 422 if it is not real text.

    Refused: anything that is not a string, control, format (zero-width, bidi), private-use
    or unassigned characters, and fewer than :data:`MIN_REASON_LETTERS` letters.

    Examples
    --------
    >>> normalise_reason("\\u200b" * 5)
    Traceback (most recent call last):
    ...
    dosefinding.randomization.base.ServiceError: reason: character U+200B at position 1 is not printable text
    """
    if not isinstance(reason, str):
        raise ServiceError(422, "reason: must be text")
    text = unicodedata.normalize("NFKC", reason)
    for position, char in enumerate(text, start=1):
        if unicodedata.category(char)[0] == "C" and char not in "\t\n\r":
            raise ServiceError(422, f"reason: character U+{ord(char):04X} at position {position} is not printable text")
    text = " ".join(text.split())
    letters = sum(unicodedata.category(char)[0] == "L" for char in text)
    if letters < MIN_REASON_LETTERS:
        raise ServiceError(422, f"reason: an emergency unblinding needs a reason of at least {MIN_REASON_LETTERS} "
                                f"letters, got {letters}")
    return text
