"""A ShopClient over ``requests``: runs the journeys without Locust (tests, one-off checks).

Each request is classified with :func:`scenarios.client.classify` and handed to
``record(t_s, stage, in_ramp, name, method, response_ms, ok, status, error_kind, bytes, journey_id)``
(the signature of :meth:`loadtests.records.Recorder.request`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from urllib.parse import urljoin

import requests

from scenarios.client import CONNECTION, TIMEOUT, Call, Reply, Tags, classify

RecordRequest = Callable[[float, str, bool, str, str, float, bool, int, str, int, str], None]


class RequestsClient:
    """Sends calls with one ``requests.Session`` against ``base_url`` (absolute URLs go as they are)."""

    def __init__(self, base_url: str, record: RecordRequest | None = None, timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.record = record
        self.timeout_s = timeout_s
        self.session = requests.Session()

    def send(self, call: Call, tags: Tags) -> Reply:
        """Send one call, classify it, record it; never raises for HTTP or network errors."""
        url = call.url if "://" in call.url else urljoin(self.base_url, call.url.lstrip("/"))
        start_t_s, start = time.time(), time.perf_counter()
        try:
            response = self.session.request(
                call.method, url, json=call.json, data=call.form, headers=dict(call.headers or {}),
                timeout=self.timeout_s, allow_redirects=False,
            )  # fmt: skip
            reply = Reply(response.status_code, response.content, dict(response.headers))
        except requests.Timeout as error:
            reply = Reply(0, error_kind=TIMEOUT, detail=str(error))
        except requests.RequestException as error:
            reply = Reply(0, error_kind=CONNECTION, detail=str(error))
        response_ms = (time.perf_counter() - start) * 1000.0
        reply.error_kind, reply.detail = classify(call, reply)
        if self.record is not None:
            self.record(start_t_s, tags.stage, tags.in_ramp, call.name, call.method, response_ms, reply.ok,
                        reply.status, reply.error_kind, len(reply.body), tags.journey_id)  # fmt: skip
        return reply

    def send_all(self, calls: Sequence[Call], tags: Tags) -> list[Reply]:
        """Send calls one after the other (this client has no concurrency)."""
        return [self.send(call, tags) for call in calls]
