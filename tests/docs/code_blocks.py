"""The code blocks of the documentation pages, read from their Markdown.

A ```` ```python ```` block is run; a ```` ```text ```` block right after it (blank lines between at
most) is the output the block prints, compared line by line (trailing spaces ignored). Other
languages (``bash``, ``toml``, ``r``, ``sas``) are shown, not run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

DOCS = Path(__file__).parents[2] / "docs"
FENCE = re.compile(r"^(?P<indent>[ ]*)(?P<fence>`{3,})(?P<info>[^`\n]*)$")


@dataclass(frozen=True)
class Block:
    """One fenced block: its language, code, first line in the page, and the expected output (python only)."""

    language: str
    code: str
    line: int
    output: str | None = None


def fenced_blocks(text: str) -> list[Block]:
    """Every fenced block of a Markdown page, in order (indented blocks too, dedented)."""
    blocks = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        language = opening["info"].strip().split(" ")[0].lstrip(".").strip("{}").lower()
        body = []
        i += 1
        while i < len(lines) and lines[i].strip() != fence:
            body.append(lines[i][indent:] if lines[i][:indent].strip() == "" else lines[i])
            i += 1
        blocks.append(Block(language, "\n".join(body) + "\n", i - len(body)))
        i += 1
    return blocks


def python_blocks(text: str) -> list[Block]:
    """The page's python blocks, each with the text block that follows it as its output."""
    blocks = fenced_blocks(text)
    lines = text.splitlines()
    result = []
    for k, block in enumerate(blocks):
        if block.language != "python":
            continue
        output = None
        following = blocks[k + 1] if k + 1 < len(blocks) else None
        end = block.line + block.code.count("\n")  # the closing fence's index
        if following is not None and following.language == "text":
            between = lines[end + 1:following.line - 1]
            if all(not line.strip() for line in between):
                output = following.code
        result.append(Block("python", block.code, block.line, output))
    return result


def normalise(output: str) -> list[str]:
    """Output lines without trailing spaces, leading and trailing blank lines dropped."""
    lines = [line.rstrip() for line in output.splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return lines


def pages() -> list[Path]:
    """Every Markdown page of docs/ (hooks excluded), and the README."""
    return [DOCS.parent / "README.md"] + sorted(path for path in DOCS.rglob("*.md")
                                                 if "hooks" not in path.relative_to(DOCS).parts)
