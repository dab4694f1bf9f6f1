"""Every number of the A2201 paper's abstract (Methods, Findings, Interpretation: paper lines 78-100) and
results (paper lines 243-385) is in presets/analysis/a2201_published.toml: an item's value, CI limit or
bound on that line, or a [[not_compared]] entry for that line with the reason.

The text is the author's accepted version (/work/shared/study/000_0c0d297b3e751f49.txt); each paper
line ends with its line number (lines 321-346, the tables, are not in the text). Numbers are counted
per line with their multiplicity; figure and table references ("Figure 2c", "Table S2") are not
numbers of the results. The file is the project's shared copy of the paper: without it the test
cannot run, and says so.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from dosefinding.study.published import a2201_published_path, load_not_compared, load_published

PAPER = Path("/work/shared/study/000_0c0d297b3e751f49.txt")
RANGES = ((78, 100), (243, 385))
_REFERENCE = re.compile(r"\b(?:Figures?|Tables?)\s+S?\d+[a-z]*(?:-[a-z]+)?")
_NUMBER = re.compile(r"(?<![\w.·])[-+]?\d+(?:[.·]\d+)?")


def paper_lines(text: str, first: int, last: int) -> dict[int, str]:
    """Paper line k: the text between the markers k - 1 and k (a line number alone at the end of a text line)."""
    def marker(k: int) -> re.Pattern[str]:
        return re.compile(rf"(?m)(?<![\d.·,]){k}[ \t]*$")

    start = marker(first - 1).search(text)
    assert start is not None, f"line marker {first - 1} not found"
    pos, out = start.end(), {}
    for k in range(first, last + 1):
        found = marker(k).search(text, pos)
        if found is None:
            continue
        out[k] = " ".join(text[pos:found.start()].split())
        pos = found.end()
    return out


def numbers(line: str) -> list[float]:
    text = _REFERENCE.sub(" ", line)
    return [float(m.group().replace("·", ".").replace("+", "")) for m in _NUMBER.finditer(text)]


@pytest.fixture(scope="module")
def lines() -> dict[int, str]:
    if not PAPER.is_file():
        pytest.fail(f"the paper's text {PAPER} is needed for this test")
    text = PAPER.read_text(encoding="utf-8")
    out: dict[int, str] = {}
    for first, last in RANGES:
        out.update(paper_lines(text, first, last))
    return out


def test_the_parser_finds_the_results_lines(lines: dict[int, str]) -> None:
    assert lines[244].startswith("Of the 293 patients screened, 103 were excluded, 96")
    assert lines[91].endswith("-1.92 points (95% CI: -4.15, 0.32, p=0·092).")
    assert numbers(lines[91]) == [-1.92, 95, -4.15, 0.32, 0.092]
    assert numbers("(Figure 2c-ii) and Table S2, SF-36 and CD19") == [36]
    assert 321 not in lines and len(lines) == 23 + 117


def test_every_number_of_the_text_is_compared_or_excused(lines: dict[int, str]) -> None:
    available: dict[int, Counter[float]] = {k: Counter() for k in lines}
    for item in load_published(a2201_published_path()):
        for k in item.lines:
            assert k in lines, f"{item.label}: line {k} is not a cited line of the text"
            available[k].update(round(x, 9) for x in item.numbers)
    for entry in load_not_compared(a2201_published_path()):
        for k in entry.lines:
            assert k in lines, f"not_compared {entry.text!r}: line {k} is not a cited line of the text"
            available[k].update(round(x, 9) for x in entry.numbers)
    missing = {}
    for k, line in lines.items():
        needed = Counter(round(x, 9) for x in numbers(line))
        short = needed - available[k]
        if short:
            missing[k] = (sorted(short.elements()), line)
    assert not missing, "numbers of the text neither compared nor excused:\n" + "\n".join(
        f"{k}: {v[0]}  | {v[1]}" for k, v in missing.items())


def test_items_cite_numbers_that_are_on_their_lines(lines: dict[int, str]) -> None:
    """The other direction: an item's value (or its bounds' upper end) is printed on one of its lines, or the item
    is a sum over arms, or it says how it follows from the text (``derived``)."""
    for item in load_published(a2201_published_path()):
        printed = {round(x, 9) for k in item.lines for x in numbers(lines[k])}
        shown = item.value if item.value is not None else item.bounds[1]  # type: ignore[index]
        assert round(shown, 9) in printed or item.aggregate == "sum" or item.derived, (item.label, shown, item.lines)
