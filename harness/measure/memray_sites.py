"""The allocation sites that keep growing, from memray's captures under ``RUN/platform/``.

Whole-run captures (``memray run``, the old ``--memray``): ``get_leaked_allocation_records``
gives the bytes each site still held when tracking stopped, which a cache that filled shows as
loudly as a leak; so each site's live bytes are also followed over time from
``get_temporal_allocation_records`` (intervals between memory snapshots), and sites are ranked by
their growth per hour over the steady window. Aggregated captures (``memray run --aggregate``)
have no history: their sites carry ``growth_bytes_per_hour: null``.

Windows (``memray attach``, harness.execute.memray_attach): each window's aggregated capture
gives the bytes each site allocated during it and still held at its end; the windows are compared
site by site in :mod:`harness.core.memray_windows` (leak, slowing, cache, flat).

A site is attributed to its innermost frame outside the standard library and site-packages (the
project's own line that asked for the memory), falling back to the innermost frame.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
import sys
import sysconfig
from collections import defaultdict
from pathlib import Path

import numpy as np

from harness.core import growth, memray_windows, platform_stats
from harness.errors import InputError
from harness.rundir import read, schema, write_text_atomic

CAPTURE_NAME = re.compile(r"\.bin(\.\d+)?$")
TOP_SITES = 10
SITE_HISTORY_POINTS = 300
SLOPE_CANDIDATES = 50  # sites whose growth is fitted, per capture
FLAMEGRAPH_TIMEOUT_S = 600
SITES_CACHE = "memray-sites.json"
_LIBRARY_DIRS = tuple({p for key in ("stdlib", "platstdlib", "purelib", "platlib")
                       if (p := sysconfig.get_paths().get(key))})


def memray_captures(run_dir: Path) -> list[Path]:
    """memray capture files under RUN/platform/ (``*.bin`` and forked children's ``*.bin.<pid>``)."""
    platform_dir = run_dir / "platform"
    if not platform_dir.is_dir():
        return []
    return sorted(p for p in platform_dir.rglob("*.bin*") if p.is_file() and CAPTURE_NAME.search(p.name))


@functools.lru_cache(maxsize=65536)
def _is_library(filename: str) -> bool:
    return (filename.startswith("<") or "site-packages" in filename or "dist-packages" in filename
            or any(filename.startswith(d) for d in _LIBRARY_DIRS))


def site_of(stack: list[tuple[str, str, int]]) -> tuple[str, str, int]:
    """The (function, file, line) a stack (innermost first) is charged to: the innermost frame
    outside the standard library and site-packages, else the innermost frame."""
    for frame in stack:
        if not _is_library(frame[1]):
            return frame
    return stack[0] if stack else ("<unknown>", "<unknown>", 0)


def live_bytes_matrix(site_index: np.ndarray, allocated_before: np.ndarray, deallocated_before: np.ndarray,
                      n_bytes: np.ndarray, n_sites: int, snapshot_indices: np.ndarray) -> np.ndarray:
    """Live bytes per site (rows) at the given memray snapshot indices (columns, sorted).

    Interval k of site ``site_index[k]`` holds ``n_bytes[k]`` from snapshot
    ``allocated_before[k]`` up to, not including, ``deallocated_before[k]`` (-1: still live when
    tracking stopped).
    """
    delta = np.zeros((n_sites, snapshot_indices.size + 1))
    np.add.at(delta, (site_index, np.searchsorted(snapshot_indices, allocated_before)), n_bytes)
    freed = deallocated_before >= 0
    np.add.at(delta, (site_index[freed], np.searchsorted(snapshot_indices, deallocated_before[freed])),
              -n_bytes[freed])
    return np.cumsum(delta, axis=1)[:, :snapshot_indices.size]


class _SiteTable:
    """Sites met while reading a capture, each charged once per memray stack id."""

    def __init__(self) -> None:
        self.keys: list[tuple[str, str, int]] = []
        self.index: dict[tuple[str, str, int], int] = {}
        self.stacks: dict[int, list[str]] = {}
        self._by_stack: dict = {}

    def of(self, record) -> int:
        stack_key = (record.stack_id, record.tid)
        found = self._by_stack.get(stack_key)
        if found is None:
            stack = record.stack_trace()
            key = site_of(stack)
            found = self.index.setdefault(key, len(self.keys))
            if found == len(self.keys):
                self.keys.append(key)
                self.stacks[found] = [f"{f} {fi}:{ln}" for f, fi, ln in stack[:6]]
            self._by_stack[stack_key] = found
        return found


def capture_sites(path: Path, steady_start_t_s: float | None) -> tuple[dict, dict]:
    """Per-site figures of one capture, and a summary of the capture.

    Sites: ``{(function, file, line): {"live_bytes" (still live when tracking stopped),
    "growth_bytes_per_hour" (None without history), "stack"}}``; growth is the Theil-Sen slope
    of the site's live bytes over the snapshots after ``steady_start_t_s`` (epoch seconds).
    One pass over the temporal records gives both (reading a capture costs about a second per
    million allocations); an aggregated capture falls back to its leaked records.
    """
    import memray  # heavy import, deferred to runs that have captures

    table = _SiteTable()
    with memray.FileReader(str(path)) as reader:
        meta = reader.metadata
        snapshots = list(reader.get_memory_snapshots())
        # Per-site histories are kept at up to SITE_HISTORY_POINTS snapshots (memray snapshots
        # every ~10 ms: 30,000 for a 5-minute run, too many to hold per site).
        chosen = np.unique(np.linspace(0, max(0, len(snapshots) - 1),
                                       num=min(len(snapshots), SITE_HISTORY_POINTS)).astype(int))
        times_s = np.array([snapshots[i].time / 1000.0 for i in chosen]) if snapshots else np.array([])
        sites_col, alloc_col, dealloc_col, bytes_col = [], [], [], []
        has_history = True
        try:
            for record in reader.get_temporal_allocation_records(merge_threads=True):
                site = table.of(record)
                for interval in record.intervals:
                    sites_col.append(site)
                    alloc_col.append(interval.allocated_before_snapshot)
                    dealloc = interval.deallocated_before_snapshot
                    dealloc_col.append(-1 if dealloc is None else dealloc)
                    bytes_col.append(interval.n_bytes)
        except NotImplementedError:
            has_history = False  # aggregated capture: no allocation history
        live_at_end = np.zeros(0)
        if not has_history:
            live = defaultdict(int)
            for record in reader.get_leaked_allocation_records(merge_threads=True):
                live[table.of(record)] += record.size
            live_at_end = np.array([live.get(i, 0) for i in range(len(table.keys))], dtype=float)
    sites: dict = {}
    if has_history and sites_col:
        site_index = np.array(sites_col, dtype=np.int64)
        dealloc_arr = np.array(dealloc_col, dtype=np.int64)
        bytes_arr = np.array(bytes_col, dtype=float)
        live_at_end = np.bincount(site_index[dealloc_arr < 0], weights=bytes_arr[dealloc_arr < 0],
                                  minlength=len(table.keys))
        history = live_bytes_matrix(site_index, np.array(alloc_col, dtype=np.int64), dealloc_arr, bytes_arr,
                                    len(table.keys), chosen)
        keep = times_s >= (steady_start_t_s if steady_start_t_s is not None else times_s[0])
        if keep.sum() < growth.MIN_POINTS:
            keep = np.ones_like(times_s, dtype=bool)
        # rank candidates by net change over the window first: Theil-Sen for every site is wasted
        change = history[:, keep][:, -1] - history[:, keep][:, 0]
        candidates = set(np.argsort(-change)[:SLOPE_CANDIDATES]) | set(np.argsort(-live_at_end)[:SLOPE_CANDIDATES])
        for i in candidates:
            sites[table.keys[i]] = {"live_bytes": int(live_at_end[i]), "stack": table.stacks[i],
                                    "growth_bytes_per_hour": _site_slope(times_s[keep], history[i, keep])}
    else:
        for i in np.argsort(-live_at_end)[:SLOPE_CANDIDATES]:
            sites[table.keys[i]] = {"live_bytes": int(live_at_end[i]), "stack": table.stacks[i],
                                    "growth_bytes_per_hour": None}
    summary = {"file": path.name, "pid": meta.pid, "peak_memory_bytes": meta.peak_memory,
               "size_bytes": path.stat().st_size, "python_allocator": str(meta.python_allocator),
               "total_allocations": meta.total_allocations,
               # from the snapshots: a capture whose header was not rewritten at exit keeps
               # end_time == start_time although its records are complete
               "duration_s": float(times_s[-1] - times_s[0]) if times_s.size else 0.0,
               "header_complete": meta.end_time > meta.start_time,
               "has_history": has_history}
    if times_s.size >= growth.MIN_POINTS:
        heap = np.array([snapshots[i].heap for i in chosen], dtype=float)
        _, unique = np.unique(times_s, return_index=True)
        summary["heap_growth_bytes_per_hour"] = growth.theil_sen_bytes_per_hour(times_s[unique], heap[unique])
    return sites, summary


def _site_slope(t_s: np.ndarray, live_bytes: np.ndarray) -> float:
    _, unique = np.unique(t_s, return_index=True)
    if unique.size < 2:
        return 0.0
    return growth.theil_sen_bytes_per_hour(t_s[unique], live_bytes[unique])


def memray_findings(run_dir: Path, captures: list[Path], steady_start_t_s: float | None) -> dict:
    """``leak_sites`` (top sites by growth per hour, summed over captures), ``flamegraph`` and
    ``memray`` (per-capture summaries). Cached in RUN/profiles/ while the captures are unchanged."""
    profiles = run_dir / "profiles"
    profiles.mkdir(parents=True, exist_ok=True)
    fingerprint = [[p.name, p.stat().st_size, p.stat().st_mtime] for p in captures]
    cache_path = profiles / SITES_CACHE
    if cache_path.exists():
        try:
            cached = json.loads(cache_path.read_text(encoding="utf-8"))
            if cached.get("fingerprint") == fingerprint and cached.get("steady_start_t_s") == steady_start_t_s:
                return cached["findings"]
        except (json.JSONDecodeError, KeyError):
            pass
    merged: dict = {}
    summaries, errors = [], []
    # memray renders its flame graph while we read the captures: both take about a second per
    # million allocations, and they use different cores
    main_capture = max(captures, key=lambda p: p.stat().st_size)
    flamegraph_job = start_leaks_flamegraph(main_capture, profiles)
    for path in captures:
        try:
            sites, summary = capture_sites(path, steady_start_t_s)
        except Exception as error:  # noqa: BLE001 - a torn capture must not lose the rest
            errors.append(f"{path.name}: {error}")
            continue
        summaries.append(summary)
        for key, entry in sites.items():
            into = merged.setdefault(key, {"live_bytes": 0, "growth_bytes_per_hour": None, "stack": entry["stack"]})
            into["live_bytes"] += entry["live_bytes"]
            if entry["growth_bytes_per_hour"] is not None:
                into["growth_bytes_per_hour"] = (into["growth_bytes_per_hour"] or 0.0) + entry["growth_bytes_per_hour"]
            into["stack"] = into["stack"] or entry["stack"]
    ranked = sorted(merged.items(), key=lambda kv: (-(kv[1]["growth_bytes_per_hour"] or 0.0), -kv[1]["live_bytes"]))
    if all(v["growth_bytes_per_hour"] is None for _, v in ranked):
        ranked = sorted(merged.items(), key=lambda kv: -kv[1]["live_bytes"])
    leak_sites = [{"function": f, "file": fi, "line": ln, "live_bytes": int(v["live_bytes"]),
                   "growth_bytes_per_hour": v["growth_bytes_per_hour"], "stack": v["stack"]}
                  for (f, fi, ln), v in ranked[:TOP_SITES]]
    flamegraph, error = finish_leaks_flamegraph(flamegraph_job) if summaries else (None, None)
    if not summaries:
        _stop(flamegraph_job)
    if error:
        errors.append(error)
    findings = {"leak_sites": leak_sites, "flamegraph": flamegraph,
                "memray": {"captures": summaries, "errors": errors}}
    write_text_atomic(cache_path, json.dumps({"fingerprint": fingerprint, "steady_start_t_s": steady_start_t_s,
                                             "findings": findings}, indent=1))
    return findings


def start_leaks_flamegraph(capture: Path, profiles: Path) -> tuple[subprocess.Popen, Path, Path]:
    """Start ``python -m memray flamegraph --leaks`` on ``capture``, writing RUN/profiles/*.html."""
    out = profiles / f"memray-leaks-{capture.name.replace('.bin', '')}.html"
    argv = [sys.executable, "-m", "memray", "flamegraph", "--leaks", "-f", "-o", str(out), str(capture)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return proc, out, capture


def _stop(job: tuple[subprocess.Popen, Path, Path]) -> None:
    proc = job[0]
    if proc.poll() is None:
        proc.kill()
    proc.communicate()


def finish_leaks_flamegraph(job: tuple[subprocess.Popen, Path, Path]) -> tuple[str | None, str | None]:
    """Wait for the flame graph; its path relative to the run directory, or ``(None, error)``."""
    proc, out, capture = job
    try:
        output, _ = proc.communicate(timeout=FLAMEGRAPH_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        _stop(job)
        return None, f"memray flamegraph of {capture.name} took over {FLAMEGRAPH_TIMEOUT_S} s"
    if proc.returncode != 0 or not out.exists():
        text = (output or b"").decode(errors="replace").strip()[-300:]
        return None, f"memray flamegraph of {capture.name} failed (exit {proc.returncode}): {text}"
    return f"profiles/{out.name}", None


# --- memray in windows (harness.execute.memray_attach) ---------------------------------------------
def memray_windows_from_events(events: list[dict]) -> list[dict]:
    """The memray windows of a run, in order: ``{"window", "start_t_s", "end_t_s", "cut_short",
    "captures": [{"capture" (relative to the run directory), "role", "pid", "size_bytes"}],
    "errors"}``. A window whose end was not recorded (the harness died) ends after its planned
    length."""
    starts = {e["window"]: e for e in events if e.get("kind") == "memray_window_start" and "window" in e}
    ends = {e["window"]: e for e in events if e.get("kind") == "memray_window_end" and "window" in e}
    windows = []
    for index in sorted(starts):
        start, end = starts[index], ends.get(index)
        start_t_s = float(start["t_s"])
        windows.append({
            "window": index, "start_t_s": start_t_s,
            "end_t_s": float(end["t_s"]) if end else start_t_s + float(start.get("planned_s") or 0.0),
            "cut_short": bool(end.get("cut_short")) if end else None,
            "captures": list((end or start).get("captures") or []),
            "errors": list(start.get("errors") or []) + list((end or {}).get("errors") or [])})
    return windows


def window_sites(path: Path) -> tuple[dict, dict]:
    """Bytes each site allocated during one window and still held at its end (memray's leaked
    records of an aggregated capture), and the capture's summary (tracked seconds, records)."""
    import memray  # heavy import, deferred to runs that have captures

    table = _SiteTable()
    retained: dict[int, int] = defaultdict(int)
    with memray.FileReader(str(path)) as reader:
        meta = reader.metadata
        records = 0
        for record in reader.get_leaked_allocation_records(merge_threads=True):
            retained[table.of(record)] += record.size
            records += 1
    tracked_s = (meta.end_time - meta.start_time).total_seconds()
    sites = {table.keys[i]: {"retained_bytes": n, "stack": table.stacks[i]} for i, n in retained.items()}
    return sites, {"tracked_s": tracked_s if tracked_s > 0 else None, "records": records, "pid": meta.pid,
                   "peak_memory_bytes": meta.peak_memory, "total_allocations": meta.total_allocations}


def window_findings(run_dir: Path, windows: list[dict], judged_span: tuple[float, float] | None) -> dict:
    """``leak_sites`` compared between memray's windows (harness.core.memray_windows), the
    ``flamegraph`` of what the last window's allocations still held, and ``memray_windows``
    (the windows, their captures and sizes, the judged span)."""
    compared, errors, stacks, total = [], [], {}, 0
    for window in windows:
        errors += [f"window {window['window']}: {e}" for e in window["errors"]]
        sites: dict = defaultdict(int)
        tracked = []
        for entry in window["captures"]:
            path = run_dir / entry["capture"]
            if not path.is_file():
                errors.append(f"window {window['window']}: {entry['capture']} is missing")
                continue
            total += path.stat().st_size
            entry["size_bytes"] = path.stat().st_size
            try:
                found, summary = window_sites(path)
            except Exception as error:  # noqa: BLE001 - a torn capture must not lose the other
                errors.append(f"window {window['window']}: {entry['capture']}: {error}")
                continue
            entry.update(tracked_s=summary["tracked_s"], records=summary["records"])
            tracked.append(summary["tracked_s"] or (window["end_t_s"] - window["start_t_s"]))
            for key, site in found.items():
                sites[key] += site["retained_bytes"]
                stacks.setdefault(key, site["stack"])
        window["tracked_s"] = max(tracked) if tracked else None
        if tracked:
            compared.append({"duration_s": window["tracked_s"], "sites": dict(sites)})
    ranked = memray_windows.compare_windows(compared, top=TOP_SITES) if compared else []
    leak_sites = [{"function": row["site"][0], "file": row["site"][1], "line": row["site"][2],
                   "live_bytes": row["retained_bytes"], "growth_bytes_per_hour": row["growth_bytes_per_hour"],
                   "window_growth_bytes_per_hour": row["window_growth_bytes_per_hour"], "kind": row["kind"],
                   "stack": stacks.get(row["site"], [])} for row in ranked]
    flamegraph = None
    last = [run_dir / c["capture"] for c in (windows[-1]["captures"] if windows else []) if (run_dir / c["capture"]).is_file()]
    if last:
        profiles = run_dir / "profiles"
        profiles.mkdir(parents=True, exist_ok=True)
        flamegraph, error = finish_leaks_flamegraph(start_leaks_flamegraph(max(last, key=lambda p: p.stat().st_size),
                                                                         profiles))
        if error:
            errors.append(error)
    return {"leak_sites": leak_sites, "flamegraph": flamegraph, "memray_windows": {
        "mode": "windows", "settle_s": memray_windows.SETTLE_S, "captures_bytes": total,
        "judged_t_s": list(judged_span) if judged_span else None,
        "growing_floor_bytes_per_hour": memray_windows.growing_floor_bytes_per_hour(
            [w["duration_s"] for w in compared]) if compared else None,
        "leak_ratio": memray_windows.LEAK_RATIO, "windows": windows, "errors": errors}}


def memray_cost(run_dir: Path, events: list[dict], windows: list[dict]) -> dict | None:
    """What memray cost the platform in this run: the steady part cut at the windows
    (harness.core.memray_windows.cost_segments_t_s), each stretch's requests per second (the
    client's requests to the platform, gateway notifications left out) and the platform's CPU
    per request (psutil samples of its processes); ``vs_reference``: each stretch's CPU per
    request relative to the stretch before the first window, where memray was not attached yet.
    None when the run has no stages or no windows."""
    try:
        stages = schema.stage_windows(read.read_manifest(run_dir), events, {})
    except (InputError, ValueError, KeyError):
        return None
    if not stages or not windows:
        return None
    spans = memray_windows.cost_segments_t_s((stages[0].steady_start_s, stages[-1].end_s),
                                             [(w["start_t_s"], w["end_t_s"]) for w in windows])
    edges = np.array([t for _, a, b in spans for t in (a, b)])
    counts = np.zeros(len(spans), dtype=np.int64)
    for chunk in read.iter_requests(run_dir, columns=["t_s", "name"]):
        path = chunk["name"].astype(object).fillna("").astype(str).str.partition(" ")[2]
        t_s = np.sort(chunk["t_s"].to_numpy()[~path.str.startswith("/gateway").to_numpy()])
        at = np.searchsorted(t_s, edges, side="left")
        counts += at[1::2] - at[0::2]
    cpu = None
    if read.has(run_dir, schema.SAMPLES.relative_path):
        cpu = read.read_samples(run_dir, columns=["t_s", "pid", "role", "cpu_percent"])
        cpu = cpu[cpu["role"].astype(str).isin(schema.PLATFORM_ROLES)]
    segments = []
    for (name, start, end), n in zip(spans, counts, strict=True):
        cpu_s = (None if cpu is None or cpu.empty else platform_stats.cpu_seconds_in(
            cpu["t_s"].to_numpy(), cpu["pid"].to_numpy(), cpu["cpu_percent"].to_numpy(), start, end))
        segments.append(memray_windows.segment_cost(name, (start, end), cpu_s, int(n)))
    return {"reference": memray_windows.REFERENCE_SEGMENT, "segments": segments,
            "vs_reference": memray_windows.cost_vs_reference(segments)}
