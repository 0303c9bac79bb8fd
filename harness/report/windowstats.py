"""Per-window reductions of records seen in chunks, exact and in memory that grows with the number
of windows (or of distinct visitors), never with the number of records (pure: arrays in, arrays out).

- :class:`KeyCounts`: how many times each int64 key (a window, a (window, kind) code) was seen.
- :class:`DistinctKeys`: the distinct int64 keys seen (the funnel's visitors, as 64-bit hashes).
- :class:`WindowQuantiles`: exact per-window quantiles, computed as pandas' ``quantile`` computes
  them (linear interpolation between the two nearest order statistics), from two passes over the
  values: the first counts each value's (window, coarse bin) cell, the second keeps only the
  values in the few cells that hold a wanted order statistic.

Every result is the same whatever the chunks the records came in (merging counts and sets is
exact), and equal to the all-at-once pandas computation.
"""

from __future__ import annotations

import numpy as np

from harness.core.streamstats import ValueCounts

#: Pending chunk reductions are merged once they hold this many entries, or as many as the merged
#: state (so pending ones never take more memory than the state, and merging costs O(1) per entry).
_COMPACT_ENTRIES = 1 << 17
# A (window, coarse bin) cell as one int64: window << _BIN_BITS | bin. A coarse bin is the top
# _BIN_BITS bits of a float's order-preserving bit pattern: sign, 11 exponent bits and 3 mantissa
# bits, i.e. an eighth of an octave (9%..12% wide) for normal numbers.
_BIN_BITS = 15
_BIN_SHIFT = 64 - _BIN_BITS
_INT64_MIN = np.int64(np.iinfo(np.int64).min)


class KeyCounts(ValueCounts):
    """Distinct int64 keys and how many times each was seen, gathered chunk by chunk
    (harness.core.streamstats.ValueCounts over integer keys)."""

    def __init__(self) -> None:
        super().__init__(dtype=np.int64)

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """(keys, counts), keys sorted ascending."""
        self._compact()
        return self.values, self.counts


class DistinctKeys:
    """The distinct int64 keys seen, gathered chunk by chunk (8 bytes per distinct key)."""

    def __init__(self) -> None:
        self._pending: list[np.ndarray] = []
        self._pending_entries = 0
        self._keys = np.zeros(0, dtype=np.uint64)

    def add(self, keys: np.ndarray) -> None:
        """Take a chunk of keys."""
        keys = np.unique(np.asarray(keys, dtype=np.uint64))
        if not keys.size:
            return
        self._pending.append(keys)
        self._pending_entries += keys.size
        if self._pending_entries > max(_COMPACT_ENTRIES, self._keys.size):
            self._compact()

    def _compact(self) -> None:
        if self._pending:
            merged = np.concatenate([self._keys, *self._pending])
            self._pending, self._pending_entries = [], 0
            merged.sort()
            keep = np.empty(merged.size, dtype=bool)
            keep[:1] = True
            np.not_equal(merged[1:], merged[:-1], out=keep[1:])
            self._keys = merged[keep]

    def count(self) -> int:
        """How many distinct keys were seen."""
        self._compact()
        return int(self._keys.size)


def _cells(windows: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Each (window, value)'s cell: cells sort as (window, value) do, equal values share a cell."""
    bits = values.view(np.int64)
    ordered = np.where(bits < 0, _INT64_MIN - bits, bits)  # negative floats: reversed, below +0.0
    bins = (ordered >> _BIN_SHIFT) + (1 << (_BIN_BITS - 1))
    return (windows << _BIN_BITS) | bins


class WindowQuantiles:
    """Exact per-window quantiles of values seen in two passes, in memory bounded by the windows.

    Pass 1, :meth:`count`: each value's (window, coarse bin) cell is counted; coarse bins are an
    eighth of an octave wide, so a window holds some tens of cells whatever its number of values.
    Pass 2, :meth:`gather` (the same values again, in any chunks and order): only the values in
    the cells that hold a wanted order statistic are kept, a few per window and quantile.
    :meth:`result` then gives, per window, what ``pandas.Series.quantile(q)`` gives for the
    window's non-NaN values: with ``h = q * (n - 1)``, ``k = int(h)`` and the values sorted,
    ``x[k] + (x[k + 1] - x[k]) * (h - k)``, the same floating-point operations, so the same bits.
    """

    def __init__(self, quantiles: tuple[float, ...]) -> None:
        self.quantiles = tuple(quantiles)
        self._counts = KeyCounts()
        self._plan: dict | None = None
        self._gathered: list[tuple[np.ndarray, np.ndarray]] = []

    def count(self, windows: np.ndarray, values: np.ndarray) -> None:
        """Pass 1: a chunk of values (NaN left out) and their windows (int64)."""
        if self._plan is not None:
            raise RuntimeError("count() after gather(): the first pass is over")
        windows, values = _valued(windows, values)
        self._counts.add(_cells(windows, values))

    @property
    def wants_values(self) -> bool:
        """Whether a second pass is needed (some value was counted)."""
        return bool(self._counts.result()[0].size)

    def gather(self, windows: np.ndarray, values: np.ndarray) -> None:
        """Pass 2: the same values as pass 1 (in any chunks); keeps those of the wanted cells."""
        plan = self._planned()
        windows, values = _valued(windows, values)
        cells = _cells(windows, values)
        wanted = plan["cells"]
        if not wanted.size or not cells.size:
            return
        at = np.minimum(np.searchsorted(wanted, cells), wanted.size - 1)
        keep = wanted[at] == cells
        self._gathered.append((cells[keep], values[keep]))

    def _planned(self) -> dict:
        """Which cells hold the order statistics each quantile needs, and where in them."""
        if self._plan is not None:
            return self._plan
        keys, counts = self._counts.result()
        windows = keys >> _BIN_BITS
        distinct, first = np.unique(windows, return_index=True)
        ends = np.cumsum(counts)  # global rank (0-based) one past each cell's last value
        starts = ends - counts
        n = np.add.reduceat(counts, first) if keys.size else np.zeros(0, dtype=np.int64)
        window_start = starts[first] if keys.size else np.zeros(0, dtype=np.int64)
        ranks = []
        for q in self.quantiles:
            h = q * (n - 1).astype(np.float64)
            k = h.astype(np.int64)
            ranks.append((k, np.minimum(k + 1, n - 1), h - k))
        needed = [window_start + r for k, k1, _ in ranks for r in (k, k1)]
        cell_of = [np.searchsorted(ends, r, side="right") for r in needed]
        wanted_index = np.unique(np.concatenate(cell_of)) if cell_of else np.zeros(0, dtype=np.int64)
        self._plan = {"windows": distinct, "n": n, "ranks": ranks, "needed": needed, "cell_of": cell_of,
                      "wanted_index": wanted_index, "cells": keys[wanted_index], "starts": starts, "counts": counts}
        return self._plan

    def result(self) -> tuple[np.ndarray, dict[float, np.ndarray]]:
        """(windows with at least one value, {q: the quantile per window}), windows ascending."""
        plan = self._planned()
        cells = np.concatenate([c for c, _ in self._gathered] or [np.zeros(0, dtype=np.int64)])
        values = np.concatenate([v for _, v in self._gathered] or [np.zeros(0)])
        order = np.lexsort((values, cells))
        cells, values = cells[order], values[order]
        wanted = plan["cells"]
        first = np.searchsorted(cells, wanted, side="left")
        got = np.searchsorted(cells, wanted, side="right") - first
        if not np.array_equal(got, plan["counts"][plan["wanted_index"]]):
            raise ValueError("the values gathered in the second pass are not those counted in the first")

        def value_at(global_ranks: np.ndarray, cell_index: np.ndarray) -> np.ndarray:
            begin = first[np.searchsorted(plan["wanted_index"], cell_index)]  # the cell's first value
            return values[begin + (global_ranks - plan["starts"][cell_index])]

        out = {}
        for i, q in enumerate(self.quantiles):
            k, k1, frac = plan["ranks"][i]
            low = value_at(plan["needed"][2 * i], plan["cell_of"][2 * i])
            high = value_at(plan["needed"][2 * i + 1], plan["cell_of"][2 * i + 1])
            with np.errstate(invalid="ignore", over="ignore"):
                between = low + (high - low) * frac
            out[q] = np.where((k1 > k) & (frac != 0), between, low)
        return plan["windows"], out


def _valued(windows: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    values = np.asarray(values, dtype=np.float64)
    windows = np.asarray(windows, dtype=np.int64)
    has_value = ~np.isnan(values)
    return windows[has_value], np.ascontiguousarray(values[has_value])
