"""Eligibility screening with A2201's inclusion rules (Bowman et al., Lancet 2022) as data."""

from __future__ import annotations

from pathlib import Path

import pytest

from dosefinding.errors import InputError
from dosefinding.randomization import A2201_RULES, EligibilityRules

GOOD = {"AGE": 45, "ESSDAI7": 8, "ESSPRI": 6.5, "ANTIRO": True, "SALFLOW": 0.35}


def test_a_typical_a2201_subject_is_eligible() -> None:
    result = A2201_RULES.screen(GOOD)
    assert result.eligible and result.failures == ()
    assert str(result.summary()) == "ELIGIBLE"


@pytest.mark.parametrize(
    ("field", "value", "eligible"),
    [
        ("AGE", 18, True), ("AGE", 75, True), ("AGE", 17.9, False), ("AGE", 76, False),
        ("ESSDAI7", 6, True), ("ESSDAI7", 5, False),
        ("ESSPRI", 5, True), ("ESSPRI", 4.9, False),
        ("SALFLOW", 0.1, False), ("SALFLOW", 0.11, True),
        ("ANTIRO", False, False), ("ANTIRO", "yes", False),
    ],
)
def test_boundaries_of_each_rule(field: str, value: object, eligible: bool) -> None:
    result = A2201_RULES.screen(GOOD | {field: value})
    assert result.eligible is eligible
    if not eligible:
        assert [f.rule for f in result.failures] == [field]


def test_every_failure_is_reported_with_its_reason() -> None:
    result = A2201_RULES.screen({"AGE": 80, "ESSDAI7": 4, "ESSPRI": "high", "ANTIRO": False})
    reasons = {f.rule: f.reason for f in result.failures}
    assert reasons == {
        "AGE": "AGE = 80, must be between 18 and 75",
        "ESSDAI7": "ESSDAI7 = 4, must be >= 6",
        "ESSPRI": "ESSPRI = 'high' is not a number",
        "ANTIRO": "ANTIRO is False, must be true",
        "SALFLOW": "SALFLOW missing",
    }
    assert str(result.summary()).splitlines()[0] == "NOT ELIGIBLE" and len(str(result.summary()).splitlines()) == 6


def test_rules_from_toml_and_back(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(
        '[[rule]]\nid = "AGE"\nfield = "AGE"\nop = "between"\nvalue = [18, 75]\ntext = "Age 18 to 75"\n\n'
        '[[rule]]\nid = "COUNTRY"\nfield = "COUNTRY"\nop = "in"\nvalue = ["JP", "DE"]\n'
    )
    rules = EligibilityRules.from_toml(path)
    assert rules.fields == ("AGE", "COUNTRY")
    assert rules.screen({"AGE": 30, "COUNTRY": "JP"}).eligible
    assert rules.screen({"AGE": 30, "COUNTRY": "US"}).failures[0].reason == "COUNTRY = 'US', must be in ['JP', 'DE']"
    assert EligibilityRules.from_list(rules.to_list()) == rules
    assert EligibilityRules.from_list(A2201_RULES.to_list()) == A2201_RULES


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ([{"id": "A", "field": "AGE", "op": "~", "value": 1}], r"rules\[0\]\.op: must be one of"),
        ([{"id": "A", "field": "AGE", "op": ">=", "value": "x"}], r"rules\[0\]\.value: '>=' needs a number"),
        ([{"id": "A", "field": "AGE", "op": "between", "value": [1]}], r"'between' needs \[low, high\]"),
        ([{"field": "AGE", "op": ">=", "value": 1}], r"rules\[0\]\.id: must be a non-empty string"),
        ([{"id": "A", "field": "X", "op": "is_true"}, {"id": "A", "field": "Y", "op": "is_true"}],
         r"duplicate rule id\(s\) \['A'\]"),
        ("AGE >= 18", "rules: must be a list"),
    ],
)
def test_bad_rules_name_the_rule_and_key(rules: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        EligibilityRules.from_list(rules)  # type: ignore[arg-type]


def test_unreadable_toml(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[[rule]\n")
    with pytest.raises(InputError, match="cannot read eligibility rules"):
        EligibilityRules.from_toml(path)
