"""loadtests/capture_urls.py and loadtests/replay*.py (the generator-cost benchmark's equal-bodies
yardstick, loadtests/bench_generator.py) against the real platform, and their bad inputs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.load.conftest import REPO, python_env, read_csv, write_profile


def _locust(args: list[str], env: dict[str, str], timeout_s: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "locust", "--headless", "--only-summary", "--exit-code-on-error", "0",
                           *args], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=timeout_s)


@pytest.mark.slow
def test_the_replay_sends_the_journeys_own_gets_at_the_rate_asked(platform, tmp_path):
    captured = tmp_path / "captured.jsonl"
    profile = write_profile(tmp_path / "capture.toml", [("100%", 1.0, 4.0, 1.0)])
    capture = _locust(["-f", "loadtests/capture_urls.py", "-H", platform["shop_url"], "--profile", str(profile),
                       "--run-dir", str(tmp_path / "capture")], {**python_env(), "HARNESS_CAPTURE_URLS": str(captured)})
    assert capture.returncode == 0, capture.stderr[-3000:]
    rows = [json.loads(line) for line in captured.read_text().splitlines()]
    recorded_gets = [r for r in read_csv(tmp_path / "capture" / "requests.csv") if r["method"] == "GET" and r["ok"] == "1"]
    assert len(rows) == len(recorded_gets) > 10  # every answered GET, with its full URL and body size
    assert all(url.startswith("http://") and name.startswith("GET /") for name, url, _ in rows)
    assert sorted(name for name, _, _ in rows) == sorted(r["name"] for r in recorded_gets)
    shop_rows = [r for r in rows if r[1].startswith(platform["shop_url"] + "/")]
    urls = tmp_path / "urls.jsonl"
    urls.write_text("".join(json.dumps(r) + "\n" for r in shop_rows))
    # the recorded replay: 20 requests/s for a 4 s stage, 4 users
    profile = write_profile(tmp_path / "replay.toml", [("100%", 1.0, 4.0, 0.0)], max_concurrent_journeys=4)
    env = {**python_env(), "HARNESS_REPLAY_URLS": str(urls), "HARNESS_REPLAY_RATE": "20", "HARNESS_REPLAY_USERS": "4"}
    replay = _locust(["-f", "loadtests/replay_recorded.py", "-H", platform["shop_url"], "--profile", str(profile),
                      "--run-dir", str(tmp_path / "replay")], env)
    assert replay.returncode == 0, replay.stderr[-3000:]
    sent = read_csv(tmp_path / "replay" / "requests.csv")
    assert sent and all(r["method"] == "GET" for r in sent)
    # GETs that belong to one visitor's session (their cart, their SMS code) answer 4xx when sent again
    failed = [r for r in sent if r["ok"] != "1"]
    assert len(failed) <= 0.1 * len(sent) and {r["error_kind"] for r in failed} <= {"http_4xx"}, failed[:5]
    assert {r["name"] for r in sent} <= {name for name, _, _ in shop_rows}
    # in capture order, from the first: the first names sent are the first captured
    assert [r["name"] for r in sorted(sent, key=lambda r: float(r["t_s"]))][:3] == [r[0] for r in shop_rows[:3]]
    # paced, not saturating: at most the rate asked (plus one per user at the start)
    in_stage = [r for r in sent if r["in_ramp"] == "0"]  # inside the 4 s stage (before and after it: ramp)
    assert 10 <= len(in_stage) <= 20 * 4 + 4 + 4, len(in_stage)
    bodies = {r[1]: r[2] for r in shop_rows}
    assert sum(float(r["bytes"]) for r in sent) > 0 and max(bodies.values()) > 0


@pytest.mark.parametrize(("env", "needle"), [
    ({}, "HARNESS_REPLAY_URLS"),
    ({"HARNESS_REPLAY_URLS": "/nonexistent/urls.jsonl", "HARNESS_REPLAY_RATE": "5"},
     "/nonexistent/urls.jsonl (HARNESS_REPLAY_URLS)"),
    ({"HARNESS_REPLAY_URLS": "EMPTY", "HARNESS_REPLAY_RATE": "5"}, "holds no captured request"),
    ({"HARNESS_REPLAY_URLS": "GOOD", "HARNESS_REPLAY_RATE": "fast"}, "HARNESS_REPLAY_RATE must be a float, got 'fast'"),
    ({"HARNESS_REPLAY_URLS": "GOOD", "HARNESS_REPLAY_RATE": "0"}, "HARNESS_REPLAY_RATE must be more than 0"),
    ({"HARNESS_REPLAY_URLS": "GOOD", "HARNESS_REPLAY_RATE": "5", "HARNESS_REPLAY_USERS": "-2"},
     "HARNESS_REPLAY_USERS must be more than 0"),
])
def test_bad_replay_settings_are_named(env, needle, tmp_path):
    (tmp_path / "EMPTY").write_text("")
    (tmp_path / "GOOD").write_text('["GET /healthz", "http://127.0.0.1:1/healthz", 2]\n')
    env = {k: (str(tmp_path / v) if v in ("EMPTY", "GOOD") else v) for k, v in env.items()}
    base = {k: v for k, v in python_env().items() if not k.startswith("HARNESS_REPLAY_")}
    done = subprocess.run([sys.executable, "-c", "import loadtests.replay"], cwd=REPO, env={**base, **env},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and needle in done.stderr, done.stderr[-2000:]
