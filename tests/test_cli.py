"""The ``dosefinding demo`` command, end to end on the virtual A2201 trial."""

from __future__ import annotations

from pathlib import Path

import pytest

from dosefinding.cli import main


def test_demo_prints_power_mcpmod_and_writes_the_figure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    figure = tmp_path / "figure2b.png"
    assert main(["demo", "--figure", str(figure)]) == 0
    out = capsys.readouterr().out
    power = {line.split()[0]: float(line.split()[1]) for line in out.splitlines()[3:8]}
    assert set(power) == {"linear", "emax1", "emax2", "sigemax", "exponential"}
    # The design claim of A2201: about 90% power whichever candidate is true.
    assert all(0.87 < value < 0.93 for value in power.values())
    assert "Selected model (AIC):" in out
    assert "Estimated TD (continuous), delta = -1.75" in out
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_reports_bad_input_without_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--n-per-arm", "1"]) == 2
    assert capsys.readouterr().err.startswith("dosefinding: error: n:")
