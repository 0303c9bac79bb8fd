"""One run, from inputs to exit code: the flow shared by ``harness campaign`` and ``harness run``.

    validate inputs ─► run directory + manifest ─► platform (embedded, unless a target is given)
      ─► sampler ─► Locust (local or master + workers) ─► live progress ─► stop load ─► stop
      platform ─► manifest end ─► judge ─► report ─► summary ─► exit code

Failures along the way never lose what was measured: SIGINT/SIGTERM stop the load gracefully
(end_reason ``interrupted``, exit 130), a platform that dies mid-run is recorded and the load
runs on (end_reason ``platform-died``), and every child process has a hard deadline.
"""

from __future__ import annotations

import shutil
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from rich.console import Console

from harness.config.profile import Profile
from harness.errors import EXIT_INTERRUPTED, EXIT_INVALID, RunFailedError
from harness.execute.locust_process import LoadPlan, LocustRun
from harness.execute.platform_process import StartCancelled
from harness.execute.sampler import ProcessSampler
from harness.flows.live import drive
from harness.flows.platform_side import PlatformSide
from harness.flows.preflight import preflight_only, print_preflight  # noqa: F401 - preflight_only: the flows' API
from harness.report.summary import print_summary
from harness.rundir import RunDirectory, read, schema


class ServiceUnderTest(Protocol):
    """A service the harness starts for one run instead of the embedded platform (``harness
    leak``'s --sut-cmd, harness.flows.leak.CommandService): started once the run directory
    exists, its processes sampled, watched for an exit nobody asked for, stopped after the load
    and before the run is judged (so profilers' captures are complete)."""

    def start(self, run_dir: RunDirectory, cancelled: Callable[[], bool]) -> str:
        """Start it and wait until it answers; its base URL. RunFailedError / StartCancelled."""

    def pids(self) -> list[tuple[str, int]]:
        """(role, pid) to sample, with their descendants."""

    def poll(self) -> int | None:
        """Its exit code, None while it runs."""

    def stop(self) -> int | None:
        """Stop it; its exit code."""


@dataclass
class RunRequest:
    """Everything one run needs, validated first (harness.config.inputs)."""

    argv: list[str]
    profile: Profile
    locustfile: str
    target: str | None = None  # None: start the embedded platform
    workers: int = 0  # Locust workers (0: one local runner)
    platform_workers: int | None = None
    faults: str | None = None
    out: Path | None = None
    targets_path: Path | None = None
    strict: bool = False
    memray: bool = False
    cpu_profile_stage: str | None = None
    database: str | None = None
    sut_pids: tuple[int, ...] = ()  # processes of a service the harness did not start, sampled as "sut"
    faults_schedule: tuple = ()  # harness.execute.fault_schedule.FaultSpec, applied to the embedded platform
    recorder_options: bool = True
    render_report: bool = True  # False: results.json only (no report.html/.md, junit.xml, charts); `harness report DIR` renders it later
    extra: dict = field(default_factory=dict)
    service: ServiceUnderTest | None = None  # started by the harness instead of the embedded platform
    locust_env: dict[str, str] = field(default_factory=dict)  # extra environment of the Locust processes
    scrape_metrics: bool = True  # scrape the target's /metrics (the shop's) into platform/metrics.csv
    checked_target: object | None = None  # harness.config.allow.CheckedTarget: the target passed the safety catch
    safety: object | None = None  # harness.config.allow.Safety: allow-list and TLS settings
    preflight_only: bool = False
    shop_journeys: bool = True  # the shop's journeys (requests per journey estimated from the mix)
    health_path: str = "/healthz"  # what [abort] health_failures polls on the target
    master: object | None = None  # harness.flows.distributed.MasterOptions: workers from other hosts
    metrics_urls: tuple[str, ...] = ()  # --metrics-url: a remote platform's processes, scraped during the run
    prometheus: tuple[str, str, float] | None = None  # --prometheus URL, --selector, step: read after the run

    @property
    def distributed(self) -> bool:
        return bool(self.workers or (self.master is not None and self.master.remote_workers))


@dataclass
class RunOutcome:
    """How a run ended: its directory, end reason, derived results and exit code."""

    run_dir: Path
    end_reason: str
    exit_code: int
    results: dict | None = None
    detail: str = ""


def default_console() -> Console:
    """stdout, 160 columns wide when it is not a terminal (CI logs keep whole table rows)."""
    # markup off: paths, log tails and error messages may hold "[...]"; colour goes by style=.
    console = Console(markup=False)
    return console if console.is_terminal else Console(width=160, markup=False)


# --- the run ------------------------------------------------------------------------------------
class _Signals:
    """SIGINT/SIGTERM only set a flag: the platform start and the main loop poll it and stop in
    order. (Raising from the handler is unsafe: an exception raised inside the at-fork hooks
    that subprocess runs is printed and dropped, so the interrupt would be lost.)"""

    def __init__(self) -> None:
        self.received: list[str] = []
        self._previous: dict[int, object] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, _frame: object) -> None:
        self.received.append(signal.Signals(signum).name)

    def __bool__(self) -> bool:
        return bool(self.received)


class _InterruptedBeforeLoad(Exception):
    pass


def execute(request: RunRequest, console: Console | None = None) -> RunOutcome:
    """Carry out one run end to end and return how it ended. Raises InputError only when the
    run directory cannot be created; every later failure ends the run with a reason."""
    console = console or default_console()
    profile = request.profile
    run_dir = RunDirectory.create(profile.name, request.out)
    embedded = request.target is None and request.service is None
    run_dir.write_start_manifest(
        argv=request.argv,
        profile={"path": profile.path, "name": profile.name, "content": _plain(profile.content)},
        stages=profile.stages_manifest(), target=request.target, embedded_platform=embedded,
        workers=request.workers + (request.master.remote_workers if request.master else 0),
        faults=request.faults or ("healthy" if embedded else None),
        targets_file=str(request.targets_path) if request.targets_path else None,
        extra={"locustfile": request.locustfile, "platform_workers": request.platform_workers,
               "database": request.database, **request.extra,
               **({"master": request.master.as_manifest()} if request.master and request.master.remote_workers
                  else {})},
    )
    if request.targets_path is not None:  # kept with the run, so re-judging it later uses the same targets
        shutil.copyfile(request.targets_path, run_dir.path / "targets.toml")
    console.print(f"run directory: {run_dir.path}")
    signals = _Signals()
    sampler = ProcessSampler(run_dir.samples_path)
    side = PlatformSide(request, run_dir, sampler, console)
    load: LocustRun | None = None
    scraper = remote = load_started_s = None
    end_reason, detail, extra_manifest = "completed", "", {}
    try:
        signals.install()
        target = request.target
        if embedded:
            target = side.start_platform(cancelled=signals.__bool__)
        elif request.service is not None:
            target = side.start_service(cancelled=signals.__bool__)
        if signals:
            raise _InterruptedBeforeLoad
        for pid in request.sut_pids:
            sampler.watch(pid, "sut")
        sampler.start()
        scraper = _start_scraper(target, run_dir, console, request) if request.scrape_metrics else None
        remote = _start_remote_metrics(request, run_dir, console)
        print_preflight(request, target, run_dir, console)
        master = request.master
        load = LocustRun(LoadPlan(  # absolute paths: the children run in the repository root
            locustfile=",".join(str(Path(p).resolve()) for p in request.locustfile.split(",")), host=target,
            run_dir=run_dir.path.resolve(), duration_s=profile.total_duration_s + profile.drain_s,
            profile_path=Path(profile.path).resolve(),
            workers=request.workers, recorder_options=request.recorder_options, env=_locust_env(request),
            master_bind=master.bind if master else None,
            remote_workers=master.remote_workers if master else 0,
            **({"workers_wait_s": master.wait_s} if master else {})))
        load_started_s = time.time()
        load.start()
        if master is not None and master.remote_workers:
            console.print(f"master listening on {master.bind[0]}:{load.master_port}: waiting up to {master.wait_s:g} s "
                          f"for {master.remote_workers} worker(s); on each worker host run:")
            console.print(f"  {master.worker_command()}")
        for pid in load.pids():
            sampler.watch(pid, "generator", include_children=False)
        end_reason, detail, extra_manifest = drive(request, run_dir, load, side, signals, console, target)
    except (_InterruptedBeforeLoad, StartCancelled, KeyboardInterrupt):
        end_reason, detail = "interrupted", f"{', '.join(signals.received) or 'SIGINT'} before the load started"
        run_dir.events.append("interrupt", signal=signals.received[0] if signals.received else "SIGINT")
    except RunFailedError as error:
        end_reason, detail = "error", str(error)
    except Exception as error:  # a bug: the manifest must not claim the run completed
        end_reason, detail = "error", f"{type(error).__name__}: {error}"
        raise
    finally:
        if load is not None and load.main is not None and load.main.poll() is None:
            load.stop()
        if scraper is not None:  # before the ledgers are collected: only the load's requests count
            extra_manifest["metrics_scrape"] = scraper.stop()
        if remote is not None:
            extra_manifest["remote_metrics"] = remote.stop()
        if request.prometheus is not None and load_started_s is not None:
            extra_manifest["prometheus"] = _read_prometheus(request, run_dir, load_started_s, console)
        extra_manifest.update(side.finish(collect_ledgers=end_reason != "interrupted"))
        cost = sampler.stop()
        if side.platform is not None and side.platform.died and end_reason == "completed":
            end_reason = "platform-died"
            detail = f"the platform exited with code {side.platform.exit_returncode} during the run"
        if side.service_exit is not None and end_reason == "completed":
            end_reason = "platform-died"
            detail = f"the service under test exited with code {side.service_exit} during the run"
        run_dir.finish(end_reason, detail, sampler=cost.as_dict(), **extra_manifest)
        signals.restore()
    return _conclude(request, run_dir, end_reason, detail, console)


def _locust_env(request: RunRequest) -> dict[str, str]:
    """The Locust processes' extra environment: the CA bundle of --ca-bundle for https targets."""
    env = dict(request.locust_env)
    import secrets

    from harness.flows.distributed import TOKEN_ENV
    env[TOKEN_ENV] = request.master.token if request.master is not None else secrets.token_urlsafe(24)
    bundle = getattr(request.safety, "ca_bundle", None)
    if bundle is not None:
        env.setdefault("REQUESTS_CA_BUNDLE", str(bundle))
        env.setdefault("SSL_CERT_FILE", str(bundle))
    return env


def _read_prometheus(request: RunRequest, run_dir: RunDirectory, load_started_s: float, console: Console) -> dict:
    """--prometheus: the platform's process series over the load's window, from the server."""
    from harness.execute.prometheus_read import read_into
    url, selector, step_s = request.prometheus
    console.print(f"reading the platform's process series from {url} ({selector}) ...")
    summary = read_into(run_dir.path / schema.REMOTE_METRICS.relative_path, url, selector,
                        load_started_s - 5.0, time.time(), step_s, verify=getattr(request.safety, "verify", True))
    if summary["error"]:
        console.print(f"Prometheus: {summary['error']}", style="yellow")
    else:
        console.print(f"Prometheus: {summary['points']} points of {', '.join(summary['instances'])}")
    return summary


def _start_remote_metrics(request: RunRequest, run_dir: RunDirectory, console: Console):
    """--metrics-url: the remote platform's process series into platform/remote_metrics.csv."""
    if not request.metrics_urls:
        return None
    from harness.execute.remote_metrics import RemoteMetricsScraper
    scraper = RemoteMetricsScraper(list(request.metrics_urls), run_dir.path / schema.REMOTE_METRICS.relative_path,
                                   verify=getattr(request.safety, "verify", True))
    scraper.start()
    console.print(f"platform telemetry: scraping {', '.join(request.metrics_urls)} every second")
    return scraper


def _start_scraper(target: str, run_dir: RunDirectory, console: Console, request: RunRequest | None = None):
    """Scrape the shop's /metrics into platform/metrics.csv during the load (cache counters,
    request counter for the monitoring delay): the target's own on loopback, else the first
    --metrics-url; None, said on the console, when it cannot start."""
    from harness.execute.scrape import MetricsScraper
    urls = request.metrics_urls if request is not None else ()
    try:
        scraper = MetricsScraper(target, run_dir.path / schema.METRICS.relative_path,
                                 metrics_url=urls[0] if urls else None)
        scraper.start()
        return scraper
    except (ValueError, OSError) as error:  # the run goes on without platform metrics
        console.print(f"platform metrics not scraped: {error}", style="yellow")
        return None


def _conclude(request: RunRequest, run_dir: RunDirectory, end_reason: str, detail: str,
              console: Console) -> RunOutcome:
    """Judge and render whatever was measured, print the summary, choose the exit code."""
    if detail:
        console.print(f"{end_reason}: {detail}", style="bold", markup=False)
    results = None
    if any(read.has(run_dir.path, table.relative_path) for table in (schema.REQUESTS, schema.JOURNEYS)):
        results = _judge_and_render(request, run_dir, console)
    if results is not None:
        print_summary(console, results)
    console.print(f"run directory: {run_dir.path}")
    if end_reason == "interrupted":
        code = EXIT_INTERRUPTED
    elif end_reason == "error" or results is None:
        code = EXIT_INVALID
    else:
        from harness.measure.judge import exit_code_for
        code = exit_code_for(results)
    return RunOutcome(run_dir.path, end_reason, code, results, detail)


def _judge_and_render(request: RunRequest, run_dir: RunDirectory, console: Console) -> dict | None:
    try:
        from harness.measure.judge import judge_run
    except ImportError as error:
        console.print(f"cannot judge the run: {error}", style="red", markup=False)
        return None
    try:
        results = judge_run(run_dir.path, targets_path=request.targets_path, strict=request.strict, write=True)
    except Exception as error:  # noqa: BLE001 - the raw data stays; say why there is no verdict
        console.print(f"judging the run failed: {type(error).__name__}: {error}", style="red", markup=False)
        return None
    if not request.render_report:
        console.print(f"report not rendered (render it with: harness report {run_dir.path})", markup=False)
        return results
    try:
        from harness.report import render_run
        for path in render_run(run_dir.path, results):
            console.print(f"report: {path}")
    except Exception as error:  # noqa: BLE001 - a report failure must not hide the verdict
        console.print(f"rendering the report failed: {type(error).__name__}: {error}", style="yellow",
                      markup=False)
    return results


def _plain(value: object) -> object:
    """Mappings and sequences as plain dicts and lists (JSON-ready)."""
    from collections.abc import Mapping
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
