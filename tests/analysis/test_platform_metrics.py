"""platform/metrics.csv into platform_cache and telemetry, and the two targets that judge them
(cache-miss-root-cause, telemetry-latency): pass, fail and unknown on synthetic run directories."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from harness.core.platform_stats import (
    counter_increase,
    staleness_s,
    telemetry_block,
    time_block,
    windowed_increase,
)
from harness.errors import InputError
from harness.execute.scrape import METRICS_COLUMNS, parse_shop_metrics
from harness.measure.judge import DEFAULT_TARGETS, judge_run
from tests.analysis.synthetic import T0_S, Stage, write_run

STAGES = [Stage("100%", 1.0, journeys_per_s=5.0, duration_s=30.0, ramp_s=5.0)]


def write_metrics(run_dir, *, lag_s: float = 0.0, hit_share: float = 0.95, cache_on: bool = True,
                  lookups_per_s: float = 40.0, pids=(1234,)) -> None:
    """metrics.csv as a shop whose request counter shows each client request ``lag_s`` after it
    completed, with ``lookups_per_s`` cache lookups of which ``hit_share`` hit."""
    requests = pd.read_csv(run_dir / "requests.csv")
    shop = requests[~requests["name"].str.contains(" /gateway") & (requests["status"] > 0)]
    done = np.sort(shop["t_s"].to_numpy() + shop["response_ms"].to_numpy() / 1000.0)
    t_s = T0_S - 2.0 + np.arange(36.0)
    lookups = np.floor(np.clip(t_s - T0_S, 0, None) * lookups_per_s)
    hits = np.floor(lookups * hit_share) if cache_on else np.zeros_like(lookups)
    frame = pd.DataFrame({
        "t_s": t_s, "scrape_ms": 5.0, "error": "", "pid": np.resize(np.array(pids), t_s.size),
        "requests_total": 17 + np.searchsorted(done, t_s - lag_s, side="right"),  # 17 from before the run
        "cache_hits": hits, "cache_misses": lookups - hits if cache_on else 0,
        "cache_bypass": 0 if cache_on else lookups, "order_cache_hits": 0, "order_cache_misses": 0,
        "order_cache_bypass": 0,
        "request_seconds": np.clip(t_s - T0_S, 0, None) * 2.0, "db_seconds": np.clip(t_s - T0_S, 0, None) * 0.5,
        "db_wait_seconds": np.clip(t_s - T0_S, 0, None) * 0.1})
    (run_dir / "platform").mkdir(exist_ok=True)
    frame[list(METRICS_COLUMNS)].to_csv(run_dir / "platform" / "metrics.csv", index=False)


def verdicts(run_dir) -> dict[str, dict]:
    results = judge_run(run_dir, targets_path=DEFAULT_TARGETS, write=False)
    return {t["id"]: {**t, "results": results} for t in results["targets"]
            if t["id"] in ("cache-miss-root-cause", "telemetry-latency")}


@pytest.fixture
def run_dir(tmp_path):
    return write_run(tmp_path / "run", STAGES)


def test_without_metrics_csv_both_blocks_are_null_and_the_targets_unknown(run_dir):
    found = verdicts(run_dir)
    results = found["cache-miss-root-cause"]["results"]
    assert results["platform_cache"] is None and results["telemetry"] is None
    for target in found.values():
        assert target["status"] == "unknown" and "metrics.csv" in target["explanation"]


def test_a_warm_cache_and_an_instant_counter_pass(run_dir):
    write_metrics(run_dir, hit_share=0.97)
    found = verdicts(run_dir)
    cache = found["cache-miss-root-cause"]["results"]["platform_cache"]
    assert cache["hit_ratio"] == pytest.approx(0.97, abs=0.005) and cache["bypass"] == 0
    assert cache["ci"][0] > 0.9 and cache["lookups"] == pytest.approx(25 * 40, abs=41)  # the steady 25 s
    assert found["cache-miss-root-cause"]["status"] == "pass"
    telemetry = found["telemetry-latency"]["results"]["telemetry"]
    assert telemetry["delay_p95_s"] == pytest.approx(0.0, abs=0.01) and telemetry["n"] >= 25
    assert found["telemetry-latency"]["status"] == "pass"
    assert "monitoring delay" in found["telemetry-latency"]["results"]["definitions"]["telemetry"]


def test_a_switched_off_cache_fails_and_a_cold_one_warns(run_dir):
    write_metrics(run_dir, cache_on=False)
    found = verdicts(run_dir)
    cache = found["cache-miss-root-cause"]["results"]["platform_cache"]
    assert cache["hit_ratio"] == 0.0 and cache["hits"] == 0 and cache["bypass"] > 900
    assert found["cache-miss-root-cause"]["status"] == "fail"
    write_metrics(run_dir, hit_share=0.4)
    assert verdicts(run_dir)["cache-miss-root-cause"]["status"] == "warn"


def test_a_counter_three_seconds_late_fails_telemetry(run_dir):
    write_metrics(run_dir, lag_s=3.0)
    found = verdicts(run_dir)
    telemetry = found["telemetry-latency"]["results"]["telemetry"]
    # staleness is measured at scrape times 1 s apart: between lag - 1 s and lag
    assert 2.0 <= telemetry["delay_p95_s"] <= 3.01
    assert found["telemetry-latency"]["status"] == "fail"


def test_several_shop_workers_make_telemetry_unknown(run_dir):
    write_metrics(run_dir, pids=(1, 2))
    found = verdicts(run_dir)
    assert found["telemetry-latency"]["status"] == "unknown"
    assert "2 shop processes" in found["telemetry-latency"]["explanation"]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    (run_dir / "manifest.json").write_text(json.dumps({**manifest, "platform_workers": 4}))
    write_metrics(run_dir)
    found = verdicts(run_dir)
    assert found["telemetry-latency"]["status"] == "unknown"
    assert "4 worker processes" in found["telemetry-latency"]["explanation"]
    assert found["cache-miss-root-cause"]["status"] == "pass"  # per-process increases still add up


def test_failed_scrapes_are_skipped_and_a_bad_file_names_itself(run_dir):
    write_metrics(run_dir)
    path = run_dir / "platform" / "metrics.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[5:8, "error"] = "TimeoutError: timed out"
    frame.loc[5:8, ["pid", "requests_total"]] = ""
    frame.to_csv(path, index=False)
    assert verdicts(run_dir)["telemetry-latency"]["status"] == "pass"
    frame.loc[10, "cache_hits"] = "lots"
    frame.to_csv(path, index=False)
    with pytest.raises(InputError, match=r"metrics\.csv:12: column cache_hits: 'lots'"):
        judge_run(run_dir, targets_path=DEFAULT_TARGETS, write=False)
    frame.drop(columns=["pid"]).to_csv(path, index=False)
    with pytest.raises(InputError, match=r"metrics\.csv:1: missing column\(s\) pid"):
        judge_run(run_dir, targets_path=DEFAULT_TARGETS, write=False)


def test_counter_increase_treats_a_drop_as_a_reset():
    assert counter_increase(np.array([5, 7, 10, 2, 4])) == 5 + 4
    assert counter_increase(np.array([3.0])) == 0.0
    total, used = windowed_increase(np.array([0, 1, 2, 3]), np.array([1, 2, 1, 2]), np.array([10, 100, 15, 130]),
                                    [(0, 3)])
    assert (total, used) == (5 + 30, 4)


def test_staleness_is_zero_for_a_counter_that_shows_everything():
    done = np.array([1.0, 1.5, 2.2, 3.9])
    scrapes = np.array([1.0, 2.0, 3.0, 4.0])
    assert list(staleness_s(scrapes, np.array([1, 2, 3, 4]), done)) == [0, 0, 0, 0]
    # at 3.0 the counter shows 1 of the 3 done: the oldest missing (done at 1.5) is 1.5 s old
    assert staleness_s(scrapes, np.array([0, 1, 1, 4]), done) == pytest.approx([0.0, 0.5, 1.5, 0.0])
    assert telemetry_block(np.array([]))["delay_p95_s"] is None


def test_parse_shop_metrics_leaves_out_the_harness_and_gateway_requests():
    text = "\n".join([
        '# TYPE shop_http_requests counter',
        'shop_http_requests_total{route="GET /api/cart",status="200"} 7.0',
        'shop_http_requests_total{route="GET /metrics",status="200"} 50.0',
        'shop_http_requests_total{route="POST /admin/faults",status="200"} 2.0',
        'shop_http_requests_total{route="POST /api/payments/unionpay/notify",status="200"} 3.0',
        'shop_http_requests_created{route="GET /api/cart",status="200"} 1.7e9',
        '# TYPE shop_cache_lookups counter',
        'shop_cache_lookups_total{cache="product",result="hit"} 4.0',
        'shop_cache_lookups_total{cache="order",result="miss"} 2.0',
        '# TYPE shop_process_pid gauge', 'shop_process_pid 99.0',
        '# TYPE shop_http_request_duration_seconds histogram',
        'shop_http_request_duration_seconds_sum{route="GET /api/cart"} 1.25',
        'shop_http_request_duration_seconds_sum{route="GET /metrics"} 9.0',
        'shop_http_request_duration_seconds_sum{route="POST /api/payments/unionpay/notify"} 3.0',
        '# TYPE shop_db_seconds counter',
        'shop_db_seconds_total{part="sql"} 0.25', 'shop_db_seconds_total{part="read"} 0.5',
        'shop_db_seconds_total{part="pool_wait"} 0.125', ''])
    figures = parse_shop_metrics(text)
    assert figures["requests_total"] == 7 and figures["pid"] == 99
    assert figures["request_seconds"] == 1.25 + 3.0 and figures["db_seconds"] == 0.875 and figures["db_wait_seconds"] == 0.125
    assert figures["cache_hits"] == 4 and figures["cache_misses"] == 2 and figures["order_cache_misses"] == 2


def test_a_counter_that_misses_most_requests_is_unknown_not_late(run_dir):
    write_metrics(run_dir)
    path = run_dir / "platform" / "metrics.csv"
    frame = pd.read_csv(path)
    frame["requests_total"] = 17 + (frame["requests_total"] - 17) // 3  # one of three workers, always the same
    frame.to_csv(path, index=False)
    found = verdicts(run_dir)
    assert found["telemetry-latency"]["status"] == "unknown"
    assert "does not count every request" in found["telemetry-latency"]["explanation"]


def test_platform_time_gives_the_database_share_of_request_time(run_dir):
    write_metrics(run_dir)
    results = judge_run(run_dir, targets_path=DEFAULT_TARGETS, write=False)
    block = results["platform_time"]
    assert "platform_time" in results["definitions"]
    (stage,) = block["stages"]
    assert stage["stage"] == "100%" and stage["scrapes"] > 20
    assert stage["db_share"] == pytest.approx(0.25) and stage["db_wait_share"] == pytest.approx(0.05)
    assert stage["request_s"] == pytest.approx(2.0 * 25.0, rel=0.1)  # 2 s of request time per second, steady part


def test_a_metrics_file_from_before_the_time_columns_still_reads(run_dir):
    """Run directories written before request/db seconds were scraped: the cache figures stand,
    the time block says why it has nothing."""
    write_metrics(run_dir)
    path = run_dir / "platform" / "metrics.csv"
    frame = pd.read_csv(path)
    frame.drop(columns=["request_seconds", "db_seconds", "db_wait_seconds"]).to_csv(path, index=False)
    results = judge_run(run_dir, targets_path=DEFAULT_TARGETS, write=False)
    assert results["platform_cache"]["hit_ratio"] == pytest.approx(0.95, abs=0.01)
    assert results["platform_time"]["stages"][0]["db_share"] is None
    assert "shop_db_seconds_total" in results["platform_time"]["reason"]


def test_a_garbled_seconds_column_is_named(run_dir):
    write_metrics(run_dir)
    path = run_dir / "platform" / "metrics.csv"
    frame = pd.read_csv(path).astype({"db_seconds": object})
    frame.loc[4, "db_seconds"] = "lots"
    frame.to_csv(path, index=False)
    with pytest.raises(InputError, match=r"metrics.csv:6: column db_seconds: 'lots'"):
        judge_run(run_dir, targets_path=DEFAULT_TARGETS, write=False)


def test_time_block_without_request_time_has_no_share():
    assert time_block(0.0, 0.0, 0.0)["db_share"] is None
    # clipped: the background re-query job's SQL runs outside any request
    assert time_block(10.0, 12.0, 1.0)["db_share"] == 1.0
