"""Endpoints: responders, differences of proportions, logistic first stage, category and shift tables,
adverse-event tables, exposure-adjusted rates, instrument scoring."""

from typing import TYPE_CHECKING

from dosefinding.lazy import lazy_exports

if TYPE_CHECKING:
    from dosefinding.endpoints.adverse_events import (
        ANY_EVENT,
        AETable,
        ae_by_severity,
        ae_incidence,
        ae_overview,
        ae_special_interest,
    )
    from dosefinding.endpoints.bds import derive_bds
    from dosefinding.endpoints.categories import CategoryTable, ShiftTable, categorize, category_table, shift_table
    from dosefinding.endpoints.differences import (
        ProportionTest,
        ResponderComparison,
        chisq_test,
        cmh_test,
        compare_responders,
        difference_interval,
        fisher_test,
        stratified_difference,
    )
    from dosefinding.endpoints.exposure import ExposureAdjustedRates, exposure_adjusted_rates
    from dosefinding.endpoints.instruments import (
        clinessdai,
        essdai,
        essdai_category,
        esspri,
        facit_fatigue,
        rand36_scales,
        sf36_scales,
        sf36_summary,
        vas_mm,
    )
    from dosefinding.endpoints.logistic import LogisticEstimates, fit_logistic
    from dosefinding.endpoints.responders import ResponderTable, as_responder, clopper_pearson, responder_rates
    from dosefinding.endpoints.safety import SafetySet, safety_set

__all__ = [
    "ANY_EVENT",
    "AETable",
    "CategoryTable",
    "ExposureAdjustedRates",
    "LogisticEstimates",
    "ProportionTest",
    "ResponderComparison",
    "ResponderTable",
    "SafetySet",
    "ShiftTable",
    "ae_by_severity",
    "ae_incidence",
    "ae_overview",
    "ae_special_interest",
    "as_responder",
    "categorize",
    "category_table",
    "chisq_test",
    "clinessdai",
    "clopper_pearson",
    "cmh_test",
    "compare_responders",
    "derive_bds",
    "difference_interval",
    "essdai",
    "essdai_category",
    "esspri",
    "exposure_adjusted_rates",
    "facit_fatigue",
    "fisher_test",
    "fit_logistic",
    "rand36_scales",
    "responder_rates",
    "safety_set",
    "sf36_scales",
    "sf36_summary",
    "shift_table",
    "stratified_difference",
    "vas_mm",
]

if not TYPE_CHECKING:  # type checkers see the imports above; at run time they are lazy
    __getattr__, __dir__ = lazy_exports(__name__)
