"""Mod step of MCP-Mod: fitting dose-response shapes, selecting among them, target doses, mcpmod()."""

from typing import TYPE_CHECKING

from dosefinding.lazy import lazy_exports

if TYPE_CHECKING:
    from dosefinding.mod.averaging import ModelAverage, model_average
    from dosefinding.mod.fit import DoseResponseFit, fit_dose_response
    from dosefinding.mod.from_mmrm import MMRMEstimates, mmrm_estimates
    from dosefinding.mod.mcpmod import MCPModResult, mcpmod
    from dosefinding.mod.selection import ModelSelection, aic_weights, select_model
    from dosefinding.mod.target_doses import DoseEstimate, curve_effective_dose, curve_target_dose

__all__ = [
    "DoseEstimate",
    "DoseResponseFit",
    "MCPModResult",
    "MMRMEstimates",
    "ModelAverage",
    "ModelSelection",
    "aic_weights",
    "curve_effective_dose",
    "curve_target_dose",
    "fit_dose_response",
    "mcpmod",
    "mmrm_estimates",
    "model_average",
    "select_model",
]

if not TYPE_CHECKING:  # type checkers see the imports above; at run time they are lazy
    __getattr__, __dir__ = lazy_exports(__name__)
