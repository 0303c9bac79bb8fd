"""Find what a target measures in a results dict (pure).

For each stage the target selects, a :class:`Measurement` (value, 95% interval, n), or a
:class:`Missing` saying what data is absent. A scope or stage name that matches nothing in the
run raises :class:`Unmatched`: that is a mistake in the targets file (or a run that did not
do what the file expects), and must never read as a pass. A figure that rests on nothing (a run
with no requests, n = 0: no checkout, no reconciled order, no memory sample, no scrape) is
:class:`Missing` too, so the target is ``unknown`` and says what was not measured.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from harness.core import rates
from harness.core.targets import STAGED_SCOPES, Target


class Unmatched(LookupError):
    """The target's scope or stage matches nothing in the run (an error, not a pass)."""


class Missing(LookupError):
    """The run has no figure for the target; the message says which data is absent."""


@dataclass(frozen=True)
class Measurement:
    """A measured value in its base unit (ms, fraction, bytes/h, count) with its interval."""

    value: float
    ci_low: float | None
    ci_high: float | None
    n: int | None
    stage: str | None
    label: str
    needs_interval: bool = True
    why_no_interval: str = "at least 5 time blocks with data"
    # why the run cannot decide (memory growth: warm-up not told from a leak); judged warn, never
    # pass or fail, with this reason in the explanation
    undecided: str | None = None


def _pct(load: float) -> str:
    return f"{load * 100:g}%"


def select_stages(target: Target, stages: list[dict]) -> list[dict]:
    """The stages a staged target is judged in (see targets.toml's ``stage`` and ``load``)."""
    names = ", ".join(s["name"] for s in stages) or "none"
    if not stages:
        raise Missing("the run has no stages")
    if target.load is not None:
        chosen = [s for s in stages if abs(float(s.get("load_factor", 0)) - target.load) < 1e-9]
        if not chosen:
            raise Missing(f"this run has no stage at {_pct(target.load)} load (stages: {names})")
        return chosen
    if target.stage == "nominal":
        return [next((s for s in stages if s.get("load_factor") == 1.0), stages[0])]
    if target.stage == "each":
        return list(stages)
    chosen = [s for s in stages if s["name"] == target.stage]
    if not chosen:
        raise Unmatched(f"stage {target.stage!r} matches no stage of this run (stages: {names})")
    return chosen


def _check_scope_matches(target: Target, stages: list[dict]) -> None:
    kind, name = target.scope_kind, target.scope_name
    if kind == "endpoint":
        seen = sorted({e["name"] for s in stages for e in s.get("endpoints", [])})
        if name not in seen:
            raise Unmatched(f"scope endpoint:{name} matches no request name in this run (names: {', '.join(seen)})")
    elif kind == "journey":
        seen = sorted({j["name"] for s in stages for j in s.get("journeys", [])})
        if name not in seen:
            raise Unmatched(f"scope journey:{name} matches no journey in this run (journeys: {', '.join(seen)})")
    elif kind == "api" and not any(s.get("api", {}).get("count") for s in stages):
        raise Unmatched("scope api matches no request in this run (no request name has a path under /api/)")


def measure_stages(target: Target, results: dict) -> list[Measurement | Missing]:
    """One Measurement (or Missing) per selected stage, or one for a run-level target.

    Raises Unmatched when the scope or stage matches nothing, Missing when the whole figure
    is absent.
    """
    kind = target.scope_kind
    if kind not in STAGED_SCOPES:
        return [_measured(_run_level(target, results))]
    stages = results.get("stages") or []
    if not stages:
        raise Missing("the run has no stages: nothing was measured")
    if not any((s.get("requests") or {}).get("count") or (s.get("api") or {}).get("count") for s in stages):
        # nothing measured at all: no scope can be told apart from a misspelled one
        raise Missing(f"the run measured no requests outside the ramps "
                      f"(stages: {', '.join(str(s.get('name')) for s in stages)})")
    _check_scope_matches(target, stages)
    if target.expr.is_difference:
        return [_measured(_difference(target, results, stages))]
    out: list[Measurement | Missing] = []
    for stage in select_stages(target, stages):
        try:
            out.append(_measured(_staged(target, stage)))
        except Missing as missing:
            out.append(missing)
    return out


def _measured(m: Measurement) -> Measurement:
    """``m``, unless it rests on nothing (n = 0): then Missing, never a figure to judge (an
    empty count of lost payments over no order is not a pass)."""
    if m.n is not None and m.n <= 0:
        where = f" at {m.stage}" if m.stage else ""
        raise Missing(f"nothing measured for {m.label}{where} (n = 0)")
    return m


def _staged(target: Target, stage: dict) -> Measurement:
    kind, name, metric = target.scope_kind, target.scope_name, target.expr.metric
    where = stage["name"]
    if kind in ("requests", "api", "endpoint"):
        if kind == "endpoint":
            block = next((e for e in stage.get("endpoints", []) if e["name"] == name), None)
            label = f"{name} {metric}"
        else:
            block, label = stage.get(kind), f"{kind} {metric}"
        if not block or not block.get("count"):
            raise Missing(f"no {target.scope} requests in stage {where}")
        if metric == "availability":
            return _from_pair(block["availability"], block.get("availability_ci"), block["count"], where, label)
        return _from_pair(block.get(f"{metric}_ms"), block.get(f"{metric}_ci_ms"), block["count"], where, label,
                          needs_interval=metric != "max")
    if kind == "journey":
        block = next((j for j in stage.get("journeys", []) if j["name"] == name), None)
        label = f"journey {name} {metric}"
        if not block or not block.get("count"):
            raise Missing(f"no {name} journeys in stage {where}")
        if metric == "success_rate":
            return _from_pair(block["success_rate"], block.get("success_rate_ci"), block["count"], where, label)
        # journeys carry an interval for p95 only; other statistics are judged on their value
        ci = block.get("p95_ci_ms") if metric == "p95" else None
        return _from_pair(block.get(f"{metric}_ms"), ci, block["count"], where, label, needs_interval=metric == "p95")
    business = stage.get("business") or {}
    if metric in ("product_page_p95", "order_sync_lag_p95"):
        stem = metric.removesuffix("_p95")
        n = business.get(f"{stem}_n") or 0
        if not n:
            what = "product page journeys" if stem == "product_page" else "paid checkouts with a sync lag"
            raise Missing(f"no {what} in stage {where}")
        return _from_pair(business.get(f"{metric}_ms"), business.get(f"{metric}_ci_ms"), n, where, metric)
    figure = business.get(metric) or {}
    if not figure.get("n"):
        journey = "checkout" if metric.startswith("payment") else "register"
        raise Missing(f"no {journey} journeys in stage {where}")
    return _from_pair(figure["rate"], figure.get("ci"), figure["n"], where, metric)


def _from_pair(value, ci, n, stage, label, needs_interval: bool = True) -> Measurement:
    if value is None:
        raise Missing(f"{label} has no value in stage {stage}")
    low, high = (ci if ci else (None, None))
    return Measurement(float(value), low, high, None if n is None else int(n), stage, label, needs_interval)


def _difference(target: Target, results: dict, stages: list[dict]) -> Measurement:
    expr = target.expr
    by_load = {}
    for stage in stages:
        by_load.setdefault(round(float(stage.get("load_factor", 0)), 9), stage["name"])
    names = []
    for load in (expr.from_load, expr.to_load):
        if round(load, 9) not in by_load:
            raise Missing(f"this run has no stage at {_pct(load)} load "
                          f"(stages: {', '.join(s['name'] for s in stages)})")
        names.append(by_load[round(load, 9)])
    wanted_scope = "api" if target.scope_kind == "api" else "endpoint"
    for entry in results.get("degradation") or []:
        if (entry["from"], entry["to"]) == tuple(names) and entry["scope"] == wanted_scope and (
                wanted_scope == "api" or entry.get("name") == target.scope_name):
            if entry.get("delta_p95_ms") is None:
                raise Missing(f"no P95 for {target.scope} in stage {names[0]} or {names[1]}")
            if entry.get("n_from") == 0 or entry.get("n_to") == 0:
                raise Missing(f"no {target.scope} requests in stage {names[0] if not entry.get('n_from') else names[1]}")
            n = (entry["n_from"] + entry["n_to"]) if entry.get("n_from") is not None and entry.get("n_to") is not None else None
            ci = None if entry.get("ci_low_ms") is None else (entry["ci_low_ms"], entry["ci_high_ms"])
            label = f"ΔP95 {target.scope_name or target.scope} {names[1]} vs {names[0]}"
            return _from_pair(entry["delta_p95_ms"], ci, n, None, label)
    raise Missing(f"ΔP95 of {target.scope} from {names[0]} to {names[1]} was not computed "
                  f"(degradation is measured from the nominal stage to each heavier one)")


def _run_level(target: Target, results: dict) -> Measurement:
    kind, metric = target.scope_kind, target.expr.metric
    if kind == "memory":
        memory = results.get("memory")
        if not memory or memory.get("growth_bytes_per_hour") is None:
            why = (memory or {}).get("error") or (memory or {}).get("reason") or (
                "no memory growth estimate in this run (the memory analysis found no platform memory "
                "samples, or the run was too short to fit a growth rate)")
            raise Missing(why)
        ci = None if memory.get("ci_low") is None else (memory["ci_low"], memory["ci_high"])
        measured = _from_pair(memory["growth_bytes_per_hour"], ci, memory.get("n_samples"), None,
                              f"memory growth ({memory.get('metric', 'rss')})")
        return replace(measured, undecided=memory.get("undecided_reason"))
    if kind == "reconciliation":
        rec = results.get("reconciliation")
        if not rec:
            raise Missing("no reconciliation in this run (it recorded no payment, or the platform's "
                          "ledgers were not collected)")
        if rec.get("error"):
            raise Missing(f"reconciliation incomplete: {rec['error']}")
        if rec.get("lost") is None or rec.get("duplicated") is None:
            raise Missing("reconciliation has no lost/duplicated counts")
        checked = int(rec.get("orders_checked") or 0)
        if checked == 0:
            raise Missing("reconciliation checked no orders: no order or payment was found in the client "
                          "journal or the platform's ledgers, so none could be lost, duplicated or consistent")
        if metric == "lost_or_duplicated_payments":
            value = int(rec["lost"]) + int(rec["duplicated"])
            return Measurement(value, value, value, checked, None, "lost or duplicated payments", False)
        problems = int(rec["lost"]) + int(rec["duplicated"]) + int(rec.get("mismatched") or 0)
        figure = rates.rate(max(0, checked - problems), checked)
        return Measurement(figure.rate, figure.ci_low, figure.ci_high, checked, None, "order consistency")
    # older targets files name them order_cache_hit_rate and lag_p95
    if kind == "platform":
        return _platform_cache(results.get("platform_cache"),
                               "order_cache_hit_ratio" if metric == "order_cache_hit_rate" else metric)
    return _telemetry(results.get("telemetry"), "delay_p95" if metric == "lag_p95" else metric)


def _platform_cache(block: dict | None, metric: str) -> Measurement:
    if not block:
        raise Missing("no platform/metrics.csv in this run: the shop's /metrics (cache lookup counters) "
                      "was not scraped during the load")
    which = (block.get("order") or {}) if metric == "order_cache_hit_ratio" else block
    if which.get("hit_ratio") is None:
        raise Missing(block.get("reason") or "no cache lookups were counted during the steady windows")
    label = "order cache hit ratio" if metric == "order_cache_hit_ratio" else "cache hit ratio"
    ci = which.get("ci")
    label += f" ({which['hits']} hits, {which['misses']} misses, {which['bypass']} bypassed: cache off)"
    return _from_pair(which["hit_ratio"], ci, which.get("lookups"), None, label)


def _telemetry(block: dict | None, metric: str) -> Measurement:
    if not block:
        raise Missing("no platform/metrics.csv in this run: the shop's /metrics request counter was not "
                      "scraped during the load")
    value_s = block.get(f"{metric}_s")
    if value_s is None:
        raise Missing(f"monitoring delay unknown: {block.get('reason') or 'no scrape during the load'}")
    # per-scrape delays are autocorrelated (one lagging counter stays late): judged on the value
    return Measurement(float(value_s) * 1000.0, None, None, int(block.get("n") or 0), None,
                       f"monitoring delay {metric.removeprefix('delay_')} over {block.get('n')} scrapes",
                       needs_interval=False)
