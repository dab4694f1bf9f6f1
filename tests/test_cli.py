"""The ``dosefinding demo`` and ``dosefinding analyze`` commands, end to end."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from dosefinding.cli import main
from dosefinding.datasets import cdisc_pilot_path
from dosefinding.report import validate_results

ROOT = Path(__file__).resolve().parents[1]
CDISC_IN_SPEC = "../src/dosefinding/datasets/data/cdiscpilot01"  # the example's [data] folder, relative to it


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
    spec.write_text(text.replace(f'"{CDISC_IN_SPEC}', f'"{cdisc_pilot_path().as_posix()}').replace(
        '"Xanomeline Low Dose" = 54, ', ""), encoding="utf-8")
    assert main(["analyze", str(spec), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err == ("dosefinding: error: arms.doses: no dose for arm(s) ['Xanomeline Low Dose'] of TRT01P "
                   "in adsl\n")
    assert not (tmp_path / "out").exists()
    assert main(["analyze", str(spec), "--out", str(tmp_path / "out")]) == 2  # the steps up to the error, then it
    *steps, last = capsys.readouterr().err.splitlines()
    assert last == f"dosefinding: error: {err.removeprefix('dosefinding: error: ').rstrip()}"
    assert steps[-1].endswith(f"reading data.adae ({cdisc_pilot_path() / 'adae.xpt'})")


def test_demo_refuses_negative_draws(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--out", str(tmp_path), "--draws", "-1", "--quiet"]) == 2
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


# --------------------------------------------------------------------------- progress lines


def test_analyze_says_each_step_on_stderr_and_quiet_says_nothing(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    spec = str(ROOT / "examples" / "cdiscpilot01_analysis.toml")
    assert main(["analyze", spec, "--out", str(tmp_path / "loud")]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert all(re.fullmatch(r"dosefinding \[ *\d+\.\d s\] \S.*", line) for line in lines), lines
    steps = [line.split("] ", 1)[1] for line in lines]
    assert steps[0] == f"reading the analysis spec {spec}"
    assert [s.split(" (")[0] for s in steps if s.startswith("reading data.")] == [
        "reading data.adsl", "reading data.adqsadas", "reading data.adae"]
    for expected in ("fitting endpoints.ACTOT: MMRM of ACTOT", "fitting endpoints.ACTOT_LOCF: ANCOVA of ACTOT",
                     "MCP-Mod on primary.endpoint ACTOT at Week 24", "model averaging: 200 bootstrap draws",
                     "laying out the report (csr): tables and figures", f"writing the report to {tmp_path / 'loud'}"):
        assert expected in steps
    assert main(["analyze", spec, "--out", str(tmp_path / "quiet"), "--quiet"]) == 0
    assert capsys.readouterr().err == ""


# --------------------------------------------------------------------------- file-system and data-file problems


def _cdisc_copy(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the CDISC pilot's data in tmp_path/adam and a spec reading it: (spec, adam folder)."""
    adam = tmp_path / "adam"
    adam.mkdir()
    for name in ("adsl.xpt", "adqsadas.csv", "adae.xpt"):
        (adam / name).write_bytes((cdisc_pilot_path() / name).read_bytes())
    spec = tmp_path / "spec.toml"
    spec.write_text((ROOT / "examples" / "cdiscpilot01_analysis.toml").read_text(encoding="utf-8").replace(
        f'"{CDISC_IN_SPEC}', '"adam'), encoding="utf-8")
    return spec, adam


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.startswith("dosefinding: error: ") and err.count("\n") == 1, err
    return err.removeprefix("dosefinding: error: ").rstrip("\n")


def _damage(adam: Path, case: str) -> None:
    if case == "xpt-damaged":
        (adam / "adsl.xpt").write_bytes((adam / "adsl.xpt").read_bytes()[:100])
    elif case == "csv-not-utf8":
        (adam / "adqsadas.csv").write_bytes(b"USUBJID,\xff\xfe\n1,2\n")
    elif case == "csv-malformed":
        (adam / "adqsadas.csv").write_text('a,b\n1,2,3,4\n"x', encoding="utf-8")
    elif case == "data-is-a-directory":
        (adam / "adae.xpt").unlink()
        (adam / "adae.xpt").mkdir()
    elif case == "labels-is-a-directory":
        (adam / "adqsadas.labels.json").mkdir()
    elif case == "adam-folder-missing":
        for file in adam.iterdir():
            file.unlink()
        adam.rmdir()
    elif case == "adam-folder-empty":
        for file in adam.iterdir():
            file.unlink()


@pytest.mark.parametrize(("case", "message"), [
    ("xpt-damaged", r"data\.adsl: path: '.*adsl\.xpt' is not a readable SAS transport \(XPT\) file \(.+\)"),
    ("csv-not-utf8", r"data\.adqsadas: path: '.*adqsadas\.csv' is not a readable CSV \(UTF-8\) file \(.*utf-8.*\)"),
    ("csv-malformed", r"data\.adqsadas: path: '.*adqsadas\.csv' is not a readable CSV \(UTF-8\) file \(.*tokenizing.*\)"),
    ("data-is-a-directory", r"data\.adae: path: '.*adae\.xpt' is a directory, not a file"),
    ("labels-is-a-directory", r"data\.adqsadas: labels: '.*adqsadas\.labels\.json' is a directory, not a file"),
    ("adam-folder-missing", r"data\.adsl: path: no such file '.*adam/adsl\.xpt'"),
    ("adam-folder-empty", r"data\.adsl: path: no such file '.*adam/adsl\.xpt'"),
])
def test_a_data_file_problem_is_one_line_before_any_analysis(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                             case: str, message: str) -> None:
    spec, adam = _cdisc_copy(tmp_path)
    _damage(adam, case)
    assert main(["analyze", str(spec), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert re.fullmatch(message, _one_error_line(capsys))
    assert not (tmp_path / "out").exists()


def test_a_parquet_file_that_is_not_parquet_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec, adam = _cdisc_copy(tmp_path)
    (adam / "adqsadas.parquet").write_text("not parquet", encoding="utf-8")
    spec.write_text(spec.read_text(encoding="utf-8").replace("adqsadas.csv", "adqsadas.parquet"), encoding="utf-8")
    assert main(["analyze", str(spec), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert re.fullmatch(r"data\.adqsadas: path: '.*adqsadas\.parquet' is not a readable Parquet file \(.+\)",
                        _one_error_line(capsys))


@pytest.mark.parametrize("command", ["analyze", "power"])
@pytest.mark.parametrize(("case", "message"), [
    ("binary", r"spec: '.*spec\.toml' is not UTF-8 text \(byte 0xff at offset 1\)"),
    ("directory", r"spec: '.*spec\.toml' is a directory, not a file"),
])
def test_a_spec_that_is_not_a_text_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str,
                                                    case: str, message: str) -> None:
    spec = tmp_path / "spec.toml"
    if case == "binary":
        spec.write_bytes(b"\x00\xff\xfe")
    else:
        spec.mkdir()
    argv = ["analyze", str(spec), "--out", str(tmp_path / "out")] if command == "analyze" else ["power", str(spec)]
    assert main([*argv, "--quiet"]) == 2
    assert re.fullmatch(message, _one_error_line(capsys))


def test_a_layout_that_is_not_a_text_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    layout = tmp_path / "layout.toml"
    layout.write_bytes(b"\x00\xff\xfe")
    assert main(["analyze", str(ROOT / "examples" / "cdiscpilot01_analysis.toml"), "--out", str(tmp_path / "out"),
                 "--layout", str(layout), "--quiet"]) == 2
    assert re.fullmatch(r"layout: '.*layout\.toml' is not UTF-8 text \(byte 0xff at offset 1\)",
                        _one_error_line(capsys))
    assert not (tmp_path / "out").exists()


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A randomisation database with its administrator (SQLite), its audit key in tmp_path."""
    pytest.importorskip("sqlalchemy")  # the service extra is part of the test extra: this guards only a core install
    from dosefinding.randomization.store import Store

    monkeypatch.setenv("DOSEFINDING_AUDIT_KEY_FILE", str(tmp_path / "audit.key"))
    file = tmp_path / "trial.db"
    Store(f"sqlite:///{file}").add_user("admin", "admin", bootstrap=True)
    return file


def _accounts(file: Path) -> int:
    import sqlite3

    with sqlite3.connect(file) as conn:
        return int(conn.execute("SELECT count(*) FROM users").fetchone()[0])


@pytest.mark.parametrize(("argv", "message"), [
    (["backup", "{tmp}/missing/copy.db", "--db", "{db}"], r"target: no directory '.*/missing' to write 'copy\.db' in"),
    (["backup", "/proc/copy.db", "--db", "{db}"], r"target: '/proc/copy\.db' is under /proc, not a place for a file"),
    (["audit-export", "{tmp}/missing/audit.csv", "--db", "{db}"],
     r"out: no directory '.*/missing' to write 'audit\.csv' in"),
    (["audit-export", "{tmp}", "--db", "{db}"], r"out: '.*' is a directory, not a file"),
    (["audit-export", "/proc/audit.html", "--db", "{db}"], r"out: '/proc/audit\.html' is under /proc, not a place .*"),
    (["audit-checkpoint", "{db}", "--out", "/proc/head.ckpt"], r"--out: '/proc/head\.ckpt' is under /proc, .*"),
    (["restore", "{tmp}/spec.toml", "--db", "{tmp}/restored.db"],
     r"backup: '.*spec\.toml' is not a backup of a SQLite database written by 'dosefinding backup'"),
    (["restore", "{tmp}", "--db", "{tmp}/restored.db"], r"backup: '.*' is a directory, not a file"),
    (["restore", "{db}", "--db", "{tmp}/missing/restored.db"],
     r"--db: no directory '.*/missing' to write 'restored\.db' in"),
    (["recover-admin", "--db", "{db}", "--username", "boss", "--code-file", "{tmp}/missing/code"],
     r"--code-file: no directory '.*/missing' to write 'code' in"),
    (["add-sponsor", "--db", "{db}", "--username", "sponsor", "--code-file", "{tmp}"],
     r"--code-file: '.*' is a directory, not a file"),
    (["serve", "--db", "{tmp}/missing/new.db"], r"--db: no directory '.*/missing' to write 'new\.db' in"),
    (["serve", "--db", "{db}", "--certfile", "{tmp}/cert.pem", "--keyfile", "{tmp}/key.pem"],
     r"--certfile: no such file '.*cert\.pem'"),
    (["serve", "--db", "{tmp}/new.db", "--admin-code-file", "{tmp}/missing/code"],
     r"--admin-code-file: no directory '.*/missing' to write 'code' in"),
])
def test_a_database_command_checks_its_files_first(database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str], argv: list[str],
                                                   message: str) -> None:
    """One line, before the database is read or changed: no account made whose code is lost, no empty restore."""
    import uvicorn

    def no_server(*args: object, **kwargs: object) -> None:
        raise AssertionError("the server would have started")

    monkeypatch.setattr(uvicorn, "run", no_server)
    (tmp_path / "spec.toml").write_text('[study]\nname = "x"\n', encoding="utf-8")
    accounts = _accounts(database)
    before = _files(tmp_path)
    assert main([a.format(tmp=tmp_path, db=database) for a in argv]) == 2
    assert re.fullmatch(message, _one_error_line(capsys))
    assert _files(tmp_path) == before and _accounts(database) == accounts


def _files(folder: Path) -> list[str]:
    """The files of ``folder``, but SQLite's own -wal and -shm files."""
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(("-wal", "-shm")))


def test_power_says_its_first_step_and_shows_the_bar_from_the_start(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["power", "a2201", "--n-sims", "20", "--seed", "4", "--chunk-size", "10"]) == 0
    err = capsys.readouterr().err
    first, bar = err.split("\n", 1)
    assert first.endswith("] reading the trial spec a2201")
    assert bar.startswith("\rpower: [") and "0/2 chunks" in bar.split("\r")[1] and "2/2 chunks" in bar


def test_the_cli_page_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    choices = re.search(r"\{([a-z,-]+)\}", capsys.readouterr().out)
    assert choices is not None
    page = (Path(__file__).parents[1] / "docs" / "reference" / "cli.md").read_text(encoding="utf-8")
    missing = [name for name in choices[1].split(",") if not re.search(rf"`(dosefinding )?{name}[` ]", page)]
    assert missing == [], f"docs/reference/cli.md does not list {missing}"
    with pytest.raises(SystemExit):
        main(["design", "--help"])
    design = re.search(r"\{([a-z,-]+)\}", capsys.readouterr().out)
    assert design is not None and all(f"| `{name}` |" in page for name in design[1].split(","))
