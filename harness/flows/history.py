"""The run history: every run directory under reports/, indexed, listed and charted.

The run directories are the only source of truth. The index (``reports/history.sqlite``) is a
cache rebuilt from them by :func:`refresh_index` (runs that vanished are dropped), so deleting
it loses nothing. Headline figures come from ``results.json``; a run that was never judged is
listed with its manifest's end reason and no figures.
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import InputError
from harness.rundir import read

INDEX_NAME = "history.sqlite"


@dataclass(frozen=True)
class StageFigure:
    """A stage's headline figures: P95 (ms, API scope when there is one) and availability."""

    stage: str
    p95_ms: float | None
    availability: float | None
    count: int


@dataclass(frozen=True)
class RunRecord:
    """One run, as the history shows it."""

    run_id: str
    path: str
    started_at: str
    profile: str
    faults: str
    git_revision: str
    end_reason: str
    verdict: str  # pass|fail|invalid|interrupted, or "not judged"
    targets_failed: int
    growth_bytes_per_hour: float | None
    stages: list[StageFigure] = field(default_factory=list)


def _load(path: Path) -> dict[str, Any] | None:
    try:
        return read.read_json_object(path, "a run's JSON file")
    except InputError:  # a broken run is left out of the history, not fatal to it
        return None


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def read_record(run_dir: Path) -> RunRecord | None:
    """The history record of one run directory, or None if it holds neither manifest nor results."""
    manifest = _load(run_dir / "manifest.json")
    results = _load(run_dir / "results.json")
    if manifest is None and results is None:
        return None
    manifest = manifest or {}
    results = results or {}
    stages = []
    for stage in results.get("stages") or []:
        scope = stage.get("api") or stage.get("requests") or {}
        stages.append(StageFigure(str(stage.get("name")), _finite(scope.get("p95_ms")),
                                  _finite(scope.get("availability")), int(scope.get("count") or 0)))
    memory = results.get("memory") or {}
    failed = sum(1 for t in results.get("targets") or [] if t.get("status") == "fail")
    return RunRecord(
        run_id=str(manifest.get("run_id") or results.get("run_id") or run_dir.name),
        path=str(run_dir), started_at=str(manifest.get("started_at") or ""),
        profile=str((manifest.get("profile") or {}).get("name") or ""),
        faults=str(manifest.get("faults") or ""), git_revision=str(manifest.get("git_revision") or ""),
        end_reason=str(manifest.get("end_reason") or ""),
        verdict=str(results.get("verdict") or "not judged"), targets_failed=failed,
        growth_bytes_per_hour=_finite(memory.get("growth_bytes_per_hour")), stages=stages)


def scan_runs(reports_dir: Path) -> list[RunRecord]:
    """Every run directory directly under ``reports_dir``, oldest first (by start time, then id)."""
    if not reports_dir.is_dir():
        return []
    records = [r for d in reports_dir.iterdir() if d.is_dir() and (r := read_record(d)) is not None]
    return sorted(records, key=lambda r: (r.started_at, r.run_id))


_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY, path TEXT, started_at TEXT, profile TEXT, faults TEXT,
  git_revision TEXT, end_reason TEXT, verdict TEXT, targets_failed INTEGER,
  growth_bytes_per_hour REAL);
CREATE TABLE IF NOT EXISTS stages (
  run_id TEXT, stage TEXT, p95_ms REAL, availability REAL, count INTEGER,
  PRIMARY KEY (run_id, stage));
"""


def refresh_index(reports_dir: Path, records: list[RunRecord] | None = None) -> Path:
    """Rebuild ``reports_dir/history.sqlite`` from the run directories; returns its path."""
    records = scan_runs(reports_dir) if records is None else records
    path = reports_dir / INDEX_NAME
    reports_dir.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        db.executescript(_SCHEMA)
        db.execute("DELETE FROM runs")
        db.execute("DELETE FROM stages")
        db.executemany("INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?)", [
            (r.run_id, r.path, r.started_at, r.profile, r.faults, r.git_revision, r.end_reason,
             r.verdict, r.targets_failed, r.growth_bytes_per_hour) for r in records])
        db.executemany("INSERT OR REPLACE INTO stages VALUES (?,?,?,?,?)", [
            (r.run_id, s.stage, s.p95_ms, s.availability, s.count) for r in records for s in r.stages])
    return path


def last_passing_run(reports_dir: Path, *, profile: str | None = None,
                     exclude: Path | None = None) -> Path | None:
    """The newest run that completed with verdict ``pass`` (of ``profile``, when given)."""
    excluded = exclude.resolve() if exclude is not None else None
    for record in reversed(scan_runs(reports_dir)):
        if record.verdict != "pass" or record.end_reason not in ("completed", ""):
            continue
        if profile and record.profile != profile:
            continue
        if excluded is not None and Path(record.path).resolve() == excluded:
            continue
        return Path(record.path)
    return None


def draw_trend_chart(records: list[RunRecord], path: Path) -> None:
    """P95 per stage, availability per stage and memory growth over runs, as a PNG (Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_p95, ax_avail, ax_mem) = plt.subplots(3, 1, figsize=(10, 9), sharex=True)
    xs = list(range(len(records)))
    stage_names = sorted({s.stage for r in records for s in r.stages})
    for stage in stage_names:
        p95 = [next((s.p95_ms for s in r.stages if s.stage == stage), None) for r in records]
        avail = [next((s.availability for s in r.stages if s.stage == stage), None) for r in records]
        ax_p95.plot(xs, [math.nan if v is None else v for v in p95], marker="o", label=stage)
        ax_avail.plot(xs, [math.nan if v is None else v * 100 for v in avail], marker="o", label=stage)
    growth = [math.nan if r.growth_bytes_per_hour is None else r.growth_bytes_per_hour / 1e9 for r in records]
    ax_mem.plot(xs, growth, marker="o", color="tab:red")
    for x, record in zip(xs, records, strict=True):
        if record.verdict != "pass":
            ax_p95.axvline(x, color="tab:red", alpha=0.15)
    ax_p95.set_ylabel("P95 (ms, API requests)")
    ax_avail.set_ylabel("availability (%)")
    ax_mem.set_ylabel("memory growth (GB/h, 10^9 B)")
    for ax in (ax_p95, ax_avail):
        if stage_names:
            ax.legend(title="stage", fontsize="small")
    ax_mem.set_xticks(xs, [r.run_id for r in records], rotation=30, ha="right", fontsize="x-small")
    ax_p95.set_title("Run history (shaded: verdict not pass)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
