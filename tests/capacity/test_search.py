"""The capacity search on simulated platforms (pure: no processes, no clock, no load).

A simulated platform answers a probe at rate r with an M/M/1-like latency curve
``p95 = base / (1 - r / knee)`` (infinite at and beyond the knee) and optional noise; the
API P95 target of 2.1 s then breaks at a known rate, which the search must find.
"""

from __future__ import annotations

import math
import random

import pytest

from harness.core import capacity as core

P95_TARGET_MS = 2100.0


def p95_curve(knee: float, base_ms: float = 200.0):
    """P95 of the simulated platform at ``rate`` journeys/s; breaks 2.1 s at knee × (1 - base/2100)."""
    return lambda rate: math.inf if rate >= knee else base_ms / (1.0 - rate / knee)


def breaking_rate(knee: float, base_ms: float = 200.0) -> float:
    """Where ``p95_curve`` crosses the 2.1 s target."""
    return knee * (1.0 - base_ms / P95_TARGET_MS)


def observe(rate: float, p95_ms: float, *, generator_cpu: float = 40.0, achieved_fraction: float = 1.0,
            dropped: int = 0, shop_cpu: float = 50.0, gateway_share: float = 0.1,
            host_cpu: float | None = None, db_share: float | None = 0.02) -> core.ProbeObservation:
    """A probe observation as the shell would build it, judged by the verdict machinery's rule."""
    status = "pass" if p95_ms <= P95_TARGET_MS else "fail"
    return core.ProbeObservation(
        offered_journeys_per_s=rate, achieved_journeys_per_s=rate * achieved_fraction,
        targets=(core.TargetOutcome("api-p95", status, "api", min(p95_ms, 1e9), P95_TARGET_MS, "ms",
                                    f"API p95 = {p95_ms:.0f} ms"),
                 core.TargetOutcome("availability", "pass", "api", 1.0, 0.998, "ratio", "ok")),
        steady_s=25.0, scheduled_arrivals=max(1, round(rate * 30)), dropped_arrivals=dropped,
        generator_cpu_percent_max=generator_cpu, p50_ms=min(p95_ms, 1e9) / 3, p95_ms=min(p95_ms, 1e9),
        p99_ms=min(p95_ms, 1e9) * 1.5, platform_cpu_percent={"shop": shop_cpu, "gateway": 5.0},
        platform_processes={"shop": 2, "gateway": 1}, platform_cpu_max_percent={"shop": shop_cpu, "gateway": 5.0},
        gateway_time_share=gateway_share, host_cpu_percent=host_cpu, db_time_share=db_share,
        db_wait_share=None if db_share is None else db_share / 2,
        endpoint_p95_ms={"GET /api/cart": 50.0, "GET /api/products/[id]": min(p95_ms, 1e9) * 1.2,
                         "GET /static/img/[name]": 1e6})


def search(config: core.SearchConfig, respond, cost_s: float = 60.0, max_probes: int = 60):
    """Drive the search against ``respond(rate) -> ProbeObservation``; returns (probes, stop)."""
    probes: list[core.Probe] = []
    elapsed_s = 0.0
    for _ in range(max_probes):
        step = core.next_step(config, probes, elapsed_s, cost_s)
        if isinstance(step, core.Stop):
            return probes, step
        obs = respond(step.journeys_per_s)
        probes.append(core.Probe(step.journeys_per_s, step.phase, obs, core.judge_probe(obs)))
        elapsed_s += cost_s
    raise AssertionError(f"the search did not stop within {max_probes} probes")


@pytest.mark.parametrize("knee", [3.0, 7.5, 13.0, 40.0])
def test_a_known_knee_is_found_within_the_resolution(knee: float) -> None:
    config = core.SearchConfig(nominal_journeys_per_s=2.0, budget_s=10_000.0, resolution=0.10)
    curve = p95_curve(knee)
    probes, stop = search(config, lambda r: observe(r, curve(r)))
    summary = core.summarize(config, probes, stop, cores=2)
    edge = breaking_rate(knee)
    lo, hi = summary["capacity_interval_journeys_per_s"]
    assert stop.reason == "converged"
    assert lo <= edge < hi  # the true edge is inside the reported interval
    assert hi / lo <= 1.10 + 1e-9
    assert summary["confirmed"] and not summary["lower_bound"]
    assert summary["first_break"]["target"] == "api-p95"
    assert summary["first_break"]["journeys_per_s"] == hi
    assert "GET /api/products/[id]" in summary["first_break"]["where"]  # the slowest API endpoint
    assert "first to break" in " ".join(core.describe(summary))
    assert [p.phase for p in probes].count("confirm") == 1
    assert summary["headroom"]["within"] == (lo >= 6.0)
    assert summary["headroom"]["factor"] == pytest.approx(lo / 2.0)


def test_a_knee_below_nominal_steps_down() -> None:
    config = core.SearchConfig(nominal_journeys_per_s=2.0, budget_s=10_000.0)
    curve = p95_curve(1.5)
    probes, stop = search(config, lambda r: observe(r, curve(r)))
    summary = core.summarize(config, probes, stop, cores=2)
    assert probes[1].phase == "step-down"
    lo, hi = summary["capacity_interval_journeys_per_s"]
    assert lo <= breaking_rate(1.5) < hi
    assert not summary["headroom"]["within"] and summary["headroom"]["margin_percent"] < -70


def test_nothing_passes_above_the_floor() -> None:
    config = core.SearchConfig(nominal_journeys_per_s=2.0, budget_s=10_000.0)
    probes, stop = search(config, lambda r: observe(r, 5000.0))
    summary = core.summarize(config, probes, stop, cores=2)
    assert stop.reason == "floor"
    assert summary["capacity_journeys_per_s"] is None and summary["upper_bound_only"]
    assert "below" in core.describe(summary)[0]


def test_a_generator_bound_curve_gives_a_lower_bound() -> None:
    # The platform never breaks below 30/s, but the generator saturates a core above 5/s.
    config = core.SearchConfig(nominal_journeys_per_s=2.0, budget_s=10_000.0)
    curve = p95_curve(30.0)

    def respond(rate: float) -> core.ProbeObservation:
        bound = rate > 5.0
        return observe(rate, curve(rate), generator_cpu=99.0 if bound else 50.0,
                       achieved_fraction=0.7 if bound else 1.0)

    probes, stop = search(config, respond)
    summary = core.summarize(config, probes, stop, cores=2)
    assert stop.reason == "generator-bound"
    assert summary["lower_bound"] and summary["capacity_interval_journeys_per_s"][1] is None
    assert summary["saturation"]["resource"] == "generator" and summary["saturation"]["lower_bound"]
    assert "LOWER BOUND" in core.describe(summary)[0]
    assert summary["capacity_interval_journeys_per_s"][0] == 4.5  # the bound 6.75/s probe does not count
    assert not summary["headroom"]["within"]  # 6/s was never shown to pass
    assert "not shown" in core.describe(summary)[1]


def test_a_generator_bound_probe_that_breaks_is_not_taken_as_the_edge() -> None:
    config = core.SearchConfig(nominal_journeys_per_s=2.0, budget_s=10_000.0)

    def respond(rate: float) -> core.ProbeObservation:
        return observe(rate, 200.0 if rate < 4 else 9000.0, generator_cpu=99.0 if rate >= 4 else 30.0)

    probes, stop = search(config, respond)
    summary = core.summarize(config, probes, stop, cores=2)
    assert [p.journeys_per_s for p in probes] == [2.0, 3.0, 4.5]
    assert summary["capacity_interval_journeys_per_s"] == [3.0, None]
    assert summary["lower_bound"] and summary["first_break"] is None


@pytest.mark.parametrize("budget_s", [0.0, 59.0, 150.0, 400.0])
def test_the_budget_stops_the_search_cleanly(budget_s: float) -> None:
    config = core.SearchConfig(nominal_journeys_per_s=2.0, budget_s=budget_s)
    curve = p95_curve(13.0)
    probes, stop = search(config, lambda r: observe(r, curve(r)), cost_s=60.0)
    assert stop.reason == "budget"
    assert len(probes) == int(budget_s // 60)  # never starts a probe that cannot finish in time
    summary = core.summarize(config, probes, stop, cores=2)
    lo, hi = summary["capacity_interval_journeys_per_s"]
    if probes and hi is None:
        assert summary["lower_bound"]  # stopped before anything broke
        assert "time budget" in summary["lower_bound_reason"]
    elif probes:
        assert lo < breaking_rate(13.0) < hi and not summary["confirmed"]
        assert "not confirmed" in core.describe(summary)[0]
    else:
        assert summary["capacity_interval_journeys_per_s"] == [None, None]
        assert core.describe(summary)[0].startswith("capacity: unknown")


def test_a_confirm_that_breaks_moves_the_edge_down() -> None:
    # Flaky at 4.5/s: passes the first time, breaks on the repeat.
    seen: dict[float, int] = {}

    def respond(rate: float) -> core.ProbeObservation:
        seen[rate] = seen.get(rate, 0) + 1
        flaky = 4.2 <= rate < 5.0 and seen[rate] > 1
        return observe(rate, 3000.0 if (rate >= 5.0 or flaky) else 300.0)

    config = core.SearchConfig(nominal_journeys_per_s=2.0, budget_s=10_000.0)
    probes, stop = search(config, respond)
    summary = core.summarize(config, probes, stop, cores=2)
    lo, hi = summary["capacity_interval_journeys_per_s"]
    assert stop.reason == "converged" and summary["confirmed"]
    assert lo < 4.2 <= hi  # the rate that broke once counts as breaking
    assert all(p.judgement.passed for p in probes if p.journeys_per_s == lo)


def test_noise_in_the_curve_still_brackets_the_edge() -> None:
    rng = random.Random(7)
    curve = p95_curve(10.0)
    config = core.SearchConfig(nominal_journeys_per_s=2.0, budget_s=10_000.0)
    probes, stop = search(config, lambda r: observe(r, curve(r) * rng.uniform(0.9, 1.1)))
    lo, hi = core.summarize(config, probes, stop, cores=2)["capacity_interval_journeys_per_s"]
    assert lo is not None and hi is not None
    assert 0.8 * breaking_rate(10.0) <= lo < hi <= 1.2 * breaking_rate(10.0)


def test_dropped_arrivals_and_a_dead_platform_break_a_probe() -> None:
    dropped = core.judge_probe(observe(4.0, 300.0, dropped=10))
    assert not dropped.passed and dropped.breaches[0].target_id == "dropped-arrivals"
    assert "dropped" in dropped.breaches[0].explanation
    died = core.judge_probe(core.ProbeObservation(4.0, 4.0, platform_died=True))
    assert not died.passed and died.breaches[0].target_id == "platform-died"
    assert core.judge_probe(observe(4.0, 300.0, dropped=1)).passed  # 1 of 120 is under 1%
    aborted = core.judge_probe(core.ProbeObservation(4.0, 4.0, aborted="error_ratio 0.5 above 0.05 for 3 s"))
    assert not aborted.passed and aborted.breaches[0].target_id == "abort"
    assert "error_ratio 0.5" in aborted.breaches[0].explanation


def test_dropped_arrivals_from_a_cap_too_low_for_the_rate_are_the_generator_s_limit() -> None:
    """Measured on the embedded platform: a visit lasts ~0.86 s at low load. With a cap of 200
    in flight, 40 journeys/s keeps ~34 in flight: drops there come from the platform slowing
    down. With a cap of 30, the same rate drops arrivals however fast the platform is."""
    from dataclasses import replace

    baseline = replace(observe(2.0, 200.0), visit_mean_s=0.86, max_concurrent_journeys=200)
    slowed = replace(observe(40.0, 700.0, dropped=60), visit_mean_s=5.4, max_concurrent_journeys=200)
    judged = core.judge_probe(slowed, baseline=baseline)
    assert not judged.passed and not judged.generator_bound  # a platform break
    capped = replace(slowed, max_concurrent_journeys=30)
    judged = core.judge_probe(capped, baseline=baseline)
    assert judged.generator_bound and "max_concurrent_journeys (30) is too low" in judged.generator_reasons[0]
    assert "34 in flight on average" in judged.generator_reasons[0]
    # without drops a low cap is no finding; without a baseline nothing can be said
    assert not core.judge_probe(replace(capped, dropped_arrivals=0), baseline=baseline).generator_bound
    assert not core.judge_probe(capped).generator_bound


def test_the_cap_is_judged_against_a_lower_probe_that_passed() -> None:
    """The first probe, or a step-down below a break, has no calm baseline: no comparison (its
    own slowed-down visits would blame the cap for the platform's pile-up)."""
    from dataclasses import replace

    def probe(rate: float, passed: bool, visit_s: float, generator_bound: bool = False) -> core.Probe:
        obs = replace(observe(rate, 300.0 if passed else 5000.0), visit_mean_s=visit_s)
        judged = core.ProbeJudgement(passed, (), generator_bound)
        return core.Probe(rate, "stage-up", obs, judged)

    assert core.cap_baseline([], 10.0) is None
    assert core.cap_baseline([probe(32.0, False, 5.6)], 16.0) is None  # step-down: only a break above
    probes = [probe(4.0, True, 0.9, generator_bound=True), probe(8.0, True, 0.8), probe(16.0, True, 1.0),
              probe(32.0, False, 5.6)]
    assert core.cap_baseline(probes, 24.0).offered_journeys_per_s == 8.0
    assert core.cap_baseline(probes, 8.0) is None  # nothing calm strictly below 8


def test_the_cap_is_shared_by_the_load_generating_processes_and_uniform_arrivals_lose_less() -> None:
    """Each of N Locust workers holds cap/N visits for rate/N arrivals: B(50, 42.5) = 3.4% where
    one process would lose B(200, 170) = 0.23%. Evenly spaced arrivals lose only the excess."""
    from dataclasses import replace

    baseline = replace(observe(2.0, 200.0), visit_mean_s=1.0)
    one = replace(observe(170.0, 700.0, dropped=60), visit_mean_s=5.0, max_concurrent_journeys=200)
    assert core.cap_too_low(one, baseline) == ""
    four = replace(one, generator_processes=4)
    assert "max_concurrent_journeys (200 (50 per load-generating process)" in core.cap_too_low(four, baseline)
    assert "3.4% of arrivals" in core.cap_too_low(four, baseline)
    uniform = replace(one, poisson_arrivals=False)
    assert core.cap_too_low(uniform, baseline) == ""  # 170 in flight under a cap of 200: nothing lost
    assert "20.0% of arrivals" in core.cap_too_low(replace(uniform, offered_journeys_per_s=250.0), baseline)


@pytest.mark.parametrize(("servers", "load"), [(1, 1.0), (2, 1.0), (10, 5.0), (200, 160.0), (30, 34.4), (200, 28.0)])
def test_erlang_b_matches_the_truncated_poisson_form(servers: int, load: float) -> None:
    """B(c, A) = P(N = c) / P(N <= c) for N ~ Poisson(A): the closed form, computed another way."""
    from scipy.stats import poisson

    assert core.erlang_b(servers, load) == pytest.approx(poisson.pmf(servers, load) / poisson.cdf(servers, load),
                                                         rel=1e-9, abs=1e-300)
    assert core.erlang_b(servers, 0.0) == 0.0
    assert core.erlang_b(1, 1.0) == pytest.approx(0.5) and core.erlang_b(2, 1.0) == pytest.approx(0.2)


def test_straddling_targets_break_only_when_strict() -> None:
    obs = core.ProbeObservation(4.0, 4.0, targets=(core.TargetOutcome("api-p95", "warn", "api", 2000.0, 2100.0, "ms"),))
    assert core.judge_probe(obs).passed and core.judge_probe(obs).uncertain == ("api-p95",)
    assert not core.judge_probe(obs, strict=True).passed


def test_the_most_exceeded_target_is_named_first() -> None:
    obs = core.ProbeObservation(4.0, 4.0, targets=(
        core.TargetOutcome("api-mean", "fail", "api", 1900.0, 1800.0, "ms"),
        core.TargetOutcome("endpoint-p95", "fail", "endpoint:GET /api/cart", 4200.0, 2100.0, "ms")))
    assert [b.target_id for b in core.judge_probe(obs).breaches] == ["endpoint-p95", "api-mean"]


@pytest.mark.parametrize(("scope", "target_id", "where"), [
    ("endpoint:GET /api/cart", "cart-p95", "endpoint GET /api/cart"),
    ("journey:checkout", "checkout-success", "journey checkout"),
    ("business", "payment-success", "journey checkout"),
    ("business", "registration-completion", "journey register"),
])
def test_a_break_is_located_on_its_endpoint_or_journey(scope: str, target_id: str, where: str) -> None:
    breach = core.Breach(target_id, scope, 1.0, 2.0, "ms", "", 0.5)
    assert core.locate_break(breach, observe(4.0, 300.0), None) == where


def test_a_shortfall_of_started_journeys_is_generator_bound() -> None:
    assert core.judge_probe(observe(10.0, 300.0, achieved_fraction=0.6, generator_cpu=50.0)).generator_bound
    assert not core.judge_probe(observe(10.0, 300.0, achieved_fraction=0.97, generator_cpu=50.0)).generator_bound


@pytest.mark.parametrize(("obs_kwargs", "cores", "resource"), [
    ({"shop_cpu": 95.0}, 2, "platform-cpu"),
    ({"shop_cpu": 40.0, "gateway_share": 0.7}, 2, "gateway-latency"),
    ({"shop_cpu": 60.0, "generator_cpu": 85.0}, 1, "host-cpu"),
    ({"shop_cpu": 30.0}, 4, "unattributed"),
    ({"shop_cpu": 30.0, "host_cpu": 97.0}, 2, "host-cpu"),
    ({"shop_cpu": 30.0, "db_share": 0.8}, 2, "database"),
    ({"shop_cpu": 30.0, "db_share": 0.8, "host_cpu": 97.0}, 2, "database"),  # the more specific cause
    ({"shop_cpu": 95.0, "db_share": 0.8}, 2, "platform-cpu"),  # a full CPU slows SQL too
    ({"shop_cpu": 30.0, "db_share": 0.4}, 4, "unattributed"),
    ({"shop_cpu": 30.0, "db_share": None}, 4, "unattributed"),  # a shop without database counters
])
def test_saturation_is_attributed_from_the_figures(obs_kwargs: dict, cores: int, resource: str) -> None:
    baseline = observe(2.0, 200.0, shop_cpu=10.0, gateway_share=0.1)
    sat = core.attribute_saturation(observe(8.0, 3000.0, **obs_kwargs), baseline, cores)
    assert sat.resource == resource and not sat.lower_bound
    assert any("shop CPU" in line for line in sat.evidence)
    if obs_kwargs.get("db_share"):
        assert any(f"database share of the shop's request time {obs_kwargs['db_share']:.0%}" in line
                   for line in sat.evidence)


def test_a_queue_for_database_connections_is_database_saturation() -> None:
    """Measured with profiles/faults/cache-off.toml: the database was already 77% of request time
    at the lowest probe; at the break, 99%, of which 97% waiting for a connection. With a
    baseline of 90% the share alone would not have grown enough; the queue still shows it."""
    from dataclasses import replace

    baseline = replace(observe(2.0, 200.0, shop_cpu=10.0, db_share=0.90), db_wait_share=0.01)
    edge = replace(observe(15.0, 3000.0, shop_cpu=72.0, db_share=0.99), db_wait_share=0.97)
    sat = core.attribute_saturation(edge, baseline, 2)
    assert sat.resource == "database"  # only 9 points more share, but a queue for connections
    assert any("97% waiting for a connection" in line for line in sat.evidence)


def test_a_database_share_that_was_already_high_is_not_saturation() -> None:
    """A platform whose requests always were mostly database time: no growth, no attribution."""
    baseline = observe(2.0, 200.0, shop_cpu=10.0, db_share=0.7)
    assert core.attribute_saturation(observe(8.0, 3000.0, shop_cpu=30.0, db_share=0.75), baseline, 4).resource \
        == "unattributed"


def test_gunicorn_workers_count_as_serving_processes() -> None:
    obs = core.ProbeObservation(8.0, 8.0, platform_cpu_percent={"shop": 1.0, "shop-worker": 120.0},
                                platform_processes={"shop": 2, "shop-worker": 2},
                                platform_cpu_max_percent={"shop": 1.0, "shop-worker": 60.0})
    assert core.attribute_saturation(obs, None, cores=2).resource == "unattributed"  # 120% of 200%
    busy = core.ProbeObservation(8.0, 8.0, platform_cpu_percent={"shop-worker": 190.0},
                                 platform_processes={"shop-worker": 2}, platform_cpu_max_percent={"shop-worker": 95.0})
    assert core.attribute_saturation(busy, None, cores=2).resource == "platform-cpu"


@pytest.mark.parametrize("bad", [
    {"nominal_journeys_per_s": 0.0}, {"step_factor": 1.0}, {"resolution": 0.0}, {"start_factor": 0.01},
])
def test_a_bad_search_config_is_refused(bad: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(bad)).replace("start_factor", "min_factor")):
        core.SearchConfig(**{"nominal_journeys_per_s": 2.0, "budget_s": 100.0, **bad})
