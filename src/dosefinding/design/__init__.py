"""Design of a dose-finding trial: optimal designs, Mod-step planning, sample size, interim power."""

from typing import TYPE_CHECKING

from dosefinding.lazy import lazy_exports

if TYPE_CHECKING:
    from dosefinding.design.interim import InterimPower, power_mct_interim
    from dosefinding.design.optimal import OptimalDesign, design_criterion, optimal_design, round_design

__all__ = ["InterimPower", "OptimalDesign", "design_criterion", "optimal_design", "power_mct_interim", "round_design"]

if not TYPE_CHECKING:  # type checkers see the imports above; at run time they are lazy
    __getattr__, __dir__ = lazy_exports(__name__)
