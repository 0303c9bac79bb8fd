"""The intended arrival schedule of an open-model load: when each visit *should* start.

Pure (no clock, no Locust). The schedule is fixed by the profile and the seed before the run, so
a slow platform cannot slow the load down (coordinated omission).

Method: the cumulative intended count Lambda(t) = nominal * integral of load_factor(t) dt (the
load factor ramps linearly inside each stage's ramp). A unit-rate process E_1 < E_2 < ... is
mapped through Lambda^-1: exponential gaps give a non-homogeneous Poisson process, unit gaps
give evenly spaced arrivals. A process that takes a share 1/N of the load (one of N Locust
workers) maps N * E_k; evenly spaced workers are phase-shifted so that together they are evenly
spaced.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from harness.config.profile import Profile


@dataclass(frozen=True)
class Arrival:
    """One intended visit start: ``offset_s`` after t0, in ``stage``, ``in_ramp`` if in its ramp."""

    offset_s: float
    stage: str
    in_ramp: bool


def cumulative_journeys(profile: Profile, offset_s: float) -> float:
    """Intended number of visits started between t0 and ``offset_s`` seconds after t0 (whole run)."""
    total, previous = 0.0, 0.0
    for plan in profile.timeline():
        stage = plan.stage
        into_s = min(max(offset_s - plan.start_offset_s, 0.0), stage.duration_s)
        ramp_into_s = min(into_s, stage.ramp_s)
        if stage.ramp_s > 0:
            slope = (stage.load_factor - previous) / stage.ramp_s
            total += previous * ramp_into_s + 0.5 * slope * ramp_into_s**2
        total += stage.load_factor * max(into_s - stage.ramp_s, 0.0)
        previous = stage.load_factor
    return total * profile.nominal_journeys_per_s


def _offset_for_count(profile: Profile, count: float) -> float | None:
    """Inverse of cumulative_journeys by bisection; None when ``count`` is past the profile's end."""
    end_s = profile.total_duration_s
    if count >= cumulative_journeys(profile, end_s):
        return None
    low, high = 0.0, end_s
    for _ in range(60):  # 2^-60 of the run: far below the clock's resolution
        middle = 0.5 * (low + high)
        if cumulative_journeys(profile, middle) < count:
            low = middle
        else:
            high = middle
    return high


def intended_arrivals(profile: Profile, *, process_index: int = 0, process_count: int = 1) -> Iterator[Arrival]:
    """The arrivals this process offers: its 1/``process_count`` share of the profile's load.

    Seeded by the profile's seed and ``process_index`` so runs repeat; finite (ends with the
    profile). Offsets are seconds after t0, increasing.
    """
    if process_count < 1 or not 0 <= process_index < process_count:
        raise ValueError(f"process_index {process_index} out of range for {process_count} processes")
    rng = random.Random(f"{profile.seed}:{process_index}:{process_count}")
    unit_time = 0.0
    if profile.arrivals == "uniform":
        unit_time = process_index + 0.5 - process_count
    while True:
        if profile.arrivals == "uniform":
            unit_time += process_count
        else:
            unit_time += rng.expovariate(1.0) * process_count
        offset_s = _offset_for_count(profile, unit_time)
        if offset_s is None:
            return
        located = profile.stage_at(offset_s)
        if located is None:  # rounding at the very end of the profile
            return
        plan, in_ramp = located
        yield Arrival(offset_s=offset_s, stage=plan.stage.name, in_ramp=in_ramp)
