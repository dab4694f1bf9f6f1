"""MCP step of MCP-Mod: optimal contrasts, multivariate normal/t probabilities, the test, power."""

from dosefinding.mcp.contrasts import (
    OptimalContrasts,
    dunnett_contrasts,
    optimal_contrasts,
)
from dosefinding.mcp.max_t import MaxTDistribution, mvt_quantile
from dosefinding.mcp.mct import MCTResult, mct_test
from dosefinding.mcp.mvt import MvtProbability, mvt_probability
from dosefinding.mcp.power import SampleSize, power_mct, sample_size_mct

__all__ = [
    "MCTResult",
    "MaxTDistribution",
    "MvtProbability",
    "OptimalContrasts",
    "SampleSize",
    "dunnett_contrasts",
    "mct_test",
    "mvt_probability",
    "mvt_quantile",
    "optimal_contrasts",
    "power_mct",
    "sample_size_mct",
]
