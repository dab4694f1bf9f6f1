"""MCP step of MCP-Mod: optimal contrasts, multivariate normal/t probabilities, the test, power."""

from dosefinding.mcp.closed import ClosedMCTResult, closed_mct_test
from dosefinding.mcp.contrasts import (
    OptimalContrasts,
    contrast_correlation,
    dunnett_contrasts,
    optimal_contrasts,
    unconstrained_contrasts,
)
from dosefinding.mcp.max_t import MaxTDistribution, max_t_upper_tail, mvt_quantile, significant_contrasts
from dosefinding.mcp.mct import MCTResult, mct_test
from dosefinding.mcp.mvt import MvtProbability, mvt_probability
from dosefinding.mcp.power import SampleSize, power_mct, sample_size_mct

__all__ = [
    "ClosedMCTResult",
    "MCTResult",
    "MaxTDistribution",
    "MvtProbability",
    "OptimalContrasts",
    "SampleSize",
    "closed_mct_test",
    "contrast_correlation",
    "dunnett_contrasts",
    "max_t_upper_tail",
    "mct_test",
    "mvt_probability",
    "mvt_quantile",
    "optimal_contrasts",
    "power_mct",
    "sample_size_mct",
    "significant_contrasts",
    "unconstrained_contrasts",
]
