"""The report's optional sections as plain data: memory, CPU profile, faults, reconciliation.

Each returns None (or []) when its block is absent from results.json (or, for the CPU
profile, from the manifest, where the orchestration records it), and the renderers then leave
the section out. Pure: dicts in, dicts out.
"""

from __future__ import annotations

import math
from urllib.parse import quote

from harness.report import fmt

MEMORY_FACTS = [  # (key, label, unit) in the order a reader wants them
    ("metric", "metric", None),
    ("judged_metric", "judged on", None),
    ("growth_bytes_per_hour", "growth", "bytes/h"),
    ("first_part_bytes_per_hour", "growth, first part of the steady window", "bytes/h"),
    ("last_part_bytes_per_hour", "growth, last part (lower: it is levelling off)", "bytes/h"),
    ("plateau", "plateau (growth that stops, e.g. a cache filling: not a leak)", "bool"),
    ("warmup_s", "warm-up cut from the start", "s"),
    ("duration_s", "run length used", "s"),
    ("min_duration_s_to_detect_0_1GB_per_h", "run length needed to tell 0.1 GB/h from zero at this noise", "s"),
    ("noise_bytes", "noise around the trend", "bytes"),
    ("n_samples", "samples", "count"),
    ("block_length_samples", "bootstrap block length (samples)", "count"),
    ("reason", "why there is no estimate", None),
    ("error", "error", None),
]


def _site_growth(site: dict) -> str:
    """A site's growth; with memray windows, per window (first -> last) and its kind."""
    per_window = site.get("window_growth_bytes_per_hour")
    if not per_window:
        return fmt.with_unit(site.get("growth_bytes_per_hour"), "bytes/h")
    text = " -> ".join(fmt.with_unit(g, "bytes/h") for g in per_window)
    return f"{text} ({site['kind']})" if site.get("kind") else text


def memory_view(results: dict) -> dict | None:
    """The memory block as text (facts, per-stage growth, leak sites); None when absent."""
    memory = results.get("memory")
    if not isinstance(memory, dict):
        return None
    facts = []
    for key, label, unit in MEMORY_FACTS:
        value = memory.get(key)
        if key not in memory or (value is None and key in ("reason", "error", "first_part_bytes_per_hour",
                                                           "last_part_bytes_per_hour")):
            continue
        if key == "judged_metric" and value == memory.get("metric"):
            continue  # no memray windows: judged on the metric itself
        if key == "growth_bytes_per_hour":
            ci = fmt.interval(memory.get("ci_low"), memory.get("ci_high"), "bytes/h")
            text = f"{fmt.with_unit(value, 'bytes/h')}   95% interval {ci}"
        elif unit == "bool":
            text = fmt.DASH if value is None else ("yes" if value else "no")
        elif unit == "s":
            text = fmt.DASH if value is None else f"{value:.0f} s"
        elif unit is None:
            text = str(value)
        else:
            text = fmt.with_unit(value, unit)
        facts.append((label, text))
    sites = []
    for site in memory.get("leak_sites") or []:
        where = f"{site.get('file', '?')}:{site.get('line', '?')}"
        sites.append({"function": str(site.get("function", "?")), "where": where,
                      "live": fmt.bytes_(site.get("live_bytes")),
                      "growth": _site_growth(site)})
    stages = [{"stage": str(st.get("stage")), "growth": fmt.with_unit(st.get("growth_bytes_per_hour"), "bytes/h"),
               "interval": fmt.interval(st.get("ci_low"), st.get("ci_high"), "bytes/h"),
               "duration": fmt.DASH if st.get("duration_s") is None else f"{st['duration_s']:.0f} s",
               "plateau": "yes" if st.get("plateau") else "no"}
              for st in memory.get("stages") or [] if isinstance(st, dict)]
    flamegraph = memory.get("flamegraph")
    return {"facts": facts, "sites": sites, "stages": stages, "memray_cost": memray_cost_rows(memory),
            "flamegraph": quote(flamegraph) if isinstance(flamegraph, str) and flamegraph else None}


def memray_cost_rows(memory: dict) -> list[dict]:
    """memray's cost in the run (``memory.memray_windows.cost``): one row per stretch of the
    steady part, its requests per second and the platform's CPU per request against the
    stretch before the first window; [] without windows."""
    cost = (memory.get("memray_windows") or {}).get("cost") or {}
    versus = cost.get("vs_reference") or {}
    rows = []
    for segment in cost.get("segments") or []:
        if not isinstance(segment, dict):
            continue
        change = versus.get(segment.get("segment"))
        rows.append({"segment": str(segment.get("segment")),
                     "duration": fmt.DASH if segment.get("duration_s") is None else f"{segment['duration_s']:.0f} s",
                     "requests_per_s": fmt.with_unit(segment.get("requests_per_s"), "req/s"),
                     "cpu": fmt.with_unit(segment.get("cpu_ms_per_request"), "ms"),
                     "versus": "reference" if segment.get("segment") == cost.get("reference")
                     else (fmt.DASH if change is None else f"{change * 100:+.1f}%")})
    return rows


def profile_links(profile_files: list[str]) -> list[dict]:
    """Links to flame graphs and profiles under profiles/, labelled by kind."""
    links = []
    for path in profile_files:
        lower = path.lower()
        if lower.endswith(".html"):
            kind = "memray flame graph (HTML)" if "memray" in lower or "leak" in lower else "HTML"
        elif lower.endswith(".svg"):
            kind = "CPU flame graph (SVG, py-spy samples)"
        elif "speedscope" in lower:
            kind = "py-spy profile, speedscope JSON (open it at speedscope.app, or with speedscope locally)"
        else:
            continue  # raw captures (.bin) are large and not viewable in a browser
        links.append({"href": quote(path), "label": path, "kind": kind})
    return links


def cpu_view(cpu: object, stage: object) -> dict | None:
    """The CPU profile (py-spy) summary: top functions by own time, or why there is none."""
    if not isinstance(cpu, dict):
        return None
    rows = []
    for f in cpu.get("top_functions") or []:
        if not isinstance(f, dict):
            continue
        where = f"{f.get('file', '?')}:{f.get('line')}" if f.get("line") else str(f.get("file", "?"))
        share = f.get("own_fraction", f.get("own_percent"))
        if isinstance(share, int | float) and "own_fraction" in f:
            share_text = fmt.fraction_pct(share, 1)
        else:
            share_text = fmt.DASH if share is None else f"{share:.1f}%"
        rows.append({"function": str(f.get("function", "?")), "where": where, "share": share_text,
                     "samples": fmt.number(f.get("own_samples"))})
    facts = []
    for key, label in (("duration_s", "profiled for (s)"), ("rate_hz", "sampling rate (Hz)"),
                       ("samples", "samples"), ("pids", "processes")):
        if cpu.get(key) is not None:
            value = cpu[key]
            facts.append((label, ", ".join(map(str, value)) if isinstance(value, list) else fmt.number(value)))
    return {"stage": str(stage) if stage else None, "rows": rows, "facts": facts,
            "error": str(cpu["error"]) if cpu.get("error") else None}


def _availability(fault: dict, window: str) -> str:
    value, n = fault.get(f"availability_{window}"), fault.get(f"requests_{window}")
    text = fmt.fraction_pct(value) if isinstance(value, int | float) else fmt.DASH
    return text + (f" (n={n})" if n is not None else "")


def fault_rows(faults: object, t0_s: float) -> list[dict]:
    """Each fault's measured effect as text; times in seconds since the run's start."""
    rows = []
    for f in faults if isinstance(faults, list) else []:
        if not isinstance(f, dict):
            continue
        what = f.get("action") or ", ".join(f"{k}={v}" for k, v in sorted((f.get("knobs") or {}).items()))
        if not what and "knob" in f:
            what = f"{f['knob']}={f.get('value')}"
        start, end = f.get("start_t_s"), f.get("end_t_s")
        when = fmt.DASH
        if isinstance(start, int | float):
            when = f"{start - t0_s:.1f} s"
            if isinstance(end, int | float) and end != start:
                when += f" → {end - t0_s:.1f} s"
            elif f.get("action"):
                when += " (instant)"
            elif end is None:
                when += " → end of run"

        if f.get("recovered") is False:
            recovery = "not recovered before the run ended" if f.get("availability_after") is None \
                else "not recovered"
        else:
            recovery = fmt.DASH if f.get("time_to_recover_s") is None else f"{f['time_to_recover_s']:.1f} s"
        target = f.get("availability_target")
        hold = f.get("hold_s")
        rows.append({
            "label": str(f.get("label") or f.get("index", "")), "target": str(f.get("target") or ""),
            "what": str(what), "scope": str(f.get("scope") or ""), "when": when,
            "before": _availability(f, "before"), "during": _availability(f, "during"),
            "after": _availability(f, "after"),
            "recovery": recovery,
            "recovery_rule": (f"back ≥ {fmt.fraction_pct(target, 1)} for {hold} s"
                              if isinstance(target, int | float) and hold is not None else ""),
            "errors": ", ".join(f"{k} {v}" for k, v in sorted((f.get("errors_by_kind") or {}).items())) or "none",
            "apply_errors": "; ".join(map(str, f.get("apply_errors") or [])),
        })
    return rows


def generic_rows(items: object) -> tuple[list[str], list[list[str]]]:
    """A list of flat dicts as (columns, rows of text): for blocks whose schema is still growing."""
    if not isinstance(items, list) or not items:
        return [], []
    columns: list[str] = []
    for item in items:
        for key in item if isinstance(item, dict) else []:
            if key not in columns:
                columns.append(key)
    rows = []
    for item in items:
        if isinstance(item, dict):
            rows.append([_cell(key, item.get(key)) for key in columns])
    return columns, rows


def _cell(key: str, value: object) -> str:
    if value is None:
        return fmt.DASH
    if isinstance(value, dict):
        return ", ".join(f"{k} {_cell(k, v)}" for k, v in sorted(value.items())) or fmt.DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and math.isnan(value):
        return fmt.DASH
    if isinstance(value, int | float):
        if key.endswith("_ms"):
            return fmt.ms(value)
        if key.startswith("availability") or key.endswith(("_rate", "_fraction")):
            return fmt.fraction_pct(value) if value <= 1 else f"{value:.2f}%"
        if key.endswith("_bytes"):
            return fmt.bytes_(value)
        if key.endswith("bytes_per_hour"):
            return fmt.with_unit(value, "bytes/h")
        return fmt.number(value)
    return str(value)


def reconciliation_view(results: dict) -> dict | None:
    """Counts and the discrepancies one by one; None when the run made no reconciliation."""
    recon = results.get("reconciliation")
    if not isinstance(recon, dict):
        return None
    counts = []
    for key in ("orders_checked", "lost", "duplicated", "mismatched"):
        if key in recon:
            counts.append((key.replace("_", " "), "not known" if recon[key] is None else fmt.number(recon[key])))
    if recon.get("settled") is not None:
        waited = recon.get("settle_wait_s")
        counts.append(("payments settled before reconciling",
                       ("yes" if recon["settled"] else "NO: some were still in flight")
                       + (f" (waited {waited:.1f} s)" if isinstance(waited, int | float) else "")))
    columns, rows = generic_rows(recon.get("details") or [])
    error = str(recon["error"]) if recon.get("error") else None
    return {"counts": counts, "columns": columns, "rows": rows, "error": error,
            "clean": not rows and not error and not any(recon.get(k) for k in ("lost", "duplicated", "mismatched"))}
