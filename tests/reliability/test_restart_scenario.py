"""kill-platform then restart on the real platform: the restarted platform answers on the same
URL and outlives the fault schedule's thread (children get SIGTERM when the *thread* that
forked them ends: PR_SET_PDEATHSIG)."""

from __future__ import annotations

import time

import pytest
import requests

from harness.fault_schedule import FaultSchedule, PlatformHandle, parse_fault_tables
from harness.platform_process import EmbeddedPlatform
from harness.rundir import EventLog, read_jsonl


@pytest.mark.slow
def test_kill_platform_then_restart_keeps_serving(tmp_path):
    events = EventLog(tmp_path / "events.jsonl")
    platform = EmbeddedPlatform(tmp_path / "platform", events=events, extra_args=("--seed", "9"))
    endpoints = platform.start()
    platform.watch()

    def restart() -> PlatformHandle:
        platform.restart()
        return PlatformHandle.from_port_file(platform.port_file, restart=restart)

    try:
        handle = PlatformHandle.from_port_file(platform.port_file, restart=restart)
        killed_pid = handle.shop_pid
        faults = parse_fault_tables([{"at_s": 0.2, "target": "process", "action": "kill-platform"},
                                     {"at_s": 0.6, "target": "process", "action": "restart"}], "scenario")
        schedule = FaultSchedule(faults, time.time(), handle, events.append)
        schedule.start()
        deadline = time.monotonic() + 120
        while len([e for e in read_jsonl(tmp_path / "events.jsonl") if e["kind"] == "fault"]) < 2:
            assert time.monotonic() < deadline, "the schedule did not kill and restart in time"
            time.sleep(0.1)
        schedule.stop()
        time.sleep(1.0)  # long enough for a parent-death signal to arrive, if it were to

        recorded = read_jsonl(tmp_path / "events.jsonl")
        kill, restarted = [e for e in recorded if e["kind"] == "fault"]
        assert kill["value"] == "kill-platform" and kill["pid"] == killed_pid and "error" not in kill
        assert restarted["value"] == "restart" and "error" not in restarted and restarted["pid"] != killed_pid
        assert platform.proc.poll() is None and not platform.died
        answer = requests.get(f"{endpoints.shop_url}/healthz", timeout=5)
        assert answer.status_code == 200 and handle.shop_url == endpoints.shop_url
    finally:
        platform.stop()
