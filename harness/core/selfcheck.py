"""The load generator's self-check: was the generator, not the platform, the bottleneck?

A stage is suspect when the generator started clearly fewer journeys than the profile
intended, dropped arrivals (a concurrency cap was hit), or ran one of its processes near a
full core (Locust is single-threaded per process: at ~100% of a core its timers slip and the
latencies it measures include its own queueing). Such a run is ``invalid``: it says nothing
reliable about the platform.
"""

from __future__ import annotations

from dataclasses import dataclass

from scipy.stats import poisson

MIN_ACHIEVED_FRACTION = 0.90
MAX_DROPPED_FRACTION = 0.01
#: A handful of drops in a short stage is noise in the fraction, not a saturated generator.
MIN_DROPPED_COUNT = 5
MAX_GENERATOR_CPU_PERCENT = 90.0
#: A shortfall is only blamed on the generator when chance (Poisson arrivals) explains it
#: with probability below this.
SHORTFALL_P_VALUE = 0.01


@dataclass(frozen=True)
class StageLoad:
    """What one stage asked for and what the generator did (counts over the stated window)."""

    stage: str
    intended_journeys_per_s: float | None
    steady_s: float
    started_steady: int
    scheduled: int
    dropped: int
    requests: int
    generator_cpu_means: dict[int, float]


def achieved_journeys_per_s(load: StageLoad) -> float | None:
    """Journeys started per second in the stage's steady part (after its ramp); None if unknown."""
    if load.steady_s <= 0 or load.scheduled == 0:
        return None
    return load.started_steady / load.steady_s


def check_stage(load: StageLoad) -> list[str]:
    """Reasons (one line each, naming the stage and the figure) why the stage is invalid."""
    reasons = []
    if load.scheduled == 0 and load.requests == 0:
        return [f"stage {load.stage}: nothing was recorded (no arrivals, no requests)"]
    achieved = achieved_journeys_per_s(load)
    intended = load.intended_journeys_per_s
    if achieved is not None and intended and intended > 0:
        expected = intended * load.steady_s
        fraction = load.started_steady / expected
        if fraction < MIN_ACHIEVED_FRACTION and poisson.cdf(load.started_steady, expected) < SHORTFALL_P_VALUE:
            reasons.append(
                f"stage {load.stage}: the load generator started {achieved:.2f} journeys/s against "
                f"{intended:.2f} intended ({fraction:.0%}, below {MIN_ACHIEVED_FRACTION:.0%})"
            )
    if (
        load.scheduled > 0
        and load.dropped >= MIN_DROPPED_COUNT
        and load.dropped / load.scheduled > MAX_DROPPED_FRACTION
    ):
        reasons.append(
            f"stage {load.stage}: {load.dropped / load.scheduled:.1%} of arrivals were dropped "
            f"({load.dropped} of {load.scheduled}; above {MAX_DROPPED_FRACTION:.0%} "
            f"and at least {MIN_DROPPED_COUNT})"
        )
    for pid, cpu in sorted(load.generator_cpu_means.items()):
        if cpu > MAX_GENERATOR_CPU_PERCENT:
            reasons.append(
                f"stage {load.stage}: load generator process {pid} used {cpu:.0f}% of a core on "
                f"average (above {MAX_GENERATOR_CPU_PERCENT:.0f}%)"
            )
    return reasons
