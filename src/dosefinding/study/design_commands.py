"""The ``dosefinding design`` commands: each design function of the library on a design spec (TOML).

``dosefinding design <command> SPEC`` reads a design spec (:mod:`dosefinding.study.design_spec`; a file or
the preset ``a2201``), calls one library function with the spec's numbers and prints the result's
summary; ``--json FILE`` and ``--csv FILE`` write the rows of every result (its ``to_frame()``), the CSV
stacked with a first column ``result`` naming the table. The commands:

* ``power``: :func:`~dosefinding.power_mct` at ``design.n``, with ``[power] target`` also
  :func:`~dosefinding.sample_size_mct`;
* ``optimal``: :func:`~dosefinding.optimal_design`, the efficiency of the allocation of ``design.n``
  (:func:`~dosefinding.design_criterion`) and, with ``[optimal] n``, :func:`~dosefinding.round_design`;
* ``plan-mod``: :func:`~dosefinding.plan_mod`;
* ``sample-size``: :func:`~dosefinding.design.sample_size` for a named target (the power of the
  multiple contrast test, or a plan_mod precision metric), on a grid :func:`~dosefinding.design.power_n`
  or :func:`~dosefinding.design.target_n`;
* ``precision``: :func:`~dosefinding.design.estimation_precision` at ``design.n`` and, with
  ``[precision] target``, :func:`~dosefinding.design.precision_sample_size`;
* ``interim``: :func:`~dosefinding.power_mct_interim`;
* ``closed``: :func:`~dosefinding.closed_mct_test` on the estimates of ``[closed]``;
* ``bayes``: :func:`~dosefinding.bayes_mct_test` with the normal-mixture priors of ``[bayes]``.

Every file is checked before any work (:mod:`dosefinding.files`). The module loads the library only
when a command runs, so that building the command line parser stays fast.

Examples
--------
>>> text, results = run_design("power", "a2201")
>>> print(text.splitlines()[0])
Design A2201: power of the multiple contrast test
>>> results["power"]["power"].round(2).tolist()
[0.91, 0.89, 0.9, 0.92, 0.92]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from functools import partial
from os import PathLike
from typing import TYPE_CHECKING, Any

from dosefinding.errors import InputError
from dosefinding.files import check_new_file
from dosefinding.progress import step

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from numpy.typing import NDArray

    from dosefinding.study.design_spec import DesignDocument
    from dosefinding.summary import Summary

__all__ = ["DESIGN_COMMANDS", "add_design_parser", "design_command", "run_design"]

Results = list[tuple[str, "Summary"]]

DESIGN_COMMANDS: dict[str, str] = {
    "power": "power of the multiple contrast test at design.n; sample size for [power] target",
    "optimal": "optimal allocation to the doses ([optimal]: D, TD or D&TD; exact or rounded)",
    "plan-mod": "precision of the Mod step: curve, ED and TD, asymptotic and simulated ([plan_mod])",
    "sample-size": "smallest N for a named target: MCP power or a plan_mod metric ([sample_size])",
    "precision": "precision of the estimated curve, ED and TD; N for a target precision ([precision])",
    "interim": "predictive or conditional power of the final test given interim estimates ([interim])",
    "closed": "closed (step-down) multiple contrast test: claims per shape ([closed] estimates)",
    "bayes": "Bayesian multiple contrast test with normal-mixture priors ([bayes])",
}
"""The commands and what each does (the help of ``dosefinding design``)."""


# The keys of the spec behind the library's arguments that are not a key of the command's own table.
_SHARED_KEYS = {"sigma": "design.sigma", "alpha": "design.alpha", "alternative": "design.alternative",
                "allocation": "design.allocation", "candidates": "candidates", "scal": "candidates.scal",
                "off": "candidates.off"}


def _keyed(table: str, call: Callable[[], Any], keys: dict[str, str] | None = None) -> Any:
    """``call()``, an :class:`InputError` naming an argument turned into one naming its key in the spec:
    ``keys[argument]``, else a key of ``[design]`` or ``[candidates]``, else ``table.argument``."""
    try:
        return call()
    except InputError as exc:
        head, sep, rest = str(exc).partition(": ")
        names = head.split(", ")
        if sep and all(name.isidentifier() for name in names):
            where = {**_SHARED_KEYS, **(keys or {})}
            raise InputError(f"{', '.join(where.get(name, f'{table}.{name}') for name in names)}: {rest}") from None
        raise


def _contrasts(spec: DesignDocument, weights: Sequence[float] | None) -> Any:
    from dosefinding.mcp.contrasts import optimal_contrasts

    return optimal_contrasts(spec.candidate_models(), weights=weights)


def _diagonal(variances: Sequence[float]) -> NDArray[np.float64]:
    import numpy as np

    return np.diag(np.asarray(variances, dtype=float))


def _table(frame: pd.DataFrame, title: str) -> Summary:
    """A summary of ``title`` and the rows of ``frame``, numbers to 4 significant digits."""
    from dosefinding.summary import Summary, SummaryTable

    return Summary([title, SummaryTable(frame.map(lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)))],
                   frame=frame)


def design_power(spec: DesignDocument) -> Results:
    """``power``: the power at ``design.n`` under each candidate, and the sample size for ``[power] target``."""
    from dosefinding.mcp.power import power_mct, sample_size_mct

    d = spec.design
    n = spec.group_sizes("design power")
    candidates = spec.candidate_models()
    power = _keyed("power", lambda: power_mct(
        _contrasts(spec, n), candidates, n=list(n), sigma=d.sigma, alpha=d.alpha, alternative=d.alternative,
        seed=d.seed), {"n": "design.n", "weights": "design.n"}).rename("power").rename_axis("shape").to_frame()
    results: Results = [("power", _table(power, f"Power at {', '.join(f'{k:g}' for k in n)} patients per dose "
                                                f"(sigma {d.sigma:g}, {d.alternative}, alpha {d.alpha:g})"))]
    table = spec.power
    target = table.target
    if target is not None:
        allocation = d.allocation
        step(f"sample size for a {table.summary} power of {target:g}")
        size = _keyed("power", lambda: sample_size_mct(
            _contrasts(spec, allocation), candidates, sigma=d.sigma, power=target, allocation=allocation,
            n_type=table.n_type, summary=table.summary, alpha=d.alpha, alternative=d.alternative,
            upper_n=table.upper_n, seed=d.seed), {"power": "power.target"})
        results.append(("sample_size", size.summary()))
    return results


def design_optimal(spec: DesignDocument) -> Results:
    """``optimal``: the optimal design, the efficiency of ``design.n``'s allocation, the rounded design."""
    import math

    from dosefinding.design.optimal import design_criterion, optimal_design, round_design
    from dosefinding.summary import Summary

    o = spec.optimal
    candidates = spec.candidate_models()
    best = _keyed("optimal", lambda: optimal_design(
        candidates, o.probabilities, doses=o.doses, criterion=o.criterion, delta=o.delta, standardize=o.standardize,
        n=o.n, n_old=o.n_old, lower=o.lower, upper=o.upper, exact=o.exact, group_size=o.group_size),
        {"doses": "optimal.doses" if o.doses is not None else "design.doses", "max_designs": "optimal.group_size"})
    results: Results = [("optimal", best.summary())]
    if o.doses is None and o.n_old is None:
        n = spec.design.n if spec.design.n is not None else 1.0
        shares = _each_share(n, len(spec.design.doses))
        value = float(design_criterion(shares, candidates, o.probabilities, criterion=o.criterion, delta=o.delta,
                                       standardize=o.standardize))
        what = "design.n" if spec.design.n is not None else "equal allocation"
        efficiency = math.exp(best.value - value)
        frame = _frame({"allocation": [what], "criterion": [value], "efficiency": [efficiency]})
        line = (f"Efficiency of {what} ({', '.join(f'{s:.4g}' for s in shares)}) relative to the optimal design: "
                f"{efficiency:.4f}")
        results.append(("efficiency", Summary([line], frame=frame)))
    total = o.n
    if total is not None and not o.exact:
        patients = _keyed("optimal", lambda: round_design(best, total))
        rounded = _frame({"patients": patients}, index=best.doses, index_name="dose")
        results.append(("rounded", _table(rounded, f"The optimal design rounded to {total} patients")))
    return results


def _each_share(n: float | Sequence[float], k: int) -> list[float]:
    sizes = list(n) if isinstance(n, Sequence) else [float(n)] * k
    return [s / sum(sizes) for s in sizes]


def _frame(columns: dict[str, Any], index: Any = None, index_name: str | None = None) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame(columns, index=index)
    if index_name is not None:
        frame.index.name = index_name
    return frame


def _plan(spec: DesignDocument, n: Any) -> Any:
    from dosefinding.design.plan_mod import plan_mod

    p = spec.plan_mod
    c = spec.candidates
    shapes = list(p.shapes) if p.shapes is not None else list(c.shapes)
    return _keyed("plan_mod", lambda: plan_mod(
        shapes, spec.candidate_models(), n=n, sigma=spec.design.sigma, asymptotic=p.asymptotic,
        simulation=p.simulation, n_trials=p.n_trials, seed=spec.design.seed, alpha=spec.design.alpha, tau=p.tau,
        p=p.p, p_lower=p.p_lower, p_upper=p.p_upper, delta=p.delta, td_window=(p.td_window[0], p.td_window[1]),
        interval=(p.interval[0], p.interval[1]), curve_points=p.curve_points, scal=c.scal, off=c.off),
        {"n": "design.n", "alternatives": "candidates"})


def design_plan_mod(spec: DesignDocument) -> Results:
    """``plan-mod``: asymptotic and simulated precision of the Mod step at ``design.n``."""
    n = spec.group_sizes("design plan-mod")
    if spec.plan_mod.simulation:
        step(f"simulating {spec.plan_mod.n_trials} trials per true curve")
    plan = _plan(spec, list(n))
    results: Results = [("plan_mod", plan.summary())]
    if plan.asymptotic is not None and plan.simulation is not None:  # printed above; its rows for --json, --csv
        from dosefinding.summary import Summary

        results.append(("asymptotic", Summary([], frame=plan.asymptotic)))
    return results


def design_sample_size(spec: DesignDocument) -> Results:
    """``sample-size``: the smallest N reaching ``[sample_size] value`` of the named target, and the grid."""
    import numpy as np

    from dosefinding.design.sample_size import power_n, sample_size, target_n
    from dosefinding.mcp.power import power_mct

    s = spec.table("sample_size")
    d = spec.design
    candidates = spec.candidate_models()
    allocation = list(d.allocation) if d.allocation is not None else [1.0] * len(d.doses)
    summaries: dict[str, Callable[..., Any]] = {"mean": np.mean, "min": np.min, "max": np.max}
    summarise = summaries[s.summary]
    if s.target == "mcp_power":
        contrasts = _contrasts(spec, allocation)

        def values(n: NDArray[np.int64]) -> pd.Series:
            return power_mct(contrasts, candidates, n=n, sigma=d.sigma, alpha=d.alpha, alternative=d.alternative,
                             seed=d.seed)

        what = f"{s.summary} power of the multiple contrast test"
    else:
        def values(n: NDArray[np.int64]) -> pd.Series:
            plan = _plan(spec, n)
            frame = plan.asymptotic if plan.asymptotic is not None else plan.simulation
            return frame[s.measure]

        what = f"{s.summary} plan_mod {s.measure}"
    step(f"sample size for a {what} of {s.value:g}")
    found = _keyed("sample_size", lambda: sample_size(
        lambda n: float(summarise(values(n))), s.value, allocation, upper_n=s.upper_n, lower_n=s.lower_n, tol=s.tol,
        n_type=s.n_type), {"target": "sample_size.value", "target_function": "sample_size.target"})
    results: Results = [("sample_size", found.summary())]
    if s.grid is not None:
        g = s.grid
        step(f"the {what} for N = {g.lower_n} to {g.upper_n}")
        if s.target == "mcp_power":
            grid = _keyed("sample_size.grid", lambda: power_n(
                _contrasts(spec, allocation), candidates, upper_n=g.upper_n, lower_n=g.lower_n, step=g.step,
                allocation=allocation, sigma=d.sigma, n_type=s.n_type, alpha=d.alpha, alternative=d.alternative,
                seed=d.seed))
        else:
            grid = _keyed("sample_size.grid", lambda: target_n(
                values, allocation, upper_n=g.upper_n, lower_n=g.lower_n, step=g.step, n_type=s.n_type))
        results.append(("grid", grid.summary()))
    return results


def design_precision(spec: DesignDocument) -> Results:
    """``precision``: the estimation precision at ``design.n`` and the sample size for ``[precision] target``."""
    from dosefinding.design.precision import MEASURES, estimation_precision, precision_sample_size
    from dosefinding.summary import Summary

    t = spec.precision
    d = spec.design
    c = spec.candidates
    shapes = list(t.shapes) if t.shapes is not None else list(c.shapes)
    settings: dict[str, Any] = {
        "confidence_level": t.confidence_level, "probability": t.probability, "at": t.at, "p": t.p,
        "p_lower": t.p_lower, "p_upper": t.p_upper, "delta": t.delta, "td_window": (t.td_window[0], t.td_window[1]),
        "interval": (t.interval[0], t.interval[1]), "curve_points": t.curve_points, "n_trials": t.n_trials,
        "seed": d.seed, "scal": c.scal, "off": c.off}
    keys = {"n": "design.n", "alternatives": "candidates", "seed": "design.seed"}
    results: Results = []
    if d.n is not None or t.target is None:
        n = spec.group_sizes("design precision without [precision] target")
        step(f"simulating {t.n_trials} trials per true curve at design.n")
        precision = _keyed("precision", lambda: estimation_precision(
            shapes, spec.candidate_models(), n=list(n), sigma=d.sigma, **settings), keys)
        results.append(("precision", precision.summary()))
    target = t.target
    if target is not None:
        step(f"sample size for {t.measure} {'>=' if MEASURES[t.measure] else '<='} {target:g}")
        found = _keyed("precision", lambda: precision_sample_size(
            shapes, spec.candidate_models(), sigma=d.sigma, measure=t.measure, target=target,
            allocation=d.allocation, upper_n=t.upper_n, max_n=t.max_n, **settings), keys)
        results += [("sample_size", found.summary()),
                    ("sample_size_precision", Summary([], frame=found.precision.values))]
    return results


def design_interim(spec: DesignDocument) -> Results:
    """``interim``: predictive or conditional power of the final test given the interim estimates."""
    from dosefinding.design.interim import power_mct_interim

    t = spec.table("interim")
    d = spec.design
    final = spec.group_sizes("design interim")
    k = len(d.doses)
    now = t.n if isinstance(t.n, tuple) else (t.n,) * k
    interim_variances = [se**2 for se in t.se] if t.se is not None else [d.sigma**2 / m for m in now]
    result = _keyed("interim", lambda: power_mct_interim(
        _contrasts(spec, final), list(t.estimates), _diagonal(interim_variances),
        final_cov=_diagonal([d.sigma**2 / m for m in final]), kind=t.kind, assumed_means=t.assumed_means,
        alpha=d.alpha, alternative=d.alternative, seed=d.seed),
        {"interim": "interim.estimates", "interim_cov": "interim.se", "final_cov": "design.n", "weights": "design.n"})
    return [("interim", result.summary())]


def _estimates(spec: DesignDocument, name: str) -> tuple[Any, list[float], NDArray[np.float64]]:
    """The table ``name`` and its estimates with their covariance (``se``, else ``sigma^2 / design.n``)."""
    table = spec.table(name)
    if table.se is not None:
        variances = [se**2 for se in table.se]
    else:
        variances = [spec.design.sigma**2 / m for m in spec.group_sizes(f"{name}.estimates without {name}.se")]
    return table, list(table.estimates), _diagonal(variances)


def design_closed(spec: DesignDocument) -> Results:
    """``closed``: the closed multiple contrast test on the estimates of ``[closed]``."""
    import math

    from dosefinding.mcp.closed import closed_mct_test

    table, estimates, cov = _estimates(spec, "closed")
    d = spec.design
    df = table.df
    if df is None:
        df = math.inf if table.se is not None else sum(spec.group_sizes("closed")) - len(d.doses)
    result = _keyed("closed", lambda: closed_mct_test(
        spec.candidate_models(), doses=list(d.doses), estimates=estimates, cov=cov, df=df, alpha=d.alpha,
        alternative=d.alternative, seed=d.seed), {"cov": "closed.se", "doses": "design.doses"})
    return [("closed", result.summary())]


def design_bayes(spec: DesignDocument) -> Results:
    """``bayes``: the Bayesian multiple contrast test of ``[bayes]`` (one-sided, as DoseFinding's bMCTtest)."""
    from dosefinding.bayes.mct import bayes_mct_test
    from dosefinding.bayes.mixture import normal_mixture

    table, estimates, cov = _estimates(spec, "bayes")
    d = spec.design
    if d.alternative != "one-sided":
        raise InputError("design.alternative: the Bayesian multiple contrast test is one-sided; got 'two-sided'")
    priors = [_keyed(f"bayes.priors[{i}]", partial(normal_mixture, p.weights, p.means, p.sds))
              for i, p in enumerate(table.priors)]
    result = _keyed("bayes", lambda: bayes_mct_test(
        spec.candidate_models(), priors, doses=list(d.doses), estimates=estimates, cov=cov, alpha=d.alpha,
        critical_value=table.critical_value, seed=d.seed), {"cov": "bayes.se", "doses": "design.doses"})
    return [("bayes", result.summary())]


_RUNNERS: dict[str, Callable[[DesignDocument], Results]] = {
    "power": design_power, "optimal": design_optimal, "plan-mod": design_plan_mod,
    "sample-size": design_sample_size, "precision": design_precision, "interim": design_interim,
    "closed": design_closed, "bayes": design_bayes,
}
_TITLES = {"power": "power of the multiple contrast test", "optimal": "optimal design",
           "plan-mod": "precision of the Mod step", "sample-size": "sample size",
           "precision": "estimation precision", "interim": "interim power",
           "closed": "closed multiple contrast test", "bayes": "Bayesian multiple contrast test"}


def run_design(command: str, spec: str | PathLike[str], json_file: str | None = None,
               csv_file: str | None = None) -> tuple[str, dict[str, pd.DataFrame]]:
    """Run the design command ``command`` on the design spec ``spec`` (a TOML file or a preset name).

    The output files are checked before the spec is read. Returns the text printed and the rows
    of each result by name (what ``--json`` and ``--csv`` write).
    """
    if command not in _RUNNERS:
        raise InputError(f"command: must be one of {', '.join(_RUNNERS)}; got {command!r}")
    for file, option in ((json_file, "--json"), (csv_file, "--csv")):
        if file is not None:
            check_new_file(file, option)
    step(f"reading the design spec {spec}")
    from dosefinding.study.design_spec import load_design_spec

    document = load_design_spec(spec)
    step(f"design {command}")
    results = _RUNNERS[command](document)
    name = document.design.name or str(spec)
    text = "\n\n".join([f"Design {name}: {_TITLES[command]}", *(str(s) for _, s in results if str(s))])
    frames = {key: summary.to_frame() for key, summary in results}
    if json_file is not None:
        _write_json(json_file, command, str(spec), frames)
    if csv_file is not None:
        _write_csv(csv_file, frames)
    return text, frames


def _rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with its index as columns (``index`` when unnamed; a plain row count dropped), for JSON and CSV."""
    import pandas as pd

    return frame if isinstance(frame.index, pd.RangeIndex) else frame.reset_index()


def _write_json(path: str, command: str, spec: str, frames: dict[str, pd.DataFrame]) -> None:
    results = {key: json.loads(_rows(frame).to_json(orient="records", double_precision=15))
               for key, frame in frames.items()}
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"command": f"design {command}", "spec": spec, "results": results}, handle, indent=2)
        handle.write("\n")


def _write_csv(path: str, frames: dict[str, pd.DataFrame]) -> None:
    import pandas as pd

    stacked = pd.concat([_rows(frame).assign(result=key) for key, frame in frames.items()], ignore_index=True)
    stacked[["result", *(c for c in stacked.columns if c != "result")]].to_csv(path, index=False)


def add_design_parser(commands: Any) -> None:
    """Add ``design`` and its commands to the subparsers ``commands`` of the ``dosefinding`` command."""
    design_parser = commands.add_parser(
        "design", help="design a trial from a design spec (TOML): power, optimal, plan-mod, sample-size, precision, "
                       "interim, closed, bayes")
    subcommands = design_parser.add_subparsers(dest="design_command", required=True)
    for name, text in DESIGN_COMMANDS.items():
        sub = subcommands.add_parser(name, help=text, description=text)
        sub.add_argument("spec", help="design spec (TOML file) or preset name, e.g. a2201")
        sub.add_argument("--json", default=None, help="write the rows of every result to this JSON file")
        sub.add_argument("--csv", default=None, help="write the rows of every result to this CSV file (column result)")
        sub.add_argument("--quiet", action="store_true", help="no progress lines on standard error")


def design_command(args: argparse.Namespace) -> str:
    """Run ``dosefinding design`` as parsed: the text to print."""
    return run_design(args.design_command, args.spec, args.json, args.csv)[0]
