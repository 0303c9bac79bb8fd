"""What the report says, as plain data: results.json and the manifest turned into rows of text.

Pure: dicts in, dicts out; the HTML and Markdown renderers only lay these rows out. The optional
sections (memory, profiles, faults, reconciliation) are in :mod:`harness.report.sections`.
"""

from __future__ import annotations

from harness.report import fmt

VERDICT_WORDS = {
    "pass": "PASS — no target missed",
    "fail": "FAIL — at least one target missed",
    "invalid": "INVALID — the run cannot be judged",
    "interrupted": "INTERRUPTED — partial results",
}
FAILING = ("fail", "error", "unmatched")
TIME_UNITS = {"ms": 1.0, "s": 1000.0}


def _ci(pair: object) -> tuple[float | None, float | None]:
    if isinstance(pair, list | tuple) and len(pair) == 2:
        return pair[0], pair[1]
    return None, None


def headline(results: dict, manifest: dict) -> dict:
    """Verdict, its reasons (invalid reasons, then failing targets), and what ran."""
    verdict = str(results.get("verdict", "unknown"))
    reasons = [str(r) for r in results.get("invalid_reasons") or []]
    if manifest.get("end_reason") not in (None, "completed") and not reasons:
        detail = manifest.get("end_detail") or ""
        reasons.append(f"run ended: {manifest.get('end_reason')}" + (f" ({detail})" if detail else ""))
    for target in results.get("targets") or []:
        if target.get("status") in FAILING:
            reasons.append(f"{target.get('id')}: {target.get('explanation') or target.get('status')}")
    counts: dict[str, int] = {}
    for target in results.get("targets") or []:
        counts[str(target.get("status"))] = counts.get(str(target.get("status")), 0) + 1
    # a pass with warnings or unmeasured targets must not read as "all clear"
    if counts.get("warn"):
        reasons.append(f"{counts['warn']} target(s) warn: too little data to decide, or only the warning level "
                       "is missed (see the targets table)")
    if counts.get("unknown"):
        reasons.append(f"{counts['unknown']} target(s) unknown: not measured in this run")
    profile = manifest.get("profile") or {}
    return {
        "verdict": verdict,
        "verdict_text": VERDICT_WORDS.get(verdict, verdict.upper()),
        "reasons": reasons,
        "status_counts": [(fmt.status_label(s), n) for s, n in sorted(counts.items(), key=_status_order)],
        "run_id": results.get("run_id") or manifest.get("run_id"),
        "facts": [
            ("profile", f"{profile.get('name', '?')} ({profile.get('path', '?')})"),
            ("started / ended", f"{manifest.get('started_at', '?')} → {manifest.get('ended_at') or '?'}"),
            ("end", f"{manifest.get('end_reason', '?')}" + (f": {manifest['end_detail']}" if manifest.get("end_detail") else "")),
            ("target", f"{manifest.get('target', '?')}" + (" (embedded platform)" if manifest.get("embedded_platform") else "")),
            ("faults preset", str(manifest.get("faults", "?"))),
            ("targets file", str(manifest.get("targets_file", "?"))),
            ("git revision", str(manifest.get("git_revision", "?"))),
            ("versions", ", ".join(f"{k} {v}" for k, v in sorted((manifest.get("versions") or {}).items()))),
            ("host", ", ".join(f"{k}: {v}" for k, v in sorted((manifest.get("host") or {}).items()))),
        ],
    }


_ORDER = {"fail": 0, "error": 1, "unmatched": 2, "warn": 3, "unknown": 4, "pass": 5}


def _status_order(item: tuple[str, int]) -> int:
    return _ORDER.get(item[0], 9)


def _expression(t: dict) -> str:
    return str(t.get("expr") or t.get("expression") or "")


def target_rows(results: dict) -> list[dict]:
    """One row per target, worst first (fail, error, warn, unknown, pass), then in file order."""
    rows = []
    for index, t in enumerate(results.get("targets") or []):
        unit = t.get("unit")
        status = str(t.get("status", "unknown"))
        source = str(t.get("source") or "")
        explanation = str(t.get("explanation") or "")
        if source and explanation.endswith(f" ({source})"):  # the source has its own line below
            explanation = explanation[: -len(source) - 3]
        where = [str(t["scope"])] if t.get("scope") else []
        if t.get("stage"):
            where.append(f"stage {t['stage']}")
        threshold = fmt.with_unit(t.get("threshold"), unit)
        if isinstance(t.get("warn_threshold"), int | float):
            threshold += f" (warn level {fmt.with_unit(t['warn_threshold'], unit)})"
        rows.append({
            "order": (_ORDER.get(status, 9), index),
            "id": str(t.get("id", "?")),
            "status": status,
            "status_label": fmt.status_label(status),
            "scope": " · ".join(where),
            "expression": _expression(t),
            "warn_expression": str(t.get("warn") or "") if isinstance(t.get("warn"), str) else "",
            "description": str(t.get("description") or ""),
            "measured": fmt.with_unit(t.get("measured"), unit),
            "interval": fmt.interval(t.get("ci_low"), t.get("ci_high"), unit),
            "threshold": threshold,
            "n": fmt.number(t.get("n")),
            "source": source,
            "explanation": explanation,
        })
    return sorted(rows, key=lambda r: r["order"])


def _block_row(stage: dict, block: dict | None) -> dict:
    block = block or {}
    lo, hi = _ci(block.get("availability_ci"))
    plo, phi = _ci(block.get("p95_ci_ms"))
    return {
        "count": fmt.number(block.get("count")),
        "failures": fmt.number(block.get("failures")),
        "availability": fmt.fraction_pct(block.get("availability"), 3),
        "availability_ci": f"[{fmt.fraction_pct(lo, 3)}, {fmt.fraction_pct(hi, 3)}]" if lo is not None else fmt.DASH,
        "mean": fmt.ms(block.get("mean_ms")),
        "p50": fmt.ms(block.get("p50_ms")),
        "p95": fmt.ms(block.get("p95_ms")),
        "p95_ci": f"[{fmt.ms(plo)}, {fmt.ms(phi)}]" if plo is not None else fmt.DASH,
        "p99": fmt.ms(block.get("p99_ms")),
        "max": fmt.ms(block.get("max_ms")),
        "errors": ", ".join(f"{k} {v}" for k, v in sorted((block.get("errors_by_kind") or {}).items())) or "none",
    }


def stage_rows(results: dict) -> list[dict]:
    """Per stage: rates, and the all-requests and /api/ figures (ramps excluded)."""
    rows = []
    for stage in results.get("stages") or []:
        generator = stage.get("generator") or {}
        rows.append({
            "name": str(stage.get("name")),
            "load_factor": fmt.number(stage.get("load_factor")),
            "duration": f"{fmt.number(stage.get('duration_s'))} s (ramp {fmt.number(stage.get('ramp_s'))} s)",
            "intended": fmt.per_s(stage.get("intended_journeys_per_s")),
            "achieved": fmt.per_s(stage.get("achieved_journeys_per_s")),
            "dropped": fmt.number(stage.get("dropped_arrivals")),
            "requests": _block_row(stage, stage.get("requests")),
            "api": _block_row(stage, stage.get("api")),
            "generator_cpu": f"max {fmt.number(generator.get('cpu_percent_max'))}%, "
                             f"mean {fmt.number(generator.get('cpu_percent_mean'))}%",
            "generator_bound": bool(generator.get("bound")),
            "endpoints": [{"name": str(e.get("name")), **_block_row(stage, e)} for e in stage.get("endpoints") or []],
            "journeys": [_journey_row(j) for j in stage.get("journeys") or []],
            "business": _business_rows(stage.get("business") or {}),
        })
    return rows


def _journey_row(j: dict) -> dict:
    lo, hi = _ci(j.get("success_rate_ci"))
    service, intended = j.get("p95_ms"), j.get("p95_from_intended_ms")
    gap = intended - service if isinstance(service, int | float) and isinstance(intended, int | float) else None
    return {
        "name": str(j.get("name")), "count": fmt.number(j.get("count")),
        "success_rate": fmt.fraction_pct(j.get("success_rate")),
        "success_ci": f"[{fmt.fraction_pct(lo)}, {fmt.fraction_pct(hi)}]" if lo is not None else fmt.DASH,
        "p50": fmt.ms(j.get("p50_ms")), "p95": fmt.ms(service), "p95_from_intended": fmt.ms(intended),
        "omission_gap": fmt.ms(gap),
        "outcomes": ", ".join(f"{k} {v}" for k, v in sorted((j.get("outcomes") or {}).items()) if v),
    }


def _business_rows(business: dict) -> list[tuple[str, str]]:
    """(figure, text) per business figure: rates with interval and n, P95s with interval and n."""
    rows = []
    for key, value in sorted(business.items()):
        if key.endswith(("_ci_ms", "_n", "_ci")):
            continue  # shown with the figure they belong to
        if isinstance(value, dict):
            lo, hi = _ci(value.get("ci"))
            ci = f" [{fmt.fraction_pct(lo)}, {fmt.fraction_pct(hi)}]" if lo is not None else ""
            rows.append((key.replace("_", " "), f"{fmt.fraction_pct(value.get('rate'))}{ci}, n={fmt.number(value.get('n'))}"))
        elif key.endswith("_ms"):
            stem = key.removesuffix("_ms")
            lo, hi = _ci(business.get(f"{stem}_ci_ms"))
            ci = f" [{fmt.ms(lo)}, {fmt.ms(hi)}]" if lo is not None else ""
            n = business.get(f"{stem.removesuffix('_p95')}_n", business.get(f"{stem}_n"))
            rows.append((stem.replace("_", " "), f"{fmt.ms(value)}{ci}" + (f", n={fmt.number(n)}" if n is not None else "")))
        elif isinstance(value, int | float | str):
            rows.append((key.replace("_", " "), fmt.number(value) if isinstance(value, int | float) else value))
    return rows


def degradation_rows(results: dict) -> list[dict]:
    """ΔP95 between stages with its interval and n; ``endpoint`` says which endpoint (or "")."""
    rows = []
    for d in results.get("degradation") or []:
        n = f"{fmt.number(d.get('n_from'))} → {fmt.number(d.get('n_to'))}" if "n_from" in d else fmt.DASH
        rows.append({"from": str(d.get("from")), "to": str(d.get("to")), "scope": str(d.get("scope", "")),
                     "endpoint": str(d.get("name") or ""), "delta": fmt.ms(d.get("delta_p95_ms")), "n": n,
                     "interval": f"[{fmt.ms(d.get('ci_low_ms'))}, {fmt.ms(d.get('ci_high_ms'))}]"})
    return rows


def _scope_stage(scope: object) -> str | None:
    """"stage:300%" → "300%"; None for run-wide or wildcard scopes."""
    text = str(scope or "")
    if text.startswith("stage:") and text[6:] not in ("", "*"):
        return text[6:]
    return None


def target_lines(results: dict, kind: str) -> list[tuple[str, float, str, str | None]]:
    """Targets to draw on a per-stage chart: ``kind`` "p95" (ms) or "availability" (%).

    p95: targets on a P95 (by id or expression) in a time unit, not a difference between
    stages, on requests (not business figures, journeys or memory). availability: targets on
    availability in % or as a fraction. The warning level (``warn_threshold``) is drawn too, as
    its own line. Each line carries the stage its target is scoped to (None: every stage).
    """
    lines = []
    for t in results.get("targets") or []:
        text = f"{t.get('id', '')} {_expression(t)}".lower()
        unit = t.get("unit") or ""
        threshold = t.get("threshold")
        scope = str(t.get("scope") or "")
        if not isinstance(threshold, int | float) or isinstance(threshold, bool):
            continue
        if t.get("status") in ("unknown", "error", "unmatched"):
            continue  # nothing in this run to hold it against
        if scope.startswith(("business", "journey", "memory", "reconciliation", "platform", "telemetry")):
            continue
        stage = t.get("stage") or _scope_stage(scope)
        if "worst of" in str(t.get("explanation") or ""):
            stage = None  # a target on every stage, reported at its worst one: it holds for all
        levels = [(str(t.get("id")), float(threshold), str(t.get("status")))]
        warn = t.get("warn_threshold")
        if isinstance(warn, int | float) and not isinstance(warn, bool):
            levels.append((f"{t.get('id')} warn level", float(warn), "warn"))
        if kind == "p95" and "p95" in text and unit in TIME_UNITS and " - " not in text:
            lines += [(label, value * TIME_UNITS[unit], status, stage) for label, value, status in levels]
        elif kind == "availability" and "availability" in text and unit in ("%", "ratio", "fraction"):
            scale = 1.0 if unit == "%" else 100.0
            lines += [(label, value * scale, status, stage) for label, value, status in levels]
    return lines


def generator_rows(results: dict) -> tuple[list[dict], list[str]]:
    """The load generators of a distributed run (results.json ``generators``): one row per worker
    (index, name, address, clock offset, state, requests it sent and merged), and the refusals."""
    block = results.get("generators")
    if not isinstance(block, dict):
        return [], []
    rows = []
    for w in block.get("workers") or []:
        clock = w.get("clock") or {}
        sent, merged = w.get("sent_requests") or {}, w.get("merged_requests") or {}
        offset = clock.get("offset_s")
        rows.append({
            "worker": w.get("worker"), "name": w.get("name") or "", "host": w.get("host") or "",
            "clock": "" if offset is None else f"{offset * 1000:+.1f} ms ± {float(clock.get('error_bound_s') or 0) * 1000:.1f}",
            "clock_bad": bool(w.get("clock_problem")),
            "state": "lost" if w.get("lost_t_s") is not None else "ok",
            "sent": sum(int(v) for v in sent.values()), "merged": sum(int(v) for v in merged.values()),
        })
    refused = [f"{r.get('name') or '?'} ({r.get('host') or '?'}): {r.get('reason')}" for r in block.get("refused") or []]
    missing = block.get("missing")
    if isinstance(missing, dict):
        refused.insert(0, f"only {missing.get('joined')} of {missing.get('expected')} workers joined "
                          f"within {missing.get('waited_s')} s")
    return rows, refused
