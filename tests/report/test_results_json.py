"""results.json: its content, the schema and the validator's messages."""

from __future__ import annotations

import copy
import json
import math
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from dosefinding.errors import InputError
from dosefinding.report import Report, load_schema, mcpmod_results, results_document, validate_results

from .conftest import mcpmod_result

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def document(report: Report) -> dict[str, Any]:
    return results_document(report)


def test_schema_is_a_valid_2020_12_schema_shipped_as_package_data() -> None:
    jsonschema.Draft202012Validator.check_schema(load_schema())
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "*.json" in package_data["dosefinding.report"]  # so that `pip install .` ships the schema


def test_a_reports_results_validate_and_hold_every_table_cell(report: Report, document: dict[str, Any]) -> None:
    validate_results(document)
    json.dumps(document, allow_nan=False)  # strict JSON: no NaN
    assert document["synthetic"] is True and document["study"] == "A2201"
    assert document["generated_by"]["package"] == "dosefinding"
    for table in report.tables:
        rows = document["tables"][table.id]["rows"]
        assert [r["cells"] for r in rows] == [list(r.cells) for r in table.rows]
    assert [f["id"] for f in document["figures"]] == [f.id for f in report.figures]
    flow = next(f for f in document["figures"] if f["id"] == "figure-1")["data"]
    assert flow[0] == {"index": "Placebo", "Randomised": 49, "Treated": 49, "Completed week 24": 46}


def test_written_file_validates_by_path(report: Report, tmp_path: Path) -> None:
    files = report.write(tmp_path)
    validate_results(files.results)
    assert json.loads(files.results.read_text()) == json.loads(json.dumps(results_document(report)))


def test_mcpmod_numbers_are_those_of_the_result() -> None:
    result = mcpmod_result()
    numbers = mcpmod_results(result)
    mct = result.mct
    assert list(numbers["models"]) == list(mct.t_statistics.index)
    for name, entry in numbers["models"].items():
        assert entry["t_statistic"] == float(mct.t_statistics[name])  # the same float, not a rounded copy
        assert entry["p_value"] == float(mct.p_values[name])
        assert entry["significant"] == bool(mct.p_values[name] < mct.alpha)
        assert entry["contrast"] == {f"{d:g}": float(c) for d, c in mct.contrasts[name].items()}
    assert numbers["critical_value"] == mct.critical_value and numbers["df"] == 180.0
    assert numbers["selection"]["selected"] == result.selection.selected
    estimates = result.effect_estimates()
    assert [e["dose"] for e in numbers["effect_estimates"]] == [5.0, 50.0, 300.0]
    assert [e["upper"] for e in numbers["effect_estimates"]] == estimates["upper"].tolist()
    td = result.target_doses.loc[result.selection.selected, "TD"]
    assert numbers["target_doses"][result.selection.selected]["TD"] == (None if math.isnan(td) else float(td))


def broken(document: dict[str, Any], change: Any) -> str:
    bad = copy.deepcopy(document)
    change(bad)
    with pytest.raises(InputError) as info:
        validate_results(bad)
    return str(info.value)


def test_broken_documents_fail_naming_the_place(document: dict[str, Any]) -> None:
    message = broken(document, lambda d: d.pop("tables"))
    assert message == "results.json is not valid (1 problem):\n  results: 'tables' is a required property"
    message = broken(document, lambda d: d["tables"]["table-1"]["rows"][2]["cells"].__setitem__(0, 48.0))
    assert "results.tables.table-1.rows[2].cells[0]: 48.0 is not of type 'string'" in message
    message = broken(document, lambda d: d["mcpmod"]["models"]["linear"].__setitem__("p_value", 1.5))
    assert "results.mcpmod.models.linear.p_value: 1.5 is greater than the maximum of 1" in message
    message = broken(document, lambda d: d["tables"].__setitem__("Table 1", d["tables"]["table-1"]))
    assert "results.tables: 'Table 1' does not match" in message
    message = broken(document, lambda d: d["tables"]["table-2"]["rows"][0]["cells"].pop())
    assert message.endswith("results.tables.table-2.rows[0].cells: has 5 entries, the table has 6 columns")
    message = broken(document, lambda d: d["figures"].append(copy.deepcopy(d["figures"][0])))
    assert "id(s) ['figure-1'] used more than once" in message
    message = broken(document, lambda d: d["tables"]["table-4"].__setitem__("synthetic", False))
    assert "results.tables.table-4.synthetic: false in a report of synthetic data" in message
    message = broken(document, lambda d: d["tables"]["table-1"]["rows"][1]["values"].__setitem__(0, {"a": {"b": 1}}))
    assert "results.tables.table-1.rows[1].values[0].a: {'b': 1} is not valid" in message
    message = broken(document, lambda d: d["figures"][0]["files"].__setitem__(0, "/etc/passwd"))
    assert "results.figures[0].files[0]" in message


def test_many_problems_are_listed_up_to_ten(document: dict[str, Any]) -> None:
    def wreck(d: dict[str, Any]) -> None:
        for row in d["tables"]["table-3"]["rows"]:
            row["level"] = -1
        for row in d["tables"]["table-1"]["rows"] + d["tables"]["table-2"]["rows"]:
            row["level"] = -1
    message = broken(document, wreck)
    assert message.startswith("results.json is not valid (11 problems):")
    assert message.endswith("... and 1 more") and message.count("is less than the minimum of 0") == 10


def test_a_file_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text("{not json")
    with pytest.raises(InputError, match="is not JSON"):
        validate_results(path)


def test_dose_response_figure_holds_the_estimates_and_the_curve(document: dict[str, Any]) -> None:
    result = mcpmod_result()
    data = next(f for f in document["figures"] if f["id"] == "figure-2b")["data"]
    assert [e["estimate"] for e in data["estimates"]] == result.effect_estimates()["estimate"].tolist()
    doses = [c["dose"] for c in data["curve"]]
    curve = result.predict(doses)
    assert [c["upper"] for c in data["curve"]] == curve["upper"].tolist() and doses[0] == 0.0 and doses[-1] == 300.0
