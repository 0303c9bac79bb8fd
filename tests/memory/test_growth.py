"""Growth estimation (harness.core.growth) on synthetic series with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.core import growth

HOUR_S = 3600.0


def ar1_noise(rng: np.random.Generator, n: int, rho: float, sd_bytes: float) -> np.ndarray:
    """Autocorrelated noise, as memory readings have (allocator arenas, GC generations)."""
    out = np.empty(n)
    x = 0.0
    for k in range(n):
        x = rho * x + rng.normal(0.0, sd_bytes)
        out[k] = x
    return out


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rate_gb_per_h=st.floats(0.2, 3.0), rho=st.floats(0.0, 0.8), seed=st.integers(0, 10_000))
def test_linear_growth_is_recovered_and_the_interval_contains_it(rate_gb_per_h, rho, seed):
    # GIVEN 5 minutes at 1 Hz of linear growth in autocorrelated noise (sd 0.3 MB)
    rng = np.random.default_rng(seed)
    t_s = np.arange(300.0) + 1.7e9
    rate = rate_gb_per_h * 1e9
    bytes_ = 3e8 + rate / HOUR_S * (t_s - t_s[0]) + ar1_noise(rng, t_s.size, rho, 3e5)
    # WHEN estimated
    estimate = growth.estimate_growth(t_s, bytes_, seed=seed)
    # THEN the slope is within 10% and the interval is not absurdly wide
    assert estimate.growth_bytes_per_hour == pytest.approx(rate, rel=0.10)
    assert estimate.ci_low_bytes_per_hour < estimate.growth_bytes_per_hour < estimate.ci_high_bytes_per_hour
    assert estimate.ci_high_bytes_per_hour - estimate.ci_low_bytes_per_hour < 0.5 * rate
    assert not estimate.plateau
    assert not estimate.ci_contains_zero


def test_interval_coverage_is_near_nominal_for_autocorrelated_noise():
    # GIVEN 30 series of linear growth in strongly autocorrelated noise (rho 0.7)
    rng = np.random.default_rng(7)
    t_s = np.arange(300.0)
    rate = 5e8
    covered = 0
    for seed in range(30):
        bytes_ = 2e8 + rate / HOUR_S * t_s + ar1_noise(rng, t_s.size, 0.7, 1e6)
        estimate = growth.estimate_growth(t_s, bytes_, seed=seed, n_boot=200)
        covered += estimate.ci_low_bytes_per_hour <= rate <= estimate.ci_high_bytes_per_hour
    # THEN the 95% interval covers the true rate in (nearly) 95% of them; an interval that
    # ignored the autocorrelation would cover far fewer
    assert covered >= 25  # 83%: binomial slack for 30 draws


@pytest.mark.parametrize("seed", range(5))
def test_pure_noise_interval_contains_zero(seed):
    rng = np.random.default_rng(seed)
    t_s = np.arange(300.0)
    bytes_ = 4e8 + ar1_noise(rng, t_s.size, 0.6, 5e5)
    estimate = growth.estimate_growth(t_s, bytes_, seed=seed)
    assert estimate.ci_contains_zero
    assert abs(estimate.growth_bytes_per_hour) < 1e8


@pytest.mark.parametrize("fill_time_constant_s", [20.0, 40.0, 60.0])
def test_saturating_cache_is_a_plateau_and_not_a_leak(fill_time_constant_s):
    # GIVEN a cache that fills 50 MB with time constant tau and then stops
    rng = np.random.default_rng(int(fill_time_constant_s))
    t_s = np.arange(300.0)
    bytes_ = 2e8 + 5e7 * (1 - np.exp(-t_s / fill_time_constant_s)) + ar1_noise(rng, t_s.size, 0.5, 3e5)
    estimate = growth.estimate_growth(t_s, bytes_)
    # THEN growth stopped is flagged (or was cut as warm-up) and the judged rate is under 0.1 GB/h
    assert estimate.plateau or estimate.warmup_s > 0
    assert estimate.ci_low_bytes_per_hour < 1e8
    assert estimate.growth_bytes_per_hour < 1e8


def test_plateau_reports_the_rate_after_the_knee_not_the_filling_rate():
    # GIVEN memory that grows fast for 250 s (a cache filling, longer than any warm-up cut: at
    # most a third of the run) and is flat for the last 150 s
    rng = np.random.default_rng(3)
    t_s = np.arange(400.0)
    bytes_ = 1e8 + np.minimum(t_s, 250.0) * 2e5 + rng.normal(0, 2e5, t_s.size)
    estimate = growth.estimate_growth(t_s, bytes_)
    assert estimate.plateau
    assert estimate.first_part_bytes_per_hour > 5e8
    assert abs(estimate.growth_bytes_per_hour) < 5e7
    assert estimate.ci_contains_zero


def test_warmup_is_detected_near_the_knee_not_by_a_fixed_time():
    # GIVEN a steep 40 s warm-up (startup allocations) followed by slow linear growth
    rng = np.random.default_rng(11)
    t_s = np.arange(300.0)
    slow = 2e8 / HOUR_S
    bytes_ = 1e8 + np.where(t_s < 40, t_s * 1e6, 40e6) + slow * t_s + rng.normal(0, 2e5, t_s.size)
    estimate = growth.estimate_growth(t_s, bytes_)
    assert 30.0 <= estimate.warmup_s <= 60.0
    assert estimate.growth_bytes_per_hour == pytest.approx(2e8, rel=0.25)
    # AND a series without a warm-up loses nothing
    flat_start = 1e8 + slow * t_s + rng.normal(0, 2e5, t_s.size)
    assert growth.estimate_growth(t_s, flat_start).warmup_s == 0.0


def test_same_data_same_seed_same_interval():
    rng = np.random.default_rng(5)
    t_s = np.arange(120.0)
    bytes_ = 1e8 + 1e3 * t_s + ar1_noise(rng, t_s.size, 0.5, 1e5)
    first = growth.estimate_growth(t_s, bytes_, seed=42)
    second = growth.estimate_growth(t_s, bytes_, seed=42)
    assert first == second


def test_minimum_run_length_grows_with_noise():
    rng = np.random.default_rng(9)
    t_s = np.arange(300.0)
    quiet = growth.estimate_growth(t_s, 1e8 + ar1_noise(rng, 300, 0.5, 1e5))
    noisy = growth.estimate_growth(t_s, 1e8 + ar1_noise(rng, 300, 0.5, 2e6))
    assert noisy.min_duration_s_to_detect > quiet.min_duration_s_to_detect
    # the T^(-3/2) law: 20x the noise needs about 20^(2/3) = 7.4x the steady time
    ratio = (noisy.min_duration_s_to_detect - noisy.warmup_s) / (quiet.min_duration_s_to_detect - quiet.warmup_s)
    assert 3.0 < ratio < 15.0


def test_minimum_run_length_extrapolation_is_exact_for_the_law():
    # an interval of +-1e8 B/h measured over 100 s: SE = 1e8/1.96; to reach SE = 1e8/2.80 needs
    # (2.80/1.96)^(2/3) times longer
    needed = growth.min_duration_s(100.0, -1e8, 1e8, 1e8, 0.95, floor_s=1.0)
    assert needed == pytest.approx(100.0 * ((1.959964 + 0.8416) / 1.959964) ** (2 / 3), rel=1e-4)


def test_long_series_are_binned_and_still_right():
    rng = np.random.default_rng(2)
    t_s = np.arange(0.0, 8 * HOUR_S, 1.0)  # an 8-hour soak at 1 Hz
    bytes_ = 5e8 + 1e8 / HOUR_S * t_s + rng.normal(0, 1e6, t_s.size)
    estimate = growth.estimate_growth(t_s, bytes_, n_boot=100)
    assert estimate.growth_bytes_per_hour == pytest.approx(1e8, rel=0.02)
    assert estimate.total_duration_s == pytest.approx(8 * HOUR_S - 1)


@pytest.mark.parametrize(("t_s", "values", "message"), [
    ([0, 1, 2], [1, 2, 3], "at least 8 samples"),
    (list(range(10)), list(range(9)), "equal length"),
    (list(range(10)), [1.0] * 9 + [math.nan], "finite"),
    ([0, 1, 2, 3, 3, 5, 6, 7, 8, 9], list(range(10)), "strictly increasing"),
])
def test_bad_series_are_refused_with_the_reason(t_s, values, message):
    with pytest.raises(ValueError, match=message):
        growth.estimate_growth(t_s, values)


def test_bad_confidence_is_refused():
    with pytest.raises(ValueError, match="confidence"):
        growth.estimate_growth(np.arange(20.0), np.arange(20.0), confidence=1.5)


def test_core_does_no_io_imports():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(growth))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)
                for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])}
    assert imported <= {"__future__", "math", "dataclasses", "numpy", "scipy"}


@settings(max_examples=5, deadline=None)
@given(shift_s=st.floats(0, 2e9), scale=st.floats(0.5, 20.0), offset_bytes=st.floats(0, 1e10))
def test_estimate_is_shift_and_scale_equivariant(shift_s, scale, offset_bytes):
    # starting the clock elsewhere or counting memory in other units changes nothing but the units
    rng = np.random.default_rng(1)
    t_s = np.arange(100.0)
    bytes_ = 1e8 + 2e4 * t_s + ar1_noise(rng, t_s.size, 0.5, 2e5)
    base = growth.estimate_growth(t_s, bytes_, n_boot=100)
    moved = growth.estimate_growth(t_s + shift_s, bytes_ * scale + offset_bytes, n_boot=100)
    assert moved.growth_bytes_per_hour == pytest.approx(base.growth_bytes_per_hour * scale, rel=1e-3)
    assert moved.ci_low_bytes_per_hour == pytest.approx(base.ci_low_bytes_per_hour * scale, rel=1e-2)
    assert moved.warmup_s == pytest.approx(base.warmup_s, abs=1e-3)


@pytest.mark.parametrize(("first", "last", "expected"), [
    ((3e8, 2e8, 4e8), (0.0, -2e8, 2e8), True),  # clear drop, noisy tail: a plateau
    ((3e8, 2e8, 4e8), (2.5e8, 1.5e8, 3.5e8), False),  # same rate: no plateau
    ((3e8, -1e8, 7e8), (0.0, -2e8, 2e8), False),  # early growth not clearly above zero
    ((3e8, 1e8, 5e8), (1e8, -8e8, 1e9), False),  # tail too noisy to say the drop is real
])
def test_growth_slowed_needs_a_real_early_rise_and_a_significant_drop(first, last, expected):
    assert growth.growth_slowed(*first, *last, confidence=0.95) is expected
