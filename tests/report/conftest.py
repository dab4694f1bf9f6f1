"""A small report laid out as the A2201 paper's (tables 1 to 3, figures 1 to 3), on made-up numbers.

The numbers are for layout only: A2201's published percentages where the paper gives
them, simple arithmetic elsewhere. They test the report layer, not any statistic.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dosefinding import Candidates
from dosefinding.mod import MCPModResult, mcpmod
from dosefinding.report import (
    Report,
    Table,
    comparison_table,
    counts_table,
    dose_response,
    dose_response_data,
    format_estimate_ci,
    format_mean_sd,
    format_median_iqr,
    format_n_percent,
    format_p_value,
    mcpmod_results,
    mcpmod_table,
    over_time,
    patient_flow,
    point_range,
    responder_bars,
    stacked_shares,
)

ARMS = ["Placebo", "Ianalumab 5 mg", "Ianalumab 50 mg", "Ianalumab 300 mg"]
N = [49, 47, 47, 47]
DOSES = [0.0, 5.0, 50.0, 300.0]


def baseline_table() -> Table:
    age = pd.DataFrame({arm: [format_mean_sd(m, 12.3), format_median_iqr(m, m - 9, m + 8)]
                        for arm, m in zip(ARMS, [48.0, 53.0, 51.0, 49.0], strict=True)},
                       index=["Mean (SD)", "Median [Q1, Q3]"])
    age_values = pd.DataFrame({arm: [{"mean": m, "sd": 12.3}, {"median": m, "q1": m - 9, "q3": m + 8}]
                               for arm, m in zip(ARMS, [48.0, 53.0, 51.0, 49.0], strict=True)}, index=age.index)
    female = [47, 46, 41, 46]
    sex = pd.DataFrame({arm: [format_n_percent(k, n)] for arm, k, n in zip(ARMS, female, N, strict=True)},
                       index=["Female, n (%)"])
    sex_values = pd.DataFrame({arm: [{"n": k, "percent": 100 * k / n}] for arm, k, n in zip(ARMS, female, N,
                                                                                              strict=True)},
                              index=sex.index)
    columns = [f"{a} (N={n})" for a, n in zip(ARMS, N, strict=True)]
    blocks = [Table.from_frame(age.set_axis(columns, axis=1), values=age_values.set_axis(columns, axis=1),
                               id="age", title="", group="Age (years)"),
              Table.from_frame(sex.set_axis(columns, axis=1), values=sex_values.set_axis(columns, axis=1),
                               id="sex", title="")]
    return Table.concat(blocks, id="table-1", title="Table 1. Demographic and baseline characteristics",
                        subtitle="All randomised patients", stub_header="Characteristic",
                        footnotes=["SD: standard deviation; Q1, Q3: first and third quartiles."])


def mcpmod_result() -> MCPModResult:
    candidates = Candidates(DOSES, {"linear": None, "emax": [10, 100], "sigemax": (50, 3), "exponential": 150},
                            max_effect=-3.5)
    estimates = np.array([-2.8, -3.3, -4.2, -5.6])
    cov = np.diag(np.full(4, 0.5)) + 0.01
    return mcpmod(candidates, doses=DOSES, estimates=estimates, cov=cov, df=180.0, delta=-1.5)


def efficacy_table(result: MCPModResult) -> tuple[Table, Table]:
    est = result.effect_estimates()
    cols = pd.MultiIndex.from_tuples([(a, s) for a in ARMS[1:] for s in ("Difference (95% CI)", "p-value")])
    p = [0.71, 0.45, 0.092]
    pairs = list(zip(est.itertuples(), p, strict=True))
    cells = [text for r, pv in pairs for text in (format_estimate_ci(r.estimate, r.lower, r.upper),
                                                   format_p_value(pv))]
    frame = pd.DataFrame([cells], columns=cols, index=["ESSDAI change at week 24"])
    numbers = [v for r, pv in pairs for v in ({"estimate": r.estimate, "lower": r.lower, "upper": r.upper}, pv)]
    values = pd.DataFrame([numbers], columns=cols, index=frame.index)
    main = Table.from_frame(frame, values=values, id="table-2", title="Table 2. Efficacy at week 24",
                            subtitle="Full analysis set", stub_header="Endpoint",
                            footnotes=["Differences to placebo: LS means of an MMRM, 95% confidence intervals."])
    mcp = mcpmod_table(result, id="table-2b", title="Table 2b. MCP step: contrast tests per candidate shape")
    return main, mcp


def ae_table() -> Table:
    index = pd.MultiIndex.from_tuples([
        ("Any adverse event", ""),
        ("General disorders & administration site conditions", ""),
        ("General disorders & administration site conditions", "Injection-site reaction"),
        ("Blood and lymphatic system disorders", ""),
        ("Blood and lymphatic system disorders", "Leukopenia"),
        ("Blood and lymphatic system disorders", "Neutropenia"),
    ])
    pct = np.array([[84, 85, 83, 94], [10, 15, 22, 55], [4, 9, 19, 53], [10, 11, 13, 15], [4, 6, 4, 13],
                    [2, 6, 2, 9]])
    counts = pd.DataFrame(np.round(pct / 100 * np.array(N)).astype(int), index=index, columns=ARMS)
    return counts_table(counts, dict(zip(ARMS, N, strict=True)), id="table-3",
                        title="Table 3. Adverse events by system organ class and preferred term", subtitle="Safety set",
                        stub_header="SOC / Preferred term", footnotes=["n (%) of patients with at least one event."])


def published_vs_virtual() -> Table:
    frame = pd.DataFrame({"Published": [-1.92, 61.0, 89.0], "Virtual trial": [-1.71, 58.3, 87.2]},
                         index=["ESSDAI difference 300 mg vs placebo", "Responders placebo (%)",
                                "Responders 300 mg (%)"])
    return comparison_table(frame, id="table-4", title="Table 4. Published versus virtual trial", digits=[2, 0, 0])


def over_time_frame() -> pd.DataFrame:
    weeks = [0, 4, 8, 12, 16, 20, 24]
    rows = [{"visit": w, "arm": arm, "estimate": -slope * np.sqrt(w)} for arm, slope in
            zip(ARMS, [0.55, 0.6, 0.7, 0.95], strict=True) for w in weeks]
    frame = pd.DataFrame(rows)
    frame["lower"], frame["upper"] = frame["estimate"] - 1.1, frame["estimate"] + 1.1
    return frame


def flow_counts() -> pd.DataFrame:
    return pd.DataFrame({"Randomised": N, "Treated": N, "Completed week 24": [46, 44, 45, 43]}, index=ARMS)


def build_report(synthetic: bool = True) -> Report:
    result = mcpmod_result()
    table_2, table_2b = efficacy_table(result)
    essdai = over_time_frame()
    diffs = result.effect_estimates().reset_index(drop=True).assign(arm=ARMS[1:])
    responders = pd.DataFrame({"arm": ARMS, "percent": [61.0, 62.0, 72.0, 89.0]})
    responders["lower"], responders["upper"] = responders["percent"] - 14, responders["percent"] + 8
    categories = pd.DataFrame({"Low (<5)": [35.0, 48.0, 52.0, 61.0], "Moderate (5-13)": [50.0, 38.0, 38.0, 37.0],
                               "High (>13)": [15.0, 14.0, 10.0, 2.0]}, index=ARMS)
    bcells = over_time_frame().assign(estimate=lambda f: 200 * np.exp(f["estimate"]))
    bcells["lower"], bcells["upper"] = bcells["estimate"] * 0.7, bcells["estimate"] * 1.4
    flow = flow_counts()
    report = (
        Report(title="A2201 virtual trial: week-24 analysis", study="A2201", synthetic=synthetic,
               subtitle="Ianalumab in Sjogren's syndrome; placebo, 5, 50 and 300 mg",
               populations={"FAS": {"description": "All randomised", "n": dict(zip(ARMS, N, strict=True))}})
        .section("Patients", id="patients")
        .figure(patient_flow(screened=293, excluded={"Inclusion criteria not met": 96, "Other reasons": 7},
                             arms=flow), id="figure-1", caption="Figure 1. Patient flow", data=flow)
        .table(baseline_table())
        .section("Efficacy", id="efficacy")
        .paragraph("MCP-Mod on the week-24 change from baseline in ESSDAI <all candidate shapes> & model averaging.")
        .table(table_2)
        .table(table_2b)
        .figure(over_time(essdai, title="ESSDAI"), id="figure-2a", caption="Figure 2a. ESSDAI change over time",
                data=essdai)
        .figure(dose_response(result), id="figure-2b", caption="Figure 2b. Dose-response at week 24",
                data=dose_response_data(result))
        .figure(point_range(diffs), id="figure-2c", caption="Figure 2c. Placebo-adjusted differences", data=diffs)
        .figure(responder_bars(responders), id="figure-2d", caption="Figure 2d. ESSDAI responders", data=responders,
                embed_format="png")
        .figure(stacked_shares(categories), id="figure-2e", caption="Figure 2e. ESSDAI categories at week 24",
                data=categories)
        .section("Safety", id="safety")
        .table(ae_table())
        .section("Pharmacology", id="pharmacology")
        .figure(over_time(bcells, log=True, ylabel="CD19+ B cells (cells/uL)"), id="figure-3a",
                caption="Figure 3a. B cells by dose", data=bcells)
        .section("Virtual trial", id="virtual")
        .table(published_vs_virtual())
        .with_mcpmod(mcpmod_results(result))
    )
    return report


@pytest.fixture(scope="session")
def report() -> Report:
    return build_report()
