"""The HTML report in headless Chromium: it renders, and its tables and figures are there."""

from __future__ import annotations

import dataclasses
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from dosefinding.report import Report, ReportFiles

from . import chromium


class Ids(HTMLParser):
    """Ids of the tables, figures and images of a document, with the images' sources."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[str] = []
        self.figures: list[str] = []
        self.images: list[str] = []
        self.cells = 0
        self.body = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table" and a.get("class") == "df-table":
            self.tables.append(str(a["id"]))
        elif tag == "figure" and a.get("class") == "df-figure":
            self.figures.append(str(a["id"]))
        elif tag == "img":
            self.images.append(str(a.get("src", ""))[:30])
        elif tag == "tbody":
            self.body = True
        elif tag == "td" and self.body:
            self.cells += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self.body = False


def blue_pixels(png: Path) -> int:
    """Pixels of the arms' blues: only figures draw them (text is black and grey, the synthetic label yellow)."""
    rgb = imread(png)[..., :3]
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return int(np.count_nonzero((b > r + 0.25) & (b > g + 0.08)))


@pytest.fixture(scope="module")
def written(report: Report, tmp_path_factory: pytest.TempPathFactory) -> ReportFiles:
    return report.write(tmp_path_factory.mktemp("report"))


def test_screenshot_is_not_blank(written: ReportFiles, tmp_path: Path) -> None:
    png = chromium.screenshot(written.html.as_uri(), tmp_path / "shot.png", tmp_path / "profile")
    image = imread(png)
    assert image.shape[:2] == (2000, 1200)
    grey = image[..., :3].mean(axis=2)
    dark = np.count_nonzero(grey < 0.5) / grey.size
    assert 0.005 < dark < 0.5, f"dark pixel share {dark:.4f}: blank or all black"  # text, rules and figures
    assert grey.std() > 0.05


def test_dom_holds_every_table_and_figure(report: Report, written: ReportFiles, tmp_path: Path) -> None:
    dom = chromium.dump_dom(written.html.as_uri(), tmp_path / "profile")
    ids = Ids()
    ids.feed(dom)
    assert ids.tables == [t.id for t in report.tables]
    assert ids.figures == [f.id for f in report.figures]
    assert len(ids.images) == len(report.figures) and all(s.startswith("data:image/") for s in ids.images)
    assert ids.cells == sum(  # body cells
        len(t.columns) * len(t.rows) for t in report.tables)
    assert "SYNTHETIC DATA" in dom


def test_figures_render(report: Report, tmp_path: Path) -> None:
    """A tall screenshot of the whole report shows the figures' colours; the same report without figures has none."""
    with_figures = report.write(tmp_path / "with")
    without = dataclasses.replace(report, blocks=tuple(b for b in report.blocks if b not in report.figures))
    no_figures = without.write(tmp_path / "without")
    shots = [chromium.screenshot(files.html.as_uri(), tmp_path / f"{name}.png", tmp_path / f"profile-{name}",
                                 height=9000) for name, files in (("with", with_figures), ("without", no_figures))]
    counts = [blue_pixels(shot) for shot in shots]
    assert counts[1] == 0, counts
    assert counts[0] > 20_000, counts
