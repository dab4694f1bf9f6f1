"""dosefinding.datasets: the values are R's (the existing R fixtures), the shipped files are the sources'
unaltered, the catalog lists every data set with its source and licence, and the wheel carries the files."""

from __future__ import annotations

import hashlib
import inspect
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dosefinding import datasets
from dosefinding.adam import read_adam

ROOT = Path(__file__).resolve().parents[1]
R_FIXTURES = ROOT / "tests" / "fixtures" / "r"
LOADERS = ["biom", "ibs_covars", "glycobrom", "migraine", "neurodeg", "fev_data", "bcva_data", "antidepressant_data",
           "cdisc_pilot"]
# sha256 of the CDISC pilot files as CDISC distributes them (/work/shared/data/cdiscpilot01): they must not be altered.
CDISC_SHA256 = {
    "adsl.xpt": "c5139f873a93ef6add77bc4297beb6460a398bbdd036874382a9f39dfc92091d",
    "adae.xpt": "b8678e70946473a753bb01d002917f478bf51b59bdd0dc19587b97128059b6a0",
    "adqsadas.csv": "d09793493b81e838881f3da61d1a43dd1f8c1b9766e4c70c6efa1fe0b69ada7b",
    "adqscibc.xpt": "16e7118f606d907e817f0a5885d662c2e7177c430d2b3ec6c0ba9096cb3d7bc1",
}


def _r_datasets(fixture: str) -> dict:
    return json.loads((R_FIXTURES / fixture).read_text())["datasets"]


def _mct_case(name: str) -> dict:
    cases = json.loads((R_FIXTURES / "mcp_reference.json").read_text())["mct"]
    return next(case for case in cases if case["name"] == name)


@pytest.mark.parametrize(("fixture", "key"), [("mcpmod_reference.json", "biom"), ("mcp_reference.json", "biom"),
                                              ("fit_reference.json", "biom")])
def test_biom_is_r_doseFindings_biom(fixture: str, key: str) -> None:
    r = pd.DataFrame(_r_datasets(fixture)[key])
    ours = datasets.biom()
    assert ours.columns.tolist() == ["dose", "resp"]
    # exact: make_data.R writes every double so that it reads back bit-identical
    np.testing.assert_array_equal(ours[["dose", "resp"]].to_numpy(), r[["dose", "resp"]].to_numpy())


@pytest.mark.parametrize(("fixture", "key"), [("mcpmod_reference.json", "ibs_gender"),
                                              ("mcp_reference.json", "IBScovars"), ("fit_reference.json", "ibs")])
def test_ibs_covars_is_r_doseFindings_IBScovars(fixture: str, key: str) -> None:
    r = pd.DataFrame(_r_datasets(fixture)[key])
    ours = datasets.ibs_covars()
    assert ours.columns.tolist() == ["gender", "resp", "dose"]
    np.testing.assert_array_equal(ours["resp"].to_numpy(), r["resp"].to_numpy())
    np.testing.assert_array_equal(ours["dose"].to_numpy(), r["dose"].to_numpy())
    assert ours["gender"].tolist() == [str(g) for g in r["gender"]]


def test_glycobrom_is_the_summary_data_of_the_r_fixtures() -> None:
    ours = datasets.glycobrom()
    for case in (_mct_case("glycobrom"), json.loads((R_FIXTURES / "fit_reference.json").read_text())["estimates"]
                 ["glycobrom"]):
        assert ours["dose"].tolist() == case["doses"]
        assert ours["fev1"].tolist() == case["estimates"]
        # S = diag(sdev^2) in R, printed by jsonlite with 15 significant digits
        np.testing.assert_allclose(np.diag(case["S"]), ours["sdev"] ** 2, rtol=1e-14, atol=0)
    assert ours["n"].tolist() == [49, 55, 51, 53, 53]  # ?glycobrom in R DoseFinding 1.0-3


def test_migraine_gives_the_logit_estimates_of_the_r_fixture() -> None:
    ours = datasets.migraine()
    case = _mct_case("migraine_one.sided")
    assert ours["dose"].tolist() == case["doses"]
    rate = ours["painfree"] / ours["ntrt"]
    # R's glm(rate ~ factor(dose) + 0, binomial) on a saturated model: coefficients logit(rate), variances
    # 1/(n p (1-p)); glm stops its IRLS iterations at a relative deviance change of 1e-8, which leaves 9e-12 on
    # the coefficients and 4e-6 (relative) on the variances, evaluated at the previous iteration's weights.
    np.testing.assert_allclose(case["estimates"], np.log(rate / (1 - rate)), rtol=0, atol=1e-10)
    np.testing.assert_allclose(np.diag(case["S"]), 1 / (ours["ntrt"] * rate * (1 - rate)), rtol=1e-5)
    assert int(ours["ntrt"].sum()) == 517  # ?migraine: 517 patients completed the trial


def test_neurodeg_has_the_design_of_the_r_fixture() -> None:
    ours = datasets.neurodeg()
    assert ours.columns.tolist() == ["resp", "id", "dose", "time"]
    assert sorted(ours["dose"].unique())[1:] == _mct_case("neurodeg_placebo_adjusted")["doses"]
    per_patient = ours.groupby("id").agg(dose=("dose", "nunique"), visits=("time", "size"))
    assert len(per_patient) == 250 and (per_patient["dose"] == 1).all() and (per_patient["visits"] == 5).all()
    assert ours.groupby("dose")["id"].nunique().tolist() == [50] * 5


def test_fev_data_is_the_file_the_r_scripts_read_with_rs_sex_levels() -> None:
    shipped = datasets.fev_data()
    file = pd.read_csv(datasets.cdisc_pilot_path().parent / "mmrm" / "fev_data.csv")
    assert shipped.columns.tolist() == file.columns.tolist()
    pd.testing.assert_frame_equal(shipped.drop(columns="SEX"), file.drop(columns="SEX"))
    assert shipped["SEX"].cat.categories.tolist() == ["Male", "Female"]
    assert shipped["SEX"].astype(str).tolist() == file["SEX"].tolist()
    # sas_reference.json: "rows with FEV1 NA dropped -> 537 obs, 197 subjects with >=1 obs (SAS Subjects = 200)"
    observed = shipped.dropna(subset=["FEV1"])
    assert len(observed) == 537 and observed["USUBJID"].nunique() == 197 and shipped["USUBJID"].nunique() == 200


def test_the_r_scripts_read_the_package_data_files() -> None:
    """Run from the repository root, every data file an R fixture script names under src/ exists (no test copies)."""
    data = Path(datasets.__file__).parent / "data"
    named = set()
    for script in R_FIXTURES.glob("*.R"):
        text = script.read_text()
        for parts in re.findall(r'file\.path\(("src"(?:, "[^"]+")+)\)', text):
            named.add(ROOT.joinpath(*re.findall(r'"([^"]+)"', parts)))
        named.update(ROOT / folder / name for folder in re.findall(r'data_dir <- "([^"]+)"', text)
                     for name in re.findall(r'file\.path\(data_dir, "([^"]+)"\)', text))
    assert {path.relative_to(data).as_posix() for path in named} == {
        "mmrm/fev_data.csv", "cdiscpilot01/adqsadas.csv", "cdiscpilot01/adsl.xpt", "cdiscpilot01/adae.xpt"}
    assert all(path.is_file() for path in named)


def test_bcva_data_shape_and_subject_ids() -> None:
    data = datasets.bcva_data()
    assert data.shape == (8605, 7)
    assert data["USUBJID"].map(type).eq(str).all() and data["USUBJID"].nunique() == 1000
    assert sorted(data["AVISIT"].unique()) == [f"VIS{i:02d}" for i in range(1, 11)]


def test_antidepressant_data_is_rbmis() -> None:
    # R: load("antidepressant_data.rda") from openpharma/rbmi (commit 5961fa07); sum(CHANGE) -2541, sum(BASVAL) 10857,
    # 3 PGIIMP missing, 608 rows; 84 DRUG and 88 PLACEBO patients (rbmi's quickstart: dropout 24% and 26%).
    data = datasets.antidepressant_data()
    assert data.shape == (608, 11)
    assert (int(data["CHANGE"].sum()), int(data["BASVAL"].sum()), int(data["PGIIMP"].isna().sum())) == (-2541, 10857, 3)
    assert sorted(data["VISIT"].unique()) == ["4", "5", "6", "7"] and data["POOLINV"].str.len().eq(3).all()


def test_cdisc_pilot_files_are_unaltered() -> None:
    folder = datasets.cdisc_pilot_path()
    for name, digest in CDISC_SHA256.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
    assert "credit CDISC" in (folder / "README.md").read_text()


def test_cdisc_pilot_is_read_as_read_adam_reads_it() -> None:
    adam = datasets.cdisc_pilot()
    assert list(adam) == ["adsl", "adae", "adqsadas", "adqscibc"]
    assert {name: frame.shape for name, frame in adam.items()} == {
        "adsl": (254, 48), "adae": (1191, 55), "adqsadas": (12463, 40), "adqscibc": (730, 36)}
    adsl = read_adam(datasets.cdisc_pilot_path() / "adsl.xpt")
    pd.testing.assert_frame_equal(adam["adsl"], adsl)
    assert adam["adsl"].attrs["labels"] == adsl.attrs["labels"]
    assert "ACTOT" in adam["adqsadas"]["PARAMCD"].unique()


def test_catalog_lists_every_data_set_with_source_and_licence() -> None:
    table = datasets.catalog()
    assert table.columns.tolist() == ["name", "title", "rows", "source", "licence", "url"]
    assert table["name"].tolist() == LOADERS
    assert set(LOADERS) | {"catalog", "cdisc_pilot_path"} == set(datasets.__all__)
    for row in table.itertuples():
        loaded = getattr(datasets, row.name)()
        frames = loaded.values() if isinstance(loaded, dict) else [loaded]
        assert row.rows == sum(len(frame) for frame in frames), row.name
        assert row.title and row.source and row.licence and row.url.startswith("https://")
        doc = inspect.getdoc(getattr(datasets, row.name)) or ""
        assert row.url in doc, f"{row.name}: its docstring does not give its source {row.url}"
        licence = row.licence.split(" ")[0].rstrip(":")  # GPL-3, Apache-2.0, CDISC
        assert licence in doc, f"{row.name}: its docstring does not give its licence {licence}"


def test_each_call_returns_a_new_frame() -> None:
    first = datasets.biom()
    first.loc[0, "resp"] = 1e9
    assert datasets.biom().loc[0, "resp"] != 1e9


@pytest.mark.slow
def test_the_wheel_contains_the_data_files(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(ROOT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, project / name)
    # with build isolation: pip brings the setuptools pyproject asks for (>=77)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                    "-w", str(tmp_path / "dist"), str(project)], check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("dosefinding-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    data = Path(datasets.__file__).parent / "data"
    expected = {f"dosefinding/datasets/{path.relative_to(data.parent).as_posix()}"
                for path in data.rglob("*") if path.is_file()}
    assert len(expected) == 14
    assert expected <= names, sorted(expected - names)
