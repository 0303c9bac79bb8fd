"""The fault schedule against real HTTP (a stub of the admin routes) and real processes."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time

import psutil
import pytest

from harness.errors import InputError
from harness.execute.fault_schedule import (
    FaultSchedule,
    PlatformHandle,
    flatten_knobs,
    parse_fault_tables,
)
from harness.measure.faults import faults_results
from harness.rundir import EventLog, read_jsonl
from tests.reliability.stub_platform import ADMIN_TOKEN, StubPlatform


def wait_until(condition, timeout_s=10.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


# --- parsing -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("table", "message"), [
    ({"target": "shop", "knobs": {"cache_enabled": False}}, "#1 at_s: must be a number"),
    ({"at_s": -1, "target": "shop", "knobs": {"a": 1}}, "#1 at_s: must be a number of seconds >= 0, got -1"),
    ({"at_s": 1, "target": "db", "knobs": {"a": 1}}, "#1 target: must be one of shop, gateway, process, got 'db'"),
    ({"at_s": 1, "target": "process", "action": "reboot"}, "#1 action: must be one of kill-worker"),
    ({"at_s": 1, "target": "process", "action": "kill-worker", "knobs": {"a": 1}}, "#1 knobs: a process fault takes"),
    ({"at_s": 1, "target": "shop", "action": "kill-worker", "knobs": {"a": 1}}, "#1 action: only target"),
    ({"at_s": 1, "target": "shop"}, "#1 knobs: a shop fault needs at least one knob"),
    ({"at_s": 1, "target": "shop", "knobs": 3}, "#1 knobs: must be a table"),
    ({"at_s": 1, "target": "shop", "knobs": {"a": 1}, "duration_s": 0}, "#1 duration_s: must be a number of seconds > 0"),
    ({"at_s": 1, "target": "process", "action": "restart", "duration_s": 5}, "#1 duration_s: a process action"),
    ({"at_s": 1, "target": "shop", "knobs": {"a": 1}, "when": 2}, "#1: unknown key 'when'"),
    ({"at_s": 1, "target": "shop", "knobs": {"a": 1}, "label": 7}, "#1 label: must be a string"),
])
def test_bad_fault_tables_are_named(table, message):
    with pytest.raises(InputError, match=message) as error:
        parse_fault_tables([table], "profiles/x.toml")
    assert str(error.value).startswith("profiles/x.toml: [[faults]] #1")


def test_faults_must_be_a_list():
    with pytest.raises(InputError, match="profiles/x.toml: faults: must be an array"):
        parse_fault_tables({"at_s": 1}, "profiles/x.toml")


def test_profile_fault_objects_are_accepted_and_labelled():
    class Fault:  # the shape of harness.config.profile.Fault
        at_s, target, knobs = 5.0, "gateway", {"notify": {"loss_rate": 0.1}}

    (spec,) = parse_fault_tables([Fault()], "p.toml")
    assert (spec.at_s, spec.target, spec.duration_s) == (5.0, "gateway", None)
    assert spec.label == "gateway: notify.loss_rate=0.1"


def test_flatten_keeps_latency_distributions_whole():
    knobs = {"notify": {"loss_rate": 0.1, "delay": {"kind": "fixed", "ms": 5}}, "cache_enabled": False}
    assert flatten_knobs(knobs) == {"notify.loss_rate": 0.1, "notify.delay": {"kind": "fixed", "ms": 5},
                                    "cache_enabled": False}


# --- knobs over HTTP ---------------------------------------------------------------------------
def test_knobs_switch_on_then_back_to_what_they_were(tmp_path):
    events = EventLog(tmp_path / "events.jsonl")
    faults = parse_fault_tables([
        {"at_s": 0.1, "target": "shop", "knobs": {"cache_enabled": False}},
        {"at_s": 0.2, "target": "gateway", "duration_s": 0.4, "label": "lossy",
         "knobs": {"timeout_rate_after_commit": 0.2, "notify": {"loss_rate": 0.5}}},
    ], "p.toml")
    with StubPlatform() as stub:
        schedule = FaultSchedule(faults, time.time(), PlatformHandle(stub.url, stub.url, ADMIN_TOKEN), events.append)
        schedule.start()
        assert wait_until(lambda: len(stub.posts) == 3)
        schedule.stop()
        assert stub.posts[0] == ("/admin/faults", {"cache_enabled": False})
        assert stub.posts[1] == ("/sim/faults", {"timeout_rate_after_commit": 0.2, "notify": {"loss_rate": 0.5}})
        # the revert puts back the whole previous value of every top-level knob it touched
        assert stub.posts[2] == ("/sim/faults", {"timeout_rate_after_commit": 0.0, "notify": {
            "loss_rate": 0.0, "duplicate_rate": 0.0, "retry_schedule_s": [0, 1]}})
    recorded = [e for e in read_jsonl(tmp_path / "events.jsonl") if e["kind"] == "fault"]
    on = [(e["target"], e["knob"], e["value"]) for e in recorded if e["phase"] == "on"]
    assert on == [("shop", "cache_enabled", False), ("gateway", "timeout_rate_after_commit", 0.2),
                  ("gateway", "notify.loss_rate", 0.5)]
    off = [e for e in recorded if e["phase"] == "off"]
    assert {e["fault_index"] for e in off} == {1} and all(e["label"] == "lossy" for e in off)
    assert all("ok" not in e for e in recorded)


def test_rejected_knob_is_recorded_and_the_schedule_goes_on(tmp_path):
    recorded = []
    faults = parse_fault_tables([
        {"at_s": 0.0, "target": "shop", "knobs": {"bogus": 1}},
        {"at_s": 0.05, "target": "shop", "knobs": {"cache_enabled": False}},
    ], "p.toml")
    with StubPlatform() as stub:
        schedule = FaultSchedule(faults, time.time(), PlatformHandle(stub.url, stub.url, ADMIN_TOKEN),
                                 lambda kind, **f: recorded.append(f))
        schedule.start()
        assert wait_until(lambda: len(recorded) == 2)
        schedule.stop()
    assert recorded[0]["ok"] is False and "HTTP 422" in recorded[0]["error"]
    assert "ok" not in recorded[1] and stub.state["/admin/faults"]["cache_enabled"] is False


def test_unreachable_platform_is_recorded_not_raised():
    recorded = []
    faults = parse_fault_tables([{"at_s": 0, "target": "gateway", "knobs": {"decline_rate": 1.0}}], "p.toml")
    schedule = FaultSchedule(faults, time.time(), PlatformHandle("http://127.0.0.1:9", "http://127.0.0.1:9", "t"),
                             lambda kind, **f: recorded.append(f), http_timeout_s=1.0)
    schedule.start()
    assert wait_until(lambda: recorded)
    schedule.stop()
    assert recorded[0]["ok"] is False and "ConnectionError" in recorded[0]["error"]


def test_stop_cancels_future_faults_and_reverts_those_on(tmp_path):
    faults = parse_fault_tables([
        {"at_s": 0.0, "target": "shop", "duration_s": 600, "knobs": {"skip_notify_idempotency": True}},
        {"at_s": 600, "target": "shop", "knobs": {"cache_enabled": False}},
    ], "p.toml")
    with StubPlatform() as stub:
        schedule = FaultSchedule(faults, time.time(), PlatformHandle(stub.url, stub.url, ADMIN_TOKEN),
                                 EventLog(tmp_path / "events.jsonl").append)
        schedule.start()
        assert wait_until(lambda: stub.posts)
        schedule.stop()
        assert stub.posts == [("/admin/faults", {"skip_notify_idempotency": True}),
                              ("/admin/faults", {"skip_notify_idempotency": False})]
        assert stub.state["/admin/faults"]["cache_enabled"] is True


# --- processes -----------------------------------------------------------------------------------
PLATFORM_WITH_WORKERS = """
import subprocess, sys, time
workers = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) for _ in range(2)]
print("ready", flush=True)
time.sleep(60)
"""


@pytest.fixture
def fake_platform():
    proc = subprocess.Popen([sys.executable, "-c", PLATFORM_WITH_WORKERS], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    yield proc
    for child in psutil.Process(proc.pid).children(recursive=True) if proc.poll() is None else []:
        child.kill()
    proc.kill()
    proc.wait(timeout=10)
    proc.stdout.close()


def run_actions(actions, handle, timeout_s=10.0):
    recorded = []
    faults = parse_fault_tables([{"at_s": 0, "target": "process", "action": a} for a in actions], "p.toml")
    schedule = FaultSchedule(faults, time.time(), handle, lambda kind, **f: recorded.append(f))
    schedule.start()
    assert wait_until(lambda: len(recorded) == len(actions), timeout_s)
    schedule.stop()
    return recorded


def test_kill_worker_kills_one_worker_only(fake_platform):
    workers = psutil.Process(fake_platform.pid).children()
    (event,) = run_actions(["kill-worker"], PlatformHandle("", "", "", fake_platform.pid))
    assert event["pid"] in {w.pid for w in workers} and "ok" not in event
    assert wait_until(lambda: len([w for w in workers if w.is_running() and w.status() != "zombie"]) == 1)
    assert fake_platform.poll() is None


def test_kill_platform_kills_shop_and_workers(fake_platform):
    workers = psutil.Process(fake_platform.pid).children()
    (event,) = run_actions(["kill-platform"], PlatformHandle("", "", "", fake_platform.pid))
    assert fake_platform.wait(timeout=10) == -9
    assert sorted(event["pids"]) == sorted([fake_platform.pid] + [w.pid for w in workers])


def test_kill_worker_without_workers_and_restart_without_callback_are_recorded(fake_platform):
    lone = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        events = run_actions(["kill-worker", "restart"], PlatformHandle("", "", "", lone.pid))
    finally:
        lone.kill()
        lone.wait()
    assert "no worker processes" in events[0]["error"] and "no restart callback" in events[1]["error"]


def test_restart_calls_the_orchestration():
    calls = []
    handle = PlatformHandle("", "", "", 1, restart=lambda: calls.append(1) or PlatformHandle("http://new", "", "t2", 4242))
    (event,) = run_actions(["restart"], handle)
    assert calls == [1] and "ok" not in event and (handle.shop_pid, handle.shop_url, event["pid"]) == (4242, "http://new", 4242)


# --- effects from a run directory --------------------------------------------------------------
def write_run(tmp_path, rows, events):
    with open(tmp_path / "requests.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow("t_s,stage,in_ramp,name,method,response_ms,ok,status,error_kind,bytes,journey_id,worker".split(","))
        for t_s, name, ok, kind in rows:
            writer.writerow([t_s, "100%", 0, name, name.split()[0], 5.0, ok, 200 if ok else 0, kind, 10, "j", "local"])
    (tmp_path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))


def test_faults_results_measures_each_fault_in_its_scope(tmp_path):
    rows = []
    for second in range(1000, 1030):
        for i in range(10):
            t = second + i / 10
            # gateway: fails 1 in 2 during [1010, 1015); api: fails all of 1020-1021 (a kill)
            gw_ok = not (1010 <= second < 1015 and i % 2)
            rows.append((t, "POST /gateway/cashier/confirm", int(gw_ok), "" if gw_ok else "timeout"))
            api_ok = not (1020 <= second < 1022)
            rows.append((t, "GET /api/cart", int(api_ok), "" if api_ok else "connection"))
    rows.append((1030.5, "GET /api/cart", 1, ""))
    events = [
        {"t_s": 1010.0, "kind": "fault", "target": "gateway", "knob": "timeout_rate_after_commit", "value": 0.5,
         "fault_index": 0, "phase": "on", "label": "timeouts"},
        {"t_s": 1015.0, "kind": "fault", "target": "gateway", "knob": "timeout_rate_after_commit", "value": 0.0,
         "fault_index": 0, "phase": "off", "label": "timeouts"},
        {"t_s": 1020.0, "kind": "fault", "target": "process", "knob": "action", "value": "kill-worker",
         "fault_index": 1, "phase": "on", "label": "kill-worker", "pid": 7},
        {"t_s": 1005.0, "kind": "stage_start", "stage": "100%"},
    ]
    write_run(tmp_path, rows, events)
    timeouts, kill = faults_results(tmp_path, availability_target=0.99, hold_s=3)
    assert timeouts["scope"] == "gateway requests" and timeouts["requests_during"] == 50
    assert timeouts["availability_before"] == 1.0 and timeouts["availability_during"] == 0.5
    assert timeouts["time_to_recover_s"] == 0.0 and timeouts["errors_by_kind"] == {"timeout": 25}
    assert timeouts["requests_after"] == 50  # bounded by the kill at 1020
    assert kill["action"] == "kill-worker" and kill["scope"] == "all requests"
    assert kill["recovered_at_t_s"] == 1022 and kill["time_to_recover_s"] == 2.0
    assert kill["availability_during"] == pytest.approx(40 / 80)
    assert kill["errors_by_kind"] == {"connection": 20}


def test_faults_results_without_faults_or_requests(tmp_path):
    assert faults_results(tmp_path) == []
    write_run(tmp_path, [], [{"t_s": 5.0, "kind": "fault", "target": "shop", "knob": "cache_enabled",
                              "value": False, "fault_index": 0, "phase": "on", "label": "no cache"}])
    (effect,) = faults_results(tmp_path)
    assert effect["switched_off"] is False and effect["availability_during"] is None and not effect["recovered"]
