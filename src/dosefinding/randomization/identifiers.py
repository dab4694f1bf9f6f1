"""Identifiers of the randomisation service: one spelling per name, nothing invisible.

Every name a user types (subject, site, username, study, arm, stratification factor and
level) is normalised to Unicode NFKC, so that a full-width ``Ｓ１`` and ``S1`` are one name,
and refused if it holds a control, format (zero-width, bidirectional override) or
line/paragraph separator character, or leading or trailing white space. Names that a
spreadsheet would run as a formula (leading ``=``, ``+``, ``-``, ``@``) are refused too.
Subject identifiers are unique without regard to case: ``subject_key`` is the form the
database holds unique.
"""

from __future__ import annotations

import re
import unicodedata

from dosefinding.errors import InputError

__all__ = ["FORMULA_LEADS", "identifier", "subject_id", "subject_key"]

FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
_SUBJECT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_REFUSED_CATEGORIES = {"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"}


def identifier(value: object, what: str, *, max_length: int = 100) -> str:
    """``value`` as a normalised identifier, or InputError naming ``what`` and the character at fault.

    Examples
    --------
    >>> identifier("Ｓｉｔｅ １０１", "site")
    'Site 101'
    >>> identifier("S1\\u200b", "subject_id")
    Traceback (most recent call last):
    ...
    dosefinding.errors.InputError: subject_id: character U+200B (ZERO WIDTH SPACE) at position 2 is not allowed
    """
    if not isinstance(value, str):
        raise InputError(f"{what}: must be a string, got {type(value).__name__}")
    text = unicodedata.normalize("NFKC", value)
    for position, char in enumerate(text):
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            name = unicodedata.name(char, "unnamed")
            raise InputError(f"{what}: character U+{ord(char):04X} ({name}) at position {position} is not allowed")
    if not text or text != text.strip():
        raise InputError(f"{what}: must be non-empty, without leading or trailing space, got {text!r}")
    if len(text) > max_length:
        raise InputError(f"{what}: at most {max_length} characters, got {len(text)}")
    if text.startswith(FORMULA_LEADS):
        raise InputError(f"{what}: must not start with {text[0]!r} (a spreadsheet would read a formula), got {text!r}")
    return text


def subject_id(value: object) -> str:
    """A subject identifier: :func:`identifier`, then letters, digits, ``.``, ``_``, ``-`` only.

    Examples
    --------
    >>> subject_id("ＣＡＳＥ-1")
    'CASE-1'
    """
    text = identifier(value, "subject_id")
    if not _SUBJECT.fullmatch(text):
        raise InputError(f"subject_id: letters, digits, '.', '_' and '-' only, starting with a letter or digit, "
                         f"got {text!r}")
    return text


def subject_key(value: str) -> str:
    """The case-insensitive key under which a subject identifier is unique.

    Examples
    --------
    >>> subject_key("case-1") == subject_key("CASE-1")
    True
    """
    return subject_id(value).casefold()
