"""The small client protocol the journeys are written against.

A journey builds :class:`Call` s and hands them to a :class:`ShopClient` with the :class:`Tags`
that say which journey and stage the request belongs to. The client sends, classifies the
outcome with :func:`classify` (so every client agrees on what a failure is), records the
request, and returns a :class:`Reply`. Locust's FastHttpUser is one client
(loadtests/locust_client.py); :class:`scenarios.http_client.RequestsClient` is another, for tests.
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

# error_kind values (docs/run-directory.md, requests.csv)
HTTP_5XX, HTTP_4XX, TIMEOUT, CONNECTION, BUSINESS = "http_5xx", "http_4xx", "timeout", "connection", "business"


@dataclass(frozen=True, slots=True)
class Tags:
    """Labels every request of a journey carries into requests.csv."""

    journey_id: str
    stage: str
    in_ramp: bool


@dataclass(frozen=True)
class Call:
    """One HTTP request as a journey asks for it.

    ``url`` is a path on the shop, or an absolute URL (the gateway). ``expect``: statuses that
    are not failures. ``check(reply)`` returns a message when a expected status carries the
    wrong business outcome (e.g. a field missing), or None.
    """

    method: str
    url: str
    name: str
    json: Any = None
    form: Mapping[str, str] | None = None
    headers: Mapping[str, str] | None = None
    expect: tuple[int, ...] = (200,)
    check: Callable[[Reply], str | None] | None = None


@dataclass
class Reply:
    """What came back: ``status`` 0 when no response; ``error_kind`` empty when ``ok``."""

    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    error_kind: str = ""
    detail: str = ""
    _json: Any = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        """True when the request neither failed at HTTP level nor had the wrong business outcome."""
        return not self.error_kind

    def json(self) -> Any:
        """The body parsed as JSON (cached); None when it is not JSON."""
        if self._json is None and self.body:
            try:
                self._json = jsonlib.loads(self.body)
            except ValueError:
                self._json = None
        return self._json


class ShopClient(Protocol):
    """Sends calls and records each as one request row."""

    def send(self, call: Call, tags: Tags) -> Reply:
        """Send one call; never raises for HTTP or network errors (they are in the Reply)."""
        ...

    def send_all(self, calls: Sequence[Call], tags: Tags) -> list[Reply]:
        """Send calls concurrently where the client can (a browser loading a page's images)."""
        ...


def classify(call: Call, reply: Reply) -> tuple[str, str]:
    """(error_kind, detail) of a reply to ``call``: ("", "") when it is a success.

    The reply's own error_kind (timeout/connection, set by the client when no response came)
    wins; then an unexpected status (5xx: http_5xx, anything else: http_4xx); then the call's
    business check.
    """
    if reply.status == 0:
        return reply.error_kind or CONNECTION, reply.detail or "no response"
    if reply.status not in call.expect:
        kind = HTTP_5XX if reply.status >= 500 else HTTP_4XX
        return kind, f"unexpected status {reply.status}"
    if call.check is not None:
        message = call.check(reply)
        if message:
            return BUSINESS, message
    return "", ""


def has_fields(*names: str) -> Callable[[Reply], str | None]:
    """A check: the JSON body is an object holding every one of ``names``."""

    def check(reply: Reply) -> str | None:
        body = reply.json()
        if not isinstance(body, dict):
            return "body is not a JSON object"
        missing = [name for name in names if name not in body]
        return f"body lacks {', '.join(missing)}" if missing else None

    return check
