"""dosefinding: plan, run and analyse dose-finding trials (MCP-Mod, MMRM, reports).

The public names below are imported on first use (:mod:`dosefinding.lazy`): ``import
dosefinding`` is fast and loads no numerical library; each name loads its own module.
"""

from typing import TYPE_CHECKING

from dosefinding.lazy import lazy_exports

if TYPE_CHECKING:
    from dosefinding.adam import read_adam
    from dosefinding.endpoints import (
        AETable,
        CategoryTable,
        ExposureAdjustedRates,
        LogisticEstimates,
        ResponderComparison,
        ResponderTable,
        ShiftTable,
        ae_by_severity,
        ae_incidence,
        ae_overview,
        ae_special_interest,
        category_table,
        compare_responders,
        difference_interval,
        essdai,
        esspri,
        exposure_adjusted_rates,
        facit_fatigue,
        fit_logistic,
        responder_rates,
        shift_table,
        stratified_difference,
    )
    from dosefinding.errors import ConvergenceError, DoseFindingError, DoseFindingWarning, InputError
    from dosefinding.mcp import (
        MaxTDistribution,
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
    from dosefinding.mmrm import LSMeans, MMRMResult, mmrm
    from dosefinding.mod import (
        DoseEstimate,
        DoseResponseFit,
        MCPModResult,
        MMRMEstimates,
        ModelAverage,
        ModelSelection,
        aic_weights,
        curve_effective_dose,
        curve_target_dose,
        fit_dose_response,
        mcpmod,
        mmrm_estimates,
        model_average,
        select_model,
    )
    from dosefinding.report import Report, Table, baseline_table, validate_results
    from dosefinding.shapes import (
        SHAPE_NAMES,
        CandidateModel,
        Candidates,
        Shape,
        default_bounds,
        get_shape,
        guesstimate,
    )
    from dosefinding.study import (
        TrialSpec,
        VirtualTrial,
        load_spec,
        parse_spec,
        simulate_endpoint_matrix,
        simulate_trial,
    )

__version__ = "0.1.0"

__all__ = [
    "SHAPE_NAMES",
    "AETable",
    "CandidateModel",
    "Candidates",
    "CategoryTable",
    "ConvergenceError",
    "DoseEstimate",
    "DoseFindingError",
    "DoseFindingWarning",
    "DoseResponseFit",
    "ExposureAdjustedRates",
    "InputError",
    "LSMeans",
    "LogisticEstimates",
    "MCPModResult",
    "MCTResult",
    "MMRMEstimates",
    "MMRMResult",
    "MaxTDistribution",
    "ModelAverage",
    "ModelSelection",
    "MvtProbability",
    "OptimalContrasts",
    "Report",
    "ResponderComparison",
    "ResponderTable",
    "SampleSize",
    "Shape",
    "ShiftTable",
    "Table",
    "TrialSpec",
    "VirtualTrial",
    "ae_by_severity",
    "ae_incidence",
    "ae_overview",
    "ae_special_interest",
    "aic_weights",
    "baseline_table",
    "category_table",
    "compare_responders",
    "curve_effective_dose",
    "curve_target_dose",
    "default_bounds",
    "difference_interval",
    "dunnett_contrasts",
    "essdai",
    "esspri",
    "exposure_adjusted_rates",
    "facit_fatigue",
    "fit_dose_response",
    "fit_logistic",
    "get_shape",
    "guesstimate",
    "load_spec",
    "mcpmod",
    "mct_test",
    "mmrm",
    "mmrm_estimates",
    "model_average",
    "mvt_probability",
    "mvt_quantile",
    "optimal_contrasts",
    "parse_spec",
    "power_mct",
    "read_adam",
    "responder_rates",
    "sample_size_mct",
    "select_model",
    "shift_table",
    "simulate_endpoint_matrix",
    "simulate_trial",
    "stratified_difference",
    "validate_results",
]

if not TYPE_CHECKING:  # type checkers see the imports above; at run time they are lazy
    __getattr__, __dir__ = lazy_exports(__name__)
