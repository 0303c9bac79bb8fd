"""Generate the golden run directories under tests/golden/ (run once; the output is committed).

Each directory follows docs/run-directory.md: manifest.json, requests.csv, journeys.csv,
samples.csv, events.jsonl, journal.jsonl, histograms/<stage>.json, profiles/ and a results.json
shaped as the analysis writes it. The data is synthetic but realistic: an open arrival process
with linear ramps, service times that grow with load, failures of several kinds, journeys with
outcomes and flags, a platform whose RSS grows after a warm-up, and (in the second run) faults,
a killed worker, an interrupt and reconciliation discrepancies.

Everything is derived from a fixed seed and fixed epoch times, so running this script twice
gives the same bytes (the analysis seeds its bootstrap with the run id). results.json comes
from the real analysis (``harness.measure.judge.judge_run``) against a copy of the repository's
targets.toml kept in the run directory; rerun this script when the analysis changes.

Example:
    PYTHONPATH=. python tests/golden/make_golden.py            # rewrite both runs
    PYTHONPATH=. python tests/golden/make_golden.py --check    # exit 1 if output would change
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))
from harness.measure.judge import judge_run  # noqa: E402

T0_S = 1764349200.0  # 2025-11-28T17:00:00Z, fixed so the output is reproducible

REQUEST_HEADER = "t_s,stage,in_ramp,name,method,response_ms,ok,status,error_kind,bytes,journey_id,worker"
JOURNEY_HEADER = (
    "journey_id,visit_id,name,stage,in_ramp,intended_t_s,start_t_s,end_t_s,duration_ms,"
    "from_intended_ms,ok,outcome,flags,sync_lag_ms,worker"
)
SAMPLE_HEADER = "t_s,pid,role,rss_bytes,uss_bytes,cpu_percent,num_threads,num_fds"

# name -> (method, median service time at 100% in ms, response bytes)
ENDPOINTS = {
    "GET /api/products": ("GET", 45.0, 5200),
    "GET /api/search": ("GET", 70.0, 4100),
    "GET /api/products/[id]": ("GET", 38.0, 2300),
    "GET /static/img/[name]": ("GET", 22.0, 48000),
    "POST /api/register": ("POST", 60.0, 310),
    "POST /api/register/verify": ("POST", 55.0, 280),
    "POST /api/cart/items": ("POST", 35.0, 420),
    "GET /api/cart": ("GET", 30.0, 900),
    "POST /api/orders": ("POST", 90.0, 510),
    "POST /gateway/api/frontTransReq.do": ("POST", 140.0, 640),
    "GET /api/orders/[id]": ("GET", 28.0, 470),
}


@dataclass
class StagePlan:
    name: str
    load_factor: float
    start_offset_s: float
    duration_s: float
    ramp_s: float
    journeys_per_s: float


@dataclass
class FaultPlan:
    """A fault window: extra failure probability by kind, and extra latency, while it is on."""

    target: str
    knob: str
    value: object
    start_s: float
    end_s: float | None  # None: an instantaneous fault (a kill)
    extra_errors: dict[str, float] = field(default_factory=dict)
    latency_factor: float = 1.0
    recover_s: float = 0.0  # the effect lingers this long after end_s (or after a kill)


@dataclass
class RunPlan:
    dir_name: str
    run_id: str
    profile_name: str
    stages: list[StagePlan]
    seed: int
    stop_s: float  # when the run ended (offset from t0)
    end_reason: str
    end_detail: str
    faults_preset: str
    faults: list[FaultPlan]
    leak_bytes_per_s: float
    memray: bool
    cpu_profile_stage: str | None
    interrupt_signal: str | None = None
    duplicated_orders: int = 0
    lost_orders: int = 0
    drop_rate_at_300: float = 0.0


def rate_at(stages: list[StagePlan], offset_s: float) -> float:
    """Intended journeys/s at ``offset_s``: each stage ramps linearly from the previous rate."""
    previous = 0.0
    for stage in stages:
        if stage.start_offset_s <= offset_s < stage.start_offset_s + stage.duration_s:
            into = offset_s - stage.start_offset_s
            if into < stage.ramp_s:
                return previous + (stage.journeys_per_s - previous) * into / stage.ramp_s
            return stage.journeys_per_s
        previous = stage.journeys_per_s
    return 0.0


def stage_at(stages: list[StagePlan], offset_s: float) -> tuple[StagePlan, bool]:
    for stage in stages:
        if stage.start_offset_s <= offset_s < stage.start_offset_s + stage.duration_s:
            return stage, offset_s - stage.start_offset_s < stage.ramp_s
    return stages[-1], False


def arrivals(plan: RunPlan, rng: np.random.Generator) -> list[float]:
    """Poisson arrivals of the open model by thinning (offsets in s)."""
    end_s = plan.stages[-1].start_offset_s + plan.stages[-1].duration_s
    peak = max(s.journeys_per_s for s in plan.stages)
    t, out = 0.0, []
    while True:
        t += rng.exponential(1.0 / peak)
        if t >= min(end_s, plan.stop_s):
            return out
        if rng.random() < rate_at(plan.stages, t) / peak:
            out.append(t)


class Recorder:
    """Collects rows the way the recorder streams them."""

    def __init__(self, plan: RunPlan, rng: np.random.Generator) -> None:
        self.plan, self.rng = plan, rng
        self.requests: list[list] = []
        self.journeys: list[list] = []
        self.journal: list[dict] = []
        self.order_seq = 0

    def faults_at(self, offset_s: float) -> list[FaultPlan]:
        active = []
        for fault in self.plan.faults:
            end = fault.start_s if fault.end_s is None else fault.end_s
            if fault.start_s <= offset_s < end + fault.recover_s:
                active.append(fault)
        return active

    def request(self, name: str, offset_s: float, stage: StagePlan, in_ramp: bool, journey_id: str) -> tuple[float, bool]:
        """One request starting at ``offset_s``; returns (its duration in s, ok)."""
        rng = self.rng
        method, median_ms, size = ENDPOINTS[name]
        load = stage.load_factor
        faults = self.faults_at(offset_s)
        slow = np.prod([f.latency_factor for f in faults]) if faults else 1.0
        # service time grows with load; a lognormal tail makes P99 several times P50
        response_ms = median_ms * (1.0 + 0.22 * (load - 1.0) ** 1.4) * slow * float(rng.lognormal(0.0, 0.55))
        p_error = {
            "http_5xx": 0.004 * load,
            "timeout": 0.002 * load**1.5,
            "connection": 0.0015,
            "business": 0.003 if name.startswith("POST") else 0.0,
            "http_4xx": 0.002 if name.startswith("POST /api/cart") else 0.0,
        }
        for fault in faults:
            for kind, extra in fault.extra_errors.items():
                p_error[kind] = p_error.get(kind, 0.0) + extra
        kind, status, ok = "", 200, 1
        draw = rng.random()
        for candidate, p in p_error.items():
            if draw < p:
                kind = candidate
                break
            draw -= p
        if kind == "http_5xx":
            status, ok = int(rng.choice([500, 502, 503])), 0
        elif kind == "timeout":
            status, ok, response_ms = 0, 0, 5000.0 + float(rng.uniform(0, 20))
        elif kind == "connection":
            status, ok, response_ms = 0, 0, float(rng.uniform(0.5, 3.0))
        elif kind == "business":
            ok = 0
        elif kind == "http_4xx":
            status, ok = int(rng.choice([404, 409])), 0
        row_bytes = 0 if status == 0 else (size if ok else 120)
        self.requests.append([
            round(T0_S + offset_s, 3), stage.name, int(in_ramp), name, method, round(response_ms, 2),
            ok, status, kind, row_bytes, journey_id, "local",
        ])
        return response_ms / 1000.0, bool(ok)

    def journey(self, journey_id: str, visit_id: str, name: str, stage: StagePlan, in_ramp: bool,
                intended_s: float, start_s: float, calls: list[str]) -> tuple[float, bool]:
        """Runs ``calls`` one after the other; returns (end offset, all ok)."""
        t, all_ok = start_s, True
        for call in calls:
            duration_s, ok = self.request(call, t, stage, in_ramp, journey_id)
            t += duration_s + float(self.rng.uniform(0.005, 0.03))  # client think between calls
            all_ok &= ok
            if not ok and call.startswith("POST"):
                break  # a failed POST ends the journey, as the scenarios do
        return t, all_ok

    def journey_row(self, journey_id, visit_id, name, stage, in_ramp, intended_s, start_s, end_s,
                    ok, outcome, flags="", sync_lag_ms=""):
        self.journeys.append([
            journey_id, visit_id, name, stage.name, int(in_ramp), round(T0_S + intended_s, 3),
            round(T0_S + start_s, 3), round(T0_S + end_s, 3), round((end_s - start_s) * 1000, 2),
            round((end_s - intended_s) * 1000, 2), int(ok), outcome, flags, sync_lag_ms, "local",
        ])

    def visit(self, n: int, intended_s: float) -> None:
        rng, plan = self.rng, self.plan
        stage, in_ramp = stage_at(plan.stages, intended_s)
        visit_id = f"v{n:05d}"
        # the generator falls behind at the highest load: arrivals wait, some are dropped
        lag_s = float(rng.exponential(0.004 * stage.load_factor**3))
        if stage.load_factor >= 3 and rng.random() < plan.drop_rate_at_300:
            self.journeys.append([visit_id, visit_id, "visit", stage.name, int(in_ramp),
                                  round(T0_S + intended_s, 3), "", "", "", "", 0, "dropped", "", "", "local"])
            return
        start = intended_s + lag_s
        t, visit_ok, k = start, True, 0
        plan_steps = ["browse"]
        if rng.random() < 0.85:
            plan_steps.append("product_page")
        if rng.random() < 0.3:
            plan_steps.append("register")
        if rng.random() < 0.55:
            plan_steps.append("cart")
            if rng.random() < 0.7:
                plan_steps.append("checkout")
        for step in plan_steps:
            k += 1
            jid = f"{visit_id}-{k}"
            # the first journey was due at the arrival; later ones when the previous one ended
            j_intended = intended_s if k == 1 else t
            if step == "browse":
                calls = ["GET /api/products"] + ["GET /api/search"] * int(rng.integers(0, 3))
            elif step == "product_page":
                calls = ["GET /api/products/[id]"] + ["GET /static/img/[name]"] * int(rng.integers(2, 5))
            elif step == "register":
                calls = ["POST /api/register", "POST /api/register/verify"]
            elif step == "cart":
                calls = ["POST /api/cart/items", "GET /api/cart"]
            else:
                calls = ["POST /api/orders", "POST /gateway/api/frontTransReq.do"] + ["GET /api/orders/[id]"] * int(rng.integers(1, 4))
            end, ok = self.journey(jid, visit_id, step, stage, in_ramp, j_intended, t, calls)
            flags, outcome, sync_lag = [], "ok" if ok else "failed", ""
            if step == "register":
                if rng.random() < 0.25:
                    flags.append("sms_reentry")
                if rng.random() < 0.03:
                    flags.append("sms_throttled")
                outcome = "registered" if ok and rng.random() < 0.86 else "failed"
                ok = outcome == "registered"
            if step == "checkout":
                timeouts_on = any(f.target == "gateway" for f in self.faults_at(t))
                draw = rng.random()
                p_fail = 0.03 + (0.15 if timeouts_on else 0.0)
                if not ok:
                    outcome = "failed"
                elif draw < p_fail:
                    outcome = "payment_failed"
                    if rng.random() < 0.6:
                        flags.append("gateway_timeout")
                elif draw < p_fail + 0.01:
                    outcome = "unresolved"
                else:
                    outcome = "paid"
                    sync_lag = round(float(rng.gamma(2.0, 180.0 * stage.load_factor)), 1)
                if rng.random() < 0.05:
                    flags.append("order_retry")
                ok = outcome == "paid"
                self.record_journal(jid, t, end, outcome)
            self.journey_row(jid, visit_id, step, stage, in_ramp, j_intended, t, end, ok, outcome,
                             ";".join(flags), sync_lag)
            visit_ok &= ok
            t = end + float(rng.uniform(0.2, 1.0))  # the visitor reads the page
            if not ok and step in ("cart", "checkout"):
                break
        self.journey_row(visit_id, visit_id, "visit", stage, in_ramp, intended_s, start, t, visit_ok,
                         "completed" if visit_ok else "failed")

    def record_journal(self, journey_id: str, start_s: float, end_s: float, outcome: str) -> None:
        self.order_seq += 1
        order_id = f"o{self.order_seq:05d}"
        amount = int(self.rng.integers(1, 60)) * 990
        mid = start_s + (end_s - start_s) / 3
        self.journal.append({"t_s": round(T0_S + mid, 3), "kind": "order_acknowledged", "journey_id": journey_id,
                             "order_id": order_id, "amount_fen": amount, "idempotency_key": f"k-{journey_id}"})
        self.journal.append({"t_s": round(T0_S + mid + 0.05, 3), "kind": "payment_submitted", "journey_id": journey_id,
                             "order_id": order_id, "gateway_order_id": order_id,
                             "txn_time": "20251128170000"})
        code = "00" if outcome == "paid" else "03"
        self.journal.append({"t_s": round(T0_S + end_s - 0.02, 3), "kind": "payment_acknowledged",
                             "journey_id": journey_id, "order_id": order_id, "respCode": code})
        self.journal.append({"t_s": round(T0_S + end_s, 3), "kind": "order_seen", "journey_id": journey_id,
                             "order_id": order_id, "status": "PAID" if outcome == "paid" else "PENDING"})


def samples(plan: RunPlan, rng: np.random.Generator) -> list[list]:
    """1 Hz psutil samples: shop (growing after warm-up), gateway (flat), generator."""
    rows = []
    for second in range(int(plan.stop_s) + 1):
        t = T0_S + second + 0.25
        stage, _ = stage_at(plan.stages, float(second))
        load = stage.load_factor
        warm = 38e6 * (1 - np.exp(-second / 6.0))  # imports, pools, caches filling
        shop_rss = 82e6 + warm + plan.leak_bytes_per_s * second + rng.normal(0, 0.35e6)
        killed = any(f.knob == "kill-worker" and f.start_s <= second < f.start_s + 3 for f in plan.faults)
        roles = [
            ("shop", 4101, shop_rss, 15.0 * load, 6, 31),
            ("gateway", 4102, 61e6 + rng.normal(0, 0.2e6), 5.0 * load, 4, 18),
            ("generator", 4000, 95e6 + rng.normal(0, 0.3e6), 14.0 * load + 6, 3, 40),
        ]
        for role, pid, rss, cpu, threads, fds in roles:
            if role == "shop" and killed:
                continue  # the worker is gone until it is restarted
            cpu = max(0.0, cpu + rng.normal(0, 2.0))
            rows.append([round(t, 3), pid, role, int(rss), int(rss * 0.82), round(cpu, 1), threads, fds])
    return rows


def events(plan: RunPlan, rec: Recorder) -> list[dict]:
    out: list[dict] = [{"t_s": T0_S, "kind": "run_start", "run_id": plan.run_id}]
    for stage in plan.stages:
        if stage.start_offset_s >= plan.stop_s:
            break
        out.append({"t_s": round(T0_S + stage.start_offset_s, 3), "kind": "stage_start", "stage": stage.name})
        end = stage.start_offset_s + stage.duration_s
        if end <= plan.stop_s:
            out.append({"t_s": round(T0_S + end, 3), "kind": "stage_end", "stage": stage.name})
    for second in range(5, int(plan.stop_s) + 1, 5):
        stage, _ = stage_at(plan.stages, second - 0.001)
        window = [r for r in rec.requests if T0_S + second - 5 <= r[0] < T0_S + second]
        visits = [j for j in rec.journeys if j[2] == "visit" and j[6] != "" and T0_S + second - 5 <= j[6] < T0_S + second]
        times = sorted(r[5] for r in window)
        out.append({"t_s": round(T0_S + second, 3), "kind": "progress", "stage": stage.name,
                    "elapsed_s": float(second), "intended_journeys_per_s": round(rate_at(plan.stages, second - 0.001), 3),
                    "achieved_journeys_per_s": round(len(visits) / 5, 3), "requests_per_s": round(len(window) / 5, 3),
                    "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1) if times else None,
                    "failures": sum(1 for r in window if not r[6])})
    for index, fault in enumerate(plan.faults):
        # as harness.fault_schedule records them: one event per knob, phase on/off, fault_index
        knobs = fault.value if isinstance(fault.value, dict) else {fault.knob: fault.value}
        for knob, value in knobs.items():
            out.append({"t_s": round(T0_S + fault.start_s, 3), "kind": "fault", "fault_index": index,
                        "phase": "on", "label": fault.knob, "target": fault.target, "knob": knob,
                        "value": value, "ok": True})
            if fault.end_s is not None:
                out.append({"t_s": round(T0_S + fault.end_s, 3), "kind": "fault", "fault_index": index,
                            "phase": "off", "label": fault.knob, "target": fault.target, "knob": knob,
                            "value": 0.0, "ok": True})
        if fault.knob == "kill-worker":
            out.append({"t_s": round(T0_S + fault.start_s + 0.01, 3), "kind": "platform_exit",
                        "returncode": -9, "process": "shop-worker"})
    if plan.interrupt_signal:
        out.append({"t_s": round(T0_S + plan.stop_s, 3), "kind": "interrupt", "signal": plan.interrupt_signal})
    out.append({"t_s": round(T0_S + plan.stop_s + 0.4, 3), "kind": "run_end", "end_reason": plan.end_reason})
    return sorted(out, key=lambda e: e["t_s"])


def histograms(plan: RunPlan, rec: Recorder) -> dict[str, dict]:
    from hdrh.histogram import HdrHistogram

    out: dict[str, dict] = {}
    for stage in plan.stages:
        reqs, jrns = {}, {}
        for row in rec.requests:
            if row[1] == stage.name and not row[2]:
                reqs.setdefault(row[3], HdrHistogram(1, 3600 * 10**6, 3)).record_value(max(1, int(row[5] * 1000)))
        for row in rec.journeys:
            if row[3] == stage.name and not row[4] and row[8] != "":
                jrns.setdefault(row[2], HdrHistogram(1, 3600 * 10**6, 3)).record_value(max(1, int(row[8] * 1000)))
        if reqs:
            out[stage.name] = {
                "stage": stage.name,
                "requests": {k: v.encode().decode() for k, v in sorted(reqs.items())},
                "journeys": {k: v.encode().decode() for k, v in sorted(jrns.items())},
            }
    return out


def manifest(plan: RunPlan) -> dict:
    profile_stages = [{"name": s.name, "load_factor": s.load_factor, "duration_s": s.duration_s, "ramp_s": s.ramp_s}
                      for s in plan.stages]
    return {
        "schema_version": 1, "run_id": plan.run_id,
        "argv": ["harness", "campaign", "--profile", f"profiles/{plan.profile_name}.toml", "--faults", plan.faults_preset],
        "started_at": "2025-11-28T17:00:00Z",
        "ended_at": f"2025-11-28T17:{int(plan.stop_s) // 60:02d}:{int(plan.stop_s) % 60:02d}Z",
        "end_reason": plan.end_reason, "end_detail": plan.end_detail, "t0_s": T0_S,
        "profile": {"path": f"profiles/{plan.profile_name}.toml", "name": plan.profile_name,
                    "content": {"name": plan.profile_name, "journeys_per_s": plan.stages[0].journeys_per_s,
                                "stages": profile_stages,
                                "memray": plan.memray, "cpu_profile": plan.cpu_profile_stage}},
        "stages": [{"name": s.name, "load_factor": s.load_factor, "start_offset_s": s.start_offset_s,
                    "duration_s": s.duration_s, "ramp_s": s.ramp_s, "journeys_per_s": s.journeys_per_s}
                   for s in plan.stages],
        "target": "http://127.0.0.1:41873", "embedded_platform": True, "workers": 0,
        "faults": plan.faults_preset, "targets_file": "targets.toml",
        "versions": {"python": "3.11.2", "harness": "0.1.0", "locust": "2.32.0", "memray": "1.15.0"},
        "git_revision": "0000000 (golden)",
        "host": {"hostname": "golden", "cpu_model": "synthetic", "cores": 2, "os": "Linux"},
        **({"cpu_profile": CPU_PROFILE} if plan.cpu_profile_stage else {}),
    }


# what harness.cpu_profile.CpuProfiler.stop() returns; orchestration puts it in the manifest
CPU_PROFILE = {
    "ok": True, "error": None, "duration_s": 40.0, "rate_hz": 100, "pids": [4101],
    "speedscope": ["profiles/py-spy-300pct.speedscope.json"], "flamegraph_svg": ["profiles/py-spy-300pct.svg"],
    "files": ["profiles/py-spy-300pct.speedscope.json", "profiles/py-spy-300pct.svg"], "samples": 3998,
    "top_functions": [
        {"function": "sign_request", "file": "services/unionpay/signing.py", "line": 48, "own_samples": 855,
         "own_fraction": 0.2139},
        {"function": "execute", "file": "<sqlite3>", "line": 0, "own_samples": 716, "own_fraction": 0.1791},
        {"function": "render_product", "file": "services/shop/catalog.py", "line": 112, "own_samples": 384,
         "own_fraction": 0.096},
    ],
}


def write_csv(path: Path, header: str, rows: list[list]) -> None:
    buf = io.StringIO()
    buf.write(header + "\n")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerows(rows)
    path.write_text(buf.getvalue())


def ledgers(plan: RunPlan, rec: Recorder) -> tuple[dict, dict]:
    """The shop's order export and the gateway's settlement list, as the platform answers them.

    ``duplicated_orders`` paid orders are charged twice; ``lost_orders`` paid orders are missing
    from the export (what reconciliation must find and name).
    """
    orders, transactions = [], []
    paid_ids = []
    acknowledged = {e["order_id"]: e for e in rec.journal if e["kind"] == "order_acknowledged"}
    for entry in rec.journal:
        if entry["kind"] != "payment_acknowledged":
            continue
        ack = acknowledged[entry["order_id"]]
        paid = entry["respCode"] == "00"
        order_id = entry["order_id"]
        query_id = f"q{order_id[1:]}"
        orders.append({"order_id": order_id, "status": "PAID" if paid else "PAYMENT_FAILED",
                       "amount_fen": ack["amount_fen"], "payments": [{"queryId": query_id}] if paid else [],
                       "notify_count": 1 if paid else 0, "idempotency_key": ack["idempotency_key"]})
        transactions.append({"orderId": order_id, "txnAmt": str(ack["amount_fen"]),
                             "status": "00" if paid else "03", "queryId": query_id})
        if paid:
            paid_ids.append(order_id)
    for order_id in paid_ids[3:3 + plan.duplicated_orders]:
        row = next(o for o in orders if o["order_id"] == order_id)
        row["payments"].append({"queryId": f"q{order_id[1:]}b"})
        row["notify_count"] += 1
        transactions.append({"orderId": order_id, "txnAmt": str(row["amount_fen"]), "status": "00",
                             "queryId": f"q{order_id[1:]}b"})
    lost = set(paid_ids[7:7 + plan.lost_orders])
    orders = [o for o in orders if o["order_id"] not in lost]
    return {"orders": orders}, {"transactions": transactions}


def write_profiles(run_dir: Path, plan: RunPlan) -> None:
    profiles = run_dir / "profiles"
    profiles.mkdir(exist_ok=True)
    if plan.memray:
        (profiles / "memray-flamegraph-leaks-shop.html").write_text(
            "<!doctype html><title>memray leaks (golden stand-in)</title>"
            "<p>Stand-in for memray's flame graph of leaks.</p>\n")
    if plan.cpu_profile_stage:
        (profiles / "py-spy-300pct.svg").write_text(
            '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="20">'
            '<text x="2" y="14">py-spy flame graph (golden stand-in)</text></svg>\n')
        (profiles / "py-spy-300pct.speedscope.json").write_text(json.dumps(
            {"$schema": "https://www.speedscope.app/file-format-schema.json", "shared": {"frames": []},
             "profiles": [], "name": "golden stand-in"}) + "\n")


def generate(plan: RunPlan, out_root: Path) -> Path:
    """Writes the raw files of one run directory (not results.json) and returns its path."""
    rng = np.random.default_rng(plan.seed)
    run_dir = out_root / plan.dir_name
    (run_dir / "histograms").mkdir(parents=True, exist_ok=True)
    (run_dir / "platform").mkdir(exist_ok=True)
    rec = Recorder(plan, rng)
    for n, t in enumerate(arrivals(plan, rng)):
        rec.visit(n, t)
    # a request that starts after the interrupt is never made
    rec.requests = sorted((r for r in rec.requests if r[0] < T0_S + plan.stop_s), key=lambda r: r[0])
    rec.journeys.sort(key=lambda j: (j[5], j[0]))
    (run_dir / "manifest.json").write_text(json.dumps(manifest(plan), indent=2) + "\n")
    write_csv(run_dir / "requests.csv", REQUEST_HEADER, rec.requests)
    write_csv(run_dir / "journeys.csv", JOURNEY_HEADER, rec.journeys)
    write_csv(run_dir / "samples.csv", SAMPLE_HEADER, samples(plan, rng))
    (run_dir / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events(plan, rec)))
    (run_dir / "journal.jsonl").write_text("".join(json.dumps(e) + "\n" for e in sorted(rec.journal, key=lambda e: e["t_s"])))
    for stage_name, body in histograms(plan, rec).items():
        (run_dir / "histograms" / f"{stage_name}.json").write_text(json.dumps(body) + "\n")
    (run_dir / "platform" / "port.json").write_text(json.dumps({"shop": 41873, "gateway": 41874}) + "\n")
    export, settlement = ledgers(plan, rec)
    (run_dir / "platform" / "orders-export.json").write_text(json.dumps(export, indent=1) + "\n")
    (run_dir / "platform" / "settlement.json").write_text(json.dumps(settlement, indent=1) + "\n")
    (run_dir / "platform" / "settle.json").write_text(json.dumps({"settled": True, "waited_s": 1.2}) + "\n")
    write_profiles(run_dir, plan)
    return run_dir


PLANS = [
    RunPlan(
        dir_name="step-300-leak", run_id="20251128T170000Z-step-300-a1b2", profile_name="step-300",
        stages=[StagePlan("100%", 1.0, 0.0, 40.0, 8.0, 1.2), StagePlan("200%", 2.0, 40.0, 40.0, 8.0, 2.4),
                StagePlan("300%", 3.0, 80.0, 40.0, 8.0, 3.6)],
        seed=20251128, stop_s=120.0, end_reason="completed", end_detail="", faults_preset="healthy",
        faults=[], leak_bytes_per_s=0.5e9 / 3600, memray=True, cpu_profile_stage="300%", drop_rate_at_300=0.004,
    ),
    RunPlan(
        dir_name="faults-interrupted", run_id="20251128T173000Z-faults-c3d4", profile_name="faults",
        stages=[StagePlan("100%", 1.0, 0.0, 30.0, 5.0, 1.5), StagePlan("300%", 3.0, 30.0, 30.0, 5.0, 4.5)],
        seed=20251129, stop_s=52.0, end_reason="interrupted", end_detail="SIGINT after 52 s",
        faults_preset="documented-problems",
        faults=[
            FaultPlan("gateway", "17% timeouts", {"timeout_rate_before_commit": 0.085, "timeout_rate_after_commit": 0.085},
                      33.0, 43.0, {"timeout": 0.05}, 1.3, 2.0),
            FaultPlan("process", "kill-worker", {"action": "kill-worker"}, 40.0, None,
                      {"connection": 0.25, "http_5xx": 0.1}, 1.0, 3.0),
        ],
        leak_bytes_per_s=0.0, memray=False, cpu_profile_stage=None, interrupt_signal="SIGINT",
        duplicated_orders=1, lost_orders=1, drop_rate_at_300=0.03,
    ),
]


def _results(run_dir: Path) -> dict:
    results = json.loads((run_dir / "results.json").read_text())
    results.pop("targets_file", None)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=HERE, help="where the run directories go")
    parser.add_argument("--check", action="store_true", help="regenerate into a temp dir and compare")
    args = parser.parse_args(argv)
    if args.check:
        import filecmp
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            main(["--out", tmp])
            for plan in PLANS:
                new, old = Path(tmp) / plan.dir_name, args.out / plan.dir_name
                cmp = filecmp.dircmp(new, old)
                differs = [name for name in cmp.diff_files if name != "results.json"]
                if _results(new) != _results(old):  # the targets file's absolute path may differ
                    differs.append("results.json")
                if differs or cmp.left_only or cmp.right_only:
                    print(f"{plan.dir_name}: differs: {differs + cmp.left_only + cmp.right_only}")
                    return 1
        return 0
    for plan in PLANS:
        run_dir = generate(plan, args.out)
        # the real analysis, against the repository's documented targets (kept beside the run so
        # `harness report` on the golden run judges it the same way)
        shutil.copyfile(REPO / "profiles" / "targets.toml", run_dir / "targets.toml")
        judge_run(run_dir, write=True)
        print(f"wrote {run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
