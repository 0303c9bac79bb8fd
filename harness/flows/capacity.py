"""Capacity search, the shell: probe runs through the campaign's orchestration, one per rate.

Layout: one parent directory holds the search, each probe is a complete campaign run directory::

    reports/<stamp>-capacity-<profile>-<hex>/
        capacity.json            the result and every probe (rewritten after each probe)
        knee.png                 P50/P95/P99 and achieved rate against offered rate
        capacity-targets.toml    the chosen targets, as every probe was judged
        probes.log               the probes' console output
        probes/01-2.00jps.toml   the generated profile of each probe (one stage)
        probes/01-2.00jps/       the probe's run directory (manifest, raw files, results, report)

Why one run directory per probe rather than one run with many stages: the search is adaptive
(the next rate depends on the last judgement) and a Locust run reads its whole profile when it
starts; a run directory per probe keeps every probe re-judgeable and re-renderable on its own
with ``harness report``, and each probe starts a fresh embedded platform, so one probe's
backlog or database growth never leaks into the next.

The pure search and judgement live in :mod:`harness.core.capacity`.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import threading
import time
import tomllib
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import psutil
from rich.console import Console

from harness.config.profile import Profile, load_profile
from harness.core import capacity as core
from harness.core.targets import STAGED_SCOPES
from harness.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OK, InputError
from harness.rundir import (
    DEFAULT_REPORTS_ROOT,
    ensure_writable_dir,
    make_run_id,
    read,
    schema,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)

REPORT_COST_S = 10.0  # rendering one probe's report, before one is measured
PROBE_OVERHEAD_S = 35.0  # platform start, drain, settle, judging and the report, before one is measured
# Every process beside the generator that competes for the machine: the platform and the gateway simulator.
PLATFORM_ROLES = (*schema.PLATFORM_ROLES, *schema.SIMULATOR_ROLES)


@dataclass(frozen=True)
class CapacityRequest:
    """Everything a capacity search needs, validated by the command."""

    argv: list[str]
    profile: Profile
    targets_path: Path
    locustfile: str
    target: str | None = None
    workers: int = 0
    platform_workers: int | None = None
    faults: str | None = None
    budget_s: float = 900.0
    probe_s: float = 30.0
    ramp_s: float = 5.0
    drain_s: float = 30.0  # cap on the base profile's drain: in-flight journeys cut at the stop count as failed
    step_factor: float = 1.5
    start_factor: float = 1.0
    resolution: float = 0.10
    strict: bool = False
    out: Path | None = None
    checked_target: object | None = None  # harness.config.allow.CheckedTarget (the safety catch passed)
    safety: object | None = None  # harness.config.allow.Safety
    metrics_urls: tuple[str, ...] = ()  # a remote platform's /metrics: its CPU for the saturation attribution
    prometheus: tuple[str, str, float] | None = None  # or a Prometheus server that scrapes it


# --- inputs: probe profiles and the chosen targets -------------------------------------------------
def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string
    if isinstance(value, dict):  # an inline table ({ above = 0.05, for_s = 10 })
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _toml_table(header: str, table: dict) -> str:
    lines = [header] + [f"{json.dumps(key)} = {_toml_value(v)}" for key, v in table.items()]
    return "\n".join(lines) + "\n"


def probe_profile_text(base: Profile, name: str, journeys_per_s: float, probe_s: float, ramp_s: float,
                       drain_s: float) -> str:
    """A one-stage profile: ``base``'s [profile] settings, ``journeys_per_s`` held for ``probe_s``
    seconds (the first ``ramp_s`` left out of statistics), drain capped at ``drain_s``. The base's
    ``max_requests_per_s`` and ``[abort]`` conditions hold in every probe: a probe an [abort]
    condition stopped counts as broken, and the search goes on below it."""
    section = {k: v for k, v in dict(base.content.get("profile", {})).items() if not isinstance(v, dict | list)}
    section["name"] = name
    section["mix"] = str(base.mix_file.resolve())  # the probe lives elsewhere: the base's mix, found from its folder
    section["drain_s"] = min(float(section.get("drain_s", base.drain_s)), drain_s)
    stage = {"name": name, "load_factor": journeys_per_s / base.nominal_journeys_per_s,
             "duration_s": float(probe_s), "ramp_s": float(ramp_s)}
    abort = dict(base.content.get("abort") or {})
    return (f"# capacity probe: {journeys_per_s:.4g} journeys/s, generated from {base.path}\n"
            + _toml_table("[profile]", section) + "\n" + _toml_table("[[stages]]", stage)
            + ("\n" + _toml_table("[abort]", abort) if abort else ""))


def capacity_targets_text(targets_path: Path) -> tuple[str, list[str]]:
    """The targets a probe is judged by, and their ids: every per-stage target of the file
    (scopes requests, api, endpoint, journey, business) that is not a difference between loads,
    rewritten to hold in each stage (a probe has one), without its warning level."""
    try:
        data = tomllib.loads(Path(targets_path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise InputError(f"--targets {targets_path}: cannot read it: {error}") from error
    chosen, ids = [], []
    for table in data.get("target", []):
        scope_kind = str(table.get("scope", "")).partition(":")[0]
        if scope_kind not in STAGED_SCOPES or "[" in str(table.get("expr", "")):
            continue
        kept = {k: v for k, v in table.items() if k not in ("warn", "load", "stage")}
        kept["stage"] = "each"
        if "load" in table or table.get("stage") not in (None, "nominal", "each"):
            kept["description"] = f"{table.get('description', '')} (capacity probes: judged at every rate)"
        chosen.append(_toml_table("[[target]]", kept))
        ids.append(str(table["id"]))
    if not ids:
        raise InputError(f"--targets {targets_path}: no per-stage target (scope requests, api, endpoint, journey "
                         "or business) to search capacity against")
    header = f"# capacity targets, chosen from {targets_path}: per-stage targets, judged in each probe\n"
    return header + "\n".join(chosen), ids


# --- observing one probe ---------------------------------------------------------------------------
def observe_probe(run_dir: Path, results: dict, offered_journeys_per_s: float, end_reason: str,
                  max_concurrent_journeys: int | None = None, generator_processes: int = 1,
                  poisson_arrivals: bool = True) -> core.ProbeObservation:
    """A probe's figures for the pure search, from its results and samples.csv."""
    stage = results["stages"][0] if results.get("stages") else {}
    latency = stage.get("api") if (stage.get("api") or {}).get("count") else stage.get("requests", {})
    latency = latency or {}
    generator = stage.get("generator") or {}
    cpu, procs, busiest = platform_cpu(run_dir, stage)
    if not cpu:  # a platform on another host: the rate of its process_cpu_seconds_total (--metrics-url)
        cpu, procs, busiest = remote_platform_cpu(run_dir, stage)
    visit = next((j for j in stage.get("journeys") or [] if j.get("name") == "visit" and j.get("mean_ms")), {})
    time_stages = (results.get("platform_time") or {}).get("stages") or [{}]
    db = time_stages[0] if time_stages[0].get("request_s") else {}
    targets = tuple(core.TargetOutcome(
        id=str(t["id"]), status=str(t["status"]), scope=str(t.get("scope") or ""), measured=t.get("measured"),
        threshold=t.get("threshold"), unit=str(t.get("unit") or ""), explanation=str(t.get("explanation") or ""))
        for t in results.get("targets", []))
    return core.ProbeObservation(
        offered_journeys_per_s=offered_journeys_per_s,
        achieved_journeys_per_s=stage.get("achieved_journeys_per_s"),
        targets=targets,
        steady_s=float(stage.get("steady_s") or 0.0),
        scheduled_arrivals=int(stage.get("scheduled_arrivals") or 0),
        dropped_arrivals=int(stage.get("dropped_arrivals") or 0),
        generator_cpu_percent_max=generator.get("cpu_percent_max"),
        p50_ms=latency.get("p50_ms"), p95_ms=latency.get("p95_ms"), p99_ms=latency.get("p99_ms"),
        p95_ci_ms=tuple(latency["p95_ci_ms"]) if latency.get("p95_ci_ms") and None not in latency["p95_ci_ms"] else None,
        platform_cpu_percent=cpu, platform_processes=procs, platform_cpu_max_percent=busiest,
        gateway_time_share=gateway_time_share(stage.get("endpoints") or []),
        db_time_share=db.get("db_share"), db_wait_share=db.get("db_wait_share"),
        endpoint_p95_ms={str(e["name"]): float(e["p95_ms"]) for e in stage.get("endpoints") or []
                         if e.get("p95_ms") is not None},
        visit_mean_s=visit["mean_ms"] / 1000.0 if visit else None,
        max_concurrent_journeys=max_concurrent_journeys, generator_processes=generator_processes,
        poisson_arrivals=poisson_arrivals,
        platform_died=end_reason == "platform-died",
        aborted=(((results.get("abort") or {}).get("description") or "an [abort] condition held")
                 if end_reason == "aborted" else None),
        run_dir=str(run_dir),
    )


def gateway_time_share(endpoints: list[dict]) -> float | None:
    """Share of all request time (count × mean) spent on the payment gateway's endpoints."""
    total = gateway = 0.0
    for endpoint in endpoints:
        spent = float(endpoint.get("count") or 0) * float(endpoint.get("mean_ms") or 0.0)
        total += spent
        if endpoint.get("name", "").partition(" ")[2].startswith("/gateway/"):
            gateway += spent
    return gateway / total if total > 0 else None


def platform_cpu(run_dir: Path, stage: dict) -> tuple[dict[str, float], dict[str, int], dict[str, float]]:
    """CPU of the platform's processes in the stage's steady part, per role: the sum over its
    processes of each one's mean % of a core, how many processes it had, the busiest one's mean."""
    if "end_t_s" not in stage:
        return {}, {}, {}
    samples = read.read_samples(run_dir, columns=["t_s", "pid", "role", "cpu_percent"])
    if samples.empty:
        return {}, {}, {}
    start_s = float(stage["start_t_s"]) + float(stage.get("ramp_s") or 0.0)
    window = samples[(samples["t_s"] >= start_s) & (samples["t_s"] < float(stage["end_t_s"]))
                     & samples["role"].astype(str).isin(PLATFORM_ROLES)]
    cpu: dict[str, float] = {}
    procs: dict[str, int] = {}
    busiest: dict[str, float] = {}
    for (role, _pid), rows in window.groupby([window["role"].astype(str), "pid"]):
        mean = float(rows["cpu_percent"].mean())
        cpu[role] = cpu.get(role, 0.0) + mean
        procs[role] = procs.get(role, 0) + 1
        busiest[role] = max(busiest.get(role, 0.0), mean)
    return cpu, procs, busiest


def remote_platform_cpu(run_dir: Path, stage: dict) -> tuple[dict[str, float], dict[str, int], dict[str, float]]:
    """:func:`platform_cpu` of a platform seen through --metrics-url / --prometheus: each instance
    one ``shop`` process, its CPU the rate of its process_cpu_seconds_total over the stage's
    steady part (% of a core); empty without such readings."""
    if "end_t_s" not in stage or not read.has(run_dir, schema.REMOTE_METRICS.relative_path):
        return {}, {}, {}
    start_s = float(stage["start_t_s"]) + float(stage.get("ramp_s") or 0.0)
    frame = read.read_remote_metrics(run_dir, columns=["t_s", "instance", "cpu_seconds"]).dropna(subset=["cpu_seconds"])
    frame = frame[(frame["t_s"] >= start_s) & (frame["t_s"] <= float(stage["end_t_s"]))]
    per_instance = {}
    for instance, rows in frame.groupby(frame["instance"].astype(str)):
        rows = rows.sort_values("t_s")
        span_s = float(rows["t_s"].iloc[-1] - rows["t_s"].iloc[0])
        used_s = float(rows["cpu_seconds"].iloc[-1] - rows["cpu_seconds"].iloc[0])
        if span_s > 0 and used_s >= 0:  # a counter that went back: the process restarted
            per_instance[instance] = 100.0 * used_s / span_s
    if not per_instance:
        return {}, {}, {}
    return ({"shop": sum(per_instance.values())}, {"shop": len(per_instance)}, {"shop": max(per_instance.values())})


class HostCpu:
    """The whole machine's CPU (% of all cores, every process), read once a second in a thread
    while a probe runs, so it can be averaged over the probe's steady window alone (start-up,
    drain and judging left out). Other work on the machine shows here and nowhere else."""

    def __init__(self, interval_s: float = 1.0) -> None:
        self.interval_s = interval_s
        self.readings: list[tuple[float, float]] = []  # (epoch s at the end of the interval, % busy)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="host-cpu", daemon=True)

    def __enter__(self) -> HostCpu:
        psutil.cpu_percent(None)
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval_s + 1.0)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.readings.append((time.time(), psutil.cpu_percent(None)))

    def mean_between(self, start_s: float, end_s: float) -> float | None:
        """Mean % busy over the readings whose interval lies within [start_s, end_s]."""
        inside = [busy for t_s, busy in self.readings if start_s + self.interval_s <= t_s <= end_s]
        return sum(inside) / len(inside) if inside else None


# --- the search --------------------------------------------------------------------------------------
class CapacitySearch:
    """Runs the probes one by one until :func:`harness.core.capacity.next_step` says stop."""

    def __init__(self, request: CapacityRequest, console: Console) -> None:
        self.request, self.console = request, console
        name = f"capacity-{request.profile.name}"
        self.path = Path(request.out) if request.out else DEFAULT_REPORTS_ROOT / make_run_id(
            name, datetime.now(UTC), secrets.token_hex(2))
        if (self.path / "capacity.json").exists():
            raise InputError(f"--out {self.path} already holds a capacity search (capacity.json); choose an empty directory")
        ensure_writable_dir(self.path)
        ensure_writable_dir(self.path / "probes", "probes directory")
        text, self.target_ids = capacity_targets_text(request.targets_path)
        self.targets_file = self.path / "capacity-targets.toml"
        write_text_atomic(self.targets_file, text)
        self.config = core.SearchConfig(
            nominal_journeys_per_s=request.profile.nominal_journeys_per_s, budget_s=request.budget_s,
            start_factor=request.start_factor, step_factor=request.step_factor, resolution=request.resolution)
        self.probes: list[core.Probe] = []
        self.records: list[dict] = []
        self.started_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def run(self) -> tuple[dict, int]:
        """Search, write capacity.json and knee.png; returns (capacity.json content, exit code)."""
        t0 = time.monotonic()
        costs: list[float] = []
        interrupted, failure = False, ""
        self.console.print(f"capacity search: {self.path}  (targets: {', '.join(self.target_ids)})")
        while True:
            cost_s = max(costs) if costs else self.request.probe_s + PROBE_OVERHEAD_S
            step = core.next_step(self.config, self.probes, time.monotonic() - t0, cost_s)
            if isinstance(step, core.Stop):
                break
            started = time.monotonic()
            try:
                outcome, probe = self._probe(step)
            except KeyboardInterrupt:  # between probes (inside one, the orchestration handles it)
                interrupted, step = True, core.Stop("interrupted", "interrupted between probes; the probes so far are kept")
                break
            costs.append(time.monotonic() - started)
            if outcome.end_reason == "interrupted":
                interrupted, step = True, core.Stop("interrupted", "interrupted (SIGINT/SIGTERM); the probes so far are kept")
                break
            if probe is None:
                failure = outcome.detail or f"probe {len(self.records)} could not be judged (end_reason {outcome.end_reason})"
                step = core.Stop("error", failure)
                break
            self._write(None)
        edge = core.bracket(self.probes)
        if not interrupted:  # Ctrl-C means stop now: the reports can be rendered later
            try:
                self._render_edge_reports(edge.highest_pass, edge.lowest_break, deadline=t0 + self.request.budget_s)
            except KeyboardInterrupt:  # the result below is still written
                interrupted, step = True, core.Stop("interrupted", "interrupted while rendering the edge probes' "
                                                                   "reports; every probe is kept")
        summary = self._write(step)
        for line in summary.get("sentences", []):
            self.console.print(line)
        self.console.print(f"capacity: {self.path / 'capacity.json'}  report: {self.path / 'capacity.html'}")
        if interrupted:
            return summary, EXIT_INTERRUPTED
        if not self.probes or summary["capacity_interval_journeys_per_s"] == [None, None]:
            return summary, EXIT_INVALID
        return summary, EXIT_OK if summary["headroom"]["within"] else EXIT_FAILED

    def _probe(self, step: core.NextProbe):
        from harness.flows import run as orch

        req = self.request
        index = len(self.records) + 1
        name = f"{index:02d}-{step.journeys_per_s:.2f}jps"
        profile_path = self.path / "probes" / f"{name}.toml"
        profile_path.write_text(probe_profile_text(req.profile, name, step.journeys_per_s, req.probe_s, req.ramp_s,
                                                   req.drain_s), encoding="utf-8")
        profile = load_profile(profile_path)
        self.console.print(f"probe {index}: {step.journeys_per_s:.3g} journeys/s ({step.phase}: {step.why}) ...")
        with open(self.path / "probes.log", "a", encoding="utf-8") as log, HostCpu() as host:
            outcome = orch.execute(orch.RunRequest(
                argv=req.argv, profile=profile, locustfile=req.locustfile, target=req.target, workers=req.workers,
                platform_workers=req.platform_workers, faults=req.faults, out=self.path / "probes" / name,
                targets_path=self.targets_file, strict=False, render_report=False,
                checked_target=req.checked_target, safety=req.safety, metrics_urls=req.metrics_urls,
                prometheus=req.prometheus,
                extra={"capacity": {"search": str(self.path), "probe": index, "phase": step.phase,
                                    "journeys_per_s": step.journeys_per_s}}),
                console=Console(file=log, width=160, force_terminal=False))
        record = {"index": index, "journeys_per_s": step.journeys_per_s, "phase": step.phase, "why": step.why,
                  "run_dir": str(Path("probes") / name), "end_reason": outcome.end_reason, "exit_code": outcome.exit_code}
        self.records.append(record)
        if outcome.results is None or not outcome.results.get("stages") or outcome.end_reason in ("interrupted", "error"):
            return outcome, None
        stage = outcome.results["stages"][0]
        steady_from_s = float(stage.get("start_t_s") or 0.0) + float(stage.get("ramp_s") or 0.0)
        obs = replace(observe_probe(outcome.run_dir, outcome.results, step.journeys_per_s, outcome.end_reason,
                                    profile.max_concurrent_journeys, max(1, req.workers),
                                    profile.arrivals == "poisson"),
                      host_cpu_percent=host.mean_between(steady_from_s, float(stage.get("end_t_s") or 0.0)))
        judgement = core.judge_probe(obs, strict=req.strict,
                                     baseline=core.cap_baseline(self.probes, step.journeys_per_s))
        probe = core.Probe(step.journeys_per_s, step.phase, obs, judgement)
        self.probes.append(probe)
        record.update(observation=_plain(obs), judgement=_plain(judgement))
        achieved = obs.achieved_journeys_per_s
        verdict = "pass" if judgement.passed else "BREAK: " + ", ".join(b.target_id for b in judgement.breaches)
        self.console.print(f"  achieved {achieved if achieved is None else round(achieved, 2)} journeys/s, "
                           f"P95 {_ms(obs.p95_ms)}, {verdict}"
                           + (" [generator-bound: " + "; ".join(judgement.generator_reasons) + "]"
                              if judgement.generator_bound else ""))
        return outcome, probe

    def _render_edge_reports(self, capacity: float | None, lowest_break: float | None, deadline: float) -> None:
        """Reports (report.html/.md, junit.xml, charts) for the probes at the edge, as the budget
        allows: the first probe at the capacity and the first that broke at the lowest break.
        The other probes keep results.json; ``harness report DIR`` renders any of them (every
        probe would cost ~9 s each)."""
        spent: list[float] = []
        wanted = {rate for rate in (capacity, lowest_break) if rate is not None}
        for record in self.records:
            rate = record["journeys_per_s"]
            if rate not in wanted or "observation" not in record or (
                    rate == lowest_break and (record.get("judgement") or {}).get("passed")):
                continue
            wanted.discard(rate)
            run_dir = self.path / record["run_dir"]
            if time.monotonic() + max(spent, default=REPORT_COST_S) > deadline:
                self.console.print(f"no time left in the budget to render {run_dir}'s report "
                                   f"(harness report {run_dir})", markup=False)
                continue
            started = time.monotonic()
            try:
                from harness.report import render_run
                results = read.read_json_object(run_dir / "results.json", "the probe's results")
                render_run(run_dir, results)
                record["report"] = str(Path(record["run_dir"]) / "report.html")
                spent.append(time.monotonic() - started)
            except Exception as error:  # noqa: BLE001 - the search's result stands without the report
                self.console.print(f"rendering {run_dir}'s report failed: {type(error).__name__}: {error}",
                                   markup=False)

    def _write(self, stop: core.Stop | None) -> dict:
        cores = os.cpu_count() or 1
        summary = core.summarize(self.config, self.probes, stop or core.Stop("running", "the search is running"), cores)
        summary["sentences"] = core.describe(summary) if stop is not None else []
        body = {
            "schema_version": 1, "kind": "capacity", "status": "finished" if stop else "running",
            "started_at": self.started_at, "argv": self.request.argv,
            "profile": {"path": self.request.profile.path, "name": self.request.profile.name},
            "target": self.request.target, "embedded_platform": self.request.target is None,
            "workers": self.request.workers, "platform_workers": self.request.platform_workers,
            "faults": self.request.faults or ("healthy" if self.request.target is None else None),
            "targets_file": str(self.request.targets_path), "targets": self.target_ids,
            "strict": self.request.strict, "cores": cores,
            "search": asdict(self.config), "probe_s": self.request.probe_s, "ramp_s": self.request.ramp_s,
            **summary, "probes": self.records,
        }
        write_json_atomic(self.path / "capacity.json", _finite(body))
        if stop is not None:
            self._render(_finite(body), summary)
        return body

    def _render(self, body: dict, summary: dict) -> None:
        """knee.png, capacity.md and capacity.html beside capacity.json; a failure is said, the
        JSON stands."""
        from harness.report.capacity_report import capacity_html, capacity_markdown, knee_png

        try:
            png = knee_png(self.probes, summary) if self.probes else None
            if png is not None:
                write_bytes_atomic(self.path / "knee.png", png)
            write_text_atomic(self.path / "capacity.md", capacity_markdown(body))
            write_text_atomic(self.path / "capacity.html", capacity_html(body, png))
        except Exception as error:  # noqa: BLE001 - capacity.json already holds the result
            self.console.print(f"rendering the capacity report failed: {type(error).__name__}: {error}", markup=False)


def _plain(value: object) -> object:
    if hasattr(value, "__dataclass_fields__"):
        return _plain(asdict(value))
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _finite(value: object) -> object:
    """JSON-ready: infinities and NaN become None."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"
