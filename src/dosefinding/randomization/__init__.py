"""Randomisation: allocation lists, minimisation, eligibility screening, the audit trail.

The web service (:mod:`dosefinding.randomization.service`) and its database
(:mod:`dosefinding.randomization.store`) need the ``service`` extra (FastAPI, SQLAlchemy,
uvicorn) and are not imported here, so the package works without them.
"""

from typing import TYPE_CHECKING

from dosefinding.lazy import lazy_exports

if TYPE_CHECKING:
    from dosefinding.randomization.audit import AuditVerification, canonical_json, record_hash, record_mac, verify_chain
    from dosefinding.randomization.eligibility import A2201_RULES, EligibilityRules, Rule, RuleFailure, ScreeningResult
    from dosefinding.randomization.lists import (
        AllocationList,
        ListVerification,
        convergence_guess_rate,
        expected_correct_guesses_block,
        permuted_block_list,
        read_allocation_list,
        running_imbalance,
        simulate_block_sequences,
        stratum_labels,
        verify_allocation_list,
    )
    from dosefinding.randomization.minimisation import Minimisation, MinimisationResult, minimisation_arm, minimise

__all__ = [
    "A2201_RULES",
    "AllocationList",
    "AuditVerification",
    "EligibilityRules",
    "ListVerification",
    "Minimisation",
    "MinimisationResult",
    "Rule",
    "RuleFailure",
    "ScreeningResult",
    "canonical_json",
    "convergence_guess_rate",
    "expected_correct_guesses_block",
    "minimisation_arm",
    "minimise",
    "permuted_block_list",
    "read_allocation_list",
    "record_hash",
    "record_mac",
    "running_imbalance",
    "simulate_block_sequences",
    "stratum_labels",
    "verify_allocation_list",
    "verify_chain",
]

if not TYPE_CHECKING:  # type checkers see the imports above; at run time they are lazy
    __getattr__, __dir__ = lazy_exports(__name__)
