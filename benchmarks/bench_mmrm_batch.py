"""10,000 simulated A2201 trials through the batched unstructured MMRM, one core; against mmrm() and R's gls per trial.

Target (issue 6): the first stage of 10,000 trials (4 arms x 47 subjects, 6 visits, 20-40% monotone
dropout, cell means by arm and visit plus baseline by visit, unstructured REML) well under 30 s on
one core. For comparison: one mmrm() call (formula, data frame, Satterthwaite table) and one
nlme::gls fit (corSymm + varIdent, the same model) times 10,000, with gls's defaults and at
equal accuracy (optim's BFGS with tolerances 1e-12), each with its distance from our optimum.

Run with ``OPENBLAS_NUM_THREADS=1`` set by the script itself (one core); ``--trials`` changes the count.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from _timing import time_python, time_r_values
from dosefinding import mmrm
from dosefinding.mmrm.batch import fit_mmrm_batch

ARMS = ["Placebo", "5 mg", "50 mg", "300 mg"]
VISITS = [f"Week {4 * (a + 1)}" for a in range(6)]
FORMULA = "CHG ~ 0 + ARM:AVISIT + BASE:AVISIT"
N_PER_ARM = 47
BLOCK = 1000


def simulate(n_trials: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``y`` (T, 188, 6) with NaN after dropout, the design ``x`` (T, 188, 6, 30), ``arm`` and ``base``."""
    rng = np.random.default_rng(seed)
    n, k = 4 * N_PER_ARM, len(VISITS)
    arm = np.repeat(np.arange(4), N_PER_ARM)
    base = rng.normal(13.5, 4.0, size=(n_trials, n))
    sd = np.linspace(3.0, 4.5, k)
    corr = 0.5 + 0.4 * 0.7 ** np.abs(np.subtract.outer(np.arange(k), np.arange(k)))
    np.fill_diagonal(corr, 1.0)
    effect = np.array([0.0, -0.5, -1.5, -2.0])[arm][:, None] * np.linspace(0.3, 1.0, k)[None]
    y = -1.0 - 0.2 * (base[:, :, None] - 13.5) + effect[None]
    y = y + rng.multivariate_normal(np.zeros(k), corr * np.outer(sd, sd), size=(n_trials, n))
    rate = rng.uniform(0.2, 0.4, size=(n_trials, 1))
    last = np.where(rng.random((n_trials, n)) < rate, rng.integers(1, k, size=(n_trials, n)), k)
    y[np.arange(k)[None, None, :] >= last[:, :, None]] = np.nan
    x = np.zeros((n_trials, n, k, 30))
    visit = np.arange(k)
    x[:, np.arange(n)[:, None], visit[None], visit[None] * 4 + arm[:, None]] = 1.0
    x[:, :, visit, 24 + visit] = base[:, :, None]
    return y, x, arm, base


def long_frame(y: np.ndarray, arm: np.ndarray, base: np.ndarray) -> pd.DataFrame:
    n, k = y.shape
    return pd.DataFrame({
        "USUBJID": np.repeat(np.arange(n), k),
        "ARM": pd.Categorical(np.array(ARMS)[np.repeat(arm, k)], categories=ARMS),
        "AVISIT": pd.Categorical(np.tile(VISITS, n), categories=VISITS),
        "VISIT_INDEX": np.tile(np.arange(1, k + 1), n),
        "BASE": np.repeat(base, k),
        "CHG": y.ravel(),
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=10_000)
    args = parser.parse_args()
    # Blocks of trials, as a simulation worker would pass them (x of 10,000 trials at once is 2.7 GB).
    batch, cpu, converged, iterations = 0.0, 0.0, 0, []
    for block, size in enumerate(np.diff(np.r_[np.arange(0, args.trials, BLOCK), args.trials])):
        y, x, arm, base = simulate(int(size), block)
        start, start_cpu = time.perf_counter(), time.process_time()
        fit = fit_mmrm_batch(y, x)
        batch += time.perf_counter() - start
        cpu += time.process_time() - start_cpu
        converged += int(fit.converged.sum())
        iterations.append(fit.iterations)
    steps = np.concatenate(iterations)
    print(f"fit_mmrm_batch, {args.trials} trials (188 subjects, 6 visits, p = 30, us REML), one core: "
          f"{batch:.2f} s wall, {cpu:.2f} s CPU ({batch / args.trials * 1e3:.3f} ms per trial); converged {converged}, "
          f"iterations median {float(np.median(steps)):.0f}, max {int(steps.max())}")

    frame = long_frame(y[0], arm, base[0])
    single = time_python(lambda: mmrm(FORMULA, frame, subject="USUBJID", visit="AVISIT").table, repeat=20)
    print(f"mmrm() per trial: {single * 1e3:.2f} ms; x {args.trials} = {single * args.trials:.1f} s "
          f"({single * args.trials / batch:.1f}x the batch)")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trial.csv"
        frame.dropna(subset=["CHG"]).to_csv(path, index=False)
        setup = f"""
d <- read.csv("{path.as_posix()}")
values <- function(fit) -2 * as.numeric(logLik(fit))
tight <- glsControl(opt = "optim", optimMethod = "BFGS", tolerance = 1e-12, msTol = 1e-14, maxIter = 1000,
                    msMaxIter = 1000)
d$ARM <- factor(d$ARM, levels = c({", ".join(repr(a) for a in ARMS)}))
d$AVISIT <- factor(d$AVISIT, levels = c({", ".join(repr(v) for v in VISITS)}))
"""
        call = ("gls(CHG ~ 0 + ARM:AVISIT + BASE:AVISIT, data = d, method = 'REML', "
                "correlation = corSymm(form = ~ VISIT_INDEX | USUBJID), weights = varIdent(form = ~ 1 | AVISIT)"
                "{control})")
        m2ll = mmrm(FORMULA, frame, subject="USUBJID", visit="AVISIT").m2_log_likelihood
        for label, control in {"gls defaults": "", "gls at equal accuracy (tight BFGS)": ", control = tight"}.items():
            r = time_r_values(setup, call.format(control=control), repeat=1, libraries="nlme")
            if r is None:
                print("R gls per trial: R not available (no Rscript)")
                break
            print(f"R {label} per trial: {r[0] * 1e3:.1f} ms; x {args.trials} = {r[0] * args.trials:.0f} s "
                  f"({r[0] * args.trials / batch:.0f}x the batch); its -2 Res Log Likelihood above ours by "
                  f"{r[1][0] - m2ll:.1e}")


if __name__ == "__main__":
    main()
