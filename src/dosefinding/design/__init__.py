"""Design of a dose-finding trial: optimal designs, Mod-step planning, sample size, interim power."""

from typing import TYPE_CHECKING

from dosefinding.lazy import lazy_exports

if TYPE_CHECKING:
    from dosefinding.design.interim import InterimPower, power_mct_interim
    from dosefinding.design.optimal import OptimalDesign, design_criterion, optimal_design, round_design
    from dosefinding.design.plan_mod import ModPlan, plan_mod
    from dosefinding.design.precision import (
        EstimationPrecision,
        PrecisionSampleSize,
        estimation_precision,
        precision_sample_size,
    )
    from dosefinding.design.sample_size import SampleSizeSearch, TargetByN, power_n, sample_size, target_n

__all__ = [
    "EstimationPrecision",
    "InterimPower",
    "ModPlan",
    "OptimalDesign",
    "PrecisionSampleSize",
    "SampleSizeSearch",
    "TargetByN",
    "design_criterion",
    "estimation_precision",
    "optimal_design",
    "plan_mod",
    "power_mct_interim",
    "power_n",
    "precision_sample_size",
    "round_design",
    "sample_size",
    "target_n",
]

if not TYPE_CHECKING:  # type checkers see the imports above; at run time they are lazy
    __getattr__, __dir__ = lazy_exports(__name__)
