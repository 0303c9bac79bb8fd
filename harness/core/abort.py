"""The abort switch, judged live: a profile's ``[abort]`` conditions over sliding windows of the
recorder's ``progress`` events (about one a second, each with its interval's request and failure
counts and P95) and the harness's health probes. Pure: plain data in, a Trigger out.

    [abort]
    error_ratio = { above = 0.05, for_s = 10 }    # failed/all requests over the last 10 s
    p95_ms = { above = 5000, for_s = 30 }         # every progress interval of the last 30 s
    health_failures = 3                           # /healthz failed 3 times in a row

A window condition is judged once the progress intervals seen cover ``for_s`` seconds: the error
ratio sums the requests and failures of the newest intervals that together cover ``for_s``
(at least ``min_requests`` requests, default 10); the P95 condition holds when the P95 of every
one of those intervals is above the limit. The first progress event at which a condition holds
is when it "became true"; docs/distributed.md.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

ERROR_RATIO, P95_MS, HEALTH = "error_ratio", "p95_ms", "health_failures"


@dataclass(frozen=True)
class WindowRule:
    """A figure above ``above`` over the last ``for_s`` seconds."""

    above: float
    for_s: float
    min_requests: int = 10


@dataclass(frozen=True)
class AbortRules:
    """A profile's ``[abort]`` table; every condition optional."""

    error_ratio: WindowRule | None = None
    p95_ms: WindowRule | None = None
    health_failures: int | None = None

    def __bool__(self) -> bool:
        return any(x is not None for x in (self.error_ratio, self.p95_ms, self.health_failures))

    def as_dict(self) -> dict:
        out: dict = {}
        for name in (ERROR_RATIO, P95_MS):
            rule = getattr(self, name)
            if rule is not None:
                out[name] = {"above": rule.above, "for_s": rule.for_s, "min_requests": rule.min_requests}
        if self.health_failures is not None:
            out[HEALTH] = self.health_failures
        return out


@dataclass(frozen=True)
class Trigger:
    """A condition that held: which, the figure and limit, its window and when it became true."""

    condition: str
    value: float
    threshold: float
    for_s: float | None
    true_at_t_s: float  # the progress event (or health probe) at which it held
    window_start_t_s: float  # the start of the window it held over (first failure of a health streak)
    figures: dict

    def describe(self) -> str:
        if self.condition == ERROR_RATIO:
            return (f"error ratio {self.value:.1%} above {self.threshold:.1%} over {self.for_s:g} s "
                    f"({self.figures['failures']} of {self.figures['requests']} requests failed)")
        if self.condition == P95_MS:
            return f"P95 above {self.threshold:g} ms for {self.for_s:g} s (lowest interval P95 {self.value:.0f} ms)"
        return f"the health check failed {int(self.value)} times in a row (limit {int(self.threshold)}): " \
               f"{self.figures.get('last_error', '')}"

    def as_event(self) -> dict:
        """The ``abort`` event's fields (events.jsonl) and results.json's ``abort`` block."""
        return {"condition": self.condition, "value": self.value, "threshold": self.threshold,
                "for_s": self.for_s, "true_at_t_s": self.true_at_t_s,
                "window_start_t_s": self.window_start_t_s, "figures": dict(self.figures),
                "description": self.describe()}


@dataclass(frozen=True)
class _Interval:
    end_t_s: float
    length_s: float
    requests: int
    failures: int
    p95_ms: float | None


class AbortJudge:
    """Feed it progress events and health results in time order; it answers the first Trigger."""

    def __init__(self, rules: AbortRules) -> None:
        self.rules = rules
        longest = max([r.for_s for r in (rules.error_ratio, rules.p95_ms) if r is not None] or [0.0])
        self._longest_s = longest
        self._intervals: deque[_Interval] = deque()
        self._health_streak: list[float] = []
        self.triggered: Trigger | None = None

    def observe_progress(self, event: dict) -> Trigger | None:
        """One ``progress`` event (needs t_s, window_s, window_requests, window_failures,
        window_p95_ms; events without window figures are ignored)."""
        if self.triggered is not None:
            return self.triggered
        if event.get("window_requests") is None or not event.get("window_s"):
            return None
        self._intervals.append(_Interval(float(event["t_s"]), float(event["window_s"]),
                                         int(event["window_requests"]), int(event.get("window_failures") or 0),
                                         event.get("window_p95_ms")))
        while len(self._intervals) > 1 and self._span(list(self._intervals)[1:]) >= self._longest_s:
            self._intervals.popleft()
        for name in (ERROR_RATIO, P95_MS):
            rule = getattr(self.rules, name)
            if rule is not None and (trigger := self._judge_window(name, rule)) is not None:
                self.triggered = trigger
                return trigger
        return None

    def observe_health(self, t_s: float, ok: bool, detail: str = "") -> Trigger | None:
        """One health probe's result (``ok``: /healthz answered 200)."""
        limit = self.rules.health_failures
        if self.triggered is not None or limit is None:
            return self.triggered
        if ok:
            self._health_streak.clear()
            return None
        self._health_streak.append(t_s)
        if len(self._health_streak) >= limit:
            self.triggered = Trigger(HEALTH, float(len(self._health_streak)), float(limit), None, t_s,
                                     self._health_streak[0], {"last_error": detail})
        return self.triggered

    @staticmethod
    def _span(intervals: list[_Interval]) -> float:
        return intervals[-1].end_t_s - (intervals[0].end_t_s - intervals[0].length_s) if intervals else 0.0

    def _window(self, for_s: float) -> list[_Interval] | None:
        """The newest intervals that together cover ``for_s`` seconds; None while too few."""
        window: list[_Interval] = []
        for interval in reversed(self._intervals):
            window.insert(0, interval)
            if self._span(window) >= for_s - 1e-6:
                return window
        return None

    def _judge_window(self, name: str, rule: WindowRule) -> Trigger | None:
        window = self._window(rule.for_s)
        if window is None:
            return None
        start_t_s, end_t_s = window[0].end_t_s - window[0].length_s, window[-1].end_t_s
        requests = sum(i.requests for i in window)
        if name == ERROR_RATIO:
            failures = sum(i.failures for i in window)
            if requests < max(rule.min_requests, 1):
                return None
            ratio = failures / requests
            if ratio <= rule.above:
                return None
            return Trigger(name, ratio, rule.above, rule.for_s, end_t_s, start_t_s,
                           {"requests": requests, "failures": failures})
        p95s = [i.p95_ms for i in window]
        if any(p is None or p <= rule.above for p in p95s):
            return None
        return Trigger(name, min(p95s), rule.above, rule.for_s, end_t_s, start_t_s,
                       {"requests": requests, "interval_p95_ms": [round(p, 1) for p in p95s]})
