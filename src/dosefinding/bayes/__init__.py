"""Bayesian MCP-Mod: normal-mixture priors per dose, their conjugate posterior, the Bayesian
multiple contrast test (R DoseFinding's ``bMCTtest``) and Bayesian and bootstrap dose-response
fitting (``bFitMod``)."""

from typing import TYPE_CHECKING

from dosefinding.lazy import lazy_exports

if TYPE_CHECKING:
    from dosefinding.bayes.mixture import NormalMixture, normal_mixture
    from dosefinding.bayes.posterior import PosteriorMixture, mixture_posterior

__all__ = [
    "NormalMixture",
    "PosteriorMixture",
    "mixture_posterior",
    "normal_mixture",
]

if not TYPE_CHECKING:  # type checkers see the imports above; at run time they are lazy
    __getattr__, __dir__ = lazy_exports(__name__)
