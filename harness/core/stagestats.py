"""Statistics of one group of records (a stage's requests, an endpoint, a journey kind).

Plain arrays in, the dict shapes of results.json out. Intervals: block bootstrap over time
blocks for latencies (:mod:`harness.core.blocks`), Clopper-Pearson for rates
(:mod:`harness.core.rates`). The random generator is derived from the run id and a key naming
the statistic, so re-analysing a run reproduces every number.
"""

from __future__ import annotations

import zlib
from collections import Counter

import numpy as np

from harness.core import blocks, rates
from harness.core.stats import Summary, summarize

PERCENTS = (50.0, 95.0, 99.0)


def seeded_rng(run_id: str, key: str) -> np.random.Generator:
    """A generator seeded by (run id, statistic key), independent of computation order."""
    return np.random.default_rng([zlib.crc32(run_id.encode()), zlib.crc32(key.encode())])


def latency_block(
    values_ms: np.ndarray,
    t_s: np.ndarray,
    steady_start_s: float,
    block_s: float,
    rng: np.random.Generator,
    summary: Summary | None = None,
) -> tuple[dict, dict[str, np.ndarray] | None]:
    """``{"count", "mean_ms", "p50_ms", "p95_ms", "p99_ms", "max_ms", "<stat>_ci_ms"...}`` and
    the bootstrap replicates (None with fewer than blocks.MIN_BLOCKS time blocks).

    NaN durations (no value recorded) are left out. ``t_s`` places each value in a time block
    of ``block_s`` seconds counted from ``steady_start_s``. ``summary`` may be passed when it
    was already computed (grouped) for the same values.
    """
    values_ms = np.asarray(values_ms, dtype=float)
    t_s = np.asarray(t_s, dtype=float)
    has_value = ~np.isnan(values_ms)
    values_ms, t_s = values_ms[has_value], t_s[has_value]
    summary = summary or summarize(values_ms)
    return latency_from_table(summary, blocks.block_table(values_ms, blocks.block_ids(t_s, steady_start_s, block_s)),
                              rng)


def latency_from_table(summary: Summary, table: blocks.BlockTable, rng: np.random.Generator
                       ) -> tuple[dict, dict[str, np.ndarray] | None]:
    """:func:`latency_block` from the values' summary and their block table (built at once, or
    chunk by chunk by :class:`harness.core.streamstats.LatencyScope`)."""
    replicates = blocks.replicate_statistics(table, rng, PERCENTS)
    out = summary.as_dict()
    for name in ("mean", "p50", "p95", "p99"):
        out[f"{name}_ci_ms"] = None if replicates is None else list(blocks.interval(replicates[name]))
    return out, replicates


def availability_block(ok: np.ndarray, error_kind: np.ndarray) -> dict:
    """``{"count", "failures", "availability", "availability_ci", "errors_by_kind"}``.

    ``ok`` is 1/0 per request; ``error_kind`` the recorded kind (None/NaN when missing, which
    counts as "unknown" for a failed request).
    """
    ok = np.asarray(ok)
    count = int(ok.size)
    failures = int(count - int(ok.sum()))
    availability = rates.rate(count - failures, count)
    kinds = Counter(
        "unknown" if kind is None or (isinstance(kind, float) and np.isnan(kind)) or kind == "" else str(kind)
        for kind in np.asarray(error_kind, dtype=object)[ok == 0]
    )
    return {
        "count": count,
        "failures": failures,
        "availability": availability.rate,
        "availability_ci": availability.as_dict()["ci"],
        "errors_by_kind": dict(sorted(kinds.items())),
    }


def p95_difference(before: dict[str, np.ndarray] | None, after: dict[str, np.ndarray] | None) -> tuple:
    """The 95% interval of P95(after) - P95(before) from two stages' independent replicates,
    or (None, None) when either stage had too few blocks."""
    if before is None or after is None:
        return None, None
    return blocks.interval(after["p95"] - before["p95"])
