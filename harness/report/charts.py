"""The report's charts: matplotlib figures built from plain data, rendered to reproducible PNG bytes.

No pyplot: figures are ``matplotlib.figure.Figure`` objects on the Agg canvas, so there is no
global figure state and no GUI backend to pick. PNGs are byte-for-byte reproducible: fixed
style and font (DejaVu Sans, shipped with matplotlib), fixed size and dpi, and no "Software"
metadata.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # before anything imports pyplot; we never do, but a caller might

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from harness.report.series import FaultSpan, Marker, StageSpan  # noqa: E402

STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 10,
    "axes.titlesize": 12,
    "axes.titleweight": "bold",
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.fontsize": 9,
    "legend.framealpha": 0.9,
    "svg.hashsalt": "harness-report",
    "path.simplify": True,
}
WIDTH_IN, HEIGHT_IN, DPI = 11.0, 3.8, 100
# colour-blind-safe palette (Okabe-Ito) plus line styles and markers, so no series is told
# apart by colour alone
BLUE, ORANGE, GREEN, RED, PURPLE, SKY, YELLOW, GREY = (
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#777777")
KIND_STYLE = {  # error kind -> (colour, hatch)
    "http_5xx": (RED, ""), "timeout": (ORANGE, "//"), "connection": (PURPLE, "xx"),
    "http_4xx": (SKY, ".."), "business": (GREEN, "\\\\"), "unknown": (GREY, "--"),
}


def new_figure(rows: int = 1, height_in: float = HEIGHT_IN) -> tuple[Figure, list]:
    """A figure of ``rows`` axes sharing x, with the report's style applied."""
    with matplotlib.rc_context(STYLE):
        figure = Figure(figsize=(WIDTH_IN, height_in * rows), dpi=DPI, layout="constrained")
        FigureCanvasAgg(figure)
        axes = figure.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    return figure, list(axes)


def png_bytes(figure: Figure) -> bytes:
    """The figure as PNG bytes, identical for identical input."""
    buffer = io.BytesIO()
    with matplotlib.rc_context(STYLE):
        figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _ms_formatter(value: float, _pos: object) -> str:
    return f"{value / 1000:g} s" if value >= 1000 else f"{value:g} ms"


def log_ms_axis(ax) -> None:
    """A log-scale y axis in ms with readable ticks at 1, 2 and 5 × 10^k ("200 ms", "1 s")."""
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(_ms_formatter))
    ax.yaxis.set_minor_formatter(NullFormatter())


def legend_below(ax, handles: list, ncols: int = 5) -> None:
    """Legend under the axes, so it never hides data (fewer columns when labels are long)."""
    handles = ax.get_legend_handles_labels()[0] + handles
    if any(len(h.get_label()) > 28 for h in handles):
        ncols = min(ncols, 3)
    ax.legend(handles=handles, loc="upper center",
              bbox_to_anchor=(0.5, -0.16), ncols=ncols, frameon=False)


FAULT_STYLES = [(RED, "xx"), (PURPLE, "\\\\"), (ORANGE, "++"), (GREEN, "oo")]
MARKER_STYLES = {"exit": (0, (4, 2)), "interrupt": (0, (1, 1)), "kill": (0, (6, 2, 1, 2))}


def mark_timeline(ax, spans: list[StageSpan], faults: list[FaultSpan], markers: list[Marker]) -> list:
    """Stage boundaries, ramps, faults and exits drawn on a time axis; returns legend handles.

    Only stage names are written on the plot; faults and exits go to the legend (with their
    times), because text on the plot collides as soon as two things happen close together.
    """
    from matplotlib.lines import Line2D

    handles = []
    for span in spans:
        ax.axvline(span.start_s, color="black", linewidth=1.0, linestyle="-", alpha=0.7)
        if span.ramp_end_s > span.start_s:
            ax.axvspan(span.start_s, span.ramp_end_s, facecolor="#bbbbbb", alpha=0.35, hatch="///",
                       edgecolor="#999999", linewidth=0, zorder=0)
        ax.text((span.start_s + span.end_s) / 2, 1.0, f"stage {span.name}", transform=ax.get_xaxis_transform(),
                ha="center", va="bottom", fontsize=9, fontweight="bold")
    if any(s.ramp_end_s > s.start_s for s in spans):
        handles.append(Patch(facecolor="#bbbbbb", alpha=0.35, hatch="///", edgecolor="#999999",
                             label="ramp (not in stage figures)"))
    windows = [f for f in faults if f.end_s is not None]
    for i, fault in enumerate(windows):
        colour, hatch = FAULT_STYLES[i % len(FAULT_STYLES)]
        ax.axvspan(fault.start_s, fault.end_s, facecolor=colour, alpha=0.12, hatch=hatch, edgecolor=colour,
                   linewidth=0, zorder=0)
        handles.append(Patch(facecolor=colour, alpha=0.25, hatch=hatch, edgecolor=colour,
                             label=f"fault {fault.label} ({fault.start_s:.0f}–{fault.end_s:.0f} s)"))
    for fault in faults:
        if fault.end_s is None:
            ax.axvline(fault.start_s, color=RED, linewidth=2.0, linestyle=MARKER_STYLES["kill"])
            handles.append(Line2D([], [], color=RED, linewidth=2.0, linestyle=MARKER_STYLES["kill"],
                                  label=f"fault {fault.label} at {fault.start_s:.1f} s"))
    for marker in markers:
        style = MARKER_STYLES["interrupt" if marker.label.startswith("interrupted") else "exit"]
        ax.axvline(marker.at_s, color="black", linewidth=1.5, linestyle=style)
        handles.append(Line2D([], [], color="black", linewidth=1.5, linestyle=style,
                              label=f"{marker.label} at {marker.at_s:.1f} s"))
    return handles


def _finish_time_axes(axes: list, end_s: float) -> None:
    axes[-1].set_xlabel("time since start of run (s)")
    # the sampler starts before t0 (the platform is up before the load): show those seconds too
    lefts = [ax.dataLim.x0 for ax in axes if np.isfinite(ax.dataLim.x0)]
    left = min([0.0] + lefts)
    for ax in axes:
        ax.set_xlim(left, max(end_s, left + 1.0))


def no_data(title: str, message: str) -> Figure:
    """A small placeholder chart saying what is missing, so a gap is visible, not silent."""
    figure, (ax,) = new_figure(height_in=1.2)
    ax.set_axis_off()
    ax.set_title(title)
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, fontsize=11)
    return figure


def latency_chart(windows: pd.DataFrame, spans, faults, markers, end_s: float) -> Figure:
    """P50/P95/P99 of request response time per window, log scale (ms)."""
    if not len(windows):
        return no_data("Request latency over time", "no requests recorded")
    figure, (ax,) = new_figure(height_in=4.2)
    x = windows.index.to_numpy() + 2.5  # plot at the window's middle
    for column, label, colour, style, mark in (("p50_ms", "P50", GREEN, "-", "o"), ("p95_ms", "P95", BLUE, "-", "s"),
                                               ("p99_ms", "P99", RED, "--", "^")):
        ax.plot(x, windows[column], label=label, color=colour, linestyle=style, marker=mark, markersize=3.5,
                linewidth=1.6)
    log_ms_axis(ax)
    ax.set_ylabel("response time (log scale)")
    ax.set_title("Request latency over time (all requests, 5 s windows)", pad=18)
    handles = mark_timeline(ax, spans, faults, markers)
    _finish_time_axes([ax], end_s)
    legend_below(ax, handles, ncols=6)
    return figure


def throughput_chart(windows: pd.DataFrame, planned: tuple[list, list], gen_cpu: pd.Series,
                     spans, faults, markers, end_s: float) -> Figure:
    """Journeys/s intended vs achieved (with the profile's plan), requests/s, generator CPU."""
    if not len(windows):
        return no_data("Throughput", "no journeys or requests recorded")
    figure, (ax, ax_req, ax_cpu) = new_figure(rows=3, height_in=2.6)
    x = windows.index.to_numpy()
    edges = np.append(x, x[-1] + 5.0)
    if planned[0]:
        ax.plot(planned[0], planned[1], color="black", linestyle=":", linewidth=1.5, label="planned (profile)")
    ax.stairs(windows["intended_per_s"].to_numpy(), edges, baseline=None, color=BLUE, linewidth=1.8,
              label="intended arrivals")
    ax.stairs(windows["achieved_per_s"].to_numpy(), edges, baseline=None, color=ORANGE, linewidth=1.8,
              linestyle="--", label="achieved (started)")
    if windows["dropped_per_s"].any():
        ax.bar(x, windows["dropped_per_s"], width=5.0, align="edge", color=RED, alpha=0.6, hatch="//",
               label="dropped arrivals")
    ax.set_ylabel("journeys / s")
    ax.set_title("Throughput: intended vs achieved arrivals", pad=18)
    handles = mark_timeline(ax, spans, faults, markers)
    ax.legend(handles=ax.get_legend_handles_labels()[0] + handles, loc="upper left", bbox_to_anchor=(1.01, 1.0),
              frameon=False)
    ax_req.stairs(windows["requests_per_s"].to_numpy(), edges, baseline=None, color=PURPLE, linewidth=1.6,
                  label="requests / s")
    ax_req.set_ylabel("requests / s")
    mark_timeline(ax_req, [], faults, markers)
    ax_req.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    if len(gen_cpu):
        ax_cpu.plot(gen_cpu.index.to_numpy(), gen_cpu.to_numpy(), color=GREY, linewidth=1.4,
                    label="load generator CPU")
        ax_cpu.axhline(90, color=RED, linestyle="--", linewidth=1, label="90%: generator\nmay be the bottleneck")
        ax_cpu.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    else:
        ax_cpu.text(0.5, 0.5, "no generator samples", transform=ax_cpu.transAxes, ha="center")
    ax_cpu.set_ylabel("generator CPU (%)")
    ax_cpu.set_ylim(0, max(105.0, float(gen_cpu.max()) * 1.1 if len(gen_cpu) else 0.0))
    mark_timeline(ax_cpu, [], faults, markers)
    _finish_time_axes([ax, ax_req, ax_cpu], end_s)
    return figure


# Above this many 5 s windows with failures (~80 minutes of them) the errors chart draws each kind
# as one stacked step area: a bar per window per kind is a matplotlib artist each, ~10 kB apiece
# (0.5 GB for a day's three kinds).
MAX_ERROR_BARS = 1000


def errors_chart(counts: pd.DataFrame, spans, faults, markers, end_s: float) -> Figure:
    """Failed requests per 5 s window, stacked by error kind (colour and hatch per kind); bars, or
    for a long run (over :data:`MAX_ERROR_BARS` windows) the same stack as step areas."""
    if not len(counts):
        return no_data("Errors by kind over time", "no failed requests")
    figure, (ax,) = new_figure()
    if len(counts) > MAX_ERROR_BARS:  # a long soak: one stacked step area per kind, not a bar per window
        first, last = float(counts.index.min()), float(counts.index.max())
        counts = counts.reindex(np.arange(first, last + 5.0, 5.0), fill_value=0)
    x = counts.index.to_numpy()
    bottom = np.zeros(len(x))
    for kind in counts.columns:
        colour, hatch = KIND_STYLE.get(kind, (GREY, "--"))
        values = counts[kind].to_numpy()
        label = f"{kind} ({int(values.sum())})"
        if len(x) > MAX_ERROR_BARS:
            edges = np.append(x, x[-1] + 5.0)
            ax.fill_between(edges, np.append(bottom, bottom[-1]), np.append(bottom + values, bottom[-1] + values[-1]),
                            step="post", color=colour, hatch=hatch, edgecolor="white", linewidth=0.0, label=label)
        else:
            ax.bar(x, values, width=5.0, align="edge", bottom=bottom, color=colour, hatch=hatch, edgecolor="white",
                   linewidth=0.5, label=label)
        bottom = bottom + values
    ax.set_ylabel("failed requests per 5 s")
    ax.set_title("Errors by kind over time", pad=18)
    handles = mark_timeline(ax, spans, faults, markers)
    legend_below(ax, handles, ncols=6)
    _finish_time_axes([ax], end_s)
    return figure


def p95_chart(title: str, ylabel: str, names: list[str], values: list, lows: list, highs: list,
              target_lines: list[tuple[str, float, str, str | None]]) -> Figure:
    """P95 per stage (ms) with its 95% interval, against horizontal target lines.

    ``target_lines``: (label, value, status, stage) in the unit of ``values``; a line with a
    stage is drawn over that stage only (a target on the 300% stage says nothing about 100%).
    """
    figure, (ax,) = new_figure(height_in=3.6)
    xs = np.arange(len(names))
    vals = np.array([np.nan if v is None else v for v in values], dtype=float)
    lo = np.array([np.nan if v is None else v for v in lows], dtype=float)
    hi = np.array([np.nan if v is None else v for v in highs], dtype=float)
    err = np.nan_to_num(np.vstack([np.clip(vals - lo, 0, None), np.clip(hi - vals, 0, None)]))
    ax.errorbar(xs, vals, yerr=err, fmt="o", color=BLUE, ecolor=BLUE, capsize=8, markersize=8, linewidth=2.2,
                label="measured, with 95% interval")

    def show(v: float) -> str:
        return _ms_formatter(round(v, 1), None)

    for x, v in zip(xs, vals, strict=True):
        if not np.isnan(v):
            ax.annotate(show(v), (x, v), xytext=(12, 0), textcoords="offset points", va="center", fontsize=10,
                        fontweight="bold")
    _target_lines(ax, names, target_lines, show)
    ax.set_xticks(xs, [f"stage {n}" for n in names])
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.set_ylabel(ylabel)
    ax.yaxis.set_major_formatter(FuncFormatter(_ms_formatter))
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.grid(axis="x", visible=False)
    legend_below(ax, [], ncols=2)
    return figure


def availability_chart(names: list[str], measured: list[tuple[str, list, list, list]],
                       target_lines: list[tuple[str, float, str, str | None]]) -> Figure:
    """Availability per stage (%) for each measured series (label, values, lows, highs), side
    by side, with their 95% intervals, against the availability targets."""
    figure, (ax,) = new_figure(height_in=3.6)
    xs = np.arange(len(names), dtype=float)
    offsets = np.linspace(-0.12, 0.12, len(measured)) if len(measured) > 1 else [0.0]
    for (label, values, lows, highs), offset, colour, mark in zip(measured, offsets, (BLUE, PURPLE), ("o", "s"),
                                                                   strict=False):
        vals = np.array([np.nan if v is None else v for v in values], dtype=float)
        lo = np.array([np.nan if v is None else v for v in lows], dtype=float)
        hi = np.array([np.nan if v is None else v for v in highs], dtype=float)
        err = np.nan_to_num(np.vstack([np.clip(vals - lo, 0, None), np.clip(hi - vals, 0, None)]))
        ax.errorbar(xs + offset, vals, yerr=err, fmt=mark, color=colour, capsize=6, markersize=7, linewidth=2,
                    label=f"{label}, with 95% interval")
        for x, v in zip(xs + offset, vals, strict=True):
            if not np.isnan(v):
                ax.annotate(f"{v:.2f}%", (x, v), xytext=(9, 0), textcoords="offset points", va="center",
                            fontsize=9, color=colour, fontweight="bold")
    _target_lines(ax, names, target_lines, lambda v: f"{v:.2f}%")
    ax.set_xticks(xs, [f"stage {n}" for n in names])
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.set_ylabel("availability (%)")
    ax.set_title("Availability per stage, with 95% Clopper-Pearson intervals (ramps excluded)")
    ax.grid(axis="x", visible=False)
    legend_below(ax, [], ncols=2)
    return figure


def _target_lines(ax, names: list[str], lines: list[tuple[str, float, str, str | None]], show) -> None:
    """Horizontal target lines; a line scoped to one stage spans that stage only."""
    styles = ["--", "-.", ":", (0, (5, 1))]
    for i, (label, value, status, stage) in enumerate(lines):
        colour = RED if status in ("fail", "error") else ORANGE if status == "warn" else GREEN
        style = styles[i % len(styles)]
        text = f"target {label}: {show(value)} ({status})" + (f", stage {stage}" if stage in names else "")
        if stage in names:
            x = names.index(stage)
            ax.hlines(value, x - 0.45, x + 0.45, colors=colour, linestyles=style, linewidth=2.2, label=text)
        else:
            ax.axhline(value, color=colour, linestyle=style, linewidth=1.6, label=text)


def funnel_chart(steps: list[tuple[str, int]]) -> Figure:
    """Visitors reaching each funnel step, with the share of visits and of the previous step."""
    figure, (ax,) = new_figure(height_in=2.8)
    names = [name for name, _ in steps][::-1]
    counts = [count for _, count in steps][::-1]
    ax.barh(names, counts, color=[GREEN, ORANGE, SKY, BLUE][: len(names)], edgecolor="black", linewidth=0.6)
    visits = steps[0][1] or 1
    for i, (_name, count) in enumerate(steps):
        previous = steps[i - 1][1] if i else count
        share = ""
        if i:
            share = f"  ({100 * count / visits:.1f}% of visits"
            if i > 1:
                share += f", {100 * count / previous:.1f}% of {steps[i - 1][0]}" if previous else ""
            share += ")"
        ax.text(count, len(steps) - 1 - i, f"  {count}{share}", va="center", fontsize=10)
    ax.set_xlim(0, max(counts + [1]) * 1.45)
    ax.set_xlabel("visitors (arrivals not dropped)")
    ax.set_title("Funnel: visits → cart → checkout → paid")
    ax.grid(axis="y", visible=False)
    return figure


def coordinated_omission_chart(windows: pd.DataFrame, delays: pd.DataFrame, spans, faults, markers,
                               end_s: float) -> Figure:
    """Top: P95 of journey service time vs from intended start (log ms). Bottom: how late
    arrivals started against the schedule (P95 and max, ms)."""
    if not len(windows) and not len(delays):
        return no_data("Coordinated omission", "no timed journeys recorded")
    figure, (ax, ax_delay) = new_figure(rows=2, height_in=3.0)
    if len(windows):
        x = windows.index.to_numpy() + 2.5
        ax.plot(x, windows["service_p95_ms"], color=BLUE, marker="o", markersize=4, linewidth=1.8,
                label="P95 service time (from actual start)")
        ax.plot(x, windows["from_intended_p95_ms"], color=RED, linestyle="--", marker="^", markersize=4,
                linewidth=1.6, label="P95 from intended start")
        log_ms_axis(ax)
    ax.set_ylabel("journey time (log)")
    ax.set_title("Coordinated omission: journey time from actual vs intended start", pad=18)
    handles = mark_timeline(ax, spans, faults, markers)
    ax.legend(handles=ax.get_legend_handles_labels()[0] + handles, loc="upper left", bbox_to_anchor=(1.01, 1.0),
              frameon=False)
    if len(delays):
        x = delays.index.to_numpy() + 2.5
        ax_delay.plot(x, delays["p95_ms"], color=PURPLE, marker="s", markersize=4, linewidth=1.6,
                      label="P95 start delay")
        ax_delay.plot(x, delays["max_ms"], color=GREY, linestyle=":", marker="v", markersize=4, linewidth=1.4,
                      label="max start delay")
        ax_delay.set_ylim(bottom=0)
        ax_delay.yaxis.set_major_formatter(FuncFormatter(_ms_formatter))
    ax_delay.set_ylabel("arrival start delay")
    ax_delay.set_title("How late visits started against the open-model schedule", fontsize=10)
    mark_timeline(ax_delay, [], faults, markers)
    ax_delay.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    _finish_time_axes([ax, ax_delay], end_s)
    return figure


def memory_chart(curve: pd.DataFrame, metric: str, fit: tuple[float, float, float, float] | None,
                 warmup: tuple[float, float] | None, spans, faults, markers, end_s: float) -> Figure:
    """Platform memory per role (MB) with the fitted growth line over the steady part.

    ``fit``: (from_s, to_s, intercept_bytes, slope_bytes_per_s) for the fitted role;
    ``warmup``: (from_s, to_s) cut before fitting.
    """
    if not len(curve):
        return no_data("Platform memory", "no platform samples")
    figure, (ax,) = new_figure(height_in=4.0)
    styles = ["-", "--", "-.", ":"]
    colours = [BLUE, PURPLE, GREEN, GREY]
    # the fitted role first, so it gets the solid line under the fit
    roles = sorted(curve.columns, key=lambda r: (r != "shop", r))
    for i, role in enumerate(roles):
        series = curve[role].dropna()
        ax.plot(series.index.to_numpy(), series.to_numpy() / 1e6, label=f"{role} {metric.upper()}",
                color=colours[i % 4], linestyle=styles[i % 4], linewidth=2.0 if i == 0 else 1.5, zorder=2)
    if warmup is not None and warmup[1] > warmup[0]:
        ax.axvspan(*warmup, facecolor="#f0e442", alpha=0.25, label="warm-up (excluded from fit)", zorder=0)
    if fit is not None:
        start, stop, intercept, slope = fit
        xs = np.array([start, stop])
        ax.plot(xs, (intercept + slope * xs) / 1e6, color=RED, linewidth=1.6, linestyle=(0, (6, 4)), zorder=3,
                label=f"fitted growth: {slope * 3600 / 1e9:.3f} GB/h")
    ax.set_ylabel(f"{metric.upper()} (MB, 10^6 bytes)")
    ax.set_title("Platform memory over time", pad=18)
    handles = mark_timeline(ax, spans, faults, markers)
    legend_below(ax, handles, ncols=3)
    _finish_time_axes([ax], end_s)
    return figure
