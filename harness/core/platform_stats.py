"""The platform's own counters, scraped during a run: cache hit ratio and monitoring delay (pure).

Inputs are plain arrays from ``platform/metrics.csv`` (one row per /metrics scrape) and the
client's ``requests.csv``; no clock, no files.

Cache hit ratio: lookups counted by the shop (``shop_cache_lookups_total``) over the steady
windows of the run, hits / (hits + misses + bypass), with a Clopper-Pearson interval.
Counters are cumulative per process, so each window's count is the increase between the first
and the last scrape in it, per answering process (a restart or another worker starts a new
series; a counter that goes down within one process is a reset and counts from 0).

Monitoring delay (staleness): at a scrape read at time T showing C client requests, the
monitor's view is complete up to the (C+1)-th client completion; if that request had already
completed at the client at time t <= T, the view was T - t stale, else 0. This is 0 for a
counter updated as each request completes, and equals D for a counter that shows requests D
seconds late; it needs one counter shared by every request (one process answering).
"""

from __future__ import annotations

import numpy as np

from harness.core import rates

CACHE_DEFINITION = (
    "cache hit ratio: the shop's cache lookups (shop_cache_lookups_total) in the run's steady windows "
    "(each stage after its ramp), hits / (hits + misses + bypass); bypass = a lookup skipped because the "
    "cache is switched off (cache_enabled = false), so a switched-off cache has ratio 0. Per window, the "
    "increase between its first and last scrape per shop process; 95% Clopper-Pearson interval treating "
    "lookups as independent trials"
)
TELEMETRY_DEFINITION = (
    "monitoring delay: staleness of the shop's /metrics request counter, per scrape during the load. "
    "At a scrape read at T (conservatively, when its response arrived) showing C client requests since "
    "the load began, the view is complete up to the (C+1)-th request to complete at the client (sorted by "
    "t_s + response_ms; shop requests with a response only); if that one had completed at t <= T the delay "
    "is T - t, else 0. delay_p95_s is the nearest-rank P95 over scrapes, delay_max_s the largest. It "
    "includes up to scrape_ms of the scrape's own duration; requests by other clients of the shop would "
    "hide delay (floored at 0)"
)

TIME_DEFINITION = (
    "platform time: per stage (its steady part), the increase of the shop's own counters between the "
    "first and last scrape in the window, per shop process, summed: request_s = time spent answering "
    "requests (shop_http_request_duration_seconds_sum: shoppers' and the gateway's notifications; the "
    "harness's scrapes and admin calls left out), db_s = time on the database (shop_db_seconds_total: executing SQL, "
    "simulated reads, waiting for a connection), db_wait_s = the wait for a connection alone. "
    "db_share = db_s / request_s: the part of request time the database accounts for (the rest is the "
    "shop's own work, its queue, and the gateway calls it makes). Requests overlap, so both are sums of "
    "request durations, not wall-clock time; the background re-query job's SQL is outside any request (db_share "
    "is capped at 1)"
)


def time_block(request_s: float, db_s: float, db_wait_s: float) -> dict:
    """``{"request_s", "db_s", "db_wait_s", "db_share", "db_wait_share"}`` (shares None without
    request time)."""

    def share(part: float) -> float | None:
        return min(1.0, part / request_s) if request_s > 0 else None

    return {"request_s": round(request_s, 4), "db_s": round(db_s, 4), "db_wait_s": round(db_wait_s, 4),
            "db_share": share(db_s), "db_wait_share": share(db_wait_s)}


def counter_increase(values: np.ndarray) -> float:
    """How much a cumulative counter rose over consecutive readings; a drop is a reset (the
    value after it counts from 0), as Prometheus' ``increase`` treats it."""
    values = np.asarray(values, dtype=float)
    if values.size < 2:
        return 0.0
    steps = np.diff(values)
    return float(np.where(steps >= 0, steps, values[1:]).sum())


def windowed_increase(t_s: np.ndarray, process: np.ndarray, values: np.ndarray,
                      windows_s: list[tuple[float, float]]) -> tuple[float, int]:
    """Sum over windows [start_s, end_s] and over answering processes of the counter's
    increase between the scrapes inside the window; also the number of scrapes used."""
    t_s, process, values = np.asarray(t_s, float), np.asarray(process), np.asarray(values, float)
    total, used = 0.0, 0
    for start_s, end_s in windows_s:
        inside = (t_s >= start_s) & (t_s <= end_s)
        used += int(inside.sum())
        for pid in np.unique(process[inside]):
            rows = inside & (process == pid)
            order = np.argsort(t_s[rows], kind="stable")
            total += counter_increase(values[rows][order])
    return total, used


def cache_block(hits: float, misses: float, bypass: float) -> dict:
    """``{"hit_ratio", "ci", "hits", "misses", "bypass", "lookups"}`` (ratio and ci None
    without lookups)."""
    hits, misses, bypass = int(round(hits)), int(round(misses)), int(round(bypass))
    lookups = hits + misses + bypass
    figure = rates.rate(hits, lookups)
    return {"hit_ratio": figure.rate, "ci": None if figure.ci_low is None else [figure.ci_low, figure.ci_high],
            "hits": hits, "misses": misses, "bypass": bypass, "lookups": lookups}


def staleness_s(scrape_t_s: np.ndarray, shown_count: np.ndarray, completion_t_s: np.ndarray) -> np.ndarray:
    """Per scrape, seconds since the oldest client completion the counter does not show yet
    (0 when it shows every completion by then). ``shown_count`` is relative to the load's start.
    Completions already sorted are used as they are (a day's soak holds tens of millions)."""
    done = np.asarray(completion_t_s, dtype=float)
    if done.size > 1 and not np.all(done[:-1] <= done[1:]):
        done = np.sort(done)
    scrape_t_s = np.asarray(scrape_t_s, dtype=float)
    if done.size == 0:
        return np.zeros_like(scrape_t_s)
    shown = np.clip(np.floor(np.asarray(shown_count, dtype=float)), 0, None).astype(np.int64)
    completed_by_then = np.searchsorted(done, scrape_t_s, side="right")
    oldest_missing = done[np.minimum(shown, done.size - 1)]
    return np.where(shown < completed_by_then, np.maximum(0.0, scrape_t_s - oldest_missing), 0.0)


def telemetry_block(delays_s: np.ndarray) -> dict:
    """``{"delay_p95_s", "delay_max_s", "delay_mean_s", "n"}`` over per-scrape delays
    (nearest-rank P95; None without scrapes)."""
    delays_s = np.sort(np.asarray(delays_s, dtype=float))
    n = int(delays_s.size)
    if n == 0:
        return {"delay_p95_s": None, "delay_max_s": None, "delay_mean_s": None, "n": 0}
    p95 = float(delays_s[int(np.ceil(0.95 * n)) - 1])
    return {"delay_p95_s": p95, "delay_max_s": float(delays_s[-1]), "delay_mean_s": float(delays_s.mean()), "n": n}


def cpu_seconds_in(t_s: np.ndarray, process: np.ndarray, cpu_percent: np.ndarray, start_s: float,
                   end_s: float) -> float | None:
    """CPU seconds the processes used in ``[start_s, end_s]`` from psutil samples: each
    sample's ``cpu_percent`` covers the time since the same process's previous sample, and a
    sample straddling an edge counts for its overlap. None when no sample interval overlaps."""
    t_s, process, cpu_percent = np.asarray(t_s, float), np.asarray(process), np.asarray(cpu_percent, float)
    total, seen = 0.0, False
    for pid in np.unique(process):
        rows = process == pid
        order = np.argsort(t_s[rows], kind="stable")
        times, pct = t_s[rows][order], cpu_percent[rows][order]
        if times.size < 2:
            continue
        overlap = np.clip(np.minimum(times[1:], end_s) - np.maximum(times[:-1], start_s), 0.0, None)
        usable = np.isfinite(pct[1:])
        seen = seen or bool((overlap[usable] > 0).any())
        total += float(np.sum(pct[1:][usable] / 100.0 * overlap[usable]))
    return total if seen else None
