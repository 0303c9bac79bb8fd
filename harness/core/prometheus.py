"""A Prometheus server's query_range answers as plain series (pure).

``GET /api/v1/query_range?query=Q&start=S&end=E&step=T`` answers
``{"status": "success", "data": {"resultType": "matrix", "result": [{"metric": {labels},
"values": [[t, "v"], ...]}, ...]}}`` or ``{"status": "error", "errorType": ..., "error": ...}``
(https://prometheus.io/docs/prometheus/latest/querying/api/). A server returns at most 11,000
points per series, so a long window is asked for in pieces (:func:`windows`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

MAX_POINTS = 11_000  # the server's limit per series and query
_SELECTOR = re.compile(r"^\{.*\}$", re.DOTALL)


class QueryError(ValueError):
    """The server refused the query or answered something that is not a matrix."""


@dataclass(frozen=True)
class Series:
    """One series of a query_range answer: its labels and (t_s, value) points in time order."""

    labels: dict[str, str]
    points: tuple[tuple[float, float], ...]

    @property
    def instance(self) -> str:
        """Its name in results: the ``instance`` label, else every label."""
        if "instance" in self.labels:
            return f"{self.labels.get('job', '')}/{self.labels['instance']}".lstrip("/")
        return ",".join(f"{k}={v}" for k, v in sorted(self.labels.items())) or "(no labels)"


def check_selector(selector: str) -> str:
    """A label selector as ``{job="shop"}``; ValueError naming what is wrong."""
    text = selector.strip()
    if not _SELECTOR.match(text):
        raise ValueError(f"{selector!r}: a label selector in braces, e.g. '{{job=\"shop\"}}'")
    if text == "{}":
        raise ValueError("'{}': an empty selector matches every process Prometheus scrapes; name the platform's")
    return text


def windows(start_s: float, end_s: float, step_s: float) -> Iterator[tuple[float, float]]:
    """[start, end] cut into pieces of at most MAX_POINTS - 1 steps, each piece's end the next's start."""
    if not (step_s > 0 and end_s >= start_s):
        raise ValueError(f"bad window {start_s}..{end_s} step {step_s}")
    span = (MAX_POINTS - 1) * step_s
    pieces = max(1, math.ceil((end_s - start_s) / span))
    for index in range(pieces):
        piece_start = start_s + index * span
        yield piece_start, min(end_s, piece_start + span)


def parse_range(answer: Mapping) -> list[Series]:
    """The series of one query_range answer; QueryError with the server's own words."""
    if not isinstance(answer, Mapping):
        raise QueryError("not a JSON object")
    if answer.get("status") != "success":
        raise QueryError(f"{answer.get('errorType') or 'error'}: {answer.get('error') or answer}")
    data = answer.get("data") or {}
    if data.get("resultType") != "matrix":
        raise QueryError(f"resultType {data.get('resultType')!r}, expected a matrix (a range query)")
    out = []
    for item in data.get("result") or []:
        points = []
        for pair in item.get("values") or []:
            t_s, value = float(pair[0]), float(pair[1])
            if math.isfinite(value):
                points.append((t_s, value))
        out.append(Series({str(k): str(v) for k, v in (item.get("metric") or {}).items()}, tuple(points)))
    return out


def merge_pieces(pieces: list[list[Series]]) -> list[Series]:
    """Series of several windows joined by labels (a point on a shared edge kept once)."""
    joined: dict[tuple, dict[float, float]] = {}
    labels: dict[tuple, dict[str, str]] = {}
    for piece in pieces:
        for series in piece:
            key = tuple(sorted(series.labels.items()))
            labels[key] = series.labels
            joined.setdefault(key, {}).update(series.points)
    return [Series(labels[key], tuple(sorted(points.items()))) for key, points in joined.items()]
