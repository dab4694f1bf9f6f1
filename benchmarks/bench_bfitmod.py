"""Bayesian dose-response fitting, ours against R DoseFinding 1.4's bFitMod (C slice sampler): 10,000 draws.

Two posteriors of tests/fixtures/r/bayes_reference.R, both Emax: biom with the help page's
priors (normal e0 and emax, beta ed50) and A2201 (normal e0, t emax, log-normal ed50). The
same run times ``bFitMod(..., nSim = 10000)`` in R (its default: a 500-draw pilot run for the
slice widths, then one chain) and ``bayes_fit_dose_response(..., n_draws=10000)`` (defaults:
1,000 chains of 10 draws, seeded by a pilot of 100 chains after 10 burn-in sweeps), and reports for each the smallest effective sample size over
the parameters (R: DoseFinding's own ess.mcmc on its chain; ours: the multi-chain estimate),
so that the time per effective draw is compared too.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from _timing import time_python, time_r_values
from dosefinding.bayes import bayes_fit_dose_response, beta_prior, lognormal_prior, normal_prior, t_prior

FIXTURE = Path(__file__).parents[1] / "tests" / "fixtures" / "r" / "bayes_reference.json"
N_DRAWS = 10_000
PRIORS = {"norm": normal_prior, "t": t_prior, "lnorm": lognormal_prior, "beta": beta_prior}
R_LIBRARY = 'DoseFinding, lib.loc = "/work/Rlib14"'


def r_call(case: dict) -> tuple[str, str]:
    """R setup and expression: bFitMod with the case's data and priors, 10,000 draws."""
    n = len(case["doses"])
    prior = ", ".join(f'{p["kind"]} = c({", ".join(repr(float(v)) for v in p["parameters"])})' for p in case["prior"])
    setup = f"""
dose <- c({", ".join(repr(float(d)) for d in case["doses"])})
resp <- c({", ".join(repr(float(v)) for v in case["estimates"])})
S <- matrix(c({", ".join(repr(float(v)) for row in case["cov"] for v in row)}), {n}, {n}, byrow = TRUE)
prior <- list({prior})
start <- c({", ".join(repr(float(v)) for v in case["start"])})
set.seed(1)
values <- function(result) min(apply(result$samples, 2, DoseFinding:::ess.mcmc))
"""
    return setup, f'bFitMod(dose, resp, S, model = "{case["model"]}", start = start, nSim = {N_DRAWS}, prior = prior)'


def main() -> None:
    fixture = json.loads(FIXTURE.read_text())
    for name in ("biom_emax", "a2201_emax"):
        case = fixture["bayes"][name]
        priors = [PRIORS[p["kind"]](*p["parameters"]) for p in case["prior"]]

        def ours(case: dict = case, priors: list = priors, seeds: object = iter(range(1000))) -> object:
            return bayes_fit_dose_response(case["model"], doses=case["doses"], estimates=case["estimates"],
                                           cov=np.array(case["cov"]), priors=priors, n_draws=N_DRAWS,
                                           seed=next(seeds))  # type: ignore[call-overload]

        ours_time = time_python(ours, repeat=5)
        ours_ess = float(ours().effective_sample_size.min())
        r = time_r_values(*r_call(case), repeat=1, libraries=R_LIBRARY)
        print(f"bFitMod {name} ({case['model']}), {N_DRAWS} draws")
        if r is None:
            print(f"  ours {ours_time * 1e3:.1f} ms (smallest ESS {ours_ess:.0f}); R not available (no Rscript)")
            continue
        r_time, (r_ess,) = r[0], r[1]
        print(f"  ours {ours_time * 1e3:.1f} ms, R {r_time * 1e3:.1f} ms, R/ours = {r_time / ours_time:.2f}x")
        print(f"  smallest ESS: ours {ours_ess:.0f}, R {r_ess:.0f}; time per effective draw "
              f"R/ours = {(r_time / r_ess) / (ours_time / ours_ess):.2f}x")


if __name__ == "__main__":
    main()
