"""The journeys' client protocol on Locust's FastHttpUser session (geventhttpclient).

Every call goes through ``session.request(..., catch_response=True)`` so Locust's own statistics
and the web UI see it, and marks the outcome itself with :func:`scenarios.client.classify`. The
request's :class:`scenarios.client.Tags` travel in the event's ``context``; a failure's kind
travels in a :class:`RequestFailure` exception, which the recorder reads without parsing text.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode

import gevent

from scenarios.client import CONNECTION, TIMEOUT, Call, Reply, Tags, classify


class RequestFailure(Exception):
    """A failed request as Locust reports it; ``kind`` is the requests.csv error_kind."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


def exception_kind(error: BaseException | None) -> str:
    """error_kind for a network-level exception: ``timeout`` or ``connection``."""
    if error is None:
        return CONNECTION
    if isinstance(error, TimeoutError | gevent.Timeout) or "timed out" in str(error).lower():
        return TIMEOUT
    return CONNECTION


class FastClient:
    """A ShopClient over one FastHttpUser's ``client`` (a FastHttpSession)."""

    def __init__(self, session) -> None:
        self.session = session

    def send(self, call: Call, tags: Tags) -> Reply:
        """Send one call; the outcome is classified and reported to Locust (and so to the recorder)."""
        headers = dict(call.headers) if call.headers else {}
        data = None
        if call.form is not None:
            data = urlencode(call.form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        with self.session.request(
            call.method, call.url, name=call.name, data=data, json=call.json, headers=headers,
            catch_response=True, allow_redirects=False, context={"tags": tags},
        ) as response:  # fmt: skip
            status = response.status_code or 0
            if status == 0:
                error = getattr(response, "error", None)
                reply = Reply(0, error_kind=exception_kind(error), detail=str(error))
            else:
                reply = Reply(status, response.content or b"", response.headers or {})
            reply.error_kind, reply.detail = classify(call, reply)
            if reply.error_kind:
                response.failure(RequestFailure(reply.error_kind, reply.detail))
            else:
                response.success()
        return reply

    def send_all(self, calls: Sequence[Call], tags: Tags) -> list[Reply]:
        """Send calls concurrently, one greenlet each (a browser loading a page's images)."""
        if len(calls) <= 1:
            return [self.send(call, tags) for call in calls]
        greenlets = [gevent.spawn(self.send, call, tags) for call in calls]
        gevent.joinall(greenlets, raise_error=True)
        return [greenlet.value for greenlet in greenlets]
