"""Locustfile: the journeys (loadtests/shop.py), and every GET they make written down with its
full URL, for loadtests/replay.py to send again (loadtests/bench_generator.py).

``HARNESS_CAPTURE_URLS``: the file to write, one JSON line ``[name, url, response_bytes]`` per GET
that was answered. Writing costs the generator CPU: a capture run is not a measured run.
"""

from __future__ import annotations

import atexit
import json
import os
import sys

from locust import events

from loadtests.shop import ProfileShape, ShopVisitor  # noqa: F401  (the journeys, unchanged)

_PATH = os.environ.get("HARNESS_CAPTURE_URLS") or sys.exit("loadtests/capture_urls.py: set HARNESS_CAPTURE_URLS")
_OUT = open(_PATH, "w", encoding="utf-8")  # noqa: SIM115 - open for the whole run, closed at exit
atexit.register(_OUT.close)


@events.request.add_listener
def _capture(request_type, name, response_length=0, exception=None, url=None, **_kwargs) -> None:
    if request_type == "GET" and url and exception is None:
        _OUT.write(json.dumps([name, url, int(response_length or 0)]) + "\n")
