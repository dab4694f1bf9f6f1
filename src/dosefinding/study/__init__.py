"""Study: trial specs (TOML), the virtual trial, the analysis of ADaM data from a spec, simulation-based power,
design specs, the ``dosefinding design`` commands and the sensitivity analyses of estimands."""

from typing import TYPE_CHECKING

from dosefinding.lazy import lazy_exports

if TYPE_CHECKING:
    from dosefinding.study.analysis import StudyResults, analyze_study
    from dosefinding.study.analysis_spec import AnalysisSpec, load_analysis_spec
    from dosefinding.study.design_commands import run_design
    from dosefinding.study.design_spec import DesignDocument, load_design_spec, parse_design_spec
    from dosefinding.study.estimands import EstimandData, estimand_data
    from dosefinding.study.pipeline import AnalysisResult, analyze, run_demo
    from dosefinding.study.power import PowerResult, simulate_power
    from dosefinding.study.sensitivity import SensitivityResult, run_sensitivity
    from dosefinding.study.simulate import (
        REQUIRED_COLUMNS,
        EndpointMatrix,
        VirtualTrial,
        baseline_mean,
        simulate_endpoint_matrix,
        simulate_trial,
    )
    from dosefinding.study.spec import (
        AdverseEvent,
        Arm,
        Baseline,
        Characteristic,
        Demographics,
        Discontinuation,
        Dropout,
        Endpoint,
        PKModel,
        Rescue,
        ResponseClasses,
        Safety,
        Screening,
        Stratification,
        TrialSpec,
        load_spec,
        parse_spec,
        preset_path,
    )

__all__ = [
    "REQUIRED_COLUMNS",
    "AdverseEvent",
    "AnalysisResult",
    "AnalysisSpec",
    "Arm",
    "Baseline",
    "Characteristic",
    "Demographics",
    "DesignDocument",
    "Discontinuation",
    "Dropout",
    "Endpoint",
    "EndpointMatrix",
    "EstimandData",
    "PKModel",
    "PowerResult",
    "Rescue",
    "ResponseClasses",
    "Safety",
    "Screening",
    "SensitivityResult",
    "Stratification",
    "StudyResults",
    "TrialSpec",
    "VirtualTrial",
    "analyze",
    "analyze_study",
    "baseline_mean",
    "estimand_data",
    "load_analysis_spec",
    "load_design_spec",
    "load_spec",
    "parse_design_spec",
    "parse_spec",
    "preset_path",
    "run_demo",
    "run_design",
    "run_sensitivity",
    "simulate_endpoint_matrix",
    "simulate_power",
    "simulate_trial",
]

if not TYPE_CHECKING:  # type checkers see the imports above; at run time they are lazy
    __getattr__, __dir__ = lazy_exports(__name__)
