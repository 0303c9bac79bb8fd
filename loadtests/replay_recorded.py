"""Locustfile: loadtests/replay.py's user with the harness's recorder, as a campaign records.

Users follow the profile (``max_concurrent_journeys`` at the peak stage: set it to
``HARNESS_REPLAY_USERS``); requests.csv, journal, histograms and events are written as in any
run. loadtests/bench_generator.py compares it with plain Locust and with the journeys.

    HARNESS_REPLAY_URLS=urls.jsonl HARNESS_REPLAY_RATE=150 HARNESS_REPLAY_USERS=20 locust \
        -f loadtests/replay_recorded.py --headless --profile bench.toml --run-dir /tmp/replay -H URL
"""

from __future__ import annotations

from loadtests.recorder import ProfileUsersShape  # noqa: F401  (the shape Locust picks up)
from loadtests.replay import ReplayUser  # noqa: F401  (the user Locust runs)
