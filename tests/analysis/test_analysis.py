"""Analysis of synthetic run directories written per docs/run-directory.md."""

import json

import numpy as np
import pandas as pd
import pytest

from harness.errors import InputError
from harness.measure.analysis import build_results
from tests.analysis.synthetic import Behaviour, Stage, write_run

STEP = [Stage("100%", 1.0, journeys_per_s=5.0), Stage("200%", 2.0, journeys_per_s=10.0),
        Stage("300%", 3.0, journeys_per_s=15.0, median_ms=70.0)]


@pytest.fixture(scope="module")
def step_run(tmp_path_factory):
    run_dir = write_run(tmp_path_factory.mktemp("runs") / "step", STEP)
    return run_dir, build_results(run_dir)


def test_results_have_the_contract_shape(step_run):
    _, results = step_run
    for key in ("schema_version", "run_id", "verdict", "invalid_reasons", "availability_definition", "stages",
                "degradation", "memory", "targets", "faults", "reconciliation"):
        assert key in results
    stage = results["stages"][0]
    for key in ("name", "load_factor", "duration_s", "ramp_s", "intended_journeys_per_s",
                "achieved_journeys_per_s", "dropped_arrivals", "requests", "api", "endpoints", "journeys",
                "business", "generator"):
        assert key in stage
    for key in ("count", "failures", "availability", "availability_ci", "mean_ms", "p50_ms", "p95_ms",
                "p95_ci_ms", "p99_ms", "max_ms", "errors_by_kind"):
        assert key in stage["requests"] and key in stage["api"]
    journey = stage["journeys"][0]
    for key in ("name", "count", "successes", "success_rate", "success_rate_ci", "p50_ms", "p95_ms",
                "p95_from_intended_ms", "outcomes"):
        assert key in journey
    assert set(stage["business"]) >= {"payment_success", "payment_timeouts", "registration_completion",
                                      "sms_reentry", "product_page_p95_ms", "order_sync_lag_p95_ms"}
    assert set(stage["generator"]) >= {"cpu_percent_max", "cpu_percent_mean", "bound"}
    assert results["invalid_reasons"] == []
    json.dumps(results, allow_nan=False)  # plain JSON, no NaN


def test_figures_equal_those_computed_from_the_raw_rows(step_run):
    run_dir, results = step_run
    raw = pd.read_csv(run_dir / "requests.csv")
    for stage in results["stages"]:
        rows = raw[(raw["stage"] == stage["name"]) & (raw["in_ramp"] == 0)]
        api = rows[rows["name"].str.split(" ").str[1].str.startswith("/api/")]
        assert stage["requests"]["count"] == len(rows)
        assert stage["ramp_requests"] == int(((raw["stage"] == stage["name"]) & (raw["in_ramp"] == 1)).sum())
        assert stage["api"]["count"] == len(api)
        for block, frame in ((stage["requests"], rows), (stage["api"], api)):
            values = frame["response_ms"].to_numpy()
            assert block["p95_ms"] == np.percentile(values, 95, method="inverted_cdf")
            assert block["p99_ms"] == np.percentile(values, 99, method="inverted_cdf")
            assert block["mean_ms"] == pytest.approx(values.mean())
            assert block["max_ms"] == values.max()
            low, high = block["p95_ci_ms"]
            assert low <= block["p95_ms"] <= high
        for endpoint in stage["endpoints"]:
            values = rows[rows["name"] == endpoint["name"]]["response_ms"].to_numpy()
            assert endpoint["count"] == values.size
            assert endpoint["p95_ms"] == np.percentile(values, 95, method="inverted_cdf")


def test_ramp_rows_are_left_out_of_the_statistics(tmp_path):
    run_dir = write_run(tmp_path / "run", [Stage("100%", ramp_s=10.0)])
    before = build_results(run_dir)["stages"][0]["requests"]
    raw = pd.read_csv(run_dir / "requests.csv")
    raw.loc[raw["in_ramp"] == 1, "response_ms"] = 60_000.0  # a terrible ramp
    raw.loc[raw["in_ramp"] == 1, "ok"] = 0
    raw.to_csv(run_dir / "requests.csv", index=False)
    after = build_results(run_dir)["stages"][0]["requests"]
    assert after == before


def test_degradation_finds_the_slower_stage(step_run):
    _, results = step_run
    api = [d for d in results["degradation"] if d["scope"] == "api"]
    assert [(d["from"], d["to"]) for d in api] == [("100%", "200%"), ("100%", "300%")]
    to_300 = api[1]
    # median 40 ms -> 70 ms: P95 grows by about 30 * e^(0.4 * 1.645) ≈ 58 ms
    assert to_300["ci_low_ms"] > 30.0
    assert to_300["ci_low_ms"] <= to_300["delta_p95_ms"] <= to_300["ci_high_ms"]
    same = api[0]
    assert same["ci_low_ms"] < 0 < same["ci_high_ms"]
    assert any(d["scope"] == "endpoint" and d["name"] == "GET /api/search" for d in results["degradation"])


def test_failures_and_business_rates_count_what_happened(tmp_path):
    behaviour = Behaviour(paid_rate=0.8, timeout_rate=0.2, registered_rate=0.6, sms_reentry_rate=0.3)
    run_dir = write_run(tmp_path / "run", [Stage("100%", failure_rate=0.05, journeys_per_s=20)], behaviour)
    stage = build_results(run_dir)["stages"][0]
    raw = pd.read_csv(run_dir / "requests.csv")
    rows = raw[raw["in_ramp"] == 0]
    assert stage["requests"]["failures"] == int((rows["ok"] == 0).sum())
    assert stage["requests"]["errors_by_kind"] == {"http_5xx": int((rows["ok"] == 0).sum())}
    lo, hi = stage["requests"]["availability_ci"]
    assert lo < stage["requests"]["availability"] < hi
    journeys = pd.read_csv(run_dir / "journeys.csv", keep_default_na=False)
    steady = journeys[journeys["in_ramp"] == 0]
    checkout = steady[steady["name"] == "checkout"]
    business = stage["business"]
    assert business["payment_success"]["n"] == len(checkout)
    assert business["payment_success"]["k"] == int((checkout["outcome"] == "paid").sum())
    assert business["payment_timeouts"]["k"] == int((checkout["flags"] == "gateway_timeout").sum())
    register = steady[steady["name"] == "register"]
    assert business["registration_completion"]["k"] == int((register["outcome"] == "registered").sum())
    assert business["sms_reentry"]["k"] == int(register["flags"].str.contains("sms_reentry").sum())
    product = steady[steady["name"] == "product_page"]["duration_ms"].astype(float)
    assert business["product_page_p95_ms"] == np.percentile(product, 95, method="inverted_cdf")
    visit = next(j for j in stage["journeys"] if j["name"] == "visit")
    assert visit["p95_from_intended_ms"] > visit["p95_ms"]  # latency from the intended start


@pytest.mark.parametrize(("behaviour", "words"), [
    (Behaviour(achieved_fraction=0.5), "stage 200%: the load generator started 5.00 journeys/s against 10.00 intended"),
    (Behaviour(dropped_rate=0.05), "of arrivals were dropped"),
    (Behaviour(generator_cpu_percent=97.0), "load generator process 4242 used 97% of a core"),
])
def test_generator_self_check_makes_the_run_invalid(tmp_path, behaviour, words):
    run_dir = write_run(tmp_path / "run", STEP[:2], behaviour)
    results = build_results(run_dir)
    assert any(words in reason for reason in results["invalid_reasons"]), results["invalid_reasons"]
    assert results["stages"][1]["generator"]["bound"] is True


def test_healthy_generator_is_not_bound(step_run):
    _, results = step_run
    generator = results["stages"][0]["generator"]
    assert generator == {"cpu_percent_max": 30.0, "cpu_percent_mean": 30.0, "processes": 1, "bound": False}
    assert results["stages"][0]["achieved_journeys_per_s"] == pytest.approx(5.0, rel=0.02)


def test_same_run_same_results(step_run):
    run_dir, results = step_run
    assert build_results(run_dir) == results


# --- bad inputs -------------------------------------------------------------------------------


@pytest.fixture
def small_run(tmp_path):
    return write_run(tmp_path / "run", [Stage("100%", duration_s=20.0, ramp_s=2.0)])


def _edit_line(path, line_number, old, new):
    lines = path.read_text().splitlines(keepends=True)
    lines[line_number - 1] = lines[line_number - 1].replace(old, new, 1)
    path.write_text("".join(lines))


def test_missing_requests_file_is_named(small_run):
    (small_run / "requests.csv").unlink()
    with pytest.raises(InputError, match=r"requests.csv: missing"):
        build_results(small_run)


def test_missing_column_names_line_one(small_run):
    path = small_run / "requests.csv"
    _edit_line(path, 1, "response_ms", "latency_ms")
    with pytest.raises(InputError, match=r"requests.csv:1: missing column\(s\) response_ms"):
        build_results(small_run)


def test_a_bad_number_names_its_line(small_run):
    path = small_run / "requests.csv"
    first = path.read_text().splitlines()[6].split(",")[5]
    _edit_line(path, 7, first, "fast")
    with pytest.raises(InputError, match=r"requests.csv:7: column response_ms: 'fast' is not a number"):
        build_results(small_run)


def test_a_bad_flag_names_its_line(small_run):
    path = small_run / "journeys.csv"
    lines = path.read_text().splitlines()
    fields = lines[4].split(",")
    fields[10] = "2"
    lines[4] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"journeys.csv:5: column ok: 2 must be 0 or 1"):
        build_results(small_run)


def test_an_unknown_stage_names_its_line(small_run):
    _edit_line(small_run / "requests.csv", 3, ",100%,", ",150%,")
    with pytest.raises(InputError, match=r"requests.csv:3: column stage: '150%' is not one of manifest.json's stages"):
        build_results(small_run)


def test_a_torn_last_line_is_skipped_and_noted(small_run):
    path = small_run / "requests.csv"
    complete = build_results(small_run)["stages"][0]["requests"]["count"]
    with open(path, "a") as handle:
        handle.write("1764349219.5,100%,0,GET /api/ca")
    results = build_results(small_run)
    assert results["stages"][0]["requests"]["count"] == complete
    assert any("requests.csv: the last line was incomplete" in note for note in results["notes"])


def test_a_broken_manifest_is_named(small_run):
    (small_run / "manifest.json").write_text('{"run_id": "x", "stages": []}')
    with pytest.raises(InputError, match="manifest.json: field 'stages' must be a non-empty list"):
        build_results(small_run)


def test_histograms_are_cross_checked_against_the_raw_rows(small_run):
    from harness.core import histogram

    raw = pd.read_csv(small_run / "requests.csv")
    steady = raw[raw["in_ramp"] == 0]
    encoded = {name: histogram.encode(histogram.from_values_ms(group["response_ms"]))
               for name, group in steady.groupby("name")}
    first = sorted(encoded)[0]
    (small_run / "histograms").mkdir()
    (small_run / "histograms" / "100%.json").write_text(json.dumps({"stage": "100%", "requests": encoded}))
    assert build_results(small_run)["notes"] == []
    encoded[first] = histogram.encode(histogram.from_values_ms(steady[steady["name"] == first]["response_ms"][:-1]))
    (small_run / "histograms" / "100%.json").write_text(json.dumps({"stage": "100%", "requests": encoded}))
    notes = build_results(small_run)["notes"]
    assert len(notes) == 1 and f"{first} holds" in notes[0]
