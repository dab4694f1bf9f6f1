"""Report: clinical tables, figures, the self-contained HTML report, RTF tables and results.json."""

from typing import TYPE_CHECKING

from dosefinding.lazy import lazy_exports

if TYPE_CHECKING:
    from dosefinding.report.baseline import baseline_table, describe
    from dosefinding.report.clinical import comparison_table, counts_table, mcpmod_table
    from dosefinding.report.figures import (
        category_shares,
        dose_response,
        dose_response_data,
        embed,
        figure_bytes,
        over_time,
        point_range,
        responder_bars,
        save_figure,
        stacked_shares,
    )
    from dosefinding.report.figures_common import arm_colours
    from dosefinding.report.figures_dose import dose_estimates, dose_summary
    from dosefinding.report.figures_flow import patient_flow
    from dosefinding.report.figures_sensitivity import tipping_curve
    from dosefinding.report.html import Report, ReportFiles, table_html
    from dosefinding.report.layout import render_report
    from dosefinding.report.results_json import load_schema, mcpmod_results, results_document, validate_results
    from dosefinding.report.rtf import rtf_escape, table_rtf, write_rtf
    from dosefinding.report.table import (
        SYNTHETIC_LABEL,
        Column,
        Row,
        Table,
        format_estimate_ci,
        format_mean_sd,
        format_median_iqr,
        format_n_percent,
        format_number,
        format_p_value,
    )

__all__ = [
    "SYNTHETIC_LABEL",
    "Column",
    "Report",
    "ReportFiles",
    "Row",
    "Table",
    "arm_colours",
    "baseline_table",
    "category_shares",
    "comparison_table",
    "counts_table",
    "describe",
    "dose_estimates",
    "dose_response",
    "dose_response_data",
    "dose_summary",
    "embed",
    "figure_bytes",
    "format_estimate_ci",
    "format_mean_sd",
    "format_median_iqr",
    "format_n_percent",
    "format_number",
    "format_p_value",
    "load_schema",
    "mcpmod_results",
    "mcpmod_table",
    "over_time",
    "patient_flow",
    "point_range",
    "render_report",
    "responder_bars",
    "results_document",
    "rtf_escape",
    "save_figure",
    "stacked_shares",
    "table_html",
    "table_rtf",
    "tipping_curve",
    "validate_results",
    "write_rtf",
]

if not TYPE_CHECKING:  # type checkers see the imports above; at run time they are lazy
    __getattr__, __dir__ = lazy_exports(__name__)
