"""A minimal RTF reader for the tests: text of the body, split into table rows and cells.

Written from the RTF 1.9.1 specification, independently of ``dosefinding.report.rtf``:
groups whose first control word is a destination (font and colour tables, ``\\*``
groups) are skipped, ``\\'hh`` is a cp1252 byte, ``\\uN`` a signed UTF-16 code unit
followed by ``\\ucN`` (default 1) fallback characters, ``\\cell`` ends a cell, ``\\row`` a
row and ``\\par`` a paragraph; a row whose definition has ``\\trhdr`` is a header row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TOKEN = re.compile(r"\\([a-zA-Z]+)(-?\d+)? ?|\\'([0-9a-fA-F]{2})|\\([^a-zA-Z])|([{}])|([^\\{}\r\n]+)|[\r\n]+")
_DESTINATIONS = {"fonttbl", "colortbl", "stylesheet", "info", "pict", "listtable"}  # header text is read


@dataclass
class Parsed:
    paragraphs: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    header_rows: list[bool] = field(default_factory=list)
    control_words: set[str] = field(default_factory=set)


def parse_rtf(text: str) -> Parsed:
    out = Parsed()
    if not text.startswith("{\\rtf1"):
        raise ValueError("not an RTF document: must start with {\\rtf1")
    depth, skip_depth = 0, None
    uc, pending_skip = 1, 0
    buffer: list[str] = []
    units: list[int] = []
    cells: list[str] = []
    first_in_group = False
    row_is_header = False

    def flush_units() -> None:
        if units:
            buffer.append(b"".join(u.to_bytes(2, "little") for u in units).decode("utf-16-le"))
            units.clear()

    def emit(chars: str) -> None:
        nonlocal pending_skip
        if skip_depth is not None:
            return
        if pending_skip:
            dropped = min(pending_skip, len(chars))
            pending_skip -= dropped
            chars = chars[dropped:]
        if chars:
            flush_units()
            buffer.append(chars)

    for m in _TOKEN.finditer(text):
        word, arg, hexbyte, symbol, brace, plain = m.groups()
        if brace == "{":
            depth += 1
            first_in_group = True
            continue
        if brace == "}":
            if skip_depth is not None and depth == skip_depth:
                skip_depth = None
            depth -= 1
            first_in_group = False
            continue
        starts_group, first_in_group = first_in_group, False
        if word is not None:
            out.control_words.add(word)
            if starts_group and word in _DESTINATIONS and skip_depth is None:
                skip_depth = depth
                continue
            if skip_depth is not None:
                continue
            if word == "u":
                code = int(arg) % 65536
                units.append(code)
                pending_skip = uc
            elif word == "uc":
                uc = int(arg)
            elif word == "cell":
                flush_units()
                cells.append("".join(buffer).strip())
                buffer.clear()
            elif word == "trowd":
                row_is_header = False
            elif word == "trhdr":
                row_is_header = True
            elif word == "row":
                out.rows.append(cells)
                out.header_rows.append(row_is_header)
                cells = []
            elif word == "par":
                flush_units()
                out.paragraphs.append("".join(buffer).strip())
                buffer.clear()
            elif word == "line":
                emit("\n")
            elif word == "tab":
                emit("\t")
        elif hexbyte is not None:
            if pending_skip:
                pending_skip -= 1
            else:
                emit(bytes([int(hexbyte, 16)]).decode("cp1252"))
        elif symbol is not None:
            if symbol == "*" and starts_group:
                skip_depth = depth
            elif symbol in "\\{}":
                emit(symbol)
        elif plain is not None:
            emit(plain)
    if depth != 0:
        raise ValueError(f"unbalanced braces: depth {depth} at the end")
    flush_units()
    return out
