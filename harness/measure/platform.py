"""``platform/metrics.csv`` (the shop's /metrics scraped during the run) into results.json's
``platform_cache``, ``telemetry`` and ``platform_time`` blocks; all None when the run has no
metrics.csv.

The statistics are in :mod:`harness.core.platform_stats`; this module reads the file, picks
the windows and the client's completions, and says why a figure is unknown.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from harness.core import platform_stats
from harness.measure.aggregate import RequestFigures
from harness.rundir import read, schema

DEFINITIONS = {
    "platform_cache": platform_stats.CACHE_DEFINITION,
    "telemetry": platform_stats.TELEMETRY_DEFINITION,
    "platform_time": platform_stats.TIME_DEFINITION,
}
def read_metrics(run_dir: Path) -> pd.DataFrame | None:
    """platform/metrics.csv (through the run directory's reader) as the scrapes that answered,
    sorted by time; None when the run has no such file."""
    if not read.has(run_dir, schema.METRICS.relative_path):
        return None
    frame = read.read_metrics(run_dir)
    answered = (frame["error"] == "") & frame["requests_total"].notna()
    return frame[answered].sort_values("t_s", kind="stable").reset_index(drop=True)


def platform_results(run_dir: Path, manifest: dict, windows, requests: RequestFigures
                     ) -> tuple[dict | None, dict | None, dict | None]:
    """(platform_cache, telemetry, platform_time) for a run; Nones without platform/metrics.csv.

    ``windows`` are analysis.StageWindow (steady_start_s, end_s); ``requests`` the client's
    requests.csv reduced (its first and last times, and when each request to the shop completed).
    """
    scrapes = read_metrics(Path(run_dir))
    if scrapes is None:
        return None, None, None
    return _cache(scrapes, windows), _telemetry(scrapes, manifest, windows, requests), _time(scrapes, windows)


def _time(scrapes: pd.DataFrame, windows) -> dict:
    """Per stage (steady part): seconds the shop spent answering client requests and on its
    database, from the increases of its counters; the database's share of request time."""
    have = scrapes.dropna(subset=["request_seconds", "db_seconds"])
    pid = have["pid"].fillna(-1).to_numpy()
    stages = []
    for window in windows:
        span = [(window.steady_start_s, window.end_s)] if window.end_s > window.steady_start_s else []
        figures = {}
        for column in schema.METRICS_SECONDS_COLUMNS:
            values = have[column].fillna(0).to_numpy()
            figures[column], used = platform_stats.windowed_increase(have["t_s"].to_numpy(), pid, values, span)
        stages.append({"stage": window.name, "scrapes": used,
                       **platform_stats.time_block(figures["request_seconds"], figures["db_seconds"],
                                                   figures["db_wait_seconds"])})
    block = {"stages": stages, "processes": int(np.unique(pid).size)}
    if not len(have):
        block["reason"] = ("the shop's /metrics has no shop_db_seconds_total or request durations "
                           "(a shop without them, or a run directory written before they were scraped)")
    return block


def _cache(scrapes: pd.DataFrame, windows) -> dict:
    steady = [(w.steady_start_s, w.end_s) for w in windows if w.end_s > w.steady_start_s]
    have = scrapes.dropna(subset=["cache_hits", "cache_misses", "cache_bypass"])
    pid = have["pid"].fillna(-1).to_numpy()
    figures = {}
    for prefix in ("cache", "order_cache"):
        counts = []
        for result in ("hits", "misses", "bypass"):
            column = f"{prefix}_{result}"
            values = have[column].fillna(0).to_numpy()
            increase, used = platform_stats.windowed_increase(have["t_s"].to_numpy(), pid, values, steady)
            counts.append(increase)
        figures[prefix] = platform_stats.cache_block(*counts)
    block = {**figures["cache"], "order": figures["order_cache"], "scrapes": used,
             "processes": int(np.unique(pid).size)}
    if not len(have):
        block["reason"] = "the shop's /metrics has no shop_cache_lookups_total (a shop without cache counters)"
    elif not block["lookups"]:
        block["reason"] = "no cache lookups between scrapes in the steady windows (too few scrapes, or no load)"
    return block


def _telemetry(scrapes: pd.DataFrame, manifest: dict, windows, requests: RequestFigures) -> dict:
    empty = platform_stats.telemetry_block(np.array([]))
    workers = manifest.get("platform_workers")
    if isinstance(workers, int) and workers > 1:
        return {**empty, "reason": f"the shop ran with {workers} worker processes, each with its own counters: "
                                   f"a scrape sees one worker's requests, not all of them"}
    if not requests.count:
        return {**empty, "reason": "the client recorded no requests"}
    first_request_s = float(requests.first_t_s)
    load_end_s = max(w.end_s for w in windows) if windows else float(requests.last_t_s)
    read_s = scrapes["t_s"].to_numpy() + scrapes["scrape_ms"].fillna(0).to_numpy() / 1000.0
    before = np.flatnonzero(read_s <= first_request_s)
    if before.size == 0:
        return {**empty, "reason": "no scrape answered before the first request: the counter's baseline is unknown"}
    during = (scrapes["t_s"].to_numpy() > first_request_s) & (read_s <= load_end_s)
    pids = scrapes["pid"].to_numpy()
    seen = np.unique(pids[np.concatenate([before[-1:], np.flatnonzero(during)])])
    if seen.size > 1:
        return {**empty, "reason": f"{seen.size} shop processes answered /metrics during the load (several workers, "
                                   f"or a restart): one scrape does not see every request"}
    baseline = float(scrapes["requests_total"].iloc[before[-1]])
    shown = scrapes["requests_total"].to_numpy()[during] - baseline
    if np.any(np.diff(shown) < 0):
        return {**empty, "reason": "the shop's request counter went down during the load (a reset)"}
    completions = requests.shop_completions_t_s
    completed = int((completions <= read_s[during][-1]).sum()) if during.any() else 0
    if completed and shown[-1] < 0.5 * completed:
        # a counter that misses most requests is not late, it counts something else (one of
        # several workers, another service): a delay computed from it would be wrong
        return {**empty, "reason": f"the shop's request counter shows {int(shown[-1])} of the {completed} requests "
                                   f"the client had completed by the last scrape: it does not count every request "
                                   f"(several workers behind one address?)"}
    block = platform_stats.telemetry_block(platform_stats.staleness_s(read_s[during], shown, completions))
    block["client_requests"] = int(completions.size)
    block["shown_requests"] = int(shown[-1]) if shown.size else 0
    if not block["n"]:
        block["reason"] = "no scrape answered during the load"
    return block
