"""loadtests/shop.py under vanilla Locust against the real platform: local, master + 2 workers,
Ctrl-C, bad profile."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

LOCUST = [sys.executable, "-m", "locust"]
SHOP = ["-f", "loadtests/shop.py"]
STAGES = [("100%", 1.0, 5.0, 1.0), ("200%", 2.0, 5.0, 1.0)]


def run_locust(args, env, timeout_s=120):
    return subprocess.run(LOCUST + args, cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout_s)


def locust_total_requests(json_prefix):
    """(requests, failures) as Locust itself counted them: its --json-file, written after the users stop."""
    (json_file,) = json_prefix.parent.glob(json_prefix.name + "*.json")
    entries = json.loads(json_file.read_text())
    return sum(e["num_requests"] for e in entries), sum(e["num_failures"] for e in entries)


@pytest.mark.slow
def test_vanilla_locust_headless_writes_the_run_directory(platform, tmp_path, check_run_dir, tools):
    profile = tools.write_profile(tmp_path / "p.toml", STAGES)
    run_dir = tmp_path / "run"
    result = run_locust([*SHOP, "--headless", "-H", platform["shop_url"], "-t", "60s", "--profile", str(profile),
                         "--run-dir", str(run_dir), "--json-file", str(tmp_path / "locust"), "--only-summary"], tools.python_env())
    assert result.returncode == 0, result.stderr[-3000:]
    requests_rows, journeys, events = check_run_dir(run_dir, ["100%", "200%"])
    # nothing lost: every request Locust counted is a row
    count, failures = locust_total_requests(tmp_path / "locust")
    assert count == len(requests_rows) and failures == sum(r["ok"] == "0" for r in requests_rows)
    assert {r["worker"] for r in requests_rows} == {"local"}
    visits = [j for j in journeys if j["name"] == "visit"]
    assert len({v["journey_id"] for v in visits}) == len(visits) > 10
    assert {"browse", "product_page"} <= {j["name"] for j in journeys}
    assert any(e["kind"] == "progress" for e in events)
    # the profile bounded the run: it ended within drain_s of the last stage's end
    t0 = events[0]["t0_s"]
    assert max(float(r["t_s"]) for r in requests_rows) < t0 + 10.0 + 10.0


@pytest.mark.slow
def test_master_and_two_workers_merge_exactly(platform, tmp_path, check_run_dir, tools):
    profile = tools.write_profile(tmp_path / "p.toml", STAGES)
    run_dir = tmp_path / "run"
    port = _free_port()
    workers = [subprocess.Popen(LOCUST + SHOP + ["--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
                                cwd=REPO, env=tools.python_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for _ in range(2)]
    try:
        result = run_locust([*SHOP, "--headless", "-H", platform["shop_url"], "-t", "60s", "--master",
                             "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
                             "--expect-workers", "2", "--profile", str(profile), "--run-dir", str(run_dir),
                             "--json-file", str(tmp_path / "locust"), "--only-summary"], tools.python_env())
        assert result.returncode == 0, result.stderr[-3000:]
        for worker in workers:
            worker.wait(timeout=30)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    # check_run_dir compares every merged histogram with one built from all raw rows
    requests_rows, journeys, events = check_run_dir(run_dir, ["100%", "200%"])
    assert {r["worker"] for r in requests_rows} == {"0", "1"}
    assert events[0]["workers"] == 2
    count, _ = locust_total_requests(tmp_path / "locust")
    assert count == len(requests_rows)
    visit_ids = [j["journey_id"] for j in journeys if j["name"] == "visit"]
    assert len(visit_ids) == len(set(visit_ids))
    assert {v.split("-")[0] for v in visit_ids} == {"0", "1"}
    # the join: both workers measured and planned; each one's own count of what it sent, per
    # stage, equals what was merged from it, and the merged rows are the sum
    raw = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    planned = next(e for e in raw if e["kind"] == "workers_planned")
    assert [w["worker"] for w in planned["workers"]] == ["0", "1"]
    assert all(abs(w["clock"]["offset_s"]) < 0.05 and w["clock"]["samples"] == 8 for w in planned["workers"])
    totals = {e["worker"]: e for e in raw if e["kind"] == "worker_totals"}
    assert set(totals) == {"0", "1"}
    for stage in ("100%", "200%"):
        merged = sum(t["merged_requests"].get(stage, 0) for t in totals.values())
        assert merged == sum(t["sent_requests"].get(stage, 0) for t in totals.values())
        assert merged == sum(r["stage"] == stage for r in requests_rows) > 0


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_sigint_mid_stage_leaves_a_readable_run_directory(platform, tmp_path, tools):
    profile = tools.write_profile(tmp_path / "p.toml", [("long", 1.0, 60.0, 1.0)])
    process = subprocess.Popen(LOCUST + SHOP + ["--headless", "-H", platform["shop_url"], "-t", "90s", "--profile",
                                         str(profile)],
                               cwd=REPO, env=tools.python_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    run_dir = None
    deadline = time.monotonic() + 60
    while run_dir is None and time.monotonic() < deadline:  # no --run-dir: a temp dir, logged
        line = process.stdout.readline()
        lines.append(line)
        match = re.search(r"run directory (\S+)", line)
        if match:
            run_dir = match.group(1)
    assert run_dir, "".join(lines)
    requests_csv = Path(run_dir) / "requests.csv"
    while time.monotonic() < deadline and len(requests_csv.read_text().splitlines()) < 20:
        time.sleep(0.5)  # rows reach the file within ~1 s (flush interval)
    assert len(requests_csv.read_text().splitlines()) >= 20
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=30)
    rows = tools.read_csv(requests_csv)
    assert rows and all(r["stage"] == "long" for r in rows)
    doc = json.loads((Path(run_dir) / "histograms" / "long.json").read_text())
    assert doc["stage"] == "long" and doc["requests"]
    events = [json.loads(line) for line in (Path(run_dir) / "events.jsonl").read_text().splitlines()]
    assert events[0]["kind"] == "run_start"


def test_bad_profile_exits_2_naming_file_and_field(tmp_path, tools):
    bad = tmp_path / "bad.toml"
    bad.write_text("[profile]\nname='x'\nnominal_journeys_per_s=-3\n[[stages]]\nload_factor=1\nduration_s=5\n")
    result = run_locust([*SHOP, "--headless", "-H", "http://127.0.0.1:9", "--profile", str(bad)], tools.python_env(), timeout_s=60)
    assert result.returncode == 2
    assert f"{bad}: [profile] nominal_journeys_per_s: must be > 0" in result.stderr


def test_missing_profile_exits_2(tmp_path, tools):
    result = run_locust([*SHOP, "--headless", "-H", "http://127.0.0.1:9", "--profile", str(tmp_path / "none.toml")],
                        tools.python_env(), timeout_s=60)
    assert result.returncode == 2 and "none.toml: profile file not found" in result.stderr


@pytest.mark.slow
def test_recorder_beside_another_locustfile(platform, tmp_path, tools):
    """``harness run`` loads loadtests/recorder.py beside anyone's locustfile: closed model, recorded."""
    theirs = tmp_path / "theirs.py"
    theirs.write_text(
        "from locust import FastHttpUser, constant, task\n\n\n"
        "class Theirs(FastHttpUser):\n    wait_time = constant(0.05)\n\n"
        "    @task\n    def ping(self):\n        self.client.get('/api/categories', name='GET /api/categories')\n"
    )
    profile = tools.write_profile(tmp_path / "p.toml", [("only", 1.0, 3.0, 0.5)], max_concurrent_journeys=4)
    run_dir = tmp_path / "run"
    result = run_locust(["-f", f"loadtests/recorder.py,{theirs}", "--headless", "-H", platform["shop_url"],
                         "-t", "60s", "--profile", str(profile), "--run-dir", str(run_dir),
                         "--json-file", str(tmp_path / "locust"), "--only-summary"], tools.python_env())
    assert result.returncode == 0, result.stderr[-3000:]
    rows = tools.read_csv(run_dir / "requests.csv")
    assert rows and {r["stage"] for r in rows} == {"only"} and {r["journey_id"] for r in rows} == {""}
    assert sum(r["in_ramp"] == "0" for r in rows) > 10
    count, _ = locust_total_requests(tmp_path / "locust")
    assert count == len(rows)
    doc = json.loads((run_dir / "histograms" / "only.json").read_text())
    assert list(doc["requests"]) == ["GET /api/categories"]
