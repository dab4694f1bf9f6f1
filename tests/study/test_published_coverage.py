"""Every number of the A2201 paper's abstract (Methods, Findings, Interpretation: paper lines 78-100) and
results (paper lines 243-385) is in presets/analysis/a2201_published.toml: an item's value, CI limit or
bound on that line, or a [[not_compared]] entry for that line with the reason.

The numbers per line are tests/fixtures/a2201_paper/numbers.json, extracted from the author's accepted
text by tests/fixtures/a2201_paper/extract_numbers.py (only numbers are stored, with the text's SHA-256);
where the project's copy of the text is present, the extraction is checked against it. Numbers are
counted per line with their multiplicity.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

from dosefinding.study.published import a2201_published_path, load_not_compared, load_published

from .paper_text import numbered_lines, numbers, paper_lines

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "a2201_paper" / "numbers.json"
PAPER = Path("/work/shared/study/000_0c0d297b3e751f49.txt")
DOCUMENT = json.loads(FIXTURE.read_text(encoding="utf-8"))
LINES = {int(k): v for k, v in DOCUMENT["lines"].items()}


def test_the_parser_reads_numbered_lines() -> None:
    text = "Results 243 \n\nOf the 293 patients, 103 (Figure 2c-ii) 244 \n\nwere -1.92 (95% CI: -4.15, 0·32) 17\n\n 245 \n"
    assert paper_lines(text, 244, 246) == {244: "Of the 293 patients, 103 (Figure 2c-ii)",
                                           245: "were -1.92 (95% CI: -4.15, 0·32) 17"}
    assert numbers("were -1.92 (95% CI: -4.15, 0·32), SF-36, CD19, Table S2, 5-7 years") == [
        -1.92, 95, -4.15, 0.32, 36, 5, 7]
    assert len(LINES) == 23 + 117 and 321 not in LINES  # lines 321-346 (the tables) are not in the text
    assert LINES[244] == [293, 103, 96] and LINES[91] == [-1.92, 95, -4.15, 0.32, 0.092]


def test_the_fixture_is_the_texts_numbers() -> None:
    """Checked where the project's copy of the paper is present (the fixture records its SHA-256)."""
    if PAPER.is_file():
        raw = PAPER.read_bytes()
        assert hashlib.sha256(raw).hexdigest() == DOCUMENT["sha256"]
        assert {k: v for k, v in numbered_lines(raw.decode("utf-8")).items()} == LINES


def test_every_number_of_the_text_is_compared_or_excused() -> None:
    available: dict[int, Counter[float]] = {k: Counter() for k in LINES}
    for item in load_published(a2201_published_path()):
        for k in item.lines:
            assert k in LINES, f"{item.label}: line {k} is not a cited line of the text"
            available[k].update(round(x, 9) for x in item.numbers)
    for entry in load_not_compared(a2201_published_path()):
        for k in entry.lines:
            assert k in LINES, f"not_compared {entry.text!r}: line {k} is not a cited line of the text"
            available[k].update(round(x, 9) for x in entry.numbers)
    missing = {}
    for k, found in LINES.items():
        short = Counter(round(x, 9) for x in found) - available[k]
        if short:
            missing[k] = sorted(short.elements())
    assert not missing, f"numbers of the text neither compared nor excused (line: numbers): {missing}"


def test_items_cite_numbers_that_are_on_their_lines() -> None:
    """The other direction: an item's value (or its bounds' upper end) is printed on one of its lines, or the item
    is a sum over arms, or it says how it follows from the text (``derived``)."""
    for item in load_published(a2201_published_path()):
        printed = {round(x, 9) for k in item.lines for x in LINES[k]}
        shown = item.value if item.value is not None else item.bounds[1]  # type: ignore[index]
        assert round(shown, 9) in printed or item.aggregate == "sum" or item.derived, (item.label, shown, item.lines)
