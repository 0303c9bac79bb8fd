"""Known cases for a fault's effect: availability windows and time to recover."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.core.recovery import SecondCounts, fault_effect, recovery_moment_t_s


def series(spec):
    """spec: list of (ok, failed) per second from t=100."""
    return [SecondCounts(100 + i, ok, failed, {"connection": failed} if failed else {})
            for i, (ok, failed) in enumerate(spec)]


def test_kill_dips_then_recovers_after_hold():
    # GIVEN 10 healthy seconds, a kill at t=110 that fails 3 seconds, then healthy again
    data = series([(10, 0)] * 10 + [(2, 8)] * 3 + [(10, 0)] * 10)
    # WHEN the effect of the instantaneous fault is computed
    effect = fault_effect(data, 110.0, 110.0, availability_target=0.99, hold_s=5)
    # THEN the outage is the three failing seconds and recovery starts at 113
    assert effect["availability_before"] == 1.0
    assert effect["availability_during"] == pytest.approx(6 / 30)
    assert effect["requests_during"] == 30
    assert effect["recovered_at_t_s"] == 113 and effect["time_to_recover_s"] == 3.0
    assert effect["availability_after"] == 1.0 and effect["requests_after"] == 100
    assert effect["errors_by_kind"] == {"connection": 24}


def test_windowed_fault_recovery_counts_from_its_end():
    data = series([(10, 0)] * 5 + [(8, 2)] * 5 + [(9, 1)] * 2 + [(10, 0)] * 8)
    effect = fault_effect(data, 105.0, 110.0, availability_target=0.95, hold_s=3)
    assert effect["availability_during"] == pytest.approx(40 / 50)
    assert effect["recovered_at_t_s"] == 112 and effect["time_to_recover_s"] == 2.0
    # after = from the window's end, the slow recovery included
    assert effect["availability_after"] == pytest.approx((18 + 80) / 100)
    assert effect["errors_by_kind"] == {"connection": 12}


def test_never_recovered_when_data_ends_first():
    data = series([(10, 0)] * 3 + [(0, 10)] * 5 + [(10, 0)] * 2)
    effect = fault_effect(data, 103.0, 103.0, hold_s=5)
    assert effect["recovered"] is False and effect["time_to_recover_s"] is None
    assert effect["availability_during"] == pytest.approx(20 / 70)
    assert effect["availability_after"] is None


def test_silent_seconds_break_the_streak():
    data = series([(10, 0)] * 3) + [SecondCounts(104 + i, 10, 0) for i in range(2)] + \
        [SecondCounts(107 + i, 10, 0) for i in range(5)]
    assert recovery_moment_t_s(data, 103.0, 0.99, 3) == 107


def test_since_and_until_bound_before_and_after():
    data = series([(0, 10)] * 2 + [(10, 0)] * 3 + [(0, 10)] * 5)
    effect = fault_effect(data, 103.0, 103.0, hold_s=1, since_t_s=102, until_t_s=105)
    assert effect["requests_before"] == 10 and effect["availability_before"] == 1.0
    assert effect["requests_during"] == 0 and effect["requests_after"] == 20 and effect["availability_after"] == 1.0


def test_outage_runs_past_the_next_fault_until_recovery():
    # a kill at 101, a restart at 104, healthy from 106: the kill's outage lasts to 106
    data = series([(10, 0)] + [(0, 10)] * 5 + [(10, 0)] * 4)
    effect = fault_effect(data, 101.0, 101.0, hold_s=2, until_t_s=104)
    assert effect["recovered_at_t_s"] == 106 and effect["time_to_recover_s"] == 5.0
    assert effect["requests_during"] == 50 and effect["errors_by_kind"] == {"connection": 50}
    assert effect["requests_after"] == 0 and effect["availability_after"] is None


def test_no_requests_before_gives_none():
    effect = fault_effect(series([(10, 0)] * 3), 100.0, 100.0, hold_s=1)
    assert effect["availability_before"] is None and effect["requests_before"] == 0
    assert effect["time_to_recover_s"] == 0.0


@pytest.mark.parametrize(("start", "end", "target", "hold", "message"), [
    (10.0, 5.0, 0.99, 5, "ends"),
    (1.0, 2.0, 99.0, 5, "fraction"),
    (1.0, 2.0, 0.99, 0, "hold_s"),
])
def test_bad_arguments_are_named(start, end, target, hold, message):
    with pytest.raises(ValueError, match=message):
        fault_effect(series([(1, 0)] * 10), start, end, availability_target=target, hold_s=hold)


@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), min_size=1, max_size=40),
       st.integers(0, 39), st.integers(0, 5), st.integers(1, 6))
def test_windows_partition_the_requests(spec, start_i, length, hold):
    data = series(spec)
    start = 100 + start_i
    effect = fault_effect(data, float(start), float(start + length), hold_s=hold)
    total = sum(ok + failed for ok, failed in spec)
    assert effect["requests_before"] + effect["requests_during"] + effect["requests_after"] == total
    for key in ("availability_before", "availability_during", "availability_after"):
        assert effect[key] is None or 0.0 <= effect[key] <= 1.0
    if effect["recovered"]:
        s = effect["recovered_at_t_s"]
        window = [c for c in data if s <= c.second_t_s < s + hold]
        assert len(window) == hold and all(c.total and c.ok / c.total >= 0.99 for c in window)
