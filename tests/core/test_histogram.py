"""HDR histograms: percentiles within 0.1% of the exact ones, exact merges, round trips."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.core import histogram
from harness.core.stats import percentile_ms

# durations in µs from 1 µs to 1 h, as the recorder stores them
values_us = st.lists(st.integers(min_value=1, max_value=3_600_000_000), min_size=1, max_size=400)
percents = st.sampled_from([1.0, 25.0, 50.0, 90.0, 95.0, 99.0, 99.9, 100.0])


def _histogram_of_us(values):
    h = histogram.new_histogram()
    for value in values:
        h.record_value(value)
    return h


@settings(max_examples=150, deadline=None)
@given(values_us, percents)
def test_percentile_is_within_a_tenth_of_a_percent_of_the_exact_one(values, percent):
    exact_ms = percentile_ms(np.array(values, dtype=float) / 1000.0, percent)
    # the same nearest-rank rule as numpy's inverted_cdf, checked independently
    assert exact_ms == pytest.approx(np.percentile(np.array(values) / 1000.0, percent, method="inverted_cdf"))
    got_ms = histogram.percentile_ms(_histogram_of_us(values), percent)
    assert abs(got_ms - exact_ms) <= 0.001 * exact_ms


@settings(max_examples=60, deadline=None)
@given(values_us, values_us)
def test_merge_is_exact(first, second):
    merged = histogram.merge([_histogram_of_us(first), _histogram_of_us(second)])
    together = _histogram_of_us(first + second)
    assert histogram.count(merged) == len(first) + len(second)
    for percent in (50.0, 95.0, 99.0, 100.0):
        assert histogram.percentile_ms(merged, percent) == histogram.percentile_ms(together, percent)


@settings(max_examples=40, deadline=None)
@given(values_us)
def test_encode_decode_round_trip(values):
    original = _histogram_of_us(values)
    decoded = histogram.decode(histogram.encode(original))
    assert histogram.count(decoded) == len(values)
    assert histogram.percentile_ms(decoded, 95.0) == histogram.percentile_ms(original, 95.0)


def test_record_ms_clamps_into_range_and_reports_ms():
    h = histogram.from_values_ms([0.0, 0.5, 12.0, 10_000_000.0])
    assert histogram.count(h) == 4
    assert histogram.percentile_ms(h, 50.0) == pytest.approx(0.5)
    assert histogram.max_ms(h) == pytest.approx(3_600_000.0, rel=1e-3)


def test_empty_histogram_has_no_percentile():
    h = histogram.new_histogram()
    assert histogram.percentile_ms(h, 95.0) is None
    assert histogram.mean_ms(h) is None


def test_decode_rejects_garbage():
    with pytest.raises(ValueError, match="not an HDR histogram"):
        histogram.decode("bm90IGEgaGlzdG9ncmFt")


def test_percentile_must_be_in_range():
    with pytest.raises(ValueError, match="percentile must be in"):
        histogram.percentile_ms(histogram.from_values_ms([1.0]), 0.0)
