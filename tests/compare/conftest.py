"""Synthetic run directories (docs/run-directory.md) for the comparison tests: no load needed.

Latencies are log-normal with a per-3-second block factor, so samples close in time are
correlated, as they are on a real machine.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

T0_S = 1_764_349_200.0
ENDPOINTS = {  # name: median ms
    "GET /api/products": 25.0,
    "GET /api/products/[id]": 30.0,
    "POST /api/cart/items": 40.0,
    "GET /static/img/[name]": 8.0,
}
STAGES = (("100%", 1.0), ("200%", 2.0))


def latencies_ms(rng: np.random.Generator, t_s: np.ndarray, median_ms: float, *,
                 block_sigma: float = 0.1, sigma: float = 0.4) -> np.ndarray:
    """Log-normal latencies with a shared multiplicative factor per 3-second block."""
    blocks = ((t_s - t_s.min()) // 3).astype(int) if t_s.size else np.zeros(0, int)
    factor = rng.normal(0.0, block_sigma, int(blocks.max()) + 1 if blocks.size else 0)
    return np.exp(np.log(median_ms) + factor[blocks] + rng.normal(0.0, sigma, t_s.size))


def write_run_dir(path: Path, *, seed: int, slow_ms: dict[str, float] | None = None,
                  fail_rate: float = 0.001, rate_per_s: float = 8.0, duration_s: float = 60.0,
                  ramp_s: float = 5.0, stages=STAGES, endpoints=None, verdict: str = "pass",
                  growth=(5e6, -15e6, 25e6), manifest: dict | None = None,
                  started_at: str = "2026-11-28T17:00:00Z", profile: str = "step-300") -> Path:
    """Write a run directory with requests.csv, journeys.csv, manifest.json and results.json.

    ``slow_ms`` adds milliseconds to endpoints by name; the ``browse`` journey contains one
    product detail request, so slowing ``GET /api/products/[id]`` slows browse too.
    """
    rng = np.random.default_rng(seed)
    slow_ms = slow_ms or {}
    endpoints = endpoints or ENDPOINTS
    path.mkdir(parents=True, exist_ok=True)
    request_rows, journey_rows, results_stages = [], [], []
    offset = 0.0
    for stage, factor in stages:
        start = T0_S + offset
        detail_ms = None
        for name, median in endpoints.items():
            n = int(rate_per_s * duration_s * factor)
            t_s = np.sort(rng.uniform(start, start + duration_s, n))
            ms = latencies_ms(rng, t_s, median * (1 + 0.2 * (factor - 1))) + slow_ms.get(name, 0.0)
            ok = rng.random(n) >= fail_rate
            for t, m, k in zip(t_s, ms, ok, strict=True):
                request_rows.append([f"{t:.3f}", stage, int(t < start + ramp_s), name, name.split()[0],
                                     f"{m:.2f}", int(k), 200 if k else 500, "" if k else "http_5xx", 512,
                                     "j", "local"])
            if name == "GET /api/products/[id]":
                detail_ms = (t_s, ms)
        n_j = int(rate_per_s * duration_s * factor)
        for journey in ("browse", "checkout"):
            t_s = np.sort(rng.uniform(start, start + duration_s, n_j))
            base = latencies_ms(rng, t_s, 80.0 if journey == "browse" else 400.0, sigma=0.3)
            if journey == "browse" and detail_ms is not None:
                base = base + slow_ms.get("GET /api/products/[id]", 0.0)
            ok = rng.random(n_j) >= fail_rate
            for i, (t, m, k) in enumerate(zip(t_s, base, ok, strict=True)):
                journey_rows.append([f"j{stage}{journey}{i}", f"v{i}", journey, stage, int(t < start + ramp_s),
                                     f"{t:.3f}", f"{t:.3f}", f"{t + m / 1000:.3f}", f"{m:.2f}", f"{m:.2f}",
                                     int(k), "ok" if k else "failed", "", "", "local"])
        # A dropped arrival: no start, no duration; counts for availability only.
        journey_rows.append(["", f"d{stage}", "visit", stage, 0, f"{start + 30:.3f}", "", "", "", "", 0,
                             "dropped", "", "", "local"])
        results_stages.append({"name": stage, "api": {"p95_ms": 60.0 * factor, "availability": 0.999,
                                                      "count": len(request_rows)}})
        offset += duration_s
    with open(path / "requests.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow("t_s,stage,in_ramp,name,method,response_ms,ok,status,error_kind,bytes,journey_id,worker".split(","))
        writer.writerows(request_rows)
    with open(path / "journeys.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("journey_id,visit_id,name,stage,in_ramp,intended_t_s,start_t_s,end_t_s,duration_ms,"
                         "from_intended_ms,ok,outcome,flags,sync_lag_ms,worker").split(","))
        writer.writerows(journey_rows)
    run_id = path.name
    full_manifest = {
        "schema_version": 1, "run_id": run_id, "started_at": started_at, "end_reason": "completed",
        "t0_s": T0_S, "profile": {"path": f"profiles/{profile}.toml", "name": profile,
                                  "content": {"name": profile, "journeys_per_s": 3.0}},
        "faults": "healthy", "workers": 0, "embedded_platform": True,
        "versions": {"python": "3.11.7", "harness": "0.1.0", "locust": "2.32.0"},
        "git_revision": "abc1234", "host": {"hostname": "ci", "cpu_model": "Xeon", "cores": 2, "os": "Linux"},
    }
    for key, value in (manifest or {}).items():
        if isinstance(value, dict) and isinstance(full_manifest.get(key), dict):
            full_manifest[key] = {**full_manifest[key], **value}
        else:
            full_manifest[key] = value
    (path / "manifest.json").write_text(json.dumps(full_manifest))
    results = {"schema_version": 1, "run_id": run_id, "verdict": verdict, "stages": results_stages,
               "targets": [{"id": "api-p95", "status": "pass" if verdict == "pass" else "fail",
                            "explanation": "API P95 60 ms meets <= 1200 ms"}]}
    if growth is not None:
        results["memory"] = {"growth_bytes_per_hour": growth[0], "ci_low": growth[1], "ci_high": growth[2]}
    (path / "results.json").write_text(json.dumps(results))
    return path


@pytest.fixture
def make_run(tmp_path):
    """Factory: ``make_run(name, seed=..., **options)`` writes a run directory under tmp_path."""
    def make(name: str, **options) -> Path:
        return write_run_dir(tmp_path / "reports" / name, **options)
    return make


def bench_json(path: Path, medians_s: dict[str, float], *, seed: int, rounds: int = 400,
               with_data: bool = True, noise: float = 0.05) -> Path:
    """A pytest-benchmark JSON file; round times log-normal around each median."""
    rng = np.random.default_rng(seed)
    benchmarks = []
    for name, median in medians_s.items():
        data = median * np.exp(rng.normal(0, noise, rounds))
        q1, q3 = np.percentile(data, [25, 75])
        stats = {"min": float(data.min()), "max": float(data.max()), "mean": float(data.mean()),
                 "stddev": float(data.std()), "rounds": rounds, "median": float(np.median(data)),
                 "iqr": float(q3 - q1), "q1": float(q1), "q3": float(q3), "iterations": 1}
        if with_data:
            stats["data"] = data.tolist()
        benchmarks.append({"name": name.split("::")[-1], "fullname": name, "stats": stats})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"benchmarks": benchmarks, "machine_info": {}, "commit_info": {}}))
    return path


@pytest.fixture
def make_bench(tmp_path):
    """Factory: ``make_bench(name, medians_s, seed=..., **options)`` writes a benchmark JSON."""
    def make(name: str, medians_s: dict[str, float], **options) -> Path:
        return bench_json(tmp_path / "bench" / name, medians_s, **options)
    return make
