"""Timing helpers shared by the benchmark scripts: ours in-process, R's in a subprocess."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def time_python(fn: Callable[[], object], repeat: int, before: Callable[[], object] | None = None,
                statistic: str = "median", block: int = 1) -> float:
    """Median (or, ``statistic="min"``, shortest) wall time of ``fn()`` over ``repeat`` timings, after one warm-up
    call, each timing the mean of ``block`` calls (as :func:`time_r_values` times R); ``before()``, if given, runs
    (untimed) before each timing, e.g. to clear caches for a first call."""
    fn()
    times = []
    for _ in range(repeat):
        if before is not None:
            before()
        start = time.perf_counter()
        for _ in range(block):
            fn()
        times.append((time.perf_counter() - start) / block)
    times.sort()
    return times[0] if statistic == "min" else times[len(times) // 2]


def time_r(setup: str, expression: str, repeat: int) -> float | None:
    """Median seconds of one evaluation of ``expression`` in R after ``setup``, or None without R."""
    if shutil.which("Rscript") is None:
        return None
    code = f"""
suppressPackageStartupMessages({{library(DoseFinding)}})
{setup}
invisible({expression})
times <- replicate({repeat}, system.time({expression})[["elapsed"]])
cat(median(times), "\\n")
"""
    out = subprocess.run(["Rscript", "-e", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def time_r_values(setup: str, expression: str, repeat: int, libraries: str = "DoseFinding",
                  statistic: str = "median") -> tuple[float, list[float]] | None:
    """Seconds of one ``expression`` in R after ``setup`` (the median, or ``statistic="min"`` the shortest, over 5
    blocks of ``repeat`` runs each, so that R's 1 ms timer resolves short calls) and the numbers of
    ``values(result)`` (a function the setup defines, returning a numeric vector), from one R session; None
    without R."""
    if shutil.which("Rscript") is None:
        return None
    code = f"""
suppressPackageStartupMessages({{library({libraries})}})
{setup}
result <- {expression}
times <- replicate(5, system.time(for (i in seq_len({repeat})) {expression})[["elapsed"]] / {repeat})
cat({statistic}(times), "\\n")
cat(format(as.numeric(values(result)), digits = 17), "\\n")
"""
    # A script file, not -e: Rscript truncates long expressions (data passed inline).
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as script:
        script.write(code)
    try:
        out = subprocess.run(["Rscript", script.name], capture_output=True, text=True, check=True)
    finally:
        Path(script.name).unlink()
    lines = out.stdout.strip().splitlines()
    return float(lines[-2]), [float(v) for v in lines[-1].split()]


def report_accuracy(name: str, ours: float, r_time: float | None, distance: str) -> None:
    """One benchmark line with how far R's answer is from ours (the accuracy R reached at that setting)."""
    if r_time is None:
        print(f"  {name}: ours {ours * 1e3:.2f} ms; R not available (no Rscript)")
    else:
        print(f"  {name}: ours {ours * 1e3:.2f} ms, R {r_time * 1e3:.2f} ms, R/ours = {r_time / ours:.1f}x; {distance}")


def report(name: str, ours: float, r_time: float | None) -> None:
    """Print one benchmark line: our time, R's time and R/ours."""
    if r_time is None:
        print(f"{name}: ours {ours * 1e3:.2f} ms; R not available (no Rscript)")
    else:
        print(f"{name}: ours {ours * 1e3:.2f} ms, R {r_time * 1e3:.2f} ms, R/ours = {r_time / ours:.1f}x")


def report_warm_cold(name: str, warm: float, cold: float, r_name: str, r_time: float | None) -> None:
    """Print ours warm (caches filled) and cold (first call), and R's time with both ratios."""
    print(f"  {name}: ours {warm * 1e3:.2f} ms warm, {cold * 1e3:.2f} ms cold (first call)")
    if r_time is not None:
        print(f"    {r_name}: {r_time * 1e3:.2f} ms; R/ours = {r_time / warm:.1f}x warm, {r_time / cold:.1f}x cold")
