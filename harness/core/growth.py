"""Memory growth per hour from a (time, bytes) series: pure, no clock, no files, no processes.

What a short run can say about a leak, and how sure it is:

1. **Warm-up** is cut where a change-point says the fast early growth ends: the best continuous
   two-segment ("hinge") fit, searched over the first half of the series, is kept only when it
   beats a single line by a margin that accounts for autocorrelated noise and when the early
   segment grows faster than the later one. Nothing is cut by a fixed number of seconds.
2. **Slope**: Theil-Sen (median of pairwise slopes; robust to GC spikes and sawtooth).
3. **Interval**: the wider of two 95% intervals. (a) A moving-block bootstrap of the Theil-Sen
   residuals, seeded. Memory samples are strongly autocorrelated (allocator arenas, GC
   generations), so resampling single points would give intervals far too narrow; blocks as
   long as the residuals stay correlated keep that structure (sawtooth, steps). The block
   length is twice the first lag at which the residual autocorrelation becomes insignificant,
   at least n^(1/3) (the classic rate), at most n/4. (b) Sen's rank interval widened by the
   AR(1) variance inflation sqrt((1+rho)/(1-rho)), rho the lag-1 residual autocorrelation (an
   effective-sample-size correction). In simulation (300 samples, AR(1) noise) the bootstrap
   alone covered 78-88% and (b) alone 87-96% depending on rho; the wider of the two covers
   88-97% for rho up to 0.97, and 100% for a GC-like sawtooth (tests/memory/test_growth.py
   checks coverage).
4. **Plateau**: the slope of the last third of the steady part is compared with the first third.
   Growth that slows to less than half its early rate, with the early rate clearly above zero
   and the drop significant (one-sided, standard errors from the two intervals), is a plateau,
   a cache that filled; the reported growth is then the rate after the knee, the
   rate memory will keep growing at, not the filling rate.
5. **Minimum run length** to tell ``detect_bytes_per_hour`` (0.1 GB/h, the documents' target)
   from zero: the measured interval shrinks as T^(-3/2) for a trend in stationary noise, so the
   steady duration at which a true growth of that size would exclude zero from the 95% interval
   with 80% power is extrapolated from the interval measured.
6. **Decidable or not.** A warm-up that is still going (allocator arenas, caches, pools filling
   with a time constant as long as the run, or memory following a load step) grows like a leak
   for a while, and a straight line through it, extrapolated to an hour, is confidently wrong
   about the long-run rate. The run cannot rule a warm-up out when:

   - *growth slowing*: the last third grows at less than ``SLOWING_RATIO`` of the first third
     (or of the whole steady part: a load staircase), the earlier rate clearly above zero and
     the drop significant one-sided at ``SLOWING_CONFIDENCE``. The rate is then judged over
     the part after the knee, as for a plateau;
   - *growth not sustained*: the first and last thirds' intervals are not both above
     ``detect_bytes_per_hour``, as a steady leak's are;
   - *too short*: a third has fewer than ``MIN_POINTS`` samples, or the noise would hide growth
     slowing by ``DECIDE_SLOWDOWN`` between the first and last thirds (80% power at
     ``SLOWING_CONFIDENCE``): what a warm-up with a time constant about twice the steady part
     shows. Longer warm-ups look like a leak to a run this short.

   Then the interval's low end is extended to 0 (the long-run rate may be no growth at all;
   ``measured_ci_*`` keep the window's own interval), and if the interval still reaches
   ``detect_bytes_per_hour`` the run cannot decide: ``undecided_reason`` says why, with the
   figures, and ``min_duration_s_to_decide`` how long a run would need (the projected end of
   the warm-up, its rate decaying geometrically as measured, three times over since the
   warm-up cut takes at most a third; or the T^(-3/2) law for the power). Judged against
   0.1 GB/h that is a warning, never a fail nor a pass. In simulation (tests/memory/
   test_growth.py) warm-ups with time constants of 1-2x the run never fail and their interval
   covers the long-run rate (0); a steady 0.5 GB/h leak over 3.5 minutes fails.
7. **Lower envelope.** Growth is fitted to the running minimum over ``ENVELOPE_S`` (at most a
   tenth of the series): transient allocations (a burst of requests, garbage not yet
   collected) only ever raise the readings, and more of them at a heavier load would read as
   growth (measured: a healthy step-300 run read 0.30 GB/h raw, 0.10 GB/h on the envelope); a
   leak raises the floor.

Series longer than ``MAX_POINTS`` are averaged into bins first, which keeps Theil-Sen's O(n^2)
pairs and the bootstrap bounded for soak runs of many hours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

SECONDS_PER_HOUR = 3600.0
DEFAULT_DETECT_BYTES_PER_HOUR = 1e8  # 0.1 GB/h (GB = 10^9 bytes): the documents' target
MAX_POINTS = 240  # binned series length for Theil-Sen and the bootstrap
MIN_POINTS = 8  # fewer points than this say nothing about a slope
WARMUP_MAX_FRACTION = 1.0 / 3.0  # warm-up never takes more than a third of the series
# Change-point acceptance: n_eff * ln(SSE_line / SSE_hinge) above this. 2 extra parameters
# (breakpoint, second slope) give chi2(2) = 13.8 at p = 0.001; the search over breakpoints
# inflates the statistic, hence the strict level.
WARMUP_CHANGE_STATISTIC = 13.8
PLATEAU_SLOWDOWN_RATIO = 0.5  # last-part slope below this fraction of the first part: a plateau
POWER_Z = 0.8416  # z of 80% power, for the minimum run length
# Growth slowing (a warm-up not over): last third below this fraction of the earlier rate, the
# drop significant one-sided at SLOWING_CONFIDENCE. A steady leak in noise trips it about 1% of
# the time (a warning then, not a fail).
SLOWING_RATIO = 0.95
SLOWING_CONFIDENCE = 0.99
# A run decides only if it would see growth halve between its first and last thirds (80% power
# at SLOWING_CONFIDENCE): what a warm-up whose time constant is about the steady part does.
DECIDE_SLOWDOWN = 0.3
ENVELOPE_S = 10.0  # lower envelope: the minimum over this many seconds of samples
SETTLED_FRACTION = 0.5  # a warm-up is over when its rate is below this fraction of the target


@dataclass(frozen=True)
class GrowthEstimate:
    """Growth of a memory series, in bytes per hour, with its interval and what it rests on."""

    growth_bytes_per_hour: float  # the rate to judge: steady part, or after the knee if plateau
    ci_low_bytes_per_hour: float
    ci_high_bytes_per_hour: float
    confidence: float  # of the interval, e.g. 0.95
    steady_growth_bytes_per_hour: float  # Theil-Sen over the whole steady part
    first_part_bytes_per_hour: float  # first third of the steady part
    last_part_bytes_per_hour: float  # last third of the steady part
    plateau: bool  # growth slowed markedly: a cache that filled, not a leak
    warmup_s: float  # from the first sample to the end of the detected warm-up
    duration_s: float  # steady part analysed (after the warm-up)
    estimate_window_s: float  # the part the growth and interval come from
    total_duration_s: float  # first to last sample
    n_samples: int  # samples given
    noise_bytes: float  # robust std (1.4826 MAD) of the residuals around the steady line
    block_length_samples: int  # bootstrap block, in (binned) samples
    detect_bytes_per_hour: float  # the growth the minimum run length is computed for
    min_duration_s_to_detect: float  # run length to tell detect_bytes_per_hour from zero
    # decidable or not (docstring, point 6); defaults: a decided estimate
    growth_slowing: bool = False  # the last third grows markedly slower: a warm-up not over
    too_short: bool = False  # too few samples or too much noise to see a warm-up slow down
    measured_ci_low_bytes_per_hour: float | None = None  # interval before the low end went to 0
    measured_ci_high_bytes_per_hour: float | None = None
    undecided_reason: str | None = None  # why this run cannot tell warm-up from a leak, or None
    min_duration_s_to_decide: float | None = None  # run length that could, when undecided

    @property
    def ci_contains_zero(self) -> bool:
        """Whether the interval admits no growth at all."""
        return self.ci_low_bytes_per_hour <= 0.0 <= self.ci_high_bytes_per_hour

    @property
    def decided(self) -> bool:
        """Whether the run can tell warm-up from steady growth (or need not: growth is small)."""
        return self.undecided_reason is None


def _as_series(t_s, values) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(t_s, dtype=float)
    y = np.asarray(values, dtype=float)
    if t.ndim != 1 or y.ndim != 1 or t.shape != y.shape:
        raise ValueError(f"times and bytes must be 1-D of equal length (got {t.shape} and {y.shape})")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(y))):
        raise ValueError("times and bytes must be finite numbers (no NaN or inf)")
    if t.size >= 2 and np.any(np.diff(t) <= 0):
        raise ValueError("times must be strictly increasing")
    return t, y


def binned(t_s, values, max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Average consecutive samples into at most ``max_points`` bins (times in s, values in bytes)."""
    t, y = _as_series(t_s, values)
    if t.size <= max_points:
        return t, y
    size = math.ceil(t.size / max_points)
    usable = (t.size // size) * size
    t_b = t[:usable].reshape(-1, size).mean(axis=1)
    y_b = y[:usable].reshape(-1, size).mean(axis=1)
    if usable < t.size:  # the short last bin still carries the latest samples
        t_b = np.append(t_b, t[usable:].mean())
        y_b = np.append(y_b, y[usable:].mean())
    return t_b, y_b


def theil_sen_bytes_per_hour(t_s, values) -> float:
    """Theil-Sen slope of ``values`` (bytes) against ``t_s`` (s), in bytes per hour."""
    t, y = binned(t_s, values)
    if t.size < 2:
        raise ValueError(f"need at least 2 samples for a slope (got {t.size})")
    return float(stats.theilslopes(y, t).slope) * SECONDS_PER_HOUR


def _pair_indices(n: int) -> tuple[np.ndarray, np.ndarray]:
    i, j = np.triu_indices(n, k=1)
    return i, j


def _autocorrelation(x: np.ndarray, max_lag: int) -> np.ndarray:
    x = x - x.mean()
    denom = float(np.dot(x, x))
    if denom == 0.0:
        return np.zeros(max_lag + 1)
    return np.array([1.0] + [float(np.dot(x[:-k], x[k:])) / denom for k in range(1, max_lag + 1)])


def block_length_samples(residuals: np.ndarray) -> int:
    """Bootstrap block length: twice the first insignificant autocorrelation lag, in [n^(1/3), n/4]."""
    n = residuals.size
    lower = max(1, math.ceil(n ** (1.0 / 3.0)))
    upper = max(lower, n // 4)
    acf = _autocorrelation(residuals, min(n - 1, upper))
    threshold = 2.0 / math.sqrt(n)
    first_small = next((k for k in range(1, acf.size) if abs(acf[k]) < threshold), acf.size)
    return int(min(upper, max(lower, 2 * first_small)))


def bootstrap_slope_ci(t_s, values, *, confidence: float = 0.95, n_boot: int = 400,
                       seed: int = 0) -> tuple[float, float, float, int]:
    """Theil-Sen slope and its moving-block-bootstrap interval, all in bytes per hour.

    Returns ``(slope, low, high, block_length_samples)``. The residuals around the Theil-Sen line
    are resampled in moving blocks (``numpy.random.default_rng(seed)``), so the same data always
    give the same interval.
    """
    t, y = binned(t_s, values)
    n = t.size
    if n < MIN_POINTS:
        raise ValueError(f"need at least {MIN_POINTS} samples for an interval (got {n})")
    fit = stats.theilslopes(y, t, alpha=confidence)
    slope_per_s, intercept = float(fit.slope), float(fit.intercept)
    residuals = y - (intercept + slope_per_s * t)
    block = block_length_samples(residuals)
    i, j = _pair_indices(n)
    dt = t[j] - t[i]
    rng = np.random.default_rng(seed)
    n_blocks = math.ceil(n / block)
    starts = rng.integers(0, n - block + 1, size=(n_boot, n_blocks))
    offsets = np.arange(block)
    boot = np.empty(n_boot)
    chunk = max(1, 4_000_000 // max(1, i.size))  # bound memory: chunk x pairs doubles
    for lo in range(0, n_boot, chunk):
        hi = min(n_boot, lo + chunk)
        idx = (starts[lo:hi, :, None] + offsets).reshape(hi - lo, -1)[:, :n]
        e_star = residuals[idx]
        # Theil-Sen of (line + e*) = true slope + median pairwise slope of e*
        boot[lo:hi] = slope_per_s + np.median((e_star[:, j] - e_star[:, i]) / dt, axis=1)
    alpha = 1.0 - confidence
    boot_low, boot_high = np.quantile(boot, [alpha / 2.0, 1.0 - alpha / 2.0])
    # Sen's rank interval widened by the AR(1) variance inflation sqrt((1+rho)/(1-rho)).
    rho = float(np.clip(_autocorrelation(residuals, 1)[1], 0.0, 0.99))
    inflation = math.sqrt((1.0 + rho) / (1.0 - rho))
    sen_low = slope_per_s - (slope_per_s - float(fit.low_slope)) * inflation
    sen_high = slope_per_s + (float(fit.high_slope) - slope_per_s) * inflation
    low, high = min(float(boot_low), sen_low), max(float(boot_high), sen_high)
    return (slope_per_s * SECONDS_PER_HOUR, low * SECONDS_PER_HOUR, high * SECONDS_PER_HOUR, block)


def _hinge_sse(t: np.ndarray, y: np.ndarray, knee_t: float) -> tuple[float, float, float]:
    """SSE and the two slopes (per s) of the continuous two-segment least-squares fit at knee_t."""
    design = np.column_stack([np.ones_like(t), np.minimum(t - knee_t, 0.0), np.maximum(t - knee_t, 0.0)])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    return float(resid @ resid), float(coef[1]), float(coef[2])


def find_knee_index(t_s, values, max_fraction: float = WARMUP_MAX_FRACTION) -> int:
    """Index (into the given series) where growth slows down markedly, or 0 if it does not.

    Searches the continuous two-segment fit over knees in the first ``max_fraction`` of the
    series; keeps the knee if ``n_eff * ln(SSE_line / SSE_hinge) > WARMUP_CHANGE_STATISTIC``
    (n_eff from the lag-1 autocorrelation of the hinge residuals) and the early slope is
    positive and more than twice the later one.
    """
    t, y = _as_series(t_s, values)
    n = t.size
    if n < 2 * MIN_POINTS:
        return 0
    tb, yb = binned(t, y)
    nb = tb.size
    last = max(3, int(nb * max_fraction))
    candidates = np.unique(np.linspace(2, last, num=min(100, last - 1)).astype(int))
    best = None
    for k in candidates:
        sse, b1, b2 = _hinge_sse(tb, yb, float(tb[k]))
        if best is None or sse < best[0]:
            best = (sse, b1, b2, int(k))
    if best is None:
        return 0
    sse_hinge, early_slope, late_slope, knee = best
    line = np.polyfit(tb, yb, 1)
    sse_line = float(np.sum((yb - np.polyval(line, tb)) ** 2))
    if sse_hinge <= 0.0:
        statistic = math.inf if sse_line > 0.0 else 0.0
    else:
        design_knee = float(tb[knee])
        design = np.column_stack([np.ones_like(tb), np.minimum(tb - design_knee, 0.0),
                                  np.maximum(tb - design_knee, 0.0)])
        coef, *_ = np.linalg.lstsq(design, yb, rcond=None)
        resid = yb - design @ coef
        rho = float(np.clip(_autocorrelation(resid, 1)[1], 0.0, 0.95))
        n_eff = nb * (1.0 - rho) / (1.0 + rho)
        statistic = n_eff * math.log(max(sse_line, 1e-300) / sse_hinge)
    if statistic <= WARMUP_CHANGE_STATISTIC:
        return 0
    if not (early_slope > 0.0 and early_slope > 2.0 * max(late_slope, 0.0)):
        return 0
    return int(np.searchsorted(t, tb[knee]))


def warmup_end_index(t_s, values, max_fraction: float = WARMUP_MAX_FRACTION, max_passes: int = 3) -> int:
    """Index of the first steady sample: knees are searched again after each cut (a curved
    warm-up leaves curvature after its first knee) until none is found, at most ``max_passes``
    times and never past ``max_fraction`` of the series."""
    t, y = _as_series(t_s, values)
    limit = int(t.size * max_fraction)
    start = 0
    for _ in range(max_passes):
        remaining_fraction = (limit - start) / max(1, t.size - start)
        if remaining_fraction <= 0.05:
            break
        knee = find_knee_index(t[start:], y[start:], max_fraction=remaining_fraction)
        if knee == 0:
            break
        start += knee
    return min(start, limit)


def min_duration_s(window_s: float, ci_low: float, ci_high: float, detect_bytes_per_hour: float,
                   confidence: float, floor_s: float) -> float:
    """Steady seconds needed for a true growth of ``detect_bytes_per_hour`` to exclude zero from
    the interval with 80% power, extrapolated from an interval measured over ``window_s``
    (standard error of a trend in stationary noise scales as T^(-3/2))."""
    z = float(stats.norm.ppf(0.5 + confidence / 2.0))
    se_bytes_per_hour = (ci_high - ci_low) / (2.0 * z)
    if se_bytes_per_hour <= 0.0 or window_s <= 0.0:
        return floor_s
    needed_se = detect_bytes_per_hour / (z + POWER_Z)
    return max(floor_s, window_s * (se_bytes_per_hour / needed_se) ** (2.0 / 3.0))


def growth_slowed(first: float, first_low: float, first_high: float, last: float, last_low: float,
                  last_high: float, confidence: float) -> bool:
    """Whether growth stopped or slowed markedly (a plateau), from the slopes of the first and
    last parts and their intervals (bytes per hour): the first part grew (its interval is above
    zero), the last grows at less than ``PLATEAU_SLOWDOWN_RATIO`` of it, and the drop is
    significant one-sided at ``confidence`` (standard errors read off the two independent
    intervals)."""
    if not (first_low > 0.0 and last < PLATEAU_SLOWDOWN_RATIO * first):
        return False
    z_two_sided = float(stats.norm.ppf(0.5 + confidence / 2.0))
    se_diff = math.hypot(first_high - first_low, last_high - last_low) / (2.0 * z_two_sided)
    return first - last > float(stats.norm.ppf(confidence)) * se_diff


def lower_envelope(t_s, values, window_s: float = ENVELOPE_S) -> tuple[np.ndarray, np.ndarray]:
    """The running minimum of ``values`` over ``window_s`` (at most a tenth of the series), each
    stamped at its window's mean time: the memory the process keeps. Transient allocations
    (a burst of requests, a GC generation not yet collected) only ever raise the readings, and
    more of them at a heavier load would read as growth; a leak raises the floor."""
    t, y = _as_series(t_s, values)
    if t.size < 2:
        return t, y
    interval_s = float(np.median(np.diff(t)))
    k = int(min(max(1, round(window_s / interval_s)), max(1, t.size // 10)))
    if k <= 1:
        return t, y
    windows = np.lib.stride_tricks.sliding_window_view
    return windows(t, k).mean(axis=1), windows(y, k).min(axis=1)


def _se(low: float, high: float, confidence: float) -> float:
    """Standard error read off a two-sided interval."""
    return (high - low) / (2.0 * float(stats.norm.ppf(0.5 + confidence / 2.0)))


def slowed_down(earlier: float, earlier_low: float, earlier_se: float, later: float, later_se: float,
                ratio: float = SLOWING_RATIO, confidence: float = SLOWING_CONFIDENCE) -> bool:
    """Whether growth slowed: the earlier rate clearly above zero, the later one below ``ratio``
    of it, and the drop significant one-sided at ``confidence`` (bytes per hour)."""
    if not (earlier_low > 0.0 and later < ratio * earlier):
        return False
    return earlier - later > float(stats.norm.ppf(confidence)) * math.hypot(earlier_se, later_se)


def settle_duration_s(earlier: float, earlier_t_s: float, later: float, later_t_s: float,
                      settled_bytes_per_hour: float) -> float:
    """Seconds from the series start until a rate decaying geometrically from ``earlier`` (at
    ``earlier_t_s``) to ``later`` (at ``later_t_s``) falls below ``settled_bytes_per_hour``;
    ``later_t_s`` if it already has."""
    if later <= settled_bytes_per_hour or earlier <= later or later_t_s <= earlier_t_s:
        return later_t_s
    time_constant_s = (later_t_s - earlier_t_s) / math.log(earlier / later)
    return later_t_s + time_constant_s * math.log(later / settled_bytes_per_hour)


def _mb_per_h(bytes_per_hour: float) -> str:
    return f"{bytes_per_hour / 1e6:.0f} MB/h"


def format_duration(seconds: float) -> str:
    """Seconds as people read a run length: "45 s", "12 min", "3.5 h"."""
    if seconds < 120.0:
        return f"{math.ceil(seconds):.0f} s"
    if seconds < 600.0:
        return f"{math.ceil(seconds / 6.0) / 10.0:g} min"
    if seconds < 2 * SECONDS_PER_HOUR:
        return f"{math.ceil(seconds / 60.0):.0f} min"
    return f"{seconds / SECONDS_PER_HOUR:.1f} h"


def estimate_growth(t_s, values, *, detect_bytes_per_hour: float = DEFAULT_DETECT_BYTES_PER_HOUR,
                    confidence: float = 0.95, n_boot: int = 400, seed: int = 0) -> GrowthEstimate:
    """Growth per hour of a memory series (``t_s``: seconds, increasing; ``values``: bytes).

    Cuts the detected warm-up, estimates Theil-Sen growth with a moving-block-bootstrap interval
    over the steady part, flags a plateau or a slowing growth, computes the run length needed to
    tell ``detect_bytes_per_hour`` from zero, and says whether the run can tell a warm-up from
    steady growth at all (``undecided_reason``; module docstring, point 6). Raises ValueError when
    the series is too short (fewer than ``MIN_POINTS`` samples after the warm-up) or malformed.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1) (got {confidence})")
    t_raw, y_raw = _as_series(t_s, values)
    if t_raw.size < MIN_POINTS:
        raise ValueError(f"need at least {MIN_POINTS} samples to estimate growth (got {t_raw.size})")
    t, y = lower_envelope(t_raw, y_raw)
    warm = warmup_end_index(t, y)
    ts, ys = t[warm:], y[warm:]
    steady, low, high, block = bootstrap_slope_ci(ts, ys, confidence=confidence, n_boot=n_boot, seed=seed)
    steady_se = _se(low, high, confidence)

    thirds = np.array_split(np.arange(ts.size), 3)
    first = theil_sen_bytes_per_hour(ts[thirds[0]], ys[thirds[0]]) if thirds[0].size >= 2 else steady
    last = theil_sen_bytes_per_hour(ts[thirds[2]], ys[thirds[2]]) if thirds[2].size >= 2 else steady
    thirds_measurable = thirds[0].size >= MIN_POINTS and thirds[2].size >= MIN_POINTS
    plateau = slowing = False
    sustained = False  # growth at the target rate or more from the first third to the last
    if thirds_measurable:
        _, first_low, first_high, _ = bootstrap_slope_ci(ts[thirds[0]], ys[thirds[0]], confidence=confidence,
                                                         n_boot=n_boot, seed=seed + 1)
        _, last_low, last_high, _ = bootstrap_slope_ci(ts[thirds[2]], ys[thirds[2]], confidence=confidence,
                                                       n_boot=n_boot, seed=seed + 2)
        plateau = growth_slowed(first, first_low, first_high, last, last_low, last_high, confidence)
        first_se, last_se = _se(first_low, first_high, confidence), _se(last_low, last_high, confidence)
        # against the first third (a warm-up) or the whole steady part (a staircase of load steps)
        slowing = plateau or slowed_down(first, first_low, first_se, last, last_se) or slowed_down(
            steady, low, steady_se, last, last_se)
        sustained = min(first_low, last_low) >= detect_bytes_per_hour
    else:  # a third's rate from a few samples: its standard error by the T^(-3/2) law
        first_se = last_se = steady_se * 3.0 ** 1.5
    growth, window = steady, (ts, ys)
    if slowing:
        # Judge the rate after the knee: from the knee (searched over the first two thirds) or the
        # last third, whichever is earlier, so the window is as long as the data allow.
        knee = find_knee_index(ts, ys, max_fraction=2.0 / 3.0)
        start = min(knee, int(thirds[2][0])) if knee > 0 else int(thirds[2][0])
        window = (ts[start:], ys[start:])
        growth, low, high, _ = bootstrap_slope_ci(*window, confidence=confidence, n_boot=n_boot, seed=seed)

    # Residuals around the steady line at full resolution (the slope came from the binned series;
    # Theil-Sen on every raw sample of a long soak would be O(n^2)).
    slope_per_s = steady / SECONDS_PER_HOUR
    intercept = float(np.median(ys - slope_per_s * ts))
    residuals = ys - (intercept + slope_per_s * ts)
    noise = 1.4826 * float(np.median(np.abs(residuals - np.median(residuals))))
    interval_s = float(np.median(np.diff(t_raw)))
    window_s = float(window[0][-1] - window[0][0])
    warmup_s = float(ts[0] - t[0])
    steady_s = float(ts[-1] - ts[0])
    needed_s = min_duration_s(window_s, low, high, detect_bytes_per_hour, confidence,
                              floor_s=MIN_POINTS * interval_s)

    # Decidable? (module docstring, point 6)
    rate_scale = max(abs(steady), detect_bytes_per_hour)
    se_diff = math.hypot(first_se, last_se)
    power_z = float(stats.norm.ppf(SLOWING_CONFIDENCE)) + POWER_Z
    drop = DECIDE_SLOWDOWN * rate_scale
    too_short = not thirds_measurable or power_z * se_diff > drop
    measured_low, measured_high = low, high
    if slowing or too_short or not sustained:
        # the warm-up may yet end (or the shrinking stop): the long-run rate may be no growth
        low, high = min(low, 0.0), max(high, 0.0)
    undecided_reason, needed_to_decide = None, None
    if (slowing or too_short or not sustained) and high >= detect_bytes_per_hour:
        earlier, earlier_name = max((first, "first third"), (steady, "whole steady part"))
        looks_slowing = slowing or (earlier > 0.0 and last < SLOWING_RATIO * earlier)
        floor = warmup_s + 3 * MIN_POINTS * interval_s
        candidates = [floor]
        if looks_slowing:
            centre = lambda part: float(ts[part].mean() - t[0]) if part.size else warmup_s  # noqa: E731
            earlier_t = centre(thirds[0]) if earlier_name == "first third" else warmup_s + steady_s / 2.0
            settle = settle_duration_s(earlier, earlier_t, last, centre(thirds[2]),
                                       SETTLED_FRACTION * detect_bytes_per_hour)
            candidates += [3.0 * settle, settle + needed_s]
        if too_short and se_diff > 0.0 and steady_s > 0.0:
            candidates.append(warmup_s + steady_s * (power_z * se_diff / drop) ** (2.0 / 3.0))
        if not (slowing or too_short):  # not sustained: twice the run, to see whether it goes on
            candidates.append(2.0 * float(t_raw[-1] - t_raw[0]))
        needed_to_decide = max(candidates)
        total_s = float(t_raw[-1] - t_raw[0])
        decide = f"run ≥ {format_duration(needed_to_decide)} to decide"
        if slowing:
            undecided_reason = (f"growth slowing: {earlier / 1e6:.0f} → {_mb_per_h(last)} ({earlier_name} → "
                                f"last third of {format_duration(total_s)}), a warm-up not over yet; {decide}")
        elif looks_slowing:
            undecided_reason = (f"growth slowing: {earlier / 1e6:.0f} → {_mb_per_h(last)} ({earlier_name} → "
                                f"last third), but {format_duration(total_s)} (n={t_raw.size}) is too short to tell "
                                f"warm-up from steady growth; {decide}")
        elif not too_short:
            undecided_reason = (f"growth not sustained: first third {_mb_per_h(first)}, last third "
                                f"{_mb_per_h(last)} of {format_duration(total_s)}, not both clearly above "
                                f"{_mb_per_h(detect_bytes_per_hour)} as a leak's would be (a warm-up, or memory "
                                f"following the load); {decide}")
        else:
            undecided_reason = (f"{format_duration(total_s)} (n={t_raw.size}) is too short to tell warm-up from "
                                f"steady growth (first third {_mb_per_h(first)}, last third {_mb_per_h(last)}); "
                                f"{decide}")
    return GrowthEstimate(
        growth_bytes_per_hour=growth, ci_low_bytes_per_hour=low, ci_high_bytes_per_hour=high,
        confidence=confidence, steady_growth_bytes_per_hour=steady,
        first_part_bytes_per_hour=first, last_part_bytes_per_hour=last, plateau=bool(plateau),
        warmup_s=warmup_s, duration_s=steady_s, estimate_window_s=window_s,
        total_duration_s=float(t_raw[-1] - t_raw[0]), n_samples=int(t_raw.size), noise_bytes=noise,
        block_length_samples=block, detect_bytes_per_hour=detect_bytes_per_hour,
        min_duration_s_to_detect=warmup_s + needed_s, growth_slowing=bool(slowing), too_short=bool(too_short),
        measured_ci_low_bytes_per_hour=measured_low, measured_ci_high_bytes_per_hour=measured_high,
        undecided_reason=undecided_reason, min_duration_s_to_decide=needed_to_decide,
    )
