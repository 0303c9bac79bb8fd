"""Analysis: a raw run directory in, the measured part of results.json out.

Reads manifest.json, requests.csv, journeys.csv, samples.csv, events.jsonl and
platform/metrics.csv (via harness.platform_metrics) (the contract
is docs/run-directory.md) with pandas, and hands plain arrays to the pure core
(:mod:`harness.core`) for statistics. Everything excludes each stage's ramp except the
dropped-arrival count. Latency percentiles come from the raw records (exact, nearest-rank);
intervals from a block bootstrap over time blocks (seeded by the run id, so re-analysing a
run gives the same numbers); rates carry Clopper-Pearson intervals.

Targets and the overall verdict are added by :mod:`harness.judge`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from harness import memory
from harness.core import blocks, histogram, selfcheck
from harness.core.journeystats import BUSINESS_DEFINITIONS, business_block, journey_summaries
from harness.core.stagestats import availability_block, latency_block, p95_difference, seeded_rng
from harness.core.stats import grouped_summaries
from harness.errors import InputError
from harness.fault_schedule import faults_results
from harness.platform_metrics import DEFINITIONS as PLATFORM_DEFINITIONS
from harness.platform_metrics import platform_results
from harness.reconciliation import reconciliation_results
from harness.rundir import read_jsonl, read_manifest

AVAILABILITY_DEFINITION = (
    "a request fails on 5xx, timeout, connection error, unexpected 4xx or wrong business outcome"
)


@dataclass(frozen=True)
class StageWindow:
    """A stage's place in time: [start_s, end_s) in epoch seconds; steady part after the ramp."""

    name: str
    load_factor: float
    duration_s: float
    ramp_s: float
    journeys_per_s: float | None
    start_s: float
    end_s: float

    @property
    def steady_start_s(self) -> float:
        """When the ramp ends and the stage's statistics begin."""
        return self.start_s + self.ramp_s

    @property
    def steady_s(self) -> float:
        """Length of the steady part in seconds (0 when the stage ended inside its ramp)."""
        return max(0.0, self.end_s - self.steady_start_s)


def build_results(run_dir: Path) -> dict:
    """The results.json dict for a run directory, without targets (see harness.judge).

    Raises harness.errors.InputError naming the file (and line) when a raw file that the
    results need is missing or malformed.
    """
    run_dir = Path(run_dir)
    manifest = _checked_manifest(run_dir)
    notes: list[str] = []
    events = read_jsonl(run_dir / "events.jsonl")
    stage_names = [stage["name"] for stage in manifest["stages"]]
    requests = read_requests(run_dir / "requests.csv", stage_names, notes)
    journeys = read_journeys(run_dir / "journeys.csv", stage_names, notes)
    samples = read_samples(run_dir / "samples.csv", notes)
    windows = stage_windows(manifest, events, requests, journeys)
    run_id = str(manifest.get("run_id", run_dir.name))

    invalid_reasons: list[str] = []
    stages, latency_replicates = [], {}
    for window in windows:
        stage, replicates, reasons = _stage_results(run_id, window, requests, journeys, samples)
        stages.append(stage)
        latency_replicates[window.name] = replicates
        invalid_reasons.extend(reasons)

    end_reason = manifest.get("end_reason", "running")
    if end_reason in ("platform-died", "error", "running"):
        detail = manifest.get("end_detail") or ""
        invalid_reasons.append(f"the run ended with end_reason {end_reason!r}" + (f": {detail}" if detail else ""))
    notes.extend(histogram_notes(run_dir, stages))
    platform_cache, telemetry, platform_time = platform_results(run_dir, manifest, windows, requests)
    return {
        "schema_version": 1,
        "run_id": run_id,
        "verdict": None,
        "invalid_reasons": invalid_reasons,
        "end_reason": end_reason,
        "availability_definition": AVAILABILITY_DEFINITION,
        "definitions": {**BUSINESS_DEFINITIONS, **PLATFORM_DEFINITIONS},
        "stages": stages,
        "degradation": _degradation(windows, stages, latency_replicates),
        "memory": memory.memory_results(run_dir),
        "platform_cache": platform_cache,
        "telemetry": telemetry,
        "platform_time": platform_time,
        "targets": [],
        "faults": faults_results(run_dir),
        "reconciliation": reconciliation_results(run_dir),
        "notes": notes,
    }


def stage_windows(manifest: dict, events: list[dict], requests: pd.DataFrame, journeys: pd.DataFrame) -> list[StageWindow]:
    """Each stage's time window: planned from manifest t0_s and offsets, corrected by the
    stage_start / stage_end events when present, and cut at the last record when the run
    ended early (so an interrupted stage's rate is computed over the time it really ran)."""
    timed = [e for e in events if isinstance(e.get("t_s"), int | float)]
    starts = {e.get("stage"): float(e["t_s"]) for e in timed if e.get("kind") == "stage_start"}
    ends = {e.get("stage"): float(e["t_s"]) for e in timed if e.get("kind") == "stage_end"}
    last_seen = pd.concat(
        [requests.groupby("stage", observed=True)["t_s"].max(),
         journeys.groupby("stage", observed=True)["intended_t_s"].max()]
    ).groupby(level=0).max()
    windows = []
    t0_s = float(manifest.get("t0_s") or 0.0)
    for stage in manifest["stages"]:
        name = stage["name"]
        start_s = starts.get(name, t0_s + float(stage.get("start_offset_s", 0.0)))
        end_s = start_s + float(stage["duration_s"])
        if name in ends:
            end_s = min(end_s, ends[name])
        elif manifest.get("end_reason") != "completed" and name in last_seen.index:
            end_s = min(end_s, float(last_seen[name]))
        windows.append(
            StageWindow(
                name=name,
                load_factor=float(stage.get("load_factor", 1.0)),
                duration_s=float(stage["duration_s"]),
                ramp_s=float(stage.get("ramp_s", 0.0)),
                journeys_per_s=None if stage.get("journeys_per_s") is None else float(stage["journeys_per_s"]),
                start_s=start_s,
                end_s=max(start_s, end_s),
            )
        )
    return windows


def _latency(run_id: str, key: str, window: StageWindow, values_ms, t_s, summary=None):
    block_s = blocks.block_length_s(window.steady_s or window.duration_s)
    return latency_block(values_ms, t_s, window.steady_start_s, block_s, seeded_rng(run_id, key), summary)


def _request_block(run_id: str, key: str, window: StageWindow, t_s, response_ms, ok, error_kind, summary=None):
    latency, replicates = _latency(run_id, key, window, response_ms, t_s, summary)
    counts = availability_block(ok, error_kind)
    errors = counts.pop("errors_by_kind")
    latency.pop("count")
    return {**counts, **latency, "errors_by_kind": errors}, replicates


def _stage_results(run_id: str, window: StageWindow, requests: pd.DataFrame, journeys: pd.DataFrame,
                   samples: pd.DataFrame | None) -> tuple[dict, dict, list[str]]:
    """One entry of results.json ``stages``, the latency replicates by scope, invalid reasons."""
    in_stage = requests["stage"].to_numpy() == window.name
    steady = in_stage & (requests["in_ramp"].to_numpy() == 0)
    req = requests[steady]
    t_s = req["t_s"].to_numpy()
    response_ms = req["response_ms"].to_numpy(dtype=float)
    ok = req["ok"].to_numpy()
    error_kind = req["error_kind"].to_numpy()
    names = req["name"].cat.remove_unused_categories()
    codes = names.cat.codes.to_numpy()
    categories = [str(c) for c in names.cat.categories]
    is_api = np.array([c.partition(" ")[2].startswith("/api/") for c in categories], dtype=bool)
    api_rows = is_api[codes] if codes.size else np.zeros(0, dtype=bool)

    replicates = {}
    requests_block, replicates["requests"] = _request_block(
        run_id, f"{window.name}|requests", window, t_s, response_ms, ok, error_kind)
    api_block, replicates["api"] = _request_block(
        run_id, f"{window.name}|api", window, t_s[api_rows], response_ms[api_rows], ok[api_rows],
        error_kind[api_rows])
    endpoints = []
    has_value = ~np.isnan(response_ms)
    summaries = grouped_summaries(codes[has_value], response_ms[has_value], len(categories))
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(categories) + 1))
    for code, name in enumerate(categories):
        rows = order[bounds[code]:bounds[code + 1]]
        block, replicates[f"endpoint:{name}"] = _request_block(
            run_id, f"{window.name}|endpoint:{name}", window, t_s[rows], response_ms[rows], ok[rows],
            error_kind[rows], summaries[code])
        endpoints.append({"name": name, **block})

    jr_stage = journeys[journeys["stage"].to_numpy() == window.name]
    jr = jr_stage[jr_stage["in_ramp"].to_numpy() == 0]

    def latency(key: str, values_ms: np.ndarray, t_s: np.ndarray) -> dict:
        return _latency(run_id, f"{window.name}|{key}", window, values_ms, t_s)[0]

    journey_blocks = journey_summaries(jr, latency)
    load = _stage_load(window, jr_stage, jr, int(in_stage.sum()), samples)
    generator = _generator_block(load)
    stage = {
        "name": window.name,
        "load_factor": window.load_factor,
        "duration_s": window.duration_s,
        "ramp_s": window.ramp_s,
        "start_t_s": window.start_s,
        "end_t_s": window.end_s,
        "steady_s": window.steady_s,
        "intended_journeys_per_s": window.journeys_per_s,
        "achieved_journeys_per_s": selfcheck.achieved_journeys_per_s(load),
        "scheduled_arrivals": load.scheduled,
        "dropped_arrivals": load.dropped,
        "ramp_requests": int(in_stage.sum() - steady.sum()),
        "requests": requests_block,
        "api": api_block,
        "endpoints": endpoints,
        "journeys": journey_blocks,
        "business": business_block(jr, latency),
        "generator": generator,
    }
    return stage, replicates, selfcheck.check_stage(load)


def _stage_load(window: StageWindow, jr_stage: pd.DataFrame, jr_steady: pd.DataFrame, request_count: int,
                samples: pd.DataFrame | None) -> selfcheck.StageLoad:
    visits = jr_stage[jr_stage["name"] == "visit"]
    steady_visits = jr_steady[jr_steady["name"] == "visit"]
    cpu_means: dict[int, float] = {}
    if samples is not None:
        in_window = samples[(samples["role"] == "generator") & (samples["t_s"] >= window.start_s)
                            & (samples["t_s"] < window.end_s)]
        cpu_means = {int(pid): float(cpu) for pid, cpu in in_window.groupby("pid")["cpu_percent"].mean().items()}
    return selfcheck.StageLoad(
        stage=window.name,
        intended_journeys_per_s=window.journeys_per_s,
        steady_s=window.steady_s,
        started_steady=int((steady_visits["outcome"] != "dropped").sum()),
        scheduled=len(visits),
        dropped=int((visits["outcome"] == "dropped").sum()),
        requests=request_count,
        generator_cpu_means=cpu_means,
    )


def _generator_block(load: selfcheck.StageLoad) -> dict:
    means = load.generator_cpu_means
    return {
        "cpu_percent_max": max(means.values()) if means else None,
        "cpu_percent_mean": float(np.mean(list(means.values()))) if means else None,
        "processes": len(means),
        "bound": bool(selfcheck.check_stage(load)),
    }


def _degradation(windows: list[StageWindow], stages: list[dict], replicates: dict) -> list[dict]:
    """ΔP95 of every heavier stage against the nominal one (load factor 1.0, else the first),
    for the ``api`` aggregate and for each endpoint seen in both stages."""
    if len(windows) < 2:
        return []
    base = next((w for w in windows if w.load_factor == 1.0), windows[0])
    by_name = {stage["name"]: stage for stage in stages}
    out = []
    for window in windows:
        if window is base or window.load_factor <= base.load_factor:
            continue
        scopes = [("api", "api", by_name[base.name]["api"], by_name[window.name]["api"])]
        base_endpoints = {e["name"]: e for e in by_name[base.name]["endpoints"]}
        for endpoint in by_name[window.name]["endpoints"]:
            if endpoint["name"] in base_endpoints:
                scopes.append(("endpoint", endpoint["name"], base_endpoints[endpoint["name"]], endpoint))
        for scope, name, before, after in scopes:
            key = "api" if scope == "api" else f"endpoint:{name}"
            entry = {"from": base.name, "to": window.name, "scope": scope}
            if scope == "endpoint":
                entry["name"] = name
            delta = None
            if before["p95_ms"] is not None and after["p95_ms"] is not None:
                delta = after["p95_ms"] - before["p95_ms"]
            low, high = p95_difference(replicates[base.name].get(key), replicates[window.name].get(key))
            entry.update({"delta_p95_ms": delta, "ci_low_ms": low, "ci_high_ms": high,
                          "n_from": before["count"], "n_to": after["count"]})
            out.append(entry)
    return out


def histogram_notes(run_dir: Path, stages: list[dict]) -> list[str]:
    """Cross-check the recorder's exact-merge histograms against the raw rows.

    The figures come from requests.csv (every row, exact); histograms/<stage>.json (HDR, 3
    digits) must agree with them: same count per request name, P95 within 0.1%. Each
    disagreement becomes a note (a sign of lost rows or a merge problem), not an error.
    """
    import json

    notes = []
    for stage in stages:
        path = run_dir / "histograms" / f"{stage['name']}.json"
        if not path.is_file():
            continue
        try:
            encoded = json.loads(path.read_text(encoding="utf-8")).get("requests", {})
            decoded = {name: histogram.decode(text) for name, text in encoded.items()}
        except (ValueError, AttributeError) as error:
            notes.append(f"histograms/{path.name}: unreadable ({error}); not cross-checked")
            continue
        raw = {e["name"]: e for e in stage["endpoints"]}
        for name, hist in sorted(decoded.items()):
            raw_count = (raw.get(name) or {}).get("count", 0)
            hdr_p95, raw_p95 = histogram.percentile_ms(hist, 95.0), (raw.get(name) or {}).get("p95_ms")
            if histogram.count(hist) != raw_count:
                notes.append(f"histograms/{path.name}: {name} holds {histogram.count(hist)} values, "
                             f"requests.csv {raw_count} steady rows")
            elif hdr_p95 is not None and raw_p95 and abs(hdr_p95 - raw_p95) > 0.001 * raw_p95 + 0.001:
                notes.append(f"histograms/{path.name}: {name} P95 {hdr_p95:.3f} ms, requests.csv {raw_p95:.3f} ms")
    return notes


# --- reading the raw files (the I/O edge) -----------------------------------------------------

REQUEST_COLUMNS = ("t_s,stage,in_ramp,name,method,response_ms,ok,status,error_kind,bytes,journey_id,worker").split(",")
JOURNEY_COLUMNS = ("journey_id,visit_id,name,stage,in_ramp,intended_t_s,start_t_s,end_t_s,duration_ms,"
                   "from_intended_ms,ok,outcome,flags,sync_lag_ms,worker").split(",")
SAMPLE_COLUMNS = "t_s,pid,role,rss_bytes,uss_bytes,cpu_percent,num_threads,num_fds".split(",")


def _checked_manifest(run_dir: Path) -> dict:
    path = run_dir / "manifest.json"
    manifest = read_manifest(run_dir)
    stages = manifest.get("stages") if isinstance(manifest, dict) else None
    if not isinstance(stages, list) or not stages:
        raise InputError(f"{path}: field 'stages' must be a non-empty list of stages")
    for index, stage in enumerate(stages):
        for field in ("name", "duration_s"):
            if not isinstance(stage, dict) or field not in stage:
                raise InputError(f"{path}: stages[{index}] has no field {field!r}")
    return manifest


def read_requests(path: Path, stage_names: list[str], notes: list[str]) -> pd.DataFrame:
    """requests.csv as a DataFrame (t_s, stage, in_ramp, name, response_ms, ok, status, error_kind)."""
    return _read_csv(path, REQUEST_COLUMNS, {
        "t_s": "time", "stage": "stage", "in_ramp": "flag", "name": "category",
        "response_ms": "float", "ok": "flag", "status": "float", "error_kind": "category",
    }, stage_names, notes)


def read_journeys(path: Path, stage_names: list[str], notes: list[str]) -> pd.DataFrame:
    """journeys.csv as a DataFrame (the columns analysis uses)."""
    return _read_csv(path, JOURNEY_COLUMNS, {
        "name": "category", "stage": "stage", "in_ramp": "flag", "intended_t_s": "time",
        "duration_ms": "float", "from_intended_ms": "float", "ok": "flag", "outcome": "category",
        "flags": "str", "sync_lag_ms": "float",
    }, stage_names, notes)


def read_samples(path: Path, notes: list[str]) -> pd.DataFrame | None:
    """samples.csv (t_s, pid, role, cpu_percent), or None when the run has none."""
    if not path.exists():
        notes.append(f"{path.name} is missing: the load generator's CPU was not checked")
        return None
    return _read_csv(path, SAMPLE_COLUMNS, {"t_s": "time", "pid": "float", "role": "category",
                                            "cpu_percent": "float"}, None, notes)


def _read_csv(path: Path, header: list[str], kinds: dict[str, str], stage_names: list[str] | None,
              notes: list[str]) -> pd.DataFrame:
    """Read the columns named in ``kinds`` and check them; errors name the file and line.

    Kinds: time (a number, required), float (a number or empty), flag (0 or 1), stage (a
    manifest stage name), category and str (text, empty allowed).
    """
    if not path.exists():
        raise InputError(f"{path}: missing; the run directory has no {path.name}")
    with open(path, "rb") as handle:
        first = handle.readline().decode("utf-8", errors="replace").strip()
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - 1))
        torn = size > 0 and handle.read(1) != b"\n"
    present = first.split(",")
    missing = [column for column in header if column not in present]
    if not first or missing:
        raise InputError(f"{path}:1: missing column(s) {', '.join(missing or header)}; "
                         f"expected the header {','.join(header)}")
    source: Path | io.BytesIO = path
    if torn:
        # A crash can tear the last line; everything before it is complete and kept.
        data = path.read_bytes()
        source = io.BytesIO(data[: data.rfind(b"\n") + 1])
        notes.append(f"{path.name}: the last line was incomplete (written when the run stopped) and was skipped")
    dtypes = {c: ("category" if k in ("category", "stage") else str) for c, k in kinds.items() if k in ("category", "stage", "str")}
    try:
        frame = pd.read_csv(source, usecols=list(kinds), dtype=dtypes, keep_default_na=False, na_values=[""],
                            engine="c")
    except (pd.errors.ParserError, ValueError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot be read as CSV: {error}") from error
    for column, kind in kinds.items():
        series = frame[column]
        if kind in ("time", "float", "flag") and not pd.api.types.is_numeric_dtype(series):
            numbers = pd.to_numeric(series, errors="coerce")
            _fail_at(path, column, series, numbers.isna() & series.notna(), "is not a number")
        if kind == "time":
            _fail_at(path, column, series, series.isna(), "is empty (a time is required)")
        elif kind == "flag":
            _fail_at(path, column, series, ~series.isin([0, 1]), "must be 0 or 1")
            frame[column] = series.astype(np.int8)
        elif kind == "stage" and stage_names is not None:
            _fail_at(path, column, series, ~series.isin(stage_names),
                     f"is not one of manifest.json's stages ({', '.join(stage_names)})")
    return frame


def _fail_at(path: Path, column: str, series: pd.Series, bad: pd.Series, problem: str) -> None:
    if not bad.any():
        return
    row = int(np.flatnonzero(bad.to_numpy())[0])
    # +2: line 1 is the header, rows count from 0
    value = series.iloc[row]
    value = value.item() if hasattr(value, "item") else value  # numpy scalar -> plain for the message
    raise InputError(f"{path}:{row + 2}: column {column}: {value!r} {problem}")
