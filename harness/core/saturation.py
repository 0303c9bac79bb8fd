"""What saturated at the edge of a capacity search, and where a breach is (pure).

Given the figures of one probe (:class:`harness.core.probe.ProbeObservation`) and of the
lowest probe as a baseline, :func:`attribute_saturation` names the resource that ran out, in
this order: the load generator (the result is then a lower bound), the shop's CPU, the
gateway's CPU, the database (its share of the shop's request time grew past half, or a quarter of it
is spent waiting for a connection), the whole
machine's CPU (platform and generator share it), the gateway's latency share; else
``unattributed``. :func:`locate_break` names the endpoint or journey a breach is on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.core.probe import Breach, ProbeObservation

CPU_SATURATED_FRACTION = 0.85  # of the cores a process group can use
GATEWAY_SHARE_SATURATED = 0.5  # of all request time
GATEWAY_SHARE_GROWTH = 0.15  # over the lowest probe's share
DB_SHARE_SATURATED = 0.5  # of the shop's request time
DB_SHARE_GROWTH = 0.15  # over the lowest probe's share
DB_WAIT_SATURATED = 0.25  # of the shop's request time spent waiting for a database connection


@dataclass(frozen=True)
class Saturation:
    """What ran out: ``resource`` is generator, platform-cpu, gateway-cpu, database, host-cpu,
    gateway-latency or unattributed; ``evidence`` gives the figures."""

    resource: str
    evidence: tuple[str, ...]
    lower_bound: bool = False


def attribute_saturation(obs: ProbeObservation, baseline: ProbeObservation | None, cores: int,
                         generator_reasons: Sequence[str] = ()) -> Saturation:
    """What saturated in probe ``obs`` (the lowest breaking one, or the highest probe), compared
    with ``baseline`` (the lowest probe). ``cores``: CPU cores of the machine."""
    if generator_reasons:
        return Saturation("generator", tuple(generator_reasons), lower_bound=True)
    cpu, procs, busiest = obs.platform_cpu_percent, obs.platform_processes, obs.platform_cpu_max_percent
    evidence = []
    if procs.get("shop-worker"):  # gunicorn: the forked workers serve, the master only supervises
        serving = procs["shop-worker"]
        shop_cpu, shop_limit = cpu.get("shop-worker", 0.0), 100.0 * min(serving, max(1, cores))
    else:  # one serving process (the supervisor beside it idles): its own core is the limit
        serving = 1
        shop_cpu, shop_limit = busiest.get("shop", cpu.get("shop", 0.0)), 100.0
    evidence.append(f"shop CPU {shop_cpu:.0f}% of one core ({serving} serving process(es), limit {shop_limit:.0f}%"
                    + ("; above one core: its threads, e.g. password hashing, run beside the event loop" if
                       serving == 1 and shop_cpu > 100.0 else "") + ")")
    gateway_cpu = cpu.get("gateway", 0.0)
    total_cpu = sum(cpu.values()) + (obs.generator_cpu_percent_max or 0.0)
    evidence.append(f"gateway CPU {gateway_cpu:.0f}%; platform + generator {total_cpu:.0f}% of {cores * 100}%")
    share = obs.gateway_time_share
    if share is not None:
        base = "" if baseline is None or baseline.gateway_time_share is None else \
            f" (lowest probe {baseline.gateway_time_share:.0%})"
        evidence.append(f"gateway share of request time {share:.0%}{base}")
    db = obs.db_time_share
    database_grew = False
    if db is not None:
        base = "" if baseline is None or baseline.db_time_share is None else f" (lowest probe {baseline.db_time_share:.0%})"
        wait = "" if obs.db_wait_share is None else f", {obs.db_wait_share:.0%} waiting for a connection"
        evidence.append(f"database share of the shop's request time {db:.0%}{wait}{base}")
        database_grew = db >= DB_SHARE_SATURATED and (baseline is None or baseline.db_time_share is None
                                                      or db >= baseline.db_time_share + DB_SHARE_GROWTH)
        wait = obs.db_wait_share
        if wait is not None and wait >= DB_WAIT_SATURATED:  # a queue for connections: the clearest sign
            base_wait = 0.0 if baseline is None or baseline.db_wait_share is None else baseline.db_wait_share
            database_grew = database_grew or wait >= base_wait + DB_SHARE_GROWTH
    if obs.host_cpu_percent is not None:
        evidence.append(f"the machine's CPUs {obs.host_cpu_percent:.0f}% busy (all processes, {cores} cores)")
    if shop_cpu >= CPU_SATURATED_FRACTION * shop_limit:
        return Saturation("platform-cpu", tuple(evidence))
    if busiest.get("gateway", gateway_cpu) >= CPU_SATURATED_FRACTION * 100.0:
        return Saturation("gateway-cpu", tuple(evidence))
    if database_grew:
        return Saturation("database", tuple(evidence))
    if total_cpu >= CPU_SATURATED_FRACTION * 100.0 * cores or (
            obs.host_cpu_percent is not None and obs.host_cpu_percent >= 100.0 * CPU_SATURATED_FRACTION):
        return Saturation("host-cpu", tuple(evidence))
    if share is not None and share >= GATEWAY_SHARE_SATURATED and (
            baseline is None or baseline.gateway_time_share is None
            or share >= baseline.gateway_time_share + GATEWAY_SHARE_GROWTH):
        return Saturation("gateway-latency", tuple(evidence))
    return Saturation("unattributed", (*evidence, "no CPU near its limit and neither the database's nor the "
                                                  "gateway's share grew: latency rose from waiting (locks or queues)"))


BUSINESS_JOURNEYS = {"payment": "checkout", "registration": "register", "sms": "register",
                     "product_page": "product_page", "order_sync": "checkout"}


def locate_break(breach: Breach, obs: ProbeObservation, baseline: ProbeObservation | None) -> str:
    """Which endpoint or journey a breach is on: the one its scope names; for the api/requests
    aggregates, the endpoint with the highest P95 in the breaking probe (with its P95 at the
    lowest probe); for business figures, the journey they come from."""
    kind, _, name = breach.scope.partition(":")
    if kind == "endpoint":
        return f"endpoint {name}"
    if kind == "journey":
        return f"journey {name}"
    if kind in ("api", "requests") and obs.endpoint_p95_ms:
        names = [n for n in obs.endpoint_p95_ms if kind == "requests" or n.partition(" ")[2].startswith("/api/")]
        if names:
            worst = max(names, key=lambda n: obs.endpoint_p95_ms[n])
            before = (baseline.endpoint_p95_ms.get(worst) if baseline is not None else None)
            was = f", {before:.0f} ms at {baseline.offered_journeys_per_s:.3g}/s" if before is not None else ""
            return f"{kind} (slowest endpoint {worst}: P95 {obs.endpoint_p95_ms[worst]:.0f} ms{was})"
    if kind == "business":
        journey = next((j for prefix, j in BUSINESS_JOURNEYS.items() if breach.target_id.startswith(prefix)
                        or prefix in breach.explanation), None)
        return f"journey {journey}" if journey else "business figures"
    return breach.scope or breach.target_id


