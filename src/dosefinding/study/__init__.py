"""Study: the study spec (TOML) and the virtual trial that simulates ADaM datasets from it."""

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
    Demographics,
    Dropout,
    Endpoint,
    PKModel,
    ResponseClasses,
    Safety,
    Stratification,
    TrialSpec,
    load_spec,
    parse_spec,
    preset_path,
)

__all__ = [
    "REQUIRED_COLUMNS",
    "AdverseEvent",
    "Arm",
    "Baseline",
    "Demographics",
    "Dropout",
    "Endpoint",
    "EndpointMatrix",
    "PKModel",
    "ResponseClasses",
    "Safety",
    "Stratification",
    "TrialSpec",
    "VirtualTrial",
    "baseline_mean",
    "load_spec",
    "parse_spec",
    "preset_path",
    "simulate_endpoint_matrix",
    "simulate_trial",
]
