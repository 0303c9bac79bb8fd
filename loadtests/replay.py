"""Locustfile: a bare FastHttpUser replaying captured GET requests at a fixed request rate.

The yardstick for the generator's cost at equal load and equal bodies
(loadtests/bench_generator.py): the same URLs the journeys fetched (captured by
loadtests/capture_urls.py), the same number of requests per second, none of the journeys'
logic. Plain Locust, no recorder: loadtests/replay_recorded.py is the same user with the
harness's recorder.

Environment: ``HARNESS_REPLAY_URLS`` (a file of JSON lines ``[name, url, response_bytes]``),
``HARNESS_REPLAY_RATE`` (requests per second in all), ``HARNESS_REPLAY_USERS`` (users sharing it;
each is paced by ``constant_throughput``).

    HARNESS_REPLAY_URLS=urls.jsonl HARNESS_REPLAY_RATE=150 HARNESS_REPLAY_USERS=20 \
        locust -f loadtests/replay.py --headless --users 20 --spawn-rate 20 --run-time 30s -H URL
"""

from __future__ import annotations

import itertools
import json
import os
import sys

from locust import FastHttpUser, constant_throughput, task


def _setting(name: str, kind: type, default: str | None = None):
    text = os.environ.get(name, default)
    try:
        value = kind(text)
    except (TypeError, ValueError):
        sys.exit(f"loadtests/replay.py: {name} must be a {kind.__name__}, got {text!r}")
    if value is None or (kind is not str and not value > 0):
        sys.exit(f"loadtests/replay.py: {name} must be more than 0, got {text!r}")
    return value


def load_urls(path: str) -> list[tuple[str, str]]:
    """``(name, url)`` of each captured GET, in capture order; exits naming the file if none."""
    if not path:
        sys.exit("loadtests/replay.py: set HARNESS_REPLAY_URLS to a file of captured requests "
                 "(loadtests/capture_urls.py writes one)")
    try:
        with open(path, encoding="utf-8") as handle:
            rows = [json.loads(line) for line in handle if line.strip()]
    except (OSError, json.JSONDecodeError) as error:
        sys.exit(f"loadtests/replay.py: {path} (HARNESS_REPLAY_URLS): {error}")
    if not rows:
        sys.exit(f"loadtests/replay.py: {path} (HARNESS_REPLAY_URLS) holds no captured request")
    return [(str(row[0]), str(row[1])) for row in rows]


URLS = load_urls(_setting("HARNESS_REPLAY_URLS", str, ""))
RATE_PER_S = _setting("HARNESS_REPLAY_RATE", float)
USERS = _setting("HARNESS_REPLAY_USERS", int, "20")
_NEXT = itertools.count()


class ReplayUser(FastHttpUser):
    """Fetches the next captured URL; the users together send ``HARNESS_REPLAY_RATE`` per second."""

    wait_time = constant_throughput(RATE_PER_S / USERS)
    insecure = False
    network_timeout = 10.0
    connection_timeout = 10.0

    @task
    def replay(self) -> None:
        name, url = URLS[next(_NEXT) % len(URLS)]
        self.client.get(url, name=name)
