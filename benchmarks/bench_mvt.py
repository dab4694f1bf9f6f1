"""Benchmark: multivariate t probabilities, ours vs R's mvtnorm.

Times ``mvt_probability`` on 5- and 10-dimensional t probabilities (df = 100, one-sided
upper limits as for a max-contrast p-value) at ``abseps = 1e-5``. When ``Rscript`` is
on the PATH, the same cases run in R with ``mvtnorm::pmvt`` and
``GenzBretz(maxpts = 2e6, abseps = 1e-5, releps = 0)``, timed inside R with
``system.time``, and the ratio R / ours is printed.

Run::

    python benchmarks/bench_mvt.py
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from dosefinding.mcp.mvt import mvt_probability

ABSEPS = 1e-5
MAX_POINTS = 2_000_000
DF = 100.0
REPEATS = 10

R_CODE = r"""
suppressPackageStartupMessages({library(mvtnorm); library(jsonlite)})
case <- fromJSON(commandArgs(trailingOnly = TRUE)[1])
algo <- GenzBretz(maxpts = case$max_points, abseps = case$abseps, releps = 0)
run <- function() pmvt(lower = rep(-Inf, length(case$upper)), upper = case$upper,
                       corr = case$corr, df = case$df, algorithm = algo)
set.seed(1)
p <- run()
elapsed <- system.time(for (i in seq_len(case$repeats)) p <- run())[["elapsed"]]
cat(toJSON(list(value = as.numeric(p), error = attr(p, "error"),
                seconds = elapsed / case$repeats), auto_unbox = TRUE, digits = NA))
"""


def contrast_corr(n: int) -> np.ndarray:
    """Correlation of n optimal contrasts (Emax shapes of rising ED50, 8 doses)."""
    doses = np.array([0.0, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0])
    ed50 = np.geomspace(0.02, 2.0, n)
    rows = []
    for e in ed50:
        mu = doses / (doses + e)
        c = mu - mu.mean()
        rows.append(c / np.linalg.norm(c))
    contrasts = np.array(rows)
    return contrasts @ contrasts.T


def cases() -> list[dict]:
    """A 5-dim equicorrelated case and a 10-dim contrast-like case."""
    five = np.full((5, 5), 0.5) + 0.5 * np.eye(5)
    ten = 0.5 * contrast_corr(10) + 0.5 * (np.full((10, 10), 0.5) + 0.5 * np.eye(10))
    return [
        {"name": "5-dim, rho = 0.5", "corr": five, "upper": np.full(5, 2.3)},
        {"name": "10-dim, contrast-like", "corr": ten, "upper": np.full(10, 2.5)},
    ]


def time_ours(case: dict) -> tuple[float, float, float]:
    """Median seconds over REPEATS runs, value and error."""
    lower = np.full(case["upper"].size, -np.inf)
    mvt_probability(lower, case["upper"], case["corr"], DF, abseps=ABSEPS, max_points=MAX_POINTS)
    seconds = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = mvt_probability(lower, case["upper"], case["corr"], DF, abseps=ABSEPS, max_points=MAX_POINTS)
        seconds.append(time.perf_counter() - start)
    return float(np.median(seconds)), result.value, result.error


def time_r(case: dict, rscript: str) -> tuple[float, float, float]:
    """Mean seconds per call measured inside R, value and error."""
    payload = {
        "corr": case["corr"].tolist(),
        "upper": case["upper"].tolist(),
        "df": DF,
        "abseps": ABSEPS,
        "max_points": MAX_POINTS,
        "repeats": REPEATS,
    }
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "bench.R"
        script.write_text(R_CODE)
        data = Path(tmp) / "case.json"
        data.write_text(json.dumps(payload))
        out = subprocess.run([rscript, str(script), str(data)], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    return result["seconds"], result["value"], result["error"]


def main() -> None:
    rscript = shutil.which("Rscript")
    print(f"mvt_probability, t with df = {DF:g}, abseps = {ABSEPS:g}, max_points = {MAX_POINTS:,}")
    for case in cases():
        ours, value, error = time_ours(case)
        print(f"\n{case['name']}")
        print(f"  ours : {ours * 1e3:8.1f} ms   p = {value:.7f} (error {error:.1e})")
        if rscript is None:
            print("  R    : Rscript not found, skipped")
            continue
        r_seconds, r_value, r_error = time_r(case, rscript)
        print(f"  R    : {r_seconds * 1e3:8.1f} ms   p = {r_value:.7f} (error {r_error:.1e})")
        print(f"  ratio R / ours: {r_seconds / ours:.1f}")


if __name__ == "__main__":
    main()
