"""The design page's server: JSON in and out, the numbers equal the library's, bad input named by field.

The server runs in a thread on a free port; requests go over HTTP as the page sends them.
Every number the page shows is compared with the library function called directly on the same
design (bitwise: the same functions, seeds and arguments). Bad input of every field gets a 400
with the field's InputError message and never a traceback; concurrent requests give each its
own numbers; a request overtaken by a newer one of the same client is answered 409 unread.
"""

from __future__ import annotations

import fnmatch
import socket
import threading
import tomllib
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from dosefinding import Candidates, optimal_contrasts, power_mct, power_n, sample_size_mct
from dosefinding.cli import main
from dosefinding.design.app import server as server_module
from dosefinding.design.app.inputs import DEFAULTS, MAX_DOSES, MAX_MODELS, MAX_N_PER_ARM, read_design
from dosefinding.design.app.server import MAX_BODY, DesignServer
from dosefinding.shapes import SHAPE_NAMES, get_shape
from dosefinding.study.power import build_analysis, simulate_power
from dosefinding.study.spec import parse_spec

A2201_SHAPES = {"linear": None, "emax": [10, 100], "sigemax": (50, 3), "exponential": 150}
# Every shape of dosefinding.shapes, with unequal groups, two-sided, at 5%.
EVERY_SHAPE = {
    "doses": "0, 10, 25, 50, 100, 150", "max_effect": "0.8", "sigma": "1.4", "n": "30, 20, 20, 20, 20, 30",
    "alpha": "0.05", "alternative": "two-sided", "target_power": "0.9", "summary": "min",
    "shapes": {"linear": "", "linlog": "", "quadratic": "-0.004", "emax": "25", "sigemax": "60, 4",
               "exponential": "80", "logistic": "50, 10", "betamod": "0.7, 1.2", "linint": "0.1, 0.4, 0.7, 1, 1"},
}


def post(server: DesignServer, design: Any, path: str = "/api/design", **meta: Any) -> httpx.Response:
    return httpx.post(server.url.rstrip("/") + path, json={"design": design, **meta}, timeout=120)


def assert_no_traceback(response: httpx.Response) -> None:
    assert "Traceback" not in response.text and 'File "' not in response.text


def test_page_is_one_packaged_file_with_nothing_from_the_network(server: DesignServer) -> None:
    page = httpx.get(server.url)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    text = page.text.replace('"http://www.w3.org/2000/svg"', "")  # the SVG namespace is a name, not a download
    assert "http://" not in text and "https://" not in text and "//cdn" not in text
    assert "<script src" not in text and "<link" not in text
    assert "default-src 'none'" in page.headers["content-security-policy"]


def test_shapes_lists_every_shape_with_its_guesstimate_parameters(server: DesignServer) -> None:
    info = httpx.get(server.url + "api/shapes").json()
    assert [s["name"] for s in info["shapes"]] == list(SHAPE_NAMES)
    for s in info["shapes"]:
        if s["name"] not in ("quadratic", "linint"):
            assert s["parameters"] == list(get_shape(s["name"]).nonlinear_parameters)
    assert info["defaults"] == DEFAULTS


def library_numbers(doses: list[float], shapes: dict[str, Any], max_effect: float, sigma: float, n: list[int],
                    alpha: float, alternative: Any, target: float, summary: Any) -> dict[str, Any]:
    cands = Candidates(doses, shapes, max_effect=max_effect)
    contrasts = optimal_contrasts(cands, weights=n)
    power = power_mct(contrasts, cands, n=n, sigma=sigma, alpha=alpha, alternative=alternative)
    found = sample_size_mct(contrasts, cands, sigma=sigma, power=target, allocation=n, summary=summary, alpha=alpha,
                            alternative=alternative)
    return {"cands": cands, "contrasts": contrasts, "power": power, "found": found}


def check_equal(numbers: dict[str, Any], ref: dict[str, Any], sigma: float, n: list[int], alpha: float,
                alternative: Any) -> None:
    cands = ref["cands"]
    assert numbers["labels"] == list(cands.labels)
    assert numbers["contrasts"] == ref["contrasts"].matrix.tolist()
    assert numbers["correlation"] == ref["contrasts"].correlation_matrix.tolist()
    assert numbers["power"]["by_model"] == ref["power"].tolist()
    assert numbers["power"]["mean"] == float(ref["power"].mean())
    assert numbers["sample_size"]["n"] == ref["found"].n.tolist()
    assert numbers["sample_size"]["by_model"] == ref["found"].power_by_model.tolist()
    grid = np.asarray(numbers["curves"]["doses"])
    for model, curve, at in zip(cands.models, numbers["curves"]["responses"], numbers["curves"]["at_doses"],
                                strict=True):
        assert curve == model.response(grid).tolist() and at == model.response(cands.doses).tolist()
    by_n = numbers["power_by_n"]
    table = power_n(ref["contrasts"], cands, upper_n=max(by_n["N"]), lower_n=min(by_n["N"]),
                    step=by_n["N"][1] - by_n["N"][0], allocation=n, sigma=sigma, alpha=alpha, alternative=alternative)
    assert by_n["N"] == table.values.index.tolist() and by_n["mean"] == table.values["mean"].tolist()
    assert min(by_n["N"]) <= min(numbers["sample_size"]["n"]) <= max(by_n["N"])


def test_a2201_numbers_are_the_library_functions(server: DesignServer) -> None:
    response = post(server, {}, seq=7)
    assert response.status_code == 200 and response.json()["seq"] == 7
    numbers = response.json()["numbers"]
    ref = library_numbers([0, 5, 50, 300], A2201_SHAPES, -3.5, 5.6, [45] * 4, 0.025, "one-sided", 0.8, "mean")
    check_equal(numbers, ref, 5.6, [45] * 4, 0.025, "one-sided")
    # the tutorial's (and R powMCT's, to 1e-3) A2201 power: about 90% whatever the shape at 45 per arm
    assert np.round(numbers["power"]["by_model"], 3).tolist() == [0.910, 0.888, 0.898, 0.917, 0.919]
    assert numbers["sample_size"]["n"] == [34] * 4


def test_every_shape_unequal_groups_two_sided_numbers_are_the_library_functions(server: DesignServer) -> None:
    response = post(server, EVERY_SHAPE)
    assert response.status_code == 200, response.text
    shapes = {"linear": None, "linlog": None, "quadratic": -0.004, "emax": 25, "sigemax": [60, 4], "exponential": 80,
              "logistic": [50, 10], "betamod": [0.7, 1.2], "linint": [0.1, 0.4, 0.7, 1, 1]}
    n = [30, 20, 20, 20, 20, 30]
    ref = library_numbers([0, 10, 25, 50, 100, 150], shapes, 0.8, 1.4, n, 0.05, "two-sided", 0.9, "min")
    check_equal(response.json()["numbers"], ref, 1.4, n, 0.05, "two-sided")
    found = response.json()["numbers"]["sample_size"]["n"]
    assert found == np.round(found[1] * np.array(n) / 20).astype(int).tolist()  # the design's allocation 3:2:2:2:2:3


BAD_INPUTS = [  # (fields, the field at fault, words of its message)
    ({"doses": ""}, "doses", "is empty"),
    ({"doses": "0, 50, 5"}, "doses", "sorted in increasing order"),
    ({"doses": "0, 5, 5, 50"}, "doses", "duplicate dose 5"),
    ({"doses": "5, 50, 300"}, "doses", "placebo"),
    ({"doses": "0"}, "doses", "at least two dose levels"),
    ({"doses": "0, -5, 50"}, "doses", "non-negative"),
    ({"doses": "0, five, 50"}, "doses", "'five' is not a number"),
    ({"doses": "0, 5, 1e400"}, "doses", "finite"),
    ({"doses": ", ".join(str(d) for d in range(MAX_DOSES + 1))}, "doses", f"at most {MAX_DOSES}"),
    ({"sigma": "-5.6"}, "sigma", "must be positive"),
    ({"sigma": "0"}, "sigma", "must be positive"),
    ({"sigma": "nan"}, "sigma", "finite"),
    ({"sigma": "5,6"}, "sigma", "one number"),
    ({"sigma": "1e300"}, "sigma", "from 1e-100 to 1e+100"),
    ({"sigma": "1e-300"}, "sigma", "from 1e-100 to 1e+100"),
    ({"max_effect": "0"}, "max_effect", "must not be zero"),
    ({"max_effect": "-1e-300"}, "max_effect", "in absolute value from 1e-100"),
    ({"n": "0"}, "n", "whole number from 1"),
    ({"n": "45.5"}, "n", "whole number"),
    ({"n": str(10**9)}, "n", f"to {MAX_N_PER_ARM:,}"),
    ({"n": "1"}, "n", "no degrees of freedom"),
    ({"n": "45, 45"}, "n", "one per dose (4)"),
    ({"n": "many"}, "n", "'many' is not a number"),
    ({"alpha": "0"}, "alpha", "from 1e-05 to 0.5"),
    ({"alpha": "0.9"}, "alpha", "from 1e-05 to 0.5"),
    ({"target_power": "1"}, "target_power", "between 0 and 1"),
    ({"alternative": "both"}, "alternative", "one-sided, two-sided"),
    ({"summary": "median"}, "summary", "mean, min, max"),
    ({"shapes": {}}, "shapes", "at least one candidate shape"),
    ({"shapes": {"emax": "; ".join(str(d) for d in range(1, MAX_MODELS + 2))}}, "shapes", f"at most {MAX_MODELS}"),
    ({"shapes": {"emax": "-10"}}, "shapes.emax", "must be positive"),
    ({"shapes": {"emax": "0"}}, "shapes.emax", "must be positive"),
    ({"shapes": {"emax": ""}}, "shapes.emax", "needs a guesstimate (ed50)"),
    ({"shapes": {"emax": "ten"}}, "shapes.emax", "'ten' is not a number"),
    ({"shapes": {"sigemax": "50"}}, "shapes.sigemax", "2 value(s)"),
    ({"shapes": {"exponential": "0.001"}}, "shapes.exponential", "cannot be computed in floating point"),
    ({"shapes": {"logistic": "1e9, 1"}}, "shapes.logistic", "cannot be computed in floating point"),
    ({"shapes": {"quadratic": "0.5"}}, "shapes.quadratic", "must be negative"),
    ({"shapes": {"linint": "1, 2"}}, "shapes.linint", "3 value(s)"),
    ({"shapes": {"linint": "0, 0, 0"}}, "shapes.linint", "must not all be zero"),
    ({"shapes": {"linear": "5"}}, "shapes.linear", "takes no guesstimate"),
    ({"shapes": {"bogus": "1"}}, "shapes.bogus", "does not exist"),
    ({"truth": "emax9"}, "truth", "not a candidate model"),
    ({"visit": "0"}, "visit", "whole number from 1"),
    ({"name": "bad name!"}, "name", "a letter"),
    ({"colour": "red"}, "colour", "unknown field"),
]


@pytest.mark.parametrize(("fields", "field", "words"), BAD_INPUTS, ids=[f"{f}:{w}" for _, f, w in BAD_INPUTS])
def test_bad_input_is_named_next_to_its_field(server: DesignServer, fields: dict[str, Any], field: str,
                                              words: str) -> None:
    response = post(server, {**DEFAULTS, **fields})
    assert response.status_code == 400, response.text
    errors = response.json()["errors"]
    assert list(errors) == [field], errors
    assert words in errors[field]
    assert_no_traceback(response)


def test_a_script_may_send_numbers_and_lists(server: DesignServer) -> None:
    as_text = post(server, DEFAULTS).json()["numbers"]
    as_numbers = post(server, {"doses": [0, 5, 50, 300], "max_effect": -3.5, "sigma": 5.6, "n": [45, 45, 45, 45],
                               "alpha": 0.025, "target_power": 0.8, "visit": 12,
                               "shapes": {"linear": None, "emax": [10, 100], "sigEmax": [[50, 3]],
                                          "exponential": 150}}).json()["numbers"]
    assert as_numbers == as_text
    response = post(server, {"shapes": {"emax": ["ten"]}})
    assert "must be numeric" in response.json()["errors"]["shapes.emax"]


def test_every_bad_field_is_named_at_once(server: DesignServer) -> None:
    response = post(server, {"doses": "0, 50, 5", "sigma": "-2", "n": "0", "alpha": "x", "visit": "1.5"})
    assert set(response.json()["errors"]) == {"doses", "sigma", "n", "alpha", "visit"}
    response = post(server, {"shapes": {"emax": "-1", "sigemax": "50", "linear": ""}})
    assert set(response.json()["errors"]) == {"shapes.emax", "shapes.sigemax"}


def test_an_effect_too_small_for_any_trial_keeps_the_power_and_says_why_there_is_no_sample_size(
        server: DesignServer) -> None:
    response = post(server, {**DEFAULTS, "shapes": {"quadratic": "-1e-12"}})
    numbers = response.json()["numbers"]
    assert "not reached with 10 million patients" in numbers["sample_size"]["error"]
    assert numbers["power"]["by_model"][0] == pytest.approx(0.025, abs=1e-6)  # no effect: the level


@pytest.mark.parametrize(("body", "headers", "status", "key"), [
    (b"not json", {"Content-Type": "application/json"}, 400, "error"),
    (b"[1, 2]", {"Content-Type": "application/json"}, 400, "error"),
    (b'{"design": {}}', {"Content-Type": "text/plain"}, 415, "error"),
    (b'{"design": {}, "seq": true}', {"Content-Type": "application/json"}, 400, "error"),
    (b'{"design": {}, "client": 5}', {"Content-Type": "application/json"}, 400, "error"),
    (b'{"design": [1]}', {"Content-Type": "application/json"}, 400, "errors"),
    (b"[" * 100_000, {"Content-Type": "application/json"}, 413, "error"),
    (b"[" * 60_000, {"Content-Type": "application/json"}, 400, "error"),  # nesting deep enough for a RecursionError
])
def test_malformed_requests_get_a_clear_status(server: DesignServer, body: bytes, headers: dict[str, str],
                                               status: int, key: str) -> None:
    response = httpx.post(server.url + "api/design", content=body, headers=headers, timeout=60)
    assert response.status_code == status
    assert response.json()[key]
    assert_no_traceback(response)
    assert len(body) <= MAX_BODY or status == 413


def test_a_host_other_than_the_loopback_is_refused(server: DesignServer) -> None:
    port = server.server_address[1]
    for host in ("evil.example:80", f"evil.example:{port}", "127.0.0.1", ""):
        response = httpx.get(server.url + "api/shapes", headers={"Host": host})
        assert response.status_code == 403 and "Host must be 127.0.0.1" in response.json()["error"]
        assert httpx.post(server.url + "api/design", json={}, headers={"Host": host}).status_code == 403
    assert httpx.get(f"http://localhost:{port}/api/shapes").status_code == 200


def test_the_page_is_package_data() -> None:
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["dosefinding.design.app"]
    static = resources.files("dosefinding.design.app") / "static"
    assert any(fnmatch.fnmatch("static/index.html", pattern) for pattern in patterns)
    assert [entry.name for entry in static.iterdir()] == ["index.html"]


def test_unknown_paths_are_404(server: DesignServer) -> None:
    assert httpx.get(server.url + "nope").status_code == 404
    assert httpx.post(server.url + "api/nope", json={}).status_code == 404


def test_an_unexpected_failure_is_500_without_a_traceback(server: DesignServer, monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    def broken(design: Any) -> dict[str, Any]:
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr(server_module, "design_numbers", broken)
    response = post(server, {})
    assert response.status_code == 500
    assert response.json()["error"] == "internal error (ZeroDivisionError): float division by zero"
    assert_no_traceback(response)
    assert "Traceback" in caplog.text  # the log keeps it for whoever runs the server


def test_an_extreme_noncentrality_has_power_one(server: DesignServer) -> None:
    """A quadratic with delta -100 has responses up to 1.3e10 at these doses: its power was NaN (scipy's
    noncentral t), which the page refused as "not finite"; it is 1, as R's powMCT."""
    response = post(server, {**DEFAULTS, "shapes": {"quadratic": "-100"}})
    assert response.status_code == 200, response.text
    assert response.json()["numbers"]["power"]["by_model"] == [1.0]


def test_a_number_that_is_not_finite_is_refused_not_sent_as_invalid_json(server: DesignServer,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_module, "design_numbers", lambda design: {"power": float("nan")})
    response = post(server, {})
    assert response.status_code == 400 and "not finite" in response.json()["errors"]["design"]


def test_concurrent_requests_each_get_their_own_numbers(server: DesignServer) -> None:
    designs = [{**DEFAULTS, "n": str(20 + 5 * i), "alternative": ("one-sided", "two-sided")[i % 2]} for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda item: post(server, item[1], seq=item[0], client=f"c{item[0]}"),
                                enumerate(designs)))
    for i, (design, response) in enumerate(zip(designs, answers, strict=True)):
        assert response.status_code == 200 and response.json()["seq"] == i
        alone = post(server, design).json()["numbers"]
        assert response.json()["numbers"] == alone
        assert alone["n"] == [20 + 5 * i] * 4


def test_a_request_overtaken_by_a_newer_one_of_its_client_is_not_computed(server: DesignServer) -> None:
    answers: dict[int, httpx.Response] = {}

    def ask(seq: int, n: str) -> None:
        answers[seq] = post(server, {**DEFAULTS, "n": n}, seq=seq, client="typist")

    with server.compute_lock:  # a long computation is under way: both requests wait
        first = threading.Thread(target=ask, args=(1, "4"))
        first.start()
        while not server.superseded("typist", 0):
            threading.Event().wait(0.01)
        second = threading.Thread(target=ask, args=(2, "45"))
        second.start()
        while not server.superseded("typist", 1):
            threading.Event().wait(0.01)
    first.join(60)
    second.join(60)
    assert answers[1].status_code == 409 and answers[1].json() == {"seq": 1, "superseded": True}
    assert answers[2].status_code == 200 and answers[2].json()["numbers"]["n"] == [45] * 4
    # an older request arriving after a newer one was answered is stale too
    late = post(server, {**DEFAULTS, "n": "30"}, seq=1, client="typist")
    assert late.status_code == 409


@pytest.mark.parametrize("truth", ["linear", "linlog", "quadratic", "emax", "sigemax", "exponential", "logistic",
                                   "betamod", "linint"])
def test_exported_spec_is_a_trial_spec_whose_truth_is_the_chosen_candidate(server: DesignServer, truth: str) -> None:
    response = post(server, {**EVERY_SHAPE, "truth": truth, "name": "A2301", "visit": "24"}, path="/api/spec")
    assert response.status_code == 200, response.text
    assert response.json()["filename"] == "A2301.toml"
    spec = parse_spec(response.json()["toml"])
    assert spec.name == "A2301" and spec.visits == (24,)
    assert [a.dose for a in spec.arms] == [0, 10, 25, 50, 100, 150]
    assert [a.n for a in spec.arms] == [30, 20, 20, 20, 20, 30]
    assert {k: v for k, v in spec.analysis.items() if k not in ("candidates", "max_effect")} == {
        "endpoint": "RESP", "visit": 24, "alpha": 0.05, "alternative": "two-sided"}
    endpoint = spec.endpoint("RESP")
    numbers = post(server, EVERY_SHAPE).json()["numbers"]
    model = numbers["labels"].index(truth)
    expected = np.asarray(numbers["curves"]["at_doses"][model])
    np.testing.assert_allclose(endpoint.true_mean_change()[:, 0], expected - expected[0], rtol=1e-12, atol=1e-15)
    assert endpoint.sd == (1.4,)


def test_exported_spec_runs_in_dosefinding_power(server: DesignServer, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "design.toml"
    spec.write_text(post(server, {}, path="/api/spec").json()["toml"])
    assert main(["power", str(spec), "--n-sims", "40", "--chunk-size", "20", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "NEWTRIAL, endpoint RESP" in out and "one-sided alpha 0.025 (the spec's [analysis] alpha)" in out


def test_exported_spec_simulates_with_the_page_candidates(server: DesignServer) -> None:
    """dosefinding power on the exported spec tests exactly the page's candidate models (every shape, their
    guesstimates and max_effect: the quadratic truth's effect at the top dose is not the page's max_effect), not
    default_candidates (before the trial spec had [analysis] candidates: five A2201-like models)."""
    design = {**EVERY_SHAPE, "shapes": {**EVERY_SHAPE["shapes"], "emax": "25; 60", "linint": "0.1, 0.4, 0.7, 1, 1"},
              "truth": "quadratic"}
    response = post(server, design, path="/api/spec")
    assert response.status_code == 200, response.text
    spec = parse_spec(response.json()["toml"])
    page = read_design(design).candidates
    truth = spec.endpoint("RESP").true_mean_change()[:, 0]
    assert truth[-1] - truth[0] != pytest.approx(0.8)  # the top dose is past the quadratic's vertex
    used = build_analysis(spec, None, None, None, 0.05, None, "ancova", "us", True, None, "AIC", "continuous",
                          alternative="two-sided").candidates
    assert used.models == page.models and used.direction == page.direction
    assert (used.scal, used.off) == (page.scal, page.off) and used.doses.tolist() == page.doses.tolist()
    result = simulate_power(spec, n_sims=4, chunk_size=4, first_stage="ancova")
    assert result.significant.index.tolist() == list(page.labels) == [
        "linear", "linlog", "quadratic", "emax1", "emax2", "sigemax", "exponential", "logistic", "betamod", "linint"]
    assert result.alternative == "two-sided" and result.alpha == 0.05


def test_exported_spec_says_what_the_page_showed(server: DesignServer) -> None:
    text = post(server, {}, path="/api/spec").json()["toml"]
    numbers = post(server, {}).json()["numbers"]
    assert "# Power of the MCP step by model: linear 0.910, emax1 0.888" in text
    assert f"# Sample size for mean power 0.8: {', '.join(map(str, numbers['sample_size']['n']))} per arm" in text
    bad = post(server, {"sigma": "-1"}, path="/api/spec")
    assert bad.status_code == 400 and "sigma" in bad.json()["errors"]


def test_cli_design_app_refuses_a_bad_or_busy_port(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["design-app", "--port", "70000", "--no-browser"]) == 2
    assert "port: must be a whole number from 0 to 65535, got 70000" in capsys.readouterr().err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["design-app", "--port", str(port), "--no-browser"]) == 2
    assert f"port: cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


@pytest.mark.parametrize("browser", [False, True])
def test_cli_design_app_serves_the_page(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                        browser: bool) -> None:
    started: list[DesignServer] = []

    def serve_once(self: DesignServer, poll_interval: float = 0.5) -> None:
        started.append(self)
        handler = threading.Thread(target=self.handle_request)
        handler.start()
        page = httpx.get(self.url, timeout=60)
        handler.join(60)
        assert page.status_code == 200 and "Design of a dose-finding trial" in page.text
        raise KeyboardInterrupt  # as Ctrl-C

    opened: list[str] = []
    monkeypatch.setattr(DesignServer, "serve_forever", serve_once)
    monkeypatch.setattr(server_module.webbrowser, "open", opened.append)
    assert main(["design-app", "--port", "0"] + ([] if browser else ["--no-browser"])) == 0
    assert started and started[0].server_address[0] == "127.0.0.1"
    assert opened == ([started[0].url] if browser else [])
    assert f"dosefinding design page at {started[0].url}" in capsys.readouterr().out
