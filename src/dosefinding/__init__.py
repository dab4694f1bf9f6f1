"""dosefinding: plan, run and analyse dose-finding trials (MCP-Mod, MMRM, reports)."""

from dosefinding.errors import ConvergenceError, DoseFindingError, InputError
from dosefinding.mcp import (
    MCTResult,
    MvtProbability,
    OptimalContrasts,
    SampleSize,
    dunnett_contrasts,
    mct_test,
    mvt_probability,
    mvt_quantile,
    optimal_contrasts,
    power_mct,
    sample_size_mct,
)
from dosefinding.mod import DoseResponseFit, fit_dose_response
from dosefinding.shapes import (
    SHAPE_NAMES,
    CandidateModel,
    Candidates,
    Shape,
    default_bounds,
    get_shape,
    guesstimate,
)

__version__ = "0.1.0"

__all__ = [
    "CandidateModel",
    "Candidates",
    "ConvergenceError",
    "DoseFindingError",
    "DoseResponseFit",
    "InputError",
    "MCTResult",
    "MvtProbability",
    "OptimalContrasts",
    "SHAPE_NAMES",
    "SampleSize",
    "Shape",
    "default_bounds",
    "dunnett_contrasts",
    "fit_dose_response",
    "get_shape",
    "guesstimate",
    "mct_test",
    "mvt_probability",
    "mvt_quantile",
    "optimal_contrasts",
    "power_mct",
    "sample_size_mct",
]
