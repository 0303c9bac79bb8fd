"""Latency histograms: a thin wrapper over the ``hdrhistogram`` package (module ``hdrh``).

Values are recorded in integer microseconds from 1 µs to 1 hour with 3 significant digits,
so any recorded value is known to within 1/1024 (< 0.1%) of itself. Merging is exact (counts
add). Percentiles use the nearest-rank rule (the smallest value v such that at least p% of
the samples are <= v), the same rule :func:`harness.core.stats.percentile_ms` applies to raw
samples, so histogram and raw percentiles differ only by the histogram's resolution.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 3600 * 1_000_000
SIGNIFICANT_DIGITS = 3


def new_histogram() -> HdrHistogram:
    """An empty histogram with the project's range (1 µs .. 1 h) and precision (3 digits)."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def clamp_us(value_us: float) -> int:
    """A value in µs rounded and clamped into the histogram's range (a 0 ms reply counts as 1 µs)."""
    return int(min(max(round(value_us), LOWEST_US), HIGHEST_US))


def record_ms(histogram: HdrHistogram, value_ms: float, count: int = 1) -> None:
    """Record a duration given in milliseconds (stored as µs)."""
    histogram.record_value(clamp_us(value_ms * 1000.0), count)


def from_values_ms(values_ms: Iterable[float]) -> HdrHistogram:
    """A histogram of the given durations in milliseconds."""
    histogram = new_histogram()
    for value in values_ms:
        record_ms(histogram, value)
    return histogram


def merge(histograms: Iterable[HdrHistogram]) -> HdrHistogram:
    """The exact sum of histograms (counts add; min and max are kept)."""
    total = new_histogram()
    for histogram in histograms:
        total.add(histogram)
    return total


def encode(histogram: HdrHistogram) -> str:
    """The histogram as an ``hdrh`` base64 string (as stored in histograms/<stage>.json)."""
    return histogram.encode().decode("ascii")


def decode(text: str | bytes) -> HdrHistogram:
    """A histogram from its ``hdrh`` base64 string; ValueError when the text is not one."""
    raw = text.encode("ascii") if isinstance(text, str) else text
    try:
        decoded = HdrHistogram.decode(raw)
    except Exception as error:  # hdrh raises assorted types (zlib.error, HdrCookieException...)
        raise ValueError(f"not an HDR histogram encoding: {error}") from error
    # Re-home into the project's range so histograms from any writer merge exactly.
    histogram = new_histogram()
    histogram.add(decoded)
    return histogram


def count(histogram: HdrHistogram) -> int:
    """How many values were recorded."""
    return int(histogram.get_total_count())


def _counts(histogram: HdrHistogram) -> np.ndarray:
    return np.ctypeslib.as_array(histogram.counts)[: histogram.counts_len]


def percentile_ms(histogram: HdrHistogram, percent: float) -> float | None:
    """The nearest-rank ``percent`` percentile (0 < percent <= 100) in ms; None when empty.

    Returns the highest value equivalent to the bucket holding the sample of that rank, so
    the answer is never below the exact sample percentile and at most 0.1% above it.
    """
    if not 0.0 < percent <= 100.0:
        raise ValueError(f"percentile must be in (0, 100], got {percent}")
    total = count(histogram)
    if total == 0:
        return None
    rank = nearest_rank(percent, total)
    cumulative = np.cumsum(_counts(histogram))
    index = int(np.searchsorted(cumulative, rank, side="left"))
    value_us = histogram.get_highest_equivalent_value(histogram.get_value_from_index(index))
    return min(value_us, histogram.get_max_value()) / 1000.0


def mean_ms(histogram: HdrHistogram) -> float | None:
    """The mean in ms (from bucket midpoints); None when empty."""
    if count(histogram) == 0:
        return None
    return histogram.get_mean_value() / 1000.0


def max_ms(histogram: HdrHistogram) -> float | None:
    """The largest recorded value in ms (to the histogram's resolution); None when empty."""
    if count(histogram) == 0:
        return None
    return histogram.get_max_value() / 1000.0


def nearest_rank(percent: float, n: int) -> int:
    """The 1-based rank of the nearest-rank percentile: ceil(percent/100 * n), at least 1.

    Rounded to 9 places first so that 95% of 20 is rank 19, not 20 through float noise.
    """
    return max(1, math.ceil(round(percent * n / 100.0, 9)))
