"""Time series and tables for the report, aggregated from the raw records (pure: frames in, frames out).

Times on the report's axes are seconds since the run's t0 (``offset_s``); windows are
``WINDOW_S`` wide and labelled by their start. Percentiles here are of the raw records in each
window (all requests, failures included, ramps included: the charts show what happened; the
per-stage figures in results.json exclude ramps).

The per-window series of requests.csv and journeys.csv are reduced chunk by chunk in
:mod:`harness.report.record_windows`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.rundir import schema

WINDOW_S = 5.0
FUNNEL_STEPS = ("visits", "cart", "checkout", "paid")


@dataclass(frozen=True)
class StageSpan:
    """A stage on the time axis: [start_s, end_s), the ramp is [start_s, ramp_end_s)."""

    name: str
    start_s: float
    end_s: float
    ramp_end_s: float


@dataclass(frozen=True)
class FaultSpan:
    """A fault on the time axis; ``end_s`` is None for an instantaneous one (a kill)."""

    label: str
    start_s: float
    end_s: float | None


@dataclass(frozen=True)
class Marker:
    """A moment worth a vertical line: the platform exited, the harness was interrupted."""

    label: str
    at_s: float


def run_end_s(last_request_t_s: float | None, samples: pd.DataFrame, events: list[dict], t0_s: float) -> float:
    """Offset (s) of the last thing recorded (the last request, sample or event): the right edge
    of every time chart."""
    ends = [last_request_t_s] if last_request_t_s is not None else []
    ends += [float(samples["t_s"].max())] if len(samples) else []
    ends += [float(e["t_s"]) for e in events]
    return max(ends) - t0_s if ends else 0.0


def stage_spans(manifest: dict, events: list[dict], t0_s: float, end_s: float) -> list[StageSpan]:
    """Stages on the time axis (offsets from ``t0_s``), from the run directory's one definition of
    stage windows (events.jsonl's stage_start/stage_end, falling back to the manifest's plan),
    cut at ``end_s``; stages that never began are left out."""
    windows = schema.stage_windows({**manifest, "t0_s": t0_s}, events)
    spans = []
    for window in windows:
        start = window.start_s - t0_s
        if start >= end_s:
            continue  # the stage never began (run ended before it)
        stop = min(window.end_s - t0_s, end_s)
        spans.append(StageSpan(window.name, start, stop, min(window.steady_start_s - t0_s, stop)))
    return sorted(spans, key=lambda s: s.start_s)


def _off(value: object) -> bool:
    return value in (0, 0.0, False, None, "off", "0", "false", "") or value == "none"


def fault_spans(events: list[dict], t0_s: float, end_s: float) -> list[FaultSpan]:
    """Fault windows on the time axis from events.jsonl's ``fault`` events.

    Events with a ``fault_index`` (harness.execute.fault_schedule) are grouped by it: the window opens
    at the first ``phase: on`` and closes at the first ``phase: off``; an ``action`` (a kill, a
    restart) is instantaneous. Events without one are paired per (target, knob): a falsy value
    switches the knob off. A fault never switched off lasts to the end of the run.
    """
    spans: list[FaultSpan] = []
    indexed: dict[int, dict] = {}
    open_at: dict[tuple[str, str], tuple[float, object]] = {}
    for event in events:
        if event.get("kind") != "fault":
            continue
        at = event["t_s"] - t0_s
        if "fault_index" in event:
            window = indexed.setdefault(int(event["fault_index"]), {
                "label": event.get("label") or f"{event.get('target', '?')} fault", "start": None, "end": None,
                "instant": False})
            if event.get("phase", "on") == "on":
                window["start"] = at if window["start"] is None else min(window["start"], at)
                window["instant"] |= event.get("knob") == "action"
            elif window["end"] is None:
                window["end"] = at
            continue
        key = (str(event.get("target", "?")), str(event.get("knob", "?")))
        label = f"{key[0]}.{key[1]}"
        if key[1].startswith(("kill", "restart", "crash", "action")) and not _off(event.get("value")):
            spans.append(FaultSpan(label, at, None))
            continue
        if key in open_at:
            start, value = open_at.pop(key)
            spans.append(FaultSpan(f"{label}={value}", start, at))
        if not _off(event.get("value")):
            open_at[key] = (at, event.get("value"))
    for (target, knob), (start, value) in open_at.items():
        spans.append(FaultSpan(f"{target}.{knob}={value}", start, end_s))
    for window in indexed.values():
        if window["start"] is None:
            continue
        end = None if window["instant"] else (window["end"] if window["end"] is not None else end_s)
        spans.append(FaultSpan(str(window["label"]), window["start"], end))
    return sorted(spans, key=lambda s: (s.start_s, s.label))


def markers(events: list[dict], t0_s: float) -> list[Marker]:
    """platform_exit and interrupt events as labelled moments."""
    out = []
    for event in events:
        if event.get("kind") == "platform_exit":
            who = event.get("process", "platform")
            out.append(Marker(f"{who} exited ({event.get('returncode')})", event["t_s"] - t0_s))
        elif event.get("kind") == "interrupt":
            out.append(Marker(f"interrupted ({event.get('signal', '?')})", event["t_s"] - t0_s))
    return out


def throughput_windows(counts: pd.DataFrame, end_s: float | None = None) -> pd.DataFrame:
    """Per window, per second: intended arrivals, started (achieved) visits, dropped, requests,
    from :attr:`ReportSeries.window_counts`.

    ``end_s``: where the run stopped; the last window is divided by the seconds it covers, so
    a run that stops 2 s into a window does not show a false drop in rate.
    """
    columns = ["intended_per_s", "achieved_per_s", "dropped_per_s", "requests_per_s"]
    frame = (counts / WINDOW_S).set_axis(columns, axis=1) if len(counts.columns) else pd.DataFrame(columns=columns)
    frame = frame.astype(np.float64)
    if len(frame):  # a window with nothing in it is a real zero, not a gap to draw across
        frame = frame.reindex(np.arange(frame.index.min(), frame.index.max() + WINDOW_S, WINDOW_S), fill_value=0.0)
        last = float(frame.index[-1])
        if end_s is not None and last < end_s < last + WINDOW_S:
            frame.iloc[-1] = frame.iloc[-1] * WINDOW_S / max(end_s - last, 1.0)
    frame.index.name = "window_s"
    return frame



def planned_rate(manifest: dict, spans: list[StageSpan]) -> tuple[list[float], list[float]]:
    """The profile's intended journeys/s as a polyline (offsets s, rates), ramps linear."""
    rates = {s.get("name"): float(s.get("journeys_per_s") or 0.0) for s in manifest.get("stages", [])
             if isinstance(s, dict)}
    xs, ys, previous = [], [], 0.0
    for span in spans:
        rate = rates.get(span.name, previous)
        xs += [span.start_s, span.ramp_end_s, span.end_s]
        ys += [previous, rate, rate]
        previous = rate
    return xs, ys


def memory_curve(samples: pd.DataFrame, t0_s: float, column: str) -> pd.DataFrame:
    """Per platform role, ``column`` summed over processes per second (bytes); index offset s."""
    platform = samples[samples["role"] != schema.GENERATOR_ROLE] if len(samples) else samples
    if not len(platform) or column not in platform:
        return pd.DataFrame()
    second = np.floor(platform["t_s"] - t0_s)
    table = platform.assign(second_s=second).pivot_table(index="second_s", columns="role", values=column,
                                                          aggfunc="sum")
    return table.reindex(sorted(table.columns), axis=1)


def generator_cpu(samples: pd.DataFrame, t0_s: float) -> pd.Series:
    """The load generator's CPU percent over time (summed over its processes, per second)."""
    gen = samples[samples["role"] == schema.GENERATOR_ROLE] if len(samples) else samples
    if not len(gen):
        return pd.Series(dtype=float)
    return gen.groupby(np.floor(gen["t_s"] - t0_s))["cpu_percent"].sum()


def theil_sen_intercept(offsets_s: np.ndarray, values: np.ndarray, slope_per_s: float) -> float:
    """Intercept matching a given slope the way Theil-Sen does: median(y - slope * x)."""
    return float(np.median(values - slope_per_s * offsets_s))
