"""Analysis: a raw run directory in, the measured part of results.json out.

Reads manifest.json, requests.csv, journeys.csv, samples.csv, events.jsonl and
platform/metrics.csv (via harness.measure.platform) (the contract
is docs/run-directory.md) with pandas, and hands plain arrays to the pure core
(:mod:`harness.core`) for statistics. requests.csv and journeys.csv, the files that grow with
the run, are read in chunks and reduced as they come (:mod:`harness.measure.aggregate`), so a
day-long soak is analysed in bounded memory (docs/performance.md). Everything excludes each
stage's ramp except the dropped-arrival count. Latency percentiles come from the raw records
(exact, nearest-rank, from every distinct value's count; means exactly rounded); intervals
from a block bootstrap over time blocks (seeded by the run id, so re-analysing a run gives
the same numbers); rates carry Clopper-Pearson intervals.

Targets and the overall verdict are added by :mod:`harness.measure.judge`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from harness.core import histogram, rates, selfcheck
from harness.core.journeystats import BUSINESS_DEFINITIONS
from harness.core.stagestats import p95_difference, seeded_rng
from harness.core.streamstats import LatencyScope
from harness.errors import InputError
from harness.measure import memory
from harness.measure.aggregate import JourneyFigures, RequestFigures, RequestScope, StageJourneys
from harness.measure.faults import faults_results
from harness.measure.generators import ceiling_reasons, generators_results
from harness.measure.platform import DEFINITIONS as PLATFORM_DEFINITIONS
from harness.measure.platform import platform_results
from harness.measure.reconciliation import reconciliation_results
from harness.rundir import read, schema
from harness.rundir.schema import StageWindow

AVAILABILITY_DEFINITION = (
    "a request fails on 5xx, timeout, connection error, unexpected 4xx or wrong business outcome"
)


def build_results(run_dir: Path, chunk_rows: int = read.CHUNK_ROWS) -> dict:
    """The results.json dict for a run directory, without targets (see harness.measure.judge).

    requests.csv and journeys.csv are read in chunks of ``chunk_rows`` rows and reduced as they
    come (harness.measure.aggregate), so memory does not grow with the run's length and the
    figures do not depend on the chunk size. Raises harness.errors.InputError naming the file
    (and line) when a raw file that the results need is missing or malformed.
    """
    run_dir = Path(run_dir)
    manifest = _checked_manifest(run_dir)
    notes: list[str] = []
    events = read.read_events(run_dir)
    stage_names = [stage["name"] for stage in manifest["stages"]]
    windows = _stage_windows(run_dir, manifest, events, stage_names, chunk_rows)
    generators, generator_reasons = generators_results(events)
    ceiling_event = [e for e in events if e.get("kind") == "ceiling"]
    del events  # a day's progress events: ~50 MB, not needed again here
    run_id = str(manifest.get("run_id", run_dir.name))
    requests = RequestFigures(windows, keep_shop_completions=read.has(run_dir, schema.METRICS.relative_path),
                              expected_rows=read.estimated_rows(run_dir, schema.REQUESTS))
    for chunk in read.iter_requests(run_dir, columns=REQUEST_FIELDS, stage_names=stage_names, notes=notes,
                                    required=True, chunk_rows=chunk_rows):
        requests.add(chunk)
    journeys = JourneyFigures(windows)
    for chunk in read.iter_journeys(run_dir, columns=JOURNEY_FIELDS, stage_names=stage_names, notes=notes,
                                    required=True, chunk_rows=chunk_rows):
        journeys.add(chunk)
    samples = read_samples(run_dir, notes)

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
    invalid_reasons.extend(generator_reasons)
    invalid_reasons.extend(ceiling_reasons(ceiling_event, requests.count))
    notes.extend(histogram_notes(run_dir, stages))
    platform_cache, telemetry, platform_time = platform_results(run_dir, manifest, windows, requests)
    del requests, journeys  # what they gathered is in ``stages`` now: free it before the memory analysis
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
        "faults": faults_results(run_dir, chunk_rows=chunk_rows),
        "reconciliation": reconciliation_results(run_dir),
        "abort": abort_results(run_dir) if end_reason == "aborted" else None,
        "generators": generators,
        "notes": notes,
    }


def abort_results(run_dir: Path) -> dict | None:
    """The ``abort`` block: the [abort] condition that stopped the load (the run's ``abort`` event:
    condition, figure, limit, window and when it became true), with the event's own time."""
    found = [e for e in read.read_events(run_dir) if e.get("kind") == "abort"]
    if not found:
        return None
    event = dict(found[0])
    event.pop("kind", None)
    event["stopped_at_t_s"] = event.pop("t_s", None)
    return event


def _stage_windows(run_dir: Path, manifest: dict, events: list[dict], stage_names: list[str],
                   chunk_rows: int) -> list[StageWindow]:
    """Each stage's time window (harness.rundir.schema.stage_windows). A run that ended early has
    its stages cut at their last record: then one light pass over the two files finds it."""
    if manifest.get("end_reason") == "completed":
        return schema.stage_windows(manifest, events, {})
    return schema.stage_windows(manifest, events, read.last_records_t_s(run_dir, stage_names, chunk_rows))


def _result(run_id: str, key: str, scope: LatencyScope) -> tuple[dict, dict | None]:
    return scope.finish(seeded_rng(run_id, key))


def _request_block(run_id: str, key: str, scope: RequestScope) -> tuple[dict, dict | None]:
    latency, replicates = _result(run_id, key, scope.latency)
    counts = scope.availability.block()
    errors = counts.pop("errors_by_kind")
    latency.pop("count")
    return {**counts, **latency, "errors_by_kind": errors}, replicates


def _stage_results(run_id: str, window: StageWindow, requests: RequestFigures, journeys: JourneyFigures,
                   samples: pd.DataFrame | None) -> tuple[dict, dict, list[str]]:
    """One entry of results.json ``stages``, the latency replicates by scope, invalid reasons."""
    req = requests.stages[window.name]
    replicates = {}
    requests_block, replicates["requests"] = _request_block(run_id, f"{window.name}|requests", req.all)
    api_block, replicates["api"] = _request_block(run_id, f"{window.name}|api", req.api)
    endpoints = []
    for name in sorted(req.endpoints):
        block, replicates[f"endpoint:{name}"] = _request_block(
            run_id, f"{window.name}|endpoint:{name}", req.endpoints[name])
        endpoints.append({"name": name, **block})

    jr = journeys.stages[window.name]
    journey_blocks = []
    for name in sorted(jr.kinds):
        kind = jr.kinds[name]
        success = rates.rate(kind.successes, kind.count)
        durations = _result(run_id, f"{window.name}|journey:{name}", kind.latency)[0]
        from_intended = kind.from_intended.summary()
        journey_blocks.append({
            "name": name, "count": kind.count, "successes": success.k, "success_rate": success.rate,
            "success_rate_ci": success.as_dict()["ci"],
            **{k: durations[k] for k in ("mean_ms", "p50_ms", "p95_ms", "p95_ci_ms", "p99_ms", "max_ms")},
            "p50_from_intended_ms": from_intended.p50_ms, "p95_from_intended_ms": from_intended.p95_ms,
            "outcomes": journeys.outcome_counts(kind),
        })
    page = _result(run_id, f"{window.name}|business:product_page", jr.product_page)[0]
    lag = _result(run_id, f"{window.name}|business:sync_lag", jr.sync_lag)[0]
    business = {
        "payment_success": rates.rate(jr.paid, jr.checkouts).as_dict(),
        "payment_timeouts": rates.rate(jr.gateway_timeouts, jr.checkouts).as_dict(),
        "registration_completion": rates.rate(jr.registered, jr.registers).as_dict(),
        "sms_reentry": rates.rate(jr.sms_reentries, jr.registers).as_dict(),
        "product_page_p95_ms": page["p95_ms"], "product_page_p95_ci_ms": page["p95_ci_ms"],
        "product_page_n": page["count"],
        "order_sync_lag_p95_ms": lag["p95_ms"], "order_sync_lag_p95_ci_ms": lag["p95_ci_ms"],
        "order_sync_lag_n": lag["count"],
    }
    load = _stage_load(window, jr, req.in_stage, samples)
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
        "ramp_requests": int(req.in_stage - requests_block["count"]),
        "requests": requests_block,
        "api": api_block,
        "endpoints": endpoints,
        "journeys": journey_blocks,
        "business": business,
        "generator": _generator_block(load),
    }
    return stage, replicates, selfcheck.check_stage(load)


def _stage_load(window: StageWindow, journeys: StageJourneys, request_count: int,
                samples: pd.DataFrame | None) -> selfcheck.StageLoad:
    cpu_means: dict[int, float] = {}
    if samples is not None:
        in_window = samples[(samples["role"] == schema.GENERATOR_ROLE) & (samples["t_s"] >= window.start_s)
                            & (samples["t_s"] < window.end_s)]
        cpu_means = {int(pid): float(cpu) for pid, cpu in in_window.groupby("pid")["cpu_percent"].mean().items()}
    return selfcheck.StageLoad(
        stage=window.name,
        intended_journeys_per_s=window.journeys_per_s,
        steady_s=window.steady_s,
        started_steady=journeys.started_steady,
        scheduled=journeys.scheduled,
        dropped=journeys.dropped,
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


# --- reading the raw files (through harness.rundir.read) ------------------------------------------

def _checked_manifest(run_dir: Path) -> dict:
    path = run_dir / "manifest.json"
    manifest = read.read_manifest(run_dir)
    stages = manifest.get("stages") if isinstance(manifest, dict) else None
    if not isinstance(stages, list) or not stages:
        raise InputError(f"{path}: field 'stages' must be a non-empty list of stages")
    for index, stage in enumerate(stages):
        for field in ("name", "duration_s"):
            if not isinstance(stage, dict) or field not in stage:
                raise InputError(f"{path}: stages[{index}] has no field {field!r}")
    return manifest


REQUEST_FIELDS = ["t_s", "stage", "in_ramp", "name", "response_ms", "ok", "status", "error_kind"]
JOURNEY_FIELDS = ["name", "stage", "in_ramp", "intended_t_s", "duration_ms", "from_intended_ms", "ok", "outcome",
                  "flags", "sync_lag_ms"]


def read_samples(run_dir: Path, notes: list[str]) -> pd.DataFrame | None:
    """samples.csv (t_s, pid, role, cpu_percent), or None when the run has none."""
    if not read.has(run_dir, schema.SAMPLES.relative_path):
        notes.append("samples.csv is missing: the load generator's CPU was not checked")
        return None
    return read.read_samples(run_dir, columns=["t_s", "pid", "role", "cpu_percent"], notes=notes)
