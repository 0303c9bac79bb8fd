"""The shop's /metrics scraped during a campaign (platform/metrics.csv) and the two targets it
feeds: the documented problem state (cache off) fails cache-miss-root-cause, a healthy shop
passes or warns it, and the monitoring delay is measured. The scraper never raises."""

from __future__ import annotations

import csv
import socket
import time

import pytest

from harness.execute.scrape import METRICS_COLUMNS, MetricsScraper
from tests.campaign._helpers import (
    finish,
    read_json,
    start_harness,
    write_profile_file,
)


def _rows(path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _target(results: dict, target_id: str) -> dict:
    return next(t for t in results["targets"] if t["id"] == target_id)


@pytest.mark.slow
def test_cache_off_fails_the_cache_target_and_a_healthy_shop_does_not(tmp_path):
    profile = write_profile_file(tmp_path, rate=3.0, stages=[("100%", 1.0, 10.0)], drain_s=2.0)
    runs = {preset: tmp_path / preset for preset in ("healthy", "documented-problems")}
    # both at once: each is mostly waiting on the platform's start and the 10 s of load
    procs = {preset: start_harness("campaign", "--profile", str(profile), "--out", str(out),
                                   "--faults", preset, "--cpu-profile", "none")
             for preset, out in runs.items()}
    outputs = {preset: finish(proc) for preset, proc in procs.items()}
    results = {}
    for preset, out in runs.items():
        manifest = read_json(out / "manifest.json")
        assert manifest["end_reason"] == "completed", outputs[preset][1]
        assert manifest["metrics_scrape"]["scrapes"] >= 8
        rows = _rows(out / "platform" / "metrics.csv")
        assert list(rows[0]) == list(METRICS_COLUMNS)
        assert sum(not r["error"] for r in rows) >= 8
        results[preset] = read_json(out / "results.json")

    sick, healthy = results["documented-problems"], results["healthy"]
    assert sick["platform_cache"]["hits"] == 0 and sick["platform_cache"]["bypass"] > 0
    assert _target(sick, "cache-miss-root-cause")["status"] == "fail"
    assert healthy["platform_cache"]["hits"] > 0 and healthy["platform_cache"]["bypass"] == 0
    assert _target(healthy, "cache-miss-root-cause")["status"] in ("pass", "warn")
    # healthy, every request the shop counted is one the client recorded (the slow preset's
    # client timeouts may still be counted by the shop, so it is not held to this)
    assert healthy["telemetry"]["shown_requests"] <= healthy["telemetry"]["client_requests"]
    for run in (sick, healthy):
        telemetry = run["telemetry"]
        assert telemetry["n"] >= 5 and telemetry["delay_p95_s"] is not None
        assert telemetry["shown_requests"] > 0
        assert _target(run, "telemetry-latency")["status"] != "unknown"  # measured, whatever it found


def test_a_scraper_against_a_closed_port_records_failures_and_stops(tmp_path):
    with socket.socket() as probe:  # a free port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    scraper = MetricsScraper(f"http://127.0.0.1:{port}", tmp_path / "platform" / "metrics.csv",
                             interval_s=0.05, timeout_s=0.2)
    scraper.start()
    deadline = time.monotonic() + 10.0
    while scraper.scrapes < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    outcome = scraper.stop()
    assert outcome["failures"] == outcome["scrapes"] >= 3 and "Error" in outcome["last_error"]
    rows = _rows(tmp_path / "platform" / "metrics.csv")
    assert len(rows) >= 3 and all(r["error"] and not r["requests_total"] for r in rows)


def test_the_scraper_refuses_a_non_loopback_shop(tmp_path):
    with pytest.raises(ValueError, match="give its /metrics with --metrics-url"):
        MetricsScraper("http://example.com", tmp_path / "metrics.csv")
