"""capacity.md and capacity.html: a capacity search's result, its knee chart and every probe.

Rendered from the body of capacity.json (and the knee chart's PNG bytes) alone, so the page
says exactly what the file says. The HTML is one self-contained page (the chart embedded as
base64, inline CSS, no scripts), like a run's report.html.
"""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path

import jinja2

from harness import __version__
from harness.core import capacity as core
from harness.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OK, InputError
from harness.report.fmt import md_table
from harness.rundir import write_bytes_atomic

_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def probe_rows(body: dict) -> list[dict]:
    """One row per probe that ran, in the order they ran: rate, phase, figures and decision."""
    rows = []
    for record in body.get("probes") or []:
        obs = record.get("observation") or {}
        judged = record.get("judgement") or {}
        breaches = [b.get("target_id", "?") for b in judged.get("breaches") or []]
        if "judgement" not in record:
            decision = f"not judged ({record.get('end_reason', '?')})"
        elif judged.get("generator_bound"):
            decision = "generator-bound"
        else:
            decision = "pass" if judged.get("passed") else "BREAK: " + ", ".join(breaches)
        cpu = obs.get("platform_cpu_percent") or {}
        shop = cpu.get("shop-worker", cpu.get("shop"))
        rows.append({
            "index": record.get("index"), "offered": _num(record.get("journeys_per_s"), 3),
            "phase": record.get("phase", ""), "achieved": _num(obs.get("achieved_journeys_per_s"), 3),
            "p50": _ms(obs.get("p50_ms")), "p95": _ms(obs.get("p95_ms")) + _ci(obs.get("p95_ci_ms")), "p99": _ms(obs.get("p99_ms")),
            "dropped": f"{obs.get('dropped_arrivals', 0)}/{obs.get('scheduled_arrivals', 0)}" if obs else "",
            "shop_cpu": _pct(shop), "generator_cpu": _pct(obs.get("generator_cpu_percent_max")),
            "host_cpu": _pct(obs.get("host_cpu_percent")), "db_share": _share(obs.get("db_time_share")),
            "gateway_share": _share(obs.get("gateway_time_share")), "decision": decision,
            "why": "; ".join(judged.get("generator_reasons") or []),
            "passed": bool(judged.get("passed")) and not judged.get("generator_bound"),
            "run_dir": record.get("run_dir", ""), "report": record.get("report"),
        })
    return rows


def key_facts(body: dict) -> list[tuple[str, str]]:
    """(label, value) pairs of the result, in reading order."""
    lo, hi = body.get("capacity_interval_journeys_per_s") or [None, None]
    head = body.get("headroom") or {}
    facts = [("capacity", _capacity_text(body)),
             ("interval (highest pass .. lowest break)", f"{_num(lo, 3)} .. {_num(hi, 3)} journeys/s"),
             ("nominal", f"{_num(body.get('nominal_journeys_per_s'), 3)} journeys/s")]
    if head:
        inside = "inside" if head.get("within") else ("not shown inside" if body.get("lower_bound") else "outside")
        facts.append(("headroom", f"{head.get('factor', 0):.2f}× nominal; {head.get('required_factor', 3):.0%} of nominal "
                                  f"({_num(head.get('required_journeys_per_s'), 3)} journeys/s) is {inside} "
                                  f"(margin {head.get('margin_percent', 0):+.0f}%)"))
    first = body.get("first_break")
    if first:
        facts.append(("first to break", f"{first.get('target')} on {first.get('where')} at "
                                        f"{_num(first.get('journeys_per_s'), 3)} journeys/s: {first.get('explanation')}"))
    sat = body.get("saturation")
    if sat:
        facts.append(("saturated", f"{sat.get('resource')}{' (lower bound)' if sat.get('lower_bound') else ''} at "
                                   f"{_num(sat.get('journeys_per_s'), 3)} journeys/s (means over the probe's steady part): " + "; ".join(sat.get("evidence") or [])))
    undecided = _undecided_at(body, lo)
    if undecided:
        facts.append(("undecided at the capacity", ", ".join(undecided) + ": their 95% intervals straddle the "
                      "threshold (too few samples in one probe to pass or fail), so they did not stop the search; "
                      "a longer --probe-s narrows them"))
    stop = body.get("stop") or {}
    facts.append(("search stopped", f"{stop.get('reason', '?')}: {stop.get('why', '')}"))
    facts.append(("setup", _setup_text(body)))
    return facts


def capacity_markdown(body: dict) -> str:
    """capacity.md: the result, the chart (as a link) and the probe table."""
    lines = [f"# Capacity search: {_capacity_text(body)}", ""]
    lines += [f"- {sentence}" for sentence in body.get("sentences") or []] + [""]
    lines += md_table(["", ""], [[label, value] for label, value in key_facts(body)]) + [""]
    lines += ["![knee chart](knee.png)", "", "## Probes", ""]
    lines += md_table(["#", "offered/s", "phase", "achieved/s", "API P50", "API P95", "API P99", "dropped", "shop CPU",
                       "generator CPU", "host CPU", "DB share", "gateway share", "decision", "run"],
                      [[row["index"], row["offered"], row["phase"], row["achieved"], row["p50"], row["p95"], row["p99"],
                        row["dropped"], row["shop_cpu"], row["generator_cpu"], row["host_cpu"], row["db_share"],
                        row["gateway_share"], row["decision"] + (f" ({row['why']})" if row["why"] else ""),
                        f"[{row['run_dir']}]({row['report'] or row['run_dir']})"] for row in probe_rows(body)],
                      "rrlrrrrrrrrrrll")
    lines += ["", f"Targets each probe was judged by: {', '.join(body.get('targets') or [])} "
                  f"(capacity-targets.toml). P95 with its 95% interval; CPU in % of one "
                  f"core, host CPU in % of all {body.get('cores', '?')} cores (steady part); DB share = the shop's database time / its request time.",
              "", f"_shop-harness {__version__}; from capacity.json (status {body.get('status')})._", ""]
    return "\n".join(lines)


def capacity_html(body: dict, knee_png: bytes | None) -> str:
    """capacity.html: one self-contained page."""
    return _ENV.from_string(_TEMPLATE).render(
        title=_capacity_text(body), sentences=body.get("sentences") or [], facts=key_facts(body),
        rows=probe_rows(body), targets=", ".join(body.get("targets") or []), cores=body.get("cores", "?"),
        knee=base64.b64encode(knee_png).decode("ascii") if knee_png else None, status=body.get("status"),
        version=__version__, within=(body.get("headroom") or {}).get("within"), lower_bound=body.get("lower_bound"))


# --- the knee chart ---------------------------------------------------------------------------------
def knee_png(probes: list[core.Probe], summary: dict) -> bytes:
    """PNG: API P50/P95/P99 (log ms, left) and achieved journeys/s (right) against offered
    journeys/s; the latency targets as horizontal lines, the required rate (300% of nominal),
    the capacity and the lowest break as vertical lines; breaking probes marked with a cross."""
    from harness.report.charts import log_ms_axis, new_figure, png_bytes

    figure, (ax,) = new_figure(1, height_in=5.0)
    ordered = sorted(probes, key=lambda p: p.journeys_per_s)
    rates = [p.journeys_per_s for p in ordered]
    for attr, colour in (("p50_ms", "#6baed6"), ("p95_ms", "#2171b5"), ("p99_ms", "#08306b")):
        points = [(p.journeys_per_s, getattr(p.observation, attr)) for p in ordered if getattr(p.observation, attr)]
        if points:  # every probe a dot; the line through the mean of repeated rates
            ax.scatter(*zip(*points, strict=True), color=colour, s=18)
            line = _mean_by_rate(points)
            ax.plot(*zip(*line, strict=True), marker="o", color=colour, label=attr.replace("_ms", "").upper())
    broke = [(p.journeys_per_s, p.observation.p95_ms) for p in ordered
             if not p.judgement.passed and not p.judgement.generator_bound and p.observation.p95_ms]
    if broke:
        ax.scatter(*zip(*broke, strict=True), marker="x", s=90, color="#cb181d", zorder=5, label="probe broke a target")
    held = [(p.journeys_per_s, p.observation.p95_ms) for p in ordered if p.judgement.generator_bound and p.observation.p95_ms]
    if held:  # neither pass nor break: the generator, not the platform, was the limit
        ax.scatter(*zip(*held, strict=True), marker="^", s=90, facecolors="none", edgecolors="#d94801", zorder=5,
                   label="generator-bound (not judged)")
    log_ms_axis(ax)
    seen: set[float] = set()
    for target in ordered[0].observation.targets if ordered else ():
        if target.unit == "ms" and target.threshold and target.scope in ("api", "requests") and target.threshold not in seen:
            ax.axhline(target.threshold, color="#fd8d3c", linestyle="--", linewidth=1)
            ax.annotate(f"{target.id}: {target.threshold:g} ms", (0.99 - 0.2 * len(seen), target.threshold),
                        xycoords=("axes fraction", "data"), ha="right", fontsize=8, color="#d94801", va="bottom")
            seen.add(target.threshold)
    head = summary["headroom"]
    lo, hi = summary["capacity_interval_journeys_per_s"]
    ax.axvline(head["required_journeys_per_s"], color="#737373", linestyle=":",
               label=f"{head['required_factor']:.0%} of nominal")
    if lo:
        ax.axvline(lo, color="#238b45", label=f"capacity {lo:.3g}/s" + (" (lower bound)" if summary["lower_bound"] else ""))
    if hi:
        ax.axvline(hi, color="#cb181d", linewidth=1, label=f"breaks at {hi:.3g}/s")
    ax.set_xlabel("offered journeys/s")
    ax.set_ylabel("API latency")
    twin = ax.twinx()
    achieved = _mean_by_rate([(p.journeys_per_s, p.observation.achieved_journeys_per_s) for p in ordered
                              if p.observation.achieved_journeys_per_s is not None])
    if achieved:
        twin.plot(*zip(*achieved, strict=True), marker="s", color="#41ab5d", label="achieved journeys/s")
    top = max([*rates, head["required_journeys_per_s"], hi or 0.0]) * 1.1
    ax.set_xlim(0, top)
    twin.plot([0, top], [0, top], color="#41ab5d", linestyle=":", linewidth=0.8, label="achieved = offered")
    twin.set_ylabel("achieved journeys/s")
    twin.set_ylim(0, top)
    twin.grid(False)
    ax.set_title("Capacity knee: latency and achieved rate against offered load")
    handles = ax.get_legend_handles_labels()
    twin_handles = twin.get_legend_handles_labels()
    ax.legend(handles[0] + twin_handles[0], handles[1] + twin_handles[1], loc="upper center", fontsize=8,
              bbox_to_anchor=(0.5, -0.12), ncols=5, frameon=False)
    return png_bytes(figure)


def _mean_by_rate(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """(rate, mean of the values at that rate), by rate."""
    by_rate: dict[float, list[float]] = {}
    for rate, value in points:
        by_rate.setdefault(rate, []).append(value)
    return [(rate, sum(values) / len(values)) for rate, values in sorted(by_rate.items())]


# --- re-rendering a finished search ----------------------------------------------------------------
def probe_from_record(record: dict) -> core.Probe | None:
    """A capacity.json probe record back as a :class:`harness.core.capacity.Probe` (None for a
    probe that was not judged)."""
    obs, judged = record.get("observation"), record.get("judgement")
    if not obs or not judged:
        return None
    fields = {name for name in core.ProbeObservation.__dataclass_fields__}
    values = {k: v for k, v in obs.items() if k in fields}
    values["targets"] = tuple(core.TargetOutcome(**{k: v for k, v in t.items()
                                                    if k in core.TargetOutcome.__dataclass_fields__})
                              for t in obs.get("targets") or [])
    if values.get("p95_ci_ms") is not None:
        values["p95_ci_ms"] = tuple(values["p95_ci_ms"])
    breaches = tuple(core.Breach(**{k: (math.inf if k == "excess" and v is None else v) for k, v in b.items()
                                    if k in core.Breach.__dataclass_fields__})
                     for b in judged.get("breaches") or [])
    judgement = core.ProbeJudgement(bool(judged.get("passed")), breaches, bool(judged.get("generator_bound")),
                                    tuple(judged.get("generator_reasons") or ()), tuple(judged.get("uncertain") or ()))
    return core.Probe(float(record["journeys_per_s"]), str(record.get("phase", "")),
                      core.ProbeObservation(**values), judgement)


def rerender(path: Path) -> tuple[dict, list[Path], int]:
    """Render knee.png, capacity.md and capacity.html again from ``path``/capacity.json alone
    (the probes are not re-judged: ``harness report PROBE_DIR`` re-judges one). Returns (the
    body, the files written, the exit code the search would give). Raises InputError naming
    the file when capacity.json is missing or malformed."""
    source = Path(path) / "capacity.json"
    try:
        body = json.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise InputError(f"{path}: not a capacity search directory (no capacity.json)") from error
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{source}: cannot be read as JSON: {error}") from error
    if not isinstance(body, dict) or body.get("kind") != "capacity" or not isinstance(body.get("probes"), list):
        raise InputError(f"{source}: not a capacity result (kind \"capacity\" with a probes list expected)")
    try:
        probes = [p for p in (probe_from_record(r) for r in body["probes"]) if p is not None]
        summary = {"headroom": body["headroom"], "capacity_interval_journeys_per_s":
                   body["capacity_interval_journeys_per_s"], "lower_bound": body["lower_bound"]}
    except (KeyError, TypeError, ValueError) as error:
        raise InputError(f"{source}: malformed capacity result: {type(error).__name__}: {error}") from error
    written = []
    png = knee_png(probes, summary) if probes else None
    files = ([("knee.png", png)] if png is not None else []) + [
        ("capacity.md", capacity_markdown(body).encode("utf-8")), ("capacity.html", capacity_html(body, png).encode("utf-8"))]
    for name, data in files:  # each to a temporary name, then renamed into place
        target = Path(path) / name
        write_bytes_atomic(target, data)
        written.append(target)
    lo, hi = summary["capacity_interval_journeys_per_s"]
    code = EXIT_INVALID if not probes or (lo is None and hi is None) else (
        EXIT_OK if summary["headroom"].get("within") else EXIT_FAILED)
    if (body.get("stop") or {}).get("reason") == "interrupted":
        code = EXIT_INTERRUPTED  # as the search itself exited
    return body, written, code


def _undecided_at(body: dict, rate: float | None) -> list[str]:
    """Targets left undecided (interval straddling) by a probe at ``rate``, in first-seen order."""
    seen: list[str] = []
    for record in body.get("probes") or []:
        if rate is not None and record.get("journeys_per_s") == rate:
            seen += [t for t in (record.get("judgement") or {}).get("uncertain") or [] if t not in seen]
    return seen


def _capacity_text(body: dict) -> str:
    lo, hi = body.get("capacity_interval_journeys_per_s") or [None, None]
    if lo is None:
        return f"below {_num(hi, 3)} journeys/s" if hi is not None else "unknown"
    if hi is None:
        return f"at least {_num(lo, 3)} journeys/s (lower bound)"
    return f"{_num(lo, 3)} journeys/s" + ("" if body.get("confirmed") else " (not confirmed)")


def _setup_text(body: dict) -> str:
    where = body.get("target") or "embedded platform"
    parts = [f"profile {(body.get('profile') or {}).get('path', '?')}", where,
             f"faults {body.get('faults') or 'none'}", f"platform workers {body.get('platform_workers') or 1}",
             f"Locust workers {body.get('workers') or 'one local process'}", f"probe {body.get('probe_s')} s",
             f"{body.get('cores', '?')} cores"]
    return ", ".join(str(p) for p in parts)


def _num(value, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}g}"


def _ms(value) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


def _ci(interval) -> str:
    return "" if not interval or None in interval else f" ({interval[0]:.0f}..{interval[1]:.0f})"


def _pct(value) -> str:
    return "n/a" if value is None else f"{value:.0f}%"


def _share(value) -> str:
    return "n/a" if value is None else f"{value:.0%}"


_TEMPLATE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Capacity {{ title }}</title>
<style>
  body { font-family: "DejaVu Sans", Verdana, Arial, sans-serif; font-size: 15px; line-height: 1.45; color: #1d2939;
         margin: 0 auto; max-width: 1280px; padding: 16px 24px 48px; }
  h1 { font-size: 24px; } h2 { font-size: 20px; margin-top: 32px; border-bottom: 2px solid #1d2939; }
  .box { border: 3px solid; border-radius: 8px; padding: 10px 18px; margin: 12px 0; }
  .ok { border-color: #146c2e; background: #e3f4e8; } .bad { border-color: #b42318; background: #fde8e7; }
  .bound { border-color: #8a5a00; background: #fff4d6; border-style: dashed; }
  table { border-collapse: collapse; width: 100%; font-size: 13px; margin: 6px 0 12px; }
  th, td { border: 1px solid #d0d5dd; padding: 3px 6px; text-align: left; vertical-align: top; }
  th { background: #f2f4f7; } td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
  tr.brk { background: #fde8e7; } tr.gen { background: #fff4d6; }
  table.facts th { width: 260px; } img { max-width: 100%; } p.note { color: #475467; font-size: 13px; }
</style>
</head>
<body>
<h1>Capacity: {{ title }}</h1>
<div class="box {{ 'bound' if lower_bound else ('ok' if within else 'bad') }}">
<ul>{% for s in sentences %}<li>{{ s }}</li>{% endfor %}</ul>
</div>
<table class="facts">{% for label, value in facts %}<tr><th>{{ label }}</th><td>{{ value }}</td></tr>{% endfor %}</table>
{% if knee %}<h2>Knee</h2>
<img alt="API P50/P95/P99 and achieved journeys/s against offered journeys/s" src="data:image/png;base64,{{ knee }}">
<p class="note">API latency percentiles (log scale, left) and achieved journeys/s (right) against the offered rate;
dashed lines are the latency targets, crosses the probes that broke a target, open triangles the probes the load
generator held back (neither pass nor break).</p>{% endif %}
<h2>Probes</h2>
<table>
<tr><th>#</th><th>offered/s</th><th>phase</th><th>achieved/s</th><th>P50</th><th>P95</th><th>P99</th><th>dropped</th>
<th>shop CPU</th><th>generator CPU</th><th>host CPU</th><th>DB share</th><th>gateway share</th><th>decision</th><th>run</th></tr>
{% for r in rows %}<tr class="{{ '' if r.passed else ('gen' if r.decision == 'generator-bound' else 'brk') }}">
<td class="num">{{ r.index }}</td><td class="num">{{ r.offered }}</td><td>{{ r.phase }}</td><td class="num">{{ r.achieved }}</td>
<td class="num">{{ r.p50 }}</td><td class="num">{{ r.p95 }}</td><td class="num">{{ r.p99 }}</td><td class="num">{{ r.dropped }}</td>
<td class="num">{{ r.shop_cpu }}</td><td class="num">{{ r.generator_cpu }}</td><td class="num">{{ r.host_cpu }}</td>
<td class="num">{{ r.db_share }}</td><td class="num">{{ r.gateway_share }}</td>
<td>{{ r.decision }}{% if r.why %} ({{ r.why }}){% endif %}</td>
<td>{% if r.report %}<a href="{{ r.report }}">{{ r.run_dir }}</a>{% else %}{{ r.run_dir }}{% endif %}</td></tr>
{% endfor %}</table>
<p class="note">Each probe was judged by: {{ targets }} (capacity-targets.toml). P95 with its 95% interval; CPU in % of one
core, host CPU in % of all {{ cores }} cores (steady part); DB share = the shop's database time / its request time. Probes without a link have results.json
only: <code>harness report DIR</code> renders their report.</p>
<p class="note">shop-harness {{ version }}; from capacity.json (status {{ status }}).</p>
</body>
</html>
"""
