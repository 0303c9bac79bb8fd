"""Fixtures for the load tests: a real platform (``harness shop --port 0 --port-file``) and
checks of a run directory against docs/run-directory.md."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from hdrh.histogram import HdrHistogram

from loadtests.records import JOURNEY_COLUMNS, REQUEST_COLUMNS, new_histogram

REPO = Path(__file__).resolve().parents[2]
PLATFORM_TIME_SCALE = 0.005  # payTimeout (15 protocol minutes) lasts 4.5 s: unpaid orders fail fast
ERROR_KINDS = {"", "http_5xx", "http_4xx", "timeout", "connection", "business"}
VISIT_OUTCOMES = {"completed", "failed", "dropped", "timeout"}


def python_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.fixture(scope="session")
def platform(tmp_path_factory):
    """A running shop + gateway on loopback; yields the port file's JSON."""
    root = tmp_path_factory.mktemp("platform")
    port_file = root / "port.json"
    log = open(root / "harness-shop.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "harness", "shop", "--port", "0", "--port-file", str(port_file),
         "--data-dir", str(root / "data"), "--time-scale", str(PLATFORM_TIME_SCALE), "--seed", "3"],
        cwd=REPO, env=python_env(), stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 90
    while not port_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"harness shop did not start: {(root / 'harness-shop.log').read_text()[-2000:]}")
        time.sleep(0.2)
    info = json.loads(port_file.read_text())
    yield info
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


@pytest.fixture
def set_faults(platform):
    """Set shop/gateway fault knobs for one test; the healthy preset is restored after it."""
    headers = {"X-Admin-Token": platform["admin_token"]}

    def apply(shop: dict | None = None, gateway: dict | None = None) -> None:
        if shop:
            requests.post(f"{platform['shop_url']}/admin/faults", json=shop, headers=headers, timeout=5).raise_for_status()
        if gateway:
            requests.post(f"{platform['gateway_url']}/sim/faults", json=gateway, headers=headers,
                          timeout=5).raise_for_status()

    yield apply
    for url in (f"{platform['shop_url']}/admin/faults", f"{platform['gateway_url']}/sim/faults"):
        requests.post(url, json={"preset": "healthy"}, headers=headers, timeout=5).raise_for_status()


def write_profile(path: Path, stages: list[tuple[str, float, float, float]], **profile) -> Path:
    """A profile TOML with ``stages`` as (name, load_factor, duration_s, ramp_s)."""
    settings = {"name": "test", "nominal_journeys_per_s": 3.0, "max_concurrent_journeys": 30,
                "journey_timeout_s": 8.0, "time_scale": 0.1, "seed": 11, "drain_s": 10.0, **profile}
    lines = ["[profile]"] + [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    for name, factor, duration_s, ramp_s in stages:
        lines += ["[[stages]]", f'name = "{name}"', f"load_factor = {factor}", f"duration_s = {duration_s}",
                  f"ramp_s = {ramp_s}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        rows_header = reader.fieldnames
    return rows if rows_header else []


def exact_histogram(rows: list[dict[str, str]], stage: str, name: str) -> HdrHistogram:
    """One histogram built from raw requests.csv rows (ramp excluded), as analysis would."""
    histogram = new_histogram()
    for row in rows:
        if row["stage"] == stage and row["name"] == name and row["in_ramp"] == "0":
            histogram.record_value(round(float(row["response_ms"]) * 1000))
    return histogram


@pytest.fixture
def check_run_dir():
    """Check a run directory against the contract; returns (requests rows, journeys rows, events)."""

    def check(run_dir: Path, stages: list[str]):
        with open(run_dir / "requests.csv", newline="") as handle:
            assert next(csv.reader(handle)) == list(REQUEST_COLUMNS)
        with open(run_dir / "journeys.csv", newline="") as handle:
            assert next(csv.reader(handle)) == list(JOURNEY_COLUMNS)
        requests_rows = read_csv(run_dir / "requests.csv")
        journeys = read_csv(run_dir / "journeys.csv")
        assert requests_rows and journeys
        for row in requests_rows:
            assert row["stage"] in stages and row["in_ramp"] in {"0", "1"} and row["ok"] in {"0", "1"}
            assert float(row["t_s"]) > 1e9 and float(row["response_ms"]) > 0
            assert row["error_kind"] in ERROR_KINDS and (row["ok"] == "1") == (row["error_kind"] == "")
            assert row["name"].split(" ")[0] == row["method"] and "/" in row["name"]
            assert not any(ch.isdigit() for ch in row["name"].split("?")[0].replace("frontTransReq", ""))
        visit_ids = set()
        for row in journeys:
            assert row["stage"] in stages
            if row["name"] == "visit":
                assert row["outcome"] in VISIT_OUTCOMES
                visit_ids.add(row["journey_id"])
                if row["outcome"] == "dropped":
                    assert row["start_t_s"] == "" and row["ok"] == "0"
                    continue
            start, end = float(row["start_t_s"]), float(row["end_t_s"])
            assert float(row["duration_ms"]) == pytest.approx((end - start) * 1000, abs=0.01)
            assert float(row["from_intended_ms"]) >= float(row["duration_ms"]) - 0.01
        assert {row["visit_id"] for row in journeys} <= visit_ids
        journey_ids = {row["journey_id"] for row in journeys}
        assert {row["journey_id"] for row in requests_rows} <= journey_ids
        for line in (run_dir / "journal.jsonl").read_text().splitlines():
            entry = json.loads(line)
            assert entry["kind"] in {"order_acknowledged", "payment_submitted", "payment_acknowledged", "order_seen"}
            assert entry["journey_id"] in journey_ids
        events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
        kinds = [event["kind"] for event in events if not event["kind"].startswith("worker")]
        events = [event for event in events if not event["kind"].startswith("worker")]  # the join comes first
        assert kinds[0] == "run_start" and events[0]["t0_s"] > 1e9
        assert [e["stage"] for e in events if e["kind"] == "stage_start"] == stages
        assert [e["stage"] for e in events if e["kind"] == "stage_end"] == stages
        for event in events:
            if event["kind"] == "progress":
                assert {"stage", "elapsed_s", "intended_journeys_per_s", "achieved_journeys_per_s",
                        "requests_per_s", "p95_ms", "failures"} <= set(event)
        for stage in stages:
            doc = json.loads((run_dir / "histograms" / f"{stage}.json").read_text())
            assert doc["stage"] == stage
            names = {row["name"] for row in requests_rows if row["stage"] == stage and row["in_ramp"] == "0"}
            assert set(doc["requests"]) == names
            for name, text in doc["requests"].items():
                merged, exact = HdrHistogram.decode(text), exact_histogram(requests_rows, stage, name)
                assert merged.get_total_count() == exact.get_total_count()
                for percentile in (50, 95, 99, 100):
                    assert merged.get_value_at_percentile(percentile) == exact.get_value_at_percentile(percentile)
        return requests_rows, journeys, events

    return check


@pytest.fixture
def tools():
    """Helpers for test modules (importlib import mode: tests cannot import conftest)."""
    from types import SimpleNamespace

    return SimpleNamespace(REPO=REPO, python_env=python_env, read_csv=read_csv, write_profile=write_profile)
