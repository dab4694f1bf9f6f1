"""Multiple imputation of an MMRM under MAR and reference-based assumptions (rbmi's methods), and tipping points.

The steps, as R rbmi's ``draws``, ``impute``, ``analyse``, ``pool``:
:func:`imputation_data` lays out the data and the intercurrent events; :func:`mmrm_draws`
draws the imputation model's parameters (conditional mean with jackknife or bootstrap,
approximate Bayesian bootstrap, Bayesian data augmentation, bootstrapped maximum likelihood MI); :func:`impute` imputes under
MAR, jump to reference, copy reference, copy increments in reference, with deltas;
:func:`analyse` fits ANCOVA or the MMRM to every imputed data set; :func:`pool` combines
them (Rubin's rules with Barnard-Rubin df, jackknife, bootstrap, von Hippel-Bartlett); :func:`tipping_point`
finds the delta at which the conclusion (a contrast, or MCP-Mod on the pooled LS means)
changes.
"""

from typing import TYPE_CHECKING

from dosefinding.lazy import lazy_exports

if TYPE_CHECKING:
    from dosefinding.imputation.analysis import MIAnalysis, analyse
    from dosefinding.imputation.data import STRATEGIES, ImputationData, imputation_data
    from dosefinding.imputation.draws import ParameterDraws, mmrm_draws
    from dosefinding.imputation.impute import ImputedData, impute
    from dosefinding.imputation.pooling import (
        PooledResult,
        barnard_rubin_df,
        pool,
        pooled_lsmeans,
        rubin_rules,
        von_hippel_bartlett,
    )
    from dosefinding.imputation.tipping import TippingPoint, tipping_point

__all__ = [
    "STRATEGIES",
    "ImputationData",
    "ImputedData",
    "MIAnalysis",
    "ParameterDraws",
    "PooledResult",
    "TippingPoint",
    "analyse",
    "barnard_rubin_df",
    "imputation_data",
    "impute",
    "mmrm_draws",
    "pool",
    "pooled_lsmeans",
    "rubin_rules",
    "tipping_point",
    "von_hippel_bartlett",
]

if not TYPE_CHECKING:  # type checkers see the imports above; at run time they are lazy
    __getattr__, __dir__ = lazy_exports(__name__)
