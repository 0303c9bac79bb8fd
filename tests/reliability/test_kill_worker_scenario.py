"""Process faults on the real platform.

Killing one worker of a 2-worker platform mid-load: the dip is measured, recovery time is
reported, and nothing the shoppers saw acknowledged is lost. Then kill-platform and restart:
the restarted platform answers on the same URL and outlives the fault schedule's thread
(children get SIGTERM when the *thread* that forked them ends: PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import json
import time

import psutil
import pytest
import requests

from harness.execute.fault_schedule import FaultSchedule, PlatformHandle, parse_fault_tables
from harness.execute.platform_process import EmbeddedPlatform
from harness.measure.faults import faults_results
from harness.measure.reconciliation import collect_platform_ledgers, reconciliation_results
from harness.rundir import EventLog, read_jsonl
from tests.reliability.checkout_driver import CheckoutDriver

KILL_AT_S = 3.0
LOAD_S = 7.0


@pytest.mark.slow
def test_kill_worker_mid_load_then_kill_and_restart_platform(tmp_path):
    run_dir = tmp_path
    # a short notification retry schedule (protocol seconds) keeps the settle wait short
    (tmp_path / "faults.toml").write_text('preset = "healthy"\n[gateway.notify]\nretry_schedule_s = [0, 30, 60, 90, 120]\n')
    events = EventLog(run_dir / "events.jsonl")
    platform = EmbeddedPlatform(run_dir / "platform", workers=2, faults=str(tmp_path / "faults.toml"),
                                events=events, extra_args=("--seed", "5"))
    endpoints = platform.start()
    platform.watch()

    def restart() -> PlatformHandle:
        platform.restart()
        return PlatformHandle.from_port_file(platform.port_file, restart=restart)

    try:
        handle = PlatformHandle.from_port_file(run_dir / "platform" / "port.json", restart=restart)
        workers_before = {p.pid for p in psutil.Process(handle.shop_pid).children()}
        assert len(workers_before) == 2
        driver = CheckoutDriver(endpoints.shop_url, run_dir / "journal.jsonl", requests_csv=run_dir / "requests.csv")
        driver.setup(users=6)
        faults = parse_fault_tables([{"at_s": KILL_AT_S, "target": "process", "action": "kill-worker"}], "scenario")
        schedule = FaultSchedule(faults, time.time(), handle, events.append)
        schedule.start()
        # WHEN shoppers keep checking out while one worker is SIGKILLed
        outcomes = driver.run(0, 2000, threads=6, stop_after_s=LOAD_S)
        schedule.stop()
        collect_platform_ledgers(run_dir, endpoints.shop_url, endpoints.gateway_url, endpoints.admin_token,
                                 settle_timeout_s=30)
        (kill,) = faults_results(run_dir, availability_target=0.99, hold_s=2)
        result = reconciliation_results(run_dir)
        print("outcomes", dict(outcomes), "kill", json.dumps(kill), "reconciliation",
              {k: v for k, v in result.items() if k != "details"}, result["details"][:5])

        # THEN the killed worker was one of the two, and gunicorn replaced it
        (event,) = [e for e in read_jsonl(run_dir / "events.jsonl") if e["kind"] == "fault"]
        assert event["value"] == "kill-worker" and event["pid"] in workers_before and "error" not in event
        assert len(psutil.Process(handle.shop_pid).children()) == 2
        # the load went on through the kill, recovery was measured, and nothing acknowledged was lost
        assert kill["requests_before"] > 0 and kill["requests_after"] > 0
        # Whether anything failed depends on the moment: requests in flight on the killed worker
        # fail, but a worker killed while idle costs nothing (urllib3 reconnects a dropped
        # kept-alive connection). So only what must hold: any failure is of a connection kind.
        assert 0.0 < kill["availability_during"] <= 1.0, kill
        assert set(kill["errors_by_kind"]) <= {"connection", "http_5xx", "timeout"}, kill
        assert kill["recovered"] and kill["time_to_recover_s"] is not None
        assert result["lost"] == 0 and result["duplicated"] == 0, result["details"]

        # WHEN the whole platform is killed, then restarted by the schedule
        killed_pid = handle.shop_pid
        faults = parse_fault_tables([{"at_s": 0.2, "target": "process", "action": "kill-platform"},
                                     {"at_s": 0.6, "target": "process", "action": "restart"}], "scenario")
        schedule = FaultSchedule(faults, time.time(), handle, events.append)
        schedule.start()
        deadline = time.monotonic() + 120
        while len([e for e in read_jsonl(run_dir / "events.jsonl") if e["kind"] == "fault"]) < 3:
            assert time.monotonic() < deadline, "the schedule did not kill and restart in time"
            time.sleep(0.1)
        schedule.stop()
        time.sleep(1.0)  # long enough for a parent-death signal to arrive, if it were to
        # THEN the new platform serves on the same URL, after the schedule's thread has ended
        _, kill_all, restarted = [e for e in read_jsonl(run_dir / "events.jsonl") if e["kind"] == "fault"]
        assert kill_all["value"] == "kill-platform" and kill_all["pid"] == killed_pid and "error" not in kill_all
        assert restarted["value"] == "restart" and "error" not in restarted, restarted
        assert restarted["pid"] != killed_pid == kill_all["pid"]
        assert platform.proc.poll() is None and not platform.died
        assert requests.get(f"{endpoints.shop_url}/healthz", timeout=5).status_code == 200
    finally:
        platform.stop()
