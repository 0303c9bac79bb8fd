"""Which charts a run gets, built from its reduced records (RunData.series, samples, events) and
results (no files written here).

``build_figures(run)`` returns {chart name: Figure}, in report order; the name is the PNG's
file name under charts/. Optional charts (memory) appear only when their data does.
"""

from __future__ import annotations

from matplotlib.figure import Figure

from harness.report import charts, model, series
from harness.report.rundata import RunData

METRIC_COLUMNS = {"rss": "rss_bytes", "uss": "uss_bytes"}


def metric_of(memory: dict | None) -> str:
    """"uss" or "rss" from the memory block's metric ("uss summed over ..."); rss by default."""
    text = str((memory or {}).get("metric") or "rss").lower()
    return next((m for m in METRIC_COLUMNS if text.startswith(m)), "rss")


def timeline(run: RunData) -> tuple[list, list, list, float]:
    """(stage spans, fault spans, markers, end offset s) for every time chart."""
    end_s = series.run_end_s(run.series.last_request_t_s, run.samples, run.events, run.t0_s)
    spans = series.stage_spans(run.manifest, run.events, run.t0_s, end_s)
    faults = series.fault_spans(run.events, run.t0_s, end_s)
    return spans, faults, series.markers(run.events, run.t0_s), end_s


def _stage_chart(run: RunData, kind: str) -> Figure:
    stages = run.results.get("stages") or []
    names = [str(s.get("name")) for s in stages]
    if kind == "p95":
        blocks = [s.get("api") if (s.get("api") or {}).get("count") else s.get("requests") or {} for s in stages]
        values = [b.get("p95_ms") for b in blocks]
        cis = [b.get("p95_ci_ms") or [None, None] for b in blocks]
        return charts.p95_chart(
            "API P95 per stage against the target lines (ramps excluded)", "P95 response time", names, values,
            [c[0] for c in cis], [c[1] for c in cis], model.target_lines(run.results, "p95"))
    def pct(value):
        return None if value is None else 100.0 * value

    measured = []
    for key, label in (("requests", "all requests"), ("api", "API requests (/api/)")):
        blocks = [s.get(key) or {} for s in stages]
        if not any(b.get("count") for b in blocks):
            continue
        cis = [b.get("availability_ci") or [None, None] for b in blocks]
        measured.append((label, [pct(b.get("availability")) for b in blocks], [pct(c[0]) for c in cis],
                         [pct(c[1]) for c in cis]))
    return charts.availability_chart(names, measured, model.target_lines(run.results, "availability"))


def _memory_chart(run: RunData, spans, faults, markers, end_s: float) -> Figure | None:
    memory = run.results.get("memory")
    if not isinstance(memory, dict) and not len(run.samples):
        return None
    shown = metric_of(memory if isinstance(memory, dict) else None)
    curve = series.memory_curve(run.samples, run.t0_s, METRIC_COLUMNS[shown])
    fit, warmup = None, None
    growth = (memory or {}).get("growth_bytes_per_hour")
    if isinstance(memory, dict) and isinstance(growth, int | float) and len(curve):
        role = "shop" if "shop" in curve.columns else curve.columns[0]
        window = memory.get("window_t_s")
        window_start_s = float(window[0]) - run.t0_s if isinstance(window, list) and window else 0.0
        warmup_end_s = window_start_s + float(memory.get("warmup_s") or 0.0)
        warmup = (window_start_s, warmup_end_s)
        steady = curve[role].dropna()
        steady = steady[steady.index >= warmup_end_s]
        if isinstance(window, list) and len(window) == 2:
            steady = steady[steady.index <= float(window[1]) - run.t0_s]
        if len(steady) >= 2:
            slope_per_s = float(growth) / 3600.0
            x = steady.index.to_numpy(dtype=float)
            intercept = series.theil_sen_intercept(x, steady.to_numpy(dtype=float), slope_per_s)
            fit = (float(x.min()), float(x.max()), intercept, slope_per_s)
    return charts.memory_chart(curve, shown, fit, warmup, spans, faults, markers, end_s)


def build_figures(run: RunData) -> dict[str, Figure]:
    """Every chart of the report, keyed by file name (``latency.png`` ...), in report order."""
    spans, faults, markers, end_s = timeline(run)
    t0, reduced = run.t0_s, run.series
    figures: dict[str, Figure] = {
        "latency.png": charts.latency_chart(reduced.latency, spans, faults, markers, end_s),
        "throughput.png": charts.throughput_chart(
            series.throughput_windows(reduced.window_counts, end_s), series.planned_rate(run.manifest, spans),
            series.generator_cpu(run.samples, t0), spans, faults, markers, end_s),
        "errors.png": charts.errors_chart(reduced.errors, spans, faults, markers, end_s),
    }
    if run.results.get("stages"):
        figures["availability.png"] = _stage_chart(run, "availability")
        figures["p95_per_stage.png"] = _stage_chart(run, "p95")
    figures["funnel.png"] = charts.funnel_chart(reduced.funnel)
    figures["coordinated_omission.png"] = charts.coordinated_omission_chart(
        reduced.journey_windows, reduced.start_delay, spans, faults, markers, end_s)
    memory = _memory_chart(run, spans, faults, markers, end_s)
    if memory is not None:
        figures["memory.png"] = memory
    return figures
