"""Verdicts: judge each target against a results dict, decide the run (the targets file is
read by harness.config.targets).

A target passes when its whole 95% interval is on the good side of the threshold, fails when
the whole interval is on the bad side, and warns when the interval straddles the threshold
(too little data to say) or when only its warning level is breached. ``strict`` turns warn
into fail. A scope that matches nothing in the run (a misspelled endpoint, a stage the run
does not have by name) is an ``error``, never a silent pass; a figure the run could not
measure (memory growth before the memory analysis, reconciliation without ledgers) is
``unknown`` and says what is missing.

Pure: no files here.
"""

from __future__ import annotations

from harness.config.targets import load_targets, parse_targets  # noqa: F401  (re-exported)
from harness.core.measure import Measurement, Missing, Unmatched, measure_stages
from harness.core.targets import STAGED_SCOPES, Target
from harness.core.units import BASE_UNIT, format_value

STATUS_ORDER = ("pass", "unknown", "warn", "fail", "error")  # later is worse


# --- judging ----------------------------------------------------------------------------------


def _compare(op: str, value: float, threshold: float) -> bool:
    return {"<=": value <= threshold, "<": value < threshold, ">=": value >= threshold,
            ">": value > threshold, "==": value == threshold}[op]


def judge_interval(op: str, threshold: float, low: float, high: float) -> str:
    """pass (whole interval good), fail (whole interval bad) or warn (it straddles)."""
    if op == "==":
        if low == high == threshold:
            return "pass"
        return "fail" if threshold < low or threshold > high else "warn"
    good_low, good_high = _compare(op, low, threshold), _compare(op, high, threshold)
    if good_low and good_high:
        return "pass"
    if not good_low and not good_high:
        return "fail"
    return "warn"


def _entry(target: Target, status: str, measurement: Measurement | None, explanation: str) -> dict:
    kind = target.expr.threshold.kind
    return {
        "id": target.id,
        "status": status,
        "measured": None if measurement is None else measurement.value,
        "ci_low": None if measurement is None else measurement.ci_low,
        "ci_high": None if measurement is None else measurement.ci_high,
        "threshold": target.expr.threshold.value,
        "warn_threshold": None if target.warn is None else target.warn.threshold.value,
        "unit": BASE_UNIT[kind],
        "n": None if measurement is None else measurement.n,
        "source": target.source,
        "explanation": explanation,
        "severity": target.severity,
        "expr": target.expr.text,
        "warn": None if target.warn is None else target.warn.text,
        "scope": target.scope,
        "stage": None if measurement is None else measurement.stage,
        "stage_selector": _selector(target),
        "description": target.description,
    }


def _selector(target: Target) -> str | None:
    """Which stages the target is judged in: "nominal", "each", a stage name, "load:300%",
    or None for run-level targets and differences (their loads are in ``expr``)."""
    if target.scope_kind not in STAGED_SCOPES or target.expr.is_difference:
        return None
    return f"load:{target.load * 100:g}%" if target.load is not None else target.stage


def _judge_measurement(target: Target, m: Measurement) -> tuple[str, str]:
    """Status and explanation for one measurement (one stage, or a run-level figure)."""
    kind = target.expr.threshold.kind
    fmt = lambda v: format_value(v, kind)  # noqa: E731 - local shorthand
    where = f"{m.label}" + (f" at {m.stage}" if m.stage else "")
    if not m.needs_interval and (m.ci_low is None or m.ci_low == m.ci_high):
        interval = "exact" if m.ci_low is not None else "a point value"
    elif m.ci_low is None:
        interval = "no interval"
    else:
        interval = f"95% CI {fmt(m.ci_low)}..{fmt(m.ci_high)}"
    n = "" if m.n is None else f", n={m.n:,}"
    said = f"{where} = {fmt(m.value)} ({interval}{n})"
    expr, warn = target.expr, target.warn
    if m.undecided and not (m.ci_low is not None
                            and judge_interval(expr.op, expr.threshold.value, m.ci_low, m.ci_high) == "pass"):
        # the run cannot tell (memory: a warm-up from a leak) whether the long-run figure breaks the
        # threshold: never a fail; a pass only when even its widened interval is wholly on the good side
        return "warn", f"{said} undecided against {expr.op} {fmt(expr.threshold.value)}: {m.undecided}"
    if m.ci_low is None:
        if m.needs_interval:
            return "warn", f"{said}: too little data for an interval (needs {m.why_no_interval}); threshold {expr.op} {fmt(expr.threshold.value)}"
        status = "pass" if _compare(expr.op, m.value, expr.threshold.value) else "fail"
        low = high = m.value
    else:
        low, high = m.ci_low, m.ci_high
        status = judge_interval(expr.op, expr.threshold.value, low, high)
    verb = {"pass": "meets", "fail": "breaks", "warn": "straddles"}[status]
    text = f"{said} {verb} {expr.op} {fmt(expr.threshold.value)}"
    if status == "warn":
        text += " (too little data to say)"
    if status == "pass" and warn is not None:
        level = judge_interval(warn.op, warn.threshold.value, low, high)
        if level != "pass":
            status = "warn"
            text += (f" but {'not' if level == 'fail' else 'not clearly'} the warning level "
                     f"{warn.op} {fmt(warn.threshold.value)}")
        else:
            text += f" and the warning level {warn.op} {fmt(warn.threshold.value)}"
    return status, text


def evaluate_target(target: Target, results: dict, strict: bool = False) -> dict:
    """One targets entry of results.json for ``target`` (see the module docstring)."""
    try:
        measurements = measure_stages(target, results)
    except Unmatched as error:
        return _entry(target, "error", None, f"error: {error} [{cite(target.source)}]")
    except Missing as error:
        return _entry(target, "unknown", None, f"unknown: {error} [{cite(target.source)}]")
    judged = []
    for m in measurements:
        if isinstance(m, Missing):
            judged.append(("unknown", None, f"unknown: {m}"))
        else:
            status, text = _judge_measurement(target, m)
            judged.append((status, m, text))
    # the worst stage speaks for the target: worst status, then the value furthest on the bad side
    sign = 1.0 if target.expr.op in ("<=", "<", "==") else -1.0
    status, measurement, text = max(
        judged, key=lambda j: (STATUS_ORDER.index(j[0]), sign * j[1].value if j[1] is not None else 0.0))
    if len(judged) > 1:
        text += f" (worst of {len(judged)} stages)"
    if strict and status == "warn":
        status, text = "fail", f"strict: {text}"
    return _entry(target, status, measurement, f"{status}: {text} [{cite(target.source)}]")


def cite(source: str) -> str:
    """The short citation at the head of a source ("000 ch.2"), before any quoted sentence."""
    head = source.split("「")[0].strip().rstrip(":;,").strip()
    return head if len(head) <= 60 else head[:57] + "..."


def evaluate(targets: list[Target], results: dict, strict: bool = False) -> list[dict]:
    """The ``targets`` list of results.json: one entry per target, in file order."""
    return [evaluate_target(target, results, strict) for target in targets]


def overall_verdict(results: dict, target_entries: list[dict]) -> str:
    """interrupted (the run was stopped), invalid (it measured the generator, not the
    platform), fail (an [abort] condition stopped the load, or a target of severity error failed
    or could not be matched), else pass.
    A warn fails nothing unless the entries were judged with strict."""
    if results.get("end_reason") == "interrupted":
        return "interrupted"
    if results.get("invalid_reasons"):
        return "invalid"
    if results.get("end_reason") == "aborted":  # an [abort] condition held: the platform failed it
        return "fail"
    if any(e["status"] in ("fail", "error") and e.get("severity", "error") == "error" for e in target_entries):
        return "fail"
    return "pass"
