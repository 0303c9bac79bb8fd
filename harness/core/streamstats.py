"""Statistics of sample sets seen in pieces (a run's records read in chunks), in bounded memory.

Each accumulator takes chunks of plain arrays and keeps a reduction that combines exactly, so
the figures do not depend on how the records were cut into chunks:

- :class:`ValueCounts`: every distinct value with its count. Nearest-rank percentiles and the
  maximum are the exact values a sort of all the samples would give; the mean is the exactly
  rounded sum (``math.fsum`` over exact products) divided by the count. Its size is the number
  of distinct values, not of samples: the recorder writes whole microseconds, so a day of
  response times holds some 10^5..10^6 of them.
- :class:`BlockCells`: the per-block histograms of :mod:`harness.core.blocks` (time block x
  0.1% log bin: count and largest value; per block the sum of values, added in record order),
  from which :meth:`BlockCells.table` rebuilds the very :class:`~harness.core.blocks.BlockTable`
  that :func:`harness.core.blocks.block_table` builds from all the values at once.
- :class:`LatencyScope`: both, for one group of durations (a stage's requests, an endpoint, a
  journey kind); :meth:`LatencyScope.finish` gives results.json's latency block.

Pure: arrays in, figures out; no files, no clocks.
"""

from __future__ import annotations

import math

import numpy as np

from harness.core import blocks
from harness.core.histogram import nearest_rank
from harness.core.stagestats import latency_from_table
from harness.core.stats import EMPTY, PERCENTS, Summary

#: Pending chunk reductions are merged once they hold this many entries, or as many as the merged
#: state (so the pending ones never take more memory than the state itself, and merging costs
#: O(1) per entry over a run).
_COMPACT_ENTRIES = 1 << 17
# A (block, bin) cell as one int64: block * _BIN_SPAN + (bin + _BIN_OFFSET). Bins of 0.1% from
# 1 µs (bin -6911) to 10^9 ms (bin 20723) fit in [-_BIN_OFFSET, _BIN_SPAN - _BIN_OFFSET).
_BIN_SPAN = 1 << 16
_BIN_OFFSET = 1 << 14


def exact_sum(values: np.ndarray, counts: np.ndarray) -> float:
    """The correctly rounded value of sum(values[i] * counts[i]) (counts: whole numbers < 2^53).

    Each product is split into its rounded value and its exact rounding error (Dekker's
    two-product), and ``math.fsum`` adds them all without intermediate rounding.
    """
    a = np.asarray(values, dtype=float)
    b = np.asarray(counts, dtype=float)
    product = a * b
    a_high, a_low = _split(a)
    b_high, b_low = _split(b)
    error = ((a_high * b_high - product) + a_high * b_low + a_low * b_high) + a_low * b_low
    return math.fsum(np.concatenate([product, error]).tolist())


def _split(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scaled = 134217729.0 * x  # 2^27 + 1: Veltkamp's split into two 26-bit halves
    high = scaled - (scaled - x)
    return high, x - high


class ValueCounts:
    """Distinct values and their counts, gathered chunk by chunk (floats by default, NaN values
    ignored; ``dtype=np.int64`` for integer keys)."""

    def __init__(self, dtype: type = float) -> None:
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []
        self._pending_entries = 0
        self._dtype = dtype
        self.values = np.zeros(0, dtype=dtype)
        self.counts = np.zeros(0, dtype=np.int64)

    def add(self, values: np.ndarray) -> None:
        """Count a chunk of values."""
        values = np.asarray(values, dtype=self._dtype)
        if values.dtype.kind == "f":
            values = values[~np.isnan(values)]
        if not values.size:
            return
        distinct, counts = np.unique(values, return_counts=True)
        self._pending.append((distinct, counts))
        self._pending_entries += distinct.size
        if self._pending_entries > max(_COMPACT_ENTRIES, self.values.size):
            self._compact()

    def _compact(self) -> None:
        if not self._pending:
            return
        values = np.concatenate([self.values, *(v for v, _ in self._pending)])
        counts = np.concatenate([self.counts, *(c for _, c in self._pending)])
        self._pending, self._pending_entries = [], 0
        self.values, inverse = np.unique(values, return_inverse=True)
        self.counts = np.bincount(inverse, weights=counts, minlength=self.values.size).astype(np.int64)

    def summary(self) -> Summary:
        """Count, mean, nearest-rank p50/p95/p99 and max (all None without values), in the values' unit."""
        self._compact()
        n = int(self.counts.sum())
        if n == 0:
            return EMPTY
        cumulative = np.cumsum(self.counts)

        def at_rank(percent: float) -> float:
            return float(self.values[int(np.searchsorted(cumulative, nearest_rank(percent, n), side="left"))])

        p50, p95, p99 = (at_rank(p) for p in PERCENTS)
        return Summary(n, exact_sum(self.values, self.counts) / n, p50, p95, p99, float(self.values[-1]))


class BlockCells:
    """The block bootstrap's table (:func:`harness.core.blocks.block_table`) built chunk by chunk.

    ``add`` takes values (ms, no NaN) with their time-block indices, in record order.
    """

    def __init__(self) -> None:
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []
        self._pending_entries = 0
        self.cells = np.zeros(0, dtype=np.int64)
        self.counts = np.zeros(0, dtype=np.int32)
        # the largest value of each bin (over all blocks), indexed by bin + _BIN_OFFSET
        self.bin_largest = np.full(_BIN_SPAN, -np.inf)
        self._block_sums: dict[int, float] = {}

    def add(self, values_ms: np.ndarray, block_ids: np.ndarray) -> None:
        """Count a chunk of values (ms) into their (block, 0.1% bin) cells."""
        values = np.asarray(values_ms, dtype=float)
        block_ids = np.asarray(block_ids, dtype=np.int64)
        if not values.size:
            return
        bins = blocks.bin_index(values) + _BIN_OFFSET
        np.maximum.at(self.bin_largest, bins, values)
        distinct, counts = np.unique(block_ids * _BIN_SPAN + bins, return_counts=True)
        self._pending.append((distinct, counts.astype(np.int32)))
        self._pending_entries += distinct.size
        # Each block's sum continues from where the previous chunk left it, value by value in
        # record order: the same additions np.bincount makes over all the values at once.
        present, where = np.unique(block_ids, return_inverse=True)
        sums = np.array([self._block_sums.get(int(b), 0.0) for b in present])
        np.add.at(sums, where, values)
        self._block_sums.update(zip(present.tolist(), sums.tolist(), strict=True))
        if self._pending_entries > max(_COMPACT_ENTRIES, self.cells.size):
            self._compact()

    def _compact(self) -> None:
        if not self._pending:
            return
        cells = np.concatenate([self.cells, *(p[0] for p in self._pending)])
        counts = np.concatenate([self.counts, *(p[1] for p in self._pending)])
        self._pending, self._pending_entries = [], 0
        self.cells, inverse = np.unique(cells, return_inverse=True)
        self.counts = np.bincount(inverse, weights=counts, minlength=self.cells.size).astype(np.int32)

    def table(self) -> blocks.BlockTable:
        """The BlockTable of every value added: blocks and bins numbered densely, in order."""
        self._compact()
        if not self.cells.size:
            return blocks.block_table(np.zeros(0), np.zeros(0, dtype=np.int64))
        block_of = self.cells // _BIN_SPAN
        bin_of = self.cells % _BIN_SPAN
        block_ids, block_codes = np.unique(block_of, return_inverse=True)
        bin_ids, bin_codes = np.unique(bin_of, return_inverse=True)
        counts = np.zeros((block_ids.size, bin_ids.size))
        counts[block_codes, bin_codes] = self.counts
        bin_values = self.bin_largest[bin_ids]
        sums = np.array([self._block_sums[int(b)] for b in block_ids])
        return blocks.BlockTable(counts, bin_values, sums, counts.sum(axis=1))


class LatencyScope:
    """One group of durations (ms) with their times: exact summary and block-bootstrap table.

    ``steady_start_s`` and ``block_s`` place each time in its block (:func:`blocks.block_ids`).
    """

    def __init__(self, steady_start_s: float, block_s: float) -> None:
        self.steady_start_s = steady_start_s
        self.block_s = block_s
        self.values = ValueCounts()
        self.cells = BlockCells()

    def add(self, values_ms: np.ndarray, t_s: np.ndarray) -> None:
        """A chunk of durations (NaN: no value, left out) and the times that place them in blocks."""
        values_ms = np.asarray(values_ms, dtype=float)
        has_value = ~np.isnan(values_ms)
        values_ms = values_ms[has_value]
        self.values.add(values_ms)
        self.cells.add(values_ms, blocks.block_ids(np.asarray(t_s, dtype=float)[has_value],
                                                   self.steady_start_s, self.block_s))

    def summary(self) -> Summary:
        """Count, mean, p50, p95, p99, max of the durations added."""
        return self.values.summary()

    def finish(self, rng: np.random.Generator) -> tuple[dict, dict[str, np.ndarray] | None]:
        """results.json's latency block and the bootstrap replicates, as
        :func:`harness.core.stagestats.latency_block` gives them for all the values at once.
        Releases what was gathered (a day-long run's analysis finishes one scope at a time)."""
        summary, table = self.summary(), self.cells.table()
        self.values, self.cells = ValueCounts(), BlockCells()
        return latency_from_table(summary, table, rng)
