"""Block bootstrap over time blocks: confidence intervals for percentiles and means.

Neighbouring requests are correlated (a GC pause or a queue slows everything in the same
second), so resampling single requests would give intervals that are too narrow. Instead the
stage is cut into time blocks of a few seconds and whole blocks are resampled with
replacement (a non-overlapping block bootstrap), keeping the correlation inside each block.

To stay fast on a million requests, each block is reduced to a histogram over log-spaced bins
0.1% wide (the same resolution as the HDR histograms), and a replicate is a weighted sum of
block histograms: one matrix product for hundreds of replicates. The random generator is
passed in, so results are reproducible.

This is THE block bootstrap of the harness: results.json's intervals (stage statistics, ΔP95
between stages) and the baseline comparison (:mod:`harness.core.compare`, its benchmarks in
:mod:`harness.core.bench_compare`) all resample with :func:`block_weights` over a
:func:`block_table` and read percentiles with :func:`weighted_statistics`. Block rule: a block
is ``block_s`` seconds counted from an origin (a stage's steady start, or a run's first
sample), :func:`block_length_s` picks it (about 20 blocks, 1..10 s, at most 360), and a block without any
sample is no block (gaps are not resampled as empty blocks).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Fewer blocks than this give no interval: the bootstrap cannot see the variability.
MIN_BLOCKS = 5
#: More blocks than this add little to the interval and make a long stage's table large.
MAX_BLOCKS = 360
DEFAULT_REPLICATES = 1000
_BIN_RATIO = 1.001
_FLOOR_MS = 1e-3


def block_length_s(window_s: float) -> float:
    """The block length for a stage window: about 20 blocks, each between 1 s and 10 s, and
    never more than :data:`MAX_BLOCKS` blocks (a stage over an hour gets blocks longer than 10 s,
    so a day-long stage's table stays a few MB: 0.1% bins x at most 360 blocks)."""
    return float(max(min(10.0, max(1.0, window_s / 20.0)), window_s / MAX_BLOCKS))


def block_ids(t_s: np.ndarray, start_s: float, block_s: float) -> np.ndarray:
    """The time-block index of each timestamp (epoch seconds), counted from ``start_s``."""
    if block_s <= 0:
        raise ValueError(f"block length must be positive, got {block_s}")
    return np.floor((np.asarray(t_s, dtype=float) - start_s) / block_s).astype(np.int64)


def dense_block_ids(t_s: np.ndarray, block_s: float, start_s: float | None = None) -> np.ndarray:
    """Block codes 0..k-1 of each timestamp, counted from ``start_s`` (default: the first
    sample) and renumbered densely: a gap with no samples is not an empty block to resample."""
    t = np.asarray(t_s, dtype=float)
    if t.size == 0:
        return np.zeros(0, dtype=np.int64)
    ids = block_ids(t, float(np.nanmin(t)) if start_s is None else start_s, block_s)
    return _dense_codes(ids)[0]


def block_weights(rng: np.random.Generator, n_blocks: int, replicates: int) -> np.ndarray:
    """(replicates × n_blocks) draw counts: how often each block is drawn in each replicate
    (``n_blocks`` blocks drawn with replacement, a non-overlapping block bootstrap)."""
    return rng.multinomial(n_blocks, np.full(n_blocks, 1.0 / n_blocks), size=replicates).astype(float)


@dataclass(frozen=True)
class BlockTable:
    """Values reduced to per-block histograms: ``counts[block, bin]``, ``bin_values_ms[bin]``."""

    counts: np.ndarray
    bin_values_ms: np.ndarray
    block_sums_ms: np.ndarray
    block_counts: np.ndarray

    @property
    def n_blocks(self) -> int:
        """How many blocks hold at least one value."""
        return int(self.counts.shape[0])


def block_table(values_ms: np.ndarray, blocks: np.ndarray, *, n_blocks: int | None = None,
                floor: float = _FLOOR_MS) -> BlockTable:
    """Reduce values (ms) and their block indices to per-block histograms.

    A bin's value is the largest sample in it, so a resampled percentile is a value that was
    observed, to within 0.1%. ``n_blocks``: the blocks are already codes 0..n_blocks-1 (kept as
    they are, a block without values stays a row of zeros, so the table lines up with weights
    drawn for all of them); else they are renumbered densely. ``floor``: values below it are
    binned with it (a log scale has no zero; 1 µs for milliseconds).
    """
    values = np.asarray(values_ms, dtype=float)
    block_index = np.asarray(blocks, dtype=np.int64)
    if values.shape != block_index.shape:
        raise ValueError("values and blocks must have the same length")
    if values.size == 0:
        rows = n_blocks or 0
        return BlockTable(np.zeros((rows, 0)), np.zeros(0), np.zeros(rows), np.zeros(rows))
    if n_blocks is None:
        block_codes, _ = _dense_codes(block_index)
        n_blocks = int(block_codes.max()) + 1
    else:
        block_codes = block_index
    bin_codes, _ = _dense_codes(bin_index(values, floor))
    n_bins = int(bin_codes.max()) + 1
    bin_values = np.full(n_bins, -np.inf)
    np.maximum.at(bin_values, bin_codes, values)
    flat = np.bincount(block_codes * n_bins + bin_codes, minlength=n_blocks * n_bins)
    counts = flat.reshape(n_blocks, n_bins).astype(float)
    sums = np.bincount(block_codes, weights=values, minlength=n_blocks)
    return BlockTable(counts, bin_values, sums, counts.sum(axis=1))


def bin_index(values_ms: np.ndarray, floor: float = _FLOOR_MS) -> np.ndarray:
    """The 0.1% log bin of each value (values below ``floor`` binned with it): the bins of
    :func:`block_table`, also used by :class:`harness.core.streamstats.BlockCells`."""
    return np.floor(np.log(np.maximum(values_ms, floor)) / math.log(_BIN_RATIO)).astype(np.int64)


def _dense_codes(ints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes 0..k-1 for the distinct integers (in order), and those integers.

    Counting-based: the integers here (time blocks, 0.1% log bins) span a small range, so this
    is much cheaper than the sort np.unique would do.
    """
    base = int(ints.min())
    shifted = ints - base
    present = np.bincount(shifted) > 0
    remap = np.cumsum(present) - 1
    return remap[shifted], np.flatnonzero(present) + base


def replicate_statistics(
    table: BlockTable,
    rng: np.random.Generator,
    percents: tuple[float, ...] = (95.0,),
    replicates: int = DEFAULT_REPLICATES,
) -> dict[str, np.ndarray] | None:
    """Bootstrap replicates of the mean and of each nearest-rank percentile, in ms.

    Returns ``{"mean": array, "p95": array, ...}`` (one value per replicate), or None when
    the values span fewer than :data:`MIN_BLOCKS` blocks.
    """
    if table.n_blocks < MIN_BLOCKS:
        return None
    return weighted_statistics(table, block_weights(rng, table.n_blocks, replicates), percents)


def weighted_statistics(table: BlockTable, weights: np.ndarray,
                        percents: tuple[float, ...] = (95.0,)) -> dict[str, np.ndarray]:
    """The mean and each nearest-rank percentile (``"p95"``...) of every replicate, in the
    table's unit; ``weights``: (replicates × blocks) draw counts from :func:`block_weights`."""
    replicates = weights.shape[0]
    totals = weights @ table.block_counts
    with np.errstate(divide="ignore", invalid="ignore"):
        result: dict[str, np.ndarray] = {"mean": (weights @ table.block_sums_ms) / totals}
    # A replicate's cumulative count at bin j is weights · cumulative[:, j] (linear in the
    # weights), so each percentile is found by a bisection over bins, all replicates at once,
    # without building the replicates × bins matrix.
    cumulative = np.cumsum(table.counts, axis=1)
    n_bins = cumulative.shape[1]
    for percent in percents:
        ranks = np.maximum(1.0, np.ceil(np.round(percent * totals / 100.0, 9)))
        low = np.zeros(replicates, dtype=np.int64)
        high = np.full(replicates, n_bins - 1, dtype=np.int64)
        while np.any(low < high):
            middle = (low + high) // 2
            reached = np.einsum("rb,br->r", weights, cumulative[:, middle]) >= ranks - 1e-9
            high = np.where(reached, middle, high)
            low = np.where(reached, low, middle + 1)
        result[f"p{percent:g}"] = table.bin_values_ms[low]
    return result


def interval(replicates: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """The percentile interval of bootstrap replicates at the given confidence."""
    alpha = 1.0 - confidence
    low, high = np.quantile(replicates, [alpha / 2.0, 1.0 - alpha / 2.0], method="inverted_cdf")
    return float(low), float(high)


def statistic_intervals(
    values_ms: np.ndarray,
    blocks: np.ndarray,
    rng: np.random.Generator,
    percents: tuple[float, ...] = (50.0, 95.0, 99.0),
    replicates: int = DEFAULT_REPLICATES,
    confidence: float = 0.95,
) -> dict[str, tuple[float, float]] | None:
    """95% block-bootstrap intervals ``{"mean": (lo, hi), "p95": (lo, hi), ...}`` in ms.

    None when the values span fewer than :data:`MIN_BLOCKS` time blocks.
    """
    stats = replicate_statistics(block_table(values_ms, blocks), rng, percents, replicates)
    if stats is None:
        return None
    return {name: interval(values, confidence) for name, values in stats.items()}


def difference_interval(
    from_values_ms: np.ndarray,
    from_blocks: np.ndarray,
    to_values_ms: np.ndarray,
    to_blocks: np.ndarray,
    rng: np.random.Generator,
    percent: float = 95.0,
    replicates: int = DEFAULT_REPLICATES,
    confidence: float = 0.95,
) -> tuple[float, float] | None:
    """Interval for percentile(to) - percentile(from) (e.g. ΔP95 of 300% vs 100% load), in ms.

    The two stages are disjoint periods, so their blocks are resampled independently. None
    when either side spans fewer than :data:`MIN_BLOCKS` blocks.
    """
    key = f"p{percent:g}"
    from_stats = replicate_statistics(block_table(from_values_ms, from_blocks), rng, (percent,), replicates)
    to_stats = replicate_statistics(block_table(to_values_ms, to_blocks), rng, (percent,), replicates)
    if from_stats is None or to_stats is None:
        return None
    return interval(to_stats[key] - from_stats[key], confidence)
