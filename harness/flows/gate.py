"""The CI gate's work (see ``harness gate``): judge, compare with a baseline and benchmarks."""


from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np

from harness.core import bench_compare as benchstats
from harness.core import compare as core
from harness.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OK, InputError
from harness.flows import compare as cmp
from harness.flows.history import last_passing_run
from harness.flows.options import BASELINE_RUNS_FROM_DIR, practical_rules, write_text
from harness.report import junit
from harness.report.markdown import targets_markdown
from harness.report.model import target_rows
from harness.rundir import read, schema

# ---------------------------------------------------------------- pytest-benchmark results

def load_benchmarks(path: Path) -> dict[str, benchstats.BenchFigure]:
    """Benchmarks of one pytest-benchmark JSON file by full name (InputError naming the file)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        figures = {}
        for bench in data["benchmarks"]:
            stats = bench["stats"]
            raw = stats.get("data")
            figures[str(bench.get("fullname") or bench["name"])] = benchstats.BenchFigure(
                float(stats["median"]), float(stats["iqr"]), int(stats["rounds"]),
                np.asarray(raw, dtype=float) if raw else None,
                float(stats["q1"]) if stats.get("q1") is not None else None)
        return figures
    except FileNotFoundError as error:
        raise InputError(f"{path}: no such pytest-benchmark file") from error
    except (OSError, json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as error:
        raise InputError(f"{path}: not a pytest-benchmark JSON file ({type(error).__name__}: {error})") from error


def benchmark_files(paths: list[Path], flag: str, exclude: list[Path] = ()) -> list[Path]:
    """Files named, plus the newest saved runs of each storage folder named (never an excluded file)."""
    excluded = {p.resolve() for p in exclude}
    files = []
    for path in paths:
        if path.is_dir():
            saved = sorted((p for p in path.rglob("*.json") if p.resolve() not in excluded), key=lambda p: p.name)
            if not saved:
                raise InputError(f"{flag} {path}: no saved pytest-benchmark JSON in this folder")
            files.extend(saved[-BASELINE_RUNS_FROM_DIR:])
        else:
            files.append(path)
    return files


def compare_benchmarks(candidates: list[Path], baselines: list[Path], *, practical=None, seed: int = 0,
                       quantile: float = 10.0, method: str = "best") -> tuple[core.Comparison, list[str]]:
    """Judge every benchmark of the candidate runs present in the baseline runs; returns the
    comparison and notes (benchmarks missing on one side, which statistics were used)."""
    now = [load_benchmarks(p) for p in candidates]
    before = [load_benchmarks(p) for p in baselines]
    rng = np.random.default_rng(seed)
    estimates, notes = [], []
    for name in sorted({n for runs in now for n in runs}):
        history = [runs[name] for runs in before if name in runs]
        if not history:
            notes.append(f"{name}: not in the baseline, not compared")
            continue
        estimates.append(benchstats.estimate_benchmark(name, history, [runs[name] for runs in now if name in runs],
                                                 rng=rng, quantile=quantile, method=method))
    figures = [f for runs in now + before for f in runs.values()]
    with_data = sum(f.data_s is not None for f in figures)
    notes.append(f"{with_data} of {len(figures)} benchmark result(s) carry per-round data (P{quantile:g} of "
                 "rounds, block bootstrap over runs of rounds); the rest use the summary statistics "
                 "(median, or first quartile for a low quantile), whose intervals assume independent rounds")
    fewer = min(len(baselines), len(candidates)) < benchstats.BEST_OF_MIN_RUNS
    notes.append(f"{len(baselines)} baseline and {len(candidates)} candidate run(s), compared by the {method} "
                 "of the runs" + (f"; best needs {benchstats.BEST_OF_MIN_RUNS} runs a side, so nothing is judged "
                                  "(run more, or --benchmark-method mean on a quiet machine)"
                                  if fewer and method == "best" else "")
                 + ("; with one run a side the run-to-run noise is not measured" if len(baselines) == 1
                    and len(candidates) == 1 else ""))
    return core.judge_all(estimates, practical=practical), notes


# ---------------------------------------------------------------- the gate

@dataclass(frozen=True)
class GateRequest:
    """What ``harness gate`` was asked to do (its flags, typed; see that command's help)."""

    profile: str | None = None  # run this load profile as a campaign ...
    run: Path | None = None  # ... or judge this finished run directory
    faults: str | None = None
    out: Path | None = None
    baseline: str = "last-pass"  # a run directory, "last-pass" or "none"
    reports: Path = Path("reports")
    targets: str | None = None
    strict: bool = False
    benchmark_json: list[Path] = field(default_factory=list)
    benchmark_baseline: list[Path] = field(default_factory=list)
    benchmark_method: str = "best"
    benchmark_quantile: float = 10.0
    junit: Path | None = None
    markdown: Path | None = None
    practical: list[str] = field(default_factory=list)
    seed: int = 0
    argv: tuple[str, ...] | None = None  # recorded in a --profile run's manifest; None: this process's
    target: str | None = None  # with --profile: a running platform instead of the embedded one
    allow_hosts: tuple[str, ...] = ()  # the safety catch (harness.config.allow), as for a campaign
    allow_hosts_file: str | None = None
    ca_bundle: str | None = None


def _judge(run_dir: Path, targets: str | None, strict: bool) -> tuple[dict | None, int, str]:
    """Targets verdict of a finished run: (results, exit code, note)."""
    try:
        from harness.measure.judge import exit_code_for, judge_run
    except ImportError:
        results_path = run_dir / "results.json"
        if not results_path.exists():
            return None, EXIT_INVALID, "harness.measure.judge is not available and the run has no results.json"
        results = read.read_json_object(results_path, "the run's results")
        code = {"pass": EXIT_OK, "fail": EXIT_FAILED, "interrupted": EXIT_INTERRUPTED}.get(
            results.get("verdict"), EXIT_INVALID)
        return results, code, "harness.measure.judge is not available: used the run's results.json as it is"
    results = judge_run(run_dir, targets_path=Path(targets) if targets else None, strict=strict, write=True)
    return results, exit_code_for(results), ""


def _run_profile(args: GateRequest) -> tuple[Path, dict | None, int]:
    """Run a campaign through the campaign flow, with the campaign's own defaults for everything
    the gate does not set, into a run directory chosen here so that the gate knows where it is.
    Returns (run dir, results, exit code)."""
    import secrets
    from datetime import UTC, datetime

    from harness.config.inputs import validate_profile
    from harness.flows.campaign import CampaignRequest, run_campaign
    from harness.rundir import make_run_id

    out = args.out
    if out is None:
        name = validate_profile(args.profile).name  # found as the campaign finds it (harness.config.paths)
        out = args.reports / make_run_id(name, datetime.now(UTC), secrets.token_hex(2))
    code = int(run_campaign(CampaignRequest(profile=str(args.profile), out=out, faults=args.faults or None,
                                            targets=args.targets, strict=args.strict, argv=args.argv,
                                            target=args.target, allow_hosts=tuple(args.allow_hosts),
                                            allow_hosts_file=args.allow_hosts_file,
                                            ca_bundle=args.ca_bundle)).exit_code)
    results_path = out / "results.json"
    results = read.read_json_object(results_path, "the run's results") if results_path.exists() else None
    return out, results, code


def _target_cases(results: dict | None, strict: bool) -> list[ET.Element]:
    return junit.run_cases(results or {}, strict=strict)


def run_gate(args: GateRequest) -> int:
    """Everything ``harness gate`` does after parsing; returns the exit code."""
    console = cmp.console_for_logs()
    practical = practical_rules(args.practical)
    if not 0 < args.benchmark_quantile < 100:
        raise InputError(f"--benchmark-quantile {args.benchmark_quantile:g}: must be between 0 and 100")
    if args.benchmark_json and not args.benchmark_baseline:
        raise InputError("--benchmark-json needs --benchmark-baseline (a file or a storage folder)")
    if args.profile is None and args.run is None and not args.benchmark_json:
        raise InputError("give --profile FILE or --run RUN_DIR (or --benchmark-json alone)")
    lines = ["# Gate", ""]
    suites: dict[str, list[ET.Element]] = {}
    codes = []

    run_dir = None
    if args.profile is not None:
        run_dir, results, code = _run_profile(args)
        note = ""
    elif args.run is not None:
        if not (args.run / schema.MANIFEST).exists() and not read.has(args.run, schema.REQUESTS.relative_path):
            raise InputError(f"--run {args.run}: not a run directory (no manifest.json or requests.csv)")
        run_dir = args.run
        results, code, note = _judge(run_dir, args.targets, args.strict)
    if run_dir is not None:
        codes.append(code)
        verdict = (results or {}).get("verdict", "no verdict")
        lines += [f"**Targets**: {verdict} (run {run_dir}, exit {code})", ""] + ([note, ""] if note else [])
        if (results or {}).get("targets"):
            lines += targets_markdown(target_rows(results)) + [""]
        suites["targets"] = _target_cases(results, args.strict)
        console.print(f"targets: {verdict} (exit {code})")

        baseline = None
        if args.baseline == "last-pass":
            profile_name = (read.read_json_object(run_dir / "manifest.json", "the run's manifest")
                            .get("profile", {}).get("name") if (run_dir / "manifest.json").exists() else None)
            baseline = last_passing_run(args.reports, profile=profile_name, exclude=run_dir)
            if baseline is None:
                lines += [f"**Baseline**: no passing run of profile {profile_name!r} under {args.reports} "
                          "yet: comparison skipped.", ""]
                console.print("baseline: none yet (comparison skipped)")
        elif args.baseline != "none":
            baseline = Path(args.baseline)
        if baseline is not None:
            try:
                report = cmp.compare_run_dirs(baseline, run_dir, practical=practical, seed=args.seed)
            except cmp.CannotCompare as error:
                codes.append(EXIT_INVALID)
                lines += [f"**Comparison**: could not compare with {baseline}: {error}", ""]
                console.print(f"[red]comparison: could not compare with {baseline}: {error}")
            else:
                cmp.render_table(report, console)
                suites["compare"] = cmp.junit_cases(report, strict=args.strict)
                lines.append(cmp.render_markdown(report).replace("# Comparison", "## Comparison", 1))
                strict_fail = args.strict and (report.environment_differs or any(
                    core.could_regress(m) for m in report.comparison.metrics))
                codes.append(EXIT_FAILED if report.comparison.regressed or strict_fail else EXIT_OK)

    if args.benchmark_json:
        candidates = benchmark_files(args.benchmark_json, "--benchmark-json")
        baselines = benchmark_files(args.benchmark_baseline, "--benchmark-baseline", exclude=candidates)
        bench, notes = compare_benchmarks(candidates, baselines, practical=practical, seed=args.seed,
                                          quantile=args.benchmark_quantile, method=args.benchmark_method)
        cases = []
        for m in bench.metrics:
            text = cmp.describe(m)
            cases.append(junit.testcase(m.key.name, "benchmarks", m.classification, text,
                                        strict=args.strict and core.could_regress(m), output=True))
            console.print(text, style="bold red" if m.classification == core.REGRESSION else "")
        suites["benchmarks"] = cases
        lines += ["## Benchmarks", ""] + [f"- {cmp.describe(m)}" for m in bench.metrics] + [""]
        lines += [f"_{n}_" for n in notes] + [""]
        for note in notes:
            console.print(note, style="dim")
        strict_fail = args.strict and any(core.could_regress(m) for m in bench.metrics)
        codes.append(EXIT_FAILED if bench.regressed or strict_fail else EXIT_OK)

    final = (EXIT_INTERRUPTED if EXIT_INTERRUPTED in codes else EXIT_INVALID if EXIT_INVALID in codes
             else EXIT_FAILED if any(c != EXIT_OK for c in codes) else EXIT_OK)
    lines.insert(2, f"**Gate: {'pass' if final == EXIT_OK else 'FAIL'}** (exit {final}"
                    f"{', strict' if args.strict else ''})\n")
    if args.junit:
        write_text(args.junit, cmp.junit_xml({f"harness gate: {k}": v for k, v in suites.items()}), "--junit")
    if args.markdown:
        write_text(args.markdown, "\n".join(lines) + "\n", "--markdown")
    console.print(f"gate: {'pass' if final == EXIT_OK else 'fail'} (exit {final})", style="bold")
    return final
