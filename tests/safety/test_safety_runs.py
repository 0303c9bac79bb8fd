"""The safety catch and the abort switch end to end, on this machine's loopback only.

Refusal (issue 13, acceptance 3): the embedded shop runs alone (`harness shop --port 0`) on
127.0.0.1. The test gives it a second name, ``staging.test``, through the test-only
HARNESS_TEST_RESOLVE (harness.config.allow: names to *loopback* addresses only, in the harness
process): so ``http://staging.test:PORT`` really reaches the same shop. That name is not
``localhost``, so it must be on the allow-list: without ``--allow-host staging.test`` the campaign
exits 2 naming the host, its address and the flag, and the shop's own request counter (its
/metrics, /metrics scrapes left out) has not moved. With the flag, ``--preflight`` sends the one
health probe and the counter moves: the name did lead to the platform, so the zero is the
refusal's doing. Only loopback is ever contacted.

Abort (acceptance 4, times scaled down): a shop fault sets a 50% error rate 4 s into the load
(instead of 20 s); ``[abort] error_ratio = { above = 0.05, for_s = 3 }``. The load must stop within
5 s of the condition holding, measured on the recorded data (the last request's t_s minus the
abort's true_at_t_s), never on the test's clock.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 150


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["COLUMNS"] = "200"
    env.pop("HARNESS_ALLOW_HOSTS", None)
    env.update(extra)
    return env


def _harness(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=REPO, env=_env(**env),
                          capture_output=True, text=True, timeout=TIMEOUT_S, check=False)


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """The reference platform alone on 127.0.0.1 (its port file's dict)."""
    port_file = tmp_path_factory.mktemp("shop") / "port.json"
    proc = subprocess.Popen([sys.executable, "-m", "harness", "shop", "--port", "0", "--port-file", str(port_file)],
                            cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not port_file.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the shop did not start"
            time.sleep(0.1)
        yield json.loads(port_file.read_text())
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _requests_counted(shop_url: str) -> float:
    """The shop's own count of requests served, /metrics scrapes left out."""
    total = 0.0
    for line in requests.get(shop_url + "/metrics", timeout=10).text.splitlines():
        if line.startswith("shop_http_requests_total{") and 'route="GET /metrics"' not in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_a_host_off_the_allow_list_is_refused_and_no_request_reaches_the_platform(shop, tmp_path):
    port = shop["shop_url"].rsplit(":", 1)[1]
    url = f"http://staging.test:{port}"
    resolve = {"HARNESS_TEST_RESOLVE": "staging.test=127.0.0.1"}
    before = _requests_counted(shop["shop_url"])
    refused = _harness("campaign", "--profile", "profiles/smoke.toml", "--target", url, "--out", str(tmp_path / "r"),
                       **resolve)
    assert refused.returncode == 2, refused.stderr
    assert "staging.test" in refused.stderr and "127.0.0.1" in refused.stderr
    assert f"--allow-host staging.test:{port}" in refused.stderr
    assert not (tmp_path / "r").exists()
    assert _requests_counted(shop["shop_url"]) == before  # zero requests reached the platform

    allowed = _harness("campaign", "--profile", "profiles/smoke.toml", "--target", url, "--allow-host",
                       "staging.test", "--preflight", **resolve)
    assert allowed.returncode == 0, allowed.stderr
    assert "pre-flight: " + url in allowed.stdout and "resolved addresses: 127.0.0.1" in allowed.stdout
    assert "requests/s expected" in allowed.stdout and "no load was sent" in allowed.stdout
    assert _requests_counted(shop["shop_url"]) > before  # the same name does reach the platform


def test_the_test_net_address_is_refused_quickly_and_never_contacted(tmp_path):
    """192.0.2.1 is TEST-NET-1 (never routed): a connection attempt would hang for the 3 s probe
    timeout; the refusal comes from the rule alone (the message says 'before any connection')."""
    result = _harness("run", "--locustfile", "loadtests/healthz.py", "--host", "http://192.0.2.1:9",
                      "--out", str(tmp_path / "r"))
    assert result.returncode == 2
    assert "--host http://192.0.2.1:9: refused before any connection" in result.stderr
    assert "--allow-host 192.0.2.1:9" in result.stderr


ABORT_PROFILE = """
[profile]
name = "abort-test"
nominal_journeys_per_s = 2.0
max_concurrent_journeys = 40
journey_timeout_s = 10.0
time_scale = 0.1
seed = 3
request_timeout_s = 5.0
drain_s = 5.0

[[stages]]
name = "100%"
load_factor = 1.0
duration_s = 25.0
ramp_s = 1.0

[[faults]]
at_s = 4.0
target = "shop"
label = "50% errors"
knobs = { error_rate = { "*" = 0.5 } }

[abort]
error_ratio = { above = 0.05, for_s = 3 }
"""


@pytest.fixture(scope="module")
def aborted_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("abort")
    profile = base / "abort.toml"
    profile.write_text(ABORT_PROFILE)
    result = _harness("campaign", "--profile", str(profile), "--out", str(base / "run"))
    return result, base / "run"


@pytest.mark.slow
def test_an_abort_condition_stops_the_load_within_5_s(aborted_run):
    result, run_dir = aborted_run
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["end_reason"] == "aborted" and "error ratio" in manifest["end_detail"]
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines() if line.strip()]
    abort = next(e for e in events if e["kind"] == "abort")
    fault = next(e for e in events if e["kind"] == "fault")
    assert abort["condition"] == "error_ratio" and abort["value"] > 0.05 and abort["true_at_t_s"] > fault["t_s"]
    last_request_t_s = max(float(line.split(",", 1)[0])
                           for line in (run_dir / "requests.csv").read_text().splitlines()[1:] if line)
    stop_latency_s = last_request_t_s - abort["true_at_t_s"]
    print(f"stop latency after the abort held: {stop_latency_s:.2f} s")
    assert stop_latency_s < 5.0
    results = json.loads((run_dir / "results.json").read_text())
    assert results["end_reason"] == "aborted" and results["verdict"] == "fail"
    assert results["abort"]["condition"] == "error_ratio" and results["stages"]
    assert "aborted" in (run_dir / "report.md").read_text()
    assert 'name="run.abort"' in (run_dir / "junit.xml").read_text()


CEILING_PROFILE = """
[profile]
name = "ceiling-test"
nominal_journeys_per_s = 3.0
max_concurrent_journeys = 60
journey_timeout_s = 20.0
time_scale = 0.1
seed = 5
request_timeout_s = 5.0
drain_s = 3.0
max_requests_per_s = 20

[[stages]]
name = "100%"
load_factor = 1.0
duration_s = 6.0
ramp_s = 1.0
"""


@pytest.mark.slow
def test_the_ceiling_holds_in_total_across_two_workers(tmp_path):
    """3 journeys/s offers ~55 requests/s; the profile caps them at 20/s for both workers together
    (each process holds 10/s, bursts of 100 ms): no second of the run sees more than 20 + 2."""
    profile = tmp_path / "ceiling.toml"
    profile.write_text(CEILING_PROFILE)
    result = _harness("campaign", "--profile", str(profile), "--workers", "2", "--out", str(tmp_path / "run"),
                      "--cpu-profile", "none")
    assert result.returncode == 2, result.stdout[-3000:]  # held back: the run is invalid, never a pass
    rows = (tmp_path / "run" / "requests.csv").read_text().splitlines()[1:]
    per_second: dict[int, int] = {}
    workers = set()
    for line in rows:
        fields = line.split(",")
        per_second[int(float(fields[0]))] = per_second.get(int(float(fields[0])), 0) + 1
        workers.add(fields[-1])
    assert workers == {"0", "1"}
    busiest = max(per_second.values())
    full = sorted(per_second.values())[len(per_second) // 2:]  # the busier half of the seconds
    print(f"ceiling 20/s: busiest second {busiest}, median of the busier half {full[len(full) // 2]}")
    assert busiest <= 22
    assert full[len(full) // 2] >= 15  # the cap binds: the load runs at (near) the ceiling, not far below
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["verdict"] == "invalid"
    reason = next(r for r in results["invalid_reasons"] if "max_requests_per_s 20" in r)
    assert "held back" in reason and "offered less than its stages name" in reason
    event = next(json.loads(line) for line in (tmp_path / "run" / "events.jsonl").read_text().splitlines()
                 if '"kind":"ceiling"' in line)
    assert set(event["by_worker"]) == {"0", "1"} and event["throttled_requests"] > 0
