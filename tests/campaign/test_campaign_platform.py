"""Campaigns against the embedded platform with the real journeys: a smoke run, Ctrl-C mid-stage,
two Locust workers whose merged numbers equal the raw records, and the platform dying mid-run.
Short profiles written into tmp_path keep each run to seconds."""

from __future__ import annotations

import csv
import json
import os
import signal
import time
from collections import Counter, defaultdict

import psutil
import pytest

from tests.campaign._helpers import (
    finish,
    read_events,
    read_json,
    start_harness,
    wait_for_event,
)

pytestmark = pytest.mark.slow


def _requests(run_dir) -> list[dict]:
    with open(run_dir / "requests.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _some_requests(event: dict) -> bool:
    return (event.get("requests") or 0) > 0 or (event.get("requests_per_s") or 0) > 0


def _platform_pids(run_dir) -> list[int]:
    port = read_json(run_dir / "platform" / "port.json")
    return [port["pid"], *(p["pid"] for p in port["processes"])]


# two_worker_run (one smoke campaign with 2 Locust workers) is in tests/conftest.py: session-scoped,
# shared with tests/rundir/test_results_schema.py.


def test_smoke_campaign_writes_a_readable_run_directory(two_worker_run):
    out, result = two_worker_run
    manifest = read_json(out / "manifest.json")
    assert manifest["end_reason"] == "completed", result.stdout + result.stderr
    assert manifest["embedded_platform"] is True and manifest["target"].startswith("http://127.0.0.1:")
    assert manifest["workers"] == 2 and manifest["t0_s"] and manifest["ended_at"]
    results = read_json(out / "results.json")
    assert results["verdict"] in ("pass", "fail", "invalid")
    assert [s["name"] for s in results["stages"]] == ["100%", "200%"]
    assert result.returncode == {"pass": 0, "fail": 1, "invalid": 2}[results["verdict"]]
    assert results["stages"][0]["requests"]["count"] > 0
    with open(out / "samples.csv", newline="") as handle:
        roles = Counter(row["role"] for row in csv.DictReader(handle))
    assert roles["shop"] > 0 and roles["gateway"] > 0 and roles["generator"] > 0
    assert (out / "platform" / "port.json").exists() and (out / "generator" / "master.log").exists()
    assert "[100%]" in result.stdout and "[200%]" in result.stdout  # live progress lines
    assert str(out) in result.stdout and "verdict" in result.stdout
    assert not [pid for pid in _platform_pids(out) if _alive(pid)], "platform processes left running"


def test_ctrl_c_mid_stage_leaves_a_readable_run(tmp_path, write_profile):
    out = tmp_path / "run"
    proc = start_harness("campaign", "--profile", str(write_profile(stages=[("100%", 1.0, 120.0)])),
                         "--out", str(out), "--cpu-profile", "none")
    wait_for_event(out / "events.jsonl", "progress", timeout_s=120, where=_some_requests)
    proc.send_signal(signal.SIGINT)
    code, output = finish(proc)
    assert code == 130, output
    manifest = read_json(out / "manifest.json")
    assert manifest["end_reason"] == "interrupted"
    assert any(e["kind"] == "interrupt" for e in read_events(out))
    assert _requests(out), "the requests measured before Ctrl-C were lost"
    results = read_json(out / "results.json")
    assert results["verdict"] == "interrupted"
    assert not [pid for pid in _platform_pids(out) if _alive(pid)], "platform processes left running"


def _steady_counts(rows: list[dict]) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for row in rows:
        if row["in_ramp"] == "0":
            counts[(row["stage"], row["name"])] += 1
    return counts


def test_two_workers_merge_to_the_raw_records(two_worker_run):
    from hdrh.histogram import HdrHistogram

    from loadtests.records import new_histogram, to_us

    out, result = two_worker_run
    rows = _requests(out)
    assert len({row["worker"] for row in rows}) == 2 and "local" not in {row["worker"] for row in rows}
    csv_counts = _steady_counts(rows)
    results = read_json(out / "results.json")
    for stage in results["stages"]:
        stage_rows = [r for r in rows if r["stage"] == stage["name"] and r["in_ramp"] == "0"]
        assert stage["requests"]["count"] == len(stage_rows)
        for endpoint in stage["endpoints"]:
            assert endpoint["count"] == csv_counts[(stage["name"], endpoint["name"])]
        histograms = json.loads((out / "histograms" / f"{stage['name']}.json").read_text())
        for name, encoded in histograms["requests"].items():
            merged = HdrHistogram.decode(encoded)
            # The same histogram built from every raw row of every worker at once.
            reference = new_histogram()
            for row in stage_rows:
                if row["name"] == name:
                    reference.record_value(to_us(float(row["response_ms"])))
            assert merged.get_total_count() == reference.get_total_count() == csv_counts[(stage["name"], name)]
            for percentile in (50, 95, 99, 100):
                assert merged.get_value_at_percentile(percentile) == reference.get_value_at_percentile(percentile)

def test_the_platform_dying_mid_run_is_recorded_and_the_harness_ends(tmp_path, write_profile):
    out = tmp_path / "run"
    proc = start_harness("campaign", "--profile", str(write_profile(stages=[("100%", 1.0, 7.0)], drain_s=2.0)),
                         "--out", str(out), "--cpu-profile", "none")
    wait_for_event(out / "events.jsonl", "progress", timeout_s=120, where=_some_requests)
    port = read_json(out / "platform" / "port.json")
    victims = [port["pid"], *(p["pid"] for p in port["processes"])]
    killed_t_s = time.time()
    for pid in victims:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    code, output = finish(proc)
    manifest = read_json(out / "manifest.json")
    assert manifest["end_reason"] == "platform-died", output
    assert code in (1, 2), output
    exits = [e for e in read_events(out) if e["kind"] == "platform_exit"]
    assert exits and exits[0]["returncode"] != 0
    after = [r for r in _requests(out) if float(r["t_s"]) > killed_t_s + 1.0]
    assert after and all(r["ok"] == "0" for r in after), "failures after the platform died were not recorded"


def test_ctrl_c_while_the_platform_starts_stops_it(tmp_path, write_profile):
    out = tmp_path / "run"
    proc = start_harness("campaign", "--profile", str(write_profile()), "--out", str(out), "--cpu-profile", "none")
    deadline = time.monotonic() + 60
    while not (out / "platform" / "harness-shop.log").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    code, output = finish(proc)
    assert code == 130, output
    manifest = read_json(out / "manifest.json")
    assert manifest["end_reason"] == "interrupted" and "before the load started" in manifest["end_detail"], output
    assert not (out / "requests.csv").exists()
    shop_processes = [p for p in psutil.process_iter(["cmdline"])
                      if str(out / "platform") in " ".join(p.info["cmdline"] or [])]
    assert not [p for p in shop_processes if _alive(p.pid)], "platform processes left running"
