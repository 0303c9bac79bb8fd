"""``--prometheus URL --selector SEL``: the platform's process series over the run's window, read
from a Prometheus server's HTTP API after the run (``/api/v1/query_range``), into
``platform/remote_metrics.csv`` like ``--metrics-url`` scrapes (one row per series per step).

The queries: ``process_resident_memory_bytes{SEL}``, ``process_cpu_seconds_total{SEL}`` and
``process_start_time_seconds{SEL}``, step 1 s by default (``--prometheus-step``); each series is
one instance (its ``instance`` label). Everything goes wrong politely: an unreachable server, a
refused selector (the server's own error text) or no matching series is said in the summary for
the manifest and on the console; the run is never lost for it.
"""

from __future__ import annotations

import csv
from pathlib import Path

import requests

from harness.core import prometheus
from harness.rundir import schema

QUERIES = {"rss_bytes": "process_resident_memory_bytes", "cpu_seconds": "process_cpu_seconds_total",
           "start_time_s": "process_start_time_seconds"}
TIMEOUT_S = 30.0


def query_range(base_url: str, query: str, start_s: float, end_s: float, step_s: float,
                verify: bool | str = True) -> list[prometheus.Series]:
    """One query over [start, end], asked in pieces the server accepts; QueryError or
    requests.RequestException on failure."""
    pieces = []
    for piece_start, piece_end in prometheus.windows(start_s, end_s, step_s):
        response = requests.get(base_url.rstrip("/") + "/api/v1/query_range", timeout=TIMEOUT_S, verify=verify,
                                params={"query": query, "start": f"{piece_start:.3f}", "end": f"{piece_end:.3f}",
                                        "step": f"{step_s:g}"})
        try:
            answer = response.json()
        except ValueError:
            response.raise_for_status()
            raise prometheus.QueryError(f"HTTP {response.status_code}: not JSON") from None
        pieces.append(prometheus.parse_range(answer))
    return prometheus.merge_pieces(pieces)


def read_into(path: Path, base_url: str, selector: str, start_s: float, end_s: float, step_s: float = 1.0,
              verify: bool | str = True) -> dict:
    """Query the server, write the rows (header first); the summary for the manifest
    (``url``, ``selector``, ``window_t_s``, ``instances``, ``points``, ``error``)."""
    summary: dict = {"url": base_url, "selector": selector, "window_t_s": [round(start_s, 3), round(end_s, 3)],
                     "step_s": step_s, "instances": [], "points": 0, "error": None}
    values: dict[str, dict[float, dict[str, float]]] = {}
    try:
        for column, metric in QUERIES.items():
            for series in query_range(base_url, f"{metric}{selector}", start_s, end_s, step_s, verify):
                for t_s, value in series.points:
                    values.setdefault(series.instance, {}).setdefault(t_s, {})[column] = value
    except (prometheus.QueryError, requests.RequestException, ValueError) as error:
        summary["error"] = f"{type(error).__name__}: {error}"[:400]
    if summary["error"] is None and not values:
        summary["error"] = (f"no series matched process_resident_memory_bytes{selector} between "
                            f"{start_s:.0f} and {end_s:.0f} (is the platform scraped by this server, under these labels?)")
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = schema.REMOTE_METRICS.columns
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for instance, points in sorted(values.items()):
            for t_s, figures in sorted(points.items()):
                writer.writerow([f"{t_s:.3f}", instance, "", "",
                                 *("" if figures.get(c) is None else f"{figures[c]:.0f}" if c == "rss_bytes"
                                   else f"{figures[c]:.3f}" for c in columns[4:])])
                summary["points"] += 1
    summary["instances"] = sorted(values)
    return summary
