"""The report's aggregations over raw records (pure: frames in, frames out)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.report import series

T0 = 1_000_000.0


def _requests(rows: list[tuple[float, float, int, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["t_s", "response_ms", "ok", "error_kind"])


def test_latency_windows_are_percentiles_of_each_5_s_window():
    # GIVEN 100 requests in the first window (1..100 ms) and one in the third
    rows = [(T0 + 0.04 * i, float(i + 1), 1, "") for i in range(100)] + [(T0 + 11.0, 7.0, 1, "")]
    windows = series.latency_windows(_requests(rows), T0)
    assert list(windows.index) == [0.0, 10.0]  # an empty window is a gap, not a zero latency
    assert windows.loc[0.0, "n"] == 100
    assert windows.loc[0.0, "p50_ms"] == pytest.approx(np.percentile(np.arange(1, 101), 50))
    assert windows.loc[0.0, "p99_ms"] == pytest.approx(np.percentile(np.arange(1, 101), 99))
    assert windows.loc[10.0, "p95_ms"] == 7.0


def test_error_windows_count_failures_by_kind():
    rows = [(T0 + 1, 5.0, 0, "timeout"), (T0 + 2, 5.0, 0, "timeout"), (T0 + 6, 5.0, 0, "http_5xx"),
            (T0 + 7, 5.0, 1, ""), (T0 + 8, 5.0, 0, "")]
    table = series.error_windows(_requests(rows), T0)
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
    frame = series.throughput_windows(_visits(intended, started, outcome), _requests([]), T0, end_s=6.0)
    assert frame.loc[0.0, "intended_per_s"] == 2.0
    assert frame.loc[0.0, "achieved_per_s"] == pytest.approx(9 / 5)
    assert frame.loc[0.0, "dropped_per_s"] == pytest.approx(1 / 5)
    assert frame.loc[5.0, "intended_per_s"] == pytest.approx(2.0)  # 2 arrivals in the 1 s the run lasted


def test_start_delay_is_start_minus_intended():
    frame = series.start_delay_windows(_visits([T0, T0 + 1], [T0 + 0.1, T0 + 1.3], ["completed"] * 2), T0)
    assert frame.loc[0.0, "max_ms"] == pytest.approx(300.0)


def test_funnel_counts_distinct_visitors_per_step():
    journeys = pd.DataFrame({
        "visit_id": ["a", "b", "c", "d", "a", "b", "a", "b", "b"],
        "name": ["visit", "visit", "visit", "visit", "cart", "cart", "checkout", "checkout", "checkout"],
        "outcome": ["completed", "completed", "failed", "dropped", "ok", "ok", "paid", "payment_failed", "paid"],
    })
    assert series.funnel(journeys) == [("visits", 3), ("cart", 2), ("checkout", 2), ("paid", 2)]


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
