"""Killing one worker of a 2-worker platform mid-load: the dip is measured, recovery time is
reported, and nothing the shoppers saw acknowledged is lost."""

from __future__ import annotations

import json
import time

import psutil
import pytest

from harness.fault_schedule import FaultSchedule, PlatformHandle, faults_results, parse_fault_tables
from harness.platform_process import EmbeddedPlatform
from harness.reconciliation import collect_platform_ledgers, reconciliation_results
from harness.rundir import EventLog, read_jsonl
from tests.reliability.checkout_driver import CheckoutDriver

KILL_AT_S = 3.0
LOAD_S = 7.0


@pytest.mark.slow
def test_kill_one_worker_mid_load(tmp_path):
    run_dir = tmp_path
    # a short notification retry schedule (protocol seconds) keeps the settle wait short
    (tmp_path / "faults.toml").write_text('preset = "healthy"\n[gateway.notify]\nretry_schedule_s = [0, 30, 60, 90, 120]\n')
    platform = EmbeddedPlatform(run_dir / "platform", workers=2, faults=str(tmp_path / "faults.toml"),
                                extra_args=("--seed", "5"))
    endpoints = platform.start()
    try:
        handle = PlatformHandle.from_port_file(run_dir / "platform" / "port.json")
        workers_before = {p.pid for p in psutil.Process(handle.shop_pid).children()}
        assert len(workers_before) == 2
        driver = CheckoutDriver(endpoints.shop_url, run_dir / "journal.jsonl", requests_csv=run_dir / "requests.csv")
        driver.setup(users=6)
        faults = parse_fault_tables([{"at_s": KILL_AT_S, "target": "process", "action": "kill-worker"}], "scenario")
        schedule = FaultSchedule(faults, time.time(), handle, EventLog(run_dir / "events.jsonl").append)
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
        (event,) = read_jsonl(run_dir / "events.jsonl")
        assert event["value"] == "kill-worker" and event["pid"] in workers_before and "error" not in event
        assert len(psutil.Process(handle.shop_pid).children()) == 2
        # the load went on through the kill, recovery was measured, and nothing acknowledged was lost
        assert kill["requests_before"] > 0 and kill["requests_after"] > 0
        # requests in flight on the killed worker (or on its kept-alive connections) failed
        assert kill["availability_during"] < 1.0 and kill["errors_by_kind"], kill
        assert kill["recovered"] and kill["time_to_recover_s"] is not None
        assert result["lost"] == 0 and result["duplicated"] == 0, result["details"]
    finally:
        platform.stop()
