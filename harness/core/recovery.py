"""A fault's effect on availability: before, during, after, and the time to recover.

Input is per-second request counts (``SecondCounts``: the Unix second, requests that
succeeded, failed, and the failures by error kind) and a fault window ``[start_t_s, end_t_s]``
(``end_t_s == start_t_s`` for an instantaneous action such as killing a worker).

Recovery: the first second ``s >= end_t_s`` from which ``hold_s`` consecutive seconds each
have at least one request and a success rate at or above ``availability_target``. A second
with no request breaks the streak: silence is no evidence of health (a dead platform and a
stalled generator are both silent). ``time_to_recover_s = recovered_at_t_s - end_t_s``.

Windows: before ``[data start, start)``; during ``[start, end)`` for a windowed fault, and
``[start, recovered_at)`` for an instantaneous one (the outage it caused); after ``[end of
during, until)``. Errors by kind are counted over during plus the recovery period.

Pure: no clock, no files.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SecondCounts:
    """Requests that started in one second ``[second_t_s, second_t_s + 1)``."""

    second_t_s: int
    ok: int
    failed: int
    errors_by_kind: Mapping[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.ok + self.failed


def _availability(seconds: Iterable[SecondCounts]) -> tuple[float | None, int]:
    ok = failed = 0
    for s in seconds:
        ok += s.ok
        failed += s.failed
    total = ok + failed
    return (ok / total if total else None), total


def recovery_moment_t_s(
    per_second: list[SecondCounts], from_t_s: float, availability_target: float, hold_s: int
) -> int | None:
    """First whole second at or after ``from_t_s`` that starts ``hold_s`` healthy seconds.

    ``per_second`` sorted by second; healthy: at least one request and ``ok/total >=
    availability_target``. Returns the Unix second, or None when the data ends first.
    """
    if hold_s < 1:
        raise ValueError(f"hold_s must be >= 1, got {hold_s}")
    counts = {s.second_t_s: s for s in per_second}
    if not counts:
        return None
    first = math.ceil(from_t_s)
    last = max(counts)
    streak_start: int | None = None
    for second in range(first, last + 1):
        s = counts.get(second)
        healthy = s is not None and s.total > 0 and s.ok / s.total >= availability_target
        if not healthy:
            streak_start = None
            continue
        if streak_start is None:
            streak_start = second
        if second - streak_start + 1 >= hold_s:
            return streak_start
    return None


def fault_effect(
    per_second: Iterable[SecondCounts],
    start_t_s: float,
    end_t_s: float,
    availability_target: float = 0.99,
    hold_s: int = 5,
    since_t_s: float | None = None,
    until_t_s: float | None = None,
) -> dict:
    """Availability before/during/after one fault, time to recover (s) and errors by kind.

    ``availability_target``: a fraction (0.99 = 99%); ``hold_s``: seconds the success rate
    must stay at or above it; ``since_t_s`` / ``until_t_s``: where "before" starts (the
    previous fault) and "after" ends (the next fault), default the data's start and end. The
    recovery search and "during" are not cut by the next fault: an outage lasts until the
    service is back, whatever else happened meanwhile. Availabilities are fractions, None
    where a window holds no request.
    """
    if end_t_s < start_t_s:
        raise ValueError(f"fault window ends ({end_t_s}) before it starts ({start_t_s})")
    if not 0.0 <= availability_target <= 1.0:
        raise ValueError(f"availability_target must be a fraction in [0, 1], got {availability_target}")
    seconds = sorted(per_second, key=lambda s: s.second_t_s)
    recovered_at = recovery_moment_t_s(seconds, end_t_s, availability_target, hold_s)
    data_end = seconds[-1].second_t_s + 1 if seconds else end_t_s
    instantaneous = end_t_s == start_t_s
    during_end = (recovered_at if recovered_at is not None else data_end) if instantaneous else end_t_s
    during_end = max(during_end, start_t_s)
    impact_end = recovered_at if recovered_at is not None else data_end
    first_second = math.floor(start_t_s)

    def window(lo: float, hi: float) -> list[SecondCounts]:
        # A second belongs to the window its start falls in.
        return [s for s in seconds if lo <= s.second_t_s < hi]

    before, n_before = _availability(window(-math.inf if since_t_s is None else since_t_s, first_second))
    during, n_during = _availability(window(first_second, during_end))
    after, n_after = _availability(window(during_end, math.inf if until_t_s is None else until_t_s))
    errors: Counter[str] = Counter()
    for s in window(first_second, max(impact_end, during_end)):
        errors.update(s.errors_by_kind)
    return {
        "start_t_s": start_t_s,
        "end_t_s": end_t_s,
        "availability_before": before,
        "availability_during": during,
        "availability_after": after,
        "requests_before": n_before,
        "requests_during": n_during,
        "requests_after": n_after,
        "recovered": recovered_at is not None,
        "recovered_at_t_s": recovered_at,
        "time_to_recover_s": (recovered_at - end_t_s) if recovered_at is not None else None,
        "availability_target": availability_target,
        "hold_s": hold_s,
        "errors_by_kind": dict(sorted(errors.items())),
    }
