"""Compare two run directories: read them, fingerprint their environments, judge, render.

The imperative shell around :mod:`harness.core.compare`: the run directory's reader gives
``requests.csv`` and ``journeys.csv`` (ramp rows excluded, as in every percentile of
results.json); memory growth comes from ``results.json``'s memory block, or from the same
function that wrote it (harness.measure.memory.memory_results); the manifest gives the environment
fingerprint. Renderers return strings or
write to the console they are handed; the command opens the files.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import numpy as np
import pandas as pd

from harness.core import compare as core
from harness.errors import InputError, RunFailedError
from harness.measure.memory import memory_results
from harness.report import junit
from harness.report.fmt import md_table
from harness.rundir import read, schema

# Fingerprint fields that are *meant* to differ between a baseline and a candidate: shown, but
# not a reason to doubt the comparison.
EXPECTED_TO_DIFFER = ("git_revision", "harness")
SCOPE_ALL = "all requests"
SCOPE_API = "api"


class CannotCompare(RunFailedError):
    """The two runs cannot be compared (exit 2); the message says why."""


@dataclass(frozen=True)
class RunData:
    """What one run directory offers to a comparison."""

    path: Path
    run_id: str
    manifest: dict
    results: dict | None
    groups: dict[core.GroupKey, core.Samples]
    growth: core.GrowthFigure | None


@dataclass(frozen=True)
class Mismatch:
    """One fingerprint field that differs between the runs."""

    field: str
    baseline: str
    candidate: str
    expected: bool  # True for fields that a comparison exists to vary (the revision)


@dataclass
class ComparisonReport:
    """A judged pair of runs, ready to render."""

    baseline: RunData
    candidate: RunData
    comparison: core.Comparison
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def environment_differs(self) -> bool:
        return any(not m.expected for m in self.mismatches)

    @property
    def verdict(self) -> str:
        """``regression`` or ``no regression``, flagged when the environments differ."""
        text = core.REGRESSION if self.comparison.regressed else "no regression"
        if self.environment_differs:
            fields = ", ".join(m.field for m in self.mismatches if not m.expected)
            text += f" (environments differ: {fields})"
        return text


def _read(read_file, run_dir: Path, columns: list[str]) -> pd.DataFrame:
    """One raw file through the run directory's reader; CannotCompare names what is wrong."""
    try:
        return read_file(run_dir, columns=columns, required=True)
    except InputError as error:
        raise CannotCompare(str(error)) from error


def _samples(frame: pd.DataFrame, t_col: str, ms_col: str) -> core.Samples:
    return core.Samples.of(frame[t_col].to_numpy(float), frame[ms_col].to_numpy(float),
                           frame["ok"].fillna(0).to_numpy(int) != 0)


def read_groups(run_dir: Path) -> dict[core.GroupKey, core.Samples]:
    """Per stage: every endpoint, every journey, and the ``all requests`` and ``api`` scopes.

    Ramp rows are left out. Journeys use ``duration_ms`` and start time (dropped arrivals have
    no duration: they count as failures for availability only, timed at their intended time).
    """
    requests = _read(read.read_requests, run_dir, ["t_s", "stage", "in_ramp", "name", "response_ms", "ok"])
    requests = requests[requests["in_ramp"].fillna(0).astype(int) == 0]
    groups: dict[core.GroupKey, core.Samples] = {}
    for stage, in_stage in requests.groupby("stage", sort=False):
        stage = str(stage)
        groups[core.GroupKey(stage, "scope", SCOPE_ALL)] = _samples(in_stage, "t_s", "response_ms")
        api = in_stage[in_stage["name"].astype(str).map(schema.is_api_request).astype(bool)]
        if len(api):
            groups[core.GroupKey(stage, "scope", SCOPE_API)] = _samples(api, "t_s", "response_ms")
        for name, rows in in_stage.groupby("name", sort=True):
            groups[core.GroupKey(stage, "endpoint", str(name))] = _samples(rows, "t_s", "response_ms")
    if read.has(run_dir, schema.JOURNEYS.relative_path):
        journeys = _read(read.read_journeys, run_dir, ["name", "stage", "in_ramp", "intended_t_s", "start_t_s",
                                                       "duration_ms", "ok"])
        journeys = journeys[journeys["in_ramp"].fillna(0).astype(int) == 0].copy()
        journeys["start_t_s"] = journeys["start_t_s"].fillna(journeys["intended_t_s"])
        for (stage, name), rows in journeys.groupby(["stage", "name"], sort=True):
            groups[core.GroupKey(str(stage), "journey", str(name))] = _samples(rows, "start_t_s", "duration_ms")
    return groups


def read_growth(run_dir: Path, results: dict | None) -> core.GrowthFigure | None:
    """Memory growth (bytes/hour) with its interval: results.json's ``memory`` block, else the
    same block computed again by harness.measure.memory.memory_results (the one code path for every
    memory-growth figure)."""
    memory = (results or {}).get("memory")
    if not isinstance(memory, dict):
        try:
            memory = memory_results(run_dir) or {}
        except InputError as error:
            raise CannotCompare(str(error)) from error
    try:
        figure = core.GrowthFigure(float(memory["growth_bytes_per_hour"]), float(memory["ci_low"]),
                                   float(memory["ci_high"]))
    except (KeyError, TypeError, ValueError):
        return None
    return figure if all(math.isfinite(v) for v in asdict(figure).values()) else None


def _read_json(path: Path) -> dict | None:
    if not path.exists():
        return None
    try:
        return read.read_json_object(path, "a run's JSON file")
    except InputError as error:
        raise CannotCompare(str(error)) from error


def load_run(run_dir: Path | str) -> RunData:
    """Read one run directory (raises CannotCompare naming the missing or broken file)."""
    path = Path(run_dir)
    if not path.is_dir():
        raise CannotCompare(f"run directory {path} does not exist")
    manifest = _read_json(path / "manifest.json") or {}
    results = _read_json(path / "results.json")
    run_id = str(manifest.get("run_id") or (results or {}).get("run_id") or path.name)
    return RunData(path, run_id, manifest, results, read_groups(path), read_growth(path, results))


def fingerprint(manifest: Mapping[str, Any]) -> dict[str, str]:
    """The environment a run measured in, flattened to strings (missing fields are ``?``)."""
    host = manifest.get("host") or {}
    versions = manifest.get("versions") or {}
    profile = manifest.get("profile") or {}
    content = profile.get("content")
    content_hash = (hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:12]
                    if content is not None else "?")
    prints = {
        "cpu_model": host.get("cpu_model"), "cores": host.get("cores"), "os": host.get("os"),
        "profile": profile.get("name"), "profile_hash": content_hash,
        "faults": manifest.get("faults"), "workers": manifest.get("workers"),
        "embedded_platform": manifest.get("embedded_platform"),
        "git_revision": manifest.get("git_revision"),
    }
    prints.update({name: version for name, version in versions.items()})
    return {k: "?" if v is None else str(v) for k, v in prints.items()}


def fingerprint_mismatches(baseline: Mapping[str, str], candidate: Mapping[str, str]) -> list[Mismatch]:
    """Fields whose values differ (a field missing on one side reads ``?``)."""
    return [Mismatch(name, baseline.get(name, "?"), candidate.get(name, "?"), name in EXPECTED_TO_DIFFER)
            for name in sorted(set(baseline) | set(candidate))
            if baseline.get(name, "?") != candidate.get(name, "?")]


def compare_run_dirs(baseline_dir: Path | str, candidate_dir: Path | str, *,
                     practical: Mapping[str, core.PracticalMinimum] | None = None, seed: int = 0,
                     n_boot: int = 400, confidence: float = 0.95) -> ComparisonReport:
    """Read, check and compare two run directories (raises CannotCompare with the reason)."""
    baseline, candidate = load_run(baseline_dir), load_run(candidate_dir)
    for run in (baseline, candidate):
        if not run.groups:
            raise CannotCompare(f"{run.path / schema.REQUESTS.relative_path} has no requests outside the ramps")
    stages_b = {k.stage for k in baseline.groups}
    stages_c = {k.stage for k in candidate.groups}
    if not stages_b & stages_c:
        raise CannotCompare(f"incompatible stages: baseline {sorted(stages_b)} and candidate "
                            f"{sorted(stages_c)} share none")
    named = {k for k in baseline.groups if k.kind != "scope"} & {k for k in candidate.groups if k.kind != "scope"}
    if not named:
        raise CannotCompare("no endpoint or journey appears in both runs in a shared stage")
    growth = (baseline.growth, candidate.growth) if baseline.growth and candidate.growth else None
    comparison = core.compare_runs(baseline.groups, candidate.groups, rng=np.random.default_rng(seed),
                                   practical=practical, confidence=confidence, n_boot=n_boot, growth=growth)
    mismatches = fingerprint_mismatches(fingerprint(baseline.manifest), fingerprint(candidate.manifest))
    return ComparisonReport(baseline, candidate, comparison, mismatches)


# ---------------------------------------------------------------- rendering

def _num(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 6)


def format_value(metric: str, value: float) -> str:
    """A metric value with its unit, for people."""
    if value is None or not math.isfinite(value):
        return "—"
    if metric == "availability":
        return f"{value * 100:.3f}%"
    if metric == "growth_bytes_per_hour":
        return f"{value / 1e6:.1f} MB/h"
    if metric.endswith("_s"):  # benchmark round times
        return f"{value * 1e6:.2f} µs"
    return f"{value:.1f} ms"


def format_delta(metric: str, value: float) -> str:
    """A signed difference with its unit (availability in percentage points)."""
    if value is None or not math.isfinite(value):
        return "—"
    if metric == "availability":
        return f"{value * 100:+.3f} pp"
    text = format_value(metric, abs(value))
    return ("-" if value < 0 else "+") + text


def format_band(metric: str, value: float) -> str:
    """A practical-minimum half-width with its unit (availability in percentage points)."""
    return format_delta(metric, value).lstrip("+") if metric == "availability" else format_value(metric, value)


def describe(m: core.MetricComparison) -> str:
    """One sentence: what changed, with its interval, threshold and classification."""
    where = f"{m.key.kind} {m.key.name} [{m.key.stage}] {m.metric}"
    if m.note:
        return f"{where}: inconclusive, {m.note}"
    rel = f" ({m.relative_delta * 100:+.1f}%)" if math.isfinite(m.relative_delta) else ""
    text = (f"{where}: {format_value(m.metric, m.baseline)} → {format_value(m.metric, m.candidate)}, "
            f"Δ {format_delta(m.metric, m.delta)}{rel}, interval {format_delta(m.metric, m.ci[0])}.."
            f"{format_delta(m.metric, m.ci[1])}, practical minimum ±{format_band(m.metric, m.threshold)}: "
            f"{m.classification}")
    if m.classification == core.INCONCLUSIVE:
        text += f" (smallest detectable worsening {format_delta(m.metric, m.detectable)})"
    return text


def metric_dict(m: core.MetricComparison) -> dict[str, Any]:
    """One judged metric as JSON-ready data (NaN becomes null)."""
    return {"stage": m.key.stage, "kind": m.key.kind, "name": m.key.name, "metric": m.metric,
            "baseline": _num(m.baseline), "candidate": _num(m.candidate), "delta": _num(m.delta),
            "ci": [_num(m.ci[0]), _num(m.ci[1])], "relative_delta": _num(m.relative_delta),
            "relative_ci": [_num(m.relative_ci[0]), _num(m.relative_ci[1])],
            "threshold": _num(m.threshold), "detectable": _num(m.detectable),
            "classification": m.classification, "n_baseline": m.n_baseline,
            "n_candidate": m.n_candidate, "note": m.note, "explanation": describe(m)}


def to_json(report: ComparisonReport) -> dict[str, Any]:
    """The whole comparison as JSON-ready data."""
    c = report.comparison
    return {
        "schema_version": 1, "verdict": report.verdict, "regressed": c.regressed,
        "baseline": {"run_id": report.baseline.run_id, "path": str(report.baseline.path)},
        "candidate": {"run_id": report.candidate.run_id, "path": str(report.candidate.path)},
        "confidence": c.confidence, "family_size": c.family_size,
        "method": "block bootstrap over time blocks; Bonferroni family-wise intervals; "
                  "regression only beyond the practical minimum",
        "counts": {k: c.count(k) for k in (core.REGRESSION, core.IMPROVEMENT, core.EQUIVALENT, core.INCONCLUSIVE)},
        "environment_differs": report.environment_differs,
        "fingerprint_mismatches": [asdict(m) for m in report.mismatches],
        "only_in_baseline": [asdict(k) for k in c.only_in_baseline],
        "only_in_candidate": [asdict(k) for k in c.only_in_candidate],
        "metrics": [metric_dict(m) for m in c.metrics],
    }


def notable(report: ComparisonReport) -> list[core.MetricComparison]:
    """Rows worth a person's eye: regressions, improvements and the whole-stage scopes."""
    rank = {core.REGRESSION: 0, core.IMPROVEMENT: 1, core.INCONCLUSIVE: 2, core.EQUIVALENT: 3}
    rows = [m for m in report.comparison.metrics
            if m.classification in (core.REGRESSION, core.IMPROVEMENT) or m.key.kind in ("scope", "memory")]
    return sorted(rows, key=lambda m: rank[m.classification])


def _summary_line(report: ComparisonReport) -> str:
    c = report.comparison
    return (f"{report.verdict}: {c.count(core.REGRESSION)} regression(s), {c.count(core.IMPROVEMENT)} "
            f"improvement(s), {c.count(core.EQUIVALENT)} equivalent, {c.count(core.INCONCLUSIVE)} "
            f"inconclusive over {len(c.metrics)} metrics ({c.confidence:.0%} family-wise over "
            f"{c.family_size})")


def _row(m: core.MetricComparison) -> list[str]:
    rel = f"{m.relative_delta * 100:+.1f}%" if math.isfinite(m.relative_delta) else "—"
    ci = "—" if m.note else f"{format_delta(m.metric, m.ci[0])} .. {format_delta(m.metric, m.ci[1])}"
    return [m.key.stage, f"{m.key.kind} {m.key.name}", m.metric, format_value(m.metric, m.baseline),
            format_value(m.metric, m.candidate), format_delta(m.metric, m.delta), rel, ci,
            m.classification + (f" ({m.note})" if m.note else "")]


HEADERS = ["stage", "what", "metric", "baseline", "candidate", "Δ", "Δ%", "interval", "verdict"]


def render_markdown(report: ComparisonReport, *, show_all: bool = False) -> str:
    """The comparison as Markdown: verdict, fingerprint flags, notable rows, then every row."""
    lines = [f"# Comparison: {report.candidate.run_id} against {report.baseline.run_id}", "",
             f"**{_summary_line(report)}**", ""]
    if report.mismatches:
        lines += md_table(["fingerprint", "baseline", "candidate", ""],
                          [[m.field, m.baseline, m.candidate, "expected" if m.expected else "**differs**"]
                           for m in report.mismatches])
        lines.append("")
    rows = report.comparison.metrics if show_all else notable(report)
    lines += md_table(HEADERS, [_row(m) for m in rows])
    lines += ["", "<details><summary>Every metric</summary>", ""]
    lines += [f"- {describe(m)}" for m in report.comparison.metrics]
    lines += ["", "</details>", "",
              "Intervals: block bootstrap over time blocks, Bonferroni-adjusted over every metric "
              "compared; a regression is an interval entirely beyond the practical minimum."]
    return "\n".join(lines) + "\n"


def console_for_logs():
    """A rich console; when stdout is not a terminal (CI logs, pipes) 160 columns wide rather
    than rich's 80, so that the tables stay readable."""
    import sys

    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=160)


def render_table(report: ComparisonReport, console, *, show_all: bool = False) -> None:
    """Print the comparison to a rich console."""
    from rich.table import Table

    styles = {core.REGRESSION: "bold red", core.IMPROVEMENT: "green", core.EQUIVALENT: "dim"}
    table = Table(title=f"{report.candidate.run_id} vs {report.baseline.run_id}")
    for header in HEADERS:
        table.add_column(header, justify="right" if header in ("baseline", "candidate", "Δ", "Δ%") else "left")
    for m in report.comparison.metrics if show_all else notable(report):
        table.add_row(*_row(m), style=styles.get(m.classification, ""))
    console.print(table)
    for m in report.mismatches:
        if not m.expected:
            console.print(f"[yellow]fingerprint differs: {m.field}: {m.baseline} → {m.candidate}[/]")
    console.print(_summary_line(report), style="bold red" if report.comparison.regressed else "bold")


def junit_cases(report: ComparisonReport, *, strict: bool = False) -> list[ET.Element]:
    """One JUnit testcase per judged metric, its classification mapped by
    :mod:`harness.report.junit` (regression fails; inconclusive is skipped, and fails when
    ``strict`` and a regression cannot be excluded, see :func:`core.could_regress`); an
    environment mismatch is one more case, a warning (fails when ``strict``)."""
    cases = [junit.testcase(f"{m.key.name} {m.metric}", f"compare.{m.key.stage}.{m.key.kind}", m.classification,
                            describe(m), strict=strict and core.could_regress(m), output=True)
             for m in report.comparison.metrics]
    differing = [m for m in report.mismatches if not m.expected]
    text = "; ".join(f"{m.field}: {m.baseline} -> {m.candidate}" for m in differing)
    cases.append(junit.testcase("fingerprint", "compare.environment", "warn" if differing else "pass",
                                text or "same environment", strict=strict))
    return cases


def junit_xml(suites: Mapping[str, list[ET.Element]]) -> str:
    """A JUnit XML document with one testsuite per entry of ``suites`` (harness.report.junit)."""
    return junit.document(suites)


def render_junit(report: ComparisonReport, *, strict: bool = False) -> str:
    """The comparison alone as a JUnit XML document."""
    return junit_xml({"harness compare": junit_cases(report, strict=strict)})
