"""Mixed models for repeated measures (MMRM) that match SAS PROC MIXED; stands alone in the package."""

from dosefinding.mmrm.batch import BatchMMRMResult, fit_mmrm_batch
from dosefinding.mmrm.covariance import COVARIANCE_STRUCTURES
from dosefinding.mmrm.fit import MMRMResult, mmrm
from dosefinding.mmrm.lsmeans import LSMeans

__all__ = ["COVARIANCE_STRUCTURES", "BatchMMRMResult", "LSMeans", "MMRMResult", "fit_mmrm_batch", "mmrm"]
