"""Scoring of clinical instruments from item-level data: ESSDAI, ClinESSDAI, ESSPRI,
FACIT-Fatigue, RAND-36 and SF-36 v1 scales, SF-36 summaries, VAS; one module per instrument."""

from dosefinding.endpoints.instruments.essdai import (
    A2201_ELIGIBILITY_DOMAINS,
    CLINESSDAI_WEIGHTS,
    ESSDAI_DOMAINS,
    ESSDAI_LEVELS,
    ESSDAI_WEIGHTS,
    clinessdai,
    essdai,
    essdai_category,
    essdai_domain_scores,
)
from dosefinding.endpoints.instruments.esspri import ESSPRI_ITEMS, esspri
from dosefinding.endpoints.instruments.facit_fatigue import FACIT_FATIGUE_ITEMS, FACIT_FATIGUE_POSITIVE, facit_fatigue
from dosefinding.endpoints.instruments.rand36 import RAND36_RECODE, RAND36_SCALES, rand36_scales
from dosefinding.endpoints.instruments.sf36 import SF36_RECODE, SF36_SCALE_RANGE, sf36_scales
from dosefinding.endpoints.instruments.sf36_summary import SF36_US1990, sf36_summary
from dosefinding.endpoints.instruments.vas import vas_mm

__all__ = [
    "A2201_ELIGIBILITY_DOMAINS",
    "CLINESSDAI_WEIGHTS",
    "ESSDAI_DOMAINS",
    "ESSDAI_LEVELS",
    "ESSDAI_WEIGHTS",
    "ESSPRI_ITEMS",
    "FACIT_FATIGUE_ITEMS",
    "FACIT_FATIGUE_POSITIVE",
    "RAND36_RECODE",
    "RAND36_SCALES",
    "SF36_RECODE",
    "SF36_SCALE_RANGE",
    "SF36_US1990",
    "clinessdai",
    "essdai",
    "essdai_category",
    "essdai_domain_scores",
    "esspri",
    "facit_fatigue",
    "rand36_scales",
    "sf36_scales",
    "sf36_summary",
    "vas_mm",
]
