"""The ``generators`` block of results.json: the load generators of a distributed run, per worker.

Read from the recorder's events (loadtests/join.py): ``worker_joined`` / ``workers_planned``
(name, host, clock offset to the master), ``worker_refused``, ``worker_lost``,
``workers_missing`` and ``worker_totals`` (what each worker says it sent, per stage, and the rows
merged from it into requests.csv).

What makes the run invalid here: a worker's clock beyond the limit (harness.core.join); a
worker whose merged rows fall short of what it says it sent (a report lost on the way); and a
stage that a lost worker was missing from. The generator rule (harness.core.selfcheck) blames
a shortfall of started journeys on the generator only when chance cannot explain it, because it
does not know why; here the reason is known for certain: that worker's share of the arrivals
(1/n) was never offered from its loss to the stage's end, so the stage measured a smaller load
than it names (invalid, not slow).
"""

from __future__ import annotations

from collections.abc import Mapping

from harness.rundir import schema


def generators_results(events: list[dict]) -> tuple[dict | None, list[str]]:
    """(the ``generators`` block or None for a run without workers, invalid reasons)."""
    planned = next((e for e in events if e.get("kind") == "workers_planned"), None)
    refused = [{"name": e.get("name"), "host": e.get("host"), "reason": e.get("reason"), "t_s": e.get("t_s")}
               for e in events if e.get("kind") == "worker_refused"]
    missing = next((e for e in events if e.get("kind") == "workers_missing"), None)
    if planned is None and not refused and missing is None:
        return None, []
    lost = {str(e.get("worker")): e for e in events if e.get("kind") == "worker_lost"}
    totals = {str(e.get("worker")): e for e in events if e.get("kind") == "worker_totals"}
    reasons: list[str] = []
    workers = []
    for entry in (planned or {}).get("workers", []):
        key = str(entry.get("worker"))
        total = totals.get(key, {})
        sent, merged = total.get("sent_requests"), total.get("merged_requests")
        worker = {
            "worker": key, "name": entry.get("name"), "host": entry.get("host"),
            "clock": entry.get("clock"), "clock_problem": entry.get("clock_problem"),
            "lost_t_s": (lost.get(key) or {}).get("last_report_t_s"),
            "sent_requests": sent, "merged_requests": merged,
        }
        workers.append(worker)
        lost_t_s = worker["lost_t_s"]
        if isinstance(lost_t_s, int | float):
            count = len((planned or {}).get("workers", [])) or 1
            for stage, start, end in schema.stage_spans_t_s(events):
                if end is None or lost_t_s < end:
                    reasons.append(f"stage {stage}: worker {key} ({entry.get('name')}, {entry.get('host')}) was lost "
                                   f"{max(lost_t_s - start, 0.0):.1f} s into it: its 1/{count} of the arrivals "
                                   "was not offered from then on")
        if entry.get("clock_problem"):
            reasons.append(str(entry["clock_problem"]))
        if isinstance(sent, Mapping) and isinstance(merged, Mapping):
            short = {s: (int(n), int(merged.get(s, 0))) for s, n in sent.items() if int(merged.get(s, 0)) < int(n)}
            if short:
                detail = ", ".join(f"{s}: sent {n}, merged {m}" for s, (n, m) in short.items())
                reasons.append(f"worker {key} ({entry.get('name')}): reports lost on the way to the master ({detail})")
    return {
        "workers": workers,
        "refused": refused,
        "missing": None if missing is None else {k: missing.get(k) for k in ("expected", "joined", "names",
                                                                               "refused", "waited_s")},
        "clock_limit_s": (planned or {}).get("clock_limit_s"),
    }, reasons



CEILING_BINDS_FRACTION = 0.01  # more requests than this held back by the ceiling: the load was not the profile's


def ceiling_reasons(events: list[dict], request_count: int) -> list[str]:
    """Invalid reasons when the profile's ``max_requests_per_s`` held back more than 1% of the
    requests (the recorder's ``ceiling`` event): the requests were sent later than the journeys
    asked, so the run measured a smaller request rate than its stages name. Response times
    never include the wait (Locust times a request from its send)."""
    event = next((e for e in events if e.get("kind") == "ceiling"), None)
    if event is None or request_count <= 0:
        return []
    throttled = int(event.get("throttled_requests") or 0)
    if throttled <= CEILING_BINDS_FRACTION * request_count:
        return []
    waited_s = float(event.get("waited_s") or 0.0)
    return [f"the profile's ceiling (max_requests_per_s {event.get('max_requests_per_s'):g}) held back {throttled} "
            f"requests ({waited_s:.1f} s of waiting in all, {waited_s / throttled * 1000:.0f} ms each on average; "
            f"{request_count} requests were recorded): the run offered less than its stages name"]
