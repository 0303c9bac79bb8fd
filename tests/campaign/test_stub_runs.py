"""The orchestration end to end with real Locust processes against a tiny loopback service:
``harness run`` with an engineer's own locustfile (the manifest's life cycle, sampling of the
generator and of the service), and SIGTERM mid-stage with a stand-in locustfile playing the
recorder (exit 130, a readable run directory, no process left behind)."""

from __future__ import annotations

import csv
import signal

import psutil
import pytest

from tests.campaign._helpers import (
    FIXTURES,
    STUB_LOCUSTFILE,
    finish,
    read_events,
    read_json,
    run_harness,
    start_harness,
    wait_for_event,
)

STUB = ["--locustfile", str(STUB_LOCUSTFILE)]
PLAIN_LOCUSTFILE = FIXTURES / "plain_locustfile.py"


def _generator_pids(run_dir) -> set[int]:
    with open(run_dir / "samples.csv", newline="") as handle:
        return {int(r["pid"]) for r in csv.DictReader(handle) if r["role"] == "generator"}


# SIGINT against the embedded platform is in test_campaign_platform.py; here SIGTERM (what CI and
# process managers send) on the lighter --target path.
@pytest.mark.parametrize("signum", [signal.SIGTERM])
def test_a_signal_mid_stage_keeps_what_was_measured(tmp_path, write_profile, tiny_service, signum):
    url = tiny_service()
    out = tmp_path / "run"
    proc = start_harness("campaign", "--profile", str(write_profile(stages=[("100%", 1.0, 120.0)])),
                         "--target", url, "--out", str(out), *STUB)
    wait_for_event(out / "events.jsonl", "progress")
    proc.send_signal(signum)
    code, output = finish(proc)
    assert code == 130, output
    manifest = read_json(out / "manifest.json")
    assert manifest["end_reason"] == "interrupted" and manifest["ended_at"]
    events = read_events(out)
    kinds = [e["kind"] for e in events]
    assert {"kind": "interrupt", "signal": signum.name}.items() <= events[kinds.index("interrupt")].items()
    assert "stage_end" in kinds[kinds.index("interrupt"):], "Locust was not stopped gracefully"
    with open(out / "requests.csv", newline="") as handle:
        assert len(list(csv.DictReader(handle))) > 0
    assert not [pid for pid in _generator_pids(out) if psutil.pid_exists(pid)
                and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    assert "stopping the load" in output


def test_harness_run_records_any_locustfile(tmp_path, write_profile, tiny_service):
    url = tiny_service()
    out = tmp_path / "run"
    service_pid = tiny_service.pids()[0]
    result = run_harness("run", "--locustfile", str(PLAIN_LOCUSTFILE), "--host", url,
                         "--profile", str(write_profile(stages=[("100%", 1.0, 3.0)], drain_s=1.0)),
                         "--out", str(out), "--sut-pid", str(service_pid))
    manifest = read_json(out / "manifest.json")
    assert manifest["end_reason"] == "completed", result.stdout + result.stderr
    assert manifest["locustfile"].endswith(f"recorder.py,{PLAIN_LOCUSTFILE}")
    assert manifest["ended_at"] and manifest["target"] == url and manifest["embedded_platform"] is False
    assert manifest["t0_s"] == next(e["t0_s"] for e in read_events(out) if e["kind"] == "run_start")
    assert manifest["profile"]["name"] == "quick" and manifest["stages"][0]["name"] == "100%"
    assert manifest["generator_returncode"] == 0 and manifest["sampler"]["ticks"] >= 2
    assert manifest["argv"][:2] == ["harness", "run"]
    kinds = [e["kind"] for e in read_events(out)]
    assert kinds[0] == "run_start" and kinds[-1] == "run_end" and "progress" in kinds
    assert _generator_pids(out), "the load generator was not sampled"
    assert "[100%]" in result.stdout and str(out) in result.stdout
    with open(out / "requests.csv", newline="") as handle:
        names = {row["name"] for row in csv.DictReader(handle)}
    assert names == {"GET /"}, "the engineer's requests were not recorded"
    with open(out / "samples.csv", newline="") as handle:
        sut_rows = [row for row in csv.DictReader(handle) if row["role"] == "sut"]
    assert sut_rows and {int(row["pid"]) for row in sut_rows} == {service_pid}
    assert all(int(row["uss_bytes"]) > 0 for row in sut_rows)
    assert result.returncode in (0, 1, 2)


def test_harness_worker_joins_a_master(tmp_path, write_profile, tiny_service):
    import subprocess
    import sys

    from harness.execute.children import free_loopback_port
    from tests.campaign._helpers import REPO, harness_env

    url = tiny_service()
    port = free_loopback_port()
    out = tmp_path / "run"
    out.mkdir()
    token_file = tmp_path / "join-token"
    token_file.write_text("a-join-token-of-this-test\n")
    master = subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", str(STUB_LOCUSTFILE), "--master", "--master-bind-host", "127.0.0.1",
         "--master-bind-port", str(port), "--expect-workers", "1", "--expect-workers-max-wait", "60",
         "--headless", "-H", url, "--profile", str(write_profile(stages=[("100%", 1.0, 2.0)])),
         "--run-dir", str(out), "--exit-code-on-error", "0"],
        cwd=REPO, env={**harness_env(), "HARNESS_JOIN_TOKEN": "a-join-token-of-this-test"},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    worker = start_harness("worker", "--master", "127.0.0.1", "--master-port", str(port),
                           "--locustfile", str(STUB_LOCUSTFILE), "--join-token-file", str(token_file))
    try:
        _, master_log = master.communicate(timeout=90)
        code, output = finish(worker, timeout_s=60)
    finally:
        for proc in (master, worker):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert master.returncode == 0, master_log[-2000:]
    assert "1 workers connected" in master_log
    assert code == 0, output
