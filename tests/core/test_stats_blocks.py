"""Sample statistics and the time-block bootstrap."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.core import blocks
from harness.core.stats import grouped_summaries, summarize


@settings(max_examples=80, deadline=None)
@given(st.lists(st.floats(min_value=0.001, max_value=1e6), min_size=1, max_size=300))
def test_summary_uses_nearest_rank_percentiles(values):
    s = summarize(np.array(values))
    for name, percent in (("p50_ms", 50), ("p95_ms", 95), ("p99_ms", 99)):
        assert getattr(s, name) == np.percentile(values, percent, method="inverted_cdf")
    assert s.max_ms == max(values)
    assert s.mean_ms == pytest.approx(np.mean(values))
    assert s.count == len(values)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.floats(min_value=0.0, max_value=1e5)), max_size=200))
def test_grouped_summaries_equal_one_summary_per_group(rows):
    codes = np.array([c for c, _ in rows], dtype=np.int64)
    values = np.array([v for _, v in rows], dtype=float)
    grouped = grouped_summaries(codes, values, 5)
    for code in range(5):
        got, expected = grouped[code], summarize(values[codes == code])
        assert (got.count, got.p50_ms, got.p95_ms, got.p99_ms, got.max_ms) == (
            expected.count, expected.p50_ms, expected.p95_ms, expected.p99_ms, expected.max_ms)
        if expected.count:
            assert got.mean_ms == pytest.approx(expected.mean_ms)  # summation order may differ


def _stage(rng, seconds=60, per_s=50, level_ms=100.0, drift=None):
    t = np.sort(rng.uniform(0, seconds, seconds * per_s))
    base = level_ms if drift is None else level_ms + drift[np.floor(t / 5).astype(int)]
    return t, base * rng.lognormal(0, 0.3, t.size)


def test_p95_interval_covers_the_true_value_for_independent_samples():
    rng = np.random.default_rng(7)
    true_p95 = 100.0 * np.exp(0.3 * 1.6448536)  # lognormal quantile
    covered = 0
    for _ in range(20):
        t, v = _stage(rng)
        ci = blocks.statistic_intervals(v, blocks.block_ids(t, 0.0, 3.0), rng, percents=(95.0,), replicates=400)
        covered += ci["p95"][0] <= true_p95 <= ci["p95"][1]
    assert covered >= 16  # nominal 95%: 19 of 20 expected


def test_blocks_widen_the_interval_when_neighbours_are_correlated():
    rng = np.random.default_rng(3)
    drift = rng.normal(0, 25, 20)  # slow swings of ±25 ms every 5 s
    t, v = _stage(rng, drift=drift)
    by_block = blocks.statistic_intervals(v, blocks.block_ids(t, 0.0, 5.0), np.random.default_rng(1), (95.0,))
    by_request = blocks.statistic_intervals(v, np.arange(v.size), np.random.default_rng(1), (95.0,))
    width = lambda ci: ci["p95"][1] - ci["p95"][0]  # noqa: E731
    assert width(by_block) > 2 * width(by_request)


def test_difference_interval_finds_a_real_shift_and_no_shift():
    rng = np.random.default_rng(11)
    t, v = _stage(rng)
    t2, v2 = _stage(rng)
    ids, ids2 = blocks.block_ids(t, 0, 3.0), blocks.block_ids(t2, 0, 3.0)
    same = blocks.difference_interval(v, ids, v2, ids2, rng)
    shifted = blocks.difference_interval(v, ids, v2 + 30.0, ids2, rng)
    assert same[0] < 0 < same[1]
    assert shifted[0] < 30.0 < shifted[1] and shifted[0] > 0


def test_too_few_blocks_give_no_interval():
    rng = np.random.default_rng(0)
    values = rng.lognormal(3, 0.5, 1000)
    assert blocks.statistic_intervals(values, np.arange(1000) % 4, rng) is None


def test_same_seed_same_interval():
    t, v = _stage(np.random.default_rng(5))
    ids = blocks.block_ids(t, 0, 3.0)
    first = blocks.statistic_intervals(v, ids, np.random.default_rng(42))
    again = blocks.statistic_intervals(v, ids, np.random.default_rng(42))
    assert first == again


def test_bootstrap_percentiles_are_observed_values_within_a_tenth_of_a_percent():
    rng = np.random.default_rng(9)
    t, v = _stage(rng)
    table = blocks.block_table(v, blocks.block_ids(t, 0, 3.0))
    reps = blocks.replicate_statistics(table, rng, (95.0,), 50)
    nearest = np.array([np.min(np.abs(v - r) / r) for r in reps["p95"]])
    assert np.all(nearest <= 0.001)


@pytest.mark.parametrize(("window_s", "block_s"), [(5.0, 1.0), (60.0, 3.0), (3600.0, 10.0),
                                                     (86_400.0, 240.0)])
def test_block_length(window_s, block_s):
    assert blocks.block_length_s(window_s) == block_s


def test_one_block_bootstrap_serves_results_and_comparisons():
    # the comparison's block rule and resampling are harness.core.blocks', not a second copy
    from harness.core import bench_compare, compare

    assert compare.auto_block_s is blocks.block_length_s and compare.MIN_BLOCKS == blocks.MIN_BLOCKS
    assert not any(hasattr(m, name) for m in (compare, bench_compare)
                   for name in ("_block_index", "_block_weights", "_percentile_replicates"))
    # a table over fixed block codes keeps an empty block as a row, so it lines up with the weights
    t = np.array([0.5, 0.7, 2.5, 4.1, 4.2, 6.3])
    ids = blocks.dense_block_ids(t, 1.0)
    assert ids.tolist() == [0, 0, 1, 2, 2, 3]  # counted from the first sample, gaps renumbered away
    table = blocks.block_table(np.array([10.0, 20.0, 30.0]), np.array([0, 0, 3]), n_blocks=4)
    assert table.n_blocks == 4 and table.block_counts.tolist() == [2.0, 0.0, 0.0, 1.0]
    weights = np.array([[1.0, 1.0, 1.0, 1.0], [2.0, 0.0, 0.0, 2.0]])
    stats = blocks.weighted_statistics(table, weights, (50.0,))
    assert stats["p50"].tolist() == [20.0, 20.0] and stats["mean"][0] == 20.0
