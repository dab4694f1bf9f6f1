"""Bayesian MCP-Mod: normal-mixture priors per dose, their conjugate posterior, the Bayesian
multiple contrast test (R DoseFinding's ``bMCTtest``) and Bayesian and bootstrap dose-response
fitting (``bFitMod``)."""

from typing import TYPE_CHECKING

from dosefinding.lazy import lazy_exports

if TYPE_CHECKING:
    from dosefinding.bayes.fit import DoseResponseDraws, bayes_fit_dose_response, bootstrap_fit_dose_response
    from dosefinding.bayes.mct import BayesMCTResult, bayes_mct_test
    from dosefinding.bayes.mixture import NormalMixture, normal_mixture
    from dosefinding.bayes.parameter_priors import (
        ParameterPrior,
        beta_prior,
        lognormal_prior,
        normal_prior,
        t_prior,
    )
    from dosefinding.bayes.posterior import PosteriorMixture, mixture_posterior

__all__ = [
    "BayesMCTResult",
    "DoseResponseDraws",
    "NormalMixture",
    "ParameterPrior",
    "PosteriorMixture",
    "bayes_fit_dose_response",
    "bayes_mct_test",
    "beta_prior",
    "bootstrap_fit_dose_response",
    "lognormal_prior",
    "mixture_posterior",
    "normal_mixture",
    "normal_prior",
    "t_prior",
]

if not TYPE_CHECKING:  # type checkers see the imports above; at run time they are lazy
    __getattr__, __dir__ = lazy_exports(__name__)
