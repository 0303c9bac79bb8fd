"""The intended arrival schedule (open model)."""

from __future__ import annotations

import pytest

from harness.config.profile import parse_profile
from loadtests.arrivals import cumulative_journeys, intended_arrivals


def profile(arrivals="uniform", seed=1):
    return parse_profile({
        "profile": {"name": "t", "nominal_journeys_per_s": 4.0, "arrivals": arrivals, "seed": seed},
        "stages": [{"load_factor": 1.0, "duration_s": 10.0, "ramp_s": 2.0},
                   {"load_factor": 3.0, "duration_s": 10.0, "ramp_s": 0.0}],
    }, "t.toml")


def test_cumulative_count_follows_ramps():
    p = profile()
    assert cumulative_journeys(p, 2.0) == pytest.approx(4.0)       # ramp 0 -> 1 over 2 s at 4/s
    assert cumulative_journeys(p, 10.0) == pytest.approx(4.0 + 32.0)
    assert cumulative_journeys(p, 20.0) == pytest.approx(36.0 + 120.0)
    assert cumulative_journeys(p, 99.0) == cumulative_journeys(p, 20.0)


def test_uniform_arrivals_are_exact_and_labelled():
    arrivals = list(intended_arrivals(profile()))
    assert len(arrivals) == 156
    offsets = [a.offset_s for a in arrivals]
    assert offsets == sorted(offsets) and offsets[-1] < 20.0
    assert sum(a.stage == "300%" for a in arrivals) == 120
    assert all(a.in_ramp == (a.offset_s < 2.0) for a in arrivals)
    steady = [a.offset_s for a in arrivals if a.stage == "300%"]
    gaps = {round(b - a, 9) for a, b in zip(steady, steady[1:], strict=False)}
    assert gaps == {round(1 / 12, 9)}


def test_workers_share_the_load_exactly_when_uniform():
    whole = [a.offset_s for a in intended_arrivals(profile())]
    parts = [a.offset_s for i in range(3) for a in intended_arrivals(profile(), process_index=i, process_count=3)]
    assert sorted(parts) == pytest.approx(whole)


def test_poisson_is_seeded_and_near_the_rate():
    first = [a.offset_s for a in intended_arrivals(profile("poisson", seed=7))]
    again = [a.offset_s for a in intended_arrivals(profile("poisson", seed=7))]
    other = [a.offset_s for a in intended_arrivals(profile("poisson", seed=8))]
    assert first == again and first != other
    assert 156 - 4 * 156**0.5 < len(first) < 156 + 4 * 156**0.5


def test_bad_process_index():
    with pytest.raises(ValueError):
        list(intended_arrivals(profile(), process_index=2, process_count=2))
