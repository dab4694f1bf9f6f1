"""The design page in headless Chromium (tests/browser.py): type a dose, see the power; a bad guesstimate;
a stale answer ignored; export the trial spec."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from browser import Page, first_page, headless_chromium
from dosefinding import Candidates, optimal_contrasts, power_mct
from dosefinding.design.app.server import DesignServer
from dosefinding.study.spec import parse_spec

A2201_SHAPES = {"linear": None, "emax": [10, 100], "sigemax": (50, 3), "exponential": 150}
READY = "document.getElementById('status').textContent === 'up to date'"


@pytest.fixture
def page(server: DesignServer, tmp_path: Path) -> Iterator[Page]:
    with headless_chromium(tmp_path) as devtools:
        opened = first_page(devtools)
        opened.open(server.url, READY)
        yield opened
        opened.ws.close()


def shown_power(page: Page) -> dict[str, str]:
    return page.js("Object.fromEntries([...document.querySelectorAll('#power td[data-label]')]"
                   ".map((c) => [c.dataset.label, c.textContent]))")


def expected_power(doses: list[float], n: int) -> dict[str, str]:
    cands = Candidates(doses, A2201_SHAPES, max_effect=-3.5)
    power = power_mct(optimal_contrasts(cands, weights=[n] * len(doses)), cands, n=n, sigma=5.6, alpha=0.025)
    return {**{label: f"{p:.3f}" for label, p in power.items()}, "mean": f"{power.mean():.3f}",
            "min": f"{power.min():.3f}"}


def wait_for_answer(page: Page, before: int) -> None:
    """Wait until the page shows the answer to a request sent after the one numbered ``before``."""
    page.wait_for(f"+document.getElementById('status').dataset.seq > {before} && "
                  "!document.getElementById('status').textContent.startsWith('computing')")


def seq(page: Page) -> int:
    return int(page.js("document.getElementById('status').dataset.seq"))


def test_typing_a_dose_updates_the_power_and_a_bad_guesstimate_is_shown_next_to_its_field(page: Page) -> None:
    assert shown_power(page) == expected_power([0, 5, 50, 300], 45)
    assert page.js("document.querySelectorAll('#curves polyline').length") == 5

    before = seq(page)
    page.type("#doses", "0, 5, 50, 150, 300")
    wait_for_answer(page, before)
    assert page.js("document.getElementById('status').textContent") == "up to date"
    assert shown_power(page) == expected_power([0, 5, 50, 150, 300], 45)
    assert page.js("document.querySelectorAll('#contrasts tr').length") == 1 + 5  # header and a row per dose
    assert page.js("document.querySelectorAll('#curves circle').length") == 5 * 5  # a dot per model and dose

    before = seq(page)
    page.type("#shape-emax", "-10")
    wait_for_answer(page, before)
    message = page.js("document.querySelector('[data-err=\"shapes.emax\"]').textContent")
    assert message == "shapes['emax']: guesstimates must be positive, got [-10.0]"
    assert page.js("document.getElementById('shape-emax').classList.contains('bad')")
    assert page.js("document.getElementById('results').classList.contains('stale')")
    assert page.js("document.querySelector('[data-err=\"doses\"]').textContent") == ""

    before = seq(page)
    page.type("#shape-emax", "10; 100")
    wait_for_answer(page, before)
    assert page.js("document.querySelector('[data-err=\"shapes.emax\"]').textContent") == ""
    assert not page.js("document.getElementById('results').classList.contains('stale')")
    assert shown_power(page) == expected_power([0, 5, 50, 150, 300], 45)

    before = seq(page)
    page.type("#sigma", "abc")
    wait_for_answer(page, before)
    assert page.js("document.querySelector('[data-err=\"sigma\"]').textContent") == "sigma: 'abc' is not a number"


def test_an_answer_overtaken_by_a_newer_one_is_ignored(page: Page) -> None:
    # The answer for 4 per arm reaches the page 1.5 s late, after the one for 60 per arm.
    page.js("""(() => {
        const realFetch = window.fetch;
        window.delivered = [];
        window.fetch = async (url, options) => {
            const n = JSON.parse(options.body).design.n;
            const response = await realFetch(url, {...options, signal: undefined});
            if (n === "4") await new Promise((resolve) => setTimeout(resolve, 1500));
            window.delivered.push(n);
            return response;
        };
        document.getElementById("n").value = "4";
        update();
        document.getElementById("n").value = "60";
        update();
    })()""")
    page.wait_for("window.delivered.length === 2")
    assert page.js("window.delivered") == ["60", "4"]
    page.wait_for(READY)
    assert shown_power(page) == expected_power([0, 5, 50, 300], 60)
    assert page.js("document.getElementById('n').value") == "60"


def test_export_writes_a_trial_spec_the_loader_accepts(page: Page) -> None:
    before = seq(page)
    page.type("#doses", "0, 5, 50, 150, 300")
    wait_for_answer(page, before)
    page.js("document.getElementById('truth').value = 'emax2'")
    page.type("#name", "A2301")
    page.click("#export")
    text = page.wait_for("document.getElementById('spec').value")
    spec = parse_spec(text)
    assert spec.name == "A2301" and [a.dose for a in spec.arms] == [0, 5, 50, 150, 300]
    assert [a.n for a in spec.arms] == [45] * 5 and spec.analysis["alpha"] == 0.025
    truth = Candidates([0, 5, 50, 150, 300], A2201_SHAPES, max_effect=-3.5).models[2]
    assert truth.label == "emax2"
    assert spec.endpoint("RESP").true_mean_change()[:, 0].tolist() == pytest.approx(
        truth.response([0, 5, 50, 150, 300]).tolist(), abs=1e-12)
    assert page.js("document.getElementById('download').textContent") == "download A2301.toml"
    assert len(page.send("Page.captureScreenshot", format="png")["data"]) > 1000
