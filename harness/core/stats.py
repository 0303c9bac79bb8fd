"""Summary statistics of sample sets: mean, nearest-rank percentiles, max.

Nearest-rank: the p-th percentile of n samples is the sample of rank ceil(p/100 * n) in
ascending order (numpy's ``method="inverted_cdf"``). It is always a value that was observed,
and it is the rule :mod:`harness.core.histogram` applies, so raw and histogram figures agree
to the histogram's resolution.

:func:`grouped_summaries` does the same for many groups at once (every stage × endpoint of a
million-request run) with one sort, so analysis stays fast.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from harness.core.histogram import nearest_rank

PERCENTS = (50.0, 95.0, 99.0)


@dataclass(frozen=True)
class Summary:
    """Statistics of a set of durations in ms (all None when the set is empty)."""

    count: int
    mean_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None

    def as_dict(self) -> dict:
        """Plain dict with the field names results.json uses."""
        return asdict(self)


EMPTY = Summary(0, None, None, None, None, None)


def percentile_ms(values_ms: np.ndarray, percent: float) -> float | None:
    """The nearest-rank ``percent`` percentile of the values; None when there are none."""
    values = np.asarray(values_ms, dtype=float)
    if values.size == 0:
        return None
    rank = nearest_rank(percent, values.size)
    return float(np.partition(values, rank - 1)[rank - 1])


def summarize(values_ms: np.ndarray) -> Summary:
    """Count, mean, p50, p95, p99 and max of durations in ms."""
    values = np.sort(np.asarray(values_ms, dtype=float))
    n = int(values.size)
    if n == 0:
        return EMPTY
    p50, p95, p99 = (float(values[nearest_rank(p, n) - 1]) for p in PERCENTS)
    return Summary(n, float(values.mean()), p50, p95, p99, float(values[-1]))


def grouped_summaries(group_codes: np.ndarray, values_ms: np.ndarray, n_groups: int) -> list[Summary]:
    """One :class:`Summary` per group code 0..n_groups-1 (EMPTY for groups without values).

    ``group_codes`` are small non-negative integers (e.g. pandas category codes), aligned
    with ``values_ms``.
    """
    codes = np.asarray(group_codes, dtype=np.int64)
    values = np.asarray(values_ms, dtype=float)
    order = np.lexsort((values, codes))
    codes_sorted, values_sorted = codes[order], values[order]
    counts = np.bincount(codes_sorted, minlength=n_groups)
    sums = np.bincount(codes_sorted, weights=values_sorted, minlength=n_groups)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    summaries = []
    for code in range(n_groups):
        n = int(counts[code])
        if n == 0:
            summaries.append(EMPTY)
            continue
        start = int(starts[code])
        p50, p95, p99 = (float(values_sorted[start + nearest_rank(p, n) - 1]) for p in PERCENTS)
        summaries.append(
            Summary(n, float(sums[code] / n), p50, p95, p99, float(values_sorted[start + n - 1]))
        )
    return summaries
