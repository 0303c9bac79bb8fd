"""The generators' ceiling: a profile's ``max_requests_per_s``, enforced in every load-generating
process by a token bucket in front of each HTTP request (Locust's HttpSession and FastHttpSession,
so any locustfile is held to it). With N workers each process enforces max/N, so together they
stay at or under the ceiling. A request waits (gevent.sleep) for its token before it is sent:
Locust times a request from its send, so the wait is not in the response time; a ceiling below
the profile's offered load shows as an achieved rate below the intended one (docs/distributed.md).
"""

from __future__ import annotations

import time

BURST_S = 0.1  # the bucket holds 100 ms of tokens (at least one): bursts above the ceiling stay short


class TokenBucket:
    """Virtual-scheduling token bucket: ``reserve(now)`` takes a token and says how long to wait
    before using it (0 while tokens are left). Pure: the caller passes the clock."""

    def __init__(self, rate_per_s: float, burst: float | None = None) -> None:
        if not rate_per_s > 0:
            raise ValueError(f"rate must be > 0, got {rate_per_s!r}")
        self.rate = float(rate_per_s)
        self.burst = max(1.0, self.rate * BURST_S) if burst is None else float(burst)
        self.tokens = self.burst
        self.last_s: float | None = None

    def reserve(self, now_s: float) -> float:
        """Take one token at ``now_s``; seconds to wait before sending (0.0: send now)."""
        if self.last_s is not None and now_s > self.last_s:
            self.tokens = min(self.burst, self.tokens + (now_s - self.last_s) * self.rate)
        self.last_s = now_s if self.last_s is None else max(self.last_s, now_s)
        self.tokens -= 1.0
        return 0.0 if self.tokens >= 0.0 else -self.tokens / self.rate


class _Ceiling:
    bucket: TokenBucket | None = None
    waited_s: float = 0.0
    throttled: int = 0


CEILING = _Ceiling()


def configure(profile, _t0_s: float, _index: int, count: int, _extra: dict) -> None:
    """A plan listener (loadtests.recorder): this process's share of the profile's ceiling."""
    rate = getattr(profile, "max_requests_per_s", None)
    CEILING.bucket = None if rate is None else TokenBucket(rate / max(int(count), 1))
    if CEILING.bucket is not None:
        _patch_sessions()


def _throttle() -> None:
    bucket = CEILING.bucket
    if bucket is None:
        return
    wait_s = bucket.reserve(time.monotonic())
    if wait_s > 0:
        import gevent
        CEILING.throttled += 1
        CEILING.waited_s += wait_s
        gevent.sleep(wait_s)


def _patch_sessions() -> None:
    """Wrap HttpSession.request and FastHttpSession.request once per process."""
    from locust.clients import HttpSession
    from locust.contrib.fasthttp import FastHttpSession

    for cls in (HttpSession, FastHttpSession):
        original = cls.request
        if getattr(original, "_harness_ceiling", False):
            continue

        def request(self, *args, _original=original, **kwargs):
            _throttle()
            return _original(self, *args, **kwargs)

        request._harness_ceiling = True
        cls.request = request
