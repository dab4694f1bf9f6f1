"""Mod step of MCP-Mod: fitting dose-response shapes."""

from dosefinding.mod.fit import DoseResponseFit, fit_dose_response

__all__ = ["DoseResponseFit", "fit_dose_response"]
