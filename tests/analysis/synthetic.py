"""Synthetic run directories written per docs/run-directory.md, for analysis tests and benchmarks.

Vectorised with numpy/pandas so a million request rows take seconds to write.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

T0_S = 1_764_349_200.0
ENDPOINTS = (
    "GET /api/products",
    "GET /api/products/[id]",
    "GET /api/search",
    "POST /api/cart/items",
    "GET /static/img/[name]",
    "POST /gateway/api/frontTransReq.do",
)
JOURNEY_NAMES = ("browse", "product_page", "register", "cart", "checkout")


@dataclass
class Stage:
    name: str
    load_factor: float = 1.0
    duration_s: float = 60.0
    ramp_s: float = 10.0
    journeys_per_s: float = 5.0
    median_ms: float = 40.0
    failure_rate: float = 0.0
    extra_ms_by_endpoint: dict = field(default_factory=dict)


@dataclass
class Behaviour:
    requests_per_visit: int = 4
    paid_rate: float = 0.99
    timeout_rate: float = 0.0
    registered_rate: float = 0.95
    sms_reentry_rate: float = 0.1
    product_page_median_ms: float = 300.0
    sync_lag_median_ms: float = 500.0
    achieved_fraction: float = 1.0
    dropped_rate: float = 0.0
    generator_cpu_percent: float = 30.0
    end_reason: str = "completed"


def write_run(run_dir: Path, stages: list[Stage], behaviour: Behaviour | None = None, seed: int = 0,
              run_id: str = "20261128T170000Z-synthetic-abcd") -> Path:
    """Write manifest.json, requests.csv, journeys.csv, samples.csv and events.jsonl."""
    behaviour = behaviour or Behaviour()
    rng = np.random.default_rng(seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    offset = 0.0
    manifest_stages, requests, journeys, samples, events = [], [], [], [], []
    events.append({"t_s": T0_S, "kind": "run_start"})
    for stage in stages:
        start = T0_S + offset
        manifest_stages.append({"name": stage.name, "load_factor": stage.load_factor, "start_offset_s": offset,
                                "duration_s": stage.duration_s, "ramp_s": stage.ramp_s,
                                "journeys_per_s": stage.journeys_per_s})
        events.append({"t_s": start, "kind": "stage_start", "stage": stage.name})
        n_visits = int(stage.journeys_per_s * behaviour.achieved_fraction * stage.duration_s)
        intended = start + (np.arange(n_visits) + 0.5) * stage.duration_s / max(n_visits, 1)
        requests.append(_requests(rng, stage, start, intended, behaviour))
        journeys.append(_journeys(rng, stage, start, intended, behaviour))
        seconds = np.arange(int(stage.duration_s)) + start + 0.5
        samples.append(pd.DataFrame({"t_s": seconds, "pid": 4242, "role": "generator", "rss_bytes": 80_000_000,
                                     "uss_bytes": 70_000_000, "cpu_percent": behaviour.generator_cpu_percent,
                                     "num_threads": 3, "num_fds": 20}))
        offset += stage.duration_s
        events.append({"t_s": T0_S + offset, "kind": "stage_end", "stage": stage.name})
    events.append({"t_s": T0_S + offset, "kind": "run_end", "end_reason": behaviour.end_reason})
    manifest = {"schema_version": 1, "run_id": run_id, "argv": ["harness", "campaign"],
                "started_at": "2026-11-28T17:00:00Z", "ended_at": "2026-11-28T17:03:00Z",
                "end_reason": behaviour.end_reason, "end_detail": "", "t0_s": T0_S,
                "profile": {"path": "profiles/synthetic.toml", "name": "synthetic", "content": {}},
                "stages": manifest_stages, "target": "http://127.0.0.1:1", "embedded_platform": True,
                "workers": 0, "faults": "healthy", "targets_file": "targets.toml", "versions": {},
                "git_revision": "test", "host": {}}
    (run_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))
    pd.concat(requests).to_csv(run_dir / "requests.csv", index=False, float_format="%.3f")
    pd.concat(journeys).to_csv(run_dir / "journeys.csv", index=False, float_format="%.3f")
    pd.concat(samples).to_csv(run_dir / "samples.csv", index=False)
    (run_dir / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    return run_dir


def _requests(rng, stage: Stage, start: float, intended: np.ndarray, b: Behaviour) -> pd.DataFrame:
    k = b.requests_per_visit
    visit = np.repeat(np.arange(intended.size), k)
    t_s = np.repeat(intended, k) + np.tile(np.arange(k) * 0.05, intended.size)
    n = t_s.size
    names = np.array(ENDPOINTS)[rng.integers(0, len(ENDPOINTS), n)]
    response = rng.lognormal(np.log(stage.median_ms), 0.4, n)
    for endpoint, extra in stage.extra_ms_by_endpoint.items():
        response[names == endpoint] += extra
    ok = (rng.random(n) >= stage.failure_rate).astype(int)
    return pd.DataFrame({
        "t_s": t_s, "stage": stage.name, "in_ramp": (np.repeat(intended, k) < start + stage.ramp_s).astype(int),
        "name": names, "method": [name.split(" ")[0] for name in names] if n < 50_000 else "GET",
        "response_ms": response, "ok": ok, "status": np.where(ok == 1, 200, 503),
        "error_kind": np.where(ok == 1, "", "http_5xx"), "bytes": 512,
        "journey_id": visit, "worker": "local",
    })


def _journeys(rng, stage: Stage, start: float, intended: np.ndarray, b: Behaviour) -> pd.DataFrame:
    n = intended.size
    in_ramp = (intended < start + stage.ramp_s).astype(int)
    dropped = rng.random(n) < b.dropped_rate
    duration = rng.lognormal(np.log(800.0), 0.3, n)
    visits = pd.DataFrame({
        "journey_id": [f"v{stage.name}-{i}" for i in range(n)], "visit_id": [f"v{stage.name}-{i}" for i in range(n)],
        "name": "visit", "stage": stage.name, "in_ramp": in_ramp, "intended_t_s": intended,
        "start_t_s": np.where(dropped, np.nan, intended + 0.001), "end_t_s": np.where(dropped, np.nan, intended + duration / 1000),
        "duration_ms": np.where(dropped, np.nan, duration), "from_intended_ms": np.where(dropped, np.nan, duration + 1),
        "ok": (~dropped).astype(int), "outcome": np.where(dropped, "dropped", "completed"), "flags": "",
        "sync_lag_ms": np.nan, "worker": "local",
    })
    kind = np.array(JOURNEY_NAMES)[np.arange(n) % len(JOURNEY_NAMES)]
    kind_duration = np.where(kind == "product_page", rng.lognormal(np.log(b.product_page_median_ms), 0.3, n),
                             rng.lognormal(np.log(200.0), 0.3, n))
    u = rng.random(n)
    outcome = np.full(n, "ok", dtype=object)
    outcome[kind == "checkout"] = np.where(u[kind == "checkout"] < b.paid_rate, "paid", "payment_failed")
    outcome[kind == "register"] = np.where(u[kind == "register"] < b.registered_rate, "registered", "failed")
    flags = np.full(n, "", dtype=object)
    v = rng.random(n)
    flags[(kind == "checkout") & (v < b.timeout_rate)] = "gateway_timeout"
    flags[(kind == "register") & (v < b.sms_reentry_rate)] = "sms_reentry;sms_throttled"
    ok = np.isin(outcome, ["ok", "paid", "registered"]).astype(int)
    lag = np.where(outcome == "paid", rng.lognormal(np.log(b.sync_lag_median_ms), 0.3, n), np.nan)
    inner = pd.DataFrame({
        "journey_id": [f"j{stage.name}-{i}" for i in range(n)], "visit_id": visits["visit_id"], "name": kind,
        "stage": stage.name, "in_ramp": in_ramp, "intended_t_s": intended, "start_t_s": intended + 0.001,
        "end_t_s": intended + kind_duration / 1000, "duration_ms": kind_duration,
        "from_intended_ms": kind_duration + 1, "ok": ok, "outcome": outcome, "flags": flags,
        "sync_lag_ms": lag, "worker": "local",
    })[~dropped]
    return pd.concat([visits, inner])
