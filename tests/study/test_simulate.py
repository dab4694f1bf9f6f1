"""The virtual-trial generator: reproducibility, ADaM structure, and the spec's true values.

The large-trial tests check the generator, not the calibration: with 10,000 to 20,000 subjects
per arm the simulated means, SDs, correlations, dropout, adverse-event incidences and drug
levels must agree with the values the spec implies, computed here in closed form. The
tolerance is 4 Monte Carlo standard errors of each quantity: with about 200 comparisons
in a test, the chance that a correct generator exceeds it somewhere is about 1%
(2 * 200 * P(Z > 4) = 0.013); with the seeds fixed the outcome is deterministic.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from dosefinding.adam import read_adam
from dosefinding.errors import InputError
from dosefinding.study import (
    Endpoint,
    TrialSpec,
    baseline_mean,
    load_spec,
    simulate_endpoint_matrix,
    simulate_trial,
)

Z = 4.0
N_LARGE = 20_000  # per arm, for the array fast path
N_FRAMES = 10_000  # per arm, where whole ADaM frames are built


def _large(spec: TrialSpec, n: int = N_LARGE, **changes: object) -> TrialSpec:
    return dataclasses.replace(spec, arms=tuple(dataclasses.replace(a, n=n) for a in spec.arms), **changes)


def _unrecorded(e: Endpoint) -> Endpoint:
    """The same model without rounding and clipping, whose moments are known exactly."""
    return dataclasses.replace(e, limits=None, decimals=None)


@pytest.fixture(scope="module")
def spec() -> TrialSpec:
    return load_spec("a2201")


@pytest.fixture(scope="module")
def trial(spec):
    return simulate_trial(spec)


@pytest.fixture(scope="module")
def large_free(spec):
    """a2201 at 10,000 per arm, without dropout, intercurrent events, rounding or clipping."""
    free = _large(
        spec,
        N_FRAMES,
        endpoints=tuple(_unrecorded(e) for e in spec.endpoints),
        biomarkers=tuple(_unrecorded(e) for e in spec.biomarkers),
        dropout=None,
        discontinuation=None,
        rescue=None,
    )
    return simulate_trial(free, seed=11)


def _baseline_variance(e: Endpoint) -> float:
    b = e.baseline
    if b.distribution == "lognormal":
        return float(np.log1p((b.sd / b.mean) ** 2))
    if b.distribution == "gamma":
        return b.sd**2
    lo = -np.inf if b.lower is None else (b.lower - b.mean) / b.sd
    hi = np.inf if b.upper is None else (b.upper - b.mean) / b.sd
    return float(stats.truncnorm.var(lo, hi, loc=b.mean, scale=b.sd))


def _wide(bds: pd.DataFrame, paramcd: str, column: str) -> pd.DataFrame:
    """One column per visit; a reshape where every subject has every visit (rows sorted by subject, visit)."""
    one = bds[(bds["PARAMCD"] == paramcd) & (bds["ABLFL"] != "Y")]
    visits = np.unique(one["AVISITN"])
    if len(one) % visits.size == 0:
        shaped = one["AVISITN"].to_numpy().reshape(-1, visits.size)
        if (shaped == visits).all():
            ids = one["USUBJID"].to_numpy()[:: visits.size]
            return pd.DataFrame(one[column].to_numpy().reshape(-1, visits.size), index=ids, columns=visits)
    return one.pivot(index="USUBJID", columns="AVISITN", values=column)


# --------------------------------------------------------------------------- reproducibility


def test_same_seed_same_frames_and_other_seed_other_frames(spec, trial):
    again = simulate_trial("a2201")
    for name, frame in trial.datasets.items():
        pd.testing.assert_frame_equal(frame, again.datasets[name], check_exact=True)
    other = simulate_trial(spec, seed=spec.seed + 1)
    assert not other.adeff["AVAL"].equals(trial.adeff["AVAL"])
    gen_a = simulate_trial(spec, seed=np.random.default_rng(4))
    gen_b = simulate_trial(spec, seed=np.random.default_rng(4))
    pd.testing.assert_frame_equal(gen_a.adae, gen_b.adae)


def test_components_have_their_own_streams(spec, trial):
    """Dropping an endpoint and the adverse events leaves ESSDAI, the arms and the dropout unchanged."""
    fewer = dataclasses.replace(
        spec, endpoints=tuple(e for e in spec.endpoints if e.paramcd != "PHGA"), adverse_events=()
    )
    smaller = simulate_trial(fewer)
    pd.testing.assert_frame_equal(
        smaller.adeff[smaller.adeff["PARAMCD"] == "ESSDAI"].reset_index(drop=True),
        trial.adeff[trial.adeff["PARAMCD"] == "ESSDAI"].reset_index(drop=True),
    )
    assert smaller.adsl["TRT01P"].equals(trial.adsl["TRT01P"])
    assert smaller.adae.empty and set(smaller.adae.columns) >= {"USUBJID", "AEDECOD"}


# --------------------------------------------------------------------------- ADaM structure


def test_adsl_structure(spec, trial):
    adsl = trial.adsl
    assert adsl["USUBJID"].is_unique and len(adsl) == 190
    assert adsl.groupby("TRT01P").size().reindex(spec.arm_names).tolist() == [49, 47, 47, 47]
    assert (adsl["TRT01PN"] == adsl["TRT01P"].map(dict(zip(spec.arm_names, spec.doses, strict=True)))).all()
    assert set(adsl["COMPLFL"]) <= {"Y", "N"}
    assert ((adsl["COMPLFL"] == "Y") == (adsl["EOSSTT"] == "COMPLETED")).all()
    assert ((adsl["DCSREAS"] == "") == (adsl["COMPLFL"] == "Y")).all()
    assert (adsl["TRTEDT"] >= adsl["TRTSDT"]).all() and (adsl["EOSDT"] >= adsl["TRTEDT"]).all()
    assert adsl["AGE"].between(18, 75).all()
    # The stratum is the baseline ESSDAI cut at 10.
    assert ((adsl["ESSDAIBL"] >= 10) == (adsl["STRAT1R"] == "ESSDAI >= 10")).all()
    # Stratified allocation: within each stratum, every arm within 2 of its share.
    counts = pd.crosstab(adsl["STRAT1R"], adsl["TRT01P"])
    expected = np.outer(counts.sum(axis=1), spec.sizes / spec.sizes.sum())
    assert np.max(np.abs(counts[list(spec.arm_names)].to_numpy() - expected)) <= 2


def test_bds_structure(spec, trial):
    adeff, adsl = trial.adeff, trial.adsl
    assert set(adeff["PARAMCD"]) == {e.paramcd for e in spec.endpoints}
    base = adeff[adeff["ABLFL"] == "Y"]
    post = adeff[adeff["ABLFL"] != "Y"]
    assert (base["AVISIT"] == "Baseline").all() and base["CHG"].isna().all()
    assert base.groupby("PARAMCD").size().eq(190).all()
    np.testing.assert_allclose(post["CHG"], post["AVAL"] - post["BASE"], atol=1e-9)
    assert set(post["AVISITN"]) == set(spec.visits)
    assert not adeff.duplicated(["USUBJID", "PARAMCD", "AVISITN"]).any()
    # Monotone dropout: a subject attends the first k visits, the same k for every endpoint;
    # completers attend all.
    attended = post.groupby(["USUBJID", "PARAMCD"])["AVISITN"].agg(["count", "max"])
    assert (attended["max"] == 4 * attended["count"]).all()
    per_subject = attended.groupby("USUBJID")["count"].agg(["min", "max"])
    assert (per_subject["min"] == per_subject["max"]).all()
    completed = adsl.set_index("USUBJID")["COMPLFL"].eq("Y")
    n_visits = per_subject["max"].reindex(completed.index).fillna(0)
    assert ((n_visits == 6) == completed).all()
    # ADY is about 7 * week + 1 (visit windows of +-3 days).
    assert (post["ADY"] - (7 * post["AVISITN"] + 1)).abs().max() <= 3
    es = adeff[adeff["PARAMCD"] == "ESSDAI"]
    assert es["AVAL"].between(0, 123).all() and (es["AVAL"] == es["AVAL"].round()).all()


def test_adbm_and_adae_structure(spec, trial):
    adbm, adae, adsl = trial.adbm, trial.adae, trial.adsl
    assert set(adbm["PARAMCD"]) == {"CD19", "BAFF", "RF", "IGG", "DRUGTRGH"}
    assert set(adbm.loc[adbm["PARAMCD"] == "CD19", "AVISITN"]) == {0, 4, 12, 24}
    assert set(adbm.loc[adbm["PARAMCD"] == "RF", "AVISITN"]) == {0, 12, 24}
    pk = adbm[adbm["PARAMCD"] == "DRUGTRGH"]
    assert (pk["ABLFL"] != "Y").all() and (pk.loc[pk["TRTPN"] == 0, "AVAL"] == 0).all()
    # Below the LLOQ (all of placebo): AVAL 0 and BLQFL "Y"; on drug, a level or BLQ.
    assert ((pk["AVAL"] == 0) == (pk["BLQFL"] == "Y")).all() and (adbm.loc[adbm["PARAMCD"] != "DRUGTRGH", "BLQFL"]
                                                                 == "").all()
    assert (pk.loc[pk["TRTPN"] > 0, "AVAL"] >= spec.pk.lloq).mean() > 0.95
    assert adae["USUBJID"].isin(adsl["USUBJID"]).all()
    assert set(adae["AESEV"]) <= {"MILD", "MODERATE", "SEVERE"} and set(adae["AESER"]) <= {"Y", "N"}
    eos = adae["USUBJID"].map(adsl.set_index("USUBJID")["EOSDT"])
    start = adae["USUBJID"].map(adsl.set_index("USUBJID")["TRTSDT"])
    assert ((adae["ASTDT"] >= start) & (adae["ASTDT"] <= eos)).all()
    assert (adae["TRTEMFL"] == "Y").all()
    assert not adae.duplicated(["USUBJID", "AEDECOD"]).any()


def test_synthetic_labels_and_write(trial, tmp_path):
    assert trial.adsl["STUDYID"].str.endswith("SYNTHETIC").all()
    assert all(frame.attrs["synthetic"] for frame in trial.datasets.values())
    files = trial.write(tmp_path / "out")
    assert [f.name for f in files] == [f"{name}{suffix}" for name in ("adsl", "adeff", "adae", "adbm", "ds")
                                       for suffix in (".csv", ".labels.json")] + ["README.txt"]
    assert (tmp_path / "out" / "README.txt").read_text().startswith("SYNTHETIC DATA")
    adsl = pd.read_csv(tmp_path / "out" / "adsl.csv", keep_default_na=False)
    assert adsl["USUBJID"].tolist() == trial.adsl["USUBJID"].tolist()
    assert adsl["TRTSDT"].iloc[0] == trial.adsl["TRTSDT"].iloc[0].strftime("%Y-%m-%d")
    adeff = pd.read_csv(tmp_path / "out" / "adeff.csv")
    np.testing.assert_allclose(adeff["AVAL"], trial.adeff["AVAL"], rtol=1e-12)


def test_parquet_needs_pyarrow(trial, tmp_path):
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        with pytest.raises(InputError, match="format: 'parquet' needs the pyarrow package"):
            trial.write(tmp_path, format="parquet")
    else:
        trial.write(tmp_path, format="parquet")
        # Parquet keeps datetimes at another resolution (ms, not s): the same values, another dtype.
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "adae.parquet"), trial.adae, check_dtype=False)
        pd.testing.assert_frame_equal(read_adam(tmp_path / "adeff.parquet"), trial.adeff, check_dtype=False)


def test_summary_prints_counts_and_changes(trial):
    text = str(trial.summary())
    assert "SYNTHETIC DATA" in text
    line = next(row for row in text.splitlines() if row.startswith("Randomised"))
    assert line.split()[1:] == ["49", "47", "47", "47"]
    assert "ESSDAI week 24 mean change" in text
    screening = trial.ds[trial.ds["DSSCAT"] == "SCREENING"]
    failed = int((screening["DSDECOD"] == "SCREEN FAILURE").sum())
    assert f"Screened {len(screening)}: {failed} failed the eligibility rules" in text


# --------------------------------------------------------------------------- the spec's true values


def test_large_trial_reproduces_true_means_sds_and_correlation(spec, large_free):
    """Mean change by arm and visit (every endpoint), SD and lag-1 correlation where the change is Gaussian."""
    trial = large_free
    arm_of = trial.adsl.set_index("USUBJID")["TRT01P"]
    worst = 0.0
    groups = {name: frame for name, frame in pd.concat([trial.adeff, trial.adbm]).groupby("PARAMCD", sort=False)}
    for e in spec.endpoints + spec.biomarkers:
        bds = groups[e.paramcd]
        aval = _wide(bds, e.paramcd, "AVAL")
        base = _wide(bds, e.paramcd, "BASE")
        change = np.log(aval / base) if e.scale == "log" else aval - base
        arm = arm_of.reindex(change.index)
        truth = pd.DataFrame(e.true_mean_change(), index=list(spec.arm_names), columns=list(spec.visits))
        truth = truth[list(e.visits)]
        mean = change.groupby(arm).mean().reindex(truth.index)
        se = change.groupby(arm).std().reindex(truth.index) / np.sqrt(N_FRAMES)
        z = ((mean - truth) / se).abs().to_numpy()
        worst = max(worst, float(z.max()))
        assert z.max() < Z, (e.paramcd, mean - truth)
        if e.classes is None:
            # Var(change) = sd_t^2 + slope^2 Var(baseline); SE of an SD from the sample kurtosis.
            true_sd = np.sqrt(np.asarray(e.sd)[np.searchsorted(spec.visits, e.visits)] ** 2
                              + e.baseline_slope**2 * _baseline_variance(e))
            centred = change - change.groupby(arm).transform("mean")
            sd = centred.std()
            kurt = stats.kurtosis(centred, fisher=False)
            se_sd = sd / 2 * np.sqrt((kurt - 1) / centred.shape[0])
            assert ((sd - true_sd).abs() / se_sd).max() < Z, (e.paramcd, sd.tolist(), true_sd.tolist())
    assert worst > 0.1  # the comparison is not vacuous


def test_lag_one_correlation_and_regression_to_the_mean(spec, large_free):
    """SF-36 PCS has a normal (untruncated) baseline: the residual after the baseline regression is N(0, Sigma)."""
    e = spec.endpoint("SF36PCS")
    aval = _wide(large_free.adeff, "SF36PCS", "AVAL")
    base = _wide(large_free.adeff, "SF36PCS", "BASE")[4]
    arm = large_free.adsl.set_index("USUBJID")["TRT01P"].reindex(aval.index)
    change = aval.sub(base, axis=0)
    slope = np.polyfit(base - base.mean(), change[24] - change[24].groupby(arm).transform("mean"), 1)[0]
    se_slope = e.sd[-1] / (np.sqrt(len(base)) * base.std())
    assert abs(slope - e.baseline_slope) < Z * se_slope, slope
    resid = change.sub(e.baseline_slope * (base - baseline_mean(e.baseline)), axis=0)
    resid = resid - resid.groupby(arm).transform("mean")
    r = np.corrcoef(resid[4], resid[8])[0, 1]
    rho = e.correlation[0, 1]
    assert abs(r - rho) < Z * (1 - rho**2) / np.sqrt(len(resid)), r


def test_dropout_hazard(spec):
    """Without MAR dependence, P(complete) = (1 - rate)^6; with it, the first interval's hazard is the rate."""
    d = spec.dropout
    independent = _large(spec, dropout=dataclasses.replace(d, slope=0.0))
    m = simulate_endpoint_matrix(independent, "ESSDAI", seed=3)
    completed = ~np.isnan(m.values[0, :, -1])
    p = (1 - np.asarray(d.rate)[m.arm]) ** len(spec.visits)
    assert abs(completed.mean() - p.mean()) < Z * np.sqrt(p.mean() * (1 - p.mean()) / p.size)
    mar = simulate_endpoint_matrix(_large(spec), "ESSDAI", seed=3)
    missing_first = np.isnan(mar.values[0, :, 0])
    h = np.asarray(d.rate)[mar.arm].mean()
    assert abs(missing_first.mean() - h) < Z * np.sqrt(h * (1 - h) / missing_first.size)
    # Monotone: once missing, missing at every later visit.
    nan = np.isnan(mar.values[0])
    assert not np.any(nan[:, :-1] & ~nan[:, 1:])
    # MAR: subjects who improve less are more likely to leave (slope > 0 on the change).
    assert d.slope > 0 and mar.values.shape == (1, 4 * N_LARGE, 6)


def _soc_incidence(rates: np.ndarray, rho: float) -> float:
    """P(at least one PT of a SOC) under the Gaussian copula, by Gauss-Hermite quadrature."""
    x, w = np.polynomial.hermite_e.hermegauss(60)
    w = w / w.sum()
    threshold = special.ndtri(rates)
    p_each = special.ndtr((threshold[None, :] - np.sqrt(rho) * x[:, None]) / np.sqrt(1 - rho))
    return float(1 - w @ np.prod(1 - p_each, axis=1))


def test_adverse_event_incidences(spec):
    trial = simulate_trial(_large(spec, n=10_000), seed=5)
    adae, adsl = trial.adae, trial.adsl
    n = adsl.groupby("TRT01A").size().reindex(spec.arm_names)
    worst = 0.0
    for event in spec.adverse_events:
        subjects = adae[adae["AEDECOD"] == event.pt].groupby("TRTA")["USUBJID"].nunique()
        observed = subjects.reindex(spec.arm_names, fill_value=0) / n
        p = np.asarray(event.rates)
        z = np.abs(observed - p) / np.sqrt(np.maximum(p * (1 - p), 1e-12) / n)
        worst = max(worst, float(z.max()))
        assert z.max() < Z, (event.pt, observed.tolist(), p.tolist())
    for soc in {e.soc for e in spec.adverse_events}:
        rates = np.array([e.rates for e in spec.adverse_events if e.soc == soc])
        p = np.array([_soc_incidence(rates[:, a], spec.safety.correlation(soc)) for a in range(len(spec.arms))])
        subjects = adae[adae["AEBODSYS"] == soc].groupby("TRTA")["USUBJID"].nunique()
        observed = subjects.reindex(spec.arm_names, fill_value=0) / n
        assert (np.abs(observed - p) / np.sqrt(p * (1 - p) / n)).max() < Z, (soc, observed.tolist(), p.tolist())
    assert worst > 0.1


def test_drug_levels_follow_the_accumulation_model(spec):
    pk = spec.pk
    trial = simulate_trial(_large(spec, n=5_000, dropout=None, discontinuation=None,
                                  pk=dataclasses.replace(pk, decimals=None)), seed=8)
    levels = trial.adbm[trial.adbm["PARAMCD"] == pk.paramcd]
    r = 2.0 ** (-(spec.dosing_interval * 7) / pk.half_life)
    for (dose, week), values in levels.groupby(["TRTPN", "AVISITN"])["AVAL"]:
        k = week // spec.dosing_interval
        expected = pk.trough_per_mg * dose**pk.exponent * (1 - r**k) / (1 - r)
        if dose == 0:
            assert (values == 0).all()
            continue
        assert abs(values.mean() - expected) < Z * values.std() / np.sqrt(values.size), (dose, week)


def test_fast_path_matches_the_model(spec):
    """simulate_endpoint_matrix draws the same model: its mean change equals the true mean change."""
    free = _large(spec, endpoints=tuple(_unrecorded(e) for e in spec.endpoints), dropout=None)
    m = simulate_endpoint_matrix(free, "ESSDAI", seed=2)
    change = m.change[0]
    truth = free.endpoint("ESSDAI").true_mean_change()
    for a in range(len(spec.arms)):
        rows = change[m.arm == a]
        se = rows.std(axis=0) / np.sqrt(rows.shape[0])
        assert np.all(np.abs(rows.mean(axis=0) - truth[a]) < Z * se)
    assert np.all(m.doses == np.repeat(spec.doses, N_LARGE))


def test_fast_path_rejects_bad_arguments(spec):
    with pytest.raises(InputError, match="n_trials: must be a positive integer, got 0"):
        simulate_endpoint_matrix(spec, "ESSDAI", n_trials=0)
    with pytest.raises(InputError, match="endpoint 'ESSDIA': not in the spec"):
        simulate_endpoint_matrix(spec, "ESSDIA")
