"""memray in windows: where the windows go, which memory series is judged, and how each
allocation site's growth compares between windows. Pure functions over plain data.

Why windows: memray tracking a whole run costs the platform about half its throughput, writes
~50 MB a minute and its own bookkeeping grows the process's memory like a leak would. So the
harness attaches memray (``memray attach --aggregate --duration W``) for a short window early
in the steady part and again near its end; between them the platform runs untouched.

What a window sees: only allocations made during it. A site's *retained bytes* in a window are
the bytes it allocated in the window and still held when the window closed; divided by the
window's length they are the site's growth per hour during that window.

- leak: the site still grows in the last window, at least :data:`LEAK_RATIO` of its rate in the
  first (what it keeps, it keeps at the same pace all run long);
- slowing: it grows in the last window, but at under that ratio of the first window's rate (a
  cache still filling, or growth that follows the load: watch it);
- cache: it grew in the first window and not in the last (a cache that filled, a pool that
  reached its size);
- flat: it grew in neither window.

"Grows" means at least :func:`growing_floor_bytes_per_hour`: the larger of
:data:`GROWING_FLOOR_BYTES_PER_HOUR` (a tenth of the documented 0.1 GB/h target) and
:data:`IN_FLIGHT_BYTES` over the shortest window. Requests in flight when a window closes still
hold their memory, which reads as retained bytes at many sites; at the soak's load the largest
such site held 0.19 MB at the end of a 30 s window and 0.28 MB at the end of a 12 s one (the
leak knob's site: 6.1 MB and 2.2 MB), a fixed amount that a longer window spreads thinner.

The memory series judged for growth leaves out each window and :data:`SETTLE_S` after it: the
attach itself loads memray into the process and its bookkeeping grows while it tracks, a step
that a slope fitted across the window would read as growth. Of what is left, the longest span
(between the first and the last window) is judged, so no step lies inside it.
"""

from __future__ import annotations

from dataclasses import dataclass

SECONDS_PER_HOUR = 3600.0
MAX_WINDOW_S = 60.0  # a window as long as this shows a 0.1 GB/h site as 1.7 MB retained
MIN_WINDOW_S = 5.0
WINDOW_SHARE = 1 / 8  # of the steady part, per window, when the window length is not given
LEAD_S = 10.0  # after the first stage's ramp, before the first window (at most a tenth of the steady part)
LEAD_SHARE = 1 / 30  # of a long steady part, before the first window: the run's own memray-free reference
MAX_LEAD_S = 120.0
END_MARGIN_S = 5.0  # between the last window's end and the end of the load
SETTLE_S = 5.0  # after a window, left out of the judged series with the window
MIN_JUDGED_S = 20.0  # the judged span between the windows must be at least this long
GROWING_FLOOR_BYTES_PER_HOUR = 1e7  # 0.01 GB/h
IN_FLIGHT_BYTES = 512 * 1024  # what one site's requests in flight may hold when a window closes
LEAK_RATIO = 0.5
KINDS = ("leak", "slowing", "cache", "flat")


@dataclass(frozen=True)
class WindowPlan:
    """One window: ``start_offset_s`` seconds after the run's t0, ``duration_s`` long."""

    index: int
    start_offset_s: float
    duration_s: float

    @property
    def end_offset_s(self) -> float:
        return self.start_offset_s + self.duration_s


def default_window_s(steady_s: float) -> float:
    """An eighth of the steady part, between :data:`MIN_WINDOW_S` and :data:`MAX_WINDOW_S`."""
    return min(MAX_WINDOW_S, max(MIN_WINDOW_S, steady_s * WINDOW_SHARE))


def _layout(steady_s: float, window_s: float | None) -> tuple[float, float, float]:
    """(lead, window, judged seconds) of two windows in a steady part of ``steady_s``."""
    width = default_window_s(steady_s) if window_s is None else float(window_s)
    lead = min(steady_s / 10.0, max(LEAD_S, steady_s * LEAD_SHARE), MAX_LEAD_S)
    judged = steady_s - lead - 2 * width - SETTLE_S - END_MARGIN_S
    return lead, width, judged


def plan_windows(steady_start_offset_s: float, steady_end_offset_s: float,
                 window_s: float | None = None) -> list[WindowPlan]:
    """Two windows in the steady part ``[start, end)`` (offsets from t0, seconds): the first
    a lead after its start (:data:`LEAD_S`, or :data:`LEAD_SHARE` of a long steady part up to
    :data:`MAX_LEAD_S`, at most a tenth of it: the platform before any window is the run's own
    reference for what memray costs, see :func:`cost_segments`), the last ending
    :data:`END_MARGIN_S` before its end; ``window_s`` long (default :func:`default_window_s`).
    ValueError, with the figures, when the steady part cannot hold both and
    :data:`MIN_JUDGED_S` of judged memory between them."""
    steady_s = steady_end_offset_s - steady_start_offset_s
    if window_s is not None and not window_s >= MIN_WINDOW_S:
        raise ValueError(f"a memray window must be at least {MIN_WINDOW_S:g} s, got {window_s!r}")
    lead, width, judged_s = _layout(steady_s, window_s)
    if judged_s < MIN_JUDGED_S:
        need = max(1, int(steady_s))
        while _layout(need, window_s)[2] < MIN_JUDGED_S:
            need += 1
        raise ValueError(f"the steady part ({steady_s:g} s) is too short for two memray windows of {width:g} s "
                         f"with {MIN_JUDGED_S:g} s of memory to judge between them ({SETTLE_S:g} s settling "
                         f"after each window): it needs at least {need} s")
    first_start = steady_start_offset_s + lead
    return [WindowPlan(1, first_start, width), WindowPlan(2, steady_end_offset_s - END_MARGIN_S - width, width)]


def steady_span_offsets(stages: list[dict]) -> tuple[float, float]:
    """From the end of the first stage's ramp to the end of the last stage (offsets from t0, s),
    from the manifest's ``stages`` (``start_offset_s``, ``duration_s``, ``ramp_s``)."""
    if not stages:
        raise ValueError("no stages")
    first, last = stages[0], stages[-1]
    return (float(first["start_offset_s"]) + float(first.get("ramp_s") or 0.0),
            float(last["start_offset_s"]) + float(last["duration_s"]))


def judged_span_t_s(load_t_s: tuple[float, float], windows_t_s: list[tuple[float, float]],
                    settle_s: float = SETTLE_S) -> tuple[float, float] | None:
    """The longest span of ``load_t_s`` outside every window and the ``settle_s`` after it
    (epoch seconds); None when nothing is left."""
    start, end = load_t_s
    cuts = sorted((w_start, w_end + settle_s) for w_start, w_end in windows_t_s)
    spans, cursor = [], start
    for cut_start, cut_end in cuts:
        if cut_start > cursor:
            spans.append((cursor, min(cut_start, end)))
        cursor = max(cursor, cut_end)
    if cursor < end:
        spans.append((cursor, end))
    spans = [(a, b) for a, b in spans if b > a]
    return max(spans, key=lambda span: span[1] - span[0]) if spans else None


def growth_per_hour(retained_bytes: float, window_s: float) -> float:
    """Bytes a site kept during a window of ``window_s`` seconds, as bytes per hour."""
    if not window_s > 0:
        raise ValueError(f"a window lasts more than 0 s, got {window_s!r}")
    return float(retained_bytes) * SECONDS_PER_HOUR / float(window_s)


def growing_floor_bytes_per_hour(window_s: list[float]) -> float:
    """The growth a site must reach to count as growing in windows of these lengths (bytes/h)."""
    return max(GROWING_FLOOR_BYTES_PER_HOUR, growth_per_hour(IN_FLIGHT_BYTES, min(window_s)))


def classify(first_bytes_per_hour: float, last_bytes_per_hour: float,
             floor_bytes_per_hour: float = GROWING_FLOOR_BYTES_PER_HOUR, leak_ratio: float = LEAK_RATIO) -> str:
    """``leak``, ``slowing``, ``cache`` or ``flat`` from a site's growth in the first and the
    last window (bytes/h); see the module's docstring."""
    if last_bytes_per_hour >= floor_bytes_per_hour:
        return "leak" if last_bytes_per_hour >= leak_ratio * first_bytes_per_hour else "slowing"
    return "cache" if first_bytes_per_hour >= floor_bytes_per_hour else "flat"


def compare_windows(windows: list[dict], top: int | None = None,
                    floor_bytes_per_hour: float | None = None) -> list[dict]:
    """Each site's growth per window, ranked by its growth in the last window (what still grows
    when the run ends), then in the first.

    ``windows``: in time order, each ``{"duration_s": seconds, "sites": {site: retained bytes}}``
    (a site is any hashable key). Returns ``[{"site", "retained_bytes" (in the last window),
    "window_growth_bytes_per_hour" (one per window), "growth_bytes_per_hour" (the last
    window's), "first_window_bytes_per_hour", "kind"}]``; ``kind`` is None with one window.
    ``floor_bytes_per_hour``: what counts as growing (default :func:`growing_floor_bytes_per_hour`).
    """
    if not windows:
        return []
    for i, window in enumerate(windows, 1):
        if not window.get("duration_s", 0) > 0:
            raise ValueError(f"window {i}: duration_s must be more than 0, got {window.get('duration_s')!r}")
    if floor_bytes_per_hour is None:
        floor_bytes_per_hour = growing_floor_bytes_per_hour([w["duration_s"] for w in windows])
    keys = {key for window in windows for key in window["sites"]}
    rows = []
    for key in keys:
        rates = [growth_per_hour(window["sites"].get(key, 0), window["duration_s"]) for window in windows]
        rows.append({"site": key, "retained_bytes": int(windows[-1]["sites"].get(key, 0)),
                     "window_growth_bytes_per_hour": rates, "growth_bytes_per_hour": rates[-1],
                     "first_window_bytes_per_hour": rates[0],
                     "kind": classify(rates[0], rates[-1], floor_bytes_per_hour) if len(rates) > 1 else None})
    rows.sort(key=lambda row: (-row["growth_bytes_per_hour"], -row["first_window_bytes_per_hour"], str(row["site"])))
    return rows if top is None else rows[:top]


# --- what memray costs the platform, measured in the run itself ----------------------------------
REFERENCE_SEGMENT = "before the windows"


def cost_segments_t_s(steady_t_s: tuple[float, float], windows_t_s: list[tuple[float, float]],
                      settle_s: float = SETTLE_S) -> list[tuple[str, float, float]]:
    """The steady part cut at memray's windows, in order: ``(name, start_t_s, end_t_s)`` for
    the stretch before the first window (memray not yet attached: the run's own reference),
    each window, each stretch between windows (from :data:`SETTLE_S` after a window) and the
    stretch after the last. Stretches with no length are left out."""
    start, end = steady_t_s
    segments, cursor = [], start
    ordered = sorted(windows_t_s)
    for i, (w_start, w_end) in enumerate(ordered, 1):
        name = REFERENCE_SEGMENT if i == 1 else f"between windows {i - 1} and {i}"
        segments.append((name, cursor, min(w_start, end)))
        segments.append((f"window {i}", max(w_start, start), min(w_end, end)))
        cursor = max(cursor, w_end + settle_s)
    if ordered:
        segments.append(("after the windows", cursor, end))
    return [(name, a, b) for name, a, b in segments if b > a]


def segment_cost(name: str, span_t_s: tuple[float, float], platform_cpu_s: float | None,
                 requests: int) -> dict:
    """One stretch's figures: requests per second served and the platform's CPU per request
    (milliseconds); CPU per request is None without CPU samples or requests."""
    duration_s = span_t_s[1] - span_t_s[0]
    per_request = (1000.0 * platform_cpu_s / requests) if platform_cpu_s is not None and requests > 0 else None
    return {"segment": name, "start_t_s": span_t_s[0], "end_t_s": span_t_s[1], "duration_s": duration_s,
            "requests": int(requests), "requests_per_s": requests / duration_s if duration_s > 0 else None,
            "platform_cpu_s": platform_cpu_s, "cpu_ms_per_request": per_request}


def cost_vs_reference(segments: list[dict]) -> dict:
    """Each stretch's CPU per request relative to the stretch before the windows (``+0.06`` is
    6% more CPU per request, i.e. about 6% less throughput on a platform short of CPU); an
    empty dict without a reference."""
    reference = next((s["cpu_ms_per_request"] for s in segments if s["segment"] == REFERENCE_SEGMENT), None)
    if not reference:
        return {}
    return {s["segment"]: s["cpu_ms_per_request"] / reference - 1.0
            for s in segments if s["segment"] != REFERENCE_SEGMENT and s["cpu_ms_per_request"] is not None}
