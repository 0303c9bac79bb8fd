"""What a run directory holds, named once: every raw file's columns and their kinds, the roles of
sampled processes, the "api" scope rule and the stages' windows in time.

Writers (loadtests/records.py, harness/execute/sampler.py, harness/execute/scrape.py) take their headers
from here and the reader (harness/rundir/read.py) checks against the same lists, so a column
added in one place cannot be missed in another. Pure: no files, no clocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# --- raw files -------------------------------------------------------------------------------------
# Column kinds, as the reader checks them:
#   time      a number, required on every row (epoch seconds)
#   float     a number or empty
#   flag      0 or 1
#   stage     one of the manifest's stage names
#   category  text (empty allowed), read as a pandas category
#   str       text (empty allowed)


@dataclass(frozen=True)
class Table:
    """One raw CSV file of the run directory: its path inside the run and its columns."""

    relative_path: str
    kinds: dict[str, str] = field(hash=False)

    @property
    def columns(self) -> list[str]:
        """The header, in file order."""
        return list(self.kinds)


REQUESTS = Table("requests.csv", {
    "t_s": "time", "stage": "stage", "in_ramp": "flag", "name": "category", "method": "category",
    "response_ms": "float", "ok": "flag", "status": "float", "error_kind": "category", "bytes": "float",
    "journey_id": "str", "worker": "category",
})
JOURNEYS = Table("journeys.csv", {
    "journey_id": "str", "visit_id": "str", "name": "category", "stage": "stage", "in_ramp": "flag",
    "intended_t_s": "time", "start_t_s": "float", "end_t_s": "float", "duration_ms": "float",
    "from_intended_ms": "float", "ok": "flag", "outcome": "category", "flags": "str", "sync_lag_ms": "float",
    "worker": "category",
})
SAMPLES = Table("samples.csv", {
    "t_s": "time", "pid": "float", "role": "category", "rss_bytes": "float", "uss_bytes": "float",
    "cpu_percent": "float", "num_threads": "float", "num_fds": "float",
})
# The shop's /metrics scraped during the run. The three *_seconds columns came later: a run
# directory written before them still reads (the reader adds them empty).
METRICS_SECONDS_COLUMNS = ("request_seconds", "db_seconds", "db_wait_seconds")
METRICS = Table("platform/metrics.csv", {
    "t_s": "time", "scrape_ms": "float", "error": "str", "pid": "float", "requests_total": "float", "cache_hits": "float",
    "cache_misses": "float", "cache_bypass": "float", "order_cache_hits": "float", "order_cache_misses": "float",
    "order_cache_bypass": "float",
    **{column: "float" for column in METRICS_SECONDS_COLUMNS},
})
# The platform's processes seen from outside (--metrics-url: Prometheus text of each process or
# instance, harness.execute.remote_metrics): one row per URL per scrape round, the round's time.
REMOTE_METRICS = Table("platform/remote_metrics.csv", {
    "t_s": "time", "instance": "str", "scrape_ms": "float", "error": "str", "rss_bytes": "float",
    "cpu_seconds": "float", "start_time_s": "float",
})
OPTIONAL_COLUMNS = {METRICS.relative_path: METRICS_SECONDS_COLUMNS}
EVENTS = "events.jsonl"
MANIFEST = "manifest.json"
RESULTS = "results.json"
RAW_FILES = (REQUESTS.relative_path, JOURNEYS.relative_path, SAMPLES.relative_path, EVENTS,
             METRICS.relative_path, REMOTE_METRICS.relative_path)

# --- sampled processes ---------------------------------------------------------------------------
# The platform under test: its memory is judged (memory-growth) and its CPU attributed.
PLATFORM_ROLES = ("shop", "shop-worker", "sut")
# The payment gateway simulator stands in for UnionPay, a system outside the platform: its CPU
# competes for the machine (capacity counts it), its memory is not the platform's.
SIMULATOR_ROLES = ("gateway",)
GENERATOR_ROLE = "generator"
ROLES = (*PLATFORM_ROLES[:2], *SIMULATOR_ROLES, GENERATOR_ROLE, PLATFORM_ROLES[2])
# Roles whose USS is sampled (a full memory map read each tick: skipped for the generator).
USS_ROLES = frozenset(PLATFORM_ROLES + SIMULATOR_ROLES)


# --- scopes -------------------------------------------------------------------------------------
API_PATH_PREFIX = "/api/"


def is_api_request(name: str) -> bool:
    """Whether a request name (``"GET /api/cart"``) is in the ``api`` scope: its path is under /api/."""
    return str(name).partition(" ")[2].startswith(API_PATH_PREFIX)


# --- stages in time ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class StageWindow:
    """A stage's place in time: [start_s, end_s) in epoch seconds; steady part after the ramp."""

    name: str
    load_factor: float
    duration_s: float
    ramp_s: float
    journeys_per_s: float | None
    start_s: float
    end_s: float

    @property
    def steady_start_s(self) -> float:
        """When the ramp ends and the stage's statistics begin."""
        return self.start_s + self.ramp_s

    @property
    def steady_s(self) -> float:
        """Length of the steady part in seconds (0 when the stage ended inside its ramp)."""
        return max(0.0, self.end_s - self.steady_start_s)


def stage_windows(manifest: dict, events: list[dict], last_record_t_s: dict[str, float] | None = None
                  ) -> list[StageWindow]:
    """Each stage's time window: planned from the manifest's t0_s and offsets, corrected by the
    stage_start / stage_end events when present, and cut at the stage's last record
    (``last_record_t_s``) when the run ended early, so an interrupted stage's rate is computed
    over the time it really ran. The one definition every reader of stage times uses."""
    timed = [e for e in events if isinstance(e.get("t_s"), int | float)]
    starts = {e.get("stage"): float(e["t_s"]) for e in timed if e.get("kind") == "stage_start"}
    ends = {e.get("stage"): float(e["t_s"]) for e in timed if e.get("kind") == "stage_end"}
    last_seen = last_record_t_s or {}
    windows = []
    t0_s = float(manifest.get("t0_s") or 0.0)
    for stage in manifest.get("stages") or []:
        name = stage["name"]
        start_s = starts.get(name, t0_s + float(stage.get("start_offset_s", 0.0)))
        end_s = start_s + float(stage["duration_s"])
        if name in ends:
            end_s = min(end_s, ends[name])
        elif manifest.get("end_reason") != "completed" and name in last_seen:
            end_s = min(end_s, float(last_seen[name]))
        windows.append(StageWindow(
            name=name,
            load_factor=float(stage.get("load_factor", 1.0)),
            duration_s=float(stage["duration_s"]),
            ramp_s=float(stage.get("ramp_s", 0.0)),
            journeys_per_s=None if stage.get("journeys_per_s") is None else float(stage["journeys_per_s"]),
            start_s=start_s,
            end_s=max(start_s, end_s),
        ))
    return windows


def load_window_t_s(events: list[dict]) -> tuple[float, float] | None:
    """From the first stage's start to the last stage's end (the load), or None without stages;
    a last stage with no end runs to the last event. Memory before the load (the platform
    idling) says nothing about growth under load."""
    spans = stage_spans_t_s(events)
    if not spans:
        return None
    end = spans[-1][2]
    if end is None:
        end = max((float(e["t_s"]) for e in events if isinstance(e.get("t_s"), int | float)),
                  default=spans[-1][1])
    return spans[0][1], max(end, spans[-1][1])


def stage_spans_t_s(events: list[dict]) -> list[tuple[str, float, float | None]]:
    """``(stage, start_t_s, end_t_s or None)`` from the stage_start/stage_end events, in order."""
    spans: list[tuple[str, float, float | None]] = []
    for event in events:
        kind, t_s = event.get("kind"), event.get("t_s")
        if not isinstance(t_s, int | float):
            continue
        if kind == "stage_start":
            spans.append((str(event.get("stage")), float(t_s), None))
        elif kind == "stage_end" and spans and spans[-1][0] == str(event.get("stage")) and spans[-1][2] is None:
            spans[-1] = (spans[-1][0], spans[-1][1], float(t_s))
    return spans
