"""The report's aggregations over raw records (pure: frames in, frames out).

The per-window series are built by record_windows.SeriesBuilder from chunks (record_windows.series_of hands whole
frames over as chunks); tests/report/test_chunked.py checks they do not depend on the chunk size."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.report import record_windows, series, windowstats

T0 = 1_000_000.0


def _requests(rows: list[tuple[float, float, int, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["t_s", "response_ms", "ok", "error_kind"])


def _reduced(requests: pd.DataFrame | None = None, journeys: pd.DataFrame | None = None) -> record_windows.ReportSeries:
    return record_windows.series_of(_requests([]) if requests is None else requests,
                            pd.DataFrame() if journeys is None else journeys, T0)


def test_latency_windows_are_percentiles_of_each_5_s_window():
    # GIVEN 100 requests in the first window (1..100 ms) and one in the third
    rows = [(T0 + 0.04 * i, float(i + 1), 1, "") for i in range(100)] + [(T0 + 11.0, 7.0, 1, "")]
    windows = _reduced(_requests(rows)).latency
    assert list(windows.index) == [0.0, 10.0]  # an empty window is a gap, not a zero latency
    assert windows.loc[0.0, "n"] == 100
    assert windows.loc[0.0, "p50_ms"] == pytest.approx(np.percentile(np.arange(1, 101), 50))
    assert windows.loc[0.0, "p99_ms"] == pytest.approx(np.percentile(np.arange(1, 101), 99))
    assert windows.loc[10.0, "p95_ms"] == 7.0


def test_error_windows_count_failures_by_kind():
    rows = [(T0 + 1, 5.0, 0, "timeout"), (T0 + 2, 5.0, 0, "timeout"), (T0 + 6, 5.0, 0, "http_5xx"),
            (T0 + 7, 5.0, 1, ""), (T0 + 8, 5.0, 0, "")]
    table = _reduced(_requests(rows)).errors
    assert list(table.columns) == ["http_5xx", "timeout", "unknown"]
    assert table.loc[0.0, "timeout"] == 2 and table.loc[5.0, "http_5xx"] == 1 and table.loc[5.0, "unknown"] == 1


def _visits(intended: list[float], started: list[float | None], outcome: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"journey_id": [f"v{i}" for i in range(len(intended))],
                         "visit_id": [f"v{i}" for i in range(len(intended))], "name": "visit",
                         "intended_t_s": intended, "start_t_s": started, "outcome": outcome,
                         "duration_ms": np.nan, "from_intended_ms": np.nan, "flags": ""})


def test_throughput_counts_intended_started_and_dropped_and_scales_a_cut_window():
    # GIVEN 10 arrivals in [0,5), one dropped, and 2 in [5,6) where the run stopped at 6 s
    intended = [T0 + 0.5 * i for i in range(10)] + [T0 + 5.2, T0 + 5.6]
    started = [t + 0.01 for t in intended]
    started[3] = None
    outcome = ["completed"] * 12
    outcome[3] = "dropped"
    frame = series.throughput_windows(_reduced(journeys=_visits(intended, started, outcome)).window_counts, end_s=6.0)
    assert frame.loc[0.0, "intended_per_s"] == 2.0
    assert frame.loc[0.0, "achieved_per_s"] == pytest.approx(9 / 5)
    assert frame.loc[0.0, "dropped_per_s"] == pytest.approx(1 / 5)
    assert frame.loc[5.0, "intended_per_s"] == pytest.approx(2.0)  # 2 arrivals in the 1 s the run lasted


def test_start_delay_is_start_minus_intended():
    frame = _reduced(journeys=_visits([T0, T0 + 1], [T0 + 0.1, T0 + 1.3], ["completed"] * 2)).start_delay
    assert frame.loc[0.0, "max_ms"] == pytest.approx(300.0)


def test_funnel_counts_distinct_visitors_per_step():
    journeys = pd.DataFrame({
        "visit_id": ["a", "b", "c", "d", "a", "b", "a", "b", "b"],
        "name": ["visit", "visit", "visit", "visit", "cart", "cart", "checkout", "checkout", "checkout"],
        "outcome": ["completed", "completed", "failed", "dropped", "ok", "ok", "paid", "payment_failed", "paid"],
    }).assign(intended_t_s=T0, start_t_s=T0 + 0.1, duration_ms=50.0, from_intended_ms=150.0, flags="")
    assert _reduced(journeys=journeys).funnel == [("visits", 3), ("cart", 2), ("checkout", 2), ("paid", 2)]


def test_stage_spans_prefer_events_and_fall_back_to_the_plan():
    manifest = {"stages": [{"name": "100%", "start_offset_s": 0, "duration_s": 60, "ramp_s": 10},
                           {"name": "200%", "start_offset_s": 60, "duration_s": 60, "ramp_s": 10},
                           {"name": "300%", "start_offset_s": 120, "duration_s": 60, "ramp_s": 10}]}
    events = [{"t_s": T0 + 1.5, "kind": "stage_start", "stage": "100%"},
              {"t_s": T0 + 61.0, "kind": "stage_end", "stage": "100%"}]
    spans = series.stage_spans(manifest, events, T0, end_s=100.0)
    assert spans == [series.StageSpan("100%", 1.5, 61.0, 11.5), series.StageSpan("200%", 60.0, 100.0, 70.0)]


def test_fault_spans_from_the_fault_schedule_and_from_plain_knob_events():
    events = [
        {"t_s": T0 + 10, "kind": "fault", "fault_index": 0, "phase": "on", "label": "17% timeouts",
         "target": "gateway", "knob": "timeout_rate_before_commit", "value": 0.085},
        {"t_s": T0 + 10, "kind": "fault", "fault_index": 0, "phase": "on", "label": "17% timeouts",
         "target": "gateway", "knob": "timeout_rate_after_commit", "value": 0.085},
        {"t_s": T0 + 20, "kind": "fault", "fault_index": 0, "phase": "off", "label": "17% timeouts",
         "target": "gateway", "knob": "timeout_rate_before_commit", "value": 0.0},
        {"t_s": T0 + 15, "kind": "fault", "fault_index": 1, "phase": "on", "label": "kill-worker",
         "target": "process", "knob": "action", "value": "kill-worker"},
        {"t_s": T0 + 30, "kind": "fault", "target": "shop", "knob": "cache", "value": "off"},
        {"t_s": T0 + 40, "kind": "fault", "target": "shop", "knob": "latency_ms", "value": 200},
    ]
    spans = series.fault_spans(sorted(events, key=lambda e: e["t_s"]), T0, end_s=50.0)
    assert series.FaultSpan("17% timeouts", 10.0, 20.0) in spans
    assert series.FaultSpan("kill-worker", 15.0, None) in spans
    assert series.FaultSpan("shop.latency_ms=200", 40.0, 50.0) in spans  # never switched off
    assert len(spans) == 3  # "cache off" is a knob switched off, not a fault window


def test_memory_curve_sums_processes_per_role_and_leaves_out_the_generator():
    samples = pd.DataFrame({"t_s": [T0 + 0.2, T0 + 0.2, T0 + 0.2, T0 + 1.2],
                            "role": ["shop-worker", "shop-worker", "generator", "shop-worker"],
                            "rss_bytes": [100.0, 50.0, 999.0, 160.0]})
    curve = series.memory_curve(samples, T0, "rss_bytes")
    assert list(curve.columns) == ["shop-worker"]
    assert curve["shop-worker"].tolist() == [150.0, 160.0]


def test_theil_sen_intercept_matches_the_slope_given():
    x = np.arange(10.0)
    assert series.theil_sen_intercept(x, 3.0 + 2.0 * x, 2.0) == pytest.approx(3.0)


@pytest.mark.parametrize("chunk_rows", [1, 37, 10**9])
def test_window_percentiles_are_pandas_quantiles_to_the_bit_in_any_chunks(chunk_rows):
    # GIVEN 3,000 requests over 12 windows (two before t0): whole-µs times with ties, gaps (NaN),
    # zeros and a window of a single request, in no particular order
    rng = np.random.default_rng(11)
    t_s = T0 + rng.uniform(-10.0, 50.0, 3000)
    response_ms = np.round(rng.lognormal(3.0, 1.2, 3000), 3)
    response_ms[::7] = np.round(response_ms[::7])  # ties
    response_ms[::97] = np.nan
    response_ms[::301] = 0.0
    t_s[0], response_ms[0] = T0 + 57.0, 12.5  # alone in its window
    requests = pd.DataFrame({"t_s": t_s, "response_ms": response_ms, "ok": 1, "error_kind": ""})
    # WHEN they are reduced in chunks
    windows = record_windows.series_of(requests, pd.DataFrame(), T0, chunk_rows=chunk_rows).latency
    # THEN each window's n and percentiles are what pandas gives over all the rows at once
    grouped = requests.groupby(np.floor((requests["t_s"] - T0) / series.WINDOW_S) * series.WINDOW_S)["response_ms"]
    expected = pd.DataFrame({"n": grouped.size(), "p50_ms": grouped.quantile(0.50), "p95_ms": grouped.quantile(0.95),
                             "p99_ms": grouped.quantile(0.99)}).rename_axis("window_s")
    pd.testing.assert_frame_equal(windows, expected, check_exact=True)
    assert windows.loc[55.0, "n"] == 1 and windows.loc[55.0, "p99_ms"] == 12.5
    assert windows.index.min() == -10.0


def test_window_quantiles_keep_only_the_values_next_to_each_percentile():
    # GIVEN 200,000 distinct values in 10 windows
    rng = np.random.default_rng(2)
    windows, values = rng.integers(0, 10, 200_000), np.round(rng.lognormal(3.0, 0.5, 200_000), 3)
    quantiles = windowstats.WindowQuantiles((0.5, 0.95, 0.99))
    for start in range(0, values.size, 50_000):
        quantiles.count(windows[start:start + 50_000], values[start:start + 50_000])
    for start in range(0, values.size, 50_000):
        quantiles.gather(windows[start:start + 50_000], values[start:start + 50_000])
    # THEN the second pass kept a small share of them (the cells around p50, p95 and p99)
    kept = sum(cells.size for cells, _ in quantiles._gathered)
    assert kept < 0.15 * values.size
    got, by_q = quantiles.result()
    assert got.tolist() == list(range(10))
    assert by_q[0.95].tolist() == pd.Series(values).groupby(windows).quantile(0.95).tolist()


def test_window_quantiles_refuse_a_second_pass_that_differs_from_the_first():
    quantiles = windowstats.WindowQuantiles((0.5,))
    quantiles.count(np.zeros(3, dtype=np.int64), np.array([1.0, 2.0, 3.0]))
    quantiles.gather(np.zeros(2, dtype=np.int64), np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="second pass"):
        quantiles.result()


def test_funnel_visitors_seen_in_several_chunks_count_once_and_outcomes_add_up():
    # GIVEN visitor "a" in a cart row of one chunk and again in the next one, flags split by ";"
    journeys = pd.DataFrame({
        "visit_id": ["a", "a", "b", "a", "b"], "name": ["visit", "cart", "visit", "cart", "checkout"],
        "outcome": ["completed", "ok", "completed", "ok", "paid"],
        "flags": ["", "retry", "", "retry;sms", ""],
    }).assign(intended_t_s=T0, start_t_s=T0 + 0.1, duration_ms=50.0, from_intended_ms=150.0)
    reduced = record_windows.series_of(_requests([]), journeys, T0, chunk_rows=2)
    assert reduced.funnel == [("visits", 2), ("cart", 1), ("checkout", 1), ("paid", 1)]
    cart = next(row for row in reduced.outcomes if row["name"] == "cart")
    assert cart == {"name": "cart", "count": 2, "outcomes": {"completed": 0, "ok": 2, "paid": 0},
                    "flags": {"retry": 2, "sms": 1}}
