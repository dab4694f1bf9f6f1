"""Variable and parameter labels carried with the datasets: the virtual trial's sidecar files and XPT labels.

The XPT labels are checked against an independent reading of the file's NAMESTR records
(SAS transport v5: 140-byte records, the name at bytes 8-16 and the label at 16-56).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from dosefinding.adam import labels_path, read_adam
from dosefinding.datasets import cdisc_pilot_path
from dosefinding.errors import InputError
from dosefinding.study import simulate_trial

PILOT = cdisc_pilot_path()


@pytest.fixture(scope="module")
def trial():
    return simulate_trial("a2201", seed=3)


def _namestr_labels(path: Path) -> dict[str, str]:
    raw = path.read_bytes()
    header = raw.index(b"HEADER RECORD*******NAMESTR HEADER RECORD")
    count = int(raw[header + 54: header + 58])
    start = header + 80
    labels = {}
    for i in range(count):
        record = raw[start + 140 * i: start + 140 * (i + 1)]
        labels[record[8:16].decode("latin-1").strip()] = record[16:56].decode("latin-1").strip()
    return labels


def test_every_column_of_the_virtual_trial_has_a_label(trial):
    for name, frame in trial.datasets.items():
        labels = frame.attrs["labels"]
        assert list(labels) == list(frame.columns), name
        unlabelled = [c for c, label in labels.items() if not label or label == c]
        assert unlabelled == [], (name, unlabelled)
    adsl = trial.adsl.attrs["labels"]
    assert adsl["AGE"] == "Age" and adsl["SEX"] == "Sex" and adsl["DIAGDUR"] == "Time since diagnosis (years)"
    assert adsl["ESSDAIBL"] == "Baseline ESSDAI total score" and adsl["SFSTIMBL"].endswith("(mL/min)")
    assert set(trial.adsl["SEX"]) <= {"F", "M"}  # values stay coded


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_labels_round_trip_through_write_and_read_adam(trial, tmp_path, fmt):
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    trial.write(tmp_path, format=fmt)
    for name, frame in trial.datasets.items():
        back = read_adam(tmp_path / f"{name}.{fmt}")
        assert back.attrs["labels"] == frame.attrs["labels"], name
        if "PARAMCD" in frame.columns:
            assert back.attrs["parameters"] == frame.attrs["parameters"], name
    sidecar = json.loads(labels_path(tmp_path / f"adeff.{fmt}").read_text(encoding="utf-8"))
    assert sidecar["parameters"]["SCHIRMER"] == "Schirmer test (mm/5 min)"
    assert sidecar["variables"]["CHG"] == "Change from Baseline"


def test_xpt_labels_of_the_cdisc_pilot():
    adsl = read_adam(PILOT / "adsl.xpt")
    expected = _namestr_labels(PILOT / "adsl.xpt")
    assert adsl.attrs["labels"] == {c: expected[c] for c in adsl.columns if expected[c]}
    assert len(adsl.attrs["labels"]) == len(adsl.columns) and adsl.attrs["labels"]["AGE"] == "Age"
    assert "parameters" not in adsl.attrs
    adae = read_adam(PILOT / "adae.xpt")
    assert adae.attrs["labels"]["AEDECOD"] == _namestr_labels(PILOT / "adae.xpt")["AEDECOD"]


def test_csv_without_sidecar_has_parameters_from_the_data():
    adqs = read_adam(PILOT / "adqsadas.csv")
    assert adqs.attrs["labels"] == {}
    assert adqs.attrs["parameters"]["ACTOT"] == "Adas-Cog(11) Subscore"


def test_a_bad_sidecar_is_an_input_error(tmp_path):
    pd.DataFrame({"USUBJID": ["1"]}).to_csv(tmp_path / "adsl.csv", index=False)
    (tmp_path / "adsl.labels.json").write_text('{"variables": ["USUBJID"]}', encoding="utf-8")
    with pytest.raises(InputError, match=r"^labels: .*adsl\.labels\.json' needs 'variables' as a mapping"):
        read_adam(tmp_path / "adsl.csv")
    (tmp_path / "adsl.labels.json").write_text("{", encoding="utf-8")
    with pytest.raises(InputError, match=r"^labels: cannot read"):
        read_adam(tmp_path / "adsl.csv")


def test_an_empty_file_is_an_input_error(tmp_path):
    for name in ("adsl.csv", "adsl.xpt", "adsl.parquet"):
        (tmp_path / name).write_bytes(b"")
        with pytest.raises(InputError, match=r"^path: .* is empty \(no variables\)$"):
            read_adam(tmp_path / name)
