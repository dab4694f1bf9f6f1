"""The analysis pipeline: ADaM data and an analysis spec in, the report (HTML, RTF, figures, results.json) out.

:func:`analyze` is two steps kept apart: :func:`~dosefinding.study.analysis.analyze_study`
computes every analysis of the spec as frozen numbers (a
:class:`~dosefinding.study.analysis.StudyResults`), and
:func:`~dosefinding.report.layout.render_report` places them into the tables and figures of
a report layout (data, not code: a TOML file and Jinja2 templates). The spec names its
layout (``[report] layout = "a2201-paper"``, ``"csr"`` or a TOML file of the user's).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import overload

from dosefinding import __version__
from dosefinding.errors import InputError
from dosefinding.files import check_output_directory
from dosefinding.progress import step
from dosefinding.report.html import Report, ReportFiles
from dosefinding.study.analysis import StudyResults, analyze_study
from dosefinding.study.analysis_spec import AnalysisSpec, load_analysis_spec
from dosefinding.summary import Summary, SummaryDisplay, short_repr

__all__ = ["AnalysisResult", "a2201_analysis_text", "analyze", "check_output_directory", "run_demo"]


@dataclass(frozen=True)
class AnalysisResult(SummaryDisplay):
    """The numbers (:class:`StudyResults`), the report laid out from them and the files written."""

    results: StudyResults = field(repr=False)
    report: Report = field(repr=False)
    files: ReportFiles | None

    def __repr__(self) -> str:
        return short_repr(self, study=self.results.spec.title, report=None if self.files is None else str(self.files.html))

    def summary(self) -> Summary:
        """The headline numbers and where the report is."""
        headline = self.results.summary()
        if self.files is None:
            return headline
        first, *rest = headline.parts
        return Summary([first, f"Report: {self.files.html}", *rest], frame=headline.to_frame())


@overload
def analyze(spec: AnalysisSpec | str | PathLike[str], out_dir: None = None, *,
            layout: str | PathLike[str] | None = None, program: str | None = None) -> StudyResults: ...


@overload
def analyze(spec: AnalysisSpec | str | PathLike[str], out_dir: str | PathLike[str], *,
            layout: str | PathLike[str] | None = None, program: str | None = None) -> AnalysisResult: ...


def analyze(spec: AnalysisSpec | str | PathLike[str], out_dir: str | PathLike[str] | None = None, *,
            layout: str | PathLike[str] | None = None, program: str | None = None) -> StudyResults | AnalysisResult:
    """Run the analyses of ``spec``; with ``out_dir``, lay out and write the report too.

    Parameters
    ----------
    spec
        An :class:`AnalysisSpec` or the path of its TOML file.
    out_dir
        ``None``: return the numbers (:class:`StudyResults`). A directory: also render the
        report with the layout and write ``report.html``, ``results.json``,
        ``tables/*.rtf`` and ``figures/*.png|svg`` (checked writable before any analysis).
    layout
        A built-in layout name or a layout TOML file; default the spec's ``[report] layout``.
    program
        The program named in the footer of the RTF tables; default ``dosefinding <version>
        analyze <spec file name>``. All tables of the report carry one run time.

    Raises
    ------
    InputError
        Naming the spec (or layout) key and the column at fault.

    Examples
    --------
    ``analyze("examples/cdiscpilot01_analysis.toml")`` gives the CDISC pilot's numbers;
    :func:`~dosefinding.study.analysis.analyze_study` shows the A2201 demo's. A spec is
    read before anything else:

    >>> analyze("no-such-spec.toml")
    Traceback (most recent call last):
    ...
    dosefinding.errors.InputError: spec: no such file 'no-such-spec.toml'
    """
    from dosefinding.report.layout import load_layout, render_report

    out = check_output_directory(out_dir) if out_dir is not None else None
    spec = spec if isinstance(spec, AnalysisSpec) else load_analysis_spec(spec)
    chosen = load_layout(layout if layout is not None else spec.layout) if out is not None else None
    results = analyze_study(spec)
    if out is None or chosen is None:
        return results
    step(f"laying out the report ({chosen.name}): tables and figures")
    report = render_report(results, chosen)
    if program is None:
        program = f"dosefinding {__version__} analyze" + (f" {Path(spec.source).name}" if spec.source else "")
    step(f"writing the report to {out}")
    return AnalysisResult(results=results, report=report, files=report.write(out, program=program))


A2201_ANALYSIS = "analysis/a2201.toml"


def a2201_analysis_text() -> str:
    """The analysis spec of the A2201 virtual trial (``examples/a2201_analysis.toml``), packaged with the presets.

    Examples
    --------
    >>> a2201_analysis_text().count("[endpoints.")
    10
    """
    from dosefinding.study.spec import preset_path

    return (preset_path("a2201").parent / A2201_ANALYSIS).read_text(encoding="utf-8")


def run_demo(out_dir: str | PathLike[str], *, seed: int | None = None,
             model_average_draws: int | None = None) -> AnalysisResult:
    """Simulate the A2201 virtual trial, write its ADaM datasets and analyse them: the ``dosefinding demo``.

    Writes ``out_dir/adam/*.csv`` (synthetic), ``out_dir/analysis.toml`` (the spec used:
    rerun it with ``dosefinding analyze``) and the report into ``out_dir``.
    ``model_average_draws`` overrides the spec's number of bootstrap draws.
    """
    from dataclasses import replace

    from dosefinding.study.simulate import simulate_trial

    if model_average_draws is not None and (isinstance(model_average_draws, bool) or model_average_draws < 0):
        raise InputError(f"model_average_draws: must be a whole number >= 0, got {model_average_draws!r}")
    out = check_output_directory(out_dir)
    step("simulating the A2201 virtual trial" + (f" (seed {seed})" if seed is not None else "") +
         f" and writing its ADaM data to {out / 'adam'}")
    simulate_trial("a2201", seed=seed).write(out / "adam")
    spec_file = out / "analysis.toml"
    spec_file.write_text(a2201_analysis_text(), encoding="utf-8")
    spec = load_analysis_spec(spec_file)
    if model_average_draws is not None and spec.primary is not None:
        spec = replace(spec, primary=replace(spec.primary, model_average_draws=model_average_draws))
    return analyze(spec, out, program=f"dosefinding {__version__} demo")
