"""Corrections of recorded data: a wrong site, a wrong stratum, a wrong screening value.

A correction never rewrites a row without a trace: the store applies it and appends an audit
record ``subject.correct`` with the field, the old value, the new value and the reason, in the
same transaction; ``audit-verify`` replays the same function on its rebuilt state, so the
tables and the trail must agree after every correction.

Fields:

- ``site``: the subject's site.
- ``strata``: the stratification factors of a randomised subject (all factors, as at
  randomisation). The subject keeps its list entry (and so its arm): the corrected strata are
  what reports and ADSL use, and what later minimisation allocations count.
- ``data.NAME``: one screening value; eligibility is re-evaluated with the study's rules and
  recorded. A randomised subject stays randomised: a subject found ineligible afterwards is a
  protocol deviation to report, not an allocation to undo.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from dosefinding.errors import InputError
from dosefinding.randomization.eligibility import EligibilityRules

__all__ = ["CORRECTABLE", "apply_correction", "correction_field"]

CORRECTABLE = ("site", "strata", "data.NAME")


def correction_field(field: str) -> str:
    """Check a correctable field name; InputError naming it otherwise.

    Examples
    --------
    >>> correction_field("data.AGE")
    'data.AGE'
    >>> correction_field("arm")
    Traceback (most recent call last):
    ...
    dosefinding.errors.InputError: field: 'arm' cannot be corrected (correctable: site, strata, data.NAME)
    """
    if field in ("site", "strata") or (field.startswith("data.") and len(field) > len("data.")):
        return field
    raise InputError(f"field: {field!r} cannot be corrected (correctable: {', '.join(CORRECTABLE)})")


def apply_correction(config: Mapping[str, Any], subject: MutableMapping[str, Any],
                     slot: MutableMapping[str, Any] | None, field: str, value: Any) -> dict[str, Any]:
    """Apply a correction to a subject's state (and its slot's) in place; return what changed.

    ``subject`` has ``site``, ``data``, ``eligible`` and ``failures``; ``slot`` (None if not
    randomised) has ``strata``. The result has ``field``, ``old`` and ``new``, and for a
    screening value the re-evaluated ``eligible`` and ``failures``.

    Examples
    --------
    >>> config = {"eligibility": [{"id": "AGE", "field": "AGE", "op": ">=", "value": 18}]}
    >>> subject = {"site": "101", "data": {"AGE": 45}, "eligible": True, "failures": []}
    >>> change = apply_correction(config, subject, None, "data.AGE", 17)
    >>> change["old"], change["new"], change["eligible"], subject["eligible"]
    (45, 17, False, False)
    """
    correction_field(field)
    if field == "site":
        old, subject["site"] = subject["site"], value
        return {"field": field, "old": old, "new": value}
    if field == "strata":
        if slot is None:
            raise InputError("field: 'strata' is set at randomisation; the subject is not randomised")
        old, slot["strata"] = slot["strata"], dict(value)
        return {"field": field, "old": old, "new": dict(value)}
    name = field.removeprefix("data.")
    data = dict(subject["data"])
    old = data.get(name)
    data[name] = value
    result = EligibilityRules.from_list(config["eligibility"]).screen(data)
    failures = [{"rule": f.rule, "text": f.text, "reason": f.reason} for f in result.failures]
    subject.update(data=data, eligible=result.eligible, failures=failures)
    return {"field": field, "old": old, "new": value, "eligible": result.eligible, "failures": failures}
