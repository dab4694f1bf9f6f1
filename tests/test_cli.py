"""The ``dosefinding demo`` and ``dosefinding analyze`` commands, end to end."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from dosefinding.cli import main
from dosefinding.report import validate_results

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_demo_simulates_analyses_and_prints_where_the_report_is(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--seed", "5", "--draws", "20"]) == 0
    printed = capsys.readouterr().out
    assert f"Report: {out / 'report.html'}" in printed
    assert "synthetic data" in printed
    assert sorted(p.name for p in (out / "adam").iterdir()) == ["README.txt"] + sorted(
        f"{name}{suffix}" for name in ("adae", "adbm", "adeff", "adsl", "ds") for suffix in (".csv", ".labels.json"))
    validate_results(out / "results.json")
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    # the headline printed is the report's week-24 ESSDAI difference, 300 mg vs placebo
    rows = results["tables"]["table-2"]["rows"]
    assert rows[0]["label"] == "ESSDAI" and rows[3]["label"] == "Difference to placebo (95% CI)"
    value = rows[3]["values"][3]
    match = re.search(r"VAY736 300 mg: (-?\d+\.\d\d) \((-?\d+\.\d\d), (-?\d+\.\d\d)\)", printed)
    assert match is not None
    assert [float(g) for g in match.groups()] == [round(value[k], 2) for k in ("estimate", "lower", "upper")]
    models = results["mcpmod"]["models"]
    assert f"MCP step (one-sided alpha 0.05), adjusted p-values: linear {models['linear']['p_value']:.4f}, " in printed
    # the spec written beside the data reruns the same analysis
    assert main(["analyze", str(out / "analysis.toml"), "--out", str(tmp_path / "again")]) == 0
    again = json.loads((tmp_path / "again" / "results.json").read_text(encoding="utf-8"))
    assert again["tables"]["table-2"] == results["tables"]["table-2"]


def test_analyze_runs_the_cdisc_pilot_example(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(ROOT / "examples" / "cdiscpilot01_analysis.toml"), "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "ADAS-Cog(11), Week 24: LS-mean difference to placebo" in printed
    assert (tmp_path / "report.html").is_file() and (tmp_path / "tables" / "table-14-5-01.rtf").is_file()


def test_bad_spec_gives_one_line_naming_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (ROOT / "examples" / "cdiscpilot01_analysis.toml").read_text(encoding="utf-8")
    spec = tmp_path / "bad.toml"
    spec.write_text(text.replace('"../tests/fixtures', f'"{ROOT}/tests/fixtures').replace(
        '"Xanomeline Low Dose" = 54, ', ""), encoding="utf-8")
    assert main(["analyze", str(spec), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err == ("dosefinding: error: arms.doses: no dose for arm(s) ['Xanomeline Low Dose'] of TRT01P "
                   "in adsl\n")
    assert not (tmp_path / "out").exists()


def test_demo_refuses_negative_draws(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--out", str(tmp_path), "--draws", "-1"]) == 2
    assert capsys.readouterr().err.startswith("dosefinding: error: model_average_draws:")


def test_version_and_help_say_what_the_command_is(capsys: pytest.CaptureFixture[str]) -> None:
    from dosefinding import __version__

    with pytest.raises(SystemExit) as exit_code:
        main(["--version"])
    assert exit_code.value.code == 0 and capsys.readouterr().out.strip() == f"dosefinding {__version__}"
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "plan, run and analyse dose-finding trials" in text and "``" not in text
