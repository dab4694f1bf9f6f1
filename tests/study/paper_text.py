"""The numbered lines of the A2201 paper's accepted text and the numbers printed on them.

Each line of the paper ends with its line number (the text file puts it at the end of a text line);
lines 321-346 (the tables) are not in the text. Figure and table references ("Figure 2c", "Table S2")
are not numbers of the results; "0·092" is 0.092.
"""

from __future__ import annotations

import re

RANGES = ((78, 100), (243, 385))
"""The abstract's Methods, Findings and Interpretation, and the Results."""

_REFERENCE = re.compile(r"\b(?:Figures?|Tables?)\s+S?\d+[a-z]*(?:-[a-z]+)?")
_NUMBER = re.compile(r"(?<![\w.·])[-+]?\d+(?:[.·]\d+)?")


def paper_lines(text: str, first: int, last: int) -> dict[int, str]:
    """Paper line k: the text between the markers k - 1 and k (a line number alone at the end of a text line)."""

    def marker(k: int) -> re.Pattern[str]:
        return re.compile(rf"(?m)(?<![\d.·,]){k}[ \t]*$")

    start = marker(first - 1).search(text)
    if start is None:
        raise ValueError(f"line marker {first - 1} not found")
    pos, out = start.end(), {}
    for k in range(first, last + 1):
        found = marker(k).search(text, pos)
        if found is None:
            continue
        out[k] = " ".join(text[pos:found.start()].split())
        pos = found.end()
    return out


def numbers(line: str) -> list[float]:
    """The numbers printed on a line, in order, figure and table references left out."""
    text = _REFERENCE.sub(" ", line)
    return [float(m.group().replace("·", ".").replace("+", "")) for m in _NUMBER.finditer(text)]


def numbered_lines(text: str) -> dict[int, list[float]]:
    """The numbers of every line of :data:`RANGES`."""
    out: dict[int, list[float]] = {}
    for first, last in RANGES:
        out.update({k: numbers(line) for k, line in paper_lines(text, first, last).items()})
    return out
