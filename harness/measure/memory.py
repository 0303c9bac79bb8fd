"""Memory growth of the platform over a run.

The shell around :mod:`harness.core.growth`: reads ``samples.csv`` (psutil, ~1 Hz), the run's
stages from ``events.jsonl`` (or the manifest), and memray captures under ``RUN/platform/``,
and returns the ``memory`` block of results.json (docs/run-directory.md).

Metric: USS summed over the platform's own processes (roles ``shop``, ``shop-worker``, ``sut``;
the gateway simulator stands for an outside party and the load generator is not the
platform). USS counts only pages private to each process, so forked gunicorn workers sharing
their master's pages are not counted twice, and the sum is the memory the platform would give
back if it stopped. When USS is missing (no permission to read smaps) the RSS sum is used and
``metric`` says so.

The allocation sites come from :mod:`harness.measure.memray_sites`; with memray attached in
windows, growth is judged on the span between them (``judged_metric``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.core import growth, memray_windows
from harness.errors import InputError
from harness.measure import memray_sites
from harness.rundir import read, schema

PLATFORM_ROLES = schema.PLATFORM_ROLES


def memory_results(run_dir: Path) -> dict | None:
    """The ``memory`` block of results.json, or None when the run has no memory samples.

    A malformed samples.csv gives a block whose ``error`` names the file and the problem.
    Growth figures are bytes per hour with a 95% interval (``ci_low``, ``ci_high``); durations
    are seconds. When there are too few samples to estimate, the growth fields are None and
    ``reason`` says why.
    """
    run_dir = Path(run_dir)
    try:
        series = platform_memory_series(run_dir)
    except (ValueError, InputError) as error:  # a malformed file: say so in the results, judge nothing on it
        return {"metric": None, "growth_bytes_per_hour": None, "ci_low": None, "ci_high": None,
                "duration_s": None, "warmup_s": None, "plateau": None, "leak_sites": [], "flamegraph": None,
                "error": str(error)}
    if series is None:
        return None
    metric, t_s, bytes_ = series
    events = read.read_events(run_dir)
    window = schema.load_window_t_s(events)
    if window is not None:
        keep = (t_s >= window[0]) & (t_s <= window[1])
        if keep.sum() >= growth.MIN_POINTS:
            t_s, bytes_ = t_s[keep], bytes_[keep]
    windows = memray_sites.memray_windows_from_events(events)
    judged_metric, judged_span = metric, None
    if windows and t_s.size:
        # memray's attach and bookkeeping are a step in the process's memory: judge the span between windows
        judged_span = memray_windows.judged_span_t_s((float(t_s[0]), float(t_s[-1])),
                                                     [(w["start_t_s"], w["end_t_s"]) for w in windows])
        keep = (t_s >= judged_span[0]) & (t_s <= judged_span[1]) if judged_span else np.zeros(t_s.size, bool)
        if keep.sum() >= growth.MIN_POINTS:
            t_s, bytes_ = t_s[keep], bytes_[keep]
            judged_metric = (f"{metric}, between memray's windows (each window and {memray_windows.SETTLE_S:g} s "
                             f"after it left out): {judged_span[1] - judged_span[0]:.0f} s from "
                             f"{judged_span[0] - (window[0] if window else judged_span[0]):.0f} s into the load")
        else:
            judged_metric = f"{metric}, memray windows included (too few samples between them)"
        series = (metric, *_outside_windows(series[1], series[2], windows))
    result: dict = {"metric": metric, "judged_metric": judged_metric,
                    "growth_bytes_per_hour": None, "ci_low": None, "ci_high": None,
                    "duration_s": float(t_s[-1] - t_s[0]) if t_s.size else 0.0, "warmup_s": None,
                    "plateau": None, "min_duration_s_to_detect_0_1GB_per_h": None,
                    "target_bytes_per_hour": growth.DEFAULT_DETECT_BYTES_PER_HOUR,
                    "n_samples": int(t_s.size), "leak_sites": [], "flamegraph": None}
    try:
        estimate = growth.estimate_growth(t_s, bytes_)
    except ValueError as error:
        source = (schema.REMOTE_METRICS.relative_path if metric.startswith("process_resident_memory_bytes")
                  else schema.SAMPLES.relative_path)
        result["reason"] = f"{source}: {error}"
        estimate = None
    if estimate is not None:
        result.update(estimate_fields(estimate))
        result["window_t_s"] = [float(t_s[0]), float(t_s[-1])]
        result["stages"] = stage_growth(events, series)
    steady_start_t_s = float(t_s[0] + (estimate.warmup_s if estimate else 0.0)) if t_s.size else None
    if windows:
        result.update(memray_sites.window_findings(run_dir, windows, judged_span))
        result["memray_windows"]["cost"] = memray_sites.memray_cost(run_dir, events, windows)
        return result
    captures = memray_sites.memray_captures(run_dir)
    if captures:
        result.update(memray_sites.memray_findings(run_dir, captures, steady_start_t_s))
    return result


def _outside_windows(t_s: np.ndarray, bytes_: np.ndarray, windows: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """The samples outside every memray window and the settling time after it."""
    keep = np.ones(t_s.size, dtype=bool)
    for w in windows:
        keep &= ~((t_s >= w["start_t_s"]) & (t_s <= w["end_t_s"] + memray_windows.SETTLE_S))
    return t_s[keep], bytes_[keep]


def estimate_fields(estimate: growth.GrowthEstimate) -> dict:
    """The results.json fields of a growth estimate (bytes per hour, seconds)."""
    return {
        "growth_bytes_per_hour": estimate.growth_bytes_per_hour,
        "ci_low": estimate.ci_low_bytes_per_hour,
        "ci_high": estimate.ci_high_bytes_per_hour,
        "confidence": estimate.confidence,
        "duration_s": estimate.duration_s,
        "warmup_s": estimate.warmup_s,
        "plateau": estimate.plateau,
        "min_duration_s_to_detect_0_1GB_per_h": estimate.min_duration_s_to_detect,
        "steady_growth_bytes_per_hour": estimate.steady_growth_bytes_per_hour,
        "first_part_bytes_per_hour": estimate.first_part_bytes_per_hour,
        "last_part_bytes_per_hour": estimate.last_part_bytes_per_hour,
        "estimate_window_s": estimate.estimate_window_s,
        "noise_bytes": estimate.noise_bytes,
        "block_length_samples": estimate.block_length_samples,
        # decidable or not (harness.core.growth, point 6): a warm-up not told from a leak is judged warn
        "growth_slowing": estimate.growth_slowing,
        "too_short": estimate.too_short,
        "measured_ci_low": estimate.measured_ci_low_bytes_per_hour,
        "measured_ci_high": estimate.measured_ci_high_bytes_per_hour,
        "undecided_reason": estimate.undecided_reason,
        "min_duration_s_to_decide": estimate.min_duration_s_to_decide,
    }


def platform_memory_series(run_dir: Path) -> tuple[str, np.ndarray, np.ndarray] | None:
    """``(metric, t_s, bytes)``: the platform's memory per sampling tick, or None if no rows.

    The platform is ``schema.PLATFORM_ROLES`` (the gateway simulator stands in for a system
    outside it). A tick is the rows sharing one ``t_s`` (the sampler stamps a whole tick with
    one time). USS summed when every platform row has it, else RSS summed. The one series
    every memory-growth figure (results.json, compare, history, capacity) is fitted on.

    A platform the harness did not start and cannot sample (a remote target) is seen through
    ``--metrics-url`` instead: :func:`remote_memory_series`.
    """
    frame = (read.read_samples(run_dir, columns=["t_s", "role", "rss_bytes", "uss_bytes"])
             if read.has(run_dir, schema.SAMPLES.relative_path) else None)
    if frame is not None:
        frame = frame[frame["role"].astype(str).isin(PLATFORM_ROLES)].dropna(subset=["rss_bytes"])
    if frame is None or frame.empty:
        return remote_memory_series(run_dir)
    column = "uss_bytes" if frame["uss_bytes"].notna().all() else "rss_bytes"
    roles = ", ".join(r for r in PLATFORM_ROLES if r in set(frame["role"].astype(str)))
    metric = f"{column.removesuffix('_bytes')} summed over the platform's processes ({roles})"
    per_tick = frame.groupby("t_s")[column].sum().sort_index()
    return metric, per_tick.index.to_numpy(dtype=float), per_tick.to_numpy(dtype=float)


def remote_memory_series(run_dir: Path) -> tuple[str, np.ndarray, np.ndarray] | None:
    """``(metric, t_s, bytes)`` from platform/remote_metrics.csv (``--metrics-url``): each round's
    ``process_resident_memory_bytes`` summed over the instances, only rounds where every instance
    answered with it; after an instance restarted (its start time changed), only the rounds since
    the last restart. None without such rows (no file, or endpoints without the process collector)."""
    if not read.has(run_dir, schema.REMOTE_METRICS.relative_path):
        return None
    frame = read.read_remote_metrics(run_dir, columns=["t_s", "instance", "rss_bytes", "start_time_s"])
    instances = sorted(set(frame["instance"].astype(str)))
    answered = frame.dropna(subset=["rss_bytes"])
    if answered.empty:
        return None
    restarts = answered.groupby("instance")["start_time_s"].nunique()
    note = ""
    if (restarts > 1).any():
        # rounds from the last (re)start of any instance on: RSS before a restart is another process's
        last_start = answered.groupby(["instance", "start_time_s"])["t_s"].min().max()
        answered = answered[answered["t_s"] >= last_start]
        note = f"; only the rounds after {', '.join(restarts[restarts > 1].index)} restarted"
    complete = answered.groupby("t_s")["instance"].nunique() == len(instances)
    rounds = answered[answered["t_s"].isin(complete[complete].index)]
    if rounds.empty:
        return None
    per_round = rounds.groupby("t_s")["rss_bytes"].sum().sort_index()
    source = "--metrics-url"
    manifest_path = Path(run_dir) / schema.MANIFEST
    if manifest_path.is_file():
        prometheus = read.read_json_object(manifest_path, "the run's manifest").get("prometheus")
        if isinstance(prometheus, dict):
            source = f"Prometheus {prometheus.get('url')} {prometheus.get('selector')}"
    metric = (f"process_resident_memory_bytes from {source}, summed over {len(instances)} instance(s) "
              f"({', '.join(instances)}){note}")
    return metric, per_round.index.to_numpy(dtype=float), per_round.to_numpy(dtype=float)


def stage_growth(events: list[dict], series: tuple[str, np.ndarray, np.ndarray]) -> list[dict]:
    """Growth per stage (bytes per hour, 95% interval), for stages with enough samples."""
    _, t_s, bytes_ = series
    out = []
    for name, start, end in schema.stage_spans_t_s(events):
        keep = (t_s >= start) & (t_s <= (end if end is not None else np.inf))
        if keep.sum() < 2 * growth.MIN_POINTS:
            continue
        try:
            estimate = growth.estimate_growth(t_s[keep], bytes_[keep], n_boot=200)
        except ValueError:
            continue
        out.append({"stage": name, "growth_bytes_per_hour": estimate.growth_bytes_per_hour,
                    "ci_low": estimate.ci_low_bytes_per_hour, "ci_high": estimate.ci_high_bytes_per_hour,
                    "duration_s": estimate.duration_s, "plateau": estimate.plateau})
    return out
