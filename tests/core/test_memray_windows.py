"""harness.core.memray_windows: window placement, the judged span, per-site comparison."""

from __future__ import annotations

import pytest

from harness.core import memray_windows as mw


def test_two_windows_early_and_late_in_the_steady_part():
    # the soak's steady part: 30 s ramp, then 1770 s
    first, last = mw.plan_windows(30.0, 1800.0)
    assert first.duration_s == last.duration_s == mw.MAX_WINDOW_S
    # a long steady part keeps a longer stretch before the first window: the memray-free reference
    assert first.start_offset_s == pytest.approx(30.0 + 1770.0 * mw.LEAD_SHARE)
    first, _ = mw.plan_windows(30.0, 3630.0)
    assert first.start_offset_s == 30.0 + mw.MAX_LEAD_S
    first, _ = mw.plan_windows(0.0, 200.0)
    assert first.start_offset_s == mw.LEAD_S
    assert last.end_offset_s == 1800.0 - mw.END_MARGIN_S
    # a short steady part gets short windows (an eighth of it) and a short lead (a tenth)
    first, last = mw.plan_windows(0.0, 100.0)
    assert first.duration_s == pytest.approx(12.5) and first.start_offset_s == pytest.approx(10.0)
    assert last.start_offset_s - first.end_offset_s - mw.SETTLE_S >= mw.MIN_JUDGED_S


def test_a_steady_part_too_short_for_two_windows_says_how_long_it_must_be():
    with pytest.raises(ValueError, match=r"too short for two memray windows of 5 s.*at least \d+ s"):
        mw.plan_windows(2.0, 20.0)
    with pytest.raises(ValueError, match="at least 5 s"):
        mw.plan_windows(0.0, 600.0, window_s=1.0)
    # the figure it names is enough
    need = float(str(pytest.raises(ValueError, mw.plan_windows, 0.0, 40.0, 10.0).value).rsplit("least ", 1)[1][:-2])
    mw.plan_windows(0.0, need + 1.0, 10.0)


def test_steady_span_from_the_manifests_stages():
    stages = [{"name": "100%", "start_offset_s": 0.0, "duration_s": 60.0, "ramp_s": 10.0},
              {"name": "300%", "start_offset_s": 60.0, "duration_s": 60.0, "ramp_s": 10.0}]
    assert mw.steady_span_offsets(stages) == (10.0, 120.0)
    with pytest.raises(ValueError):
        mw.steady_span_offsets([])


def test_the_judged_span_is_the_longest_stretch_outside_windows_and_their_settling():
    load = (1000.0, 1600.0)
    windows = [(1040.0, 1100.0), (1500.0, 1560.0)]
    assert mw.judged_span_t_s(load, windows, settle_s=5.0) == (1105.0, 1500.0)
    assert mw.judged_span_t_s(load, [], settle_s=5.0) == load
    # windows given out of order, or overlapping the load's edges
    assert mw.judged_span_t_s(load, [(1500.0, 1700.0), (900.0, 1100.0)], settle_s=5.0) == (1105.0, 1500.0)
    assert mw.judged_span_t_s(load, [(900.0, 1700.0)]) is None


def test_growth_per_hour_of_a_window():
    assert mw.growth_per_hour(1e6, 36.0) == pytest.approx(1e8)
    with pytest.raises(ValueError):
        mw.growth_per_hour(1.0, 0.0)


@pytest.mark.parametrize(("first", "last", "kind"), [
    (5e8, 5e8, "leak"),          # same pace all run long
    (5e8, 3e8, "leak"),          # at least half the first window's pace
    (5e8, 1e8, "slowing"),       # still grows, much slower
    (5e8, 0.0, "cache"),         # grew early, then stopped: filled
    (1e5, 2e5, "flat"),          # below the floor in both
    (0.0, 2e7, "leak"),          # grows only late: load-dependent or a late leak, it grows now
])
def test_classify_a_site(first, last, kind):
    assert mw.classify(first, last) == kind


def test_the_growing_floor_covers_requests_in_flight_at_a_windows_end():
    assert mw.growing_floor_bytes_per_hour([600.0]) == mw.GROWING_FLOOR_BYTES_PER_HOUR
    assert mw.growing_floor_bytes_per_hour([60.0, 12.0]) == pytest.approx(mw.IN_FLIGHT_BYTES * 300)
    # a site holding 0.28 MB at the end of a 12 s window (in flight) is not growing; the leak knob's 2.2 MB is
    rows = {r["site"]: r["kind"] for r in mw.compare_windows([{"duration_s": 12.0, "sites": {"f": 280_000, "k": 2.2e6}},
                                                              {"duration_s": 12.0, "sites": {"f": 280_000, "k": 2.2e6}}])}
    assert rows == {"f": "flat", "k": "leak"}


def test_compare_windows_ranks_the_site_that_still_grows_first_and_calls_a_filled_cache_a_cache():
    leak, cache, noise = ("retain", "leak.py", 19), ("remember", "cache.py", 7), ("call", "web.py", 104)
    windows = [
        {"duration_s": 30.0, "sites": {leak: 4_000_000, cache: 9_000_000, noise: 50_000}},
        {"duration_s": 30.0, "sites": {leak: 4_200_000, noise: 60_000}},
    ]
    rows = mw.compare_windows(windows, floor_bytes_per_hour=mw.GROWING_FLOOR_BYTES_PER_HOUR)
    assert [row["site"] for row in rows] == [leak, noise, cache]
    by_site = {row["site"]: row for row in rows}
    assert by_site[leak]["kind"] == "leak" and by_site[cache]["kind"] == "cache"
    assert by_site[leak]["growth_bytes_per_hour"] == pytest.approx(4.2e6 * 120)
    assert by_site[leak]["window_growth_bytes_per_hour"] == pytest.approx([4.0e6 * 120, 4.2e6 * 120])
    assert by_site[leak]["retained_bytes"] == 4_200_000 and by_site[cache]["retained_bytes"] == 0
    assert by_site[noise]["kind"] == "flat"  # 7.2 MB/h: in-flight requests, under the floor
    assert mw.compare_windows(windows, top=1)[0]["site"] == leak
    assert {r["site"]: r["kind"] for r in mw.compare_windows(windows)}[cache] == "cache"  # the default floor


def test_one_window_ranks_but_does_not_classify_and_bad_windows_are_refused():
    rows = mw.compare_windows([{"duration_s": 10.0, "sites": {"a": 10, "b": 20}}])
    assert [r["site"] for r in rows] == ["b", "a"] and rows[0]["kind"] is None
    assert mw.compare_windows([]) == []
    with pytest.raises(ValueError, match="window 2: duration_s"):
        mw.compare_windows([{"duration_s": 10.0, "sites": {}}, {"duration_s": 0, "sites": {}}])


def test_cost_segments_cut_the_steady_part_at_the_windows():
    segments = mw.cost_segments_t_s((100.0, 1000.0), [(700.0, 760.0), (200.0, 260.0)], settle_s=5.0)
    assert segments == [(mw.REFERENCE_SEGMENT, 100.0, 200.0), ("window 1", 200.0, 260.0),
                        ("between windows 1 and 2", 265.0, 700.0), ("window 2", 700.0, 760.0),
                        ("after the windows", 765.0, 1000.0)]
    # a window at the very start leaves no reference; one past the end is cut at it
    segments = mw.cost_segments_t_s((100.0, 300.0), [(100.0, 150.0), (280.0, 340.0)], settle_s=5.0)
    assert [name for name, *_ in segments] == ["window 1", "between windows 1 and 2", "window 2"]
    assert segments[-1] == ("window 2", 280.0, 300.0)
    assert mw.cost_segments_t_s((0.0, 10.0), []) == []


def test_cost_per_request_against_the_stretch_before_the_windows():
    rows = [mw.segment_cost(mw.REFERENCE_SEGMENT, (0.0, 100.0), 3.0, 1000),
            mw.segment_cost("window 1", (100.0, 160.0), 4.2, 600),
            mw.segment_cost("between windows 1 and 2", (165.0, 265.0), 3.3, 1000),
            mw.segment_cost("window 2", (265.0, 325.0), None, 600),
            mw.segment_cost("after the windows", (330.0, 340.0), 0.1, 0)]
    assert rows[0]["cpu_ms_per_request"] == pytest.approx(3.0) and rows[0]["requests_per_s"] == pytest.approx(10.0)
    assert rows[3]["cpu_ms_per_request"] is None and rows[4]["cpu_ms_per_request"] is None
    versus = mw.cost_vs_reference(rows)
    assert versus == {"window 1": pytest.approx(4.2 / 0.6 / 3.0 - 1), "between windows 1 and 2": pytest.approx(0.1)}
    assert mw.cost_vs_reference(rows[1:]) == {}  # no reference: nothing is compared


def test_cpu_seconds_in_a_span_from_psutil_samples():
    from harness.core.platform_stats import cpu_seconds_in

    # two processes sampled each second: one at 50% of a core, one at 100%
    t_s = [0.0, 1.0, 2.0, 3.0, 4.0] * 2
    pid = [1] * 5 + [2] * 5
    pct = [0.0, 50.0, 50.0, 50.0, 50.0, 0.0, 100.0, 100.0, 100.0, 100.0]
    assert cpu_seconds_in(t_s, pid, pct, 1.0, 3.0) == pytest.approx(2 * 0.5 + 2 * 1.0)
    # a span cutting sample intervals counts their overlap
    assert cpu_seconds_in(t_s, pid, pct, 0.5, 1.5) == pytest.approx(1.0 * 0.5 + 1.0 * 1.0)
    assert cpu_seconds_in(t_s, pid, pct, 10.0, 20.0) is None
    assert cpu_seconds_in([0.0], [1], [10.0], 0.0, 1.0) is None
