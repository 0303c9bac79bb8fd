"""Benchmark comparison statistics: pytest-benchmark runs of a baseline against a candidate.

Pure, like :mod:`harness.core.compare`, whose estimates and judgement it shares: a benchmark
change is an :class:`~harness.core.compare.Estimate` judged by the same practical-minimum rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from harness.core import blocks
from harness.core.compare import (
    MIN_BLOCKS,
    Estimate,
    GroupKey,
    student_quantile,
)


@dataclass(frozen=True)
class BenchFigure:
    """One pytest-benchmark result: median, first quartile and IQR of a round (s), round count,
    and the rounds themselves in order when saved with ``--benchmark-save-data`` (else None)."""

    median_s: float
    iqr_s: float
    rounds: int
    data_s: np.ndarray | None = None
    q1_s: float | None = None


def bench_point(fig: BenchFigure, quantile: float, rng: np.random.Generator,
                n_boot: int = 400) -> tuple[float, float, str]:
    """(value s, variance s², metric name) of one run's ``quantile``-th percentile round time.

    With per-round data: exact percentile, variance by a block bootstrap over 20 runs of
    consecutive rounds (machine state drifts during a run). Without: the median, or the first
    quartile for any lower quantile, with the normal-theory variance σ²·p(1-p)/(n·φ(z_p)²),
    σ = IQR/1.349, which assumes independent rounds and so is optimistic.
    """
    if fig.data_s is not None and fig.data_s.size >= 2 * MIN_BLOCKS:
        data = np.maximum(np.asarray(fig.data_s, dtype=float), 1e-12)
        n_blocks = min(20, data.size)
        ids = np.arange(data.size) * n_blocks // data.size  # runs of consecutive rounds
        table = blocks.block_table(data, ids, n_blocks=n_blocks, floor=1e-12)
        reps = blocks.weighted_statistics(table, blocks.block_weights(rng, n_blocks, n_boot), (quantile,))[f"p{quantile:g}"]
        variance = float(np.var(reps, ddof=1)) * n_blocks / (n_blocks - 1)
        return float(np.percentile(data, quantile)), variance, f"p{quantile:g}_s"
    if quantile < 50 and fig.q1_s is not None:
        value, p, method = fig.q1_s, 0.25, "q1_s"
    else:
        value, p, method = fig.median_s, 0.5, "median_s"
    sigma = fig.iqr_s / 1.349
    density = NormalDist().pdf(NormalDist().inv_cdf(p))
    return value, sigma**2 * p * (1 - p) / (max(fig.rounds, 1) * density**2), method


BEST_OF_MIN_RUNS = 3


def _mean_sides(base: list[tuple[float, float, str]], cand: list[tuple[float, float, str]]):
    """Means of each side's run values and the variance of their difference: the run-to-run
    variance is pooled over both sides (each run deviates from its own side's mean); with a
    single run a side it cannot be measured and only the within-run variances remain."""
    vb, vc = np.array([p[0] for p in base]), np.array([p[0] for p in cand])
    dof = vb.size + vc.size - 2
    if dof == 0:
        return float(vb[0]), float(vc[0]), base[0][1] + cand[0][1]
    pooled = (float(np.sum((vb - vb.mean()) ** 2)) + float(np.sum((vc - vc.mean()) ** 2))) / dof
    # A variance from a handful of runs is itself uncertain: widen as Student's t would.
    widen = (student_quantile(0.975, dof) / 1.959964) ** 2
    return float(vb.mean()), float(vc.mean()), widen * (pooled / vb.size + pooled / vc.size)


def estimate_benchmark(name: str, baselines: list[BenchFigure], candidates: list[BenchFigure], *,
                       rng: np.random.Generator, quantile: float = 10.0, method: str = "best",
                       n_boot: int = 400) -> Estimate:
    """Δ round time (s) of one benchmark between runs of the baseline and runs of the candidate.

    Per run, the ``quantile``-th percentile of its rounds. Per side, ``best``: the fastest run
    (the rule of Python's timeit: interference only ever adds time, so the fastest run is the
    one nearest the code's own speed). On a shared machine whose speed flips between states
    (here: ×1.7, lasting 0.1 s to several seconds) a whole run can sit in the slow state, and
    neither a median nor a mean of runs tells a 30% slowdown from that; the best of three or
    more runs a side does; with fewer, the estimate is marked (inconclusive) rather than trusted.
    ``mean``: the means of the runs, with the run-to-run variance pooled from both sides and
    widened as Student's t (the textbook choice on a quiet machine); with one run a side only the
    within-run variance is known, and the practical minimum alone guards against run-to-run noise.
    """
    if method not in ("best", "mean"):
        raise ValueError(f"benchmark method {method!r}: expected 'best' or 'mean'")
    key = GroupKey("bench", "benchmark", name)
    base_points = [bench_point(b, quantile, rng, n_boot) for b in baselines]
    cand_points = [bench_point(c, quantile, rng, n_boot) for c in candidates]
    note, dof = "", math.inf
    if method == "best":
        # Per-round data: a bootstrap over 20 blocks of rounds, 19 degrees of freedom.
        dof = 19.0 if all(p[2].startswith("p") for p in base_points + cand_points) else math.inf
        fastest_b = min(base_points, key=lambda p: p[0])
        fastest_c = min(cand_points, key=lambda p: p[0])
        base, cand, var = fastest_b[0], fastest_c[0], fastest_b[1] + fastest_c[1]
        if min(len(base_points), len(cand_points)) < BEST_OF_MIN_RUNS:
            # One run can sit wholly in a slow period of a shared machine: not judged.
            note = (f"best of runs needs {BEST_OF_MIN_RUNS} runs a side (got {len(base_points)} "
                    f"baseline, {len(cand_points)} candidate)")
    else:
        base, cand, var = _mean_sides(base_points, cand_points)
    if min(f.rounds for f in [*baselines, *candidates]) < MIN_BLOCKS:
        note = f"fewer than {MIN_BLOCKS} rounds"
    se = math.sqrt(var)
    return Estimate(key, cand_points[0][2], "bench", True, base, cand, se,
                    se / base if base else math.nan, sum(b.rounds for b in baselines),
                    sum(c.rounds for c in candidates), note, dof)
