"""Locustfile: a bare FastHttpUser hitting /healthz as fast as it can (closed model).

The yardstick for the generator's own cost: requests/s per generator core with nothing but
Locust's and the recorder's per-request work (loadtests/bench_generator.py compares it with the
journeys). Recorded like any other run: the recorder is imported, the user count follows the
profile's load factor (``max_concurrent_journeys`` at the peak stage).

    locust -f loadtests/healthz.py -H http://127.0.0.1:8000 --headless --profile profiles/smoke.toml
"""

from __future__ import annotations

from locust import FastHttpUser, constant, task

from loadtests.recorder import ProfileUsersShape  # noqa: F401  (the shape Locust picks up)


class HealthzUser(FastHttpUser):
    """One connection, one request after another, no think time."""

    wait_time = constant(0)

    @task
    def healthz(self) -> None:
        self.client.get("/healthz", name="GET /healthz")
