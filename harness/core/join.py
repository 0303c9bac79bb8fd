"""Who may join a distributed campaign, and how far its clock is from the master's. Pure.

A Locust master's port has no authentication and hands its work to whoever connects, so the
harness adds its own handshake on top (loadtests/join.py carries it over Locust's messages):

1. The worker says hello: its name, host, versions (harness, Locust, a digest of the load code
   it runs) and a *proof* that it holds the join token: HMAC-SHA256(token, its Locust client
   id), never the token itself. :func:`refusal` compares the hello with the master's own
   figures; a worker refused gets no plan and its reports are never merged.
2. Clock: the master sends pings stamped with its clock (t1); the worker stamps arrival (t2)
   and reply (t3) with its clock; the master stamps the reply's arrival (t4). NTP's estimate,
   from the round trip with the least delay: offset = ((t2 - t1) + (t3 - t4)) / 2, error at
   most delay / 2 where delay = (t4 - t1) - (t3 - t2). The worker's intended arrival times are
   shifted by the offset, and its records shifted back, so merged timestamps share the
   master's clock. An offset beyond :data:`CLOCK_OFFSET_LIMIT_S` makes the run invalid: such a
   clock is not synchronised at all and will drift during the run by an unknown amount.
3. After the plan, the worker returns a digest of the profile and mix it received; a
   mismatch refuses it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

CLOCK_OFFSET_LIMIT_S = 0.5  # an NTP-synchronised host is within milliseconds; beyond this, the run is invalid
CLOCK_PINGS = 8  # round trips per worker; the one with the least delay gives the estimate
LOST_AFTER_S = 5.0  # a worker whose reports (every 1 s) stop this long is lost
VERSION_FIELDS = ("harness", "locust", "load_code")


def proof(token: str, client_id: str) -> str:
    """What a worker sends to show it holds ``token`` (the token never crosses the wire)."""
    return hmac.new(token.encode(), client_id.encode(), hashlib.sha256).hexdigest()


def refusal(hello: Mapping, client_id: str, token: str, master_versions: Mapping[str, str]) -> str | None:
    """None when the worker may join, else why not, naming both sides where they differ."""
    name = hello.get("name") or client_id
    sent = hello.get("proof")
    if not isinstance(sent, str) or not sent:
        return f"worker {name}: no join token (set HARNESS_JOIN_TOKEN or --join-token-file on the worker)"
    if not hmac.compare_digest(sent, proof(token, client_id)):
        return f"worker {name}: wrong join token (the master's differs)"
    versions = hello.get("versions") or {}
    for field in VERSION_FIELDS:
        mine, theirs = master_versions.get(field), versions.get(field)
        if mine != theirs:
            return f"worker {name}: {field} {theirs!r} on the worker, {mine!r} on the master"
    return None


def content_digest(profile_content: Mapping, extra: Mapping) -> str:
    """A digest of the profile's content and the plan's extra data (the mix), canonical JSON."""
    text = json.dumps({"profile": profile_content, "extra": extra}, sort_keys=True, separators=(",", ":"),
                      default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def code_digest(sources: Iterable[tuple[str, bytes]]) -> str:
    """A digest of the load code's source files, given as (relative name, bytes), in name order."""
    digest = hashlib.sha256()
    for name, data in sorted(sources):
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class ClockEstimate:
    """A worker's clock minus the master's (``offset_s``), from ``samples`` round trips; the
    error is at most ``error_bound_s`` (half the least round-trip delay)."""

    offset_s: float
    delay_s: float
    samples: int

    @property
    def error_bound_s(self) -> float:
        return self.delay_s / 2.0

    def as_dict(self) -> dict:
        return {"offset_s": round(self.offset_s, 6), "delay_s": round(self.delay_s, 6),
                "error_bound_s": round(self.error_bound_s, 6), "samples": self.samples}


def estimate_offset(round_trips: Iterable[tuple[float, float, float, float]]) -> ClockEstimate:
    """NTP's estimate from (t1, t2, t3, t4) round trips: the one with the least delay. ValueError
    with no round trip."""
    best: tuple[float, float] | None = None
    count = 0
    for t1, t2, t3, t4 in round_trips:
        count += 1
        delay = max((t4 - t1) - (t3 - t2), 0.0)
        offset = ((t2 - t1) + (t3 - t4)) / 2.0
        if best is None or delay < best[1]:
            best = (offset, delay)
    if best is None:
        raise ValueError("no clock round trip")
    return ClockEstimate(offset_s=best[0], delay_s=best[1], samples=count)


def clock_problem(name: str, offset_s: float, limit_s: float = CLOCK_OFFSET_LIMIT_S) -> str | None:
    """Why a worker's clock makes the run invalid (its offset beyond ``limit_s``), or None."""
    if abs(offset_s) <= limit_s:
        return None
    return (f"worker {name}'s clock is {offset_s:+.3f} s off the master's (limit ±{limit_s:g} s): "
            "synchronise the hosts' clocks (NTP) and run again")


def lost(last_report_t_s: Mapping[str, float], now_s: float, already: Iterable[str] = (),
         after_s: float = LOST_AFTER_S) -> list[str]:
    """Workers whose last report is older than ``after_s`` at ``now_s``, not counted before."""
    seen = set(already)
    return sorted(w for w, t in last_report_t_s.items() if w not in seen and now_s - t > after_s)
