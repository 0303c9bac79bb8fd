"""Capacity search (pure): which journey arrival rate breaks the targets, and what saturated.

The shell (:mod:`harness.flows.capacity`) runs one probe at a time, a fixed arrival rate held for a
while, and hands each probe's measurements here as a :class:`ProbeObservation`. This module
judges the probe (:func:`judge_probe`), picks the next rate (:func:`next_step`) and, once the
search stops, states the result (:func:`summarize`). No clock, files or processes: elapsed
time comes in as a number.

The search::

    stage up    nominal × start_factor, then × step_factor each probe, until a probe breaks
    bisect      geometric midpoint of the highest passing and lowest breaking rate, until
                their ratio is within 1 + resolution
    confirm     repeat the highest passing rate; a rate that ever breaks counts as breaking
    stop        converged, a time budget that cannot fit another probe, the generator became
                the bottleneck (the result is then a lower bound), or the floor / ceiling

A probe *breaks* when a chosen target fails (its whole 95% interval on the bad side; with
``strict`` also when it straddles), when more than 1% of arrivals were dropped (the
concurrency cap was reached: journeys pile up), or when the platform died. A probe is
*generator-bound* when a load-generator process ran near a full core or the generator started
clearly fewer journeys than offered: its latencies include the generator's own queueing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy.stats import poisson

from harness.core.probe import Breach, ProbeObservation, TargetOutcome  # noqa: F401 - part of this module's interface
from harness.core.saturation import (  # noqa: F401 - part of this module's interface
    BUSINESS_JOURNEYS,
    Saturation,
    attribute_saturation,
    locate_break,
)
from harness.core.selfcheck import (
    MAX_DROPPED_FRACTION,
    MAX_GENERATOR_CPU_PERCENT,
    MIN_ACHIEVED_FRACTION,
    SHORTFALL_P_VALUE,
)

REQUIRED_HEADROOM_FACTOR = 3.0  # the documented "300% of nominal load"


@dataclass(frozen=True)
class ProbeJudgement:
    """A probe's decision: passed (no breach), its breaches, whether the generator was the limit."""

    passed: bool
    breaches: tuple[Breach, ...]
    generator_bound: bool
    generator_reasons: tuple[str, ...] = ()
    uncertain: tuple[str, ...] = ()  # targets whose interval straddles the threshold


@dataclass(frozen=True)
class Probe:
    """A probe that ran: the rate it offered, why it ran (phase), what it measured, the judgement."""

    journeys_per_s: float
    phase: str
    observation: ProbeObservation
    judgement: ProbeJudgement


@dataclass(frozen=True)
class SearchConfig:
    """How to search: rates are nominal × factors; ``budget_s`` bounds the whole search."""

    nominal_journeys_per_s: float
    budget_s: float
    start_factor: float = 1.0
    step_factor: float = 1.5
    resolution: float = 0.10  # bisect until highest pass × (1 + resolution) >= lowest break
    confirm_repeats: int = 1
    min_factor: float = 0.125
    max_factor: float = 40.0
    required_factor: float = REQUIRED_HEADROOM_FACTOR

    def __post_init__(self) -> None:
        if not self.nominal_journeys_per_s > 0:
            raise ValueError(f"nominal_journeys_per_s must be > 0, got {self.nominal_journeys_per_s}")
        if not self.step_factor > 1:
            raise ValueError(f"step_factor must be > 1, got {self.step_factor}")
        if not self.resolution > 0:
            raise ValueError(f"resolution must be > 0, got {self.resolution}")
        if not 0 < self.min_factor <= self.start_factor <= self.max_factor:
            raise ValueError("need 0 < min_factor <= start_factor <= max_factor")


@dataclass(frozen=True)
class NextProbe:
    """Run a probe at ``journeys_per_s``; ``phase`` is stage-up, step-down, bisect or confirm."""

    journeys_per_s: float
    phase: str
    why: str


@dataclass(frozen=True)
class Stop:
    """End the search: converged, budget, generator-bound, ceiling or floor."""

    reason: str
    why: str


# --- judging one probe ----------------------------------------------------------------------------
def judge_probe(obs: ProbeObservation, strict: bool = False, baseline: ProbeObservation | None = None) -> ProbeJudgement:
    """Judge one probe: breaches from failed targets (and straddling ones when ``strict``),
    dropped arrivals above 1%, a platform that died; plus the generator-bound check.
    ``baseline`` (the lowest probe) tells dropped arrivals caused by the platform slowing down
    from a concurrency cap too low for the rate (then the generator's setting is the limit)."""
    breaches, uncertain = [], []
    for target in obs.targets:
        if target.status == "fail" or (strict and target.status == "warn"):
            breaches.append(Breach(target.id, target.scope, target.measured, target.threshold, target.unit,
                                   target.explanation, _excess(target.measured, target.threshold)))
        elif target.status == "warn":
            uncertain.append(target.id)
    if obs.scheduled_arrivals > 0:
        dropped_fraction = obs.dropped_arrivals / obs.scheduled_arrivals
        if dropped_fraction > MAX_DROPPED_FRACTION:
            breaches.append(Breach(
                "dropped-arrivals", "journey:visit", dropped_fraction, MAX_DROPPED_FRACTION, "fraction",
                f"{dropped_fraction:.1%} of arrivals were dropped ({obs.dropped_arrivals} of "
                f"{obs.scheduled_arrivals}): the concurrency cap was reached, journeys piled up",
                _excess(dropped_fraction, MAX_DROPPED_FRACTION)))
    if obs.platform_died:
        breaches.append(Breach("platform-died", "platform", None, None, "", "the platform exited during the probe",
                               math.inf))
    if obs.aborted:
        breaches.append(Breach("abort", "run", None, None, "", f"the profile's [abort] stopped the probe: {obs.aborted}",
                               math.inf))
    reasons = generator_bound_reasons(obs)
    too_low = cap_too_low(obs, baseline)
    if too_low and any(b.target_id == "dropped-arrivals" for b in breaches):
        reasons.append(too_low)
    return ProbeJudgement(not breaches, tuple(sorted(breaches, key=lambda b: -b.excess)), bool(reasons),
                          tuple(reasons), tuple(uncertain))


def generator_bound_reasons(obs: ProbeObservation) -> list[str]:
    """Why the load generator, not the platform, limited this probe (empty when it did not):
    a generator process above 90% of a core, or clearly fewer journeys started than offered
    (dropped arrivals aside: those are the platform's doing)."""
    reasons = []
    cpu = obs.generator_cpu_percent_max
    if cpu is not None and cpu > MAX_GENERATOR_CPU_PERCENT:
        reasons.append(f"a load-generator process used {cpu:.0f}% of a core (above {MAX_GENERATOR_CPU_PERCENT:.0f}%)")
    if obs.achieved_journeys_per_s is not None and obs.steady_s > 0 and obs.offered_journeys_per_s > 0:
        kept = 1.0 - (obs.dropped_arrivals / obs.scheduled_arrivals if obs.scheduled_arrivals else 0.0)
        expected = obs.offered_journeys_per_s * obs.steady_s * kept
        started = round(obs.achieved_journeys_per_s * obs.steady_s)
        if expected > 0 and started / expected < MIN_ACHIEVED_FRACTION and poisson.cdf(started, expected) < SHORTFALL_P_VALUE:
            reasons.append(f"the generator started {obs.achieved_journeys_per_s:.2f} journeys/s, {started / expected:.0%} "
                           f"of the {expected / obs.steady_s:.2f}/s left after dropped arrivals "
                           f"({obs.offered_journeys_per_s:.2f}/s offered)")
    return reasons


def erlang_b(servers: int, offered_load: float) -> float:
    """Erlang's loss formula: the fraction of Poisson arrivals turned away by ``servers`` slots
    when ``offered_load`` (arrival rate × mean holding time) are busy on average. It holds for
    any holding-time distribution (M/G/c/c), so for visits of any shape. Stable recursion."""
    if offered_load <= 0:
        return 0.0
    blocked = 1.0
    for k in range(1, servers + 1):
        blocked = offered_load * blocked / (k + offered_load * blocked)
    return blocked


def cap_baseline(probes: Sequence[Probe], rate: float) -> ProbeObservation | None:
    """The visits of a platform that did not slow down: the lowest-rate probe below ``rate``
    that passed and was not generator-bound (None when there is none: no comparison then)."""
    calm = [p for p in probes if p.judgement.passed and not p.judgement.generator_bound and p.journeys_per_s < rate]
    return min(calm, key=lambda p: p.journeys_per_s).observation if calm else None


def cap_too_low(obs: ProbeObservation, baseline: ProbeObservation | None) -> str:
    """Why the profile's concurrency cap, not the platform, drops arrivals at this rate (empty
    when it does not): with visits as long as at ``baseline`` (a lower probe that passed: a
    platform that did not slow down), the loss each load-generating process would have at its
    share of the cap and of the rate is already above the 1% a probe may drop. Poisson
    arrivals: Erlang's loss formula; evenly spaced ones: only what exceeds the cap on average."""
    if baseline is None or baseline.visit_mean_s is None or not obs.max_concurrent_journeys:
        return ""
    processes = max(1, obs.generator_processes)
    servers = obs.max_concurrent_journeys // processes
    in_flight = obs.offered_journeys_per_s * baseline.visit_mean_s
    load = in_flight / processes
    if obs.poisson_arrivals:
        predicted = erlang_b(servers, load)
    else:
        predicted = max(0.0, 1.0 - servers / load) if load > 0 else 0.0
    if predicted <= MAX_DROPPED_FRACTION:
        return ""
    per = f" ({servers} per load-generating process)" if processes > 1 else ""
    return (f"the profile's max_concurrent_journeys ({obs.max_concurrent_journeys}{per}) is too low for "
            f"{obs.offered_journeys_per_s:.3g} journeys/s: with visits as long as at "
            f"{baseline.offered_journeys_per_s:.3g} journeys/s ({baseline.visit_mean_s:.2f} s, {in_flight:.0f} in flight "
            f"on average) {predicted:.1%} of arrivals are dropped even by a platform that does not slow down "
            f"(raise it in the profile)")


def _excess(measured: float | None, threshold: float | None) -> float:
    """Relative distance past the threshold (either direction); 0 when it cannot be said."""
    if measured is None or threshold is None:
        return 0.0
    if threshold == 0:
        return abs(measured)
    return abs(measured - threshold) / abs(threshold)


# --- choosing the next probe ----------------------------------------------------------------------
@dataclass(frozen=True)
class Bracket:
    """The edge so far: highest rate that never broke (below the lowest break), lowest that broke."""

    highest_pass: float | None
    lowest_break: float | None
    generator_bound: bool


def bracket(probes: Sequence[Probe]) -> Bracket:
    """The bracket from the probes so far. A rate that broke once counts as breaking. Probes
    that were generator-bound are left out either way: the generator did not offer their rate
    (or measured its own queueing), so they say nothing about the platform at that rate."""
    judged = [p for p in probes if not p.judgement.generator_bound]
    broke = {p.journeys_per_s for p in judged if not p.judgement.passed}
    lowest_break = min(broke) if broke else None
    passing = [p.journeys_per_s for p in judged if p.judgement.passed and p.journeys_per_s not in broke
               and (lowest_break is None or p.journeys_per_s < lowest_break)]
    return Bracket(max(passing) if passing else None, lowest_break,
                   any(p.judgement.generator_bound for p in probes))


def next_step(config: SearchConfig, probes: Sequence[Probe], elapsed_s: float, probe_cost_s: float) -> NextProbe | Stop:
    """The next probe to run, or why to stop. ``elapsed_s``: seconds the search has run;
    ``probe_cost_s``: seconds one more probe is expected to take (start-up and judging included)."""
    if elapsed_s + probe_cost_s > config.budget_s:
        return Stop("budget", f"the time budget ({config.budget_s:.0f} s) has {max(0.0, config.budget_s - elapsed_s):.0f} s "
                              f"left, a probe takes about {probe_cost_s:.0f} s")
    edge = bracket(probes)
    nominal = config.nominal_journeys_per_s
    if edge.generator_bound:
        return Stop("generator-bound", "the load generator became the bottleneck: higher rates would measure "
                                       "the generator, not the platform")
    if not probes:
        return NextProbe(nominal * config.start_factor, "stage-up", "first probe")
    lo, hi = edge.highest_pass, edge.lowest_break
    if hi is None:
        rate = max(p.journeys_per_s for p in probes) * config.step_factor
        if rate > nominal * config.max_factor:
            return Stop("ceiling", f"no break up to {config.max_factor:g}× nominal")
        return NextProbe(rate, "stage-up", f"no break yet; × {config.step_factor:g}")
    if lo is None:
        rate = hi / config.step_factor
        if rate < nominal * config.min_factor:
            return Stop("floor", f"breaks already at {hi:.3g} journeys/s, and below {config.min_factor:g}× nominal "
                                 "nothing is tried")
        return NextProbe(rate, "step-down", f"{hi:.3g} journeys/s broke and nothing below it passed yet")
    if hi / lo > 1.0 + config.resolution:
        return NextProbe(math.sqrt(lo * hi), "bisect", f"between {lo:.3g} (pass) and {hi:.3g} (break)")
    runs_at_lo = sum(1 for p in probes if p.journeys_per_s == lo)
    if runs_at_lo < 1 + config.confirm_repeats:
        return NextProbe(lo, "confirm", f"repeat {lo:.3g} journeys/s to confirm the edge")
    return Stop("converged", f"{lo:.3g} journeys/s passed {runs_at_lo}×, {hi:.3g} broke")


# --- the result -----------------------------------------------------------------------------------
def summarize(config: SearchConfig, probes: Sequence[Probe], stop: Stop, cores: int) -> dict:
    """The capacity result as plain data (capacity.json's body without the probes' paths)."""
    edge = bracket(probes)
    nominal = config.nominal_journeys_per_s
    lo, hi = edge.highest_pass, edge.lowest_break
    at_lo = [p for p in probes if lo is not None and p.journeys_per_s == lo]
    achieved = [p.observation.achieved_journeys_per_s for p in at_lo if p.observation.achieved_journeys_per_s]
    lower_bound = hi is None
    why_bound = ""
    if lower_bound:
        why_bound = {"generator-bound": "the load generator became the limit before the platform broke ("
                                        + "; ".join(next((p.judgement.generator_reasons for p in probes
                                                          if p.judgement.generator_bound), ())) + ")",
                     "ceiling": "nothing broke up to the search's ceiling",
                     "budget": "the time budget ran out before anything broke"}.get(stop.reason, stop.why)
    first_break = None
    broken_at_hi = [p for p in probes if hi is not None and p.journeys_per_s == hi and not p.judgement.passed]
    if broken_at_hi:
        breaches = broken_at_hi[0].judgement.breaches
        lowest = min(probes, key=lambda p: p.journeys_per_s).observation
        first_break = {**_breach_dict(breaches[0]), "journeys_per_s": hi,
                       "where": locate_break(breaches[0], broken_at_hi[0].observation, lowest),
                       "all": [_breach_dict(b) for b in breaches]}
    focus = broken_at_hi[0] if broken_at_hi else (max(probes, key=lambda p: p.journeys_per_s) if probes else None)
    saturation = None
    if focus is not None:
        baseline = min(probes, key=lambda p: p.journeys_per_s).observation
        reasons = focus.judgement.generator_reasons if (edge.generator_bound and focus.judgement.generator_bound) else ()
        if edge.generator_bound and not reasons:
            reasons = next(p.judgement.generator_reasons for p in probes if p.judgement.generator_bound)
        sat = attribute_saturation(focus.observation, baseline, cores, reasons)
        saturation = {"resource": sat.resource, "lower_bound": sat.lower_bound or lower_bound,
                      "evidence": list(sat.evidence), "journeys_per_s": focus.journeys_per_s}
    required = nominal * config.required_factor
    capacity = lo if lo is not None else 0.0
    return {
        "capacity_journeys_per_s": lo,
        "capacity_interval_journeys_per_s": [lo, hi],
        "achieved_journeys_per_s_at_capacity": sum(achieved) / len(achieved) if achieved else None,
        "confirmed": len(at_lo) >= 1 + config.confirm_repeats,
        "lower_bound": lower_bound,
        "lower_bound_reason": why_bound,
        "upper_bound_only": lo is None and hi is not None,
        "nominal_journeys_per_s": nominal,
        "headroom": {
            "factor": capacity / nominal,
            "interval": [capacity / nominal, None if hi is None else hi / nominal],
            "required_factor": config.required_factor,
            "required_journeys_per_s": required,
            "within": lo is not None and lo >= required,
            "margin_percent": (capacity / required - 1.0) * 100.0,
        },
        "first_break": first_break,
        "saturation": saturation,
        "stop": {"reason": stop.reason, "why": stop.why},
        "probes_run": len(probes),
    }


def _breach_dict(breach: Breach) -> dict:
    return {"target": breach.target_id, "scope": breach.scope, "measured": breach.measured,
            "threshold": breach.threshold, "unit": breach.unit, "explanation": breach.explanation}


def describe(summary: dict) -> list[str]:
    """The summary in a few plain sentences (printed by the command, kept in capacity.json)."""
    lo, hi = summary["capacity_interval_journeys_per_s"]
    head = summary["headroom"]
    lines = []
    if lo is None:
        lines.append(f"capacity: below {hi:.3g} journeys/s (even the lowest probe broke a target)" if hi
                     else "capacity: unknown (no probe could be judged)")
    elif hi is None:
        lines.append(f"capacity: at least {lo:.3g} journeys/s (a LOWER BOUND: {summary['lower_bound_reason']})")
    else:
        lines.append(f"capacity: {lo:.3g} journeys/s (passes; {hi:.3g} breaks){'' if summary['confirmed'] else ' (not confirmed by a repeat)'}")
    verdict = "inside" if head["within"] else ("not shown to be inside" if summary["lower_bound"] else "outside")
    lines.append(f"headroom: {head['factor']:.2f}× nominal ({summary['nominal_journeys_per_s']:.3g} journeys/s); "
                 f"{head['required_factor']:.0%} of nominal = {head['required_journeys_per_s']:.3g} journeys/s is "
                 f"{verdict} the capacity found (margin {head['margin_percent']:+.0f}%)")
    if summary["first_break"]:
        fb = summary["first_break"]
        lines.append(f"first to break at {fb['journeys_per_s']:.3g} journeys/s: {fb['target']} on {fb['where']}: "
                     f"{fb['explanation']}")
    if summary["saturation"]:
        sat = summary["saturation"]
        lines.append(f"saturated: {sat['resource']}{' (result is a lower bound)' if sat['lower_bound'] else ''} "
                     f"at {sat['journeys_per_s']:.3g} journeys/s (means over the probe's steady part): "
                     + "; ".join(sat["evidence"]))
    lines.append(f"search stopped: {summary['stop']['reason']}: {summary['stop']['why']}")
    return lines
