"""What one capacity probe measured and why it broke: the data both the search
(:mod:`harness.core.capacity`) and the saturation attribution (:mod:`harness.core.saturation`)
work on (pure, no imports from either, so neither imports the other)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TargetOutcome:
    """One chosen target as the verdict machinery judged it in one probe."""

    id: str
    status: str  # pass | warn | fail | unknown | error
    scope: str = ""
    measured: float | None = None
    threshold: float | None = None
    unit: str = ""
    explanation: str = ""


@dataclass(frozen=True)
class ProbeObservation:
    """What one probe measured. Rates in journeys/s, latencies in ms, CPU in % of one core
    (summed over the processes of a role)."""

    offered_journeys_per_s: float
    achieved_journeys_per_s: float | None
    targets: tuple[TargetOutcome, ...] = ()
    steady_s: float = 0.0
    scheduled_arrivals: int = 0
    dropped_arrivals: int = 0
    generator_cpu_percent_max: float | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    p95_ci_ms: tuple[float, float] | None = None  # the P95's 95% interval (block bootstrap)
    platform_cpu_percent: dict[str, float] = field(default_factory=dict)
    platform_processes: dict[str, int] = field(default_factory=dict)
    platform_cpu_max_percent: dict[str, float] = field(default_factory=dict)  # busiest process per role
    endpoint_p95_ms: dict[str, float] = field(default_factory=dict)  # request name -> P95
    host_cpu_percent: float | None = None  # the whole machine, all processes, % of all cores
    gateway_time_share: float | None = None
    db_time_share: float | None = None  # the shop's database time / its request time (its own counters)
    db_wait_share: float | None = None  # the part of it waiting for a database connection
    visit_mean_s: float | None = None  # mean duration of a whole visit (think times included)
    max_concurrent_journeys: int | None = None  # the profile's cap: arrivals beyond it are dropped
    generator_processes: int = 1  # load-generating processes; each holds cap/N visits and rate/N arrivals
    poisson_arrivals: bool = True  # False: evenly spaced arrivals (profile arrivals = "uniform")
    platform_died: bool = False
    aborted: str | None = None  # the [abort] condition that stopped the probe (its description)
    run_dir: str = ""


@dataclass(frozen=True)
class Breach:
    """Why a probe broke: a target (or ``dropped-arrivals`` / ``platform-died``) and by how much."""

    target_id: str
    scope: str
    measured: float | None
    threshold: float | None
    unit: str
    explanation: str
    excess: float  # how far past the threshold, relative (0.2: 20% beyond); orders breaches
